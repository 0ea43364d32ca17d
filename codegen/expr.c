/*
 * expr.c: elementwise regions, the building block of every template.
 *
 * A region is a DAG of elementwise nodes evaluated over an iteration space:
 * the whole of an elementwise kernel, or the prologue of an anchor (at its
 * input's coordinates), or its epilogue (at its output's coordinates). The
 * caller supplies the coordinates of one chunk of V consecutive elements
 * along the innermost dim; cg_region_emit writes a block that
 *
 *   1. loads every leaf (a CG_IN tensor) through its view: one value when
 *      the leaf repeats along the chunk, a 16/8/4-byte vector load when it
 *      walks it contiguously and its alignment allows, else V scalar loads;
 *   2. evaluates the nodes in order in float registers;
 *   3. stores the CG_OUT tensors (guarded where an output is smaller than
 *      the space) and copies requested values out.
 *
 * All loads come before all stores, so an output may share memory with an
 * input read at the same position (in-place).
 *
 * A region may end in a group's trailing chain of Transposes and shape
 * copies: those nodes name their input's registers, and the chain's CG_OUT
 * is stored through a layout worked out once (chain_view): its dense
 * strides carried back through the chain to the iteration space, each dim
 * of the space a list of mixed-radix digits with their own strides when a
 * Reshape split it (ShuffleNet's channel shuffle).
 *
 * The scalar expression of each op follows the runtime's CPU kernels
 * (runtime/kernels/elementwise.c) operation for operation, so results agree
 * to the last bit or two; helper functions live in the program preamble.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* Inputs a node really reads (Dropout's ratio / training_mode are ignored). */
static int node_nin(const cg_node *nd) { return nd->op == CG_DROPOUT ? 1 : nd->n_in; }

static int set_view(cg_region *r, int t, const int64_t *st, char *why, size_t n) {
  if (r->has[t]) {
    if (memcmp(r->st[t], st, sizeof(int64_t) * (size_t)r->rank) != 0)
      return cg_fail(why, n, "tensor %d is read with two different broadcasts", t);
    return 0;
  }
  memcpy(r->st[t], st, sizeof(int64_t) * CG_MAX_RANK);
  r->has[t] = 1;
  return 0;
}

static int bcast_view(cg_region *r, int t, char *why, size_t n) {
  int64_t st[CG_MAX_RANK] = {0};
  const cg_tensor *T = &r->g->tensors[t];
  if (cg_bcast_strides(T, r->rank, r->dims, st))
    return cg_fail(why, n, "tensor %d does not broadcast to the kernel's iteration space", t);
  return set_view(r, t, st, why, n);
}

/* ---- permuted stores: the trailing chain's layouts ------------------------- */

/* Adjacent digits of a dim that walk memory contiguously become one. */
static void digits_merge(cg_digits *L, int d) {
  int m = 0;
  for (int k = 0; k < L->n[d]; k++) {
    if (m > 0 && L->st[d][k] == L->st[d][m - 1] * L->size[d][m - 1]) {
      L->size[d][m - 1] *= L->size[d][k];
      continue;
    }
    L->size[d][m] = L->size[d][k];
    L->st[d][m++] = L->st[d][k];
  }
  L->n[d] = m;
}

/* The layout L over a shape (rank_from dims) seen as the same elements in
 * row-major order under another shape: the digits, innermost first, are
 * dealt out to the new dims from the innermost, a digit split in two where
 * a dim ends inside it. -1 when a boundary falls where no split is exact
 * (e.g. [6, 4] -> [4, 6]: 4 does not divide 6), or when too many digits. */
