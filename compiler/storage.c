/*
 * storage.c: lowering the memory bound by sharing bytes, decided on the
 * scheduled graph before lowering.
 *
 *  1. Views. Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout (and a
 *     Reduce with nothing to reduce) only relabel bytes: the node is elided
 *     and its output becomes a view of its input (same bytes, no copy). So
 *     does a Slice whose result is one contiguous run of its input's bytes
 *     (a block of rows: the chunks of split.c), at an offset.
 *  2. Concat elision. When every dimension before the concat axis is 1 (a
 *     channel concat at batch 1, say), each input is one contiguous block of
 *     the output; its producer writes straight into that block and the
 *     Concat node disappears. Chains of concats (DenseNet) nest.
 *  3. In place. An elementwise op (and BatchNormalization,
 *     LayerNormalization, Softmax) writes its output over an input of the
 *     same size whose bytes, together with everything sharing them, are not
 *     read after this step; so does fused attention over its Q when each
 *     output row lands where that query row was read.
 *
 * Each tensor records what it shares bytes with (alias_of, alias_kind,
 * alias_offset); memplan.c plans one buffer per group of tensors sharing
 * bytes. The rules here keep every group checkable by planner/verify.h:
 * views nest inside their parents, and an in-place write shares bytes with
 * what it overwrites only at the step where that dies.
 */
#include <string.h>

#include "passes.h"
#include "rt_plan.h"

/* A Slice that keeps one contiguous run of bytes: step 1 everywhere, one
 * axis cut, every axis before it of size 1. *offset: where the run starts. */
static int contiguous_slice(const graph_node *n, uint64_t *offset) {
  const graph_tensor *x = n->in[0], *y = n->out[0];
  int cut = -1;
  for (int d = 0; d < x->rank; d++) {
    if (n->ia[x->rank + d] != 1) return 0;
    if (y->dims[d].v == x->dims[d].v) continue;
    if (cut >= 0) return 0;
    cut = d;
  }
  uint64_t inner = rt_dtype_size(x->dtype);
  for (int d = 0; d < x->rank; d++) {
    if (d < cut && x->dims[d].v != 1) return 0;
    if (d > cut) inner *= (uint64_t)x->dims[d].v;
  }
  *offset = cut < 0 ? 0 : (uint64_t)n->ia[cut] * inner;
  return 1;
}

static int is_view_op(const graph_node *n) {
  uint64_t offset;
  switch (n->op) {
  case RT_OP_SLICE:
    return n->in[0] && n->out[0] && contiguous_slice(n, &offset);
  case RT_OP_IDENTITY: case RT_OP_DROPOUT: case RT_OP_RESHAPE: case RT_OP_FLATTEN:
  case RT_OP_SQUEEZE: case RT_OP_UNSQUEEZE:
    return 1;
  case RT_OP_REDUCE_MEAN: case RT_OP_REDUCE_SUM: case RT_OP_REDUCE_MAX:
    return n->n_ia == 1; /* nothing to reduce: the identity */
  default:
    return 0;
  }
}

/* Which input positions the op may overwrite with output 0. */
static int inplace_input_ok(const graph_node *n, int i) {
  int op = n->op;
  if (op >= RT_OP_ABS && op <= RT_OP_SOFTPLUS) return i == 0;
  if (op >= RT_OP_ADD && op <= RT_OP_SUM) return 1; /* same shape checked by the caller */
  if (op == RT_OP_BATCH_NORM || op == RT_OP_LAYER_NORM || op == RT_OP_SOFTMAX ||
      op == RT_OP_LOG_SOFTMAX)
    return i == 0;
  return 0;
}

/* Roots of the tensors' alias groups as a union-find over tensor ids, kept
 * alongside alias_of: chains of in-place writes get as long as the model
 * (a thousand elementwise ops in a row), so they are never walked. */
static int *uf;

static int uf_find(int x) {
  while (uf[x] != x) {
    uf[x] = uf[uf[x]]; /* path halving */
    x = uf[x];
  }
  return x;
}

static graph_tensor *root_of(graph *g, graph_tensor *t) { return g->tensors[uf_find(t->id)]; }

/* t now shares parent's bytes: t's group (t and its views) joins parent's. */
static void link(graph_tensor *t, graph_tensor *parent, int kind, uint64_t offset) {
  t->alias_of = parent;
  t->alias_kind = kind;
  t->alias_offset = offset;
  uf[uf_find(t->id)] = uf_find(parent->id);
}

static int same_shape(const graph_tensor *a, const graph_tensor *b) {
  if (a->rank != b->rank || a->dtype != b->dtype) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i].v != b->dims[i].v) return 0;
  return 1;
}

