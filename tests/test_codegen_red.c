/*
 * test_codegen_red.c: reduction anchors through the shim against the CPU
 * kernels: Softmax / LogSoftmax on the last, a middle and a rank-0 axis, with
 * every kernel shape (a thread, a warp or a block per segment, values in
 * registers or re-read per pass); LayerNormalization with Mean / InvStdDev
 * outputs, broadcast scale, no bias, a residual prologue and in place;
 * ReduceMean / Sum / Max over tails, middles and separated axes, keepdims
 * both ways, a size-1 axis; GlobalAverage/MaxPool with prologue and epilogue
 * (a squeeze-and-excitation gate); float16 / bfloat16 storage.
 */
#include "test_codegen.h"
#include "tst.h"

static void softmax_case(const char *name, cg_op op, cg_dtype dt, const int64_t *dims, int rank, int64_t axis) {
  cgt_case *c = cgt_new(name);
  int x = cgt_tensor(c, dt, CG_IN, dims, rank), y = cgt_tensor(c, dt, CG_OUT, dims, rank);
  c->lo[x] = -6;
  c->hi[x] = 6;
  int n = cgt_node(c, op, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(axis));
}

static void build_softmax(void) {
  softmax_case("red_softmax_warp", CG_SOFTMAX, CG_F32, CGT_D(6, 100), 1);
  softmax_case("red_softmax_mid_cols", CG_SOFTMAX, CG_F32, CGT_D(3, 50, 7), 1);
  softmax_case("red_softmax_mid_cached", CG_SOFTMAX, CG_F32, CGT_D(4, 10, 12), 1);
  softmax_case("red_logsoftmax_block", CG_LOG_SOFTMAX, CG_F32, CGT_D(2, 3000), 1);
  softmax_case("red_softmax_uncached", CG_SOFTMAX, CG_F32, CGT_D(1, 40000), 1);
  softmax_case("red_logsoftmax_mid_uncached", CG_LOG_SOFTMAX, CG_F32, CGT_D(2, 40, 3), 1);
  softmax_case("red_logsoftmax_f16", CG_LOG_SOFTMAX, CG_F16, CGT_D(5, 64), 1);
  softmax_case("red_softmax_bf16_tiny_rows", CG_SOFTMAX, CG_BF16, CGT_D(40, 6), 1);
  softmax_case("red_softmax_axis0", CG_SOFTMAX, CG_F32, CGT_D(7, 9), 0);
  softmax_case("red_softmax_unit_inner", CG_SOFTMAX, CG_F32, CGT_D(4, 50, 1), 1);
  cgt_case *c = cgt_new("red_softmax_rank0");
  int x = cgt_tensor(c, CG_F32, CG_IN, NULL, 0), y = cgt_tensor(c, CG_F32, CG_OUT, NULL, 0);
  int n = cgt_node(c, CG_SOFTMAX, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0));

  /* attention: scores * scale + mask, softmax, then * a per-column weight;
   * the probabilities are stored too */
  c = cgt_new("red_softmax_pro_epi");
  x = CGT_T(c, CG_F32, CG_IN, 2, 4, 8, 40);
  int s = cgt_tensor(c, CG_F32, CG_IN, NULL, 0), mask = CGT_T(c, CG_F32, CG_IN, 8, 40);
  int w = CGT_T(c, CG_F32, CG_IN, 40);
  int f = CGT_T(c, CG_F32, CG_FUSED, 2, 4, 8, 40), g = CGT_T(c, CG_F32, CG_FUSED, 2, 4, 8, 40);
  y = CGT_T(c, CG_F32, CG_OUT, 2, 4, 8, 40);
  int z = CGT_T(c, CG_F32, CG_OUT, 2, 4, 8, 40);
  cgt_node(c, CG_MUL, CGT_L(x, s), CGT_L(f));
  cgt_node(c, CG_ADD, CGT_L(f, mask), CGT_L(g));
  n = cgt_node(c, CG_SOFTMAX, CGT_L(g), CGT_L(y));
  cgt_ia(c, n, CGT_IA(3));
  cgt_node(c, CG_MUL, CGT_L(y, w), CGT_L(z));

  /* in place over its input, axis in the middle with a fused epilogue */
  c = cgt_new("red_softmax_inplace_cols");
  x = CGT_T(c, CG_F32, CG_IN, 3, 20, 16);
  f = CGT_T(c, CG_F32, CG_FUSED, 3, 20, 16);
  y = CGT_T(c, CG_F32, CG_OUT, 3, 20, 16);
  n = cgt_node(c, CG_SOFTMAX, CGT_L(x), CGT_L(f));
  cgt_ia(c, n, CGT_IA(1));
  cgt_node(c, CG_SQRT, CGT_L(f), CGT_L(y));
  cgt_inplace(c, y, x);
}