static int digits_reshape(const cg_digits *L, int rank_from, cg_digits *out, int rank_to, const int64_t *dims_to) {
  int64_t size[CG_MAX_RANK * CG_MAX_DIGITS], st[CG_MAX_RANK * CG_MAX_DIGITS];
  int len = 0, pos = 0;
  for (int d = rank_from - 1; d >= 0; d--)
    for (int k = 0; k < L->n[d]; k++)
      if (L->size[d][k] > 1) size[len] = L->size[d][k], st[len++] = L->st[d][k];
  memset(out, 0, sizeof *out);
  for (int d = rank_to - 1; d >= 0; d--) {
    if (dims_to[d] == 0) return 0; /* no elements: nothing is stored */
    int64_t need = dims_to[d];
    while (need > 1) {
      if (pos == len || out->n[d] == CG_MAX_DIGITS) return -1;
      int k = out->n[d]++;
      if (need % size[pos] == 0) {
        out->size[d][k] = size[pos];
        out->st[d][k] = st[pos];
        need /= size[pos++];
      } else if (size[pos] % need == 0) {
        out->size[d][k] = need;
        out->st[d][k] = st[pos];
        size[pos] /= need;
        st[pos] *= need;
        need = 1;
      } else {
        return -1;
      }
    }
    digits_merge(out, d);
  }
  return pos == len ? 0 : -1;
}

/* The region node producing t among r's nodes, or -1. */
static int region_producer(const cg_region *r, int t) {
  for (int i = 0; i < r->n_nodes; i++)
    if (r->g->nodes[r->nodes[i]].out[0] == t) return r->nodes[i];
  return -1;
}

/* The view of chain node ni's output (a CG_OUT): its dense layout carried
 * back through the chain's Transposes and Reshapes to the chain's input,
 * which must cover the space in order, then onto the space's dims. */
static int chain_view(cg_region *r, int ni, char *why, size_t n) {
  const cg_group *g = r->g;
  const cg_tensor *T = g->tensors;
  int t = g->nodes[ni].out[0];
  cg_digits *L = calloc(1, sizeof *L), *M = calloc(1, sizeof *M);
  if (!L || !M) {
    free(L);
    free(M);
    return cg_fail(why, n, "out of memory");
  }
  int64_t dst[CG_MAX_RANK];
  cg_dense_strides(T[t].rank, T[t].dims, dst);
  for (int d = 0; d < T[t].rank; d++)
    if (T[t].dims[d] > 1) L->n[d] = 1, L->size[d][0] = T[t].dims[d], L->st[d][0] = dst[d];
  int cur = ni, rc = 0, x = -1;
  while (cur >= 0 && cg_op_chain(g->nodes[cur].op)) {
    const cg_node *nd = &g->nodes[cur];
    x = nd->in[0];
    memset(M, 0, sizeof *M);
    if (nd->op == CG_TRANSPOSE) {
      /* output dim d is input dim perm[d] */
      for (int d = 0; d < T[x].rank; d++) {
        int s = (int)nd->ia[d];
        M->n[s] = L->n[d];
        memcpy(M->size[s], L->size[d], sizeof L->size[d]);
        memcpy(M->st[s], L->st[d], sizeof L->st[d]);
      }
    } else if (digits_reshape(L, T[nd->out[0]].rank, M, T[x].rank, T[x].dims)) {
      rc = cg_fail(why, n, "%s of tensor %d: its dims do not split or merge evenly into the next ones",
                   cg_op_name(nd->op), x);
      break;
    }
    cg_digits *sw = L;
    L = M;
    M = sw;
    cur = region_producer(r, x);
  }
  /* x: the chain's input, which must be the whole space in row-major order */
  int64_t numel = 1, dense[CG_MAX_RANK];
  for (int d = 0; d < r->rank; d++) numel *= r->dims[d];
  cg_dense_strides(r->rank, r->dims, dense);
  if (!rc && (x < 0 || !r->has[x] || cg_numel(&T[x]) != numel))
    rc = cg_fail(why, n, "the permuted store of tensor %d does not start from a value over the whole iteration space", t);
  for (int d = 0; !rc && d < r->rank; d++)
    if (r->dims[d] > 1 && r->st[x][d] != dense[d])
      rc = cg_fail(why, n, "the permuted store of tensor %d starts from a broadcast value", t);
  if (!rc && digits_reshape(L, T[x].rank, M, r->rank, r->dims))
    rc = cg_fail(why, n, "tensor %d's dims do not split or merge evenly into the iteration space's", x);
  if (!rc) {
    /* one digit per dim is a plain strided view */
    int plain = 1;
    for (int d = 0; d < r->rank; d++) {
      r->st[t][d] = M->n[d] ? M->st[d][0] : 0;
      plain &= M->n[d] <= 1;
    }
    r->has[t] = 1;
    if (!plain) {
      r->split[t] = M;
      M = NULL;
    }
  }
  free(L);
  free(M);
  return rc;
}