static void make_views(graph *g) {
  int kept = 0;
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    graph_tensor *x = n->in[0], *y = n->out[0];
    /* a view inside a fused kernel is a relabelling there, not a node */
    int in_kernel = (k > 0 && g->nodes[k - 1]->group == n->group) ||
                    (k + 1 < g->n_nodes && g->nodes[k + 1]->group == n->group);
    if (!is_view_op(n) || !x || !y || in_kernel) {
      kept++;
      continue;
    }
    /* A plan needs at least one step: keep the last node if it is all there is. */
    if (kept == 0 && k == g->n_nodes - 1) return;
    uint64_t offset = 0;
    /* a param's seeded values are made from its first byte: windows into
     * one are left to constant folding */
    if (n->op == RT_OP_SLICE && contiguous_slice(n, &offset) && offset && root_of(g, x)->kind == GRAPH_PARAM) {
      kept++;
      continue;
    }
    n->elided = true;
    link(y, x, RT_ALIAS_VIEW, offset);
  }
}

static void elide_concats(graph *g) {
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    if (n->op != RT_OP_CONCAT || n->elided || !n->out[0] || n->out[0]->fused) continue;
    /* a Concat fused with other ops runs as part of their kernel */
    int alone = (k == 0 || g->nodes[k - 1]->group != n->group) &&
                (k + 1 == g->n_nodes || g->nodes[k + 1]->group != n->group);
    if (!alone) continue;
    graph_tensor *y = n->out[0];
    if (y->alias_of) continue;
    int axis = (int)n->ia[0];
    int64_t outer = 1;
    for (int d = 0; d < axis; d++) outer *= y->dims[d].v;
    if (outer != 1) continue; /* slices would be strided */
    int ok = 1;
    for (int i = 0; i < n->n_in && ok; i++) {
      graph_tensor *x = n->in[i];
      /* a node output (or a nested concat) not already placed elsewhere */
      ok = x && x->kind == GRAPH_VALUE && !x->alias_of && !x->fused && x != y && x->dtype == y->dtype;
      for (int j = 0; j < i && ok; j++) ok = n->in[j] != x; /* one place per tensor */
    }
    if (!ok) continue;
    uint64_t at = 0;
    for (int i = 0; i < n->n_in; i++) {
      graph_tensor *x = n->in[i];
      link(x, y, RT_ALIAS_VIEW, at);
      at += graph_tensor_bytes(x);
    }
    n->elided = true;
  }
}

/* A kernel is the run of consecutive non-elided nodes of one fusion group. */
static int starts_kernel(graph *g, int k, int prev) {
  return prev < 0 || g->nodes[k]->group != g->nodes[prev]->group;
}

static int is_elementwise(int op) {
  return (op >= RT_OP_ABS && op <= RT_OP_SOFTPLUS) || (op >= RT_OP_ADD && op <= RT_OP_SUM) ||
         op == RT_OP_BATCH_NORM;
}

static int kernel_has(graph *g, int first, int end, int op) {
  for (int k = first; k < end; k++)
    if (g->nodes[k]->op == op) return 1;
  return 0;
}

/* Element strides of t's dims as read through Transpose `tr` of its
 * input (st[d] = the input's dense stride of the dim that moved to d), or
 * of t itself when tr is NULL. */
static void strides_through(const graph_tensor *t, const graph_node *tr, int64_t *st) {
  const graph_tensor *m = tr ? tr->in[0] : t;
  int64_t dense[RT_MAX_RANK], inner = 1;
  for (int d = m->rank - 1; d >= 0; d--) {
    dense[d] = inner;
    inner *= m->dims[d].v;
  }
  for (int d = 0; d < t->rank; d++) st[d] = tr ? dense[tr->ia[d]] : dense[d];
}

/* May the attention kernel nodes[first..end) (fuse.c: [Transposes making
 * Q, K^T, V], MatMul, [scale], [mask], Softmax, MatMul, [Transpose of O])
 * write its output over x, Q's memory? Codegen's kernels stage a tile's Q
 * rows before anything is stored and store exactly those rows, so it may
 * when O element (b, m, d) lands on the bytes Q element (b, m, d) is read
 * from: same dims (D = Dv, no batch broadcast), same strides through the
 * Transposes, and no other operand shares x's bytes. */
static int attention_inplace_ok(graph *g, int first, int end, const graph_tensor *x) {
  int mm = first;
  while (mm < end && g->nodes[mm]->op == RT_OP_TRANSPOSE) mm++;
  graph_node *qk = mm < end ? g->nodes[mm] : NULL, *last = g->nodes[end - 1];
  graph_node *pv = last->op == RT_OP_TRANSPOSE ? g->nodes[end - 2] : last;
  if (!qk || qk->op != RT_OP_MATMUL || pv->op != RT_OP_MATMUL || pv == qk) return 0;
  const graph_tensor *q = qk->in[0], *o = pv->out[0], *y = last->out[0];
  const graph_node *qtr = q->producer && q->producer->op == RT_OP_TRANSPOSE && q->fused ? q->producer : NULL;
  if ((qtr ? qtr->in[0] : q) != x || q->rank != o->rank || x->dtype != y->dtype) return 0;
  int64_t qs[RT_MAX_RANK], os[RT_MAX_RANK], ys[RT_MAX_RANK];
  strides_through(q, qtr, qs);
  if (last != pv) { /* O stored transposed: O's dim perm[d] walks y's dim d */
    strides_through(y, NULL, ys);
    for (int d = 0; d < y->rank; d++) os[last->ia[d]] = ys[d];
  } else {
    strides_through(o, NULL, os);
  }
  for (int d = 0; d < q->rank; d++)
    if (q->dims[d].v != o->dims[d].v || (q->dims[d].v > 1 && qs[d] != os[d])) return 0;
  /* x is read once (as Q), and no other operand reads its bytes */
  graph_tensor *r = root_of(g, (graph_tensor *)x);
  for (int k = first; k < end; k++) {
    const graph_node *n = g->nodes[k];
    for (int i = 0; i < n->n_in; i++) {
      graph_tensor *c = n->in[i];
      if (!c || c->fused || (n == (qtr ? qtr : qk) && i == 0)) continue;
      if (c->kind != GRAPH_PARAM && root_of(g, c) == r) return 0;
    }
  }
  return 1;
}

