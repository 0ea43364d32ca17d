/*
 * support.c: group analysis. cg_plan_group checks a group against the
 * contract of cg.h and decides its kernel template:
 *
 *   injective    one data-movement op alone (copies, Transpose, Concat,
 *                Split, Slice, Pad, Gather), any dtype;
 *   elementwise  only elementwise nodes (unary, broadcasting binary and
 *                variadic ops, BatchNormalization), float dtypes;
 *   attention    [Transposes making Q, K^T, V], MatMul, [Mul|Div by a
 *                scalar], [Add mask], Softmax, MatMul, [Transpose of O]
 *                (emit_attention.c checks it);
 *   reduce / window / conv
 *                exactly one anchor (a reduction, a pooling or LRN, a Conv)
 *                with elementwise nodes before it (the prologue, computing
 *                the anchor's input X, all fused) and after it (the
 *                epilogue, evaluated at the anchor output's coordinates);
 *                a Conv may be followed by an LRN and/or one pooling on its
 *                output, elementwise nodes between the stages (mid).
 *
 * Any but an injective or attention group may end in a chain of Transposes
 * and shape copies (Reshape, Flatten, Squeeze, Unsqueeze) moving a value it
 * computes: a permuted store (plan_chain; the regions work out where each
 * value goes).
 *
 * cg_supported is "does cg_plan_group succeed": the emitters assume a plan,
 * so everything they rely on is checked here, once.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* ---- tensors -------------------------------------------------------------- */

size_t cg_dtype_size(cg_dtype dt) {
  switch (dt) {
  case CG_F32: return 4;
  case CG_F16: case CG_BF16: return 2;
  case CG_I64: return 8;
  }
  return 0;
}

const char *cg_ctype(cg_dtype dt) {
  switch (dt) {
  case CG_F32: return "float";
  case CG_F16: case CG_BF16: return "unsigned short";
  case CG_I64: return "long long";
  }
  return "?";
}

const char *cg_dtname(cg_dtype dt) {
  switch (dt) {
  case CG_F32: return "f32";
  case CG_F16: return "f16";
  case CG_BF16: return "bf16";
  case CG_I64: return "i64";
  }
  return "?";
}

int cg_is_float(cg_dtype dt) { return dt == CG_F32 || dt == CG_F16 || dt == CG_BF16; }

int64_t cg_numel(const cg_tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= t->dims[d];
  return n;
}

void cg_dense_strides(int rank, const int64_t *dims, int64_t *st) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    st[d] = s;
    s *= dims[d];
  }
}

int cg_bcast_strides(const cg_tensor *t, int rank, const int64_t *dims, int64_t *st) {
  int off = rank - t->rank;
  if (off < 0) {
    /* leading size-1 dims may exceed the space's rank */
    for (int d = 0; d < -off; d++)
      if (t->dims[d] != 1) return -1;
  }
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    int k = d - off;
    if (k < 0 || k >= t->rank || t->dims[k] == 1) {
      st[d] = 0;
    } else {
      if (t->dims[k] != dims[d]) return -1;
      st[d] = s;
      s *= t->dims[k];
    }
  }
  return 0;
}

/* ---- op families ---------------------------------------------------------- */

int cg_op_unary(cg_op op) { return (op >= CG_ABS && op <= CG_SOFTPLUS) || op == CG_IDENTITY || op == CG_DROPOUT; }
int cg_op_binary(cg_op op) { return op >= CG_ADD && op <= CG_SUM; }
int cg_op_ew(cg_op op) { return cg_op_unary(op) || cg_op_binary(op) || op == CG_BATCH_NORM; }
int cg_op_copy(cg_op op) {
  return op == CG_IDENTITY || op == CG_DROPOUT || op == CG_RESHAPE || op == CG_FLATTEN ||
         op == CG_SQUEEZE || op == CG_UNSQUEEZE;
}
int cg_op_injective(cg_op op) {
  return cg_op_copy(op) || op == CG_TRANSPOSE || op == CG_CONCAT || op == CG_SPLIT ||
         op == CG_SLICE || op == CG_PAD || op == CG_GATHER;
}
int cg_op_reduce(cg_op op) {
  return op == CG_SOFTMAX || op == CG_LOG_SOFTMAX || op == CG_LAYER_NORM || op == CG_REDUCE_MEAN ||
         op == CG_REDUCE_SUM || op == CG_REDUCE_MAX || op == CG_GLOBAL_AVERAGE_POOL ||
         op == CG_GLOBAL_MAX_POOL;
}
int cg_op_window(cg_op op) { return op == CG_MAX_POOL || op == CG_AVERAGE_POOL || op == CG_LRN; }
int cg_op_chain(cg_op op) {
  return op == CG_TRANSPOSE || op == CG_RESHAPE || op == CG_FLATTEN || op == CG_SQUEEZE || op == CG_UNSQUEEZE;
}

const char *cg_op_name(cg_op op) {
  static const char *const names[CG_OP_COUNT] = {
      "Abs", "Neg", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "Exp", "Log", "Sqrt",
      "Reciprocal", "Clip", "HardSigmoid", "HardSwish", "Softplus", "Identity", "Dropout", "Add",
      "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "MatMul", "Gemm", "Conv", "MaxPool",
      "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN", "BatchNormalization",
      "LayerNormalization", "Softmax", "LogSoftmax", "ReduceMean", "ReduceSum", "ReduceMax",
      "Reshape", "Flatten", "Transpose", "Concat", "Split", "Slice", "Squeeze", "Unsqueeze", "Pad",
      "Gather"};
  return (int)op >= 0 && op < CG_OP_COUNT ? names[op] : "?";
}