int cg_region_init(cg_region *r, const cg_group *g, const int *nodes, int n_nodes, int rank,
                   const int64_t *dims, const int *extra, int n_extra, char *why, size_t n) {
  memset(r, 0, sizeof *r);
  r->g = g;
  r->nodes = nodes;
  r->n_nodes = n_nodes;
  r->rank = rank;
  memcpy(r->dims, dims, sizeof(int64_t) * (size_t)rank);
  size_t nt = (size_t)g->n_tensors;
  r->st = calloc(nt, sizeof *r->st);
  r->has = calloc(nt, 1);
  r->preset = calloc(nt, sizeof *r->preset);
  r->preset_vec = calloc(nt, 1);
  if (!r->st || !r->has || !r->preset || !r->preset_vec) {
    cg_region_free(r);
    return cg_fail(why, n, "out of memory");
  }
  r->split = calloc(nt, sizeof *r->split);
  if (!r->split) {
    cg_region_free(r);
    return cg_fail(why, n, "out of memory");
  }
  for (int i = 0; i < n_nodes; i++) {
    const cg_node *nd = &g->nodes[nodes[i]];
    if (cg_op_chain(nd->op)) continue; /* below, once the chain's input has its view */
    if (bcast_view(r, nd->out[0], why, n)) goto fail;
    if (bcast_view(r, nd->in[0], why, n)) goto fail;
    if (nd->op == CG_BATCH_NORM) {
      /* parameters follow X's channel axis (its dim 1) wherever X sits */
      const cg_tensor *X = &g->tensors[nd->in[0]];
      int axis = rank - X->rank + 1;
      if (axis < 0 || axis >= rank) {
        cg_fail(why, n, "BatchNormalization input does not fit the iteration space");
        goto fail;
      }
      int64_t st[CG_MAX_RANK] = {0};
      st[axis] = X->dims[1] > 1 && dims[axis] > 1 ? 1 : 0;
      for (int k = 1; k < 5; k++)
        if (set_view(r, nd->in[k], st, why, n)) goto fail;
    } else {
      for (int k = 1; k < node_nin(nd); k++)
        if (bcast_view(r, nd->in[k], why, n)) goto fail;
    }
  }
  for (int k = 0; k < n_extra; k++)
    if (bcast_view(r, extra[k], why, n)) goto fail;
  for (int i = 0; i < n_nodes; i++) {
    const cg_node *nd = &g->nodes[nodes[i]];
    if (cg_op_chain(nd->op) && g->tensors[nd->out[0]].role == CG_OUT && chain_view(r, nodes[i], why, n)) goto fail;
  }
  return 0;
fail:
  cg_region_free(r);
  return -1;
}

void cg_region_free(cg_region *r) {
  free(r->st);
  free(r->has);
  free(r->preset);
  free(r->preset_vec);
  if (r->split)
    for (int t = 0; t < r->g->n_tensors; t++) free(r->split[t]);
  free(r->split);
  r->split = NULL;
  r->st = NULL;
  r->has = NULL;
  r->preset = NULL;
  r->preset_vec = NULL;
}

