/*
 * plan_check.c: everything a kernel relies on, checked once when a plan is
 * loaded, so that a corrupt or hostile plan.bin gets an error instead of an
 * out-of-bounds access.
 *
 * Structure: ids, ranges into args/ints/floats, steps partitioning the nodes,
 * tensor shapes, sizes and offsets inside the slab, params region and
 * param_data. Semantics: for every node, the shapes of its tensors agree
 * with its op and canonical attributes (rt_ops.h) the way the compiler's
 * shape inference made them; this is a re-check of the lowered form, not a
 * second front end (no defaults, no auto_pad: those were resolved).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_kernels.h"
#include "rt_plan.h"

#define LIMIT_BYTES ((uint64_t)1 << 50)

typedef struct chk {
  const rt_plan *p;
  char *err;
  size_t size;
} chk;

static int bad(chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(chk *c, const char *fmt, ...) {
  if (c->err && c->size) {
    int n = snprintf(c->err, c->size, "invalid plan: ");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < c->size) vsnprintf(c->err + n, c->size - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int check_tensor(chk *c, uint32_t i) {
  const rt_plan *p = c->p;
  const rt_tensor *t = &p->tensors[i];
  if (t->kind < 0 || t->kind >= RT_KIND_COUNT) return bad(c, "tensor %u has kind %d", i, t->kind);
  if (t->dtype < 0 || t->dtype >= RT_DTYPE_COUNT) return bad(c, "tensor '%s' has dtype %d", t->name, t->dtype);
  if (t->rank < 0 || t->rank > RT_MAX_RANK) return bad(c, "tensor '%s' has rank %d", t->name, t->rank);
  uint64_t numel = 1;
  for (int d = 0; d < t->rank; d++) {
    if (t->dims[d] <= 0 || (uint64_t)t->dims[d] > LIMIT_BYTES / numel)
      return bad(c, "tensor '%s' has dimension %lld", t->name, (long long)t->dims[d]);
    numel *= (uint64_t)t->dims[d];
  }
  if (t->bytes != numel * rt_dtype_size(t->dtype))
    return bad(c, "tensor '%s' is %llu bytes but its shape needs %llu", t->name,
               (unsigned long long)t->bytes, (unsigned long long)(numel * rt_dtype_size(t->dtype)));
  if (t->kind == RT_KIND_FUSED) {
    if (t->offset != RT_NO_OFFSET) return bad(c, "fused tensor '%s' has an offset", t->name);
  } else {
    /* kernels read whole elements; a buffer of its own starts aligned */
    if (t->offset % rt_dtype_size(t->dtype) || (t->alias_of < 0 && t->offset % p->alignment))
      return bad(c, "tensor '%s' at offset %llu is misaligned", t->name, (unsigned long long)t->offset);
    uint64_t region = t->kind == RT_KIND_PARAM ? p->params_bytes : p->slab_bytes;
    if (t->offset > region || t->bytes > region - t->offset)
      return bad(c, "tensor '%s' [%llu, +%llu) lies outside its %s region of %llu bytes", t->name,
                 (unsigned long long)t->offset, (unsigned long long)t->bytes,
                 t->kind == RT_KIND_PARAM ? "params" : "slab", (unsigned long long)region);
  }
  if (t->kind != RT_KIND_PARAM &&
      (t->first_step < 0 || t->first_step > t->last_step || t->last_step >= (int32_t)p->n_steps))
    return bad(c, "tensor '%s' lives over steps %d..%d of %u", t->name, t->first_step,
               t->last_step, p->n_steps);
  if (t->alias_of != -1 && (t->alias_of < 0 || (uint32_t)t->alias_of >= p->n_tensors ||
                            (uint32_t)t->alias_of == i))
    return bad(c, "tensor '%s' aliases tensor %d", t->name, t->alias_of);
  if (t->alias_kind < RT_ALIAS_NONE || t->alias_kind > RT_ALIAS_VIEW ||
      (t->alias_kind == RT_ALIAS_NONE) != (t->alias_of == -1))
    return bad(c, "tensor '%s' has alias kind %d", t->name, t->alias_kind);
  if (t->flags & ~(RT_TF_BATCHED | RT_TF_OUTPUT)) return bad(c, "tensor '%s' has flags %#x", t->name, t->flags);
  if ((t->flags & RT_TF_BATCHED) &&
      (p->batch_dim < 0 || t->rank == 0 || t->dims[0] != p->dims[p->batch_dim].value))
    return bad(c, "tensor '%s' is marked batched but its first dimension is not the batch", t->name);
  if (t->kind == RT_KIND_PARAM) {
    if (t->init < 0 || t->init >= RT_INIT_COUNT) return bad(c, "param '%s' has init %d", t->name, t->init);
    if (t->init == RT_INIT_DATA &&
        (t->data_offset > p->param_data_bytes || t->bytes > p->param_data_bytes - t->data_offset))
      return bad(c, "param '%s' data lies outside the plan's param data", t->name);
  }
  return 0;
}

