/*
 * test_kernels_normalize.c: BatchNormalization, LayerNormalization (with and
 * without B, with the optional Mean / InvStdDev outputs present, absent or
 * skipped), Softmax / LogSoftmax on every axis position and LRN against
 * NumPy / onnx.reference values (fixtures/kernels/normalize.bin), serially and
 * on a 3-thread pool.
 */
#include <math.h>

#include "kfix.h"
#include "rt_kernels.h"
#include "tst.h"

static const kfix_row bn_rows[] = {
    {"bn", RT_OP_BATCH_NORM, 1e-6, 1e-6},
    {"bn_rank2", RT_OP_BATCH_NORM, 1e-6, 1e-6},
    {"bn_3d", RT_OP_BATCH_NORM, 1e-6, 1e-6},
    {"bn_big", RT_OP_BATCH_NORM, 1e-6, 1e-6},
};

static const kfix_row ln_rows[] = {
    {"ln_last", RT_OP_LAYER_NORM, 1e-6, 1e-5},
    {"ln_axis1_nob", RT_OP_LAYER_NORM, 1e-6, 1e-5},
    {"ln_axis0", RT_OP_LAYER_NORM, 1e-6, 1e-5},
    {"ln_scale_bcast", RT_OP_LAYER_NORM, 1e-6, 1e-5},
    {"ln_scale_rows", RT_OP_LAYER_NORM, 1e-6, 1e-5},
    {"ln_big", RT_OP_LAYER_NORM, 1e-6, 1e-5},
};

static const kfix_row sm_rows[] = {
    {"softmax_last", RT_OP_SOFTMAX, 1e-8, 2e-6},
    {"softmax_mid", RT_OP_SOFTMAX, 1e-8, 2e-6},
    {"softmax_first", RT_OP_SOFTMAX, 1e-8, 2e-6},
    {"softmax_wide", RT_OP_SOFTMAX, 1e-8, 2e-6},
    {"softmax_large", RT_OP_SOFTMAX, 1e-30, 2e-6},
    {"softmax_1d", RT_OP_SOFTMAX, 1e-8, 2e-6},
    {"softmax_big", RT_OP_SOFTMAX, 1e-8, 2e-6},
    {"softmax_last_big", RT_OP_SOFTMAX, 1e-8, 2e-6},
    {"logsoftmax_last", RT_OP_LOG_SOFTMAX, 1e-6, 1e-6},
    {"logsoftmax_mid", RT_OP_LOG_SOFTMAX, 1e-6, 1e-6},
    {"logsoftmax_large", RT_OP_LOG_SOFTMAX, 1e-6, 1e-6},
};

static const kfix_row lrn_rows[] = {
    {"lrn", RT_OP_LRN, 1e-7, 2e-6},
    {"lrn_even", RT_OP_LRN, 1e-7, 2e-6},
    {"lrn_beta", RT_OP_LRN, 1e-7, 2e-6},
    {"lrn_beta_half", RT_OP_LRN, 1e-7, 2e-6},
    {"lrn_beta_one", RT_OP_LRN, 1e-7, 2e-6},
    {"lrn_rank3", RT_OP_LRN, 1e-7, 2e-6},
    {"lrn_big", RT_OP_LRN, 1e-7, 2e-6},
};

#define WITH_FIXTURE(...)                                                      \
  do {                                                                         \
    kfix *f = kfix_load("normalize");                                          \
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);                                           \
    rt_pool *pool = rt_pool_create(3);                                         \
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);                                        \
    __VA_ARGS__;                                                               \
    rt_pool_destroy(pool);                                                     \
    kfix_free(f);                                                              \
  } while (0)

static void test_batch_norm(void) {
  WITH_FIXTURE({
    KFIX_RUN_TABLE(f, bn_rows, pool);
    KFIX_RUN(f, .name = "bn_big", .op = RT_OP_BATCH_NORM, .atol = 1e-6, .rtol = 1e-6,
             .pool = pool, .inplace = 1, .inplace_in = 0);
  });
}

static void test_layer_norm(void) {
  WITH_FIXTURE({
    KFIX_RUN_TABLE(f, ln_rows, pool);
    /* B absent as a NULL third input rather than n_in == 2 */
    KFIX_RUN(f, .name = "ln_axis1_nob", .op = RT_OP_LAYER_NORM, .atol = 1e-6, .rtol = 1e-5,
             .extra_null_in = 1);
    KFIX_RUN(f, .name = "ln_big", .op = RT_OP_LAYER_NORM, .atol = 1e-6, .rtol = 1e-5,
             .pool = pool, .inplace = 1, .inplace_in = 0);
  });
}

