/*
 * layout.c: the data-movement kernels (copies, Transpose, Concat, Split,
 * Slice, Pad, Gather) on any element type.
 *
 * They only move bytes, so they see an element as 2, 4 or 8 bytes and copy
 * through the matching integer type (contiguous runs go through memcpy).
 * Shapes are coalesced where it pays (Transpose merges dims that stay
 * neighbours, which turns most model transposes into row copies or one 2-D
 * transpose done in cache-sized tiles). Work is cut into pieces of about
 * LAY_GRAIN bytes for the thread pool.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#define LAY_GRAIN 65536 /* bytes per pool chunk */
#define T_TILE 32       /* Transpose tile edge, elements */

static int64_t grain_bytes(int64_t unit_bytes) {
  if (unit_bytes < 1) unit_bytes = 1;
  int64_t g = LAY_GRAIN / unit_bytes;
  return g < 1 ? 1 : g;
}

/* dst[i] = src[i * stride] for i in [0, n); stride in elements, may be < 0. */
static void copy_strided(void *dst, const void *src, int64_t n, int64_t stride, size_t es) {
  if (stride == 1) {
    memcpy(dst, src, (size_t)n * es);
    return;
  }
  switch (es) {
  case 2: {
    uint16_t *d = dst;
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) d[i] = s[i * stride];
  } break;
  case 4: {
    uint32_t *d = dst;
    const uint32_t *s = src;
    for (int64_t i = 0; i < n; i++) d[i] = s[i * stride];
  } break;
  case 8: {
    uint64_t *d = dst;
    const uint64_t *s = src;
    for (int64_t i = 0; i < n; i++) d[i] = s[i * stride];
  } break;
  default:
    for (int64_t i = 0; i < n; i++)
      memcpy((char *)dst + i * (int64_t)es, (const char *)src + i * stride * (int64_t)es, es);
  }
}

/* n copies of the es-byte pattern `val`. */
static void fill(void *dst, const void *val, int64_t n, size_t es) {
  switch (es) {
  case 2: {
    uint16_t v, *d = dst;
    memcpy(&v, val, 2);
    for (int64_t i = 0; i < n; i++) d[i] = v;
  } break;
  case 4: {
    uint32_t v, *d = dst;
    memcpy(&v, val, 4);
    for (int64_t i = 0; i < n; i++) d[i] = v;
  } break;
  case 8: {
    uint64_t v, *d = dst;
    memcpy(&v, val, 8);
    for (int64_t i = 0; i < n; i++) d[i] = v;
  } break;
  default:
    for (int64_t i = 0; i < n; i++) memcpy((char *)dst + i * (int64_t)es, val, es);
  }
}

static void dense_strides(int rank, const int64_t *dims, int64_t *st) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    st[d] = s;
    s *= dims[d];
  }
}

/* ---- copies (Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze) ------ */

typedef struct {
  char *dst;
  const char *src;
  int64_t bytes, piece;
} copy_job;

static void copy_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const copy_job *j = v;
  int64_t b0 = u0 * j->piece, b1 = u1 * j->piece < j->bytes ? u1 * j->piece : j->bytes;
  memcpy(j->dst + b0, j->src + b0, (size_t)(b1 - b0));
}

int rt_k_copy(const rt_kctx *ctx, const rt_kargs *a) {
  /* Dropout's optional mask output is boolean, a dtype plans do not have:
   * only the data output exists here. */
  assert(a->n_in >= 1 && a->n_out >= 1);
  const rt_view *x = &a->in[0], *y = &a->out[0];
  assert(x->dtype == y->dtype);
  int64_t n = rt_numel(x->rank, x->dims);
  assert(rt_numel(y->rank, y->dims) == n);
  if (x->data == y->data || n == 0) return 0;
  copy_job j = {y->data, x->data, n * (int64_t)rt_dtype_size(x->dtype), LAY_GRAIN};
  rt_pool_run(ctx->pool, (j.bytes + j.piece - 1) / j.piece, 4, copy_task, &j);
  return 0;
}

/* ---- Transpose ------------------------------------------------------------ */

typedef struct {
  const char *x;
  char *y;
  size_t es;
  int rank;               /* coalesced output rank */
  int64_t n[RT_MAX_RANK]; /* output dims */
  int64_t s[RT_MAX_RANK]; /* input element stride of each output dim */
  int64_t o[RT_MAX_RANK]; /* output element stride */
  int outer[RT_MAX_RANK], n_outer; /* dims walked by the unit index */
  int p;                  /* tiled case: output dim with input stride 1 */
  int64_t pblk;           /* tiled case: T_TILE blocks along dim p */
} tr_job;

