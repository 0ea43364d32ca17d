/*
 * fold.c: compile-time arithmetic on params.
 *
 *  1. Affine chains. BatchNormalization (inference), and Mul / Add / Sub /
 *     Div by a param holding one value per channel, are each y = a*x + b
 *     per channel; a chain of them is one such affine. The chain is folded
 *     into the Conv or Gemm that feeds it (scaling the weights of each
 *     output channel and adjusting the bias), as TensorRT and ONNX Runtime
 *     do, or else replaced by one Mul and one Add by per-channel params
 *     (which fusion makes one kernel).
 *  2. Constant nodes. A node whose inputs are all params is computed now,
 *     with the runtime's own CPU kernels, and its output becomes a param.
 *  3. Column windows of params, for the passes that cut a MatMul into
 *     pieces (split.c).
 *
 * Seeded params that take part are materialised here (runtime/rt_init.h).
 * Folded params hold data, which plan.bin stores; params that lose their
 * last reader are left out of the plan. So that compile memory and plan
 * size do not grow with the model's weights, a seeded weight larger than
 * FOLD_MAX_BYTES is not folded (the chain stays elementwise ops, which fusion
 * puts in the Conv's epilogue anyway), nor are chains over more than
 * FOLD_MAX_CHANNELS channels, nor constant nodes with more than
 * FOLD_MAX_BYTES of inputs or outputs.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "passes.h"
#include "rt_init.h"
#include "rt_kernels.h"

enum { FOLD_MAX_CHANNELS = 1 << 20 };
#define FOLD_MAX_BYTES ((uint64_t)1 << 20)

/* float32 values of a param (materialised on first use). */
static float *values(graph *g, graph_tensor *t) {
  int64_t n = graph_tensor_numel(t);
  float *v = arena_array(g->ar, (size_t)n + 1, sizeof *v);
  if (t->data) {
    rt_to_f32(v, t->data, t->dtype, (size_t)n);
    return v;
  }
  static const int kinds[] = {[GRAPH_INIT_ZEROS] = RT_INIT_ZEROS, [GRAPH_INIT_ONES] = RT_INIT_ONES,
                              [GRAPH_INIT_CONSTANT] = RT_INIT_CONSTANT,
                              [GRAPH_INIT_UNIFORM] = RT_INIT_UNIFORM, [GRAPH_INIT_NORMAL] = RT_INIT_NORMAL};
  rt_init_fill(kinds[t->init], t->init_a, t->init_b, t->init_seed, RT_F32, v, 0, n);
  return v;
}

/* A new param holding v (float32 values, stored in dtype). */
static graph_tensor *new_param(graph *g, const char *name, int dtype, int rank, const graph_dim *dims,
                               const float *v, src_loc loc) {
  const char *unique = name;
  for (int k = 1; graph_find(g, unique); k++) unique = arena_printf(g->ar, "%s.%d", name, k);
  graph_tensor *t = graph_add_tensor(g, unique, GRAPH_PARAM, loc);
  t->dtype = dtype;
  t->rank = rank;
  memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
  for (int i = 0; i < rank; i++) t->dims[i].sym = -1;
  t->init = GRAPH_INIT_VALUES;
  int64_t n = graph_tensor_numel(t);
  t->data = arena_alloc(g->ar, (size_t)n * rt_dtype_size(dtype) + 1);
  rt_from_f32(t->data, dtype, v, (size_t)n);
  /* params list grows: keep it an array with room */
  graph_tensor **ps = arena_array(g->ar, (size_t)g->n_params + 2, sizeof *ps);
  memcpy(ps, g->params, (size_t)g->n_params * sizeof *ps);
  ps[g->n_params++] = t;
  g->params = ps;
  return t;
}

graph_tensor *graph_param_columns(graph *g, graph_tensor *w, int64_t start, int64_t len) {
  int last = w->rank - 1;
  int64_t cols = w->dims[last].v, rows = graph_tensor_numel(w) / cols;
  assert(last >= 0 && start >= 0 && len > 0 && start + len <= cols && rt_dtype_is_float(w->dtype));
  const float *v = values(g, w);
  float *piece = arena_array(g->ar, (size_t)(rows * len) + 1, sizeof *piece);
  for (int64_t r = 0; r < rows; r++) memcpy(piece + r * len, v + r * cols + start, (size_t)len * sizeof *piece);
  graph_dim dims[RT_MAX_RANK];
  memcpy(dims, w->dims, (size_t)w->rank * sizeof *dims);
  dims[last].v = len;
  const char *name = arena_printf(g->ar, "%s.cols%lld", w->name, (long long)start);
  return new_param(g, name, w->dtype, w->rank, dims, piece, w->loc);
}

