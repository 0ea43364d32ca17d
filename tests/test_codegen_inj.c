/*
 * test_codegen_inj.c: data-movement kernels through the shim against the
 * CPU kernels, bit for bit: copies (vector words with a tail, unaligned,
 * in place), Transposes by rows and by shared-memory tiles on 2-, 4- and
 * 8-byte elements, Concat and Split with parts of mixed vector widths, Slice
 * with negative steps, Pad with negative pads and fill values per dtype,
 * Gather with negative indices, and Gather's out-of-range rule (zero rows).
 */
#include "test_codegen.h"
#include "tst.h"

static void build_copy(void) {
  cgt_case *c = cgt_new("inj_reshape_f32");
  int x = CGT_T(c, CG_F32, CG_IN, 3, 50), y = CGT_T(c, CG_F32, CG_OUT, 150);
  cgt_node(c, CG_RESHAPE, CGT_L(x), CGT_L(y));

  c = cgt_new("inj_flatten_f16_unaligned");
  x = CGT_T(c, CG_F16, CG_IN, 2, 3, 7);
  y = CGT_T(c, CG_F16, CG_OUT, 2, 21);
  c->t[x].align = 2;
  cgt_node(c, CG_FLATTEN, CGT_L(x), CGT_L(y));

  c = cgt_new("inj_identity_inplace");
  x = CGT_T(c, CG_I64, CG_IN, 33);
  y = CGT_T(c, CG_I64, CG_OUT, 33);
  cgt_node(c, CG_IDENTITY, CGT_L(x), CGT_L(y));
  cgt_inplace(c, y, x);

  c = cgt_new("inj_squeeze_bf16");
  x = CGT_T(c, CG_BF16, CG_IN, 1, 64, 1);
  y = CGT_T(c, CG_BF16, CG_OUT, 64);
  cgt_node(c, CG_SQUEEZE, CGT_L(x), CGT_L(y));

  c = cgt_new("inj_unsqueeze_f32");
  x = CGT_T(c, CG_F32, CG_IN, 12, 5);
  y = CGT_T(c, CG_F32, CG_OUT, 12, 1, 5);
  cgt_node(c, CG_UNSQUEEZE, CGT_L(x), CGT_L(y));

  c = cgt_new("inj_dropout_f32");
  x = CGT_T(c, CG_F32, CG_IN, 9, 9);
  y = CGT_T(c, CG_F32, CG_OUT, 9, 9);
  cgt_node(c, CG_DROPOUT, CGT_L(x), CGT_L(y, -1));
}

static void transpose_case(const char *name, cg_dtype dt, const int64_t *dims, int rank, const int64_t *perm,
                           int n_perm) {
  cgt_case *c = cgt_new(name);
  int64_t od[CG_MAX_RANK];
  for (int d = 0; d < rank; d++) od[d] = dims[perm[d]];
  int x = cgt_tensor(c, dt, CG_IN, dims, rank), y = cgt_tensor(c, dt, CG_OUT, od, rank);
  int n = cgt_node(c, CG_TRANSPOSE, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, perm, n_perm);
}

static void build_transpose(void) {
  transpose_case("inj_tr_rows", CG_F32, CGT_D(3, 4, 8), CGT_IA(1, 0, 2));
  transpose_case("inj_tr_tiled_f32", CG_F32, CGT_D(5, 37, 70), CGT_IA(0, 2, 1));
  transpose_case("inj_tr_nchw_nhwc_f16", CG_F16, CGT_D(2, 3, 40, 33), CGT_IA(0, 2, 3, 1));
  transpose_case("inj_tr_210_i64", CG_I64, CGT_D(7, 5, 9), CGT_IA(2, 1, 0));
  transpose_case("inj_tr_unit_dims_bf16", CG_BF16, CGT_D(1, 6, 1, 10), CGT_IA(3, 2, 0, 1));
  transpose_case("inj_tr_identity", CG_F32, CGT_D(4, 6), CGT_IA(0, 1));
  transpose_case("inj_tr_rank5", CG_F32, CGT_D(2, 3, 4, 5, 6), CGT_IA(0, 3, 1, 4, 2));
}