/* Offsets of outer index m (dense over j->outer) in x and y. */
static void tr_offsets(const tr_job *j, int64_t m, int64_t *ix, int64_t *iy) {
  int64_t ox = 0, oy = 0;
  for (int q = j->n_outer - 1; q >= 0; q--) {
    int k = j->outer[q];
    int64_t i = m % j->n[k];
    m /= j->n[k];
    ox += i * j->s[k];
    oy += i * j->o[k];
  }
  *ix = ox;
  *iy = oy;
}

/* The innermost output dim is contiguous in the input too: row copies. */
static void tr_rows_task(void *v, int64_t m0, int64_t m1, int thread) {
  (void)thread;
  const tr_job *j = v;
  const int64_t L = j->n[j->rank - 1];
  for (int64_t m = m0; m < m1; m++) {
    int64_t ix, iy;
    tr_offsets(j, m, &ix, &iy);
    memcpy(j->y + iy * (int64_t)j->es, j->x + ix * (int64_t)j->es, (size_t)L * j->es);
  }
}

/* out[pp*dp + qq] = in[pp + qq*sq] over a tile: writes run along qq, and the
 * T_TILE input lines read stay in cache while pp advances along them. */
#define TR_TILE_LOOP(T)                                                        \
  do {                                                                         \
    T *d_ = (T *)dst;                                                          \
    const T *s_ = (const T *)src;                                              \
    for (int64_t pp = 0; pp < np; pp++)                                        \
      for (int64_t qq = 0; qq < nq; qq++) d_[pp * dp + qq] = s_[pp + qq * sq];  \
  } while (0)

static void tr_tile(void *dst, int64_t dp, const void *src, int64_t sq, int64_t np, int64_t nq,
                    size_t es) {
  switch (es) {
  case 2: TR_TILE_LOOP(uint16_t); break;
  case 4: TR_TILE_LOOP(uint32_t); break;
  case 8: TR_TILE_LOOP(uint64_t); break;
  default:
    for (int64_t pp = 0; pp < np; pp++)
      for (int64_t qq = 0; qq < nq; qq++)
        memcpy((char *)dst + (pp * dp + qq) * (int64_t)es,
               (const char *)src + (pp + qq * sq) * (int64_t)es, es);
  }
}

static void tr_tiled_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const tr_job *j = v;
  const int p = j->p, q = j->rank - 1;
  const int64_t es = (int64_t)j->es;
  for (int64_t u = u0; u < u1; u++) {
    int64_t m = u / j->pblk, p0 = (u % j->pblk) * T_TILE;
    int64_t np = j->n[p] - p0 < T_TILE ? j->n[p] - p0 : T_TILE;
    int64_t ix, iy;
    tr_offsets(j, m, &ix, &iy);
    ix += p0; /* s[p] == 1 */
    iy += p0 * j->o[p];
    for (int64_t q0 = 0; q0 < j->n[q]; q0 += T_TILE) {
      int64_t nq = j->n[q] - q0 < T_TILE ? j->n[q] - q0 : T_TILE;
      tr_tile(j->y + (iy + q0) * es, j->o[p], j->x + (ix + q0 * j->s[q]) * es, j->s[q], np, nq,
              j->es);
    }
  }
}