/* May kernel nodes[first..end) write its result over input x (of the
 * result's shape)? A single op when it is in-place capable for x; a fused
 * kernel when only its elementwise ops read x: they read x at the very index
 * they write, after everything else in the kernel (a Conv or reduction
 * before them reads only other tensors), e.g. a residual Add in a Conv's
 * epilogue; an attention kernel over its Q (above). */
static int kernel_inplace_ok(graph *g, int first, int end, const graph_tensor *x) {
  graph_node *last = g->nodes[end - 1];
  if (end - first == 1) {
    for (int i = 0; i < last->n_in; i++)
      if (last->in[i] == x && inplace_input_ok(last, i)) return 1;
    return 0;
  }
  /* a MatMul joins a kernel only as the head of an attention chain */
  if (kernel_has(g, first, end, RT_OP_MATMUL) && kernel_has(g, first, end, RT_OP_SOFTMAX))
    return attention_inplace_ok(g, first, end, x);
  for (int k = first; k < end; k++) {
    graph_node *n = g->nodes[k];
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] == x && !is_elementwise(n->op)) return 0;
  }
  return 1;
}

static void plan_inplace(graph *g) {
  /* last[t]: the last kernel reading t, or INT32_MAX for model outputs. The
   * group of a root dies at the max over its members. */
  int n_t = g->n_tensors;
  int *last = arena_array(g->ar, (size_t)n_t + 1, sizeof *last);
  int step = -1, prev = -1;
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    if (n->elided) continue;
    if (starts_kernel(g, k, prev)) step++;
    prev = k;
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] && step > last[n->in[i]->id]) last[n->in[i]->id] = step;
  }
  for (int i = 0; i < g->n_outputs; i++) last[g->outputs[i]->id] = INT32_MAX;
  int *group_last = arena_array(g->ar, (size_t)n_t + 1, sizeof *group_last);
  for (int t = 0; t < n_t; t++) {
    graph_tensor *r = root_of(g, g->tensors[t]);
    if (last[t] > group_last[r->id]) group_last[r->id] = last[t];
  }
  step = -1;
  prev = -1;
  for (int k = 0; k < g->n_nodes; k++) {
    if (g->nodes[k]->elided) continue;
    if (!starts_kernel(g, k, prev)) {
      prev = k;
      continue;
    }
    step++;
    /* the kernel: nodes k..end (non-elided, same group) */
    int end = k + 1;
    while (end < g->n_nodes && !g->nodes[end]->elided && g->nodes[end]->group == g->nodes[k]->group) end++;
    prev = end - 1;
    graph_tensor *y = g->nodes[end - 1]->out[0];
    /* y must be free to move: not a view or slice, nothing else inside it */
    if (!y || y->alias_of || y->kind != GRAPH_VALUE || y->fused) continue;
    for (int j = k; j < end; j++) {
      graph_node *n = g->nodes[j];
      graph_tensor *x = NULL;
      for (int i = 0; i < n->n_in && !x; i++) {
        graph_tensor *c = n->in[i];
        if (!c || c->fused || c->kind == GRAPH_PARAM || !same_shape(c, y)) continue;
        graph_tensor *r = root_of(g, c);
        if (r->kind == GRAPH_PARAM || group_last[r->id] != step || !kernel_inplace_ok(g, k, end, c)) continue;
        x = c;
      }
      if (!x) continue;
      /* y and its views join x's group, which now lives as long as they do */
      graph_tensor *r = root_of(g, x);
      int y_last = group_last[root_of(g, y)->id];
      link(y, x, RT_ALIAS_INPLACE, 0);
      if (y_last > group_last[r->id]) group_last[r->id] = y_last;
      break;
    }
  }
}

void graph_plan_storage(graph *g, const storage_options *opt) {
  /* start over: the driver tries several kernel orders */
  for (int t = 0; t < g->n_tensors; t++) {
    g->tensors[t]->alias_of = NULL;
    g->tensors[t]->alias_kind = 0;
    g->tensors[t]->alias_offset = 0;
  }
  for (int k = 0; k < g->n_nodes; k++) g->nodes[k]->elided = false;
  uf = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *uf);
  for (int t = 0; t < g->n_tensors; t++) uf[t] = t;
  if (opt->views) make_views(g);
  if (opt->concat) elide_concats(g);
  if (opt->inplace) plan_inplace(g);
  uf = NULL;
}
