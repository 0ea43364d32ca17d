/*
 * normalize.c: BatchNormalization (inference form), LayerNormalization,
 * Softmax / LogSoftmax and LRN.
 *
 * All of them work on independent rows or planes, which are spread over the
 * thread pool. Sums use eight float accumulators per block (vectorisable and
 * more accurate than one running sum) and add the blocks in double, so long
 * rows keep float accuracy. Softmax subtracts the row maximum before exp.
 *
 * BatchNormalization, LayerNormalization and Softmax also work in place (each
 * output element is written after the last read of its input position); LRN
 * reads neighbouring channels and needs distinct memory.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#define NORM_GRAIN 16384 /* elements per pool chunk */
#define SUM_BLOCK 4096

static int64_t grain_for(int64_t unit_elems) {
  if (unit_elems < 1) unit_elems = 1;
  int64_t g = NORM_GRAIN / unit_elems;
  return g < 1 ? 1 : g;
}

/* sum of x[i] */
static double sum_f(const float *x, int64_t n) {
  double total = 0;
  for (int64_t b = 0; b < n; b += SUM_BLOCK) {
    int64_t m = n - b < SUM_BLOCK ? n - b : SUM_BLOCK, i = 0;
    const float *p = x + b;
    float acc[8] = {0};
    for (; i + 8 <= m; i += 8)
      for (int k = 0; k < 8; k++) acc[k] += p[i + k];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < m; i++) s += p[i];
    total += s;
  }
  return total;
}

/* sum of (x[i] - mean)^2 */
static double sum_sq_dev(const float *x, int64_t n, float mean) {
  double total = 0;
  for (int64_t b = 0; b < n; b += SUM_BLOCK) {
    int64_t m = n - b < SUM_BLOCK ? n - b : SUM_BLOCK, i = 0;
    const float *p = x + b;
    float acc[8] = {0};
    for (; i + 8 <= m; i += 8)
      for (int k = 0; k < 8; k++) {
        float d = p[i + k] - mean;
        acc[k] += d * d;
      }
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < m; i++) s += (p[i] - mean) * (p[i] - mean);
    total += s;
  }
  return total;
}

/* ---- BatchNormalization --------------------------------------------------- */

typedef struct {
  const float *x, *scale, *bias, *mean, *var;
  float *y;
  int64_t C, S; /* channels, elements per (n, c) plane */
  float eps;
} bn_job;

static void bn_task(void *v, int64_t p0, int64_t p1, int thread) {
  (void)thread;
  const bn_job *j = v;
  for (int64_t p = p0; p < p1; p++) {
    int64_t c = p % j->C;
    /* (x - mean) * (scale / sqrt(var + eps)) + bias: subtracting the mean
     * first avoids cancelling two large products when |mean| >> std. */
    const float a = j->scale[c] / sqrtf(j->var[c] + j->eps), m = j->mean[c], b = j->bias[c];
    const float *x = j->x + p * j->S;
    float *y = j->y + p * j->S;
    for (int64_t i = 0; i < j->S; i++) y[i] = (x[i] - m) * a + b;
  }
}

int rt_k_batch_norm(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 5 && a->n_out >= 1 && a->n_fa >= 1);
  const rt_view *x = &a->in[0];
  assert(x->rank >= 2 && x->dtype == RT_F32);
  for (int k = 1; k < 5; k++) assert(rt_numel(a->in[k].rank, a->in[k].dims) == x->dims[1]);
  bn_job j = {x->data, a->in[1].data, a->in[2].data, a->in[3].data, a->in[4].data,
              a->out[0].data, x->dims[1], rt_numel(x->rank - 2, x->dims + 2), a->fa[0]};
  int64_t planes = x->dims[0] * x->dims[1];
  rt_pool_run(ctx->pool, planes, grain_for(j.S), bn_task, &j);
  return 0;
}

/* ---- LayerNormalization --------------------------------------------------- */