static void build_layernorm(void) {
  cgt_case *c = cgt_new("red_ln_stats");
  int x = CGT_T(c, CG_F32, CG_IN, 4, 7, 64), s = CGT_T(c, CG_F32, CG_IN, 64), b = CGT_T(c, CG_F32, CG_IN, 64);
  int y = CGT_T(c, CG_F32, CG_OUT, 4, 7, 64), m = CGT_T(c, CG_F32, CG_OUT, 4, 7, 1), iv = CGT_T(c, CG_F32, CG_OUT, 4, 7, 1);
  int n = cgt_node(c, CG_LAYER_NORM, CGT_L(x, s, b), CGT_L(y, m, iv));
  cgt_ia(c, n, CGT_IA(2));
  cgt_fa(c, n, CGT_FA(1e-5f));

  /* h = x + r; y = Gelu(LN(h)) written over x */
  c = cgt_new("red_ln_residual_inplace");
  x = CGT_T(c, CG_F32, CG_IN, 3, 5, 96);
  int r = CGT_T(c, CG_F32, CG_IN, 3, 5, 96);
  s = CGT_T(c, CG_F32, CG_IN, 96);
  b = CGT_T(c, CG_F32, CG_IN, 96);
  int h = CGT_T(c, CG_F32, CG_FUSED, 3, 5, 96), l = CGT_T(c, CG_F32, CG_FUSED, 3, 5, 96);
  y = CGT_T(c, CG_F32, CG_OUT, 3, 5, 96);
  cgt_node(c, CG_ADD, CGT_L(x, r), CGT_L(h));
  n = cgt_node(c, CG_LAYER_NORM, CGT_L(h, s, b), CGT_L(l));
  cgt_ia(c, n, CGT_IA(2));
  cgt_fa(c, n, CGT_FA(1e-5f));
  n = cgt_node(c, CG_GELU, CGT_L(l), CGT_L(y));
  cgt_ia(c, n, CGT_IA(0));
  cgt_inplace(c, y, x);

  /* two normalized axes, scale over both, no bias, an unaligned input */
  c = cgt_new("red_ln_two_axes_nobias");
  x = CGT_T(c, CG_F32, CG_IN, 2, 6, 10);
  s = CGT_T(c, CG_F32, CG_IN, 6, 10);
  y = CGT_T(c, CG_F32, CG_OUT, 2, 6, 10);
  c->t[x].align = 4;
  n = cgt_node(c, CG_LAYER_NORM, CGT_L(x, s, -1), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));
  cgt_fa(c, n, CGT_FA(1e-3f));

  c = cgt_new("red_ln_axis0");
  x = CGT_T(c, CG_F32, CG_IN, 3, 4, 5);
  s = CGT_T(c, CG_F32, CG_IN, 5);
  b = CGT_T(c, CG_F32, CG_IN, 4, 1);
  y = CGT_T(c, CG_F32, CG_OUT, 3, 4, 5);
  iv = CGT_T(c, CG_F32, CG_OUT, 1, 1, 1);
  n = cgt_node(c, CG_LAYER_NORM, CGT_L(x, s, b), CGT_L(y, -1, iv));
  cgt_ia(c, n, CGT_IA(0));
  cgt_fa(c, n, CGT_FA(1e-5f));

  c = cgt_new("red_ln_block_f16");
  x = CGT_T(c, CG_F16, CG_IN, 2, 5000);
  s = CGT_T(c, CG_F16, CG_IN, 5000);
  b = CGT_T(c, CG_F32, CG_IN, 5000);
  y = CGT_T(c, CG_F16, CG_OUT, 2, 5000);
  n = cgt_node(c, CG_LAYER_NORM, CGT_L(x, s, b), CGT_L(y));
  cgt_ia(c, n, CGT_IA(1));
  cgt_fa(c, n, CGT_FA(1e-5f));

  /* an fp16 plan's layer: float32 in, cast to float16 (one-input Sum),
   * LayerNorm in float16, cast back to the float32 output, written over
   * the input */
  c = cgt_new("red_ln_casts_f16_inplace");
  x = CGT_T(c, CG_F32, CG_IN, 6, 384);
  s = CGT_T(c, CG_F16, CG_IN, 384);
  b = CGT_T(c, CG_F16, CG_IN, 384);
  h = CGT_T(c, CG_F16, CG_FUSED, 6, 384);
  l = CGT_T(c, CG_F16, CG_FUSED, 6, 384);
  y = CGT_T(c, CG_F32, CG_OUT, 6, 384);
  cgt_node(c, CG_SUM, CGT_L(x), CGT_L(h));
  n = cgt_node(c, CG_LAYER_NORM, CGT_L(h, s, b), CGT_L(l));
  cgt_ia(c, n, CGT_IA(1));
  cgt_fa(c, n, CGT_FA(1e-5f));
  cgt_node(c, CG_SUM, CGT_L(l), CGT_L(y));
  cgt_inplace(c, y, x);

  c = cgt_new("red_ln_uncached");
  x = CGT_T(c, CG_F32, CG_IN, 1, 36000);
  s = CGT_T(c, CG_F32, CG_IN, 36000);
  b = CGT_T(c, CG_F32, CG_IN, 36000);
  y = CGT_T(c, CG_F32, CG_OUT, 1, 36000);
  m = CGT_T(c, CG_F32, CG_OUT, 1, 1);
  n = cgt_node(c, CG_LAYER_NORM, CGT_L(x, s, b), CGT_L(y, m));
  cgt_ia(c, n, CGT_IA(1));
  cgt_fa(c, n, CGT_FA(1e-5f));
}

