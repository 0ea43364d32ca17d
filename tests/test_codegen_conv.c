/*
 * test_codegen_conv.c: Conv through the shim against the CPU kernel, on all
 * three generated kernels: the float32 implicit GEMM (1x1, 3x3, strides,
 * dilations, asymmetric pads, groups, every row-tile height, more than one
 * tile per dim), the depthwise kernel (with a channel multiplier and
 * dilation) and the tensor-core kernel (float16, bfloat16, tf32; emulated
 * WMMA on the CPU); with a BatchNormalization + Relu/Clip prologue whose
 * value at 0 is not 0 (so padding must be zero after it) and a residual
 * epilogue written in place.
 */
#include "test_codegen.h"
#include "tst.h"

/* Conv(X, W[, B]) -> Y; returns the case. attrs: group, kh, kw, sh, sw, dh,
 * dw, pads t l b r. */
static cgt_case *conv_case(const char *name, cg_dtype xdt, cg_dtype ydt, const int64_t *xd, const int64_t *wd,
                           const int64_t *yd, const int64_t *ia, int bias) {
  cgt_case *c = cgt_new(name);
  int x = cgt_tensor(c, xdt, CG_IN, xd, 4), w = cgt_tensor(c, xdt, CG_IN, wd, 4);
  int y = cgt_tensor(c, ydt, CG_OUT, yd, 4);
  c->lo[w] = -0.5f;
  c->hi[w] = 0.5f;
  c->atol = 1e-4; /* sums of a few hundred products, in another order */
  int n;
  if (bias) {
    int b = CGT_T(c, xdt, CG_IN, yd[1]);
    n = cgt_node(c, CG_CONV, CGT_L(x, w, b), CGT_L(y));
  } else {
    n = cgt_node(c, CG_CONV, CGT_L(x, w), CGT_L(y));
  }
  cgt_ia(c, n, ia, 11);
  return c;
}