typedef struct {
  const float *x, *scale, *bias; /* bias may be NULL */
  float *y, *mean, *inv;         /* mean, inv may be NULL */
  int64_t D;                     /* elements per row (the normalized axes) */
  float eps;
  /* Scale / B broadcast to X: fast when they depend only on the position in
   * the row, densely; otherwise per-element offsets from strides. */
  int fast_s, fast_b;
  int rank, axis;
  int64_t dims[RT_MAX_RANK], st_s[RT_MAX_RANK], st_b[RT_MAX_RANK];
} ln_job;

/* Element strides of `p` broadcast to x's shape (0 where it repeats). */
static void bcast_strides(const rt_view *x, const rt_view *p, int64_t *st) {
  int off = x->rank - p->rank;
  assert(off >= 0);
  int64_t s = 1;
  for (int d = x->rank - 1; d >= 0; d--) {
    int k = d - off;
    if (k < 0 || p->dims[k] == 1) {
      st[d] = 0;
    } else {
      assert(p->dims[k] == x->dims[d]);
      st[d] = s;
      s *= p->dims[k];
    }
  }
}

/* Whether a parameter with broadcast strides st indexes as p[j], j the dense
 * position within the normalized tail. */
static int tail_dense(const rt_view *x, int axis, const int64_t *st) {
  int64_t s = 1;
  for (int d = x->rank - 1; d >= 0; d--) {
    if (x->dims[d] == 1) continue;
    if (d < axis ? st[d] != 0 : st[d] != s) return 0;
    if (d >= axis) s *= x->dims[d];
  }
  return 1;
}

/* Offset into a broadcast parameter of element (row, j). */
static int64_t ln_off(const ln_job *j, const int64_t *st, int64_t row, int64_t col) {
  int64_t off = 0;
  for (int d = j->rank - 1; d >= j->axis; d--) {
    off += (col % j->dims[d]) * st[d];
    col /= j->dims[d];
  }
  for (int d = j->axis - 1; d >= 0; d--) {
    off += (row % j->dims[d]) * st[d];
    row /= j->dims[d];
  }
  return off;
}

static void ln_task(void *v, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  const ln_job *j = v;
  const int64_t D = j->D;
  for (int64_t r = r0; r < r1; r++) {
    const float *x = j->x + r * D;
    float *y = j->y + r * D;
    const float mean = (float)(sum_f(x, D) / (double)D);
    const float var = (float)(sum_sq_dev(x, D, mean) / (double)D);
    const float inv = 1.0f / sqrtf(var + j->eps);
    if (j->mean) j->mean[r] = mean;
    if (j->inv) j->inv[r] = inv;
    if (j->fast_s && j->fast_b) {
      const float *s = j->scale, *b = j->bias;
      if (b)
        for (int64_t i = 0; i < D; i++) y[i] = (x[i] - mean) * inv * s[i] + b[i];
      else
        for (int64_t i = 0; i < D; i++) y[i] = (x[i] - mean) * inv * s[i];
    } else {
      for (int64_t i = 0; i < D; i++) {
        float s = j->scale[j->fast_s ? i : ln_off(j, j->st_s, r, i)];
        float b = j->bias ? j->bias[j->fast_b ? i : ln_off(j, j->st_b, r, i)] : 0.0f;
        y[i] = (x[i] - mean) * inv * s + b;
      }
    }
  }
}

int rt_k_layer_norm(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 2 && a->n_out >= 1 && a->n_ia >= 1 && a->n_fa >= 1);
  const rt_view *x = &a->in[0], *s = &a->in[1];
  const rt_view *b = a->n_in >= 3 && a->in[2].data ? &a->in[2] : NULL;
  const int axis = (int)a->ia[0];
  assert(x->dtype == RT_F32 && axis >= 0 && axis < x->rank);
  ln_job j;
  memset(&j, 0, sizeof j);
  j.x = x->data;
  j.scale = s->data;
  j.bias = b ? b->data : NULL;
  j.y = a->out[0].data;
  j.mean = a->n_out >= 2 ? a->out[1].data : NULL;
  j.inv = a->n_out >= 3 ? a->out[2].data : NULL;
  j.eps = a->fa[0];
  j.rank = x->rank;
  j.axis = axis;
  memcpy(j.dims, x->dims, sizeof j.dims);
  j.D = rt_numel(x->rank - axis, x->dims + axis);
  int64_t rows = rt_numel(axis, x->dims);
  bcast_strides(x, s, j.st_s);
  j.fast_s = tail_dense(x, axis, j.st_s);
  j.fast_b = 1;
  if (b) {
    bcast_strides(x, b, j.st_b);
    j.fast_b = tail_dense(x, axis, j.st_b);
  }
  rt_pool_run(ctx->pool, rows, grain_for(j.D), ln_task, &j);
  return 0;
}