void cg_region_coalesce(cg_region *r, const int *keep, int *map) {
  int nt = r->g->n_tensors, m = 0;
  int64_t dims[CG_MAX_RANK];
  int kp[CG_MAX_RANK];
  for (int d = 0; d < r->rank; d++) {
    if (map) map[d] = -1;
    if (r->dims[d] == 1) continue;
    int merge = m > 0 && (!keep || kp[m - 1] == keep[d]);
    /* a permuted store's digits always concatenate: it never stops a merge */
    for (int t = 0; t < nt && merge; t++) {
      if (r->split[t]) merge = r->split[t]->n[m - 1] + r->split[t]->n[d] <= CG_MAX_DIGITS;
      else if (r->has[t]) merge = r->st[t][m - 1] == r->st[t][d] * r->dims[d];
    }
    if (merge) {
      dims[m - 1] *= r->dims[d];
      for (int t = 0; t < nt; t++)
        if (r->has[t]) r->st[t][m - 1] = r->st[t][d];
      for (int t = 0; t < nt; t++) {
        cg_digits *D = r->split[t];
        if (!D) continue;
        /* d's digits are the merged dim's inner ones */
        int nd = D->n[d], no = D->n[m - 1];
        memmove(D->size[m - 1] + nd, D->size[m - 1], sizeof(int64_t) * (size_t)no);
        memmove(D->st[m - 1] + nd, D->st[m - 1], sizeof(int64_t) * (size_t)no);
        memcpy(D->size[m - 1], D->size[d], sizeof(int64_t) * (size_t)nd);
        memcpy(D->st[m - 1], D->st[d], sizeof(int64_t) * (size_t)nd);
        D->n[m - 1] = nd + no;
        digits_merge(D, m - 1);
        r->st[t][m - 1] = D->n[m - 1] ? D->st[m - 1][0] : 0;
      }
    } else {
      dims[m] = r->dims[d];
      kp[m] = keep ? keep[d] : 0;
      for (int t = 0; t < nt; t++)
        if (r->has[t]) r->st[t][m] = r->st[t][d];
      for (int t = 0; t < nt; t++) {
        cg_digits *D = r->split[t];
        if (!D || m == d) continue;
        D->n[m] = D->n[d];
        memcpy(D->size[m], D->size[d], sizeof D->size[d]);
        memcpy(D->st[m], D->st[d], sizeof D->st[d]);
      }
      m++;
    }
    if (map) map[d] = m - 1;
  }
  if (m == 0) { /* a single element */
    dims[0] = 1;
    for (int t = 0; t < nt; t++)
      if (r->has[t]) r->st[t][0] = 0;
    for (int t = 0; t < nt; t++)
      if (r->split[t]) r->split[t]->n[0] = 0;
    m = 1;
  }
  for (int t = 0; t < nt; t++)
    if (r->has[t])
      for (int d = m; d < CG_MAX_RANK; d++) r->st[t][d] = 0;
  for (int t = 0; t < nt; t++)
    if (r->split[t])
      for (int d = m; d < CG_MAX_RANK; d++) r->split[t]->n[d] = 0;
  r->rank = m;
  memcpy(r->dims, dims, sizeof(int64_t) * (size_t)m);
}

int cg_region_dense(const cg_region *r, int t) {
  if (r->split && r->split[t]) return 0;
  int64_t st[CG_MAX_RANK];
  cg_dense_strides(r->rank, r->dims, st);
  for (int d = 0; d < r->rank; d++)
    if (r->dims[d] > 1 && r->st[t][d] != st[d]) return 0;
  return 1;
}

int cg_pick_vec(int64_t n, int vmax) {
  for (int v = 8; v > 1; v /= 2)
    if (v <= vmax && n % v == 0) return v;
  return 1;
}

/* ---- emission ------------------------------------------------------------- */

static void ind(cg_buf *b, int n) { cg_printf(b, "%*s", n, ""); }

/* Element offset of a permuted store's tensor t at the chunk's element
 * `j` (a variable name; NULL: its first element), appended to o: each
 * digit's term. */
static void offset_split(cg_buf *o, const cg_region *r, const cg_emit_req *q, int t, const char *j) {
  const cg_digits *D = r->split[t];
  int any = 0;
  for (int d = 0; d < r->rank; d++) {
    char c[160];
    if (j && d == r->rank - 1) snprintf(c, sizeof c, "(%s + %s)", q->coord[d], j);
    else snprintf(c, sizeof c, "%s", q->coord[d]);
    int64_t below = 1;
    for (int i = 0; i < D->n[d]; i++) {
      int64_t sz = D->size[d][i], s = D->st[d][i];
      /* the outermost digit needs no modulo: the coordinate stays below the dim */
      int mod = below * sz < r->dims[d];
      cg_puts(o, any++ ? " + " : "");
      if (below == 1) {
        if (mod) cg_printf(o, "(%s %% %lld)", c, (long long)sz);
        else cg_printf(o, "%s", c);
      } else {
        if (mod) cg_printf(o, "((%s / %lld) %% %lld)", c, (long long)below, (long long)sz);
        else cg_printf(o, "(%s / %lld)", c, (long long)below);
      }
      if (s != 1) cg_printf(o, " * %lld", (long long)s);
      below *= sz;
    }
  }
  if (!any) cg_puts(o, "0");
}

