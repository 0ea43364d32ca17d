/*
 * emit_injective.c: the data-movement kernels (copies, Transpose, Concat,
 * Split, Slice, Pad, Gather) for any element type.
 *
 * They move bits, never values: an element is an unsigned integer of its
 * size (2, 4 or 8 bytes), and V consecutive elements move as one 4, 8 or
 * 16-byte word where the shapes and both base alignments allow.
 *
 *   affine   copies, Slice, Pad and the Transpose whose innermost output
 *            dim is contiguous in the input: output element c reads input
 *            base + sum(c_d * s_d) (s_d may be negative: Slice steps), or
 *            the fill value outside the window [lo_d, hi_d) of each padded
 *            dim. Dims are coalesced first, so a copy is one flat loop.
 *   tiled    the other Transposes: 32x32 tiles through shared memory, read
 *            along the input's contiguous dim and written along the
 *            output's, so both sides are coalesced.
 *   parts    Concat and Split: one grid-stride loop per part over its
 *            [outer, block] elements; vectorised per part.
 *   gather   Gather: rows of `inner` elements picked by int64 indices.
 *            Negative indices count from the end. An index still outside
 *            [0, A) yields zeros (all bits 0) for its row and is never used
 *            to read: the GPU cannot report it, and zeros are visible.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

static const char *mtype(int bytes) {
  switch (bytes) {
  case 2: return "unsigned short";
  case 4: return "unsigned";
  case 8: return "unsigned long long";
  default: return "uint4";
  }
}

static uint32_t align_of(const cg_tensor *T) {
  uint32_t a = T->align, es = (uint32_t)cg_dtype_size(T->dtype);
  if (a == 0) return es;
  a &= -a;
  return a < es ? es : a;
}

static int64_t mod_pos(int64_t a, int64_t m) { return ((a % m) + m) % m; }

/* Typed views of the data arguments: e<t> is tensor t as raw elements
 * (every argument but Gather's indices). */
static void emit_views(cg_kernel *k, int es) {
  const cg_group *g = k->g;
  const cg_node *nd = &g->nodes[0];
  for (int t = 0; t < g->n_tensors; t++) {
    const cg_tensor *T = &g->tensors[t];
    if (T->role == CG_FUSED || (nd->op == CG_GATHER && t == nd->in[1])) continue;
    cg_printf(k->b, "  %s%s *e%d = (%s%s *)p%d;\n  (void)e%d;\n", T->role == CG_IN ? "const " : "", mtype(es), t,
              T->role == CG_IN ? "const " : "", mtype(es), t, t);
  }
}

/* ---- fill values ---------------------------------------------------------- */

