/*
 * test_codegen_ew.c: elementwise groups through the shim against the CPU
 * kernels: every unary and binary op, NumPy broadcasting both ways, rank-0
 * scalars, variadic Sum/Max/Min, BatchNormalization (channel in the middle
 * and innermost), DAGs with several outputs and fused intermediates, an
 * output smaller than the iteration space, float16/bfloat16 storage, odd
 * sizes (vector tails), unaligned bases and in-place outputs.
 */
#include "test_codegen.h"
#include "tst.h"

/* x -> one output per unary op (one kernel, many outputs). */
static void unary_case(const char *name, cg_dtype dt, float lo, float hi, int64_t n0, int64_t n1, uint32_t align) {
  cgt_case *c = cgt_new(name);
  int x = CGT_T(c, dt, CG_IN, n0, n1);
  c->lo[x] = lo;
  c->hi[x] = hi;
  c->t[x].align = align;
  static const cg_op ops[] = {CG_ABS, CG_NEG, CG_RELU, CG_LEAKY_RELU, CG_SIGMOID, CG_TANH, CG_GELU, CG_GELU,
                              CG_ERF, CG_EXP, CG_CLIP, CG_CLIP, CG_HARD_SIGMOID, CG_HARD_SWISH, CG_SOFTPLUS,
                              CG_IDENTITY, CG_DROPOUT};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    int y = CGT_T(c, dt, CG_OUT, n0, n1);
    c->t[y].align = align;
    int n = cgt_node(c, ops[k], CGT_L(x), CGT_L(y));
    switch (ops[k]) {
    case CG_LEAKY_RELU: cgt_fa(c, n, CGT_FA(0.1f)); break;
    case CG_GELU: cgt_ia(c, n, CGT_IA(k == 7)); break; /* erf form, then tanh form */
    case CG_CLIP:
      if (k == 10) cgt_fa(c, n, CGT_FA(-0.5f, 1.5f));
      else cgt_fa(c, n, CGT_FA(-INFINITY, 0.25f)); /* Clip without min */
      break;
    case CG_HARD_SIGMOID: cgt_fa(c, n, CGT_FA(0.2f, 0.5f)); break;
    default: break;
    }
  }
}

static void build_unary(void) {
  unary_case("ew_unary_f32", CG_F32, -4, 4, 7, 64, 16);
  unary_case("ew_unary_odd_unaligned", CG_F32, -4, 4, 3, 337, 4);
  unary_case("ew_unary_f16", CG_F16, -4, 4, 5, 48, 16);
  unary_case("ew_unary_bf16", CG_BF16, -4, 4, 3, 40, 16);
  /* Log, Sqrt, Reciprocal want positive inputs */
  cgt_case *c = cgt_new("ew_unary_pos");
  int x = CGT_T(c, CG_F32, CG_IN, 1003);
  c->lo[x] = 0.05f;
  c->hi[x] = 5;
  const cg_op ops[] = {CG_LOG, CG_SQRT, CG_RECIPROCAL};
  for (int k = 0; k < 3; k++) {
    int y = CGT_T(c, CG_F32, CG_OUT, 1003);
    cgt_node(c, ops[k], CGT_L(x), CGT_L(y));
  }
}

static void binary_case(const char *name, cg_dtype dt) {
  cgt_case *c = cgt_new(name);
  int a = CGT_T(c, dt, CG_IN, 4, 1, 36), b = CGT_T(c, dt, CG_IN, 3, 1);
  c->lo[b] = 0.25f; /* keep Div away from 0 */
  const cg_op ops[] = {CG_ADD, CG_SUB, CG_MUL, CG_DIV, CG_MAX, CG_MIN};
  for (int k = 0; k < 6; k++) {
    int y = CGT_T(c, dt, CG_OUT, 4, 3, 36);
    cgt_node(c, ops[k], CGT_L(a, b), CGT_L(y));
  }
  /* the broadcast operand first, too */
  int y = CGT_T(c, dt, CG_OUT, 4, 3, 36);
  cgt_node(c, CG_SUB, CGT_L(b, a), CGT_L(y));
}