/* ---- Softmax, LogSoftmax --------------------------------------------------- */

#define SM_COLS 64 /* columns handled together when the axis is not the last */

typedef struct {
  const float *x;
  float *y;
  int64_t A, inner, nblk; /* axis length, elements after the axis, column blocks */
  int log;
} sm_job;

/* The axis is the last one: rows of A contiguous elements. */
static void sm_rows_task(void *v, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  const sm_job *j = v;
  const int64_t A = j->A;
  for (int64_t r = r0; r < r1; r++) {
    const float *x = j->x + r * A;
    float *y = j->y + r * A;
    float mx = -INFINITY;
    for (int64_t i = 0; i < A; i++) mx = x[i] > mx ? x[i] : mx;
    if (j->log) {
      for (int64_t i = 0; i < A; i++) y[i] = x[i] - mx;
      double s = 0;
      for (int64_t i = 0; i < A; i++) s += expf(y[i]);
      const float ls = (float)log(s);
      for (int64_t i = 0; i < A; i++) y[i] -= ls;
    } else {
      for (int64_t i = 0; i < A; i++) y[i] = expf(x[i] - mx);
      const float inv = (float)(1.0 / sum_f(y, A));
      for (int64_t i = 0; i < A; i++) y[i] *= inv;
    }
  }
}

/* The axis has `inner` elements after it: each unit is one outer index and a
 * block of up to SM_COLS columns, walked row by row along the axis. */
static void sm_cols_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const sm_job *j = v;
  const int64_t A = j->A, inner = j->inner;
  float mx[SM_COLS], s[SM_COLS];
  for (int64_t u = u0; u < u1; u++) {
    int64_t o = u / j->nblk, c0 = (u % j->nblk) * SM_COLS;
    int64_t nc = inner - c0 < SM_COLS ? inner - c0 : SM_COLS;
    const float *x = j->x + o * A * inner + c0;
    float *y = j->y + o * A * inner + c0;
    for (int64_t c = 0; c < nc; c++) {
      mx[c] = -INFINITY;
      s[c] = 0;
    }
    for (int64_t a = 0; a < A; a++)
      for (int64_t c = 0; c < nc; c++) {
        float t = x[a * inner + c];
        mx[c] = t > mx[c] ? t : mx[c];
      }
    if (j->log) {
      for (int64_t a = 0; a < A; a++)
        for (int64_t c = 0; c < nc; c++) {
          float t = x[a * inner + c] - mx[c];
          y[a * inner + c] = t;
          s[c] += expf(t);
        }
      for (int64_t c = 0; c < nc; c++) s[c] = logf(s[c]);
      for (int64_t a = 0; a < A; a++)
        for (int64_t c = 0; c < nc; c++) y[a * inner + c] -= s[c];
    } else {
      for (int64_t a = 0; a < A; a++)
        for (int64_t c = 0; c < nc; c++) {
          float t = expf(x[a * inner + c] - mx[c]);
          y[a * inner + c] = t;
          s[c] += t;
        }
      for (int64_t c = 0; c < nc; c++) s[c] = 1.0f / s[c];
      for (int64_t a = 0; a < A; a++)
        for (int64_t c = 0; c < nc; c++) y[a * inner + c] *= s[c];
    }
  }
}