int cg_inplace_in(const cg_group *g, int t) {
  for (int k = 0; k < g->n_inplace; k++)
    if (g->inplace[k][1] == t) return g->inplace[k][0];
  return -1;
}

int cg_inplace_out(const cg_group *g, int t) {
  for (int k = 0; k < g->n_inplace; k++)
    if (g->inplace[k][0] == t) return g->inplace[k][1];
  return -1;
}

/* ---- checks --------------------------------------------------------------- */

static int same_shape(const cg_tensor *a, const cg_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

/* Structure of the group: indices, roles, one writer per tensor, readers
 * after writers. */
static int check_structure(const cg_group *g, char *why, size_t n) {
  if (!g || !g->tensors || !g->nodes || g->n_nodes < 1)
    return cg_fail(why, n, "empty group");
  if (!g->name || !g->name[0] || strlen(g->name) >= sizeof(((cg_launch *)0)->name))
    return cg_fail(why, n, "kernel name missing or longer than %zu characters",
                   sizeof(((cg_launch *)0)->name) - 1);
  for (const char *c = g->name; *c; c++) {
    int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
             (c != g->name && *c >= '0' && *c <= '9');
    if (!ok) return cg_fail(why, n, "kernel name '%s' is not a C identifier", g->name);
  }
  if (!strncmp(g->name, "cg_", 3) || !strncmp(g->name, "CG_", 3))
    return cg_fail(why, n, "kernel name '%s': the cg_ prefix is the preamble's", g->name);
  if (g->n_nodes > CG_PLAN_MAX_NODES)
    return cg_fail(why, n, "%d nodes: more than %d in one kernel", g->n_nodes, CG_PLAN_MAX_NODES);
  if (g->n_tensors < 1 || g->n_tensors > 4096) return cg_fail(why, n, "bad tensor count");
  int n_args = 0;
  for (int t = 0; t < g->n_tensors; t++) {
    const cg_tensor *T = &g->tensors[t];
    if ((int)T->dtype < 0 || T->dtype > CG_I64) return cg_fail(why, n, "tensor %d: bad dtype", t);
    if (T->rank < 0 || T->rank > CG_MAX_RANK) return cg_fail(why, n, "tensor %d: bad rank", t);
    for (int d = 0; d < T->rank; d++)
      if (T->dims[d] < 0) return cg_fail(why, n, "tensor %d: negative dim", t);
    if ((int)T->role < 0 || T->role > CG_FUSED) return cg_fail(why, n, "tensor %d: bad role", t);
    if (T->role != CG_FUSED) n_args++;
  }
  if (n_args > 256) return cg_fail(why, n, "%d kernel arguments: more than 256", n_args);
  int *writer = malloc(sizeof(int) * (size_t)g->n_tensors);
  if (!writer) return cg_fail(why, n, "out of memory");
  for (int t = 0; t < g->n_tensors; t++) writer[t] = -1;
  int rc = 0;
  for (int i = 0; i < g->n_nodes && !rc; i++) {
    const cg_node *nd = &g->nodes[i];
    if ((int)nd->op < 0 || nd->op >= CG_OP_COUNT) {
      rc = cg_fail(why, n, "node %d: bad op", i);
      break;
    }
    if (nd->n_in < 0 || nd->n_in > CG_MAX_NODE_IO || nd->n_out < 1 || nd->n_out > CG_MAX_NODE_IO ||
        nd->n_ia < 0 || nd->n_ia > 2 * CG_MAX_RANK + 2 || nd->n_fa < 0 || nd->n_fa > 4) {
      rc = cg_fail(why, n, "node %d (%s): bad input/output/attribute counts", i, cg_op_name(nd->op));
      break;
    }
    for (int k = 0; k < nd->n_in && !rc; k++) {
      int t = nd->in[k];
      if (t < -1 || t >= g->n_tensors) rc = cg_fail(why, n, "node %d: bad input index", i);
      else if (t >= 0 && g->tensors[t].role != CG_IN && writer[t] < 0)
        rc = cg_fail(why, n, "node %d (%s): tensor %d read before it is written", i,
                     cg_op_name(nd->op), t);
    }
    for (int k = 0; k < nd->n_out && !rc; k++) {
      int t = nd->out[k];
      if (t < -1 || t >= g->n_tensors) rc = cg_fail(why, n, "node %d: bad output index", i);
      else if (t >= 0 && g->tensors[t].role == CG_IN)
        rc = cg_fail(why, n, "node %d (%s) writes CG_IN tensor %d", i, cg_op_name(nd->op), t);
      else if (t >= 0 && writer[t] >= 0)
        rc = cg_fail(why, n, "tensor %d is written twice", t);
      else if (t >= 0)
        writer[t] = i;
    }
  }
  for (int t = 0; t < g->n_tensors && !rc; t++)
    if (g->tensors[t].role == CG_OUT && writer[t] < 0)
      rc = cg_fail(why, n, "CG_OUT tensor %d is never written", t);
  free(writer);
  if (rc) return rc;
  if (g->n_inplace < 0 || g->n_inplace > 8) return cg_fail(why, n, "bad in-place pair count");
  for (int k = 0; k < g->n_inplace; k++) {
    int o = g->inplace[k][0], i = g->inplace[k][1];
    if (o < 0 || o >= g->n_tensors || i < 0 || i >= g->n_tensors || o == i ||
        g->tensors[o].role != CG_OUT || g->tensors[i].role != CG_IN)
      return cg_fail(why, n, "in-place pair %d: want (CG_OUT, CG_IN) tensors", k);
    if (g->tensors[o].dtype != g->tensors[i].dtype || !same_shape(&g->tensors[o], &g->tensors[i]))
      return cg_fail(why, n, "in-place pair (%d, %d): dtype or shape differ", o, i);
  }
  return 0;
}

/* Per-op arity and attribute checks for the ops of the elementwise family. */
static int check_ew_node(const cg_group *g, const cg_node *nd, char *why, size_t n) {
  const char *name = cg_op_name(nd->op);
  if (nd->out[0] < 0) return cg_fail(why, n, "%s: no output", name);
  for (int k = 1; k < nd->n_out; k++)
    if (nd->out[k] >= 0) return cg_fail(why, n, "%s: extra outputs (e.g. a Dropout mask) are not supported", name);
  for (int k = 0; k < (nd->op == CG_DROPOUT ? 1 : nd->n_in); k++)
    if (nd->in[k] < 0) return cg_fail(why, n, "%s: absent input", name);
  int want_in = cg_op_unary(nd->op) ? 1 : nd->op == CG_BATCH_NORM ? 5 : nd->op == CG_SUM || nd->op == CG_MAX || nd->op == CG_MIN ? -1 : 2;
  if (nd->op == CG_DROPOUT && nd->n_in >= 1) want_in = nd->n_in; /* ratio, training_mode */
  if (want_in > 0 ? nd->n_in != want_in : nd->n_in < 1)
    return cg_fail(why, n, "%s: %d inputs", name, nd->n_in);
  if ((nd->op == CG_LEAKY_RELU && nd->n_fa < 1) || ((nd->op == CG_CLIP || nd->op == CG_HARD_SIGMOID) && nd->n_fa < 2) ||
      (nd->op == CG_BATCH_NORM && nd->n_fa < 1) || (nd->op == CG_GELU && nd->n_ia < 1))
    return cg_fail(why, n, "%s: missing attributes", name);
  for (int k = 0; k < (nd->op == CG_DROPOUT ? 1 : nd->n_in); k++)
    if (!cg_is_float(g->tensors[nd->in[k]].dtype))
      return cg_fail(why, n, "%s: math on int64 is not supported", name);
  if (!cg_is_float(g->tensors[nd->out[0]].dtype))
    return cg_fail(why, n, "%s: math on int64 is not supported", name);
  if (nd->op == CG_BATCH_NORM) {
    const cg_tensor *x = &g->tensors[nd->in[0]];
    if (x->rank < 2) return cg_fail(why, n, "BatchNormalization: rank %d input", x->rank);
    for (int k = 1; k < 5; k++) {
      const cg_tensor *p = &g->tensors[nd->in[k]];
      if (p->role != CG_IN || cg_numel(p) != x->dims[1])
        return cg_fail(why, n, "BatchNormalization: parameter %d must be a CG_IN of %lld elements", k,
                       (long long)x->dims[1]);
    }
  }
  return 0;
}

/* Transpose: perm is a permutation of x's dims giving y's (0), else -1. */
int cg_check_perm(const cg_tensor *x, const cg_tensor *y, const cg_node *nd) {
  if (nd->n_ia != x->rank || y->rank != x->rank) return -1;
  int seen[CG_MAX_RANK] = {0};
  for (int d = 0; d < x->rank; d++) {
    int64_t pd = nd->ia[d];
    if (pd < 0 || pd >= x->rank || seen[pd] || x->dims[pd] != y->dims[d]) return -1;
    seen[pd] = 1;
  }
  return 0;
}

static int check_injective(const cg_group *g, const cg_node *nd, char *why, size_t n) {
  const char *name = cg_op_name(nd->op);
  const cg_tensor *T = g->tensors;
  for (int k = 0; k < nd->n_in; k++)
    if (nd->in[k] < 0 || T[nd->in[k]].role != CG_IN)
      return cg_fail(why, n, "%s: inputs must be CG_IN", name);
  for (int k = 0; k < nd->n_out; k++)
    if ((k == 0 || nd->op == CG_SPLIT) && (nd->out[k] < 0 || T[nd->out[k]].role != CG_OUT))
      return cg_fail(why, n, "%s: outputs must be CG_OUT", name);
  if (nd->n_in < 1) return cg_fail(why, n, "%s: no input", name);
  const cg_tensor *x = &T[nd->in[0]], *y = &T[nd->out[0]];
  switch (nd->op) {
  case CG_SPLIT:
    for (int k = 0; k < nd->n_out; k++) {
      const cg_tensor *p = &T[nd->out[k]];
      if (p->dtype != x->dtype || p->rank != x->rank)
        return cg_fail(why, n, "Split: output %d differs in dtype or rank", k);
    }
    if (nd->n_ia < 1 || nd->ia[0] < 0 || nd->ia[0] >= x->rank) return cg_fail(why, n, "Split: bad axis");
    {
      int64_t sum = 0;
      for (int k = 0; k < nd->n_out; k++) {
        for (int d = 0; d < x->rank; d++)
          if (d != nd->ia[0] && T[nd->out[k]].dims[d] != x->dims[d])
            return cg_fail(why, n, "Split: output %d shape mismatch", k);
        sum += T[nd->out[k]].dims[nd->ia[0]];
      }
      if (sum != x->dims[nd->ia[0]]) return cg_fail(why, n, "Split: sizes do not add up");
    }
    return 0;
  case CG_CONCAT:
    if (nd->n_ia < 1 || nd->ia[0] < 0 || nd->ia[0] >= y->rank) return cg_fail(why, n, "Concat: bad axis");
    {
      int64_t sum = 0;
      for (int k = 0; k < nd->n_in; k++) {
        const cg_tensor *p = &T[nd->in[k]];
        if (p->dtype != y->dtype || p->rank != y->rank) return cg_fail(why, n, "Concat: input %d differs", k);
        for (int d = 0; d < y->rank; d++)
          if (d != nd->ia[0] && p->dims[d] != y->dims[d])
            return cg_fail(why, n, "Concat: input %d shape mismatch", k);
        sum += p->dims[nd->ia[0]];
      }
      if (sum != y->dims[nd->ia[0]]) return cg_fail(why, n, "Concat: sizes do not add up");
    }
    return 0;
  default:
    break;
  }
  if (x->dtype != y->dtype) return cg_fail(why, n, "%s: input and output dtypes differ", name);
  if (cg_op_copy(nd->op)) {
    if (cg_numel(x) != cg_numel(y)) return cg_fail(why, n, "%s: element counts differ", name);
    return 0;
  }
  switch (nd->op) {
  case CG_TRANSPOSE:
    if (cg_check_perm(x, y, nd)) return cg_fail(why, n, "Transpose: bad perm");
    return 0;
  case CG_SLICE:
    if (nd->n_ia != 2 * x->rank || y->rank != x->rank) return cg_fail(why, n, "Slice: bad attributes");
    for (int d = 0; d < x->rank; d++) {
      int64_t s = nd->ia[d], st = nd->ia[x->rank + d], c = y->dims[d];
      if (c == 0) continue;
      if (st == 0 || s < 0 || s >= x->dims[d] || s + (c - 1) * st < 0 || s + (c - 1) * st >= x->dims[d])
        return cg_fail(why, n, "Slice: axis %d reads outside the input", d);
    }
    return 0;
  case CG_PAD:
    if (nd->n_ia != 2 * x->rank || y->rank != x->rank || nd->n_fa < 1)
      return cg_fail(why, n, "Pad: bad attributes");
    for (int d = 0; d < x->rank; d++)
      if (y->dims[d] != x->dims[d] + nd->ia[d] + nd->ia[x->rank + d])
        return cg_fail(why, n, "Pad: axis %d size mismatch", d);
    return 0;
  case CG_GATHER: {
    if (nd->n_in != 2 || nd->n_ia < 1) return cg_fail(why, n, "Gather: want data, indices, axis");
    const cg_tensor *ind = &T[nd->in[1]];
    int64_t ax = nd->ia[0];
    if (ind->dtype != CG_I64) return cg_fail(why, n, "Gather: indices must be int64");
    if (ax < 0 || ax >= x->rank || y->rank != x->rank - 1 + ind->rank)
      return cg_fail(why, n, "Gather: bad axis or output rank");
    for (int d = 0; d < y->rank; d++) {
      int64_t want = d < ax ? x->dims[d] : d < ax + ind->rank ? ind->dims[d - ax] : x->dims[d - ind->rank + 1];
      if (y->dims[d] != want) return cg_fail(why, n, "Gather: output shape mismatch");
    }
    return 0;
  }
  default:
    return cg_fail(why, n, "%s is not a data-movement op", name);
  }
}

/* Anchor-specific checks; X is its (possibly fused) input 0. */
static int check_anchor(const cg_group *g, const cg_node *nd, char *why, size_t n) {
  const char *name = cg_op_name(nd->op);
  const cg_tensor *T = g->tensors;
  if (nd->n_in < 1 || nd->in[0] < 0 || nd->out[0] < 0) return cg_fail(why, n, "%s: missing input or output", name);
  for (int k = 0; k < nd->n_in; k++)
    if (nd->in[k] >= 0 && !cg_is_float(T[nd->in[k]].dtype)) return cg_fail(why, n, "%s: int64 data", name);
  for (int k = 0; k < nd->n_out; k++)
    if (nd->out[k] >= 0 && !cg_is_float(T[nd->out[k]].dtype)) return cg_fail(why, n, "%s: int64 data", name);
  for (int k = 1; k < nd->n_in; k++)
    if (nd->in[k] >= 0 && T[nd->in[k]].role != CG_IN)
      return cg_fail(why, n, "%s: input %d must be a CG_IN (only input 0 can be fused)", name, k);
  int extra_out = nd->op == CG_LAYER_NORM ? 3 : 1;
  for (int k = 1; k < nd->n_out; k++)
    if (nd->out[k] >= 0 && (k >= extra_out || T[nd->out[k]].role != CG_OUT))
      return cg_fail(why, n, "%s: output %d must be a CG_OUT or absent", name, k);
  const cg_tensor *x = &T[nd->in[0]], *y = &T[nd->out[0]];
  switch (nd->op) {
  case CG_SOFTMAX: case CG_LOG_SOFTMAX:
    if (nd->n_ia < 1 || (x->rank > 0 && (nd->ia[0] < 0 || nd->ia[0] >= x->rank)) || !same_shape(x, y))
      return cg_fail(why, n, "%s: bad axis or shape", name);
    return 0;
  case CG_LAYER_NORM: {
    if (nd->n_ia < 1 || nd->n_fa < 1 || nd->n_in < 2 || nd->in[1] < 0 || x->rank < 1 ||
        nd->ia[0] < 0 || nd->ia[0] >= x->rank || !same_shape(x, y))
      return cg_fail(why, n, "LayerNormalization: bad inputs or axis");
    int64_t st[CG_MAX_RANK];
    for (int k = 1; k < 3 && k < nd->n_in; k++)
      if (nd->in[k] >= 0 && cg_bcast_strides(&T[nd->in[k]], x->rank, x->dims, st))
        return cg_fail(why, n, "LayerNormalization: input %d does not broadcast to X", k);
    int64_t rows = 1;
    for (int d = 0; d < nd->ia[0]; d++) rows *= x->dims[d];
    for (int k = 1; k < 3 && k < nd->n_out; k++)
      if (nd->out[k] >= 0 && cg_numel(&T[nd->out[k]]) != rows)
        return cg_fail(why, n, "LayerNormalization: output %d must have %lld elements", k, (long long)rows);
    return 0;
  }
  case CG_REDUCE_MEAN: case CG_REDUCE_SUM: case CG_REDUCE_MAX: {
    if (nd->n_ia < 2) return cg_fail(why, n, "%s: no axes", name);
    int64_t kept = 1;
    int red[CG_MAX_RANK] = {0};
    for (int k = 1; k < nd->n_ia; k++) {
      if (nd->ia[k] < 0 || nd->ia[k] >= x->rank || red[nd->ia[k]]) return cg_fail(why, n, "%s: bad axes", name);
      red[nd->ia[k]] = 1;
    }
    for (int d = 0; d < x->rank; d++)
      if (!red[d]) kept *= x->dims[d];
    if (cg_numel(y) != kept) return cg_fail(why, n, "%s: output size mismatch", name);
    return 0;
  }
  case CG_GLOBAL_AVERAGE_POOL: case CG_GLOBAL_MAX_POOL:
    if (x->rank < 2 || cg_numel(y) != x->dims[0] * x->dims[1]) return cg_fail(why, n, "%s: bad shapes", name);
    return 0;
  case CG_MAX_POOL: case CG_AVERAGE_POOL:
    if (x->rank != 4 || y->rank != 4 || nd->n_ia < 11 || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1])
      return cg_fail(why, n, "%s: want 2-D NCHW input and 11 attributes", name);
    for (int k = 0; k < 6; k++)
      if (nd->ia[k] < 1) return cg_fail(why, n, "%s: bad window", name);
    for (int k = 6; k < 10; k++)
      if (nd->ia[k] < 0) return cg_fail(why, n, "%s: negative pad", name);
    return 0;
  case CG_LRN:
    if (x->rank < 2 || !same_shape(x, y) || nd->n_ia < 1 || nd->ia[0] < 1 || nd->n_fa < 3)
      return cg_fail(why, n, "LRN: bad shape or attributes");
    return 0;
  case CG_CONV: {
    if (nd->n_in < 2 || nd->in[1] < 0 || nd->n_ia < 11) return cg_fail(why, n, "Conv: want X, W and 11 attributes");
    const cg_tensor *w = &T[nd->in[1]];
    const int64_t *ia = nd->ia;
    if (x->rank != 4 || w->rank != 4 || y->rank != 4) return cg_fail(why, n, "Conv: only 2-D (NCHW) convolution");
    int64_t gr = ia[0];
    if (gr < 1 || x->dims[1] % gr || y->dims[1] % gr || w->dims[0] != y->dims[1] || w->dims[1] * gr != x->dims[1] ||
        w->dims[2] != ia[1] || w->dims[3] != ia[2] || y->dims[0] != x->dims[0])
      return cg_fail(why, n, "Conv: shapes do not match the group count");
    for (int k = 1; k < 7; k++)
      if (ia[k] < 1) return cg_fail(why, n, "Conv: bad kernel, stride or dilation");
    for (int k = 7; k < 11; k++)
      if (ia[k] < 0) return cg_fail(why, n, "Conv: negative pad");
    if (nd->n_in >= 3 && nd->in[2] >= 0 && cg_numel(&T[nd->in[2]]) != y->dims[1])
      return cg_fail(why, n, "Conv: bias size");
    return 0;
  }
  default:
    return cg_fail(why, n, "%s is not an anchor op", name);
  }
}

