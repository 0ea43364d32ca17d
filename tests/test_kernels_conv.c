/*
 * test_kernels_conv.c: Conv against a naive seven-loop convolution written
 * here from the ONNX definition, and against NumPy cases
 * (tests/fixtures/kernels/conv.txt, made by gen_gemm_conv_fixtures.py).
 *
 * The cases walk each path of the kernel: depthwise (and a depth multiplier),
 * 1x1 direct GEMM (per group, per image, threads over items or inside the
 * GEMM), and im2col with groups, strides, dilations, asymmetric pads, no bias,
 * filters wider than the image, several column chunks per image (the scratch
 * must stay below the whole column matrix), and a late-layer shape whose
 * chunks are too few for the threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_kernels.h"
#include "kfix_text.h"
#include "tst.h"

/* Exactly the scratch a kernel asked for (64-byte aligned), so that the
 * sanitizers see any use past it. */
static void *scratch_alloc(size_t bytes) {
  void *p = NULL;
  CU_ASSERT_FATAL(posix_memalign(&p, 64, bytes ? bytes : 1) == 0);
  return p;
}

typedef struct {
  int64_t n, c, h, w, m, group, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
  int bias;
} conv_p;

static int64_t out_h(const conv_p *p) { return (p->h + p->pt + p->pb - p->dh * (p->kh - 1) - 1) / p->sh + 1; }
static int64_t out_w(const conv_p *p) { return (p->w + p->pl + p->pr - p->dw * (p->kw - 1) - 1) / p->sw + 1; }

/* y[n, m, oh, ow] = b[m] + sum over c in m's group, ky, kx of
 * x[n, c, oh*sh - pt + ky*dh, ow*sw - pl + kx*dw] * w[m, c - group start, ky, kx]. */
static void naive_conv(const conv_p *p, const float *x, const float *w, const float *b, float *y) {
  int64_t oh = out_h(p), ow = out_w(p), cg = p->c / p->group, mg = p->m / p->group;
  for (int64_t n = 0; n < p->n; n++)
    for (int64_t m = 0; m < p->m; m++)
      for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) {
          double s = b ? b[m] : 0.0;
          int64_t g = m / mg;
          for (int64_t c = 0; c < cg; c++)
            for (int64_t ky = 0; ky < p->kh; ky++)
              for (int64_t kx = 0; kx < p->kw; kx++) {
                int64_t ih = i * p->sh - p->pt + ky * p->dh, iw = j * p->sw - p->pl + kx * p->dw;
                if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) continue;
                s += (double)x[((n * p->c + g * cg + c) * p->h + ih) * p->w + iw] *
                     w[((m * cg + c) * p->kh + ky) * p->kw + kx];
              }
          y[((n * p->m + m) * oh + i) * ow + j] = (float)s;
        }
}

/* Run Conv on p with the pool; returns the scratch bytes it asked for. */
static size_t conv_case(rt_pool *pool, const conv_p *p) {
  int64_t oh = out_h(p), ow = out_w(p), cg = p->c / p->group;
  int64_t nx = p->n * p->c * p->h * p->w, nw = p->m * cg * p->kh * p->kw, ny = p->n * p->m * oh * ow;
  float *x = malloc((size_t)nx * sizeof(float)), *w = malloc((size_t)nw * sizeof(float));
  float *b = malloc((size_t)p->m * sizeof(float));
  float *y = malloc((size_t)ny * sizeof(float)), *want = malloc((size_t)ny * sizeof(float));
  tst_fill_uniform(x, (size_t)nx, -1, 1, (uint64_t)nx);
  tst_fill_uniform(w, (size_t)nw, -1, 1, (uint64_t)nw + 1);
  tst_fill_uniform(b, (size_t)p->m, -1, 1, 3);
  for (int64_t i = 0; i < ny; i++) y[i] = NAN;
  naive_conv(p, x, w, p->bias ? b : NULL, want);
  rt_view in[3] = {{x, RT_F32, 4, {p->n, p->c, p->h, p->w}},
                   {w, RT_F32, 4, {p->m, cg, p->kh, p->kw}},
                   {p->bias ? b : NULL, RT_F32, 1, {p->m}}};
  rt_view out[1] = {{y, RT_F32, 4, {p->n, p->m, oh, ow}}};
  int64_t ia[11] = {p->group, p->kh, p->kw, p->sh, p->sw, p->dh, p->dw, p->pt, p->pl, p->pb, p->pr};
  rt_kargs ka = {RT_OP_CONV, p->bias ? 3 : 2, 1, in, out, ia, 11, NULL, 0};
  size_t bytes = rt_kernel_scratch(&ka, pool);
  void *ws = scratch_alloc(bytes);
  char err[128] = "";
  rt_kctx ctx = {pool, ws, bytes, err, sizeof err};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &ka), 0);
  double depth = (double)(cg * p->kh * p->kw);
  double e = tst_err(y, want, (size_t)ny, 1e-6 * depth + 1e-6, 1e-5);
  if (e > 1)
    printf("\n  conv n%lld c%lld %lldx%lld m%lld g%lld k%lldx%lld s%lld,%lld d%lld,%lld "
           "p%lld,%lld,%lld,%lld threads %d: err %g\n",
           (long long)p->n, (long long)p->c, (long long)p->h, (long long)p->w, (long long)p->m,
           (long long)p->group, (long long)p->kh, (long long)p->kw, (long long)p->sh,
           (long long)p->sw, (long long)p->dh, (long long)p->dw, (long long)p->pt,
           (long long)p->pl, (long long)p->pb, (long long)p->pr, rt_pool_size(pool), e);
  CU_ASSERT(e <= 1);
  free(x), free(w), free(b), free(y), free(want), free(ws);
  return bytes;
}