static void reduce_case(const char *name, cg_op op, cg_dtype dt, const int64_t *dims, int rank,
                        const int64_t *ia, int n_ia, const int64_t *odims, int orank) {
  cgt_case *c = cgt_new(name);
  int x = cgt_tensor(c, dt, CG_IN, dims, rank), y = cgt_tensor(c, dt, CG_OUT, odims, orank);
  int n = cgt_node(c, op, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, ia, n_ia);
}

static void build_reduce(void) {
  reduce_case("red_mean_tail", CG_REDUCE_MEAN, CG_F32, CGT_D(6, 5, 33), CGT_IA(1, 2), CGT_D(6, 5, 1));
  reduce_case("red_sum_mid", CG_REDUCE_SUM, CG_F32, CGT_D(4, 20, 9), CGT_IA(0, 1), CGT_D(4, 9));
  reduce_case("red_max_separated", CG_REDUCE_MAX, CG_F32, CGT_D(3, 4, 5, 6), CGT_IA(0, 1, 3), CGT_D(3, 5));
  reduce_case("red_sum_separated_inner_kept", CG_REDUCE_SUM, CG_F32, CGT_D(4, 3, 5, 6), CGT_IA(1, 0, 2), CGT_D(1, 3, 1, 6));
  reduce_case("red_mean_all_block", CG_REDUCE_MEAN, CG_F32, CGT_D(20, 3000), CGT_IA(0, 0, 1), CGT_D(1));
  reduce_case("red_sum_size1_axis", CG_REDUCE_SUM, CG_F32, CGT_D(5, 1, 7), CGT_IA(1, 1), CGT_D(5, 1, 7));
  reduce_case("red_max_f16", CG_REDUCE_MAX, CG_F16, CGT_D(7, 48), CGT_IA(0, 1), CGT_D(7));
  reduce_case("red_mean_bf16_vec", CG_REDUCE_MEAN, CG_BF16, CGT_D(3, 256), CGT_IA(1, 1), CGT_D(3, 1));
  reduce_case("red_sum_separated_block", CG_REDUCE_SUM, CG_F32, CGT_D(3, 64, 5, 64), CGT_IA(0, 1, 3), CGT_D(3, 5));
  reduce_case("red_gap", CG_GLOBAL_AVERAGE_POOL, CG_F32, CGT_D(2, 5, 9, 9), CGT_IA(0), CGT_D(2, 5, 1, 1));
  reduce_case("red_gmp_rank3", CG_GLOBAL_MAX_POOL, CG_F32, CGT_D(2, 3, 50), CGT_IA(0), CGT_D(2, 3, 1));

  /* squeeze-and-excitation gate: Relu prologue, mean, * w, Sigmoid */
  cgt_case *c = cgt_new("red_gap_se");
  int x = CGT_T(c, CG_F32, CG_IN, 2, 16, 7, 7), w = CGT_T(c, CG_F32, CG_IN, 16, 1, 1);
  int f = CGT_T(c, CG_F32, CG_FUSED, 2, 16, 7, 7), g = CGT_T(c, CG_F32, CG_FUSED, 2, 16, 1, 1);
  int h = CGT_T(c, CG_F32, CG_FUSED, 2, 16, 1, 1), y = CGT_T(c, CG_F32, CG_OUT, 2, 16, 1, 1);
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(f));
  cgt_node(c, CG_GLOBAL_AVERAGE_POOL, CGT_L(f), CGT_L(g));
  cgt_node(c, CG_MUL, CGT_L(g, w), CGT_L(h));
  cgt_node(c, CG_SIGMOID, CGT_L(h), CGT_L(y));

  /* ReduceMax with the raw maximum also stored, and a prologue */
  c = cgt_new("red_max_pro_epi");
  x = CGT_T(c, CG_F32, CG_IN, 8, 70);
  w = CGT_T(c, CG_F32, CG_IN, 70);
  f = CGT_T(c, CG_F32, CG_FUSED, 8, 70);
  g = CGT_T(c, CG_F32, CG_OUT, 8, 1);
  y = CGT_T(c, CG_F32, CG_OUT, 8, 1);
  cgt_node(c, CG_MUL, CGT_L(x, w), CGT_L(f));
  int n = cgt_node(c, CG_REDUCE_MAX, CGT_L(f), CGT_L(g));
  cgt_ia(c, n, CGT_IA(1, 1));
  cgt_node(c, CG_EXP, CGT_L(g), CGT_L(y));
}