static void build_fma(void) {
  conv_case("conv_3x3_bias", CG_F32, CG_F32, (const int64_t[]){2, 5, 9, 9},
            (const int64_t[]){8, 5, 3, 3}, (const int64_t[]){2, 8, 9, 9},
            (const int64_t[]){1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 1);
  conv_case("conv_stride_dil_asym", CG_F32, CG_F32, (const int64_t[]){1, 6, 12, 11}, (const int64_t[]){20, 6, 3, 2},
            (const int64_t[]){1, 20, 6, 11}, (const int64_t[]){1, 3, 2, 2, 1, 2, 1, 1, 0, 2, 1}, 0);
  conv_case("conv_grouped", CG_F32, CG_F32, (const int64_t[]){2, 8, 7, 7}, (const int64_t[]){12, 4, 3, 3},
            (const int64_t[]){2, 12, 7, 7}, (const int64_t[]){2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 1);
  conv_case("conv_1x1_two_row_tiles", CG_F32, CG_F32, (const int64_t[]){1, 32, 6, 6}, (const int64_t[]){96, 32, 1, 1},
            (const int64_t[]){1, 96, 6, 6}, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, 1);
  conv_case("conv_m24_many_cols", CG_F32, CG_F32, (const int64_t[]){3, 3, 13, 14}, (const int64_t[]){24, 3, 5, 5},
            (const int64_t[]){3, 24, 5, 6}, (const int64_t[]){1, 5, 5, 2, 2, 1, 1, 0, 1, 0, 0}, 1);
  conv_case("conv_f16_out_mixed", CG_F32, CG_F16, (const int64_t[]){1, 4, 6, 6}, (const int64_t[]){6, 4, 3, 3},
            (const int64_t[]){1, 6, 4, 4}, (const int64_t[]){1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0}, 0);
}

static void build_depthwise(void) {
  conv_case("conv_dw_s2", CG_F32, CG_F32, (const int64_t[]){2, 6, 10, 10}, (const int64_t[]){6, 1, 3, 3},
            (const int64_t[]){2, 6, 5, 5}, (const int64_t[]){6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, 1);
  conv_case("conv_dw_mult_dil", CG_F32, CG_F32, (const int64_t[]){1, 4, 9, 8}, (const int64_t[]){8, 1, 3, 3},
            (const int64_t[]){1, 8, 9, 8}, (const int64_t[]){4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2}, 0);
  conv_case("conv_dw_f16", CG_F16, CG_F16, (const int64_t[]){1, 16, 7, 7}, (const int64_t[]){16, 1, 5, 5},
            (const int64_t[]){1, 16, 7, 7}, (const int64_t[]){16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2}, 1);
}

static void build_tensor_cores(void) {
  conv_case("conv_wmma_f16", CG_F16, CG_F16, (const int64_t[]){1, 16, 8, 8}, (const int64_t[]){32, 16, 3, 3},
            (const int64_t[]){1, 32, 8, 8}, (const int64_t[]){1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 1);
  conv_case("conv_wmma_bf16_s2", CG_BF16, CG_F32, (const int64_t[]){2, 8, 6, 6}, (const int64_t[]){16, 8, 3, 3},
            (const int64_t[]){2, 16, 3, 3}, (const int64_t[]){1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, 0);
  cgt_case *c = conv_case("conv_wmma_tf32", CG_F32, CG_F32, (const int64_t[]){1, 12, 7, 7},
                          (const int64_t[]){80, 12, 3, 3}, (const int64_t[]){1, 80, 7, 7},
                          (const int64_t[]){1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 1);
  c->tf32 = 1;
  c->atol = c->rtol = 1e-2; /* 10-bit mantissas */
  /* a float32 conv in the tf32 program that stays exact: depthwise */
  c = conv_case("conv_tf32_prog_dw_exact", CG_F32, CG_F32, (const int64_t[]){1, 3, 5, 5}, (const int64_t[]){3, 1, 3, 3},
                (const int64_t[]){1, 3, 5, 5}, (const int64_t[]){3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, 0);
  c->tf32 = 1;

  /* grouped, f16, Relu prologue and residual epilogue */
  c = cgt_new("conv_wmma_grouped_pro_epi");
  int x = CGT_T(c, CG_F16, CG_IN, 1, 32, 5, 5), w = CGT_T(c, CG_F16, CG_IN, 32, 16, 1, 1);
  int r = CGT_T(c, CG_F16, CG_IN, 1, 32, 5, 5);
  int f = CGT_T(c, CG_F16, CG_FUSED, 1, 32, 5, 5), g = CGT_T(c, CG_F16, CG_FUSED, 1, 32, 5, 5);
  int y = CGT_T(c, CG_F16, CG_OUT, 1, 32, 5, 5);
  c->lo[w] = -0.3f;
  c->hi[w] = 0.3f;
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(f));
  int n = cgt_node(c, CG_CONV, CGT_L(f, w), CGT_L(g));
  cgt_ia(c, n, CGT_IA(2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0));
  cgt_node(c, CG_ADD, CGT_L(g, r), CGT_L(y));
}

/* BN + Relu (or Clip) prologue on X, Conv, + residual, Relu; in place. The
 * BN shift makes the prologue non-zero at X = 0: padding must stay 0. */
static void pro_epi_case(const char *name, cg_op act, int depthwise) {
  cgt_case *c = cgt_new(name);
  int64_t C = 6, M = depthwise ? 6 : 10;
  int x = CGT_T(c, CG_F32, CG_IN, 2, C, 7, 7);
  int s = CGT_T(c, CG_F32, CG_IN, C), b = CGT_T(c, CG_F32, CG_IN, C), m = CGT_T(c, CG_F32, CG_IN, C);
  int v = CGT_T(c, CG_F32, CG_IN, C);
  c->lo[v] = 0.3f;
  c->lo[b] = 0.5f; /* shift > 0: relu(bn(0)) is usually not 0 */
  int w = depthwise ? CGT_T(c, CG_F32, CG_IN, M, 1, 3, 3) : CGT_T(c, CG_F32, CG_IN, M, C, 3, 3);
  int bias = CGT_T(c, CG_F32, CG_IN, M), r = CGT_T(c, CG_F32, CG_IN, 2, M, 7, 7);
  c->lo[w] = -0.5f;
  c->hi[w] = 0.5f;
  int f = CGT_T(c, CG_F32, CG_FUSED, 2, C, 7, 7), g = CGT_T(c, CG_F32, CG_FUSED, 2, C, 7, 7);
  int h = CGT_T(c, CG_F32, CG_FUSED, 2, M, 7, 7), k = CGT_T(c, CG_F32, CG_FUSED, 2, M, 7, 7);
  int y = CGT_T(c, CG_F32, CG_OUT, 2, M, 7, 7);
  c->atol = 1e-4;
  int n = cgt_node(c, CG_BATCH_NORM, CGT_L(x, s, b, m, v), CGT_L(f));
  cgt_fa(c, n, CGT_FA(1e-5f));
  n = cgt_node(c, act, CGT_L(f), CGT_L(g));
  if (act == CG_CLIP) cgt_fa(c, n, CGT_FA(0.0f, 6.0f));
  n = cgt_node(c, CG_CONV, CGT_L(g, w, bias), CGT_L(h));
  cgt_ia(c, n, CGT_IA(depthwise ? C : 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1));
  cgt_node(c, CG_ADD, CGT_L(h, r), CGT_L(k));
  cgt_node(c, CG_RELU, CGT_L(k), CGT_L(y));
  cgt_inplace(c, y, r);
}

static void build_fused(void) {
  pro_epi_case("conv_bn_relu_residual", CG_RELU, 0);
  pro_epi_case("conv_bn_clip_residual_dw", CG_CLIP, 1);
}

static void test_conv_fma(void) {
  cgt_check("conv_3x3_bias");
  cgt_check("conv_stride_dil_asym");
  cgt_check("conv_grouped");
  cgt_check("conv_1x1_two_row_tiles");
  cgt_check("conv_m24_many_cols");
  cgt_check("conv_f16_out_mixed");
}

static void test_conv_depthwise(void) {
  cgt_check("conv_dw_s2");
  cgt_check("conv_dw_mult_dil");
  cgt_check("conv_dw_f16");
}

static void test_conv_tensor_cores(void) {
  cgt_check("conv_wmma_f16");
  cgt_check("conv_wmma_bf16_s2");
  cgt_check("conv_wmma_tf32");
  cgt_check("conv_tf32_prog_dw_exact");
  cgt_check("conv_wmma_grouped_pro_epi");
}

static void test_conv_fused(void) {
  cgt_check("conv_bn_relu_residual");
  cgt_check("conv_bn_clip_residual_dw");
}

CGT_BUILDERS(conv, build_fma, build_depthwise, build_tensor_cores, build_fused)
TST_SUITE(codegen_conv, TST(test_conv_fma), TST(test_conv_depthwise), TST(test_conv_tensor_cores),
          TST(test_conv_fused))