static void test_layer_norm_optional_outputs(void) {
  WITH_FIXTURE({
    for (int p = 0; p < 2; p++) {
      rt_pool *pl = p ? pool : NULL;
      /* only Y */
      KFIX_RUN(f, .name = "ln_last", .op = RT_OP_LAYER_NORM, .atol = 1e-6, .rtol = 1e-5,
               .pool = pl, .n_out = 1);
      /* Y and Mean */
      KFIX_RUN(f, .name = "ln_axis1_nob", .op = RT_OP_LAYER_NORM, .atol = 1e-6, .rtol = 1e-5,
               .pool = pl, .n_out = 2);
      /* Y and InvStdDev, Mean skipped */
      KFIX_RUN(f, .name = "ln_last", .op = RT_OP_LAYER_NORM, .atol = 1e-6, .rtol = 1e-5,
               .pool = pl, .null_out = 2u);
      KFIX_RUN(f, .name = "ln_big", .op = RT_OP_LAYER_NORM, .atol = 1e-6, .rtol = 1e-5,
               .pool = pl, .null_out = 4u);
    }
  });
}

static void test_softmax(void) {
  WITH_FIXTURE({
    KFIX_RUN_TABLE(f, sm_rows, pool);
    KFIX_RUN(f, .name = "softmax_mid", .op = RT_OP_SOFTMAX, .atol = 1e-8, .rtol = 2e-6,
             .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "logsoftmax_mid", .op = RT_OP_LOG_SOFTMAX, .atol = 1e-6, .rtol = 1e-6,
             .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "logsoftmax_last", .op = RT_OP_LOG_SOFTMAX, .atol = 1e-6, .rtol = 1e-6,
             .inplace = 1, .inplace_in = 0);
  });
}

/* Hand values: a row of equal logits is uniform whatever its size. */
static void test_softmax_hand(void) {
  float x[2 * 4] = {7, 7, 7, 7, -3, 0, -3, 0}, y[8];
  rt_view vx = {x, RT_F32, 2, {2, 4}}, vy = {y, RT_F32, 2, {2, 4}};
  int64_t axis = 1;
  rt_kctx ctx = {0};
  rt_kargs a = {RT_OP_SOFTMAX, 1, 1, &vx, &vy, &axis, 1, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  float e = expf(-3.0f), d = 2 * e + 2;
  const float want[8] = {0.25f, 0.25f, 0.25f, 0.25f, e / d, 1 / d, e / d, 1 / d};
  TST_ASSERT_CLOSE(y, want, 8, 0, 1e-6);
  axis = 0; /* columns: softmax of (7, -3) and (7, 0) */
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  float p = 1 / (1 + expf(-10)), q = 1 / (1 + expf(-7));
  float pc = 1 / (1 + expf(10)), qc = 1 / (1 + expf(7)); /* 1 - p, 1 - q */
  const float want0[8] = {p, q, p, q, pc, qc, pc, qc};
  TST_ASSERT_CLOSE(y, want0, 8, 1e-9, 1e-5);
}

static void test_lrn(void) {
  WITH_FIXTURE({ KFIX_RUN_TABLE(f, lrn_rows, pool); });
}

/* Hand values: 3 channels, size 3: channel 1 sees all three squares. */
static void test_lrn_hand(void) {
  float x[3] = {1, 2, 3}, y[3];
  rt_view vx = {x, RT_F32, 4, {1, 3, 1, 1}}, vy = {y, RT_F32, 4, {1, 3, 1, 1}};
  int64_t size = 3;
  float fa[3] = {0.3f, 1.0f, 2.0f}; /* alpha, beta, bias */
  rt_kctx ctx = {0};
  rt_kargs a = {RT_OP_LRN, 1, 1, &vx, &vy, &size, 1, fa, 3};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  /* y = x / (2 + 0.1 * sum of squares in the window) */
  const float want[3] = {1 / (2 + 0.1f * 5), 2 / (2 + 0.1f * 14), 3 / (2 + 0.1f * 13)};
  TST_ASSERT_CLOSE(y, want, 3, 0, 1e-6);
}

TST_SUITE(kernels_normalize, TST(test_batch_norm), TST(test_layer_norm),
          TST(test_layer_norm_optional_outputs), TST(test_softmax), TST(test_softmax_hand),
          TST(test_lrn), TST(test_lrn_hand))
