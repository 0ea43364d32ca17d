/*
 * conv.c: 2-D NCHW convolution (ONNX Conv) with groups, strides, dilations,
 * asymmetric pads and an optional bias.
 *
 * Three paths, picked from the shapes:
 *
 *   depthwise  one input channel per group (C/group == 1, e.g. group == C
 *              == M): a direct loop per output plane, each filter tap a
 *              unit-stride axpy over the valid part of an output row.
 *   1x1        1x1 kernel, stride 1, no padding: the input of a group is
 *              already the [C/g x H*W] matrix, so Y = W * X is one GEMM with
 *              no copy.
 *   im2col     everything else: the patches of a range of output positions
 *              are copied into a column matrix [C/g*kh*kw x cols] in scratch
 *              and multiplied by the filters [M/g x C/g*kh*kw] with rt_sgemm.
 *
 * Scratch bound of the im2col path. The output positions of each (image,
 * group) are cut into chunks of at most max(CV_COL_BUDGET / K, CV_MIN_COLS,
 * M/g) positions, K = C/g*kh*kw, so one column buffer (K x chunk floats) is
 * 1 MiB for most layers. It is larger only when K > 4096 (then 64 x K
 * floats) or when one group's filters exceed 1 MiB (then at most their size):
 * every GEMM call repacks the filters, so a chunk gets at least as many
 * columns as there are filter rows. Threads taking whole
 * chunks each own a buffer plus rt_sgemm's serial scratch. A VGG-19 3x3 conv
 * with 64 channels on 224 x 224 thus needs 1 MiB of columns per thread
 * instead of 115 MiB for its whole column matrix.
 *
 * Threads. With at least as many chunks as threads, each thread takes whole
 * chunks (its own column buffer and serial rt_sgemm scratch): the columns it
 * writes stay in its cache for the GEMM. With fewer chunks (a small late layer
 * at batch 1), chunks run one after the other with the copy and the GEMM
 * spread over the pool.
 */
#include <assert.h>
#include <string.h>

#include "kernels_internal.h"

#define CV_COL_BUDGET ((int64_t)1 << 18) /* floats in one column buffer: 1 MiB */
#define CV_MIN_COLS 64                    /* smallest chunk worth a GEMM call */
#define CV_SPLIT_MIN_COLS 32              /* smallest chunk when splitting for threads */

static inline int64_t cv_min(int64_t x, int64_t y) { return x < y ? x : y; }
static inline int64_t cv_max(int64_t x, int64_t y) { return x > y ? x : y; }
/* Ceiling of x / y for y > 0 and any sign of x. */
static inline int64_t cv_cdiv(int64_t x, int64_t y) { return x >= 0 ? (x + y - 1) / y : -(-x / y); }

enum { CV_DEPTHWISE, CV_1X1, CV_IM2COL };

typedef struct cv_shape {
  int64_t n, c, h, w;           /* input */
  int64_t m, oh, ow;            /* output */
  int64_t g, cg, mg;            /* groups, channels per group in and out */
  int64_t kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t kg;                   /* GEMM depth: cg * kh * kw */
  int64_t s;                    /* output positions per plane */
  int path;
  /* im2col: chunks of `cols` positions, nch per (image, group) */
  int64_t cols, nch;
  int per_thread;               /* threads take whole chunks */
  size_t col_bytes, gemm_bytes; /* one column buffer, one GEMM scratch */
} cv_shape;

static size_t cv_align(size_t b) { return (b + 63) & ~(size_t)63; }

