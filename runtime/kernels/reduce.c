/*
 * reduce.c: ReduceMean, ReduceSum, ReduceMax over a set of axes.
 *
 * The input shape is first coalesced into alternating groups of kept and
 * reduced dims (size-1 dims dropped, neighbours with the same role merged).
 * The two shapes that models use get dedicated loops:
 *   [K, R]      reduce a contiguous tail: one row sum / max per output;
 *   [K0, R, K1] reduce a middle (or leading) axis: output rows of K1 are
 *               accumulated row by row, which vectorises along K1.
 * Anything else (several separated reduced groups) walks each output's
 * reduced elements with an odometer. keepdims only changes the output view's
 * shape, not its dense element order, so it plays no part here.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

#define RED_GRAIN 16384 /* input elements per pool chunk */
#define RED_BLOCK 4096  /* elements summed in float before adding in double */
#define RED_COLS 2048   /* output columns per unit in the [K0, R, K1] case */

enum { R_SUM, R_MEAN, R_MAX };

static int64_t grain_for(int64_t unit_elems) {
  if (unit_elems < 1) unit_elems = 1;
  int64_t g = RED_GRAIN / unit_elems;
  return g < 1 ? 1 : g;
}

/* Eight float lanes per block (vectorisable, pairwise-like error), blocks in
 * double. */
static double row_sum(const float *x, int64_t n, int64_t stride) {
  double total = 0;
  if (stride != 1) {
    for (int64_t i = 0; i < n; i++) total += x[i * stride];
    return total;
  }
  for (int64_t b = 0; b < n; b += RED_BLOCK) {
    int64_t m = n - b < RED_BLOCK ? n - b : RED_BLOCK, i = 0;
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

/* max that lets a NaN through, as np.max does */
static inline float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

static float row_max(const float *x, int64_t n, int64_t stride) {
  float m = -INFINITY;
  if (stride != 1) {
    for (int64_t i = 0; i < n; i++) m = max_nan(m, x[i * stride]);
    return m;
  }
  float acc[8];
  for (int k = 0; k < 8; k++) acc[k] = -INFINITY;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) acc[k] = max_nan(acc[k], x[i + k]);
  for (int k = 0; k < 8; k++) m = max_nan(m, acc[k]);
  for (; i < n; i++) m = max_nan(m, x[i]);
  return m;
}

/* The input as groups g[0..m): size n, role red (1 reduced, 0 kept), and the
 * element stride of the group's last dim. */
typedef struct {
  int m;
  int64_t n[RT_MAX_RANK], st[RT_MAX_RANK];
  int red[RT_MAX_RANK];
} groups;

static void make_groups(groups *g, const rt_view *x, const int *red) {
  int64_t st[RT_MAX_RANK], s = 1;
  for (int d = x->rank - 1; d >= 0; d--) {
    st[d] = s;
    s *= x->dims[d];
  }
  g->m = 0;
  for (int d = 0; d < x->rank; d++) {
    if (x->dims[d] == 1) continue;
    int k = g->m;
    if (k > 0 && g->red[k - 1] == red[d]) {
      g->n[k - 1] *= x->dims[d];
      g->st[k - 1] = st[d];
    } else {
      g->n[k] = x->dims[d];
      g->st[k] = st[d];
      g->red[k] = red[d];
      g->m++;
    }
  }
}

typedef struct {
  const float *x;
  float *y;
  int kind;
  groups g;
  int64_t R;            /* reduced elements per output */
  int64_t K1, nblk;     /* middle case: row length after the axis, blocks */
} red_job;

static float finish(int kind, double sum_or_max, int64_t R) {
  return kind == R_MEAN ? (float)(sum_or_max / (double)R) : (float)sum_or_max;
}

/* [K, R]: output k reduces the contiguous row x[k*R .. k*R+R). */
static void tail_task(void *v, int64_t k0, int64_t k1, int thread) {
  (void)thread;
  const red_job *j = v;
  for (int64_t k = k0; k < k1; k++) {
    const float *x = j->x + k * j->R;
    j->y[k] = j->kind == R_MAX ? row_max(x, j->R, 1) : finish(j->kind, row_sum(x, j->R, 1), j->R);
  }
}

/* [K0, R, K1]: a unit is (k0, block of K1 columns); y[k0, c] folds x[k0, r, c]
 * over r, row by row. */
static void mid_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const red_job *j = v;
  const int64_t R = j->R, K1 = j->K1;
  for (int64_t u = u0; u < u1; u++) {
    int64_t k0 = u / j->nblk, c0 = (u % j->nblk) * RED_COLS;
    int64_t n = K1 - c0 < RED_COLS ? K1 - c0 : RED_COLS;
    const float *x = j->x + k0 * R * K1 + c0;
    float *y = j->y + k0 * K1 + c0;
    memcpy(y, x, (size_t)n * sizeof(float));
    if (j->kind == R_MAX) {
      for (int64_t r = 1; r < R; r++)
        for (int64_t c = 0; c < n; c++) y[c] = max_nan(y[c], x[r * K1 + c]);
    } else {
      for (int64_t r = 1; r < R; r++)
        for (int64_t c = 0; c < n; c++) y[c] += x[r * K1 + c];
      if (j->kind == R_MEAN) {
        const float d = (float)R;
        for (int64_t c = 0; c < n; c++) y[c] /= d;
      }
    }
  }
}