static void use(graph_node *n, int i, graph_tensor *t) {
  if (n->in[i]) n->in[i]->n_uses--;
  n->in[i] = t;
  if (t) t->n_uses++;
}

/* Channel axis of an activation for per-channel params: 1 (NCHW, or [N, C]). */
static int64_t channel_len(const graph_tensor *x) { return x->rank >= 2 ? x->dims[1].v : -1; }

/* Is p one value per channel of x (or one value overall)? Shapes [C], [C,1,..]
 * right-aligned to x's axis 1, or [1, C, 1, ..], or a scalar. */
static int per_channel(const graph_tensor *x, const graph_tensor *p, int *scalar) {
  *scalar = graph_tensor_numel(p) == 1;
  if (*scalar) return p->rank <= x->rank;
  int64_t c = channel_len(x);
  if (c < 0 || graph_tensor_numel(p) != c || p->rank > x->rank) return 0;
  int lead = x->rank - p->rank; /* p's dims align with x's last p->rank dims */
  for (int i = 0; i < p->rank; i++) {
    int xa = lead + i;
    if (xa == 1 ? p->dims[i].v != c : p->dims[i].v != 1) return 0;
  }
  return lead <= 1;
}

/* The affine a*x + b per channel that node n applies to its activation input
 * (index *xi), or 0 if it is not one. */
static int node_affine(graph *g, graph_node *n, int *xi, float **a, float **b) {
  if (n->in[0] && channel_len(n->in[0]) > FOLD_MAX_CHANNELS) return 0;
  if (n->n_in > 1 && n->in[1] && channel_len(n->in[1]) > FOLD_MAX_CHANNELS) return 0;
  if (n->op == RT_OP_BATCH_NORM) {
    graph_tensor *x = n->in[0];
    for (int i = 1; i < 5; i++)
      if (n->in[i]->kind != GRAPH_PARAM) return 0;
    int64_t c = channel_len(x);
    float *sc = values(g, n->in[1]), *bi = values(g, n->in[2]), *mu = values(g, n->in[3]),
          *va = values(g, n->in[4]);
    *a = arena_array(g->ar, (size_t)c, sizeof **a);
    *b = arena_array(g->ar, (size_t)c, sizeof **b);
    for (int64_t k = 0; k < c; k++) {
      double s = sc[k] / sqrt((double)va[k] + n->fa[0]);
      (*a)[k] = (float)s;
      (*b)[k] = (float)(bi[k] - mu[k] * s);
    }
    *xi = 0;
    return 1;
  }
  if (n->op != RT_OP_MUL && n->op != RT_OP_ADD && n->op != RT_OP_SUB && n->op != RT_OP_DIV) return 0;
  for (int pi = 0; pi < 2; pi++) {
    graph_tensor *p = n->in[pi], *x = n->in[1 - pi];
    int scalar;
    if (p->kind != GRAPH_PARAM || x->kind == GRAPH_PARAM || !per_channel(x, p, &scalar)) continue;
    if (pi == 0 && (n->op == RT_OP_SUB || n->op == RT_OP_DIV)) return 0; /* p - x, p / x */
    if (!rt_dtype_is_float(x->dtype) || x->rank < 2) return 0;
    /* the output must have x's shape (p does not widen it) */
    for (int d = 0; d < x->rank; d++)
      if (n->out[0]->rank != x->rank || n->out[0]->dims[d].v != x->dims[d].v) return 0;
    int64_t c = channel_len(x);
    float *pv = values(g, p);
    *a = arena_array(g->ar, (size_t)c, sizeof **a);
    *b = arena_array(g->ar, (size_t)c, sizeof **b);
    for (int64_t k = 0; k < c; k++) {
      float v = pv[scalar ? 0 : k];
      switch (n->op) {
      case RT_OP_MUL: (*a)[k] = v, (*b)[k] = 0; break;
      case RT_OP_ADD: (*a)[k] = 1, (*b)[k] = v; break;
      case RT_OP_SUB: (*a)[k] = 1, (*b)[k] = -v; break;
      default: (*a)[k] = 1 / v, (*b)[k] = 0; break;
      }
    }
    *xi = 1 - pi;
    return 1;
  }
  return 0;
}

