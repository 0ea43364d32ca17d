/*
 * test_kernels_layout.c: the data-movement kernels (copies, Transpose,
 * Concat, Split, Slice, Pad, Gather) on float32, float16, bfloat16 and int64
 * data against NumPy results (fixtures/kernels/layout.bin), bit-exact,
 * serially and on a 3-thread pool; plus the Gather range error and hand
 * values for the Pad fill conversions.
 */
#include <math.h>
#include <string.h>

#include "kfix.h"
#include "rt_kernels.h"
#include "tst.h"

static const kfix_row copy_rows[] = {
    {"reshape_f32", RT_OP_RESHAPE, 0, 0},
    {"flatten_f16", RT_OP_FLATTEN, 0, 0},
    {"unsqueeze_i64", RT_OP_UNSQUEEZE, 0, 0},
    {"squeeze_bf16", RT_OP_SQUEEZE, 0, 0},
    {"copy_big", RT_OP_IDENTITY, 0, 0},
    {"reshape_f32", RT_OP_DROPOUT, 0, 0},
};

static const kfix_row transpose_rows[] = {
    {"tr_201", RT_OP_TRANSPOSE, 0, 0},
    {"tr_102", RT_OP_TRANSPOSE, 0, 0},
    {"tr_021", RT_OP_TRANSPOSE, 0, 0},
    {"tr_3210", RT_OP_TRANSPOSE, 0, 0},
    {"tr_nchw_nhwc", RT_OP_TRANSPOSE, 0, 0},
    {"tr_nhwc_nchw", RT_OP_TRANSPOSE, 0, 0},
    {"tr_0213", RT_OP_TRANSPOSE, 0, 0},
    {"tr_unit_dims", RT_OP_TRANSPOSE, 0, 0},
    {"tr_identity", RT_OP_TRANSPOSE, 0, 0},
    {"tr_rank1", RT_OP_TRANSPOSE, 0, 0},
    {"tr_f16", RT_OP_TRANSPOSE, 0, 0},
    {"tr_i64_tiles", RT_OP_TRANSPOSE, 0, 0},
    {"tr_f32_tiles", RT_OP_TRANSPOSE, 0, 0},
    {"tr_bf16", RT_OP_TRANSPOSE, 0, 0},
    {"tr_shuffle", RT_OP_TRANSPOSE, 0, 0},
    {"tr_f16_big", RT_OP_TRANSPOSE, 0, 0},
};

static const kfix_row concat_split_rows[] = {
    {"cat_axis0", RT_OP_CONCAT, 0, 0},
    {"cat_axis1", RT_OP_CONCAT, 0, 0},
    {"cat_last", RT_OP_CONCAT, 0, 0},
    {"cat_f16", RT_OP_CONCAT, 0, 0},
    {"cat_i64", RT_OP_CONCAT, 0, 0},
    {"cat_one", RT_OP_CONCAT, 0, 0},
    {"cat_big", RT_OP_CONCAT, 0, 0},
    {"split_axis0", RT_OP_SPLIT, 0, 0},
    {"split_axis1", RT_OP_SPLIT, 0, 0},
    {"split_last", RT_OP_SPLIT, 0, 0},
    {"split_i64", RT_OP_SPLIT, 0, 0},
    {"split_f16", RT_OP_SPLIT, 0, 0},
};

static const kfix_row slice_pad_rows[] = {
    {"slice_basic", RT_OP_SLICE, 0, 0},
    {"slice_negstep", RT_OP_SLICE, 0, 0},
    {"slice_3d", RT_OP_SLICE, 0, 0},
    {"slice_f16", RT_OP_SLICE, 0, 0},
    {"slice_i64", RT_OP_SLICE, 0, 0},
    {"slice_big", RT_OP_SLICE, 0, 0},
    {"pad_basic", RT_OP_PAD, 0, 0},
    {"pad_negative", RT_OP_PAD, 0, 0},
    {"pad_all_fill", RT_OP_PAD, 0, 0},
    {"pad_3d", RT_OP_PAD, 0, 0},
    {"pad_f16", RT_OP_PAD, 0, 0},
    {"pad_bf16", RT_OP_PAD, 0, 0},
    {"pad_i64", RT_OP_PAD, 0, 0},
    {"pad_1d", RT_OP_PAD, 0, 0},
    {"pad_big", RT_OP_PAD, 0, 0},
};

static const kfix_row gather_rows[] = {
    {"gather_embed", RT_OP_GATHER, 0, 0},
    {"gather_axis1", RT_OP_GATHER, 0, 0},
    {"gather_scalar", RT_OP_GATHER, 0, 0},
    {"gather_last", RT_OP_GATHER, 0, 0},
    {"gather_i64", RT_OP_GATHER, 0, 0},
    {"gather_f16", RT_OP_GATHER, 0, 0},
    {"gather_big", RT_OP_GATHER, 0, 0},
};

#define WITH_FIXTURE(...)                                                      \
  do {                                                                         \
    kfix *f = kfix_load("layout");                                             \
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);                                           \
    rt_pool *pool = rt_pool_create(3);                                         \
    CU_ASSERT_PTR_NOT_NULL_FATAL(pool);                                        \
    __VA_ARGS__;                                                               \
    rt_pool_destroy(pool);                                                     \
    kfix_free(f);                                                              \
  } while (0)

