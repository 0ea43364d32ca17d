/*
 * test_kernels_elementwise.c: the unary activations and the broadcasting
 * binary / variadic ops against NumPy values (fixtures/kernels/elementwise.bin),
 * serially and on a 3-thread pool, plus in-place runs and a few hand values
 * (aliasing one tensor several times, stability at large |x|).
 */
#include <math.h>
#include <string.h>

#include "kfix.h"
#include "rt_kernels.h"
#include "tst.h"

/* libm's float functions are within a few ulp; NumPy computed in double. */
#define EXACT 0, 0
#define ULPS 1e-30, 4e-7
#define LIBM 1e-7, 2e-6

static const kfix_row unary_rows[] = {
    {"abs", RT_OP_ABS, EXACT},
    {"neg", RT_OP_NEG, EXACT},
    {"relu", RT_OP_RELU, EXACT},
    {"relu_2d", RT_OP_RELU, EXACT},
    {"relu_scalar", RT_OP_RELU, EXACT},
    {"leaky_relu", RT_OP_LEAKY_RELU, ULPS},
    {"sigmoid", RT_OP_SIGMOID, LIBM},
    {"tanh", RT_OP_TANH, LIBM},
    {"gelu", RT_OP_GELU, LIBM},
    {"gelu_tanh", RT_OP_GELU, LIBM},
    {"erf", RT_OP_ERF, LIBM},
    {"exp", RT_OP_EXP, LIBM},
    {"log", RT_OP_LOG, LIBM},
    {"sqrt", RT_OP_SQRT, ULPS},
    {"reciprocal", RT_OP_RECIPROCAL, ULPS},
    {"clip", RT_OP_CLIP, EXACT},
    {"clip_max_only", RT_OP_CLIP, EXACT},
    {"clip_min_only", RT_OP_CLIP, EXACT},
    {"hard_sigmoid", RT_OP_HARD_SIGMOID, 1e-7, 4e-7},
    {"hard_swish", RT_OP_HARD_SWISH, 1e-7, 4e-7},
    {"softplus", RT_OP_SOFTPLUS, LIBM},
    {"sigmoid_big", RT_OP_SIGMOID, LIBM},
};

static const kfix_row binary_rows[] = {
    {"add_same", RT_OP_ADD, ULPS},
    {"add_scalar", RT_OP_ADD, ULPS},
    {"sub_scalar_left", RT_OP_SUB, ULPS},
    {"sub_same", RT_OP_SUB, ULPS},
    {"mul_row", RT_OP_MUL, ULPS},
    {"div_col", RT_OP_DIV, ULPS},
    {"add_rank_mismatch", RT_OP_ADD, ULPS},
    {"mul_both", RT_OP_MUL, ULPS},
    {"sub_outer", RT_OP_SUB, ULPS},
    {"add_channel", RT_OP_ADD, ULPS},
    {"mul_middle", RT_OP_MUL, ULPS},
    {"add_5d", RT_OP_ADD, ULPS},
    {"div_same", RT_OP_DIV, ULPS},
    {"pow", RT_OP_POW, LIBM},
    {"pow_square", RT_OP_POW, ULPS},
    {"pow_negbase", RT_OP_POW, ULPS},
    {"max2", RT_OP_MAX, EXACT},
    {"min2", RT_OP_MIN, EXACT},
    {"max_row", RT_OP_MAX, EXACT},
    {"min_col", RT_OP_MIN, EXACT},
    {"add_ones", RT_OP_ADD, ULPS},
    {"add_big", RT_OP_ADD, ULPS},
    {"mul_channel_big", RT_OP_MUL, ULPS},
    {"add_col_big", RT_OP_ADD, ULPS},
};

/* Sums of three or more terms round after each addition. */
static const kfix_row variadic_rows[] = {
    {"sum1", RT_OP_SUM, EXACT},
    {"sum2", RT_OP_SUM, ULPS},
    {"sum3", RT_OP_SUM, 1e-7, 1e-6},
    {"max3", RT_OP_MAX, EXACT},
    {"min3", RT_OP_MIN, EXACT},
    {"sum4_bcast", RT_OP_SUM, 1e-7, 1e-6},
    {"sum3_big", RT_OP_SUM, 1e-7, 1e-6},
};