/* Element offset of tensor t at the chunk's first element. */
static void offset_of(char *out, size_t n, const cg_region *r, const cg_emit_req *q, int t) {
  if (q->flat && cg_region_dense(r, t)) {
    snprintf(out, n, "%s", q->flat);
    return;
  }
  size_t k = 0;
  out[0] = 0;
  for (int d = 0; d < r->rank; d++) {
    int64_t s = r->st[t][d];
    if (s == 0 || r->dims[d] == 1) continue;
    int w;
    if (s == 1) w = snprintf(out + k, n - k, "%s(%s)", k ? " + " : "", q->coord[d]);
    else w = snprintf(out + k, n - k, "%s(%s) * %lld", k ? " + " : "", q->coord[d], (long long)s);
    if (w < 0 || (size_t)w >= n - k) break;
    k += (size_t)w;
  }
  if (!k) snprintf(out, n, "0");
}

/* Effective base alignment in bytes (a power of two >= the element size). */
static uint32_t eff_align(const cg_tensor *T) {
  uint32_t a = T->align, es = (uint32_t)cg_dtype_size(T->dtype);
  if (a == 0) return es;
  a &= -a; /* lowest set bit: the power of two it guarantees */
  return a < es ? es : a;
}

/* Whether the chunk of V elements of t can move as one vector access. */
static int vec_ok(const cg_region *r, int t, int V) {
  const cg_tensor *T = &r->g->tensors[t];
  int in = r->rank - 1;
  if (V == 1 || r->st[t][in] != 1) return 0;
  uint32_t bytes = (uint32_t)(V * (int)cg_dtype_size(T->dtype));
  if (eff_align(T) < (bytes < 16 ? bytes : 16)) return 0;
  for (int d = 0; d < in; d++)
    if (r->st[t][d] % V) return 0;
  return 1;
}

static int is_scalar_leaf(const cg_region *r, int t, int V) {
  return V == 1 || r->st[t][r->rank - 1] == 0 || r->dims[r->rank - 1] == 1;
}

/* Reference to tensor t's value at element j of the chunk. */
static const char *ref(char *out, size_t n, int t, int scalar) {
  snprintf(out, n, scalar ? "v%d" : "v%d[j]", t);
  return out;
}

/* The scalar expression of one node; in[k] are its inputs' references. */
static void op_expr(cg_buf *b, const cg_node *nd, char in[][24]) {
  char a0[48], a1[48];
  const char *x = in[0];
  switch (nd->op) {
  case CG_ABS: cg_printf(b, "fabsf(%s)", x); break;
  case CG_NEG: cg_printf(b, "-%s", x); break;
  case CG_RELU: cg_printf(b, "cg_relu(%s)", x); break;
  case CG_LEAKY_RELU: cg_flit(a0, nd->fa[0]); cg_printf(b, "cg_leaky_relu(%s, %s)", x, a0); break;
  case CG_SIGMOID: cg_printf(b, "cg_sigmoid(%s)", x); break;
  case CG_TANH: cg_printf(b, "tanhf(%s)", x); break;
  case CG_GELU: cg_printf(b, nd->ia[0] ? "cg_gelu_tanh(%s)" : "cg_gelu_erf(%s)", x); break;
  case CG_ERF: cg_printf(b, "erff(%s)", x); break;
  case CG_EXP: cg_printf(b, "expf(%s)", x); break;
  case CG_LOG: cg_printf(b, "logf(%s)", x); break;
  case CG_SQRT: cg_printf(b, "sqrtf(%s)", x); break;
  case CG_RECIPROCAL: cg_printf(b, "1.0f / %s", x); break;
  case CG_CLIP:
    cg_flit(a0, nd->fa[0]);
    cg_flit(a1, nd->fa[1]);
    cg_printf(b, "cg_clip(%s, %s, %s)", x, a0, a1);
    break;
  case CG_HARD_SIGMOID:
    cg_flit(a0, nd->fa[0]);
    cg_flit(a1, nd->fa[1]);
    cg_printf(b, "cg_hard_sigmoid(%s, %s, %s)", x, a0, a1);
    break;
  case CG_HARD_SWISH: cg_printf(b, "cg_hard_swish(%s)", x); break;
  case CG_SOFTPLUS: cg_printf(b, "cg_softplus(%s)", x); break;
  case CG_IDENTITY: case CG_DROPOUT: cg_printf(b, "%s", x); break;
  case CG_ADD: cg_printf(b, "%s + %s", x, in[1]); break;
  case CG_SUB: cg_printf(b, "%s - %s", x, in[1]); break;
  case CG_MUL: cg_printf(b, "%s * %s", x, in[1]); break;
  case CG_DIV: cg_printf(b, "%s / %s", x, in[1]); break;
  case CG_POW: cg_printf(b, "powf(%s, %s)", x, in[1]); break;
  case CG_SUM: case CG_MAX: case CG_MIN: {
    /* folded left to right, as the CPU kernel's staged passes do */
    const char *f = nd->op == CG_SUM ? NULL : nd->op == CG_MAX ? "cg_max" : "cg_min";
    if (f)
      for (int k = 1; k < nd->n_in; k++) cg_printf(b, "%s(", f);
    cg_printf(b, "%s", x);
    for (int k = 1; k < nd->n_in; k++) cg_printf(b, f ? ", %s)" : " + %s", in[k]);
    break;
  }
  case CG_BATCH_NORM:
    /* (x - mean) * (scale / sqrt(var + eps)) + B, as the CPU kernel */
    cg_flit(a0, nd->fa[0]);
    cg_printf(b, "(%s - %s) * (%s / sqrtf(%s + %s)) + %s", x, in[3], in[1], in[4], a0, in[2]);
    break;
  default:
    cg_printf(b, "0.0f /* %s is not elementwise */", cg_op_name(nd->op));
  }
}

