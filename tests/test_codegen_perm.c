/*
 * test_codegen_perm.c: groups that end in a chain of Reshapes and Transposes
 * (a permuted store: the kernel computes each value at its own coordinates
 * and stores it where the chain moves it), through the shim against the CPU
 * kernels run node by node.
 *
 * ShuffleNet's channel shuffle at its exact shapes (Conv 1x1 group 4, bias,
 * Relu, Reshape [N, 4, C/4, H, W], Transpose [0, 2, 1, 3, 4]) on the FMA
 * and tensor-core conv kernels, float32, float16 and bfloat16, with the
 * Reshape back to NCHW also in the chain; a Conv straight into a Transpose
 * (NCHW -> NHWC), depthwise too; a Conv + MaxPool + Transpose; elementwise
 * groups whose chain leaves 16-byte stores, splits the innermost dim (each
 * element placed on its own) or coalesces into one dim with several digits
 * and a tail; Softmax, LayerNormalization, ReduceMean and MaxPool with a
 * chain; and what cg_supported refuses (a reshape whose dims do not split
 * or merge evenly, a permuted in-place output, a Transpose mid-group).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_codegen.h"
#include "tst.h"

/* Appends Reshape(cur -> rd) then Transpose(perm) -> the chain's output
 * (CG_OUT unless more follows). rd NULL: the Transpose alone. Returns the
 * Transpose's output. */
static int shuffle_tail(cgt_case *c, int cur, cg_dtype dt, const int64_t *rd, int rrank, const int64_t *perm,
                        int last) {
  const cg_tensor *X = &c->t[cur];
  int64_t td[CG_MAX_RANK];
  const int64_t *src = rd ? rd : X->dims;
  int rank = rd ? rrank : X->rank;
  if (rd) {
    int r = cgt_tensor(c, dt, CG_FUSED, rd, rrank);
    cgt_node(c, CG_RESHAPE, CGT_L(cur), CGT_L(r));
    cur = r;
  }
  for (int d = 0; d < rank; d++) td[d] = src[perm[d]];
  int y = cgt_tensor(c, dt, last ? CG_OUT : CG_FUSED, td, rank);
  int n = cgt_node(c, CG_TRANSPOSE, CGT_L(cur), CGT_L(y));
  cgt_ia(c, n, perm, rank);
  return y;
}

/* Conv 1x1 (group g, bias) + Relu + channel shuffle of g groups; with
 * back, the Reshape to NCHW ends the chain. */
static cgt_case *shuffle_case(const char *name, cg_dtype dt, int64_t N, int64_t C, int64_t M, int64_t HW, int64_t g,
                              int back) {
  cgt_case *c = cgt_new(name);
  int x = CGT_T(c, dt, CG_IN, N, C, HW, HW), w = CGT_T(c, dt, CG_IN, M, C / g, 1, 1), b = CGT_T(c, dt, CG_IN, M);
  c->lo[w] = -0.5f;
  c->hi[w] = 0.5f;
  int y = CGT_T(c, dt, CG_FUSED, N, M, HW, HW), r = CGT_T(c, dt, CG_FUSED, N, M, HW, HW);
  int n = cgt_node(c, CG_CONV, CGT_L(x, w, b), CGT_L(y));
  cgt_ia(c, n, CGT_IA(g, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0));
  cgt_node(c, CG_RELU, CGT_L(y), CGT_L(r));
  static const int64_t shuffle[5] = {0, 2, 1, 3, 4};
  int t = shuffle_tail(c, r, dt, (const int64_t[]){N, g, M / g, HW, HW}, 5, shuffle, !back);
  if (back) {
    int o = CGT_T(c, dt, CG_OUT, N, M, HW, HW);
    cgt_node(c, CG_RESHAPE, CGT_L(t), CGT_L(o));
  }
  c->atol = 1e-4;
  return c;
}