/* Elementwise-only group: the iteration space is the largest output's shape
 * (for a trailing chain, the shape of the value it permutes). */
static int plan_elementwise(const cg_group *g, cg_plan *p, char *why, size_t n) {
  p->kind = CG_KIND_ELEMENTWISE;
  p->anchor = -1;
  p->n_ew = g->n_nodes;
  for (int i = 0; i < g->n_nodes; i++) p->ew[i] = i;
  int best = p->chain0 < g->n_nodes ? p->chain_src : -1;
  for (int i = 0; i < p->chain0; i++)
    for (int k = 0; k < g->nodes[i].n_out; k++) {
      int t = g->nodes[i].out[k];
      if (t >= 0 && g->tensors[t].role == CG_OUT &&
          (best < 0 || cg_numel(&g->tensors[t]) > cg_numel(&g->tensors[best])))
        best = t;
    }
  if (best < 0) return cg_fail(why, n, "elementwise group without a CG_OUT tensor");
  const cg_tensor *S = &g->tensors[best];
  p->rank = S->rank;
  memcpy(p->dims, S->dims, sizeof p->dims);
  cg_region r;
  if (cg_region_init(&r, g, p->ew, p->n_ew, p->rank, p->dims, NULL, 0, why, n)) return -1;
  cg_region_free(&r);
  int64_t total = cg_numel(S);
  for (int k = 0; k < g->n_inplace; k++)
    if (cg_numel(&g->tensors[g->inplace[k][0]]) != total)
      return cg_fail(why, n, "in-place output %d is smaller than the iteration space", g->inplace[k][0]);
  return 0;
}