static void cv_shape_of(const rt_kargs *a, const rt_pool *pool, cv_shape *s) {
  const rt_view *X = &a->in[0], *Wt = &a->in[1], *Y = &a->out[0];
  assert(a->n_in >= 2 && a->n_out == 1 && a->n_ia >= 11);
  assert(X->rank == 4 && Wt->rank == 4 && Y->rank == 4);
  const int64_t *ia = a->ia;
  s->n = X->dims[0], s->c = X->dims[1], s->h = X->dims[2], s->w = X->dims[3];
  s->m = Y->dims[1], s->oh = Y->dims[2], s->ow = Y->dims[3];
  s->g = ia[0], s->kh = ia[1], s->kw = ia[2], s->sh = ia[3], s->sw = ia[4];
  s->dh = ia[5], s->dw = ia[6], s->pt = ia[7], s->pl = ia[8];
  int64_t pb = ia[9], pr = ia[10];
  assert(s->g >= 1 && s->c % s->g == 0 && s->m % s->g == 0);
  s->cg = s->c / s->g, s->mg = s->m / s->g;
  assert(Y->dims[0] == s->n && Wt->dims[0] == s->m && Wt->dims[1] == s->cg);
  assert(Wt->dims[2] == s->kh && Wt->dims[3] == s->kw);
  assert(s->sh >= 1 && s->sw >= 1 && s->dh >= 1 && s->dw >= 1);
  assert(s->oh == (s->h + s->pt + pb - s->dh * (s->kh - 1) - 1) / s->sh + 1);
  assert(s->ow == (s->w + s->pl + pr - s->dw * (s->kw - 1) - 1) / s->sw + 1);
  if (a->n_in >= 3 && a->in[2].data) assert(rt_numel(a->in[2].rank, a->in[2].dims) == s->m);
  s->kg = s->cg * s->kh * s->kw;
  s->s = s->oh * s->ow;
  s->cols = s->nch = 0;
  s->per_thread = 0;
  s->col_bytes = s->gemm_bytes = 0;
  int64_t nt = rt_pool_size(pool);
  if (s->cg == 1) {
    s->path = CV_DEPTHWISE;
  } else if (s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 &&
             s->pl == 0 && pb == 0 && pr == 0) {
    s->path = CV_1X1;
    int64_t items = s->n * s->g;
    s->per_thread = nt > 1 && items >= nt && (items % nt == 0 || items >= 4 * nt);
    s->gemm_bytes = rt_sgemm_scratch(s->per_thread ? NULL : pool);
  } else {
    s->path = CV_IM2COL;
    int64_t cap = cv_max(cv_max(CV_COL_BUDGET / s->kg, CV_MIN_COLS), s->mg);
    int64_t nch = cv_max(1, cv_cdiv(s->s, cap)), imgs = s->n * s->g;
    /* Feed every thread, then even out the last round: chunks a multiple of
     * the threads while they are few. */
    if (imgs * nch < 4 * nt) {
      int64_t want = nch;
      while ((imgs * want) % nt != 0) want++;
      if (s->s / want >= CV_SPLIT_MIN_COLS) nch = want;
    }
    s->cols = cv_cdiv(s->s, nch);
    s->nch = s->cols ? cv_cdiv(s->s, s->cols) : 0;
    s->per_thread = nt > 1 && imgs * s->nch >= nt;
    s->col_bytes = cv_align((size_t)(s->kg * s->cols) * sizeof(float));
    s->gemm_bytes = rt_sgemm_scratch(s->per_thread ? NULL : pool);
  }
}

size_t rt_k_conv_scratch(const rt_kargs *a, const rt_pool *pool) {
  cv_shape s;
  cv_shape_of(a, pool, &s);
  switch (s.path) {
  case CV_DEPTHWISE: return 0;
  case CV_1X1: return s.per_thread ? (size_t)rt_pool_size(pool) * s.gemm_bytes : s.gemm_bytes;
  default:
    return s.per_thread ? (size_t)rt_pool_size(pool) * (s.col_bytes + s.gemm_bytes)
                        : s.col_bytes + s.gemm_bytes;
  }
}

typedef struct cv_job {
  const cv_shape *s;
  const float *x, *wt, *bias;
  float *y;
  char *scratch;
  int64_t img, chunk; /* im2col, shared mode: the chunk being copied */
  float *col;
} cv_job;

/* rows x cols of y (row stride ldy) get their channel's bias, so that the
 * GEMM can accumulate onto it (beta = 1). */
static void cv_fill_bias(float *y, int64_t ldy, int64_t rows, int64_t cols, const float *bias) {
  for (int64_t r = 0; r < rows; r++) {
    float v = bias ? bias[r] : 0.0f;
    for (int64_t j = 0; j < cols; j++) y[r * ldy + j] = v;
  }
}

/* ---- depthwise ------------------------------------------------------------ */

/* Valid output columns [lo, hi) of a filter column whose input column is
 * ow*sw + off: those with 0 <= ow*sw + off < w. */