static void build_shuffle(void) {
  /* ShuffleNet's units: stage 1 (24 -> 112 at 56x56, N = 1), 2 (136 at
   * 28x28), 4 (544 at 7x7) */
  shuffle_case("perm_shuffle_s1", CG_F32, 1, 24, 112, 56, 4, 0);
  shuffle_case("perm_shuffle_s4_n2", CG_F32, 2, 544, 544, 7, 4, 0);
  shuffle_case("perm_shuffle_s2_back", CG_F32, 1, 136, 136, 28, 4, 1);
  shuffle_case("perm_shuffle_s2_f16", CG_F16, 1, 136, 136, 28, 4, 0);
  shuffle_case("perm_shuffle_s3_f16_back", CG_F16, 2, 272, 272, 14, 4, 1);
  shuffle_case("perm_shuffle_bf16_g8", CG_BF16, 1, 64, 128, 9, 8, 0);
}

/* Conv (bias) [+ Relu + MaxPool 2x2/2], then a Transpose to perm. */
static cgt_case *conv_t_case(const char *name, cg_dtype dt, const int64_t *xd, const int64_t *wd, const int64_t *cv,
                             const int64_t *yd, int pool, const int64_t *perm) {
  cgt_case *c = cgt_new(name);
  int x = cgt_tensor(c, dt, CG_IN, xd, 4), w = cgt_tensor(c, dt, CG_IN, wd, 4), b = cgt_tensor(c, dt, CG_IN, yd + 1, 1);
  c->lo[w] = -0.5f;
  c->hi[w] = 0.5f;
  c->atol = 1e-4;
  int y = cgt_tensor(c, dt, CG_FUSED, yd, 4);
  int n = cgt_node(c, CG_CONV, CGT_L(x, w, b), CGT_L(y));
  cgt_ia(c, n, cv, 11);
  if (pool) {
    int r = cgt_tensor(c, dt, CG_FUSED, yd, 4);
    cgt_node(c, CG_RELU, CGT_L(y), CGT_L(r));
    int p = CGT_T(c, dt, CG_FUSED, yd[0], yd[1], yd[2] / 2, yd[3] / 2);
    n = cgt_node(c, CG_MAX_POOL, CGT_L(r), CGT_L(p));
    cgt_ia(c, n, CGT_IA(2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0));
    y = p;
  }
  shuffle_tail(c, y, dt, NULL, 0, perm, 1);
  return c;
}