int rt_k_transpose(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1);
  const rt_view *x = &a->in[0], *y = &a->out[0];
  assert(x->dtype == y->dtype && a->n_ia == x->rank && y->rank == x->rank);
  int64_t total = rt_numel(x->rank, x->dims);
  if (total == 0) return 0;
  tr_job j;
  memset(&j, 0, sizeof j);
  j.x = x->data;
  j.y = y->data;
  j.es = rt_dtype_size(x->dtype);
  int64_t xs[RT_MAX_RANK];
  dense_strides(x->rank, x->dims, xs);
  /* Output dims in order, size-1 dims dropped, merged while the input walks
   * them in the same order (stride of the previous = stride * size). */
  int r = 0;
  for (int k = 0; k < x->rank; k++) {
    int64_t d = a->ia[k];
    assert(d >= 0 && d < x->rank && x->dims[d] == y->dims[k]);
    int64_t n = x->dims[d];
    if (n == 1) continue;
    if (r > 0 && j.s[r - 1] == xs[d] * n) {
      j.n[r - 1] *= n;
      j.s[r - 1] = xs[d];
    } else {
      j.n[r] = n;
      j.s[r] = xs[d];
      r++;
    }
  }
  if (r == 0 || (r == 1 && j.s[0] == 1)) { /* a plain copy */
    if (x->data != y->data) memcpy(j.y, j.x, (size_t)total * j.es);
    return 0;
  }
  j.rank = r;
  dense_strides(r, j.n, j.o);
  int64_t L = j.n[r - 1];
  if (j.s[r - 1] == 1) {
    for (int k = 0; k < r - 1; k++) j.outer[j.n_outer++] = k;
    rt_pool_run(ctx->pool, total / L, grain_bytes(L * (int64_t)j.es), tr_rows_task, &j);
    return 0;
  }
  j.p = -1;
  for (int k = 0; k < r - 1; k++)
    if (j.s[k] == 1) j.p = k;
  assert(j.p >= 0); /* the input's innermost dim is somewhere */
  for (int k = 0; k < r - 1; k++)
    if (k != j.p) j.outer[j.n_outer++] = k;
  j.pblk = (j.n[j.p] + T_TILE - 1) / T_TILE;
  int64_t M = total / (j.n[j.p] * L);
  rt_pool_run(ctx->pool, M * j.pblk, grain_bytes(T_TILE * L * (int64_t)j.es), tr_tiled_task, &j);
  return 0;
}

/* ---- Concat, Split ---------------------------------------------------------- */

/* Both move blocks between one big tensor and n parts along an axis: for each
 * outer index o, part k holds a block of blk[k] bytes at byte offset off[k]
 * of the big tensor's row of row_bytes. Blocks are cut into pieces of at most
 * LAY_GRAIN bytes so that one large part still spreads over the threads. */
typedef struct {
  char *big;
  int64_t row_bytes;
  const rt_view *parts;
  int n;
  int64_t ppo; /* pieces per outer index */
  int to_big;  /* Concat: parts -> big; Split: big -> parts */
  size_t es;
  int axis;
  int64_t inner; /* elements per unit along the axis (product of later dims) */
} cat_job;

static int64_t part_bytes(const cat_job *j, int k) {
  return j->parts[k].dims[j->axis] * j->inner * (int64_t)j->es;
}

static void cat_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const cat_job *j = v;
  for (int64_t u = u0; u < u1; u++) {
    int64_t o = u / j->ppo, r = u % j->ppo, off = 0;
    int k = 0;
    int64_t bytes = 0, pieces = 0;
    for (;; k++) { /* find the part and piece of unit u */
      assert(k < j->n);
      bytes = part_bytes(j, k);
      pieces = (bytes + LAY_GRAIN - 1) / LAY_GRAIN;
      if (r < pieces) break;
      r -= pieces;
      off += bytes;
    }
    int64_t b0 = r * LAY_GRAIN, b1 = b0 + LAY_GRAIN < bytes ? b0 + LAY_GRAIN : bytes;
    char *big = j->big + o * j->row_bytes + off + b0;
    char *part = (char *)j->parts[k].data + o * bytes + b0;
    if (j->to_big)
      memcpy(big, part, (size_t)(b1 - b0));
    else
      memcpy(part, big, (size_t)(b1 - b0));
  }
}

static void run_cat(const rt_kctx *ctx, const rt_view *big, const rt_view *parts, int n,
                    int axis, int to_big) {
  assert(axis >= 0 && axis < big->rank && n >= 1);
  cat_job j;
  j.big = big->data;
  j.parts = parts;
  j.n = n;
  j.to_big = to_big;
  j.es = rt_dtype_size(big->dtype);
  j.axis = axis;
  j.inner = rt_numel(big->rank - axis - 1, big->dims + axis + 1);
  j.row_bytes = big->dims[axis] * j.inner * (int64_t)j.es;
  int64_t outer = rt_numel(axis, big->dims), sum = 0;
  j.ppo = 0;
  for (int k = 0; k < n; k++) {
    assert(parts[k].dtype == big->dtype && parts[k].rank == big->rank);
    for (int d = 0; d < big->rank; d++) assert(d == axis || parts[k].dims[d] == big->dims[d]);
    sum += parts[k].dims[axis];
    j.ppo += (part_bytes(&j, k) + LAY_GRAIN - 1) / LAY_GRAIN;
  }
  assert(sum == big->dims[axis]);
  if (j.row_bytes == 0 || outer == 0) return;
  int64_t units = outer * j.ppo;
  rt_pool_run(ctx->pool, units, grain_bytes(j.row_bytes / j.ppo), cat_task, &j);
}