static void test_softmax(void) {
  cgt_check("red_softmax_warp");
  cgt_check("red_softmax_mid_cols");
  cgt_check("red_softmax_mid_cached");
  cgt_check("red_logsoftmax_block");
  cgt_check("red_softmax_uncached");
  cgt_check("red_logsoftmax_mid_uncached");
  cgt_check("red_logsoftmax_f16");
  cgt_check("red_softmax_bf16_tiny_rows");
  cgt_check("red_softmax_axis0");
  cgt_check("red_softmax_unit_inner");
  cgt_check("red_softmax_rank0");
  cgt_check("red_softmax_pro_epi");
  cgt_check("red_softmax_inplace_cols");
}

static void test_layernorm(void) {
  cgt_check("red_ln_stats");
  cgt_check("red_ln_residual_inplace");
  cgt_check("red_ln_two_axes_nobias");
  cgt_check("red_ln_axis0");
  cgt_check("red_ln_block_f16");
  cgt_check("red_ln_casts_f16_inplace");
  cgt_check("red_ln_uncached");
}

static void test_reduce(void) {
  cgt_check("red_mean_tail");
  cgt_check("red_sum_mid");
  cgt_check("red_max_separated");
  cgt_check("red_sum_separated_inner_kept");
  cgt_check("red_mean_all_block");
  cgt_check("red_sum_size1_axis");
  cgt_check("red_max_f16");
  cgt_check("red_mean_bf16_vec");
  cgt_check("red_sum_separated_block");
  cgt_check("red_gap");
  cgt_check("red_gmp_rank3");
  cgt_check("red_gap_se");
  cgt_check("red_max_pro_epi");
}

CGT_BUILDERS(red, build_softmax, build_layernorm, build_reduce)
TST_SUITE(codegen_red, TST(test_softmax), TST(test_layernorm), TST(test_reduce))