/* --- per-node semantics --- */

typedef struct nview {
  const rt_node *n;
  const rt_tensor *in[RT_MAX_RANK * 64];
  const rt_tensor *out[RT_MAX_RANK * 64];
  const int64_t *ia;
  const float *fa;
} nview;

static int same_dims(const rt_tensor *a, int rank, const int64_t *dims) {
  if (a->rank != rank) return 0;
  for (int i = 0; i < rank; i++)
    if (a->dims[i] != dims[i]) return 0;
  return 1;
}

static int64_t numel(const rt_tensor *t) { return rt_numel(t->rank, t->dims); }

static int is_copy(int op) {
  return op == RT_OP_IDENTITY || op == RT_OP_DROPOUT || op == RT_OP_RESHAPE ||
         op == RT_OP_FLATTEN || op == RT_OP_SQUEEZE || op == RT_OP_UNSQUEEZE;
}

static int is_unary(int op) { return op >= RT_OP_ABS && op <= RT_OP_SOFTPLUS; }
static int is_binary(int op) { return op >= RT_OP_ADD && op <= RT_OP_SUM; }

/* Exact attribute counts; -1: depends on rank (checked per op). */
static int want_ia(int op) {
  switch (op) {
  case RT_OP_GELU: case RT_OP_LRN: case RT_OP_LAYER_NORM: case RT_OP_SOFTMAX:
  case RT_OP_LOG_SOFTMAX: case RT_OP_CONCAT: case RT_OP_SPLIT: case RT_OP_GATHER:
    return 1;
  case RT_OP_GEMM: return 2;
  case RT_OP_CONV: case RT_OP_MAX_POOL: case RT_OP_AVERAGE_POOL: return 11;
  case RT_OP_REDUCE_MEAN: case RT_OP_REDUCE_SUM: case RT_OP_REDUCE_MAX: case RT_OP_TRANSPOSE:
  case RT_OP_SLICE: case RT_OP_PAD:
    return -1;
  default: return 0;
  }
}

static int want_fa(int op) {
  switch (op) {
  case RT_OP_LEAKY_RELU: case RT_OP_BATCH_NORM: case RT_OP_LAYER_NORM: case RT_OP_PAD: return 1;
  case RT_OP_CLIP: case RT_OP_HARD_SIGMOID: case RT_OP_GEMM: return 2;
  case RT_OP_LRN: return 3;
  default: return 0;
  }
}

/* Inputs/outputs allowed: [min_in, max_in], [min_out, max_out]; max -1: many. */
static void arity(int op, int *min_in, int *max_in, int *min_out, int *max_out) {
  *min_in = *max_in = *min_out = *max_out = 1;
  if (is_binary(op)) *min_in = 2, *max_in = 2;
  if (op == RT_OP_SUM || op == RT_OP_MAX || op == RT_OP_MIN || op == RT_OP_CONCAT) *min_in = 1, *max_in = -1;
  if (op == RT_OP_MATMUL) *min_in = *max_in = 2;
  if (op == RT_OP_GEMM || op == RT_OP_CONV) *min_in = 2, *max_in = 3;
  if (op == RT_OP_BATCH_NORM) *min_in = *max_in = 5;
  if (op == RT_OP_LAYER_NORM) *min_in = 2, *max_in = 3, *max_out = 3;
  if (op == RT_OP_GATHER) *min_in = *max_in = 2;
  if (op == RT_OP_SPLIT) *max_out = -1;
}

static int window_ok(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pb,
                     int64_t pe, int ceil_allowed) {
  if (k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0 || k > (1 << 20) || s > (1 << 20) ||
      d > (1 << 20) || pb > (1 << 20) || pe > (1 << 20))
    return 0;
  int64_t span = (k - 1) * d + 1, room = in + pb + pe - span;
  if (room < 0) return 0;
  int64_t floor_out = room / s + 1;
  if (out == floor_out) return 1;
  /* ceil_mode adds at most one window, which must start before the end padding */
  return ceil_allowed && out == floor_out + 1 && (out - 1) * s < in + pb;
}

