/*
 * pool.c: MaxPool and AveragePool (2-D, NCHW) and the global poolings.
 *
 * Window semantics (ONNX, as onnx.reference computes them). Output (oh, ow)
 * covers input rows ih = oh*sh - pad_t + kh*dh, kh in [0, KH) (columns
 * alike). Positions outside the input are skipped by MaxPool. AveragePool
 * sums the input positions and divides by
 *   count_include_pad = 0: the number of input positions in the window;
 *   count_include_pad = 1: the number of positions inside the padded input
 *                          [-pad_t, H + pad_b) x [-pad_l, W + pad_r), so a
 *                          ceil_mode window hanging past the end padding does
 *                          not count the part beyond it.
 * Both counts factor into a row count times a column count. A window with no
 * input position at all (only possible with pads as large as the window)
 * gives -inf for MaxPool and 0/0 = NaN for AveragePool without pad counting,
 * as an empty max / mean does in NumPy.
 *
 * Each (n, c) plane is one unit of work on the pool. Per output row the valid
 * kernel rows are found once; the interior of a row needs no bounds checks.
 * Pooling never runs in place (outputs do not overlap inputs).
 */
#include <assert.h>
#include <math.h>

#include "kernels_internal.h"

#define POOL_GRAIN 16384 /* multiply-adds (or compares) per pool chunk */

typedef struct {
  const float *x;
  float *y;
  int64_t H, W, OH, OW;
  int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  int is_max, include_pad;
} pool_job;

/* Kernel taps k in [*k0, *k1) whose position o*s - p + k*d lies in [0, n). */
static void tap_range(int64_t o, int64_t s, int64_t p, int64_t d, int64_t k, int64_t n,
                      int64_t *k0, int64_t *k1) {
  int64_t start = o * s - p; /* position of tap 0 */
  int64_t a = 0, b = k;
  if (start < 0) a = (-start + d - 1) / d;        /* first tap at >= 0 */
  if (start + (k - 1) * d >= n) b = (n - 1 - start) < 0 ? 0 : (n - 1 - start) / d + 1;
  if (b < a) b = a;
  *k0 = a;
  *k1 = b;
}

/* Taps inside the padded extent [-p, n + p_end): the ones before are never
 * produced (windows start at >= -p), so count those below n + p_end. */
static int64_t padded_taps(int64_t o, int64_t s, int64_t p, int64_t d, int64_t k, int64_t n,
                           int64_t p_end) {
  int64_t start = o * s - p, lim = n + p_end, c = 0;
  for (int64_t t = 0; t < k; t++) c += start + t * d < lim;
  return c;
}

/* One output element the slow way, any window position. */
static float pool_one(const pool_job *j, const float *x, int64_t oh, int64_t ow, int64_t a0,
                      int64_t a1, int64_t nh) {
  const int64_t W = j->W, ih0 = oh * j->sh - j->pt, iw0 = ow * j->sw - j->pl;
  int64_t b0, b1;
  tap_range(ow, j->sw, j->pl, j->dw, j->kw, W, &b0, &b1);
  if (j->is_max) {
    float m = -INFINITY;
    for (int64_t a = a0; a < a1; a++) {
      const float *row = x + (ih0 + a * j->dh) * W + iw0;
      for (int64_t b = b0; b < b1; b++) {
        float t = row[b * j->dw];
        m = (t > m || t != t) ? t : m; /* NaN wins, as in np.max */
      }
    }
    return m;
  }
  float s = 0;
  for (int64_t a = a0; a < a1; a++) {
    const float *row = x + (ih0 + a * j->dh) * W + iw0;
    for (int64_t b = b0; b < b1; b++) s += row[b * j->dw];
  }
  int64_t nw = j->include_pad ? padded_taps(ow, j->sw, j->pl, j->dw, j->kw, W, j->pr) : b1 - b0;
  return s / (float)(nh * nw);
}

/* Output columns [*lo, *hi) whose windows lie inside the input columns. */
static void interior(const pool_job *j, int64_t *lo, int64_t *hi) {
  int64_t span = (j->kw - 1) * j->dw;
  int64_t l = (j->pl + j->sw - 1) / j->sw;         /* ow*sw - pl >= 0 */
  int64_t last = j->W - 1 - span + j->pl;           /* ow*sw <= last */
  int64_t h = last < 0 ? 0 : last / j->sw + 1;
  if (h > j->OW) h = j->OW;
  if (l > h || j->H == 0) l = h; /* empty input: every column takes pool_one */
  *lo = l;
  *hi = h;
}

/* A plane. Interior columns of an output row are accumulated tap by tap over
 * the whole run of columns: y[ow] = max/+ x[row][ow*sw + off], a loop without
 * bounds checks the compiler vectorises; the edge columns take pool_one. Per
 * element, taps are visited in the same order (kernel row, then column) on
 * both paths. */