/* Where each tensor is produced: -1 for CG_IN, else the node index. */
static int producer(const cg_group *g, int t) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_out; k++)
      if (g->nodes[i].out[k] == t) return i;
  return -1;
}

/* The trailing chain (chain0 .. n_nodes - 1): each node moves the one
 * before it's result (the first, a value the kernel computes), its tensors
 * fused or stored, the last one stored; the store layouts are worked out
 * (and refused where a reshape cannot be followed) by the regions. */
static int plan_chain(const cg_group *g, cg_plan *p, char *why, size_t n) {
  const cg_tensor *T = g->tensors;
  int prev = -1;
  for (int i = p->chain0; i < g->n_nodes; i++) {
    const cg_node *nd = &g->nodes[i];
    const char *name = cg_op_name(nd->op);
    if (nd->n_in != 1 || nd->n_out != 1 || nd->in[0] < 0 || nd->out[0] < 0)
      return cg_fail(why, n, "%s after the kernel's value: one input and one output", name);
    int x = nd->in[0], y = nd->out[0];
    if (i == p->chain0) {
      int pr = producer(g, x);
      if (pr < 0 || pr >= p->chain0)
        return cg_fail(why, n, "%s runs alone, not fused with other ops, unless it moves a value the kernel computes", name);
      p->chain_src = x;
    } else if (x != prev) {
      return cg_fail(why, n, "%s must move the value the node before it makes", name);
    }
    if (i + 1 == g->n_nodes ? T[y].role != CG_OUT : T[y].role == CG_IN)
      return cg_fail(why, n, "a chain of Transposes and Reshapes must end in a CG_OUT");
    if (T[y].dtype != T[x].dtype || !cg_is_float(T[x].dtype))
      return cg_fail(why, n, "%s after the kernel's value: dtypes differ or are not float", name);
    if (nd->op == CG_TRANSPOSE ? cg_check_perm(&T[x], &T[y], nd) != 0 : cg_numel(&T[x]) != cg_numel(&T[y]))
      return cg_fail(why, n, "%s: bad perm or element count", name);
    if (cg_inplace_out(g, y) >= 0) return cg_fail(why, n, "a permuted store cannot be written in place");
    prev = y;
  }
  return 0;
}