int rt_k_concat(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_out >= 1 && a->n_ia >= 1);
  run_cat(ctx, &a->out[0], a->in, a->n_in, (int)a->ia[0], 1);
  return 0;
}

int rt_k_split(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_ia >= 1);
  run_cat(ctx, &a->in[0], a->out, a->n_out, (int)a->ia[0], 0);
  return 0;
}

/* ---- Slice ------------------------------------------------------------------ */

typedef struct {
  const char *x;
  char *y;
  size_t es;
  int rank;
  int64_t odims[RT_MAX_RANK];
  int64_t base;               /* input element offset of output element 0 */
  int64_t step[RT_MAX_RANK];  /* input element stride per output index */
} slice_job;

static void slice_task(void *v, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  const slice_job *j = v;
  const int r = j->rank;
  const int64_t L = j->odims[r - 1], es = (int64_t)j->es;
  int64_t idx[RT_MAX_RANK], off = j->base, t = r0;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = t % j->odims[d];
    t /= j->odims[d];
    off += idx[d] * j->step[d];
  }
  for (int64_t row = r0; row < r1; row++) {
    copy_strided(j->y + row * L * es, j->x + off * es, L, j->step[r - 1], j->es);
    for (int d = r - 2; d >= 0; d--) {
      off += j->step[d];
      if (++idx[d] < j->odims[d]) break;
      off -= j->step[d] * j->odims[d];
      idx[d] = 0;
    }
  }
}

int rt_k_slice(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1);
  const rt_view *x = &a->in[0], *y = &a->out[0];
  const int r = x->rank;
  assert(x->dtype == y->dtype && y->rank == r && a->n_ia == 2 * r);
  size_t es = rt_dtype_size(x->dtype);
  int64_t total = rt_numel(r, y->dims);
  if (total == 0) return 0;
  if (r == 0) {
    memcpy(y->data, x->data, es);
    return 0;
  }
  slice_job j;
  j.x = x->data;
  j.y = y->data;
  j.es = es;
  j.rank = r;
  j.base = 0;
  int64_t xs[RT_MAX_RANK];
  dense_strides(r, x->dims, xs);
  for (int d = 0; d < r; d++) {
    int64_t start = a->ia[d], step = a->ia[r + d], n = y->dims[d];
    assert(step != 0 && start >= 0 && start < x->dims[d]);
    assert(start + (n - 1) * step >= 0 && start + (n - 1) * step < x->dims[d]);
    j.odims[d] = n;
    j.base += start * xs[d];
    j.step[d] = step * xs[d];
  }
  int64_t L = y->dims[r - 1];
  rt_pool_run(ctx->pool, total / L, grain_bytes(L * (int64_t)es), slice_task, &j);
  return 0;
}

/* ---- Pad (constant) --------------------------------------------------------- */

typedef struct {
  const char *x;
  char *y;
  size_t es;
  int rank;
  int64_t odims[RT_MAX_RANK], xs[RT_MAX_RANK];
  /* the copied box: output [t, t + c) per axis reads input [s, s + c) */
  int64_t t[RT_MAX_RANK], s[RT_MAX_RANK], c[RT_MAX_RANK];
  int empty; /* the box has no element: everything is the fill value */
  unsigned char val[8];
} pad_job;

static void pad_task(void *v, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  const pad_job *j = v;
  const int r = j->rank, q = r - 1;
  const int64_t L = j->odims[q], es = (int64_t)j->es;
  for (int64_t row = r0; row < r1; row++) {
    char *y = j->y + row * L * es;
    int inside = !j->empty;
    int64_t off = 0, t = row;
    for (int d = q - 1; d >= 0 && inside; d--) {
      int64_t i = t % j->odims[d];
      t /= j->odims[d];
      if (i < j->t[d] || i >= j->t[d] + j->c[d]) inside = 0;
      off += (i - j->t[d] + j->s[d]) * j->xs[d];
    }
    if (!inside) {
      fill(y, j->val, L, j->es);
      continue;
    }
    fill(y, j->val, j->t[q], j->es);
    memcpy(y + j->t[q] * es, j->x + (off + j->s[q]) * es, (size_t)(j->c[q] * es));
    fill(y + (j->t[q] + j->c[q]) * es, j->val, L - j->t[q] - j->c[q], j->es);
  }
}