static void cv_valid(int64_t off, int64_t sw, int64_t w, int64_t ow, int64_t *lo, int64_t *hi) {
  *lo = cv_min(cv_max(cv_cdiv(-off, sw), 0), ow);
  *hi = cv_max(cv_min(cv_cdiv(w - off, sw), ow), *lo);
}

static void cv_depthwise_fn(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const cv_job *j = arg;
  const cv_shape *s = j->s;
  for (int64_t plane = begin; plane < end; plane++) {
    int64_t img = plane / s->m, mo = plane % s->m, ci = mo / s->mg;
    const float *x = j->x + (img * s->c + ci) * s->h * s->w;
    const float *wt = j->wt + mo * s->kh * s->kw;
    float *y = j->y + plane * s->s;
    float b = j->bias ? j->bias[mo] : 0.0f;
    for (int64_t oh = 0; oh < s->oh; oh++) {
      float *yr = y + oh * s->ow;
      for (int64_t ow = 0; ow < s->ow; ow++) yr[ow] = b;
      for (int64_t ky = 0; ky < s->kh; ky++) {
        int64_t ih = oh * s->sh - s->pt + ky * s->dh;
        if (ih < 0 || ih >= s->h) continue;
        const float *xr = x + ih * s->w;
        for (int64_t kx = 0; kx < s->kw; kx++) {
          float wv = wt[ky * s->kw + kx];
          int64_t off = kx * s->dw - s->pl, lo, hi;
          cv_valid(off, s->sw, s->w, s->ow, &lo, &hi);
          if (s->sw == 1) {
            for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow + off];
          } else {
            for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow * s->sw + off];
          }
        }
      }
    }
  }
}

/* ---- 1x1 ------------------------------------------------------------------ */

/* Item = (image, group): Y[img, g] = W[g] * X[img, g], one GEMM. */
static void cv_1x1_item(const cv_job *j, rt_pool *pool, void *ws, int64_t item) {
  const cv_shape *s = j->s;
  int64_t img = item / s->g, g = item % s->g;
  const float *x = j->x + (img * s->c + g * s->cg) * s->s;
  float *y = j->y + (img * s->m + g * s->mg) * s->s;
  if (j->bias) cv_fill_bias(y, s->s, s->mg, s->s, j->bias + g * s->mg);
  rt_sgemm(pool, ws, 0, 0, s->mg, s->s, s->cg, 1.0f, j->wt + g * s->mg * s->cg, s->cg, x,
           s->s, j->bias ? 1.0f : 0.0f, y, s->s);
}

static void cv_1x1_fn(void *arg, int64_t begin, int64_t end, int thread) {
  const cv_job *j = arg;
  for (int64_t it = begin; it < end; it++)
    cv_1x1_item(j, NULL, j->scratch + (size_t)thread * j->s->gemm_bytes, it);
}

/* ---- im2col --------------------------------------------------------------- */

/* Rows [r0, r1) of the column matrix of image plane x (group channels) for
 * output positions [p0, p0+cols): row (c, ky, kx), column p holds
 * x[c, oh*sh - pt + ky*dh, ow*sw - pl + kx*dw] (zero outside the image). */
static void cv_im2col(const cv_shape *s, const float *x, float *col, int64_t p0,
                      int64_t cols, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; r++) {
    int64_t c = r / (s->kh * s->kw), ky = r / s->kw % s->kh, kx = r % s->kw;
    int64_t offh = ky * s->dh - s->pt, offw = kx * s->dw - s->pl, lo, hi;
    cv_valid(offw, s->sw, s->w, s->ow, &lo, &hi);
    const float *xc = x + c * s->h * s->w;
    float *d = col + r * cols;
    for (int64_t p = p0; p < p0 + cols;) {
      int64_t oh = p / s->ow, ow0 = p % s->ow, ow1 = cv_min(s->ow, ow0 + (p0 + cols - p));
      int64_t ih = oh * s->sh + offh;
      if (ih < 0 || ih >= s->h) {
        memset(d, 0, (size_t)(ow1 - ow0) * sizeof(float));
      } else {
        const float *xr = xc + ih * s->w;
        int64_t a = cv_min(cv_max(ow0, lo), ow1), b = cv_max(cv_min(ow1, hi), a);
        for (int64_t ow = ow0; ow < a; ow++) d[ow - ow0] = 0.0f;
        if (s->sw == 1)
          memcpy(d + (a - ow0), xr + a + offw, (size_t)(b - a) * sizeof(float));
        else
          for (int64_t ow = a; ow < b; ow++) d[ow - ow0] = xr[ow * s->sw + offw];
        for (int64_t ow = b; ow < ow1; ow++) d[ow - ow0] = 0.0f;
      }
      d += ow1 - ow0;
      p += ow1 - ow0;
    }
  }
}