static int check_node(chk *c, uint32_t idx, nview *v) {
  const rt_node *n = v->n;
  const char *name = n->name;
  int op = n->op;
  const rt_tensor *x = v->in[0], *y = v->out[0];
  const int64_t *ia = v->ia;
  int rank = x ? x->rank : 0;
#define NBAD(...) bad(c, "node %u '%s' (%s): " __VA_ARGS__)
  if (!x || !y) return NBAD("its first input and output must be present", idx, name, rt_op_name(op));
  /* dtypes */
  int math = !rt_kernel_takes_dtype(op, RT_I64);
  for (uint32_t i = 0; i < n->n_in; i++) {
    const rt_tensor *t = v->in[i];
    if (!t) continue;
    if (op == RT_OP_GATHER && i == 1) {
      if (t->dtype != RT_I64) return NBAD("indices must be int64", idx, name, rt_op_name(op));
    } else if (math ? !rt_dtype_is_float(t->dtype) : t->dtype != x->dtype) {
      return NBAD("input %u has dtype %s", idx, name, rt_op_name(op), i, rt_dtype_name(t->dtype));
    }
  }
  for (uint32_t i = 0; i < n->n_out; i++) {
    const rt_tensor *t = v->out[i];
    if (t && (math ? !rt_dtype_is_float(t->dtype) : t->dtype != x->dtype))
      return NBAD("output %u has dtype %s", idx, name, rt_op_name(op), i, rt_dtype_name(t->dtype));
  }
  if (is_copy(op)) {
    if (numel(x) != numel(y)) return NBAD("copies %lld elements into %lld", idx, name, rt_op_name(op), (long long)numel(x), (long long)numel(y));
    return 0;
  }
  if (is_unary(op)) {
    if (!same_dims(y, x->rank, x->dims)) return NBAD("output shape differs from input", idx, name, rt_op_name(op));
    return 0;
  }
  if (is_binary(op)) {
    /* out = broadcast of all inputs */
    int r = 0;
    for (uint32_t i = 0; i < n->n_in; i++) {
      if (!v->in[i]) return NBAD("input %u missing", idx, name, rt_op_name(op), i);
      if (v->in[i]->rank > r) r = v->in[i]->rank;
    }
    if (y->rank != r) return NBAD("output rank %d, broadcast rank %d", idx, name, rt_op_name(op), y->rank, r);
    for (int k = 0; k < r; k++) {
      int64_t want = 1;
      for (uint32_t i = 0; i < n->n_in; i++) {
        const rt_tensor *t = v->in[i];
        int j = k - (r - t->rank);
        int64_t d = j >= 0 ? t->dims[j] : 1;
        if (d != 1 && want != 1 && d != want) return NBAD("inputs do not broadcast", idx, name, rt_op_name(op));
        if (d != 1) want = d;
      }
      if (y->dims[k] != want) return NBAD("output does not match the broadcast shape", idx, name, rt_op_name(op));
    }
    return 0;
  }
  switch (op) {
  case RT_OP_MATMUL: {
    const rt_tensor *b = v->in[1];
    int64_t da[RT_MAX_RANK + 1], db[RT_MAX_RANK + 1];
    int ra = x->rank, rb = b->rank;
    if (ra < 1 || rb < 1) return NBAD("rank-0 operand", idx, name, rt_op_name(op));
    memcpy(da, x->dims, (size_t)ra * 8);
    memcpy(db, b->dims, (size_t)rb * 8);
    if (ra == 1) da[1] = da[0], da[0] = 1, ra = 2;
    if (rb == 1) db[1] = 1, rb = 2;
    if (da[ra - 1] != db[rb - 2]) return NBAD("inner dimensions differ", idx, name, rt_op_name(op));
    int64_t out[RT_MAX_RANK + 2];
    int rbatch = (ra > rb ? ra : rb) - 2, r = 0;
    for (int k = 0; k < rbatch; k++) {
      int ja = k - (rbatch - (ra - 2)), jb = k - (rbatch - (rb - 2));
      int64_t p1 = ja >= 0 ? da[ja] : 1, p2 = jb >= 0 ? db[jb] : 1;
      if (p1 != p2 && p1 != 1 && p2 != 1) return NBAD("batch dims do not broadcast", idx, name, rt_op_name(op));
      out[r++] = p1 == 1 ? p2 : p1;
    }
    if (x->rank > 1) out[r++] = da[ra - 2];
    if (b->rank > 1) out[r++] = db[rb - 1];
    if (r > RT_MAX_RANK || !same_dims(y, r, out)) return NBAD("output shape is not the matmul shape", idx, name, rt_op_name(op));
    return 0;
  }
  case RT_OP_GEMM: {
    const rt_tensor *b = v->in[1], *cc = n->n_in > 2 ? v->in[2] : NULL;
    if (x->rank != 2 || b->rank != 2 || y->rank != 2 || (ia[0] | ia[1]) & ~1LL)
      return NBAD("bad ranks or transposes", idx, name, rt_op_name(op));
    int64_t m = x->dims[ia[0] ? 1 : 0], k = x->dims[ia[0] ? 0 : 1];
    int64_t k2 = b->dims[ia[1] ? 1 : 0], nn = b->dims[ia[1] ? 0 : 1];
    if (k != k2 || y->dims[0] != m || y->dims[1] != nn) return NBAD("shapes do not agree", idx, name, rt_op_name(op));
    if (cc) {
      int ok = cc->rank <= 2;
      if (ok && cc->rank >= 1) ok = cc->dims[cc->rank - 1] == nn || cc->dims[cc->rank - 1] == 1;
      if (ok && cc->rank == 2) ok = cc->dims[0] == m || cc->dims[0] == 1;
      if (!ok) return NBAD("C does not broadcast to (M, N)", idx, name, rt_op_name(op));
    }
    return 0;
  }
  case RT_OP_CONV: {
    const rt_tensor *w = v->in[1], *b = n->n_in > 2 ? v->in[2] : NULL;
    int64_t group = ia[0];
    if (x->rank != 4 || w->rank != 4 || y->rank != 4) return NBAD("needs rank-4 X, W, Y", idx, name, rt_op_name(op));
    int64_t C = x->dims[1], M = w->dims[0];
    if (group < 1 || C % group || M % group || w->dims[1] * group != C || ia[1] != w->dims[2] ||
        ia[2] != w->dims[3] || y->dims[0] != x->dims[0] || y->dims[1] != M)
      return NBAD("channels, groups or kernel do not agree", idx, name, rt_op_name(op));
    if (b && (b->rank != 1 || b->dims[0] != M)) return NBAD("bias shape", idx, name, rt_op_name(op));
    for (int i = 0; i < 2; i++)
      if (!window_ok(x->dims[2 + i], y->dims[2 + i], ia[1 + i], ia[3 + i], ia[5 + i], ia[7 + i], ia[9 + i], 0))
        return NBAD("spatial axis %d does not match the window", idx, name, rt_op_name(op), i);
    return 0;
  }
  case RT_OP_MAX_POOL:
  case RT_OP_AVERAGE_POOL:
    if (x->rank != 4 || y->rank != 4 || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] ||
        (ia[10] & ~1LL))
      return NBAD("needs rank-4 X and Y with the same N, C", idx, name, rt_op_name(op));
    for (int i = 0; i < 2; i++)
      if (!window_ok(x->dims[2 + i], y->dims[2 + i], ia[i], ia[2 + i], ia[4 + i], ia[6 + i], ia[8 + i], 1))
        return NBAD("spatial axis %d does not match the window", idx, name, rt_op_name(op), i);
    return 0;
  case RT_OP_GLOBAL_AVERAGE_POOL:
  case RT_OP_GLOBAL_MAX_POOL:
    if (x->rank < 3 || y->rank != x->rank || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] ||
        numel(y) != x->dims[0] * x->dims[1])
      return NBAD("output must be N x C x 1...", idx, name, rt_op_name(op));
    return 0;
  case RT_OP_LRN:
    if (x->rank < 3 || ia[0] < 1 || !same_dims(y, x->rank, x->dims)) return NBAD("bad LRN", idx, name, rt_op_name(op));
    return 0;
  case RT_OP_BATCH_NORM:
    if (x->rank < 2 || !same_dims(y, x->rank, x->dims)) return NBAD("bad shapes", idx, name, rt_op_name(op));
    for (int i = 1; i < 5; i++)
      if (!v->in[i] || v->in[i]->rank != 1 || v->in[i]->dims[0] != x->dims[1])
        return NBAD("input %d must be [C]", idx, name, rt_op_name(op), i);
    return 0;
  case RT_OP_LAYER_NORM: {
    if (ia[0] < 0 || ia[0] >= rank || !same_dims(y, rank, x->dims)) return NBAD("bad axis or shape", idx, name, rt_op_name(op));
    int64_t norm = rt_numel(rank - (int)ia[0], x->dims + ia[0]);
    if (!v->in[1] || numel(v->in[1]) != norm || (n->n_in > 2 && v->in[2] && numel(v->in[2]) != norm))
      return NBAD("Scale and B must cover the normalized axes", idx, name, rt_op_name(op));
    for (uint32_t i = 1; i < n->n_out; i++)
      if (v->out[i] && numel(v->out[i]) != numel(x) / norm)
        return NBAD("statistics output %u has the wrong size", idx, name, rt_op_name(op), i);
    return 0;
  }
  case RT_OP_SOFTMAX:
  case RT_OP_LOG_SOFTMAX:
    if (ia[0] < 0 || ia[0] >= rank || !same_dims(y, rank, x->dims)) return NBAD("bad axis or shape", idx, name, rt_op_name(op));
    return 0;
  case RT_OP_REDUCE_MEAN:
  case RT_OP_REDUCE_SUM:
  case RT_OP_REDUCE_MAX: {
    if (n->n_ia < 1 || (ia[0] & ~1LL)) return NBAD("bad keepdims", idx, name, rt_op_name(op));
    if (n->n_ia == 1) { /* no axes: a copy (noop_with_empty_axes, or a scalar) */
      if (!same_dims(y, rank, x->dims)) return NBAD("bad shape", idx, name, rt_op_name(op));
      return 0;
    }
    if (n->n_ia - 1 > (uint32_t)rank) return NBAD("too many axes", idx, name, rt_op_name(op));
    int64_t out[RT_MAX_RANK];
    int r = 0, a = 1;
    for (int d = 0; d < rank; d++) {
      if (a < (int)n->n_ia && ia[a] == d) {
        a++;
        if (ia[0]) out[r++] = 1;
      } else {
        out[r++] = x->dims[d];
      }
    }
    if (a != (int)n->n_ia) return NBAD("axes must be sorted, unique and in range", idx, name, rt_op_name(op));
    if (!same_dims(y, r, out)) return NBAD("bad output shape", idx, name, rt_op_name(op));
    return 0;
  }
  case RT_OP_TRANSPOSE: {
    if (n->n_ia != (uint32_t)rank || y->rank != rank) return NBAD("perm length", idx, name, rt_op_name(op));
    int seen[RT_MAX_RANK] = {0};
    for (int d = 0; d < rank; d++) {
      if (ia[d] < 0 || ia[d] >= rank || seen[ia[d]]++) return NBAD("perm is not a permutation", idx, name, rt_op_name(op));
      if (y->dims[d] != x->dims[ia[d]]) return NBAD("bad output shape", idx, name, rt_op_name(op));
    }
    return 0;
  }
  case RT_OP_CONCAT: {
    if (ia[0] < 0 || ia[0] >= rank || y->rank != rank) return NBAD("bad axis", idx, name, rt_op_name(op));
    int64_t sum = 0;
    for (uint32_t i = 0; i < n->n_in; i++) {
      const rt_tensor *t = v->in[i];
      if (!t || t->rank != rank) return NBAD("input %u rank", idx, name, rt_op_name(op), i);
      for (int d = 0; d < rank; d++)
        if (d != ia[0] && t->dims[d] != y->dims[d]) return NBAD("input %u shape", idx, name, rt_op_name(op), i);
      sum += t->dims[ia[0]];
    }
    if (sum != y->dims[ia[0]]) return NBAD("sizes do not add up", idx, name, rt_op_name(op));
    return 0;
  }
  case RT_OP_SPLIT: {
    if (ia[0] < 0 || ia[0] >= rank) return NBAD("bad axis", idx, name, rt_op_name(op));
    int64_t sum = 0;
    for (uint32_t i = 0; i < n->n_out; i++) {
      const rt_tensor *t = v->out[i];
      if (!t || t->rank != rank) return NBAD("output %u", idx, name, rt_op_name(op), i);
      for (int d = 0; d < rank; d++)
        if (d != ia[0] && t->dims[d] != x->dims[d]) return NBAD("output %u shape", idx, name, rt_op_name(op), i);
      sum += t->dims[ia[0]];
    }
    if (sum != x->dims[ia[0]]) return NBAD("sizes do not add up", idx, name, rt_op_name(op));
    return 0;
  }
  case RT_OP_SLICE:
    if (n->n_ia != 2u * (uint32_t)rank || y->rank != rank) return NBAD("attribute count", idx, name, rt_op_name(op));
    for (int d = 0; d < rank; d++) {
      int64_t s = ia[d], k = ia[rank + d], cnt = y->dims[d], dim = x->dims[d];
      if (k == 0 || s < 0 || s >= dim || cnt > dim || (cnt > 1 && (k > dim || k < -dim)))
        return NBAD("axis %d start/step", idx, name, rt_op_name(op), d);
      int64_t last = s + (cnt - 1) * k; /* |k|, cnt <= dim, so no overflow */
      if (last < 0 || last >= dim) return NBAD("axis %d runs out of the input", idx, name, rt_op_name(op), d);
    }
    return 0;
  case RT_OP_PAD:
    if (n->n_ia != 2u * (uint32_t)rank || y->rank != rank) return NBAD("attribute count", idx, name, rt_op_name(op));
    for (int d = 0; d < rank; d++) {
      int64_t b = ia[d], e = ia[rank + d];
      if (b < -x->dims[d] || e < -x->dims[d] || b > (int64_t)LIMIT_BYTES || e > (int64_t)LIMIT_BYTES ||
          x->dims[d] + b + e != y->dims[d])
        return NBAD("axis %d pads", idx, name, rt_op_name(op), d);
    }
    return 0;
  case RT_OP_GATHER: {
    const rt_tensor *ix = v->in[1];
    if (ia[0] < 0 || ia[0] >= rank) return NBAD("bad axis", idx, name, rt_op_name(op));
    int64_t out[RT_MAX_RANK * 2];
    int r = 0;
    for (int d = 0; d < ia[0]; d++) out[r++] = x->dims[d];
    for (int d = 0; d < ix->rank; d++) out[r++] = ix->dims[d];
    for (int d = (int)ia[0] + 1; d < rank; d++) out[r++] = x->dims[d];
    if (r > RT_MAX_RANK || !same_dims(y, r, out)) return NBAD("bad output shape", idx, name, rt_op_name(op));
    return 0;
  }
  default:
    return NBAD("unknown op", idx, name, rt_op_name(op));
  }