/* A Conv followed by window ops (its LRN and/or pooling in the same kernel):
 * each segment of elementwise nodes between the stages reads only its own
 * tensors, the value entering it and CG_IN tensors, and stores nothing at
 * the conv's resolution; the window ops read the segment's last value. */
static int conv_windows(const cg_group *g, cg_plan *p, char *why, size_t n) {
  const cg_tensor *T = g->tensors;
  const cg_node *cv = &g->nodes[p->anchor];
  /* the fused kernel runs the conv as a GEMM: one input channel per group
   * (depthwise) would waste it */
  if (cv->ia[0] > 1 && T[cv->in[1]].dims[1] == 1)
    return cg_fail(why, n, "a depthwise Conv does not take a pooling or LRN in the same kernel");
  int prev = p->y, lrn = 0;
  for (int s = 0; s < p->n_win; s++) {
    const cg_node *w = &g->nodes[p->win[s]];
    if (check_anchor(g, w, why, n)) return -1;
    if (w->n_in != 1 || w->n_out != 1) return cg_fail(why, n, "%s: one input and one output", cg_op_name(w->op));
    lrn |= w->op == CG_LRN;
    if (T[prev].role != CG_FUSED) return cg_fail(why, n, "a tensor at the conv's resolution is stored: no fused pooling");
    int last = prev;
    for (int k = 0; k < p->n_mid[s]; k++) {
      const cg_node *nd = &g->nodes[p->mid[s][k]];
      for (int q = 0; q < nd->n_in; q++) {
        int t = nd->in[q];
        if (t < 0 || t == prev || T[t].role == CG_IN) continue;
        int pr = producer(g, t), ok = 0;
        for (int j = 0; j < k; j++) ok |= p->mid[s][j] == pr;
        if (!ok) return cg_fail(why, n, "node %d (%s) reads tensor %d from another stage", p->mid[s][k], cg_op_name(nd->op), t);
      }
      if (nd->out[0] < 0 || T[nd->out[0]].role != CG_FUSED)
        return cg_fail(why, n, "a tensor at the conv's resolution is stored: no fused pooling");
      last = nd->out[0];
    }
    if (w->in[0] != last) return cg_fail(why, n, "%s does not read the value before it", cg_op_name(w->op));
    /* the segment's views over the conv's output */
    const cg_tensor *Y = &T[p->y];
    int ex[2] = {s ? p->win_y[s - 1] : p->y, w->in[0]};
    cg_region r;
    if (!same_shape(&T[w->in[0]], Y)) return cg_fail(why, n, "%s: input not of the conv's output shape", cg_op_name(w->op));
    if (cg_region_init(&r, g, p->mid[s], p->n_mid[s], 4, Y->dims, ex, 2, why, n)) return -1;
    cg_region_free(&r);
    p->win_x[s] = w->in[0];
    p->win_y[s] = w->out[0];
    prev = w->out[0];
  }
  /* a CTA keeps its conv outputs (all channels for an LRN, else a 64-row
   * block) for at least one window in shared memory */
  const cg_node *pool = &g->nodes[p->win[p->n_win - 1]];
  int64_t ext = 1;
  if (pool->op != CG_LRN) ext = ((pool->ia[0] - 1) * pool->ia[4] + 1) * ((pool->ia[1] - 1) * pool->ia[5] + 1);
  int64_t rows = lrn ? T[p->y].dims[1] : 64;
  if (rows * ext * 4 > CG_CONV_WINDOW_SMEM)
    return cg_fail(why, n, "%lld channels x %lld window positions do not fit in shared memory", (long long)rows,
                   (long long)ext);
  return 0;
}