static void pool_task(void *v, int64_t p0, int64_t p1, int thread) {
  (void)thread;
  const pool_job *j = v;
  const int64_t H = j->H, W = j->W, OW = j->OW, sw = j->sw;
  int64_t lo, hi;
  interior(j, &lo, &hi);
  for (int64_t p = p0; p < p1; p++) {
    const float *x = j->x + p * H * W;
    float *y = j->y + p * j->OH * OW;
    for (int64_t oh = 0; oh < j->OH; oh++) {
      int64_t a0, a1;
      tap_range(oh, j->sh, j->pt, j->dh, j->kh, H, &a0, &a1);
      const int64_t nh = j->include_pad ? padded_taps(oh, j->sh, j->pt, j->dh, j->kh, H, j->pb)
                                        : a1 - a0;
      float *yr = y + oh * OW;
      for (int64_t ow = 0; ow < lo; ow++) yr[ow] = pool_one(j, x, oh, ow, a0, a1, nh);
      for (int64_t ow = hi; ow < OW; ow++) yr[ow] = pool_one(j, x, oh, ow, a0, a1, nh);
      if (lo >= hi) continue;
      float *yi = yr + lo;
      const int64_t n = hi - lo, ih0 = oh * j->sh - j->pt;
      const float init = j->is_max ? -INFINITY : 0.0f;
      for (int64_t i = 0; i < n; i++) yi[i] = init;
      for (int64_t a = a0; a < a1; a++) {
        for (int64_t b = 0; b < j->kw; b++) {
          /* input of column lo + i, tap b: row[(lo + i) * sw - pl + b * dw] */
          const float *in = x + (ih0 + a * j->dh) * W + lo * sw - j->pl + b * j->dw;
          if (j->is_max) {
            if (sw == 1)
              for (int64_t i = 0; i < n; i++) yi[i] = (in[i] > yi[i] || in[i] != in[i]) ? in[i] : yi[i];
            else
              for (int64_t i = 0; i < n; i++) {
                float t = in[i * sw];
                yi[i] = (t > yi[i] || t != t) ? t : yi[i];
              }
          } else {
            if (sw == 1)
              for (int64_t i = 0; i < n; i++) yi[i] += in[i];
            else
              for (int64_t i = 0; i < n; i++) yi[i] += in[i * sw];
          }
        }
      }
      if (!j->is_max) { /* interior columns hold kw real taps either way */
        const float d = (float)(nh * j->kw);
        for (int64_t i = 0; i < n; i++) yi[i] /= d;
      }
    }
  }
}

int rt_k_pool(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1 && a->n_ia >= 11);
  const rt_view *x = &a->in[0], *y = &a->out[0];
  assert(x->rank == 4 && y->rank == 4 && x->dtype == RT_F32 && y->dtype == RT_F32);
  assert(y->dims[0] == x->dims[0] && y->dims[1] == x->dims[1]);
  const int64_t *ia = a->ia;
  pool_job j = {
      .x = x->data, .y = y->data,
      .H = x->dims[2], .W = x->dims[3], .OH = y->dims[2], .OW = y->dims[3],
      .kh = ia[0], .kw = ia[1], .sh = ia[2], .sw = ia[3], .dh = ia[4], .dw = ia[5],
      .pt = ia[6], .pl = ia[7], .pb = ia[8], .pr = ia[9],
      .is_max = a->op == RT_OP_MAX_POOL,
      .include_pad = a->op == RT_OP_AVERAGE_POOL && ia[10] != 0,
  };
  assert(j.kh >= 1 && j.kw >= 1 && j.sh >= 1 && j.sw >= 1 && j.dh >= 1 && j.dw >= 1);
  assert(j.pt >= 0 && j.pl >= 0 && j.pb >= 0 && j.pr >= 0);
  int64_t planes = x->dims[0] * x->dims[1];
  int64_t per = j.OH * j.OW * j.kh * j.kw + 1;
  int64_t grain = POOL_GRAIN / per;
  rt_pool_run(ctx->pool, planes, grain < 1 ? 1 : grain, pool_task, &j);
  return 0;
}

/* ---- GlobalAveragePool, GlobalMaxPool ---------------------------------------- */

typedef struct {
  const float *x;
  float *y;
  int64_t S;
  int is_max;
} gpool_job;

#define GP_BLOCK 4096

static void gpool_task(void *v, int64_t p0, int64_t p1, int thread) {
  (void)thread;
  const gpool_job *j = v;
  const int64_t S = j->S;
  for (int64_t p = p0; p < p1; p++) {
    const float *x = j->x + p * S;
    float acc[8];
    if (j->is_max) {
      for (int k = 0; k < 8; k++) acc[k] = -INFINITY;
      int64_t i = 0;
      for (; i + 8 <= S; i += 8)
        for (int k = 0; k < 8; k++) acc[k] = (x[i + k] > acc[k] || x[i + k] != x[i + k]) ? x[i + k] : acc[k];
      float m = -INFINITY;
      for (; i < S; i++) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
      for (int k = 0; k < 8; k++) m = (acc[k] > m || acc[k] != acc[k]) ? acc[k] : m;
      j->y[p] = m;
    } else { /* eight float lanes per block, blocks added in double */
      double total = 0;
      for (int64_t b = 0; b < S; b += GP_BLOCK) {
        int64_t n = S - b < GP_BLOCK ? S - b : GP_BLOCK, i = 0;
        for (int k = 0; k < 8; k++) acc[k] = 0;
        for (; i + 8 <= n; i += 8)
          for (int k = 0; k < 8; k++) acc[k] += x[b + i + k];
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; i < n; i++) s += x[b + i];
        total += s;
      }
      j->y[p] = (float)(total / (double)S);
    }
  }
}

int rt_k_global_pool(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1);
  const rt_view *x = &a->in[0];
  assert(x->rank >= 2 && x->dtype == RT_F32);
  gpool_job j = {x->data, a->out[0].data, rt_numel(x->rank - 2, x->dims + 2),
                 a->op == RT_OP_GLOBAL_MAX_POOL};
  assert(rt_numel(a->out[0].rank, a->out[0].dims) == x->dims[0] * x->dims[1]);
  int64_t grain = POOL_GRAIN / (j.S + 1);
  rt_pool_run(ctx->pool, x->dims[0] * x->dims[1], grain < 1 ? 1 : grain, gpool_task, &j);
  return 0;
}