/* Index of the node producing t within the region, or -1. */
static int made_by(const cg_region *r, int t) {
  for (int i = 0; i < r->n_nodes; i++)
    if (r->g->nodes[r->nodes[i]].out[0] == t) return i;
  return -1;
}

static void open_loop(cg_buf *b, int V, int indent) {
  ind(b, indent);
  cg_printf(b, "#pragma unroll\n");
  ind(b, indent);
  cg_printf(b, "for (int j = 0; j < %d; j++) ", V);
}

static void emit_load(cg_buf *b, const cg_region *r, const cg_emit_req *q, int t, int scalar,
                      int indent) {
  const cg_tensor *T = &r->g->tensors[t];
  const char *dn = cg_dtname(T->dtype);
  char off[512];
  offset_of(off, sizeof off, r, q, t);
  ind(b, indent);
  if (scalar) {
    cg_printf(b, "const float v%d = cg_ld_%s(p%d + (%s));\n", t, dn, t, off);
  } else if (vec_ok(r, t, q->V)) {
    cg_printf(b, "float v%d[%d];\n", t, q->V);
    ind(b, indent);
    cg_printf(b, "cg_ldv%d_%s(v%d, p%d + (%s));\n", q->V, dn, t, t, off);
  } else {
    int64_t s = r->st[t][r->rank - 1];
    cg_printf(b, "float v%d[%d];\n", t, q->V);
    open_loop(b, q->V, indent);
    if (s == 1) cg_printf(b, "v%d[j] = cg_ld_%s(p%d + (%s) + j);\n", t, dn, t, off);
    else cg_printf(b, "v%d[j] = cg_ld_%s(p%d + (%s) + j * %lld);\n", t, dn, t, off, (long long)s);
  }
}

/* A permuted store (every element of the space lands somewhere: no
 * broadcast guard). Chunk elements move by the inner dim's first digit
 * stride while the chunk stays inside that digit, as one vector when that
 * stride is 1 and every other stride keeps the chunk aligned; otherwise each
 * element's offset is computed on its own. */