int rt_k_softmax(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1 && a->n_ia >= 1);
  const rt_view *x = &a->in[0];
  assert(x->dtype == RT_F32);
  int axis = (int)a->ia[0];
  if (x->rank == 0) { /* softmax of one element: 1 (log: 0), NaN stays NaN */
    float t = *(const float *)x->data;
    *(float *)a->out[0].data = a->op == RT_OP_LOG_SOFTMAX ? t - t : (t - t) + 1.0f;
    return 0;
  }
  assert(axis >= 0 && axis < x->rank);
  sm_job j;
  j.x = x->data;
  j.y = a->out[0].data;
  j.A = x->dims[axis];
  j.inner = rt_numel(x->rank - axis - 1, x->dims + axis + 1);
  j.log = a->op == RT_OP_LOG_SOFTMAX;
  int64_t outer = rt_numel(axis, x->dims);
  if (j.inner == 1) {
    j.nblk = 1;
    rt_pool_run(ctx->pool, outer, grain_for(j.A * 4), sm_rows_task, &j);
  } else {
    j.nblk = (j.inner + SM_COLS - 1) / SM_COLS;
    int64_t cols = j.inner < SM_COLS ? j.inner : SM_COLS;
    rt_pool_run(ctx->pool, outer * j.nblk, grain_for(j.A * cols * 4), sm_cols_task, &j);
  }
  return 0;
}

/* ---- LRN ------------------------------------------------------------------ */

#define LRN_TILE 256 /* spatial positions per unit */

typedef struct {
  const float *x;
  float *y;
  int64_t C, S, ntile;
  int64_t lo, hi; /* window: channels c - lo .. c + hi */
  float k, bias, beta; /* k = alpha / size */
} lrn_job;

static void lrn_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const lrn_job *j = v;
  const int64_t C = j->C, S = j->S;
  float acc[LRN_TILE];
  for (int64_t u = u0; u < u1; u++) {
    int64_t plane = u / j->ntile, s0 = (u % j->ntile) * LRN_TILE;
    int64_t n = plane / C, c = plane % C;
    int64_t m = S - s0 < LRN_TILE ? S - s0 : LRN_TILE;
    int64_t c_lo = c - j->lo < 0 ? 0 : c - j->lo, c_hi = c + j->hi > C - 1 ? C - 1 : c + j->hi;
    for (int64_t t = 0; t < m; t++) acc[t] = 0;
    for (int64_t i = c_lo; i <= c_hi; i++) {
      const float *p = j->x + (n * C + i) * S + s0;
      for (int64_t t = 0; t < m; t++) acc[t] += p[t] * p[t];
    }
    const float *x = j->x + plane * S + s0;
    float *y = j->y + plane * S + s0;
    const float k = j->k, bias = j->bias;
    if (j->beta == 0.75f) { /* u^0.75 = sqrt(u) * sqrt(sqrt(u)): vectorises */
      for (int64_t t = 0; t < m; t++) {
        float q = bias + k * acc[t], r = sqrtf(q);
        y[t] = x[t] / (r * sqrtf(r));
      }
    } else if (j->beta == 0.5f) {
      for (int64_t t = 0; t < m; t++) y[t] = x[t] / sqrtf(bias + k * acc[t]);
    } else if (j->beta == 1.0f) {
      for (int64_t t = 0; t < m; t++) y[t] = x[t] / (bias + k * acc[t]);
    } else {
      for (int64_t t = 0; t < m; t++) y[t] = x[t] / powf(bias + k * acc[t], j->beta);
    }
  }
}

int rt_k_lrn(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1 && a->n_ia >= 1 && a->n_fa >= 3);
  const rt_view *x = &a->in[0];
  assert(x->dtype == RT_F32 && x->rank >= 2);
  assert(a->out[0].data != x->data);
  int64_t size = a->ia[0];
  assert(size >= 1);
  lrn_job j;
  j.x = x->data;
  j.y = a->out[0].data;
  j.C = x->dims[1];
  j.S = rt_numel(x->rank - 2, x->dims + 2);
  j.ntile = (j.S + LRN_TILE - 1) / LRN_TILE;
  j.lo = (size - 1) / 2;       /* floor((size - 1) / 2) */
  j.hi = size / 2;             /* ceil((size - 1) / 2) */
  j.k = a->fa[0] / (float)size;
  j.beta = a->fa[1];
  j.bias = a->fa[2];
  int64_t units = x->dims[0] * j.C * j.ntile;
  int64_t per = (j.S < LRN_TILE ? j.S : LRN_TILE) * (size + 4);
  rt_pool_run(ctx->pool, units, grain_for(per), lrn_task, &j);
  return 0;
}
