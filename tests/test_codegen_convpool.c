/*
 * test_codegen_convpool.c: a Conv with its pooling and/or LRN in one kernel
 * (the conv's output at full resolution never stored), through the shim
 * against the CPU kernels run node by node: VGG-style 3x3 conv + Relu +
 * MaxPool 2x2/2; AlexNet-style strided conv + Relu + LRN + MaxPool 3x3/2,
 * also with groups; ResNet-style 7x7/2 conv + affine + Relu + MaxPool 3x3/2
 * pad 1; AveragePool with count_include_pad both ways, asymmetric pads and
 * ceil_mode sizes; LRN alone after a conv; more than one 64-row channel
 * block; an epilogue after the pooling written in place over a residual;
 * float16 and bfloat16 on tensor cores, tf32; and what cg_supported refuses.
 */
#include <stdio.h>
#include <string.h>

#include "test_codegen.h"
#include "tst.h"

typedef struct cp_spec {
  const char *name;
  cg_dtype dt, ydt;
  int64_t x[4], w[4], y[4]; /* X, W, conv output */
  int64_t conv[11];
  int bias, relu, affine;   /* bias input, Relu after the conv, per-channel Mul+Add before it */
  int lrn;                  /* LRN size (0: none) */
  float lrn_beta;
  cg_op pool;               /* CG_MAX_POOL, CG_AVERAGE_POOL, or CG_IDENTITY for none */
  int64_t pool_ia[11];
  int64_t py[4];            /* pooled output */
  int epi;                  /* Sigmoid after the pooling, then + residual in place */
} cp_spec;

static cgt_case *cp_case(const cp_spec *s) {
  cgt_case *c = cgt_new(s->name);
  int x = cgt_tensor(c, s->dt, CG_IN, s->x, 4), w = cgt_tensor(c, s->dt, CG_IN, s->w, 4);
  c->lo[w] = -0.5f;
  c->hi[w] = 0.5f;
  c->atol = 1e-4;
  int last_is_conv = s->pool == CG_IDENTITY && !s->lrn && !s->relu && !s->affine && !s->epi;
  int y = cgt_tensor(c, last_is_conv ? s->ydt : CG_F32, last_is_conv ? CG_OUT : CG_FUSED, s->y, 4);
  int n;
  if (s->bias) {
    int b = cgt_tensor(c, s->dt, CG_IN, &s->y[1], 1);
    n = cgt_node(c, CG_CONV, CGT_L(x, w, b), CGT_L(y));
  } else {
    n = cgt_node(c, CG_CONV, CGT_L(x, w), CGT_L(y));
  }
  cgt_ia(c, n, s->conv, 11);
  int cur = y;
  /* the elementwise tail of each stage is fused, the last value the output */
  int more = s->affine + s->relu + (s->lrn != 0) + (s->pool != CG_IDENTITY) + s->epi;
#define NEXT(dims) (--more, cgt_tensor(c, more ? CG_F32 : s->ydt, more ? CG_FUSED : CG_OUT, (dims), 4))
  if (s->affine) {
    int64_t cd[4] = {s->y[1], 1, 1};
    int sc = cgt_tensor(c, s->dt, CG_IN, cd, 3), sh = cgt_tensor(c, s->dt, CG_IN, cd, 3);
    int t = cgt_tensor(c, CG_F32, CG_FUSED, s->y, 4);
    cgt_node(c, CG_MUL, CGT_L(cur, sc), CGT_L(t));
    int u = NEXT(s->y);
    cgt_node(c, CG_ADD, CGT_L(t, sh), CGT_L(u));
    cur = u;
  }
  if (s->relu) {
    int u = NEXT(s->y);
    cgt_node(c, CG_RELU, CGT_L(cur), CGT_L(u));
    cur = u;
  }
  if (s->lrn) {
    int u = NEXT(s->y);
    n = cgt_node(c, CG_LRN, CGT_L(cur), CGT_L(u));
    cgt_ia(c, n, CGT_IA(s->lrn));
    cgt_fa(c, n, CGT_FA(1e-2f, s->lrn_beta, 1.5f));
    cur = u;
  }
  if (s->pool != CG_IDENTITY) {
    int u = NEXT(s->py);
    n = cgt_node(c, s->pool, CGT_L(cur), CGT_L(u));
    cgt_ia(c, n, s->pool_ia, 11);
    cur = u;
  }
  if (s->epi) {
    int t = cgt_tensor(c, CG_F32, CG_FUSED, s->py, 4);
    cgt_node(c, CG_SIGMOID, CGT_L(cur), CGT_L(t));
    int r = cgt_tensor(c, s->ydt, CG_IN, s->py, 4);
    int u = NEXT(s->py);
    cgt_node(c, CG_ADD, CGT_L(t, r), CGT_L(u));
    cgt_inplace(c, u, r);
  }
#undef NEXT
  return c;
}