static void emit_store_split(cg_buf *b, const cg_region *r, const cg_emit_req *q, int t, int scalar, int indent) {
  const cg_tensor *T = &r->g->tensors[t];
  const cg_digits *D = r->split[t];
  const char *dn = cg_dtname(T->dtype);
  int in = r->rank - 1, V = q->V;
  char v[24];
  cg_buf off = {0};
  if (q->guard) {
    ind(b, indent);
    cg_printf(b, "if (%s) {\n", q->guard);
    indent += 2;
  }
  if (V > 1 && !(D->n[in] >= 1 && D->size[in][0] % V == 0)) {
    /* the chunk crosses a digit boundary: each element's own offset */
    offset_split(&off, r, q, t, "j");
    open_loop(b, V, indent);
    cg_printf(b, "cg_st_%s(p%d + (%s), %s);\n", dn, t, off.s ? off.s : "0", ref(v, sizeof v, t, scalar));
  } else if (V == 1) {
    offset_split(&off, r, q, t, NULL);
    ind(b, indent);
    cg_printf(b, "cg_st_%s(p%d + (%s), v%d%s);\n", dn, t, off.s ? off.s : "0", t, scalar ? "" : "[0]");
  } else {
    offset_split(&off, r, q, t, NULL);
    int64_t s0 = D->st[in][0];
    int vec = s0 == 1 && !scalar;
    uint32_t bytes = (uint32_t)(V * (int)cg_dtype_size(T->dtype));
    if (eff_align(T) < (bytes < 16 ? bytes : 16)) vec = 0;
    for (int d = 0; d < r->rank && vec; d++)
      for (int i = d == in ? 1 : 0; i < D->n[d]; i++) vec &= D->st[d][i] % V == 0;
    if (vec) {
      ind(b, indent);
      cg_printf(b, "cg_stv%d_%s(p%d + (%s), v%d);\n", V, dn, t, off.s ? off.s : "0", t);
    } else {
      open_loop(b, V, indent);
      if (s0 == 1) cg_printf(b, "cg_st_%s(p%d + (%s) + j, %s);\n", dn, t, off.s ? off.s : "0", ref(v, sizeof v, t, scalar));
      else
        cg_printf(b, "cg_st_%s(p%d + (%s) + j * %lld, %s);\n", dn, t, off.s ? off.s : "0", (long long)s0,
                  ref(v, sizeof v, t, scalar));
    }
  }
  if (off.oom) b->oom = 1;
  cg_buf_free(&off);
  if (q->guard) {
    ind(b, indent - 2);
    cg_printf(b, "}\n");
  }
}

static void emit_store(cg_buf *b, const cg_region *r, const cg_emit_req *q, int t, int scalar,
                       int indent) {
  if (r->split && r->split[t]) {
    emit_store_split(b, r, q, t, scalar, indent);
    return;
  }
  const cg_tensor *T = &r->g->tensors[t];
  const char *dn = cg_dtname(T->dtype);
  int in = r->rank - 1;
  char off[512], cond[1024];
  offset_of(off, sizeof off, r, q, t);
  /* an output smaller than the space is written once: where its broadcast
   * coordinates are 0 */
  size_t k = 0;
  cond[0] = 0;
  if (q->guard) k += (size_t)snprintf(cond, sizeof cond, "(%s)", q->guard);
  for (int d = 0; d < r->rank && k < sizeof cond - 64; d++)
    if (r->st[t][d] == 0 && r->dims[d] > 1)
      k += (size_t)snprintf(cond + k, sizeof cond - k, "%s(%s) == 0", k ? " && " : "", q->coord[d]);
  if (k) {
    ind(b, indent);
    cg_printf(b, "if (%s) {\n", cond);
    indent += 2;
  }
  char v[24];
  int inner_bcast = q->V > 1 && (r->st[t][in] == 0 || r->dims[in] == 1);
  if (q->V == 1 || inner_bcast) {
    ind(b, indent);
    if (scalar) cg_printf(b, "cg_st_%s(p%d + (%s), v%d);\n", dn, t, off, t);
    else cg_printf(b, "cg_st_%s(p%d + (%s), v%d[0]);\n", dn, t, off, t);
  } else if (!scalar && vec_ok(r, t, q->V)) {
    ind(b, indent);
    cg_printf(b, "cg_stv%d_%s(p%d + (%s), v%d);\n", q->V, dn, t, off, t);
  } else {
    int64_t s = r->st[t][in];
    open_loop(b, q->V, indent);
    if (s == 1) cg_printf(b, "cg_st_%s(p%d + (%s) + j, %s);\n", dn, t, off, ref(v, sizeof v, t, scalar));
    else cg_printf(b, "cg_st_%s(p%d + (%s) + j * %lld, %s);\n", dn, t, off, (long long)s, ref(v, sizeof v, t, scalar));
  }
  if (k) {
    ind(b, indent - 2);
    cg_printf(b, "}\n");
  }
}