static void build_binary(void) {
  binary_case("ew_binary_f32", CG_F32);
  binary_case("ew_binary_f16", CG_F16);
  cgt_case *c = cgt_new("ew_pow");
  int a = CGT_T(c, CG_F32, CG_IN, 6, 10), b = CGT_T(c, CG_F32, CG_IN, 6, 10), s = CGT_T(c, CG_F32, CG_IN, 1);
  int y = CGT_T(c, CG_F32, CG_OUT, 6, 10), z = CGT_T(c, CG_F32, CG_OUT, 6, 10);
  c->lo[a] = 0.1f;
  c->hi[a] = 3;
  cgt_node(c, CG_POW, CGT_L(a, b), CGT_L(y));
  cgt_node(c, CG_POW, CGT_L(a, s), CGT_L(z)); /* scalar exponent, broadcast */
  /* a rank-0 scalar operand, and a row broadcast along the innermost dim */
  c = cgt_new("ew_scalar_rank0");
  a = CGT_T(c, CG_F32, CG_IN, 5, 24);
  s = cgt_tensor(c, CG_F32, CG_IN, NULL, 0);
  b = CGT_T(c, CG_F32, CG_IN, 5, 1);
  int f = CGT_T(c, CG_F32, CG_FUSED, 5, 24);
  y = CGT_T(c, CG_F32, CG_OUT, 5, 24);
  cgt_node(c, CG_MUL, CGT_L(a, s), CGT_L(f));
  cgt_node(c, CG_ADD, CGT_L(f, b), CGT_L(y));
}

static void build_variadic(void) {
  cgt_case *c = cgt_new("ew_variadic");
  int a = CGT_T(c, CG_F32, CG_IN, 2, 3, 8), b = CGT_T(c, CG_F32, CG_IN, 3, 1), d = CGT_T(c, CG_F32, CG_IN, 8);
  int e = CGT_T(c, CG_F32, CG_IN, 2, 3, 8);
  int y0 = CGT_T(c, CG_F32, CG_OUT, 2, 3, 8), y1 = CGT_T(c, CG_F32, CG_OUT, 2, 3, 8);
  int y2 = CGT_T(c, CG_F32, CG_OUT, 2, 3, 8), y3 = CGT_T(c, CG_F32, CG_OUT, 2, 3, 8);
  cgt_node(c, CG_SUM, CGT_L(a, b, d, e), CGT_L(y0));
  cgt_node(c, CG_MAX, CGT_L(a, b, d), CGT_L(y1));
  cgt_node(c, CG_MIN, CGT_L(e, d, a), CGT_L(y2));
  cgt_node(c, CG_SUM, CGT_L(a), CGT_L(y3));
}

/* BatchNormalization -> Relu -> + residual, with the pre-activation also
 * stored, and a per-channel output (std) smaller than the space. */
static void build_bn(void) {
  cgt_case *c = cgt_new("ew_bn_dag");
  int x = CGT_T(c, CG_F32, CG_IN, 2, 6, 7, 5);
  int s = CGT_T(c, CG_F32, CG_IN, 6), bb = CGT_T(c, CG_F32, CG_IN, 6), m = CGT_T(c, CG_F32, CG_IN, 6);
  int v = CGT_T(c, CG_F32, CG_IN, 6), r = CGT_T(c, CG_F32, CG_IN, 2, 6, 7, 5);
  c->lo[v] = 0.2f;
  int bn = CGT_T(c, CG_F32, CG_OUT, 2, 6, 7, 5), act = CGT_T(c, CG_F32, CG_FUSED, 2, 6, 7, 5);
  int y = CGT_T(c, CG_F32, CG_OUT, 2, 6, 7, 5);
  int n = cgt_node(c, CG_BATCH_NORM, CGT_L(x, s, bb, m, v), CGT_L(bn));
  cgt_fa(c, n, CGT_FA(1e-5f));
  cgt_node(c, CG_RELU, CGT_L(bn), CGT_L(act));
  cgt_node(c, CG_ADD, CGT_L(act, r), CGT_L(y));

  /* channel innermost ([N, C]): parameters load as vectors */
  c = cgt_new("ew_bn_2d");
  x = CGT_T(c, CG_F32, CG_IN, 9, 32);
  s = CGT_T(c, CG_F32, CG_IN, 32), bb = CGT_T(c, CG_F32, CG_IN, 32), m = CGT_T(c, CG_F32, CG_IN, 32);
  v = CGT_T(c, CG_F32, CG_IN, 32);
  c->lo[v] = 0.2f;
  y = CGT_T(c, CG_F16, CG_OUT, 9, 32);
  n = cgt_node(c, CG_BATCH_NORM, CGT_L(x, s, bb, m, v), CGT_L(y));
  cgt_fa(c, n, CGT_FA(1e-3f));

  /* an output of a smaller shape: t = sqrt(var) is [C], y = x / t */
  c = cgt_new("ew_small_output");
  x = CGT_T(c, CG_F32, CG_IN, 4, 3, 10);
  v = CGT_T(c, CG_F32, CG_IN, 3, 1);
  c->lo[v] = 0.5f;
  int t = CGT_T(c, CG_F32, CG_OUT, 3, 1);
  y = CGT_T(c, CG_F32, CG_OUT, 4, 3, 10);
  cgt_node(c, CG_SQRT, CGT_L(v), CGT_L(t));
  cgt_node(c, CG_DIV, CGT_L(x, t), CGT_L(y));
}