/* Any shape: output o is the dense index over the kept groups; its reduced
 * elements are walked with an odometer over the reduced groups, the last of
 * which is summed as a (possibly strided) row. */
static void gen_task(void *v, int64_t o0, int64_t o1, int thread) {
  (void)thread;
  const red_job *j = v;
  const groups *g = &j->g;
  int rg[RT_MAX_RANK], nr = 0; /* reduced group numbers */
  for (int k = 0; k < g->m; k++)
    if (g->red[k]) rg[nr++] = k;
  assert(nr >= 1);
  const int last = rg[nr - 1];
  for (int64_t o = o0; o < o1; o++) {
    int64_t base = 0, t = o;
    for (int k = g->m - 1; k >= 0; k--) {
      if (g->red[k]) continue;
      base += (t % g->n[k]) * g->st[k];
      t /= g->n[k];
    }
    int64_t idx[RT_MAX_RANK] = {0}, off = base;
    double acc = j->kind == R_MAX ? -INFINITY : 0.0;
    for (;;) {
      const float *row = j->x + off;
      if (j->kind == R_MAX) {
        float m = row_max(row, g->n[last], g->st[last]);
        acc = (m > acc || m != m) ? m : acc;
      } else {
        acc += row_sum(row, g->n[last], g->st[last]);
      }
      int q = nr - 2;
      for (; q >= 0; q--) {
        int k = rg[q];
        off += g->st[k];
        if (++idx[q] < g->n[k]) break;
        off -= g->st[k] * g->n[k];
        idx[q] = 0;
      }
      if (q < 0) break;
    }
    j->y[o] = finish(j->kind, acc, j->R);
  }
}

int rt_k_reduce(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1 && a->n_ia >= 2);
  const rt_view *x = &a->in[0], *y = &a->out[0];
  assert(x->dtype == RT_F32 && y->dtype == RT_F32);
  int red[RT_MAX_RANK] = {0};
  for (int i = 1; i < a->n_ia; i++) {
    assert(a->ia[i] >= 0 && a->ia[i] < x->rank);
    red[a->ia[i]] = 1;
  }
  red_job j;
  memset(&j, 0, sizeof j);
  j.x = x->data;
  j.y = y->data;
  j.kind = a->op == RT_OP_REDUCE_MAX ? R_MAX : a->op == RT_OP_REDUCE_MEAN ? R_MEAN : R_SUM;
  make_groups(&j.g, x, red);
  const groups *g = &j.g;
  int64_t n_out = rt_numel(y->rank, y->dims), n_in = rt_numel(x->rank, x->dims);
  if (n_in == 0 || n_out == 0) return 0;
  j.R = n_in / n_out;
  int n_red = 0;
  for (int k = 0; k < g->m; k++) n_red += g->red[k];
  if (n_red == 0) { /* only size-1 axes reduced: the values pass through */
    assert(n_in == n_out);
    if (y->data != x->data) memmove(y->data, x->data, (size_t)n_in * sizeof(float));
    return 0;
  }
  if (g->red[g->m - 1] && n_red == 1) { /* [R] or [K, R] */
    rt_pool_run(ctx->pool, n_out, grain_for(j.R), tail_task, &j);
  } else if (n_red == 1 && g->m <= 3 && (g->m == 2 ? g->red[0] : g->red[1])) {
    /* [R, K1] or [K0, R, K1] */
    j.K1 = g->n[g->m - 1];
    j.nblk = (j.K1 + RED_COLS - 1) / RED_COLS;
    int64_t K0 = g->m == 3 ? g->n[0] : 1;
    int64_t cols = j.K1 < RED_COLS ? j.K1 : RED_COLS;
    rt_pool_run(ctx->pool, K0 * j.nblk, grain_for(cols * j.R), mid_task, &j);
  } else {
    rt_pool_run(ctx->pool, n_out, grain_for(j.R), gen_task, &j);
  }
  return 0;
}