static int plan_anchor(const cg_group *g, cg_plan *p, int a, char *why, size_t n) {
  const cg_node *an = &g->nodes[a];
  const cg_tensor *T = g->tensors;
  p->anchor = a;
  p->kind = an->op == CG_CONV ? CG_KIND_CONV : cg_op_window(an->op) ? CG_KIND_WINDOW : CG_KIND_REDUCE;
  if (check_anchor(g, an, why, n)) return -1;
  p->x = an->in[0];
  p->y = an->out[0];
  for (int i = 0; i < a; i++) p->pro[p->n_pro++] = i;
  /* after the anchor: segments split by the window ops (conv only) */
  for (int i = a + 1, seg = 0; i < g->n_nodes; i++) {
    if (seg < p->n_win && i == p->win[seg]) {
      seg++;
      continue;
    }
    if (seg < p->n_win) p->mid[seg][p->n_mid[seg]++] = i;
    else p->epi[p->n_epi++] = i;
  }
  if (p->n_win && conv_windows(g, p, why, n)) return -1;
  /* the value the epilogue starts from */
  const int ey = p->n_win ? p->win_y[p->n_win - 1] : p->y;
  /* prologue: fused, feeding only later prologue nodes and the anchor's X */
  if (p->n_pro > 0 && producer(g, p->x) < 0)
    return cg_fail(why, n, "prologue nodes do not compute the anchor's input");
  if (p->n_pro == 0 && T[p->x].role != CG_IN) return cg_fail(why, n, "anchor input is not a CG_IN");
  for (int k = 0; k < p->n_pro; k++) {
    const cg_node *nd = &g->nodes[p->pro[k]];
    for (int o = 0; o < nd->n_out; o++) {
      int t = nd->out[o];
      if (t < 0) continue;
      if (T[t].role != CG_FUSED) return cg_fail(why, n, "prologue tensor %d must be CG_FUSED", t);
      for (int i = a; i < g->n_nodes; i++) {
        const cg_node *m = &g->nodes[i];
        for (int q = 0; q < m->n_in; q++)
          if (m->in[q] == t && !(i == a && q == 0))
            return cg_fail(why, n, "prologue tensor %d is read by node %d (%s)", t, i, cg_op_name(m->op));
      }
    }
  }
  /* epilogue: reads the anchor's (or last window op's) output 0, its own
   * tensors and CG_IN */
  const int after = p->n_win ? p->win[p->n_win - 1] : a;
  for (int k = 0; k < p->n_epi; k++) {
    const cg_node *nd = &g->nodes[p->epi[k]];
    for (int q = 0; q < nd->n_in; q++) {
      int t = nd->in[q];
      if (t < 0 || t == ey || T[t].role == CG_IN) continue;
      int pr = producer(g, t);
      if (pr <= after) return cg_fail(why, n, "epilogue node %d (%s) reads tensor %d from before the anchor", p->epi[k], cg_op_name(nd->op), t);
    }
  }
  if (T[ey].role == CG_FUSED && p->n_epi == 0) return cg_fail(why, n, "anchor output is fused but unused");
  cg_region r;
  const cg_tensor *X = &T[p->x], *Y = &T[ey];
  int64_t one = 1;
  /* a rank-0 Softmax input is a single element: space [1] */
  if (cg_region_init(&r, g, p->pro, p->n_pro, X->rank ? X->rank : 1, X->rank ? X->dims : &one, &p->x, 1, why, n))
    return -1;
  cg_region_free(&r);
  if (cg_region_init(&r, g, p->epi, p->n_epi, Y->rank ? Y->rank : 1, Y->rank ? Y->dims : &one, &ey, 1, why, n))
    return -1;
  cg_region_free(&r);
  /* in-place pairs: each output element may only overwrite what the same
   * thread reads at the same position (see README) */
  for (int k = 0; k < g->n_inplace; k++) {
    int o = g->inplace[k][0], i = g->inplace[k][1];
    if (!same_shape(&T[o], Y)) return cg_fail(why, n, "in-place output %d: not of the anchor output's shape", o);
    int in_epi = 0, in_pro = i == p->x;
    for (int e = 0; e < p->n_epi; e++)
      for (int q = 0; q < g->nodes[p->epi[e]].n_in; q++) in_epi |= g->nodes[p->epi[e]].in[q] == i;
    for (int e = 0; e < p->n_pro; e++)
      for (int q = 0; q < g->nodes[p->pro[e]].n_in; q++) in_pro |= g->nodes[p->pro[e]].in[q] == i;
    int row_op = an->op == CG_SOFTMAX || an->op == CG_LOG_SOFTMAX || an->op == CG_LAYER_NORM;
    if (in_pro && !(p->kind == CG_KIND_REDUCE && (row_op || same_shape(X, Y))))
      return cg_fail(why, n, "%s cannot write over its input", cg_op_name(an->op));
    for (int q = 1; q < an->n_in; q++)
      if (an->in[q] == i) return cg_fail(why, n, "%s cannot write over its parameters", cg_op_name(an->op));
    for (int s = 0; s < p->n_win; s++)
      for (int e = 0; e < p->n_mid[s]; e++)
        for (int q = 0; q < g->nodes[p->mid[s][e]].n_in; q++)
          if (g->nodes[p->mid[s][e]].in[q] == i)
            return cg_fail(why, n, "a tensor read before the pooling cannot be written over");
    (void)in_epi;
  }
  return 0;
}