/* Mixed dtypes, vector widths, alignment, in-place. */
static void build_layout(void) {
  cgt_case *c = cgt_new("ew_mixed_dtypes");
  int a = CGT_T(c, CG_F16, CG_IN, 16, 40), b = CGT_T(c, CG_BF16, CG_IN, 40), d = CGT_T(c, CG_F32, CG_IN, 16, 1);
  int f = CGT_T(c, CG_F32, CG_FUSED, 16, 40), y = CGT_T(c, CG_F16, CG_OUT, 16, 40), z = CGT_T(c, CG_F32, CG_OUT, 16, 40);
  cgt_node(c, CG_MUL, CGT_L(a, b), CGT_L(f));
  cgt_node(c, CG_ADD, CGT_L(f, d), CGT_L(y));
  cgt_node(c, CG_TANH, CGT_L(f), CGT_L(z));

  c = cgt_new("ew_inplace_residual");
  a = CGT_T(c, CG_F32, CG_IN, 3, 128);
  b = CGT_T(c, CG_F32, CG_IN, 3, 128);
  f = CGT_T(c, CG_F32, CG_FUSED, 3, 128);
  y = CGT_T(c, CG_F32, CG_OUT, 3, 128);
  cgt_node(c, CG_SIGMOID, CGT_L(a), CGT_L(f));
  cgt_node(c, CG_MUL, CGT_L(f, b), CGT_L(y));
  cgt_inplace(c, y, a);

  c = cgt_new("ew_inplace_f16_odd");
  a = CGT_T(c, CG_F16, CG_IN, 1001);
  b = CGT_T(c, CG_F16, CG_IN, 1);
  y = CGT_T(c, CG_F16, CG_OUT, 1001);
  cgt_node(c, CG_SUB, CGT_L(a, b), CGT_L(y));
  cgt_inplace(c, y, a);

  c = cgt_new("ew_unaligned_mix");
  a = CGT_T(c, CG_F32, CG_IN, 8, 64);
  b = CGT_T(c, CG_F32, CG_IN, 8, 64);
  y = CGT_T(c, CG_F32, CG_OUT, 8, 64);
  c->t[a].align = 4; /* scalar loads for a, vectors for b and y */
  c->t[y].align = 8; /* 8-byte aligned: element-wise stores */
  cgt_node(c, CG_ADD, CGT_L(a, b), CGT_L(y));

  /* rank 5, broadcast both ways on alternate dims: nothing merges */
  c = cgt_new("ew_rank5_bcast");
  a = CGT_T(c, CG_F32, CG_IN, 2, 1, 3, 1, 5);
  b = CGT_T(c, CG_F32, CG_IN, 1, 4, 1, 6, 1);
  y = CGT_T(c, CG_F32, CG_OUT, 2, 4, 3, 6, 5);
  cgt_node(c, CG_MUL, CGT_L(a, b), CGT_L(y));

  /* no elements at all: an empty kernel */
  c = cgt_new("ew_empty");
  a = CGT_T(c, CG_F32, CG_IN, 0, 5);
  y = CGT_T(c, CG_F32, CG_OUT, 0, 5);
  cgt_node(c, CG_EXP, CGT_L(a), CGT_L(y));

  c = cgt_new("ew_large_grid_stride");
  a = CGT_T(c, CG_F32, CG_IN, 70000);
  y = CGT_T(c, CG_F32, CG_OUT, 70000);
  int n = cgt_node(c, CG_CLIP, CGT_L(a), CGT_L(y));
  cgt_fa(c, n, CGT_FA(-1.0f, 1.0f));
}

static void test_ew_unary(void) {
  cgt_check("ew_unary_f32");
  cgt_check("ew_unary_odd_unaligned");
  cgt_check("ew_unary_f16");
  cgt_check("ew_unary_bf16");
  cgt_check("ew_unary_pos");
}

static void test_ew_binary(void) {
  cgt_check("ew_binary_f32");
  cgt_check("ew_binary_f16");
  cgt_check("ew_pow");
  cgt_check("ew_scalar_rank0");
  cgt_check("ew_variadic");
}

static void test_ew_bn_dag(void) {
  cgt_check("ew_bn_dag");
  cgt_check("ew_bn_2d");
  cgt_check("ew_small_output");
}

static void test_ew_layout(void) {
  cgt_check("ew_mixed_dtypes");
  cgt_check("ew_inplace_residual");
  cgt_check("ew_inplace_f16_odd");
  cgt_check("ew_unaligned_mix");
  cgt_check("ew_large_grid_stride");
  cgt_check("ew_empty");
  cgt_check("ew_rank5_bcast");
}

CGT_BUILDERS(ew, build_unary, build_binary, build_variadic, build_bn, build_layout)
TST_SUITE(codegen_ew, TST(test_ew_unary), TST(test_ew_binary), TST(test_ew_bn_dag), TST(test_ew_layout))