static void build_parts(void) {
  cgt_case *c = cgt_new("inj_concat_axis1");
  int a = CGT_T(c, CG_F32, CG_IN, 2, 4, 6), b = CGT_T(c, CG_F32, CG_IN, 2, 5, 6), d = CGT_T(c, CG_F32, CG_IN, 2, 8, 6);
  int y = CGT_T(c, CG_F32, CG_OUT, 2, 17, 6);
  int n = cgt_node(c, CG_CONCAT, CGT_L(a, b, d), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));

  c = cgt_new("inj_concat_i64_axis0");
  a = CGT_T(c, CG_I64, CG_IN, 3, 5);
  b = CGT_T(c, CG_I64, CG_IN, 1, 5);
  y = CGT_T(c, CG_I64, CG_OUT, 4, 5);
  n = cgt_node(c, CG_CONCAT, CGT_L(a, b), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0));

  c = cgt_new("inj_concat_f16_last");
  a = CGT_T(c, CG_F16, CG_IN, 3, 16);
  b = CGT_T(c, CG_F16, CG_IN, 3, 8);
  d = CGT_T(c, CG_F16, CG_IN, 3, 3);
  y = CGT_T(c, CG_F16, CG_OUT, 3, 27);
  n = cgt_node(c, CG_CONCAT, CGT_L(a, b, d), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));

  c = cgt_new("inj_concat_empty_part");
  a = CGT_T(c, CG_F32, CG_IN, 2, 0, 3);
  b = CGT_T(c, CG_F32, CG_IN, 2, 4, 3);
  y = CGT_T(c, CG_F32, CG_OUT, 2, 4, 3);
  n = cgt_node(c, CG_CONCAT, CGT_L(a, b), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));

  c = cgt_new("inj_split_f16");
  a = CGT_T(c, CG_F16, CG_IN, 2, 3, 24);
  int p0 = CGT_T(c, CG_F16, CG_OUT, 2, 3, 8), p1 = CGT_T(c, CG_F16, CG_OUT, 2, 3, 5), p2 = CGT_T(c, CG_F16, CG_OUT, 2, 3, 11);
  n = cgt_node(c, CG_SPLIT, CGT_L(a), CGT_L(p0, p1, p2));
  cgt_ia(c, n, CGT_IA(2));

  c = cgt_new("inj_split_f32_axis0");
  a = CGT_T(c, CG_F32, CG_IN, 6, 10);
  p0 = CGT_T(c, CG_F32, CG_OUT, 2, 10);
  p1 = CGT_T(c, CG_F32, CG_OUT, 4, 10);
  n = cgt_node(c, CG_SPLIT, CGT_L(a), CGT_L(p0, p1));
  cgt_ia(c, n, CGT_IA(0));
}

static void build_slice_pad(void) {
  /* starts (9, 1, 0), steps (-2, 3, 1): rows 9, 7, 5, 3, 1; columns 1, 4, 7, 10 */
  cgt_case *c = cgt_new("inj_slice_negstep");
  int x = CGT_T(c, CG_F32, CG_IN, 10, 12, 9), y = CGT_T(c, CG_F32, CG_OUT, 5, 4, 9);
  int n = cgt_node(c, CG_SLICE, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(9, 1, 0, -2, 3, 1));

  c = cgt_new("inj_slice_reverse_f16");
  x = CGT_T(c, CG_F16, CG_IN, 3, 20);
  y = CGT_T(c, CG_F16, CG_OUT, 3, 20);
  n = cgt_node(c, CG_SLICE, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0, 19, 1, -1));

  c = cgt_new("inj_slice_vec");
  x = CGT_T(c, CG_F32, CG_IN, 4, 16);
  y = CGT_T(c, CG_F32, CG_OUT, 3, 8);
  n = cgt_node(c, CG_SLICE, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1, 4, 1, 1));

  /* begin (1, -1, 2), end (0, 2, -3) on [4, 5, 6]: output [5, 6, 5] */
  c = cgt_new("inj_pad_neg_f32");
  x = CGT_T(c, CG_F32, CG_IN, 4, 5, 6);
  y = CGT_T(c, CG_F32, CG_OUT, 5, 6, 5);
  n = cgt_node(c, CG_PAD, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1, -1, 2, 0, 2, -3));
  cgt_fa(c, n, CGT_FA(1.5f));

  c = cgt_new("inj_pad_i64");
  x = CGT_T(c, CG_I64, CG_IN, 3, 4);
  y = CGT_T(c, CG_I64, CG_OUT, 5, 7);
  c->lo[x] = -100;
  c->hi[x] = 100;
  n = cgt_node(c, CG_PAD, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(2, 1, 0, 2));
  cgt_fa(c, n, CGT_FA(-3.7f)); /* int64 fill truncates to -3 */

  c = cgt_new("inj_pad_vec_bf16");
  x = CGT_T(c, CG_BF16, CG_IN, 2, 16);
  y = CGT_T(c, CG_BF16, CG_OUT, 2, 32);
  n = cgt_node(c, CG_PAD, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0, 8, 0, 8));
  cgt_fa(c, n, CGT_FA(-0.5f));

  c = cgt_new("inj_pad_1d_tail");
  x = CGT_T(c, CG_F32, CG_IN, 19);
  y = CGT_T(c, CG_F32, CG_OUT, 27);
  n = cgt_node(c, CG_PAD, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(4, 4));
  cgt_fa(c, n, CGT_FA(0.0f));

  c = cgt_new("inj_slice_step2_last");
  x = CGT_T(c, CG_F16, CG_IN, 3, 17);
  y = CGT_T(c, CG_F16, CG_OUT, 2, 8);
  n = cgt_node(c, CG_SLICE, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1, 1, 1, 2));

  c = cgt_new("inj_pad_all_fill_f16");
  x = CGT_T(c, CG_F16, CG_IN, 2, 3);
  y = CGT_T(c, CG_F16, CG_OUT, 2, 4);
  n = cgt_node(c, CG_PAD, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0, 4, 0, -3)); /* the whole input is cut away */
  cgt_fa(c, n, CGT_FA(2.0f));
}

