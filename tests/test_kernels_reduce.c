/*
 * test_kernels_reduce.c: ReduceMean, ReduceSum, ReduceMax over tail, leading,
 * middle, separated and all axes, size-1 axes and keepdims both ways, against
 * NumPy sums in double (fixtures/kernels/reduce.bin), serially and on a
 * 3-thread pool; plus hand values.
 */
#include <math.h>

#include "kfix.h"
#include "rt_kernels.h"
#include "tst.h"

/* Float sums of up to ~2000 terms against double: a few ulps of the sum of
 * |x|, i.e. an absolute error for sums that cancel. */
static const kfix_row reduce_rows[] = {
    {"mean_tail", RT_OP_REDUCE_MEAN, 1e-6, 1e-6},
    {"sum_tail2", RT_OP_REDUCE_SUM, 1e-6, 1e-6},
    {"max_lead", RT_OP_REDUCE_MAX, 0, 0},
    {"mean_mid", RT_OP_REDUCE_MEAN, 1e-6, 1e-6},
    {"sum_outer", RT_OP_REDUCE_SUM, 1e-6, 1e-6},
    {"max_outer", RT_OP_REDUCE_MAX, 0, 0},
    {"mean_all", RT_OP_REDUCE_MEAN, 1e-6, 1e-6},
    {"sum_all_keep", RT_OP_REDUCE_SUM, 1e-6, 1e-6},
    {"mean_unit_axis", RT_OP_REDUCE_MEAN, 0, 0},
    {"mean_13", RT_OP_REDUCE_MEAN, 1e-6, 1e-6},
    {"max_13", RT_OP_REDUCE_MAX, 0, 0},
    {"sum_02_of_4d", RT_OP_REDUCE_SUM, 1e-6, 1e-6},
    {"max_neg", RT_OP_REDUCE_MAX, 0, 0},
    {"mean_gap_unit", RT_OP_REDUCE_MEAN, 1e-6, 1e-6},
    {"sum_alt5", RT_OP_REDUCE_SUM, 1e-6, 1e-6},
    {"max_alt5", RT_OP_REDUCE_MAX, 0, 0},
    {"sum_tail_big", RT_OP_REDUCE_SUM, 2e-5, 1e-6},
    {"mean_mid_big", RT_OP_REDUCE_MEAN, 1e-6, 1e-5},
    {"max_outer_big", RT_OP_REDUCE_MAX, 0, 0},
    {"mean_lead_big", RT_OP_REDUCE_MEAN, 1e-6, 1e-5},
};

static void test_reduce(void) {
  kfix *f = kfix_load("reduce");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  KFIX_RUN_TABLE(f, reduce_rows, pool);
  rt_pool_destroy(pool);
  kfix_free(f);
}

/* Hand values on a 2x3 matrix, each axis, and NaN propagation for max. */
static void test_reduce_hand(void) {
  float x[6] = {1, 2, 3, 4, 5, 6}, y[3];
  rt_view vx = {x, RT_F32, 2, {2, 3}};
  rt_kctx ctx = {0};
  int64_t ia0[2] = {1, 0}, ia1[2] = {0, 1};
  rt_view y0 = {y, RT_F32, 2, {1, 3}}, y1 = {y, RT_F32, 1, {2}};
  rt_kargs sum0 = {RT_OP_REDUCE_SUM, 1, 1, &vx, &y0, ia0, 2, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &sum0), 0);
  const float w_sum0[3] = {5, 7, 9};
  TST_ASSERT_CLOSE(y, w_sum0, 3, 0, 0);
  rt_kargs mean1 = {RT_OP_REDUCE_MEAN, 1, 1, &vx, &y1, ia1, 2, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &mean1), 0);
  const float w_mean1[2] = {2, 5};
  TST_ASSERT_CLOSE(y, w_mean1, 2, 0, 0);
  x[4] = NAN;
  rt_kargs max1 = {RT_OP_REDUCE_MAX, 1, 1, &vx, &y1, ia1, 2, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &max1), 0);
  CU_ASSERT_EQUAL(y[0], 3.0f);
  CU_ASSERT(isnan(y[1]));
  rt_kargs max0 = {RT_OP_REDUCE_MAX, 1, 1, &vx, &y0, ia0, 2, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &max0), 0);
  CU_ASSERT_EQUAL(y[0], 4.0f);
  CU_ASSERT(isnan(y[1]));
  CU_ASSERT_EQUAL(y[2], 6.0f);
}

TST_SUITE(kernels_reduce, TST(test_reduce), TST(test_reduce_hand))