/* Each case serially and on a pool of 3 threads. */
static size_t conv_both(const conv_p *p) {
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  conv_case(NULL, p);
  size_t bytes = conv_case(pool, p);
  rt_pool_destroy(pool);
  return bytes;
}

#define CONV(...) conv_both(&(conv_p){__VA_ARGS__})

static void test_conv_hand(void) {
  /* 1 channel 3x3 image, 2x2 filter of ones, bias 10, no padding:
   * each output is 10 + the sum of a 2x2 window. */
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 1, 1, 1}, b[1] = {10}, y[4];
  float want[4] = {10 + 12, 10 + 16, 10 + 24, 10 + 28};
  rt_view in[3] = {{x, RT_F32, 4, {1, 1, 3, 3}}, {w, RT_F32, 4, {1, 1, 2, 2}}, {b, RT_F32, 1, {1}}};
  rt_view out[1] = {{y, RT_F32, 4, {1, 1, 2, 2}}};
  int64_t ia[11] = {1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0};
  rt_kargs ka = {RT_OP_CONV, 3, 1, in, out, ia, 11, NULL, 0};
  size_t bytes = rt_kernel_scratch(&ka, NULL);
  void *ws = scratch_alloc(bytes);
  rt_kctx ctx = {NULL, ws, bytes, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &ka), 0);
  TST_ASSERT_CLOSE(y, want, 4, 0, 0);
  free(ws);
  /* Two input channels (im2col path), pad 1 on the left only, stride 2 on
   * the width: rows x0 = [1 2 3 4], x1 = [10 20 30 40], 1x2 filters
   * w0 = [1 -1], w1 = [0.5 0]; the windows start at columns -1 and 1. */
  float x2[8] = {1, 2, 3, 4, 10, 20, 30, 40}, w2[4] = {1, -1, 0.5f, 0}, y2[2];
  /* out[0] = (0*1 + 1*-1) + (0*0.5 + 10*0) = -1
   * out[1] = (2*1 + 3*-1) + (20*0.5 + 30*0) = -1 + 10 = 9 */
  float want2[2] = {-1, 9};
  rt_view in2[2] = {{x2, RT_F32, 4, {1, 2, 1, 4}}, {w2, RT_F32, 4, {1, 2, 1, 2}}};
  rt_view out2[1] = {{y2, RT_F32, 4, {1, 1, 1, 2}}};
  int64_t ia2[11] = {1, 1, 2, 1, 2, 1, 1, 0, 1, 0, 0};
  rt_kargs ka2 = {RT_OP_CONV, 2, 1, in2, out2, ia2, 11, NULL, 0};
  bytes = rt_kernel_scratch(&ka2, NULL);
  ws = scratch_alloc(bytes);
  ctx = (rt_kctx){NULL, ws, bytes, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &ka2), 0);
  TST_ASSERT_CLOSE(y2, want2, 2, 0, 0);
  free(ws);
  /* An empty batch is no error. */
  in2[0].dims[0] = 0, out2[0].dims[0] = 0;
  bytes = rt_kernel_scratch(&ka2, NULL);
  ws = scratch_alloc(bytes);
  ctx = (rt_kctx){NULL, ws, bytes, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &ka2), 0);
  free(ws);
}

static void test_conv_im2col(void) {
  /*   n  c  h   w   m  g  kh kw sh sw dh dw pt pl pb pr bias */
  CONV(1, 3, 7, 6, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);      /* plain 3x3 pad 1 */
  CONV(2, 5, 9, 11, 7, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1);     /* stride 2, batch 2 */
  CONV(1, 4, 12, 10, 6, 1, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1);    /* dilation 2 */
  CONV(1, 4, 9, 8, 5, 1, 3, 2, 1, 1, 1, 1, 0, 1, 2, 0, 1);      /* asymmetric pads */
  CONV(1, 6, 10, 10, 8, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);    /* no bias */
  CONV(1, 3, 11, 13, 4, 1, 5, 3, 3, 2, 2, 1, 2, 0, 1, 3, 1);    /* all at once */
  CONV(1, 2, 3, 3, 3, 1, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1);      /* filter wider than image */
  CONV(1, 3, 23, 23, 16, 1, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1);   /* 7x7 stem, stride 2 */
  CONV(1, 1, 8, 8, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);      /* one input channel */
}