void cg_region_emit(cg_buf *b, const cg_region *r, const cg_emit_req *q) {
  const cg_group *g = r->g;
  int nt = g->n_tensors, V = q->V, I = q->indent;
  /* 0: unknown, 1: scalar over the chunk, 2: a float[V] */
  unsigned char *kind = calloc((size_t)nt, 1);
  unsigned char *loaded = calloc((size_t)nt, 1);
  if (!kind || !loaded) {
    b->oom = 1;
    free(kind);
    free(loaded);
    return;
  }
  ind(b, I);
  cg_printf(b, "{\n");
  I += 2;
  for (int t = 0; t < nt; t++)
    if (r->preset[t]) {
      kind[t] = V == 1 || !r->preset_vec[t] ? 1 : 2;
      ind(b, I);
      if (kind[t] == 1) cg_printf(b, "const float v%d = %s;\n", t, r->preset[t]);
      else cg_printf(b, "const float *v%d = %s;\n", t, r->preset[t]);
    }
  /* 1. leaves: read by a node (or wanted) and made by none */
  for (int i = -1; i < r->n_nodes; i++) {
    int n_use = i < 0 ? q->n_want : node_nin(&g->nodes[r->nodes[i]]);
    for (int k = 0; k < n_use; k++) {
      int t = i < 0 ? q->want[k] : g->nodes[r->nodes[i]].in[k];
      if (kind[t] || made_by(r, t) >= 0) continue;
      kind[t] = is_scalar_leaf(r, t, V) ? 1 : 2;
      emit_load(b, r, q, t, kind[t] == 1, I);
      loaded[t] = 1;
    }
  }
  /* 2. nodes */
  for (int i = 0; i < r->n_nodes; i++) {
    const cg_node *nd = &g->nodes[r->nodes[i]];
    int o = nd->out[0], scalar = 1;
    if (cg_op_chain(nd->op)) {
      /* a Transpose or Reshape moves values, never changes them: its result
       * names its input's registers; only where it is stored differs */
      int x = nd->in[0];
      kind[o] = kind[x];
      ind(b, I);
      if (kind[o] == 1) cg_printf(b, "const float v%d = v%d; /* %s */\n", o, x, cg_op_name(nd->op));
      else cg_printf(b, "const float *v%d = v%d; /* %s */\n", o, x, cg_op_name(nd->op));
      continue;
    }
    for (int k = 0; k < node_nin(nd); k++) scalar &= kind[nd->in[k]] == 1;
    char refs[CG_MAX_NODE_IO][24];
    for (int k = 0; k < node_nin(nd); k++) ref(refs[k], sizeof refs[k], nd->in[k], kind[nd->in[k]] == 1);
    ind(b, I);
    if (scalar) {
      cg_printf(b, "const float v%d = ", o);
    } else {
      cg_printf(b, "float v%d[%d];\n", o, V);
      open_loop(b, V, I);
      cg_printf(b, "v%d[j] = ", o);
    }
    op_expr(b, nd, refs);
    cg_printf(b, "; /* %s */\n", cg_op_name(nd->op));
    kind[o] = scalar ? 1 : 2;
  }
  /* 3. stores, then values out */
  if (q->store)
    for (int t = 0; t < nt; t++)
      if (g->tensors[t].role == CG_OUT && kind[t] && !loaded[t] && r->has[t])
        emit_store(b, r, q, t, kind[t] == 1, I);
  for (int k = 0; k < q->n_want; k++) {
    int t = q->want[k];
    char v[24];
    if (V == 1) {
      ind(b, I);
      cg_printf(b, "%s = v%d%s;\n", q->want_to[k], t, kind[t] == 1 ? "" : "[0]");
    } else {
      open_loop(b, V, I);
      cg_printf(b, "%s[j] = %s;\n", q->want_to[k], ref(v, sizeof v, t, kind[t] == 1));
    }
  }
  I -= 2;
  ind(b, I);
  cg_printf(b, "}\n");
  free(kind);
  free(loaded);
}