static void test_unary(void) {
  kfix *f = kfix_load("elementwise");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  KFIX_RUN_TABLE(f, unary_rows, pool);
  rt_pool_destroy(pool);
  kfix_free(f);
}

static void test_binary_broadcast(void) {
  kfix *f = kfix_load("elementwise");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  KFIX_RUN_TABLE(f, binary_rows, pool);
  rt_pool_destroy(pool);
  kfix_free(f);
}

static void test_variadic(void) {
  kfix *f = kfix_load("elementwise");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  KFIX_RUN_TABLE(f, variadic_rows, pool);
  rt_pool_destroy(pool);
  kfix_free(f);
}

/* The output written over an input's memory, for each full-shape input. */
static void test_inplace(void) {
  kfix *f = kfix_load("elementwise");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  for (int p = 0; p < 2; p++) {
    rt_pool *pl = p ? pool : NULL;
    KFIX_RUN(f, .name = "relu", .op = RT_OP_RELU, .pool = pl, .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "gelu", .op = RT_OP_GELU, .atol = 1e-7, .rtol = 2e-6, .pool = pl,
             .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "sigmoid_big", .op = RT_OP_SIGMOID, .atol = 1e-7, .rtol = 2e-6,
             .pool = pl, .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "add_same", .op = RT_OP_ADD, .atol = 1e-30, .rtol = 4e-7, .pool = pl,
             .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "sub_same", .op = RT_OP_SUB, .atol = 1e-30, .rtol = 4e-7, .pool = pl,
             .inplace = 1, .inplace_in = 1);
    KFIX_RUN(f, .name = "sub_scalar_left", .op = RT_OP_SUB, .atol = 1e-30, .rtol = 4e-7,
             .pool = pl, .inplace = 1, .inplace_in = 1);
    KFIX_RUN(f, .name = "div_col", .op = RT_OP_DIV, .atol = 1e-30, .rtol = 4e-7, .pool = pl,
             .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "mul_channel_big", .op = RT_OP_MUL, .atol = 1e-30, .rtol = 4e-7,
             .pool = pl, .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "add_big", .op = RT_OP_ADD, .atol = 1e-30, .rtol = 4e-7, .pool = pl,
             .inplace = 1, .inplace_in = 1);
    KFIX_RUN(f, .name = "sum3", .op = RT_OP_SUM, .atol = 1e-7, .rtol = 1e-6, .pool = pl,
             .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "min3", .op = RT_OP_MIN, .pool = pl, .inplace = 1, .inplace_in = 1);
    KFIX_RUN(f, .name = "sum4_bcast", .op = RT_OP_SUM, .atol = 1e-7, .rtol = 1e-6, .pool = pl,
             .inplace = 1, .inplace_in = 2);
    KFIX_RUN(f, .name = "sum3_big", .op = RT_OP_SUM, .atol = 1e-7, .rtol = 1e-6, .pool = pl,
             .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "sum1", .op = RT_OP_SUM, .pool = pl, .inplace = 1, .inplace_in = 0);
  }
  rt_pool_destroy(pool);
  kfix_free(f);
}

static rt_view vec(float *data, int64_t n) {
  rt_view v = {data, RT_F32, 1, {n}};
  return v;
}

/* One tensor passed several times with the output on its memory: every
 * operand must be read before the output is written. */