static cp_spec base(const char *name) {
  cp_spec s;
  memset(&s, 0, sizeof s);
  s.name = name;
  s.dt = s.ydt = CG_F32;
  s.pool = CG_IDENTITY;
  s.lrn_beta = 0.75f;
  return s;
}

#define SET4(a, ...) memcpy((a), (const int64_t[4]){__VA_ARGS__}, sizeof(int64_t[4]))
#define SET11(a, ...) memcpy((a), (const int64_t[11]){__VA_ARGS__}, sizeof(int64_t[11]))

static void build_convpool(void) {
  cp_spec s;
  /* VGG: 3x3 pad 1, bias, Relu, MaxPool 2x2/2 */
  s = base("cp_vgg");
  SET4(s.x, 2, 5, 12, 12), SET4(s.w, 24, 5, 3, 3), SET4(s.y, 2, 24, 12, 12);
  SET11(s.conv, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
  s.bias = s.relu = 1;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0);
  SET4(s.py, 2, 24, 6, 6);
  cp_case(&s);

  /* AlexNet conv1: 5x5/2, Relu, LRN 5, MaxPool 3x3/2 (overlapping windows) */
  s = base("cp_alexnet_lrn_pool");
  SET4(s.x, 1, 3, 23, 23), SET4(s.w, 20, 3, 5, 5), SET4(s.y, 1, 20, 10, 10);
  SET11(s.conv, 1, 5, 5, 2, 2, 1, 1, 0, 0, 0, 0);
  s.bias = s.relu = 1;
  s.lrn = 5;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0);
  SET4(s.py, 1, 20, 4, 4);
  cp_case(&s);

  /* AlexNet conv2: groups 2, pad 2, LRN 4 with beta 1, MaxPool 3x3/2 */
  s = base("cp_alexnet_grouped");
  SET4(s.x, 2, 8, 9, 9), SET4(s.w, 36, 4, 5, 5), SET4(s.y, 2, 36, 9, 9);
  SET11(s.conv, 2, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2);
  s.bias = s.relu = 1;
  s.lrn = 4;
  s.lrn_beta = 1.0f;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0);
  SET4(s.py, 2, 36, 4, 4);
  cp_case(&s);

  /* ResNet stem: 7x7/2 pad 3, affine (folded BatchNormalization), Relu,
   * MaxPool 3x3/2 pad 1 */
  s = base("cp_resnet_stem");
  SET4(s.x, 1, 3, 20, 20), SET4(s.w, 16, 3, 7, 7), SET4(s.y, 1, 16, 10, 10);
  SET11(s.conv, 1, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3);
  s.affine = s.relu = 1;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0);
  SET4(s.py, 1, 16, 5, 5);
  cp_case(&s);

  /* AveragePool 3x3/2, asymmetric pads, ceil_mode (the last window hangs
   * past the end), count_include_pad both ways */
  for (int cip = 0; cip < 2; cip++) {
    s = base(cip ? "cp_avg_ceil_cip" : "cp_avg_ceil");
    SET4(s.x, 2, 6, 10, 11), SET4(s.w, 10, 6, 3, 3), SET4(s.y, 2, 10, 10, 11);
    SET11(s.conv, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
    s.bias = 1;
    s.pool = CG_AVERAGE_POOL;
    SET11(s.pool_ia, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1, cip);
    SET4(s.py, 2, 10, 5, 6);
    cp_case(&s);
  }

  /* dilated pooling window, stride 1 (a 1x1 conv) */
  s = base("cp_pool_dilated");
  SET4(s.x, 1, 7, 9, 8), SET4(s.w, 12, 7, 1, 1), SET4(s.y, 1, 12, 9, 8);
  SET11(s.conv, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0);
  s.relu = 1;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 2, 3, 1, 2, 2, 1, 1, 1, 1, 1, 0);
  SET4(s.py, 1, 12, 9, 4);
  cp_case(&s);

  /* LRN alone after a conv, beta 0.5 */
  s = base("cp_lrn_only");
  SET4(s.x, 1, 4, 7, 7), SET4(s.w, 9, 4, 3, 3), SET4(s.y, 1, 9, 5, 5);
  SET11(s.conv, 1, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0);
  s.bias = s.relu = 1;
  s.lrn = 3;
  s.lrn_beta = 0.5f;
  cp_case(&s);

  /* 80 channels: two 64-row blocks; then Sigmoid + residual in place */
  s = base("cp_blocks_epi_inplace");
  SET4(s.x, 1, 6, 8, 8), SET4(s.w, 80, 6, 3, 3), SET4(s.y, 1, 80, 8, 8);
  SET11(s.conv, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
  s.bias = s.relu = 1;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0);
  SET4(s.py, 1, 80, 4, 4);
  s.epi = 1;
  cp_case(&s);

  /* tensor cores: float16 VGG block, bfloat16 LRN + pool, tf32 */
  s = base("cp_wmma_f16_vgg");
  s.dt = s.ydt = CG_F16;
  SET4(s.x, 1, 16, 10, 10), SET4(s.w, 32, 16, 3, 3), SET4(s.y, 1, 32, 10, 10);
  SET11(s.conv, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
  s.bias = s.relu = 1;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0);
  SET4(s.py, 1, 32, 5, 5);
  cp_case(&s);

  s = base("cp_wmma_bf16_lrn_pool");
  s.dt = CG_BF16;
  s.ydt = CG_F32;
  SET4(s.x, 2, 8, 11, 11), SET4(s.w, 24, 8, 3, 3), SET4(s.y, 2, 24, 5, 5);
  SET11(s.conv, 1, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0);
  s.bias = s.relu = 1;
  s.lrn = 5;
  s.pool = CG_MAX_POOL;
  SET11(s.pool_ia, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0);
  SET4(s.py, 2, 24, 3, 3);
  cp_case(&s)->atol = 1e-2;

  s = base("cp_wmma_tf32_avg");
  SET4(s.x, 1, 12, 6, 6), SET4(s.w, 20, 12, 3, 3), SET4(s.y, 1, 20, 6, 6);
  SET11(s.conv, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1);
  s.bias = 1;
  s.pool = CG_AVERAGE_POOL;
  SET11(s.pool_ia, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0);
  SET4(s.py, 1, 20, 3, 3);
  cgt_case *c = cp_case(&s);
  c->tf32 = 1;
  c->atol = c->rtol = 1e-2;
}