int cg_plan_group(const cg_group *g, cg_plan *p, char *why, size_t n) {
  memset(p, 0, sizeof *p);
  p->anchor = p->x = p->y = -1;
  if (check_structure(g, why, n)) return -1;
  /* a MatMul is generated only as the head of an attention chain, after at
   * most three Transposes that make its operands */
  int lead = 0;
  while (lead < 3 && lead + 1 < g->n_nodes && g->nodes[lead].op == CG_TRANSPOSE) lead++;
  if (g->nodes[lead].op == CG_MATMUL && g->n_nodes >= lead + 3) return cg_plan_attention(g, p, why, n);
  /* a trailing chain of Transposes and Reshapes: a permuted store */
  p->chain0 = g->n_nodes;
  p->chain_src = -1;
  while (p->chain0 > 1 && cg_op_chain(g->nodes[p->chain0 - 1].op)) p->chain0--;
  if (p->chain0 == 1 && cg_op_chain(g->nodes[0].op)) p->chain0 = g->n_nodes; /* data movement alone */
  if (p->chain0 < g->n_nodes && plan_chain(g, p, why, n)) return -1;
  int anchor = -1;
  for (int i = 0; i < p->chain0; i++) {
    cg_op op = g->nodes[i].op;
    if (op == CG_MATMUL || op == CG_GEMM)
      return cg_fail(why, n, "%s runs through cuBLASLt, not generated code", cg_op_name(op));
    int single_copy = g->n_nodes == 1 && cg_op_copy(op);
    if (cg_op_injective(op) && (!cg_op_ew(op) || single_copy)) {
      if (g->n_nodes != 1) return cg_fail(why, n, "%s runs alone, not fused with other ops", cg_op_name(op));
      p->kind = CG_KIND_INJECTIVE;
      p->anchor = 0;
      p->x = g->nodes[0].in[0];
      p->y = g->nodes[0].out[0];
      if (check_injective(g, &g->nodes[0], why, n)) return -1;
      for (int k = 0; k < g->n_inplace; k++)
        if (!cg_op_copy(op)) return cg_fail(why, n, "%s cannot run in place", cg_op_name(op));
      return 0;
    }
    if (cg_op_ew(op)) {
      if (check_ew_node(g, &g->nodes[i], why, n)) return -1;
      continue;
    }
    if (anchor >= 0 && g->nodes[anchor].op == CG_CONV && cg_op_window(op)) {
      /* window ops on the conv's output: an LRN, then a pooling */
      if (p->n_win == 2 || (p->n_win == 1 && (g->nodes[p->win[0]].op != CG_LRN || op == CG_LRN)))
        return cg_fail(why, n, "after a Conv, one kernel takes an LRN and then one pooling, not %s after %s",
                       cg_op_name(op), cg_op_name(g->nodes[p->win[p->n_win - 1]].op));
      p->win[p->n_win++] = i;
      continue;
    }
    if (anchor >= 0)
      return cg_fail(why, n, "two anchors (%s, %s) in one kernel", cg_op_name(g->nodes[anchor].op), cg_op_name(op));
    anchor = i;
  }
  if (anchor < 0) return plan_elementwise(g, p, why, n);
  return plan_anchor(g, p, anchor, why, n);
}

int cg_supported(const cg_group *g, char *why, size_t why_size) {
  cg_plan *p = malloc(sizeof *p);
  if (!p) return cg_fail(why, why_size, "out of memory"), 0;
  int ok = cg_plan_group(g, p, why, why_size) == 0;
  free(p);
  if (ok && why && why_size) why[0] = 0;
  return ok;
}