/* reader[t]: the only node reading tensor t, or NULL (none, several, or
 * t is a model output). */
static graph_node **sole_readers(graph *g) {
  graph_node **r = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *r);
  int *count = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *count);
  for (int k = 0; k < g->n_nodes; k++)
    for (int i = 0; i < g->nodes[k]->n_in; i++) {
      graph_tensor *t = g->nodes[k]->in[i];
      if (!t) continue;
      if (count[t->id]++ == 0) r[t->id] = g->nodes[k];
      else r[t->id] = NULL;
    }
  for (int t = 0; t < g->n_tensors; t++)
    if (g->tensors[t]->is_output) r[t] = NULL;
  return r;
}

/* Would fold_into accept n? (Checked before the chain is taken apart.) */
static int foldable(const graph_node *n) {
  if (n->op != RT_OP_CONV && n->op != RT_OP_GEMM) return 0;
  const graph_tensor *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL;
  if (w->kind != GRAPH_PARAM || (bias && bias->kind != GRAPH_PARAM) || w->n_uses != 1 ||
      !rt_dtype_is_float(w->dtype) || (!w->data && graph_tensor_bytes(w) > FOLD_MAX_BYTES))
    return 0;
  if (n->op == RT_OP_GEMM) {
    if (n->fa[0] != 1.0f || (bias && n->fa[1] != 1.0f)) return 0;
    if (bias && !((bias->rank == 1 || (bias->rank == 2 && bias->dims[0].v == 1)) &&
                  bias->dims[bias->rank - 1].v == n->out[0]->dims[1].v))
      return 0;
  }
  return 1;
}

/* Fold a*x+b (per output channel) into conv / gemm n; 1 on success. */
static int fold_into(graph *g, graph_node *n, const float *a, const float *b) {
  graph_tensor *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL;
  if (w->kind != GRAPH_PARAM || (bias && bias->kind != GRAPH_PARAM) || w->n_uses != 1 ||
      !rt_dtype_is_float(w->dtype) || (!w->data && graph_tensor_bytes(w) > FOLD_MAX_BYTES))
    return 0;
  int64_t m;
  if (n->op == RT_OP_CONV) {
    m = w->dims[0].v;
  } else if (n->op == RT_OP_GEMM) {
    if (n->fa[0] != 1.0f || (bias && n->fa[1] != 1.0f)) return 0;
    /* C must be one value per column: [N] or [1, N] */
    if (bias && !((bias->rank == 1 || (bias->rank == 2 && bias->dims[0].v == 1)) &&
                  bias->dims[bias->rank - 1].v == n->out[0]->dims[1].v))
      return 0;
    m = n->out[0]->dims[1].v;
  } else {
    return 0;
  }
  float *wv = values(g, w);
  int64_t per = graph_tensor_numel(w) / m;
  int trans_b = n->op == RT_OP_GEMM && n->ia[1];
  for (int64_t o = 0; o < m; o++)
    for (int64_t k = 0; k < per; k++) {
      /* conv and Gemm with transB: row o; Gemm without: column o */
      int64_t at = n->op == RT_OP_CONV || trans_b ? o * per + k : k * m + o;
      wv[at] *= a[o];
    }
  float *bv = arena_array(g->ar, (size_t)m, sizeof *bv);
  float *old = bias ? values(g, bias) : NULL;
  for (int64_t o = 0; o < m; o++) bv[o] = (old ? old[o] * a[o] : 0) + b[o];
  graph_dim wd[RT_MAX_RANK];
  memcpy(wd, w->dims, sizeof wd);
  use(n, 1, new_param(g, arena_printf(g->ar, "%s.folded", w->name), w->dtype, w->rank, wd, wv, w->loc));
  graph_dim bd = {m, -1};
  graph_tensor *nb = new_param(g, arena_printf(g->ar, "%s.bias.folded", n->name), w->dtype, 1, &bd, bv, w->loc);
  if (n->n_in < 3) { /* give the node a bias input */
    graph_tensor **in = arena_array(g->ar, 4, sizeof *in);
    src_loc *loc = arena_array(g->ar, 4, sizeof *loc);
    memcpy(in, n->in, (size_t)n->n_in * sizeof *in);
    memcpy(loc, n->in_loc, (size_t)n->n_in * sizeof *loc);
    loc[2] = n->loc;
    n->in = in;
    n->in_loc = loc;
    n->n_in = 3;
  }
  use(n, 2, nb);
  return 1;
}