static void build_conv_transpose(void) {
  static const int64_t nhwc[4] = {0, 2, 3, 1}, whcn[4] = {3, 2, 1, 0};
  conv_t_case("perm_conv_nhwc", CG_F32, (const int64_t[]){2, 5, 9, 7}, (const int64_t[]){12, 5, 3, 3},
              (const int64_t[]){1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, (const int64_t[]){2, 12, 9, 7}, 0, nhwc);
  conv_t_case("perm_conv_dw_nhwc_f16", CG_F16, (const int64_t[]){1, 16, 7, 9}, (const int64_t[]){16, 1, 3, 3},
              (const int64_t[]){16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, (const int64_t[]){1, 16, 7, 9}, 0, nhwc);
  conv_t_case("perm_conv_wmma_whcn_f16", CG_F16, (const int64_t[]){2, 16, 6, 5}, (const int64_t[]){32, 16, 3, 3},
              (const int64_t[]){1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, (const int64_t[]){2, 32, 6, 5}, 0, whcn);
  conv_t_case("perm_conv_pool_nhwc", CG_F32, (const int64_t[]){1, 8, 10, 10}, (const int64_t[]){16, 8, 3, 3},
              (const int64_t[]){1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, (const int64_t[]){1, 16, 10, 10}, 1, nhwc);
}

/* Elementwise groups with a chain. */
static void build_elementwise(void) {
  /* x + per-channel b, Relu, shuffle: H*W stays innermost, 16-byte stores */
  cgt_case *c = cgt_new("perm_ew_shuffle_vec");
  int x = CGT_T(c, CG_F32, CG_IN, 2, 12, 5, 8), b = CGT_T(c, CG_F32, CG_IN, 12, 1, 1);
  int s = CGT_T(c, CG_F32, CG_FUSED, 2, 12, 5, 8), r = CGT_T(c, CG_F32, CG_FUSED, 2, 12, 5, 8);
  cgt_node(c, CG_ADD, CGT_L(x, b), CGT_L(s));
  cgt_node(c, CG_RELU, CGT_L(s), CGT_L(r));
  shuffle_tail(c, r, CG_F32, (const int64_t[]){2, 3, 4, 5, 8}, 5, (const int64_t[]){0, 2, 1, 3, 4}, 1);

  /* the innermost dim split by the reshape: each element placed on its own */
  c = cgt_new("perm_ew_split_inner");
  x = CGT_T(c, CG_F32, CG_IN, 6, 10);
  s = CGT_T(c, CG_F32, CG_FUSED, 6, 10);
  cgt_node(c, CG_SIGMOID, CGT_L(x), CGT_L(s));
  shuffle_tail(c, s, CG_F32, (const int64_t[]){6, 2, 5}, 3, (const int64_t[]){0, 2, 1}, 1);

  /* float16, one coalesced dim of 105 (13 chunks of 8 and a tail) whose
   * store has two digits */
  c = cgt_new("perm_ew_onedim_tail_f16");
  x = CGT_T(c, CG_F16, CG_IN, 3, 7, 5);
  s = CGT_T(c, CG_F16, CG_FUSED, 3, 7, 5);
  cgt_node(c, CG_NEG, CGT_L(x), CGT_L(s));
  shuffle_tail(c, s, CG_F16, (const int64_t[]){21, 5}, 2, (const int64_t[]){1, 0}, 1);

  /* the permuted value also stored as it is */
  c = cgt_new("perm_ew_both_outputs");
  x = CGT_T(c, CG_F32, CG_IN, 4, 6, 10);
  int x2 = CGT_T(c, CG_F32, CG_IN, 6, 1);
  int y = CGT_T(c, CG_F32, CG_OUT, 4, 6, 10);
  cgt_node(c, CG_MUL, CGT_L(x, x2), CGT_L(y));
  shuffle_tail(c, y, CG_F32, NULL, 0, (const int64_t[]){2, 0, 1}, 1);

  /* Squeeze, Transpose, Unsqueeze, Flatten */
  c = cgt_new("perm_ew_squeeze_chain");
  x = CGT_T(c, CG_F32, CG_IN, 1, 4, 6);
  s = CGT_T(c, CG_F32, CG_FUSED, 1, 4, 6);
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(s));
  int q = CGT_T(c, CG_F32, CG_FUSED, 4, 6);
  int n = cgt_node(c, CG_SQUEEZE, CGT_L(s), CGT_L(q));
  cgt_ia(c, n, CGT_IA(0));
  int t = shuffle_tail(c, q, CG_F32, NULL, 0, (const int64_t[]){1, 0}, 0);
  int u = CGT_T(c, CG_F32, CG_FUSED, 6, 1, 4);
  n = cgt_node(c, CG_UNSQUEEZE, CGT_L(t), CGT_L(u));
  cgt_ia(c, n, CGT_IA(1));
  int o = CGT_T(c, CG_F32, CG_OUT, 6, 4);
  n = cgt_node(c, CG_FLATTEN, CGT_L(u), CGT_L(o));
  cgt_ia(c, n, CGT_IA(1));
}

/* Reductions and pooling with a chain. */
static void build_reduce(void) {
  /* BERT's head transposition after a softmax: 16-byte stores */
  cgt_case *c = cgt_new("perm_softmax_heads");
  int x = CGT_T(c, CG_F32, CG_IN, 2, 3, 5, 24);
  int p = CGT_T(c, CG_F32, CG_FUSED, 2, 3, 5, 24);
  int n = cgt_node(c, CG_SOFTMAX, CGT_L(x), CGT_L(p));
  cgt_ia(c, n, CGT_IA(3));
  shuffle_tail(c, p, CG_F32, NULL, 0, (const int64_t[]){0, 2, 1, 3}, 1);
  c->atol = c->rtol = 2e-5;

  /* LayerNormalization, then a shuffle of its rows, float16 */
  c = cgt_new("perm_layernorm_shuffle_f16");
  x = CGT_T(c, CG_F16, CG_IN, 2, 8, 6);
  int g = CGT_T(c, CG_F16, CG_IN, 6), b = CGT_T(c, CG_F16, CG_IN, 6);
  p = CGT_T(c, CG_F16, CG_FUSED, 2, 8, 6);
  n = cgt_node(c, CG_LAYER_NORM, CGT_L(x, g, b), CGT_L(p));
  cgt_ia(c, n, CGT_IA(2));
  cgt_fa(c, n, CGT_FA(1e-5f));
  shuffle_tail(c, p, CG_F16, (const int64_t[]){2, 2, 4, 6}, 4, (const int64_t[]){0, 2, 1, 3}, 1);

  /* one value per segment: ReduceMean (keepdims), Relu, transposed */
  c = cgt_new("perm_reduce_mean_t");
  x = CGT_T(c, CG_F32, CG_IN, 4, 6, 10);
  p = CGT_T(c, CG_F32, CG_FUSED, 4, 6, 1);
  n = cgt_node(c, CG_REDUCE_MEAN, CGT_L(x), CGT_L(p));
  cgt_ia(c, n, CGT_IA(1, 2));
  int r = CGT_T(c, CG_F32, CG_FUSED, 4, 6, 1);
  cgt_node(c, CG_RELU, CGT_L(p), CGT_L(r));
  shuffle_tail(c, r, CG_F32, NULL, 0, (const int64_t[]){2, 1, 0}, 1);

  /* MaxPool 3x3/2 pad 1, regrouped channels and positions transposed */
  c = cgt_new("perm_maxpool_regroup");
  x = CGT_T(c, CG_F32, CG_IN, 1, 6, 9, 9);
  p = CGT_T(c, CG_F32, CG_FUSED, 1, 6, 5, 5);
  n = cgt_node(c, CG_MAX_POOL, CGT_L(x), CGT_L(p));
  cgt_ia(c, n, CGT_IA(3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0));
  shuffle_tail(c, p, CG_F32, (const int64_t[]){1, 2, 3, 25}, 4, (const int64_t[]){0, 3, 2, 1}, 1);
}

static void test_perm_shuffle(void) {
  cgt_check("perm_shuffle_s1");
  cgt_check("perm_shuffle_s4_n2");
  cgt_check("perm_shuffle_s2_back");
  cgt_check("perm_shuffle_s2_f16");
  cgt_check("perm_shuffle_s3_f16_back");
  cgt_check("perm_shuffle_bf16_g8");
  /* the shuffled store: channel m of group m / 28 lands at (m % 28) * 4 + m / 28 */
  const cgt_case *c = cgt_find("perm_shuffle_s1");
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_EQUAL(c->launch.n_args, 4); /* X, W, B, the shuffled output: nothing else stored */
  const char *src = cgt_program_source(c->prog);
  CU_ASSERT_PTR_NOT_NULL(strstr(src, "(mo % 28) * 12544 + (mo / 28) * 3136"));
}

static void test_perm_conv(void) {
  cgt_check("perm_conv_nhwc");
  cgt_check("perm_conv_dw_nhwc_f16");
  cgt_check("perm_conv_wmma_whcn_f16");
  cgt_check("perm_conv_pool_nhwc");
}

/* The source of one kernel in its program. */
static char *kernel_src(const char *name) {
  const cgt_case *c = cgt_find(name);
  if (!c) return NULL;
  const char *src = cgt_program_source(c->prog);
  char head[160];
  snprintf(head, sizeof head, " %s(", c->launch.name);
  const char *k = strstr(src, head);
  if (!k) return NULL;
  const char *e = strstr(k + 1, "extern \"C\"");
  size_t n = e ? (size_t)(e - k) : strlen(k);
  char *out = malloc(n + 1);
  memcpy(out, k, n);
  out[n] = 0;
  return out;
}

static void test_perm_elementwise(void) {
  cgt_check("perm_ew_shuffle_vec");
  cgt_check("perm_ew_split_inner");
  cgt_check("perm_ew_onedim_tail_f16");
  cgt_check("perm_ew_both_outputs");
  cgt_check("perm_ew_squeeze_chain");
  /* 16-byte stores where the permutation keeps 4 elements together, one
   * element at a time where the reshape splits the innermost dim */
  char *k1 = kernel_src("perm_ew_shuffle_vec"), *k2 = kernel_src("perm_ew_split_inner");
  CU_ASSERT_PTR_NOT_NULL_FATAL(k1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(k2);
  CU_ASSERT_PTR_NOT_NULL(strstr(k1, "cg_stv4_f32(p"));
  CU_ASSERT_PTR_NULL(strstr(k2, "cg_stv"));
  CU_ASSERT_PTR_NOT_NULL(strstr(k2, "+ j)"));
  free(k1);
  free(k2);
}

static void test_perm_reduce(void) {
  cgt_check("perm_softmax_heads");
  cgt_check("perm_layernorm_shuffle_f16");
  cgt_check("perm_reduce_mean_t");
  cgt_check("perm_maxpool_regroup");
}

static cgt_case *scratch(const char *name) {
  static cgt_case c;
  memset(&c, 0, sizeof c);
  snprintf(c.name, sizeof c.name, "%s", name);
  return &c;
}

static void refused(cgt_case *c, const char *needle) {
  cg_group g = {c->name, c->t, c->nt, c->n, c->nn, {{0}}, 0};
  memcpy(g.inplace, c->inplace, sizeof g.inplace);
  g.n_inplace = c->ninp;
  char why[256] = "";
  int ok = cg_supported(&g, why, sizeof why);
  CU_ASSERT_FALSE(ok);
  if (!ok && !strstr(why, needle)) {
    fprintf(stderr, "%s: reason '%s' lacks '%s'\n", c->name, why, needle);
    CU_FAIL("reason");
  }
}

static void test_perm_refused(void) {
  /* [1, 6, 4] -> [1, 4, 6]: no dim boundary of one shape falls on the other's */
  cgt_case *c = scratch("uneven");
  int x = CGT_T(c, CG_F32, CG_IN, 1, 6, 4), s = CGT_T(c, CG_F32, CG_FUSED, 1, 6, 4);
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(s));
  shuffle_tail(c, s, CG_F32, (const int64_t[]){1, 4, 6}, 3, (const int64_t[]){0, 2, 1}, 1);
  refused(c, "evenly");

  /* a permuted output over the input */
  c = scratch("perm_inplace");
  x = CGT_T(c, CG_F32, CG_IN, 4, 4);
  s = CGT_T(c, CG_F32, CG_FUSED, 4, 4);
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(s));
  int y = shuffle_tail(c, s, CG_F32, NULL, 0, (const int64_t[]){1, 0}, 1);
  cgt_inplace(c, y, x);
  refused(c, "in place");

  /* a Transpose between elementwise nodes */
  c = scratch("perm_mid");
  x = CGT_T(c, CG_F32, CG_IN, 4, 5);
  s = CGT_T(c, CG_F32, CG_FUSED, 4, 5);
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(s));
  int t = shuffle_tail(c, s, CG_F32, NULL, 0, (const int64_t[]){1, 0}, 0);
  y = CGT_T(c, CG_F32, CG_OUT, 5, 4);
  cgt_node(c, CG_NEG, CGT_L(t), CGT_L(y));
  refused(c, "alone");

  /* a Transpose of a kernel input (not of a value the kernel computes) */
  c = scratch("perm_of_input");
  x = CGT_T(c, CG_F32, CG_IN, 4, 5);
  y = CGT_T(c, CG_F32, CG_OUT, 4, 5);
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(y));
  shuffle_tail(c, x, CG_F32, NULL, 0, (const int64_t[]){1, 0}, 1);
  refused(c, "computes");

  /* the chain's value broadcast over the space (smaller than another output) */
  c = scratch("perm_bcast_src");
  x = CGT_T(c, CG_F32, CG_IN, 4, 5);
  int b = CGT_T(c, CG_F32, CG_IN, 5);
  y = CGT_T(c, CG_F32, CG_OUT, 4, 5);
  cgt_node(c, CG_ADD, CGT_L(x, b), CGT_L(y));
  s = CGT_T(c, CG_F32, CG_FUSED, 5);
  cgt_node(c, CG_NEG, CGT_L(b), CGT_L(s));
  int r = CGT_T(c, CG_F32, CG_FUSED, 1, 5);
  cgt_node(c, CG_RESHAPE, CGT_L(s), CGT_L(r));
  shuffle_tail(c, r, CG_F32, NULL, 0, (const int64_t[]){1, 0}, 1);
  refused(c, "whole iteration space");
}

CGT_BUILDERS(perm, build_shuffle, build_conv_transpose, build_elementwise, build_reduce)
TST_SUITE(codegen_perm, TST(test_perm_shuffle), TST(test_perm_conv), TST(test_perm_elementwise),
          TST(test_perm_reduce), TST(test_perm_refused))