static void test_variadic_same_tensor_inplace(void) {
  float x[3] = {1, -2, 3}, z[3] = {10, 20, 30};
  rt_view v[4] = {vec(x, 3), vec(x, 3), vec(z, 3), vec(x, 3)};
  rt_view out = vec(x, 3);
  rt_kctx ctx = {0};
  rt_kargs sum = {RT_OP_SUM, 4, 1, v, &out, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &sum), 0);
  const float want_sum[3] = {13, 14, 39}; /* 3x + z */
  TST_ASSERT_CLOSE(x, want_sum, 3, 0, 0);

  float a[3] = {1, 5, -3}, b[3] = {2, 4, -4};
  rt_view w[3] = {vec(a, 3), vec(b, 3), vec(a, 3)};
  rt_view oa = vec(a, 3);
  rt_kargs mx = {RT_OP_MAX, 3, 1, w, &oa, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &mx), 0);
  const float want_max[3] = {2, 5, -3};
  TST_ASSERT_CLOSE(a, want_max, 3, 0, 0);

  float c[2] = {1.5f, -1}; /* Sum(c, c) written over c */
  rt_view u[2] = {vec(c, 2), vec(c, 2)};
  rt_view oc = vec(c, 2);
  rt_kargs s2 = {RT_OP_SUM, 2, 1, u, &oc, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &s2), 0);
  const float want_c[2] = {3, -2};
  TST_ASSERT_CLOSE(c, want_c, 2, 0, 0);
}

/* More inputs than one staged pass takes (32): 40 ones plus a row. */
static void test_variadic_many_inputs(void) {
  enum { K = 40 };
  static float ones[K][6];
  float row[6] = {0, 1, 2, 3, 4, 5}, y[2 * 6];
  rt_view v[K + 1];
  for (int k = 0; k < K; k++) {
    for (int i = 0; i < 6; i++) ones[k][i] = (float)(k % 2 ? 1 : 2);
    v[k] = (rt_view){ones[k], RT_F32, 2, {1, 6}};
  }
  v[K] = (rt_view){row, RT_F32, 2, {2, 1}}; /* broadcast along the other axis */
  row[0] = 100;
  row[1] = 200;
  rt_view out = {y, RT_F32, 2, {2, 6}};
  rt_kctx ctx = {0};
  rt_kargs sum = {RT_OP_SUM, K + 1, 1, v, &out, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &sum), 0);
  float want[12];
  for (int i = 0; i < 12; i++) want[i] = 60 + (i < 6 ? 100 : 200); /* 20*2 + 20*1 */
  TST_ASSERT_CLOSE(y, want, 12, 0, 0);
  rt_kargs mx = {RT_OP_MIN, K + 1, 1, v, &out, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &mx), 0);
  for (int i = 0; i < 12; i++) want[i] = 1;
  TST_ASSERT_CLOSE(y, want, 12, 0, 0);
}

/* Hand values at the edges: no overflow, tiny results kept. */
static void test_unary_extremes(void) {
  float x[6] = {-200, -100, 0, 50, 200, -INFINITY}, y[6];
  rt_view vx = vec(x, 6), vy = vec(y, 6);
  rt_kctx ctx = {0};
  rt_kargs sig = {RT_OP_SIGMOID, 1, 1, &vx, &vy, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &sig), 0);
  CU_ASSERT_EQUAL(y[0], 0.0f);
  CU_ASSERT(y[1] > 0 && fabsf(y[1] - expf(-100)) <= 1e-6f * expf(-100)); /* denormal */
  CU_ASSERT_EQUAL(y[2], 0.5f);
  CU_ASSERT_EQUAL(y[3], 1.0f);
  CU_ASSERT_EQUAL(y[4], 1.0f);
  CU_ASSERT_EQUAL(y[5], 0.0f);
  rt_kargs sp = {RT_OP_SOFTPLUS, 1, 1, &vx, &vy, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &sp), 0);
  CU_ASSERT_EQUAL(y[0], 0.0f);
  CU_ASSERT(y[1] > 0);
  CU_ASSERT(fabsf(y[2] - 0.6931472f) < 1e-7f);
  CU_ASSERT_EQUAL(y[3], 50.0f);
  CU_ASSERT_EQUAL(y[4], 200.0f); /* log(1 + e^200) would overflow */
  CU_ASSERT_EQUAL(y[5], 0.0f);
}

TST_SUITE(kernels_elementwise, TST(test_unary), TST(test_binary_broadcast), TST(test_variadic),
          TST(test_inplace), TST(test_variadic_same_tensor_inplace),
          TST(test_variadic_many_inputs), TST(test_unary_extremes))