static uint16_t f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);
  if (ax < 0x38800000u) {
    if (ax < 0x33000000u) return (uint16_t)sign;
    uint32_t e = ax >> 23, man = (ax & 0x7fffff) | 0x800000, shift = 126 - e;
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t r = ax + 0xfff + ((ax >> 13) & 1);
  return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static uint16_t f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

/* The Pad value's bits in the element type, as the CPU kernel converts it
 * (int64: toward zero, saturating, NaN -> 0). */
static uint64_t fill_bits(cg_dtype dt, float v) {
  switch (dt) {
  case CG_F32: {
    uint32_t u;
    memcpy(&u, &v, 4);
    return u;
  }
  case CG_F16: return f32_to_f16(v);
  case CG_BF16: return f32_to_bf16(v);
  default: {
    int64_t i;
    if (v != v) i = 0;
    else if (v >= 9223372036854775807.0f) i = INT64_MAX;
    else if (v <= -9223372036854775808.0f) i = INT64_MIN;
    else i = (int64_t)v;
    return (uint64_t)i;
  }
  }
}

/* A constant of `bytes` bytes holding the element pattern repeated. */
static void fill_const(char *out, size_t n, uint64_t bits, int es, int bytes) {
  uint64_t w64 = bits;
  if (es == 2) w64 = bits | bits << 16 | bits << 32 | bits << 48;
  if (es == 4) w64 = bits | bits << 32;
  uint32_t lo = (uint32_t)w64, hi = (uint32_t)(w64 >> 32);
  switch (bytes) {
  case 2: snprintf(out, n, "(unsigned short)0x%xu", (unsigned)(bits & 0xffff)); break;
  case 4: snprintf(out, n, "0x%xu", lo); break;
  case 8: snprintf(out, n, "0x%llxull", (unsigned long long)w64); break;
  default: snprintf(out, n, "make_uint4(0x%xu, 0x%xu, 0x%xu, 0x%xu)", lo, hi, lo, hi);
  }
}

/* ---- affine gathers: copies, Slice, Pad, row Transposes ----------------------- */

typedef struct aff {
  int rank;
  int64_t n[CG_MAX_RANK], s[CG_MAX_RANK];
  int64_t base;
  int win[CG_MAX_RANK];
  int64_t lo[CG_MAX_RANK], hi[CG_MAX_RANK];
  int all_fill;
  uint64_t fill;
} aff;

static void aff_coalesce(aff *a) {
  int m = 0;
  aff c = *a;
  for (int d = 0; d < a->rank; d++) {
    if (a->win[d] && a->lo[d] >= a->hi[d]) c.all_fill = 1;
    if (a->n[d] == 1) continue; /* its coordinate is 0, inside its window (else all_fill) */
    if (m > 0 && !c.win[m - 1] && !a->win[d] && c.s[m - 1] == a->s[d] * a->n[d]) {
      c.n[m - 1] *= a->n[d];
      c.s[m - 1] = a->s[d];
      continue;
    }
    c.n[m] = a->n[d];
    c.s[m] = a->s[d];
    c.win[m] = a->win[d];
    c.lo[m] = a->lo[d];
    c.hi[m] = a->hi[d];
    m++;
  }
  if (m == 0) {
    c.n[0] = 1;
    c.s[0] = 0;
    c.win[0] = 0;
    m = 1;
  }
  c.rank = m;
  *a = c;
}

static void emit_affine(cg_kernel *k, const aff *a, int xt, int yt, const char *what) {
  const cg_group *g = k->g;
  cg_buf *b = k->b;
  const cg_tensor *X = &g->tensors[xt], *Y = &g->tensors[yt];
  int es = (int)cg_dtype_size(Y->dtype), r = a->rank, last = r - 1;
  int64_t total = 1;
  for (int d = 0; d < r; d++) total *= a->n[d];
  int V = 1;
  for (int v = 16 / es; v >= 2 && V == 1; v /= 2) {
    int ok = (r == 1 || a->n[last] % v == 0) && (a->all_fill || a->s[last] == 1 || a->n[last] == 1);
    ok = ok && (a->all_fill || mod_pos(a->base, v) == 0);
    for (int d = 0; d < last && ok; d++) ok = a->s[d] % v == 0;
    if (a->win[last]) ok = ok && a->lo[last] % v == 0 && a->hi[last] % v == 0;
    uint32_t need = (uint32_t)(v * es);
    ok = ok && align_of(Y) >= need && (a->all_fill || align_of(X) >= need);
    if (ok && total >= v) V = v;
  }
  const int threads = 256;
  int64_t nv = total / V, done = nv * V;
  const char *it = cg_ityp(k), *vt = mtype(V * es), *et = mtype(es);
  k->launch->block[0] = threads;
  k->launch->grid[0] = cg_grid_for(k, nv, threads, 8);
  cg_printf(b, "/* %s: %lld elements of %d bytes as %d-byte words */\n", what, (long long)total, es, V * es);
  cg_emit_signature(k, threads);
  if (g->n_inplace) { /* a copy onto itself: nothing moves */
    cg_printf(b, "}\n");
    return;
  }
  emit_views(k, es);
  char fillv[96], fill1[96];
  fill_const(fillv, sizeof fillv, a->fill, es, V * es);
  fill_const(fill1, sizeof fill1, a->fill, es, es);
  cg_printf(b, "  const %s stride = (%s)(gridDim.x * blockDim.x);\n", it, it);
  for (int pass = 0; pass < 2; pass++) {
    int W = pass == 0 ? V : 1;
    if (pass == 1 && done == total) break;
    if (pass == 0)
      cg_printf(b, "  for (%s u = (%s)(blockIdx.x * blockDim.x + threadIdx.x); u < %lld; u += stride) {\n"
                   "    const %s i = u * %d;\n", it, it, (long long)nv, it, V);
    else
      cg_printf(b, "  for (%s i = %lld + (%s)(blockIdx.x * blockDim.x + threadIdx.x); i < %lld; i += stride) {\n",
                it, (long long)done, it, (long long)total);
    const char *t = W == 1 ? et : vt;
    if (a->all_fill) {
      cg_printf(b, "    *(%s *)(e%d + i) = %s;\n  }\n", t, yt, W == 1 ? fill1 : fillv);
      continue;
    }
    char c[CG_MAX_RANK][128];
    cg_coord_exprs(c, "i", r, a->n);
    cg_printf(b, "    const %s o = %lld", it, (long long)a->base);
    for (int d = 0; d < r; d++)
      if (a->s[d] && a->n[d] > 1) cg_printf(b, " + %s * %lld", c[d], (long long)a->s[d]);
    cg_printf(b, ";\n");
    int any_win = 0;
    for (int d = 0; d < r; d++) any_win |= a->win[d];
    if (any_win) {
      cg_printf(b, "    const bool in = true");
      for (int d = 0; d < r; d++)
        if (a->win[d]) cg_printf(b, " && %s >= %lld && %s < %lld", c[d], (long long)a->lo[d], c[d], (long long)a->hi[d]);
      cg_printf(b, ";\n    *(%s *)(e%d + i) = in ? *(const %s *)(e%d + o) : %s;\n  }\n", t, yt, t, xt,
                W == 1 ? fill1 : fillv);
    } else {
      cg_printf(b, "    *(%s *)(e%d + i) = *(const %s *)(e%d + o);\n  }\n", t, yt, t, xt);
    }
  }
  cg_printf(b, "}\n");
}

/* ---- Transpose through shared-memory tiles ------------------------------------ */

static void emit_tiled(cg_kernel *k, int r, const int64_t *n, const int64_t *s, int p, int xt, int yt) {
  cg_buf *b = k->b;
  int es = (int)cg_dtype_size(k->g->tensors[yt].dtype), q = r - 1;
  int64_t o[CG_MAX_RANK];
  cg_dense_strides(r, n, o);
  int outer[CG_MAX_RANK], no = 0;
  int64_t M = 1, od[CG_MAX_RANK];
  for (int d = 0; d < r; d++)
    if (d != p && d != q) {
      outer[no] = d;
      od[no++] = n[d];
      M *= n[d];
    }
  int64_t TP = (n[p] + 31) / 32, TQ = (n[q] + 31) / 32, tiles = M * TP * TQ;
  const char *it = cg_ityp(k), *et = mtype(es);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 8);
  cg_printf(b, "/* transpose: 32x32 tiles; output dim %d is contiguous in the input, dim %d in the output */\n", p, q);
  cg_emit_signature(k, 256);
  emit_views(k, es);
  cg_printf(b, "  __shared__ %s tile[32][33];\n", et);
  cg_printf(b, "  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;\n");
  cg_printf(b, "  for (%s t = blockIdx.x; t < %lld; t += gridDim.x) {\n", it, (long long)tiles);
  cg_printf(b, "    const %s m = t / %lld, rem = t %% %lld;\n    (void)m;\n", it, (long long)(TP * TQ),
            (long long)(TP * TQ));
  cg_printf(b, "    const %s tp0 = (rem / %lld) * 32, tq0 = (rem %% %lld) * 32;\n", it, (long long)TQ, (long long)TQ);
  char c[CG_MAX_RANK][128];
  cg_coord_exprs(c, "m", no, od);
  cg_printf(b, "    const %s ib = 0", it);
  for (int j = 0; j < no; j++) cg_printf(b, " + %s * %lld", c[j], (long long)s[outer[j]]);
  cg_printf(b, ", ob = 0");
  for (int j = 0; j < no; j++) cg_printf(b, " + %s * %lld", c[j], (long long)o[outer[j]]);
  cg_printf(b, ";\n");
  cg_printf(b, "    for (int qq = ty; qq < 32; qq += 8)\n"
               "      if (tp0 + tx < %lld && tq0 + qq < %lld) tile[qq][tx] = e%d[ib + tp0 + tx + (tq0 + qq) * %lld];\n",
            (long long)n[p], (long long)n[q], xt, (long long)s[q]);
  cg_printf(b, "    __syncthreads();\n");
  cg_printf(b, "    for (int pp = ty; pp < 32; pp += 8)\n"
               "      if (tp0 + pp < %lld && tq0 + tx < %lld) e%d[ob + (tp0 + pp) * %lld + tq0 + tx] = tile[tx][pp];\n",
            (long long)n[p], (long long)n[q], yt, (long long)o[p]);
  cg_printf(b, "    __syncthreads();\n  }\n}\n");
}