#undef NBAD
}

static int in_range(uint64_t start, uint64_t count, uint64_t limit) {
  return start <= limit && count <= limit - start;
}

/* Bytes a GEMM operand spans: (batch-1)*stride + (rows-1)*ld + cols elements. */
static int gemm_fits(const rt_tensor *t, int64_t batch, int64_t stride, int64_t rows, int64_t cols,
                     int64_t ld) {
  if (!t || rows < 1 || cols < 1 || ld < cols || stride < 0 || batch < 1 || ld > (1LL << 40) ||
      stride > (1LL << 40) || batch > (1LL << 24) || rows > (1LL << 32) || cols > (1LL << 32))
    return 0;
  uint64_t elems = (uint64_t)(batch - 1) * (uint64_t)stride + (uint64_t)(rows - 1) * (uint64_t)ld + (uint64_t)cols;
  return elems <= t->bytes / rt_dtype_size(t->dtype);
}

static int check_launch(chk *c, uint32_t s) {
  const rt_plan *p = c->p;
  const rt_launch *l = &p->launches[s];
  if (l->kind < 0 || l->kind >= RT_LAUNCH_COUNT) return bad(c, "step %u has launch kind %d", s, l->kind);
  if (!in_range(l->args, l->n_args, p->n_args) || !in_range(l->ia, l->n_ia, p->n_ints) ||
      !in_range(l->fa, l->n_fa, p->n_floats) || l->n_args > 4096)
    return bad(c, "step %u's launch refers outside the argument tables", s);
  const rt_tensor *t[4096];
  for (uint32_t k = 0; k < l->n_args; k++) {
    int32_t id = p->args[l->args + k];
    if (id != -1 && (id < 0 || (uint32_t)id >= p->n_tensors)) return bad(c, "step %u's launch uses tensor %d", s, id);
    t[k] = id < 0 ? NULL : &p->tensors[id];
    if (t[k] && t[k]->kind == RT_KIND_FUSED) return bad(c, "step %u passes fused tensor '%s' to the GPU", s, t[k]->name);
  }
  if (l->kind == RT_LAUNCH_KERNEL) {
    uint64_t threads = (uint64_t)l->block[0] * l->block[1] * l->block[2];
    if (!l->function[0] || threads == 0 || threads > 1024 || !l->grid[0] || !l->grid[1] || !l->grid[2] ||
        l->grid[1] > 65535 || l->grid[2] > 65535 || l->shared_bytes > (228u << 10))
      return bad(c, "step %u's kernel '%s' has a bad launch shape", s, l->function);
    if (!p->ptx && !p->cubin) return bad(c, "step %u launches a kernel but the plan has no GPU code", s);
  }
  if (l->kind == RT_LAUNCH_GEMM) {
    if (l->n_ia != RT_GEMM_IA || l->n_fa != 2 || l->n_args != RT_GEMM_ARGS)
      return bad(c, "step %u's GEMM has %u ints, %u floats, %u args", s, l->n_ia, l->n_fa, l->n_args);
    const int64_t *g = p->ints + l->ia;
    int64_t ta = g[0], tb = g[1], m = g[2], n = g[3], k = g[4], batch = g[5];
    if ((ta | tb) & ~1LL || g[12] < RT_GEMM_EPI_NONE || g[12] > RT_GEMM_EPI_BIAS_GELU)
      return bad(c, "step %u's GEMM has bad flags", s);
    /* row-major: op(A) is m x k, op(B) k x n, C and D m x n */
    if (!gemm_fits(t[0], batch, g[9], ta ? k : m, ta ? m : k, g[6]) ||
        !gemm_fits(t[1], batch, g[10], tb ? n : k, tb ? k : n, g[7]) ||
        !gemm_fits(t[3], batch, g[11], m, n, g[8]) || (t[2] && !gemm_fits(t[2], batch, g[11], m, n, g[8])))
      return bad(c, "step %u's GEMM (%lld x %lld x %lld, batch %lld) reaches past its tensors", s,
                 (long long)m, (long long)n, (long long)k, (long long)batch);
    int bias = g[12] == RT_GEMM_EPI_BIAS || g[12] == RT_GEMM_EPI_BIAS_RELU || g[12] == RT_GEMM_EPI_BIAS_GELU;
    if (bias && (!t[4] || t[4]->bytes / rt_dtype_size(t[4]->dtype) < (uint64_t)n))
      return bad(c, "step %u's GEMM bias is missing or short", s);
    if (!t[0] || !t[1] || !t[3]) return bad(c, "step %u's GEMM lacks an operand", s);
  }
  return 0;
}