static void test_conv_groups(void) {
  CONV(1, 6, 8, 7, 4, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);      /* 2 groups */
  CONV(2, 12, 9, 9, 6, 3, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1, 0);     /* 3 groups, stride 2, batch */
  CONV(1, 8, 10, 10, 8, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1);    /* 4 groups, dilation 2 */
}

static void test_conv_depthwise(void) {
  CONV(1, 8, 9, 10, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);     /* group == C == M */
  CONV(2, 5, 11, 9, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0);     /* stride 2, no bias */
  CONV(1, 4, 12, 12, 4, 4, 3, 3, 1, 1, 2, 2, 0, 2, 1, 0, 1);    /* dilation, asymmetric */
  CONV(1, 3, 10, 10, 6, 3, 5, 3, 3, 1, 1, 2, 2, 1, 2, 1, 1);    /* multiplier 2, stride 3 */
  CONV(1, 2, 4, 4, 2, 2, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1);      /* filter wider than image */
}

static void test_conv_1x1(void) {
  CONV(1, 16, 7, 9, 10, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1);    /* direct GEMM */
  CONV(1, 16, 7, 9, 10, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0);    /* no bias */
  CONV(3, 12, 5, 6, 9, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1);     /* groups, batch: items over threads */
  CONV(1, 64, 20, 20, 40, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1);  /* one item: threads inside the GEMM */
  CONV(1, 8, 9, 9, 5, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1);      /* stride 2: im2col */
  CONV(1, 8, 6, 6, 5, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1);      /* padded: im2col */
}

/* The column buffer must be chunked: less scratch than the full column
 * matrix of one image, yet the same result. */
static void test_conv_chunks(void) {
  /* K = 64*9 = 576 rows, 64*64 = 4096 positions: 9 MiB of columns. */
  size_t full = (size_t)576 * 4096 * sizeof(float);
  size_t bytes = CONV(1, 64, 64, 64, 24, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
  CU_ASSERT(bytes > 0 && bytes < full);
  size_t serial = conv_case(NULL, &(conv_p){1, 64, 64, 64, 24, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  CU_ASSERT(serial < full / 3);
  /* The documented bound, asked for without data: VGG-19's 3x3 conv with 64
   * channels on 224 x 224 needs 1 MiB of columns (plus the GEMM's packing
   * scratch) per thread, not the 115 MiB of its whole column matrix. */
  rt_view in[2] = {{NULL, RT_F32, 4, {1, 64, 224, 224}}, {NULL, RT_F32, 4, {64, 64, 3, 3}}};
  rt_view out[1] = {{NULL, RT_F32, 4, {1, 64, 224, 224}}};
  int64_t ia[11] = {1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  rt_kargs ka = {RT_OP_CONV, 2, 1, in, out, ia, 11, NULL, 0};
  size_t per_thread = ((size_t)1 << 20) + rt_sgemm_scratch(NULL);
  CU_ASSERT(rt_kernel_scratch(&ka, NULL) <= per_thread);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  CU_ASSERT(rt_kernel_scratch(&ka, pool) <= 3 * per_thread);
  rt_pool_destroy(pool);
  /* several images and groups, each several chunks */
  CONV(2, 32, 48, 48, 8, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
  /* few positions, big filters: fewer chunks than threads, the copy and
   * the GEMM are spread over the pool instead */
  CONV(1, 64, 7, 7, 96, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
}

/* ---- NumPy fixtures -------------------------------------------------------- */

static void test_conv_numpy(void) {
  FILE *f = fopen(tst_src("tests/fixtures/kernels/conv.txt"), "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  fx_case c;
  int cases = 0;
  while (fx_read(f, &c)) {
    CU_ASSERT_FATAL(rt_op_parse(c.op) == RT_OP_CONV && c.n_out == 1);
    const rt_view *want = &c.t[c.n_in];
    int64_t n = rt_numel(want->rank, want->dims);
    float *y = malloc((size_t)n * sizeof(float));
    rt_view out = *want;
    out.data = y;
    rt_kargs ka = {RT_OP_CONV, c.n_in, 1, c.t, &out, c.ia, c.n_ia, NULL, 0};
    for (int pi = 0; pi < 2; pi++) {
      rt_pool *p = pi ? pool : NULL;
      for (int64_t i = 0; i < n; i++) y[i] = NAN;
      size_t bytes = rt_kernel_scratch(&ka, p);
      void *ws = scratch_alloc(bytes);
      rt_kctx ctx = {p, ws, bytes, NULL, 0};
      CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &ka), 0);
      TST_ASSERT_CLOSE(y, want->data, (size_t)n, 1e-5, 1e-5);
      free(ws);
    }
    free(y);
    fx_free(&c);
    cases++;
  }
  CU_ASSERT(cases >= 7);
  fclose(f);
  rt_pool_destroy(pool);
}

TST_SUITE(kernels_conv, TST(test_conv_hand), TST(test_conv_im2col), TST(test_conv_groups),
          TST(test_conv_depthwise), TST(test_conv_1x1), TST(test_conv_chunks),
          TST(test_conv_numpy))