static void test_copies(void) {
  WITH_FIXTURE({
    KFIX_RUN_TABLE(f, copy_rows, pool);
    /* out.data == in.data: nothing to move, the values stay */
    KFIX_RUN(f, .name = "flatten_f16", .op = RT_OP_FLATTEN, .inplace = 1, .inplace_in = 0);
    KFIX_RUN(f, .name = "copy_big", .op = RT_OP_IDENTITY, .pool = pool, .inplace = 1,
             .inplace_in = 0);
  });
}

static void test_transpose(void) {
  WITH_FIXTURE({ KFIX_RUN_TABLE(f, transpose_rows, pool); });
}

static void test_concat_split(void) {
  WITH_FIXTURE({ KFIX_RUN_TABLE(f, concat_split_rows, pool); });
}

/* The big Split: cat_big's output cut back into cat_big's inputs. */
static void test_split_big(void) {
  WITH_FIXTURE({
    const kfix_arr *whole = kfix_get(f, "cat_big.out0"), *p0 = kfix_get(f, "cat_big.in0"),
                   *p1 = kfix_get(f, "cat_big.in1"), *axis = kfix_get(f, "cat_big.ia");
    CU_ASSERT_FATAL(whole && p0 && p1 && axis);
    for (int run = 0; run < 2; run++) {
      void *b0 = calloc(1, p0->bytes), *b1 = calloc(1, p1->bytes);
      rt_view in = kfix_view(whole, whole->data);
      rt_view out[2] = {kfix_view(p0, b0), kfix_view(p1, b1)};
      rt_kctx ctx = {run ? pool : NULL, NULL, 0, NULL, 0};
      rt_kargs a = {RT_OP_SPLIT, 1, 2, &in, out, axis->data, 1, NULL, 0};
      CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
      CU_ASSERT(memcmp(b0, p0->data, p0->bytes) == 0);
      CU_ASSERT(memcmp(b1, p1->data, p1->bytes) == 0);
      free(b0);
      free(b1);
    }
  });
}

static void test_slice_pad(void) {
  WITH_FIXTURE({ KFIX_RUN_TABLE(f, slice_pad_rows, pool); });
}

static void test_gather(void) {
  WITH_FIXTURE({ KFIX_RUN_TABLE(f, gather_rows, pool); });
}

/* An index outside [-size, size) is a data error with a precise message, and
 * the output is left alone. */
static void test_gather_out_of_range(void) {
  float table[3 * 2] = {1, 2, 3, 4, 5, 6}, y[2 * 2] = {-1, -1, -1, -1};
  int64_t idx[2] = {1, 3};
  rt_view in[2] = {{table, RT_F32, 2, {3, 2}}, {idx, RT_I64, 1, {2}}};
  rt_view out = {y, RT_F32, 2, {2, 2}};
  int64_t axis = 0;
  char err[128] = "";
  rt_kctx ctx = {NULL, NULL, 0, err, sizeof err};
  rt_kargs a = {RT_OP_GATHER, 2, 1, in, &out, &axis, 1, NULL, 0};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), -1);
  CU_ASSERT_STRING_EQUAL(err, "Gather: index 3 out of range for axis of size 3");
  for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(y[i], -1.0f);
  idx[1] = -4;
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), -1);
  CU_ASSERT_STRING_EQUAL(err, "Gather: index -4 out of range for axis of size 3");
  idx[1] = -3; /* the lowest valid index: row 0 */
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  const float want[4] = {3, 4, 1, 2};
  TST_ASSERT_CLOSE(y, want, 4, 0, 0);
  rt_kctx quiet = {0}; /* no error buffer: still just -1 */
  idx[0] = 7;
  CU_ASSERT_EQUAL(rt_kernel_run(&quiet, &a), -1);
}

/* Pad's float value in each element type: f16 / bf16 rounded to nearest
 * even, int64 truncated, NaN to 0 and out-of-range values saturated. */
static void test_pad_values(void) {
  rt_kctx ctx = {0};
  int64_t pads[2] = {1, 0};
  uint16_t h[1] = {0x3c00}, ho[2];
  rt_view vh = {h, RT_F16, 1, {1}}, vho = {ho, RT_F16, 1, {2}};
  float v = 0.1f;
  rt_kargs a = {RT_OP_PAD, 1, 1, &vh, &vho, pads, 2, &v, 1};
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  CU_ASSERT_EQUAL(ho[0], 0x2e66); /* 0.1 in binary16 */
  CU_ASSERT_EQUAL(ho[1], 0x3c00);
  vh.dtype = vho.dtype = RT_BF16;
  CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &a), 0);
  CU_ASSERT_EQUAL(ho[0], 0x3dcd); /* 0.1 in bfloat16 */
  int64_t q[1] = {5}, qo[2];
  rt_view vq = {q, RT_I64, 1, {1}}, vqo = {qo, RT_I64, 1, {2}};
  rt_kargs b = {RT_OP_PAD, 1, 1, &vq, &vqo, pads, 2, &v, 1};
  const float vals[5] = {-2.7f, 3.9f, NAN, 1e30f, -INFINITY};
  const int64_t want[5] = {-2, 3, 0, INT64_MAX, INT64_MIN};
  for (int i = 0; i < 5; i++) {
    v = vals[i];
    CU_ASSERT_EQUAL(rt_kernel_run(&ctx, &b), 0);
    CU_ASSERT_EQUAL(qo[0], want[i]);
    CU_ASSERT_EQUAL(qo[1], 5);
  }
}

TST_SUITE(kernels_layout, TST(test_copies), TST(test_transpose), TST(test_concat_split),
          TST(test_split_big), TST(test_slice_pad), TST(test_gather),
          TST(test_gather_out_of_range), TST(test_pad_values))