static void emit_transpose(cg_kernel *k, const cg_node *nd) {
  const cg_tensor *X = &k->g->tensors[nd->in[0]];
  int64_t xs[CG_MAX_RANK];
  cg_dense_strides(X->rank, X->dims, xs);
  aff a;
  memset(&a, 0, sizeof a);
  int r = 0;
  for (int j = 0; j < X->rank; j++) { /* output dims, merged while the input walks them in order */
    int64_t d = nd->ia[j], n = X->dims[d];
    if (n == 1) continue;
    if (r > 0 && a.s[r - 1] == xs[d] * n) {
      a.n[r - 1] *= n;
      a.s[r - 1] = xs[d];
    } else {
      a.n[r] = n;
      a.s[r] = xs[d];
      r++;
    }
  }
  if (r == 0) {
    a.n[0] = 1;
    a.s[0] = 1;
    r = 1;
  }
  a.rank = r;
  if (a.s[r - 1] == 1) {
    emit_affine(k, &a, nd->in[0], nd->out[0], "transpose by rows");
    return;
  }
  int p = -1;
  for (int d = 0; d < r - 1; d++)
    if (a.s[d] == 1) p = d;
  emit_tiled(k, r, a.n, a.s, p, nd->in[0], nd->out[0]);
}

/* ---- Concat, Split -------------------------------------------------------------- */