static void build_gather(void) {
  cgt_case *c = cgt_new("inj_gather_axis1");
  int x = CGT_T(c, CG_F32, CG_IN, 3, 7, 5), i = CGT_T(c, CG_I64, CG_IN, 2, 4), y = CGT_T(c, CG_F32, CG_OUT, 3, 2, 4, 5);
  c->lo[i] = -7;
  c->hi[i] = 7;
  int n = cgt_node(c, CG_GATHER, CGT_L(x, i), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));

  c = cgt_new("inj_gather_i64_rows");
  x = CGT_T(c, CG_I64, CG_IN, 10, 3);
  i = CGT_T(c, CG_I64, CG_IN, 6);
  y = CGT_T(c, CG_I64, CG_OUT, 6, 3);
  c->lo[x] = -1000;
  c->hi[x] = 1000;
  c->lo[i] = -10;
  c->hi[i] = 10;
  n = cgt_node(c, CG_GATHER, CGT_L(x, i), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0));

  c = cgt_new("inj_gather_f16_embedding");
  x = CGT_T(c, CG_F16, CG_IN, 50, 32);
  i = CGT_T(c, CG_I64, CG_IN, 3, 5);
  y = CGT_T(c, CG_F16, CG_OUT, 3, 5, 32);
  c->lo[i] = 0;
  c->hi[i] = 50;
  n = cgt_node(c, CG_GATHER, CGT_L(x, i), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0));

  c = cgt_new("inj_gather_scalar_index");
  x = CGT_T(c, CG_F32, CG_IN, 4, 6);
  i = cgt_tensor(c, CG_I64, CG_IN, NULL, 0);
  y = CGT_T(c, CG_F32, CG_OUT, 4);
  c->lo[i] = -6;
  c->hi[i] = -5;
  n = cgt_node(c, CG_GATHER, CGT_L(x, i), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));

  c = cgt_new("inj_gather_out_of_range");
  x = CGT_T(c, CG_F32, CG_IN, 2, 5, 4);
  i = CGT_T(c, CG_I64, CG_IN, 12);
  y = CGT_T(c, CG_F32, CG_OUT, 2, 12, 4);
  c->lo[i] = -9;
  c->hi[i] = 9;
  c->expect_zero_rows = 1;
  n = cgt_node(c, CG_GATHER, CGT_L(x, i), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));
}

static void test_inj_copy(void) {
  cgt_check("inj_reshape_f32");
  cgt_check("inj_flatten_f16_unaligned");
  cgt_check("inj_identity_inplace");
  cgt_check("inj_squeeze_bf16");
  cgt_check("inj_unsqueeze_f32");
  cgt_check("inj_dropout_f32");
}

static void test_inj_transpose(void) {
  cgt_check("inj_tr_rows");
  cgt_check("inj_tr_tiled_f32");
  cgt_check("inj_tr_nchw_nhwc_f16");
  cgt_check("inj_tr_210_i64");
  cgt_check("inj_tr_unit_dims_bf16");
  cgt_check("inj_tr_identity");
  cgt_check("inj_tr_rank5");
}

static void test_inj_concat_split(void) {
  cgt_check("inj_concat_axis1");
  cgt_check("inj_concat_i64_axis0");
  cgt_check("inj_concat_f16_last");
  cgt_check("inj_concat_empty_part");
  cgt_check("inj_split_f16");
  cgt_check("inj_split_f32_axis0");
}

static void test_inj_slice_pad(void) {
  cgt_check("inj_slice_negstep");
  cgt_check("inj_slice_reverse_f16");
  cgt_check("inj_slice_vec");
  cgt_check("inj_pad_neg_f32");
  cgt_check("inj_pad_i64");
  cgt_check("inj_pad_vec_bf16");
  cgt_check("inj_pad_all_fill_f16");
  cgt_check("inj_pad_1d_tail");
  cgt_check("inj_slice_step2_last");
}

static void test_inj_gather(void) {
  cgt_check("inj_gather_axis1");
  cgt_check("inj_gather_i64_rows");
  cgt_check("inj_gather_f16_embedding");
  cgt_check("inj_gather_scalar_index");
  cgt_check("inj_gather_out_of_range");
}

CGT_BUILDERS(inj, build_copy, build_transpose, build_parts, build_slice_pad, build_gather)
TST_SUITE(codegen_inj, TST(test_inj_copy), TST(test_inj_transpose), TST(test_inj_concat_split),
          TST(test_inj_slice_pad), TST(test_inj_gather))