int rt_plan_check(const rt_plan *p, char *err, size_t err_size) {
  chk c = {p, err, err_size};
  if (p->flags & ~(uint32_t)RT_PLAN_TF32) return bad(&c, "unknown plan flags %#x", p->flags);
  if (p->alignment == 0 || (p->alignment & (p->alignment - 1)) || p->alignment > 4096)
    return bad(&c, "alignment %u is not a power of two up to 4096", p->alignment);
  if (p->slab_bytes > LIMIT_BYTES || p->params_bytes > LIMIT_BYTES || p->workspace_bytes > p->slab_bytes)
    return bad(&c, "region sizes out of range");
  if (p->batch_dim != -1 && (p->batch_dim < 0 || (uint32_t)p->batch_dim >= p->n_dims))
    return bad(&c, "batch dimension %d of %u dims", p->batch_dim, p->n_dims);
  for (uint32_t i = 0; i < p->n_dims; i++)
    if (p->dims[i].value <= 0) return bad(&c, "dimension '%s' is %lld", p->dims[i].name, (long long)p->dims[i].value);
  if (p->n_steps == 0 || p->n_nodes == 0) return bad(&c, "no steps");
  for (uint32_t i = 0; i < p->n_tensors; i++)
    if (check_tensor(&c, i)) return -1;
  /* alias links stay within one region and form no cycle (each tensor is
   * visited once: in-place chains can be as long as the model) */
  {
    uint8_t *state = calloc((size_t)p->n_tensors + 1, 1); /* 0 new, 1 on the path, 2 done */
    if (!state) return bad(&c, "out of memory checking %u tensors", p->n_tensors);
    for (uint32_t i = 0; i < p->n_tensors; i++) {
      const rt_tensor *t = &p->tensors[i];
      if (t->alias_of >= 0) {
        const rt_tensor *parent = &p->tensors[t->alias_of];
        if ((parent->kind == RT_KIND_PARAM) != (t->kind == RT_KIND_PARAM) || parent->kind == RT_KIND_FUSED ||
            t->kind == RT_KIND_FUSED) {
          free(state);
          return bad(&c, "tensor '%s' aliases '%s' in another region", t->name, parent->name);
        }
      }
      uint32_t cur = i;
      while (state[cur] == 0 && p->tensors[cur].alias_of >= 0) {
        state[cur] = 1;
        cur = (uint32_t)p->tensors[cur].alias_of;
      }
      int cycle = state[cur] == 1;
      for (uint32_t x = i; state[x] == 1; x = (uint32_t)p->tensors[x].alias_of) state[x] = 2;
      state[cur] = 2;
      if (cycle) {
        free(state);
        return bad(&c, "the alias links through '%s' form a cycle", t->name);
      }
    }
    free(state);
  }
  /* inputs and outputs */
  for (uint32_t i = 0; i < p->n_inputs + p->n_outputs; i++) {
    int32_t id = i < p->n_inputs ? p->inputs[i] : p->outputs[i - p->n_inputs];
    if (id < 0 || (uint32_t)id >= p->n_tensors) return bad(&c, "input/output id %d", id);
    const rt_tensor *t = &p->tensors[id];
    if (i < p->n_inputs && (t->kind != RT_KIND_INPUT || t->first_step != 0))
      return bad(&c, "input '%s' is not an input tensor alive from step 0", t->name);
    if (i >= p->n_inputs) {
      if (!(t->flags & RT_TF_OUTPUT) || t->kind == RT_KIND_FUSED || t->kind == RT_KIND_WORKSPACE)
        return bad(&c, "output '%s' is not stored as an output", t->name);
      if (t->kind != RT_KIND_PARAM && t->last_step != (int32_t)p->n_steps - 1)
        return bad(&c, "output '%s' dies before the last step", t->name);
    }
  }

  /* steps partition the nodes in order */
  uint32_t next = 0;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_step *st = &p->steps[s];
    if (st->first_node != next || st->n_nodes == 0 || !in_range(st->first_node, st->n_nodes, p->n_nodes))
      return bad(&c, "step %u covers nodes %u..+%u", s, st->first_node, st->n_nodes);
    next = st->first_node + st->n_nodes;
    if (!in_range(st->reads, st->n_reads, p->n_args) || !in_range(st->writes, st->n_writes, p->n_args))
      return bad(&c, "step %u reads/writes out of range", s);
    for (uint32_t k = 0; k < st->n_reads + st->n_writes; k++) {
      int32_t id = k < st->n_reads ? p->args[st->reads + k] : p->args[st->writes + k - st->n_reads];
      if (id < 0 || (uint32_t)id >= p->n_tensors) return bad(&c, "step %u touches tensor %d", s, id);
    }
  }
  if (next != p->n_nodes) return bad(&c, "steps cover %u of %u nodes", next, p->n_nodes);
  for (uint32_t s = 0; p->launches && s < p->n_steps; s++)
    if (check_launch(&c, s)) return -1;

  /* nodes */
  nview v;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    for (uint32_t k = p->steps[s].first_node; k < p->steps[s].first_node + p->steps[s].n_nodes; k++) {
      const rt_node *n = &p->nodes[k];
      memset(&v, 0, sizeof v);
      v.n = n;
      if (n->op < 0 || n->op >= RT_OP_COUNT) return bad(&c, "node %u has op code %d", k, n->op);
      int min_in, max_in, min_out, max_out;
      arity(n->op, &min_in, &max_in, &min_out, &max_out);
      if (n->n_in < (uint32_t)min_in || (max_in >= 0 && n->n_in > (uint32_t)max_in) ||
          n->n_in > RT_MAX_RANK * 64 || n->n_out < (uint32_t)min_out ||
          (max_out >= 0 && n->n_out > (uint32_t)max_out) || n->n_out > RT_MAX_RANK * 64)
        return bad(&c, "node %u '%s' has %u inputs and %u outputs", k, n->name, n->n_in, n->n_out);
      if (!in_range(n->args, (uint64_t)n->n_in + n->n_out, p->n_args) ||
          !in_range(n->ia, n->n_ia, p->n_ints) || !in_range(n->fa, n->n_fa, p->n_floats))
        return bad(&c, "node %u '%s' refers outside the argument tables", k, n->name);
      int wi = want_ia(n->op);
      if ((wi >= 0 && n->n_ia != (uint32_t)wi) || n->n_fa != (uint32_t)want_fa(n->op) || n->n_ia > 2 * RT_MAX_RANK)
        return bad(&c, "node %u '%s' has %u int and %u float attributes", k, n->name, n->n_ia, n->n_fa);
      v.ia = p->ints + n->ia;
      v.fa = p->floats + n->fa;
      for (uint32_t i = 0; i < n->n_in + n->n_out; i++) {
        int32_t id = p->args[n->args + i];
        const rt_tensor *t = NULL;
        if (id != -1) {
          if (id < 0 || (uint32_t)id >= p->n_tensors) return bad(&c, "node %u '%s' uses tensor %d", k, n->name, id);
          t = &p->tensors[id];
          if (t->kind != RT_KIND_PARAM && t->kind != RT_KIND_FUSED &&
              ((int32_t)s < t->first_step || (int32_t)s > t->last_step))
            return bad(&c, "node %u '%s' uses '%s' at step %u outside its lifetime %d..%d", k,
                       n->name, t->name, s, t->first_step, t->last_step);
          if (i >= n->n_in && t->kind == RT_KIND_PARAM)
            return bad(&c, "node %u '%s' writes param '%s'", k, n->name, t->name);
          if (t->kind == RT_KIND_FUSED && t->first_step != (int32_t)s)
            return bad(&c, "node %u '%s' uses fused tensor '%s' outside its step %d", k, n->name,
                       t->name, t->first_step);
        }
        if (i < n->n_in) v.in[i] = t;
        else v.out[i - n->n_in] = t;
      }
      if (check_node(&c, k, &v)) return -1;
    }
  }
  return 0;
}