/* Chunk `chunk` of image-group `img`: copy its columns, then one GEMM. */
static void cv_chunk(const cv_job *j, rt_pool *pool, float *col, void *ws, int64_t img,
                     int64_t chunk, int copy) {
  const cv_shape *s = j->s;
  int64_t n = img / s->g, g = img % s->g;
  int64_t p0 = chunk * s->cols, cols = cv_min(s->cols, s->s - p0);
  const float *x = j->x + (n * s->c + g * s->cg) * s->h * s->w;
  float *y = j->y + (n * s->m + g * s->mg) * s->s + p0;
  if (copy) cv_im2col(s, x, col, p0, cols, 0, s->kg);
  if (j->bias) cv_fill_bias(y, s->s, s->mg, cols, j->bias + g * s->mg);
  rt_sgemm(pool, ws, 0, 0, s->mg, cols, s->kg, 1.0f, j->wt + g * s->mg * s->kg, s->kg, col,
           cols, j->bias ? 1.0f : 0.0f, y, s->s);
}

static void cv_chunk_fn(void *arg, int64_t begin, int64_t end, int thread) {
  const cv_job *j = arg;
  char *mine = j->scratch + (size_t)thread * (j->s->col_bytes + j->s->gemm_bytes);
  for (int64_t it = begin; it < end; it++)
    cv_chunk(j, NULL, (float *)mine, mine + j->s->col_bytes, it / j->s->nch, it % j->s->nch, 1);
}

/* Shared mode: rows of one chunk's column matrix, spread over the pool. */
static void cv_im2col_fn(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const cv_job *j = arg;
  const cv_shape *s = j->s;
  int64_t n = j->img / s->g, g = j->img % s->g, p0 = j->chunk * s->cols;
  cv_im2col(s, j->x + (n * s->c + g * s->cg) * s->h * s->w, j->col, p0,
            cv_min(s->cols, s->s - p0), begin, end);
}

/* ---- entry ---------------------------------------------------------------- */

int rt_k_conv(const rt_kctx *ctx, const rt_kargs *a) {
  cv_shape s;
  cv_shape_of(a, ctx->pool, &s);
  cv_job j = {&s, a->in[0].data, a->in[1].data,
              a->n_in >= 3 ? a->in[2].data : NULL, a->out[0].data, ctx->scratch, 0, 0, NULL};
  if (s.n == 0 || s.m == 0 || s.s == 0) return 0;
  assert(ctx->scratch_bytes >= rt_k_conv_scratch(a, ctx->pool));
  switch (s.path) {
  case CV_DEPTHWISE: {
    int64_t flops = 2 * s.s * s.kh * s.kw;
    rt_pool_run(ctx->pool, s.n * s.m, cv_max(1, (1 << 17) / (flops + 1)), cv_depthwise_fn, &j);
    break;
  }
  case CV_1X1:
    if (s.per_thread) {
      rt_pool_run(ctx->pool, s.n * s.g, 1, cv_1x1_fn, &j);
    } else {
      for (int64_t it = 0; it < s.n * s.g; it++) cv_1x1_item(&j, ctx->pool, ctx->scratch, it);
    }
    break;
  default:
    if (s.per_thread) {
      rt_pool_run(ctx->pool, s.n * s.g * s.nch, 1, cv_chunk_fn, &j);
    } else {
      j.col = ctx->scratch;
      void *ws = (char *)ctx->scratch + s.col_bytes;
      for (int64_t img = 0; img < s.n * s.g; img++)
        for (int64_t ch = 0; ch < s.nch; ch++) {
          j.img = img, j.chunk = ch;
          rt_pool_run(ctx->pool, s.kg, cv_max(1, s.kg / (4 * rt_pool_size(ctx->pool))),
                      cv_im2col_fn, &j);
          cv_chunk(&j, ctx->pool, j.col, ws, img, ch, 0);
        }
    }
    break;
  }
  return 0;
}
