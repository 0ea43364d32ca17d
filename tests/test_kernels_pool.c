/*
 * test_kernels_pool.c: MaxPool and AveragePool with pads, strides,
 * dilations, ceil_mode-derived output sizes (windows hanging past the end
 * padding) and count_include_pad both ways, and the global poolings of any
 * spatial rank, against direct NumPy window loops cross-checked with
 * onnx.reference (fixtures/kernels/pool.bin), serially and on a 3-thread
 * pool; plus hand values.
 */
#include <math.h>

#include "kfix.h"
#include "rt_kernels.h"
#include "tst.h"

static const kfix_row pool_rows[] = {
    {"max_k3s2p1", RT_OP_MAX_POOL, 0, 0},
    {"max_ceil", RT_OP_MAX_POOL, 0, 0},
    {"max_dil", RT_OP_MAX_POOL, 0, 0},
    {"max_neg", RT_OP_MAX_POOL, 0, 0},
    {"max_asym_ceil", RT_OP_MAX_POOL, 0, 0},
    {"avg_k3s2p1", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_k3s2p1_cip", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_ceil", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_ceil_cip", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_ceil_nopad_cip", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_dil_cip", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_dil", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_s3_ceil_cip", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_s3_ceil", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_global_like", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"avg_k3s1p1_cip", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"max_big", RT_OP_MAX_POOL, 0, 0},
    {"avg_big", RT_OP_AVERAGE_POOL, 1e-7, 1e-6},
    {"gavg", RT_OP_GLOBAL_AVERAGE_POOL, 1e-7, 1e-6},
    {"gmax", RT_OP_GLOBAL_MAX_POOL, 0, 0},
    {"gavg_rank3", RT_OP_GLOBAL_AVERAGE_POOL, 1e-7, 1e-6},
    {"gmax_rank5", RT_OP_GLOBAL_MAX_POOL, 0, 0},
    {"gavg_big", RT_OP_GLOBAL_AVERAGE_POOL, 1e-7, 1e-6},
    {"gmax_big", RT_OP_GLOBAL_MAX_POOL, 0, 0},
};

static void test_pool(void) {
  kfix *f = kfix_load("pool");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  KFIX_RUN_TABLE(f, pool_rows, pool);
  rt_pool_destroy(pool);
  kfix_free(f);
}

/* 1x1x3x3 input 1..9, kernel 2, stride 2, pads 1 all round: output 2x2 with
 * windows rows {-1, 0} and {1, 2}, columns alike. */
static void run_3x3(int op, int cip, float *y) {
  float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  if (cip < 0) { /* a NaN in the middle, for MaxPool */
    x[4] = NAN;
    cip = 0;
  }
  rt_view vx = {x, RT_F32, 4, {1, 1, 3, 3}};
  rt_view vy = {y, RT_F32, 4, {1, 1, 2, 2}};
  int64_t ia[11] = {2, 2, 2, 2, 1, 1, 1, 1, 1, 1, cip};
  rt_kctx ctx = {0};
  rt_kargs a = {op, 1, 1, &vx, &vy, ia, 11, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
}

static void test_pool_hand(void) {
  float y[4];
  run_3x3(RT_OP_MAX_POOL, 0, y);
  const float w_max[4] = {1, 3, 7, 9};
  TST_ASSERT_CLOSE(y, w_max, 4, 0, 0);
  run_3x3(RT_OP_AVERAGE_POOL, 0, y);
  const float w_avg[4] = {1, 2.5f, 5.5f, 7};
  TST_ASSERT_CLOSE(y, w_avg, 4, 0, 1e-7);
  run_3x3(RT_OP_AVERAGE_POOL, 1, y);
  const float w_cip[4] = {0.25f, 1.25f, 2.75f, 7};
  TST_ASSERT_CLOSE(y, w_cip, 4, 0, 1e-7);
  run_3x3(RT_OP_MAX_POOL, -1, y); /* NaN at (1, 1): in the last window only */
  CU_ASSERT(y[0] == 1 && y[1] == 3 && y[2] == 7 && isnan(y[3]));

  /* A ceil_mode window hanging past the end: width 4, kernel 1x3, stride 2,
   * no pads gives 2 outputs, windows columns {0,1,2} and {2,3,4}. */
  float x[4] = {1, 2, 3, 4}, z[2];
  rt_view vx = {x, RT_F32, 4, {1, 1, 1, 4}}, vz = {z, RT_F32, 4, {1, 1, 1, 2}};
  int64_t ia[11] = {1, 3, 1, 2, 1, 1, 0, 0, 0, 0, 1};
  rt_kctx ctx = {0};
  rt_kargs a = {RT_OP_AVERAGE_POOL, 1, 1, &vx, &vz, ia, 11, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  const float w_hang[2] = {2, 3.5f}; /* column 4 lies beyond the end padding */
  TST_ASSERT_CLOSE(z, w_hang, 2, 0, 1e-7);
  ia[9] = 1; /* pad_r 1: column 4 is padding now, and counts */
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  const float w_pad[2] = {2, 7.0f / 3};
  TST_ASSERT_CLOSE(z, w_pad, 2, 0, 1e-7);
  a.op = RT_OP_MAX_POOL;
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  const float w_mx[2] = {3, 4};
  TST_ASSERT_CLOSE(z, w_mx, 2, 0, 0);
}

/* GlobalMaxPool lets a NaN through wherever it sits (vector lanes or tail);
 * GlobalAveragePool of a constant plane is that constant. */
static void test_global_pool_hand(void) {
  float x[2 * 11], y[2];
  for (int i = 0; i < 22; i++) x[i] = (float)(i % 11);
  x[3] = NAN;  /* plane 0, in the 8-wide part */
  x[21] = NAN; /* plane 1, in the tail */
  rt_view vx = {x, RT_F32, 3, {1, 2, 11}}, vy = {y, RT_F32, 3, {1, 2, 1}};
  rt_kctx ctx = {0};
  rt_kargs a = {RT_OP_GLOBAL_MAX_POOL, 1, 1, &vx, &vy, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  CU_ASSERT(isnan(y[0]) && isnan(y[1]));
  x[3] = 3;
  x[21] = 10;
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  CU_ASSERT(y[0] == 10 && y[1] == 10);
  for (int i = 0; i < 22; i++) x[i] = 0.1f;
  a.op = RT_OP_GLOBAL_AVERAGE_POOL;
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  CU_ASSERT(y[0] == 0.1f && y[1] == 0.1f);
}

TST_SUITE(kernels_pool, TST(test_pool), TST(test_pool_hand), TST(test_global_pool_hand))
