/*
 * test_codegen_pool.c: MaxPool / AveragePool and LRN through the shim
 * against the CPU kernels: strides, dilations, asymmetric pads, ceil_mode
 * output sizes (windows hanging past the end padding), count_include_pad
 * both ways, a BatchNormalization + Relu prologue and a bias + Sigmoid
 * epilogue, float16 storage; LRN with even and odd windows and each beta
 * shortcut (0.75, 0.5, 1) plus the general power.
 */
#include "test_codegen.h"
#include "tst.h"

static void pool_case(const char *name, cg_op op, const int64_t *xd, int xr, const int64_t *yd, int yr,
                      const int64_t *ia, int n_ia) {
  cgt_case *c = cgt_new(name);
  int x = cgt_tensor(c, CG_F32, CG_IN, xd, xr), y = cgt_tensor(c, CG_F32, CG_OUT, yd, yr);
  int n = cgt_node(c, op, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, ia, n_ia);
}

static void build_pool(void) {
  /*                                      kh kw sh sw dh dw pt pl pb pr cip */
  pool_case("pool_max_k3s2p1", CG_MAX_POOL, CGT_D(2, 3, 11, 11), CGT_D(2, 3, 6, 6),
            CGT_IA(3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0));
  pool_case("pool_max_ceil", CG_MAX_POOL, CGT_D(1, 2, 8, 8), CGT_D(1, 2, 4, 4),
            CGT_IA(3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0));
  pool_case("pool_max_dil", CG_MAX_POOL, CGT_D(1, 2, 9, 9), CGT_D(1, 2, 9, 9),
            CGT_IA(3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0));
  pool_case("pool_avg_asym", CG_AVERAGE_POOL, CGT_D(2, 3, 9, 10), CGT_D(2, 3, 5, 5),
            CGT_IA(3, 3, 2, 2, 1, 1, 1, 0, 2, 1, 0));
  pool_case("pool_avg_asym_cip", CG_AVERAGE_POOL, CGT_D(2, 3, 9, 10), CGT_D(2, 3, 5, 5),
            CGT_IA(3, 3, 2, 2, 1, 1, 1, 0, 2, 1, 1));
  pool_case("pool_avg_ceil_cip", CG_AVERAGE_POOL, CGT_D(1, 1, 6, 6), CGT_D(1, 1, 4, 4),
            CGT_IA(3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1));
  pool_case("pool_avg_dil_rect", CG_AVERAGE_POOL, CGT_D(1, 4, 10, 7), CGT_D(1, 4, 4, 7),
            CGT_IA(2, 3, 3, 1, 2, 1, 0, 1, 0, 1, 0));

  /* BatchNormalization + Relu before, + bias and Sigmoid after, float16 out */
  cgt_case *c = cgt_new("pool_pro_epi");
  int x = CGT_T(c, CG_F32, CG_IN, 2, 4, 8, 8);
  int s = CGT_T(c, CG_F32, CG_IN, 4), b = CGT_T(c, CG_F32, CG_IN, 4), m = CGT_T(c, CG_F32, CG_IN, 4);
  int v = CGT_T(c, CG_F32, CG_IN, 4), bias = CGT_T(c, CG_F32, CG_IN, 4, 1, 1);
  c->lo[v] = 0.3f;
  int f = CGT_T(c, CG_F32, CG_FUSED, 2, 4, 8, 8), g = CGT_T(c, CG_F32, CG_FUSED, 2, 4, 8, 8);
  int p = CGT_T(c, CG_F32, CG_FUSED, 2, 4, 4, 4), q = CGT_T(c, CG_F32, CG_FUSED, 2, 4, 4, 4);
  int y = CGT_T(c, CG_F16, CG_OUT, 2, 4, 4, 4);
  int n = cgt_node(c, CG_BATCH_NORM, CGT_L(x, s, b, m, v), CGT_L(f));
  cgt_fa(c, n, CGT_FA(1e-5f));
  cgt_node(c, CG_RELU, CGT_L(f), CGT_L(g));
  n = cgt_node(c, CG_AVERAGE_POOL, CGT_L(g), CGT_L(p));
  cgt_ia(c, n, CGT_IA(2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0));
  cgt_node(c, CG_ADD, CGT_L(p, bias), CGT_L(q));
  cgt_node(c, CG_SIGMOID, CGT_L(q), CGT_L(y));
}

static void lrn_case(const char *name, const int64_t *dims, int rank, int64_t size, float alpha, float beta, float bias) {
  cgt_case *c = cgt_new(name);
  int x = cgt_tensor(c, CG_F32, CG_IN, dims, rank), y = cgt_tensor(c, CG_F32, CG_OUT, dims, rank);
  int n = cgt_node(c, CG_LRN, CGT_L(x), CGT_L(y));
  cgt_ia(c, n, CGT_IA(size));
  cgt_fa(c, n, CGT_FA(alpha, beta, bias));
}

static void build_lrn(void) {
  lrn_case("lrn_s5_b075", CGT_D(2, 7, 5, 4), 5, 0.5f, 0.75f, 1.0f);
  lrn_case("lrn_s4_b05", CGT_D(1, 6, 9), 4, 0.2f, 0.5f, 2.0f);
  lrn_case("lrn_s3_b1", CGT_D(2, 5, 3, 3), 3, 1.0f, 1.0f, 1.5f);
  lrn_case("lrn_s2_bpow", CGT_D(1, 4, 2, 2, 3), 2, 0.3f, 0.6f, 1.0f);

  cgt_case *c = cgt_new("lrn_pro_epi");
  int x = CGT_T(c, CG_F32, CG_IN, 2, 6, 4, 4), r = CGT_T(c, CG_F32, CG_IN, 2, 6, 4, 4);
  int f = CGT_T(c, CG_F32, CG_FUSED, 2, 6, 4, 4), g = CGT_T(c, CG_F32, CG_FUSED, 2, 6, 4, 4);
  int y = CGT_T(c, CG_F32, CG_OUT, 2, 6, 4, 4);
  cgt_node(c, CG_RELU, CGT_L(x), CGT_L(f));
  int n = cgt_node(c, CG_LRN, CGT_L(f), CGT_L(g));
  cgt_ia(c, n, CGT_IA(3));
  cgt_fa(c, n, CGT_FA(1e-2f, 0.75f, 1.0f));
  cgt_node(c, CG_ADD, CGT_L(g, r), CGT_L(y));
  cgt_inplace(c, y, r); /* the epilogue's residual may be overwritten */
}

static void test_pool(void) {
  cgt_check("pool_max_k3s2p1");
  cgt_check("pool_max_ceil");
  cgt_check("pool_max_dil");
  cgt_check("pool_avg_asym");
  cgt_check("pool_avg_asym_cip");
  cgt_check("pool_avg_ceil_cip");
  cgt_check("pool_avg_dil_rect");
  cgt_check("pool_pro_epi");
}

static void test_lrn(void) {
  cgt_check("lrn_s5_b075");
  cgt_check("lrn_s4_b05");
  cgt_check("lrn_s3_b1");
  cgt_check("lrn_s2_bpow");
  cgt_check("lrn_pro_epi");
}

CGT_BUILDERS(pool, build_pool, build_lrn)
TST_SUITE(codegen_pool, TST(test_pool), TST(test_lrn))