static void emit_parts(cg_kernel *k, const cg_node *nd) {
  const cg_group *g = k->g;
  cg_buf *b = k->b;
  int concat = nd->op == CG_CONCAT;
  int big = concat ? nd->out[0] : nd->in[0], axis = (int)nd->ia[0];
  const int *parts = concat ? nd->in : nd->out;
  int np = concat ? nd->n_in : nd->n_out;
  const cg_tensor *B = &g->tensors[big];
  int es = (int)cg_dtype_size(B->dtype);
  int64_t inner = 1, outer = 1;
  for (int d = axis + 1; d < B->rank; d++) inner *= B->dims[d];
  for (int d = 0; d < axis; d++) outer *= B->dims[d];
  int64_t row = B->dims[axis] * inner, off = 0, most = 0;
  for (int j = 0; j < np; j++) {
    int64_t n = outer * g->tensors[parts[j]].dims[axis] * inner;
    most = n > most ? n : most;
  }
  const char *it = cg_ityp(k);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, most, 256, 8);
  cg_printf(b, "/* %s on axis %d: %d parts, one grid-stride loop each */\n", concat ? "concat" : "split", axis, np);
  cg_emit_signature(k, 256);
  emit_views(k, es);
  cg_printf(b, "  const %s stride = (%s)(gridDim.x * blockDim.x);\n", it, it);
  for (int j = 0; j < np; j++) {
    const cg_tensor *P = &g->tensors[parts[j]];
    int64_t blk = P->dims[axis] * inner, n = outer * blk;
    int V = 1;
    for (int v = 16 / es; v >= 2 && V == 1; v /= 2) {
      uint32_t need = (uint32_t)(v * es);
      if (blk % v == 0 && off % v == 0 && row % v == 0 && align_of(P) >= need && align_of(B) >= need) V = v;
    }
    if (n > 0) {
      const char *vt = mtype(V * es);
      cg_printf(b, "  for (%s u = (%s)(blockIdx.x * blockDim.x + threadIdx.x); u < %lld; u += stride) {\n",
                it, it, (long long)(n / V));
      cg_printf(b, "    const %s i = u * %d, o = (i / %lld) * %lld + %lld + i %% %lld;\n", it, V,
                (long long)blk, (long long)row, (long long)off, (long long)blk);
      if (concat) cg_printf(b, "    *(%s *)(e%d + o) = *(const %s *)(e%d + i);\n  }\n", vt, big, vt, parts[j]);
      else cg_printf(b, "    *(%s *)(e%d + i) = *(const %s *)(e%d + o);\n  }\n", vt, parts[j], vt, big);
    }
    off += blk;
  }
  cg_printf(b, "}\n");
}

/* ---- Gather ------------------------------------------------------------------------ */