static void fold_affine(graph *g) {
  graph_node **reader = sole_readers(g);
  graph_node **extra = arena_array(g->ar, (size_t)g->n_nodes + 1, sizeof *extra);
  for (int k = 0; k < g->n_nodes; k++) g->nodes[k]->pos = k;
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *head = g->nodes[k];
    int xi;
    float *a, *b;
    if (!head || !node_affine(g, head, &xi, &a, &b)) continue;
    graph_tensor *x = head->in[xi];
    int64_t c = channel_len(x);
    /* the chain: head, then each sole reader that is an affine of it */
    graph_node *chain[256];
    int n_chain = 1;
    chain[0] = head;
    for (;;) {
      graph_node *next = reader[chain[n_chain - 1]->out[0]->id];
      int nxi;
      float *na, *nb;
      if (!next || n_chain == 256 || !node_affine(g, next, &nxi, &na, &nb) ||
          next->in[nxi] != chain[n_chain - 1]->out[0])
        break;
      for (int64_t i = 0; i < c; i++) a[i] = na[i] * a[i], b[i] = na[i] * b[i] + nb[i];
      chain[n_chain++] = next;
    }
    graph_tensor *y = chain[n_chain - 1]->out[0];
    graph_node *prod = x->producer;
    int into = prod && reader[x->id] == head && foldable(prod);
    /* a lone op that folds nowhere is left alone: a bias Add after a MatMul
     * stays an Add, which cuBLASLt takes as its bias epilogue */
    if (!into && n_chain == 1) continue;
    /* every chain node leaves; head may come back as the single affine */
    for (int j = 0; j < n_chain; j++) {
      for (int i = 0; i < chain[j]->n_in; i++)
        if (chain[j]->in[i]) chain[j]->in[i]->n_uses--;
      g->nodes[chain[j]->pos] = NULL;
    }
    if (into && fold_into(g, prod, a, b)) {
      for (int o = 0; o < prod->n_out; o++)
        if (prod->out[o] == x) prod->out[o] = y; /* the producer now writes y */
      y->producer = prod;
      continue;
    }
    /* y = x * a + b per channel: a Mul and an Add by params shaped [C, 1..1]
     * to broadcast along axis 1 (fusion makes them one kernel; no division
     * or square root per element as a BatchNormalization would cost) */
    graph_dim pd[RT_MAX_RANK];
    int prank = x->rank - 1;
    pd[0] = (graph_dim){c, -1};
    for (int d = 1; d < prank; d++) pd[d] = (graph_dim){1, -1};
    graph_tensor *pa = new_param(g, arena_printf(g->ar, "%s.scale", head->name), x->dtype, prank, pd, a, head->loc);
    graph_tensor *pb = new_param(g, arena_printf(g->ar, "%s.shift", head->name), x->dtype, prank, pd, b, head->loc);
    graph_tensor *mid = graph_add_tensor(g, arena_printf(g->ar, "%s.scaled", head->name), GRAPH_VALUE, head->loc);
    mid->dtype = x->dtype;
    mid->rank = x->rank;
    memcpy(mid->dims, x->dims, sizeof mid->dims);
    graph_node *add = arena_alloc(g->ar, sizeof *add);
    *add = *head;
    add->name = arena_printf(g->ar, "%s.shift", head->name);
    head->op = RT_OP_MUL;
    add->op = RT_OP_ADD;
    for (graph_node *n = head; n; n = n == head ? add : NULL) {
      n->n_in = 2;
      n->n_out = 1;
      n->in = arena_array(g->ar, 2, sizeof *n->in);
      n->out = arena_array(g->ar, 1, sizeof *n->out);
      n->in_loc = arena_array(g->ar, 2, sizeof *n->in_loc);
      n->out_loc = arena_array(g->ar, 1, sizeof *n->out_loc);
      n->in_loc[0] = n->in_loc[1] = n->out_loc[0] = head->loc;
      n->n_ia = n->n_fa = 0;
      n->n_attrs = 0;
    }
    head->in[0] = x, head->in[1] = pa, head->out[0] = mid;
    add->in[0] = mid, add->in[1] = pb, add->out[0] = y;
    x->n_uses++, pa->n_uses++, mid->n_uses++, pb->n_uses++;
    mid->producer = head;
    y->producer = add;
    g->nodes[k] = head;
    extra[k] = add; /* goes right after head */
  }
  /* compact, with each chain's Add after its Mul */
  graph_node **nodes = arena_array(g->ar, (size_t)g->n_nodes * 2 + 1, sizeof *nodes);
  int j = 0;
  for (int k = 0; k < g->n_nodes; k++) {
    if (g->nodes[k]) nodes[j++] = g->nodes[k];
    if (extra[k]) nodes[j++] = extra[k];
  }
  g->nodes = nodes;
  g->n_nodes = j;
}