static void test_convpool_fma(void) {
  cgt_check("cp_vgg");
  cgt_check("cp_alexnet_lrn_pool");
  cgt_check("cp_alexnet_grouped");
  cgt_check("cp_resnet_stem");
  cgt_check("cp_avg_ceil");
  cgt_check("cp_avg_ceil_cip");
  cgt_check("cp_pool_dilated");
  cgt_check("cp_lrn_only");
  cgt_check("cp_blocks_epi_inplace");
}

static void test_convpool_wmma(void) {
  cgt_check("cp_wmma_f16_vgg");
  cgt_check("cp_wmma_bf16_lrn_pool");
  cgt_check("cp_wmma_tf32_avg");
}

static int supported(const cgt_case *c, char *why, size_t n) {
  cg_group g = {c->name, c->t, c->nt, c->n, c->nn, {{0}}, 0};
  memcpy(g.inplace, c->inplace, sizeof g.inplace);
  g.n_inplace = c->ninp;
  return cg_supported(&g, why, n);
}

static void refused(const cgt_case *c, const char *needle) {
  char why[256] = "";
  int ok = supported(c, why, sizeof why);
  CU_ASSERT_FALSE(ok);
  if (!ok && !strstr(why, needle)) {
    fprintf(stderr, "reason '%s' lacks '%s'\n", why, needle);
    CU_FAIL("reason");
  }
}

/* The conv's output never has a kernel argument; what cg_supported refuses. */
static void test_convpool_limits(void) {
  cgt_check("cp_vgg");
  const cgt_case *c = cgt_find("cp_alexnet_lrn_pool");
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_EQUAL(c->launch.n_args, 4); /* X, W, bias, pooled Y */
  CU_ASSERT(c->launch.shared_bytes > 0 && c->launch.shared_bytes <= 72 * 1024);
  static cgt_case m;
  /* the conv's output stored as well: no fused pooling */
  m = *cgt_find("cp_vgg");
  m.t[m.n[0].out[0]].role = CG_OUT;
  refused(&m, "stored");
  /* LRN after the pooling */
  m = *cgt_find("cp_vgg");
  int pooled = m.n[m.nn - 1].out[0];
  int t = m.nt++;
  m.t[t] = m.t[pooled];
  m.t[pooled].role = CG_FUSED;
  cg_node *l = &m.n[m.nn++];
  memset(l, 0, sizeof *l);
  l->op = CG_LRN;
  l->n_in = l->n_out = 1;
  l->in[0] = pooled;
  l->out[0] = t;
  l->n_ia = 1;
  l->ia[0] = 3;
  l->n_fa = 3;
  l->fa[1] = 0.75f;
  l->fa[2] = 1.0f;
  refused(&m, "LRN and then one pooling");
  /* an LRN over more channels than shared memory holds for a window */
  m = *cgt_find("cp_alexnet_lrn_pool");
  for (int i = 0; i < m.nt; i++)
    if (m.t[i].rank == 4 && m.t[i].dims[1] == 20) m.t[i].dims[1] = 4000;
  m.t[m.n[0].in[1]].dims[0] = 4000;
  m.t[m.n[0].in[2]].dims[0] = 4000;
  refused(&m, "shared memory");
}

CGT_BUILDERS(convpool, build_convpool)
TST_SUITE(codegen_convpool, TST(test_convpool_fma), TST(test_convpool_wmma), TST(test_convpool_limits))