static void emit_gather(cg_kernel *k, const cg_node *nd) {
  const cg_group *g = k->g;
  cg_buf *b = k->b;
  int xt = nd->in[0], it_ = nd->in[1], yt = nd->out[0], axis = (int)nd->ia[0];
  const cg_tensor *X = &g->tensors[xt], *Y = &g->tensors[yt];
  int es = (int)cg_dtype_size(X->dtype);
  int64_t A = X->dims[axis], inner = 1, nidx = cg_numel(&g->tensors[it_]), total = cg_numel(Y);
  for (int d = axis + 1; d < X->rank; d++) inner *= X->dims[d];
  int V = 1;
  for (int v = 16 / es; v >= 2 && V == 1; v /= 2)
    if (inner % v == 0 && align_of(X) >= (uint32_t)(v * es) && align_of(Y) >= (uint32_t)(v * es)) V = v;
  const char *it = cg_ityp(k), *vt = mtype(V * es);
  char zero[96];
  fill_const(zero, sizeof zero, 0, es, V * es);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, total / V, 256, 8);
  cg_printf(b, "/* gather on axis %d: rows of %lld elements; an index outside [-%lld, %lld) gives zeros */\n",
            axis, (long long)inner, (long long)A, (long long)A);
  cg_emit_signature(k, 256);
  emit_views(k, es);
  cg_printf(b, "  const %s stride = (%s)(gridDim.x * blockDim.x);\n", it, it);
  cg_printf(b, "  for (%s u = (%s)(blockIdx.x * blockDim.x + threadIdx.x); u < %lld; u += stride) {\n",
            it, it, (long long)(total / V));
  cg_printf(b, "    const %s i = u * %d, r = i / %lld, e = i %% %lld;\n", it, V, (long long)inner, (long long)inner);
  cg_printf(b, "    long long j = p%d[r %% %lld];\n", it_, (long long)nidx);
  cg_printf(b, "    if (j < 0) j += %lld;\n", (long long)A);
  cg_printf(b, "    *(%s *)(e%d + i) = j >= 0 && j < %lld ? *(const %s *)(e%d + ((r / %lld) * %lld + (%s)j) * %lld + e) : %s;\n",
            vt, yt, (long long)A, vt, xt, (long long)nidx, (long long)A, it, (long long)inner, zero);
  cg_printf(b, "  }\n}\n");
}

int cg_emit_injective(cg_kernel *k, char *err, size_t err_size) {
  (void)err;
  (void)err_size;
  const cg_node *nd = &k->g->nodes[0];
  const cg_tensor *X = &k->g->tensors[nd->in[0]];
  int64_t xs[CG_MAX_RANK];
  cg_dense_strides(X->rank, X->dims, xs);
  aff a;
  memset(&a, 0, sizeof a);
  if (cg_op_copy(nd->op)) {
    a.rank = 1;
    a.n[0] = cg_numel(X);
    a.s[0] = 1;
    emit_affine(k, &a, nd->in[0], nd->out[0], "copy");
    return 0;
  }
  switch (nd->op) {
  case CG_TRANSPOSE:
    emit_transpose(k, nd);
    return 0;
  case CG_CONCAT: case CG_SPLIT:
    emit_parts(k, nd);
    return 0;
  case CG_GATHER:
    emit_gather(k, nd);
    return 0;
  case CG_SLICE: {
    const cg_tensor *Y = &k->g->tensors[nd->out[0]];
    a.rank = Y->rank;
    for (int d = 0; d < Y->rank; d++) {
      a.n[d] = Y->dims[d];
      a.s[d] = nd->ia[Y->rank + d] * xs[d];
      a.base += nd->ia[d] * xs[d];
    }
    aff_coalesce(&a);
    emit_affine(k, &a, nd->in[0], nd->out[0], "slice");
    return 0;
  }
  default: { /* Pad */
    const cg_tensor *Y = &k->g->tensors[nd->out[0]];
    a.rank = Y->rank;
    a.fill = fill_bits(Y->dtype, nd->fa[0]);
    for (int d = 0; d < Y->rank; d++) {
      int64_t bgn = nd->ia[d];
      a.n[d] = Y->dims[d];
      a.s[d] = xs[d];
      a.base -= bgn * xs[d];
      a.lo[d] = bgn > 0 ? bgn : 0;
      a.hi[d] = bgn + X->dims[d] < Y->dims[d] ? bgn + X->dims[d] : Y->dims[d];
      a.win[d] = a.lo[d] > 0 || a.hi[d] < Y->dims[d];
    }
    aff_coalesce(&a);
    emit_affine(k, &a, nd->in[0], nd->out[0], "pad");
    return 0;
  }
  }
}