/* A node computing only from params: run it now with the CPU kernels and
 * make its result a param (float tensors, bounded sizes). */
static int fold_constant(graph *g, graph_node *n) {
  if (n->op == RT_OP_IDENTITY || n->op == RT_OP_DROPOUT || n->op == RT_OP_RESHAPE ||
      n->op == RT_OP_FLATTEN || n->op == RT_OP_SQUEEZE || n->op == RT_OP_UNSQUEEZE)
    return 0; /* views cost nothing: storage.c shares the bytes */
  uint64_t bytes = 0;
  for (int i = 0; i < n->n_in; i++) {
    graph_tensor *t = n->in[i];
    if (t && (t->kind != GRAPH_PARAM || !rt_dtype_is_float(t->dtype))) return 0;
    if (t) bytes += graph_tensor_bytes(t);
  }
  for (int o = 0; o < n->n_out; o++) {
    graph_tensor *t = n->out[o];
    if (t && (t->is_output || !rt_dtype_is_float(t->dtype))) return 0;
    if (t) bytes += graph_tensor_bytes(t);
  }
  if (n->n_in == 0 || bytes > FOLD_MAX_BYTES || n->n_in > 16 || n->n_out > 4) return 0;
  rt_view in[16], out[4];
  for (int i = 0; i < n->n_in; i++) {
    graph_tensor *t = n->in[i];
    memset(&in[i], 0, sizeof in[i]);
    if (!t) continue;
    in[i].data = values(g, t);
    in[i].dtype = RT_F32;
    in[i].rank = t->rank;
    for (int d = 0; d < t->rank; d++) in[i].dims[d] = t->dims[d].v;
  }
  for (int o = 0; o < n->n_out; o++) {
    graph_tensor *t = n->out[o];
    memset(&out[o], 0, sizeof out[o]);
    if (!t) continue;
    out[o].data = arena_array(g->ar, (size_t)graph_tensor_numel(t) + 1, sizeof(float));
    out[o].dtype = RT_F32;
    out[o].rank = t->rank;
    for (int d = 0; d < t->rank; d++) out[o].dims[d] = t->dims[d].v;
  }
  rt_kargs args = {n->op, n->n_in, n->n_out, in, out, n->ia, n->n_ia, n->fa, n->n_fa};
  size_t scratch = rt_kernel_scratch(&args, NULL);
  char err[256];
  rt_kctx ctx = {NULL, scratch ? arena_alloc(g->ar, scratch + 64) : NULL, scratch, err, sizeof err};
  if (ctx.scratch) ctx.scratch = (void *)(((uintptr_t)ctx.scratch + 63) & ~(uintptr_t)63);
  if (rt_kernel_run(&ctx, &args)) return 0; /* e.g. a Gather out of range: leave it to run time */
  for (int i = 0; i < n->n_in; i++)
    if (n->in[i]) n->in[i]->n_uses--;
  for (int o = 0; o < n->n_out; o++) {
    graph_tensor *t = n->out[o];
    if (!t) continue;
    int64_t count = graph_tensor_numel(t);
    t->kind = GRAPH_PARAM;
    t->producer = NULL;
    t->init = GRAPH_INIT_VALUES;
    t->data = arena_alloc(g->ar, (size_t)count * rt_dtype_size(t->dtype) + 1);
    rt_from_f32(t->data, t->dtype, out[o].data, (size_t)count);
    graph_tensor **ps = arena_array(g->ar, (size_t)g->n_params + 2, sizeof *ps);
    memcpy(ps, g->params, (size_t)g->n_params * sizeof *ps);
    ps[g->n_params++] = t;
    g->params = ps;
  }
  return 1;
}

static void fold_constants(graph *g) {
  int j = 0;
  for (int k = 0; k < g->n_nodes; k++) /* in order: a chain of constants folds in one pass */
    if (!fold_constant(g, g->nodes[k])) g->nodes[j++] = g->nodes[k];
  g->n_nodes = j;
}

void graph_fold(graph *g) {
  fold_constants(g);
  fold_affine(g);
}