/* The fill value in the element type. int64 truncates toward zero; NaN gives
 * 0 and out-of-range values saturate (a C cast would be undefined). */
static void pad_value(unsigned char *out, int dtype, float v) {
  switch (dtype) {
  case RT_F32: memcpy(out, &v, 4); break;
  case RT_F16: { uint16_t h = rt_f32_to_f16(v); memcpy(out, &h, 2); } break;
  case RT_BF16: { uint16_t h = rt_f32_to_bf16(v); memcpy(out, &h, 2); } break;
  case RT_I64: {
    int64_t i;
    if (v != v) i = 0;
    else if (v >= 9223372036854775807.0f) i = INT64_MAX;
    else if (v <= -9223372036854775808.0f) i = INT64_MIN;
    else i = (int64_t)v;
    memcpy(out, &i, 8);
  } break;
  default: assert(!"pad_value: unknown dtype");
  }
}

int rt_k_pad(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1 && a->n_fa >= 1);
  const rt_view *x = &a->in[0], *y = &a->out[0];
  const int r = x->rank;
  assert(x->dtype == y->dtype && y->rank == r && a->n_ia == 2 * r);
  size_t es = rt_dtype_size(x->dtype);
  int64_t total = rt_numel(r, y->dims);
  if (total == 0) return 0;
  if (r == 0) {
    memcpy(y->data, x->data, es);
    return 0;
  }
  pad_job j;
  memset(&j, 0, sizeof j);
  j.x = x->data;
  j.y = y->data;
  j.es = es;
  j.rank = r;
  dense_strides(r, x->dims, j.xs);
  pad_value(j.val, x->dtype, a->fa[0]);
  for (int d = 0; d < r; d++) {
    int64_t b = a->ia[d], e = a->ia[r + d];
    assert(y->dims[d] == x->dims[d] + b + e);
    j.odims[d] = y->dims[d];
    j.t[d] = b > 0 ? b : 0;
    j.s[d] = b < 0 ? -b : 0;
    int64_t cx = x->dims[d] - j.s[d], cy = y->dims[d] - j.t[d];
    j.c[d] = cx < cy ? cx : cy;
    if (j.c[d] <= 0) {
      j.c[d] = 0;
      j.empty = 1;
    }
  }
  if (j.empty) /* keep the row fill below from reading the box */
    for (int d = 0; d < r; d++) j.t[d] = j.c[d] = 0;
  int64_t L = y->dims[r - 1];
  rt_pool_run(ctx->pool, total / L, grain_bytes(L * (int64_t)es), pad_task, &j);
  return 0;
}

/* ---- Gather ----------------------------------------------------------------- */

typedef struct {
  const char *x;
  char *y;
  const int64_t *idx;
  int64_t nidx, A, blk; /* indices, axis size, bytes per gathered block */
} gather_job;

static void gather_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const gather_job *j = v;
  for (int64_t u = u0; u < u1; u++) {
    int64_t o = u / j->nidx, i = u % j->nidx, k = j->idx[i];
    if (k < 0) k += j->A;
    memcpy(j->y + u * j->blk, j->x + (o * j->A + k) * j->blk, (size_t)j->blk);
  }
}

int rt_k_gather(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 2 && a->n_out >= 1 && a->n_ia >= 1);
  const rt_view *x = &a->in[0], *ind = &a->in[1], *y = &a->out[0];
  const int axis = (int)a->ia[0];
  assert(x->dtype == y->dtype && ind->dtype == RT_I64);
  assert(axis >= 0 && axis < x->rank && y->rank == x->rank - 1 + ind->rank);
  gather_job j;
  j.x = x->data;
  j.y = y->data;
  j.idx = ind->data;
  j.nidx = rt_numel(ind->rank, ind->dims);
  j.A = x->dims[axis];
  j.blk = rt_numel(x->rank - axis - 1, x->dims + axis + 1) * (int64_t)rt_dtype_size(x->dtype);
  /* Indices are data: check them all before writing anything. */
  for (int64_t i = 0; i < j.nidx; i++)
    if (j.idx[i] < -j.A || j.idx[i] >= j.A)
      return rt_k_fail(ctx, "Gather: index %lld out of range for axis of size %lld",
                       (long long)j.idx[i], (long long)j.A);
  int64_t outer = rt_numel(axis, x->dims);
  if (outer == 0 || j.nidx == 0 || j.blk == 0) return 0;
  rt_pool_run(ctx->pool, outer * j.nidx, grain_bytes(j.blk), gather_task, &j);
  return 0;
}
