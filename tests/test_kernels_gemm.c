/*
 * test_kernels_gemm.c: rt_sgemm, MatMul and Gemm against a naive
 * double-precision triple loop written here, and against NumPy cases
 * (tests/fixtures/kernels/gemm.txt, made by gen_gemm_conv_fixtures.py).
 *
 * The sizes are picked to land on every edge of the blocking: thin operands
 * (the unpacked path), ragged register tiles, more rows than one A block,
 * more columns than one B block, depths of several k blocks. Each case runs
 * with every SGEMM micro-kernel this CPU supports ($DLC_SGEMM), since they
 * have different tile and block sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_kernels.h"
#include "kfix_text.h"
#include "tst.h"

/* Exactly the scratch a kernel asked for (64-byte aligned), so that the
 * sanitizers see any use past it. */
static void *scratch_alloc(size_t bytes) {
  void *p = NULL;
  CU_ASSERT_FATAL(posix_memalign(&p, 64, bytes ? bytes : 1) == 0);
  return p;
}

static const char *const isas[] = {"generic", "avx2", "avx512"};
#define N_ISAS 3

static void *scratch_for(const rt_pool *pool) {
  return scratch_alloc(rt_sgemm_scratch(pool));
}

/* C = alpha * op(A) op(B) + beta * C in double, beta == 0 ignoring C. */
static void naive_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                       float *c, int64_t ldc) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++)
        s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) *
             (double)(tb ? b[j * ldb + p] : b[p * ldb + j]);
      double old = beta == 0.0f ? 0.0 : (double)beta * c[i * ldc + j];
      c[i * ldc + j] = (float)(alpha * s + old);
    }
}

/* Run one rt_sgemm case (leading dims padded by `pad`) and compare with the
 * naive loop; the padding of C must be left alone. Returns the max error. */
static double check_sgemm(rt_pool *pool, int ta, int tb, int64_t m, int64_t n, int64_t k,
                          float alpha, float beta, int64_t pad, int nan_c) {
  int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  int64_t arows = ta ? k : m, brows = tb ? n : k;
  float *a = malloc((size_t)(arows * lda + 1) * sizeof(float));
  float *b = malloc((size_t)(brows * ldb + 1) * sizeof(float));
  float *c = malloc((size_t)(m * ldc + 1) * sizeof(float));
  float *want = malloc((size_t)(m * ldc + 1) * sizeof(float));
  tst_fill_uniform(a, (size_t)(arows * lda), -1, 1, (uint64_t)(m * 131 + n * 7 + k));
  tst_fill_uniform(b, (size_t)(brows * ldb), -1, 1, (uint64_t)(m + n * 13 + k * 3 + 1));
  tst_fill_uniform(c, (size_t)(m * ldc), -1, 1, 99);
  if (nan_c)
    for (int64_t i = 0; i < m * ldc; i++)
      if (i % ldc < n) c[i] = NAN;
  memcpy(want, c, (size_t)(m * ldc) * sizeof(float));
  naive_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc);
  void *ws = scratch_for(pool);
  rt_sgemm(pool, ws, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  /* Error relative to the scale of a k-term sum of products in [-1, 1]. */
  double err = tst_err(c, want, (size_t)(m * ldc), 1e-6 * (double)k + 1e-6, 1e-5);
  free(a), free(b), free(c), free(want), free(ws);
  return err;
}

static void sgemm_case(rt_pool *pool, int ta, int tb, int64_t m, int64_t n, int64_t k,
                       float alpha, float beta, int64_t pad, int nan_c) {
  double e = check_sgemm(pool, ta, tb, m, n, k, alpha, beta, pad, nan_c);
  if (e > 1) {
    const char *isa = getenv("DLC_SGEMM");
    printf("\n  sgemm %s ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g beta=%g pad=%lld: err %g\n",
           isa ? isa : "auto", ta, tb, (long long)m, (long long)n, (long long)k, alpha, beta,
           (long long)pad, e);
  }
  CU_ASSERT(e <= 1);
}

/* Every m x n x k of the lists, all transposes, each micro-kernel. */
static void test_sgemm_shapes(void) {
  static const int64_t ms[] = {1, 2, 4, 5, 7, 13, 100, 257};
  static const int64_t ns[] = {1, 3, 7, 13, 49, 100, 257};
  static const int64_t ks[] = {1, 7, 13, 100, 300};
  for (int isa = 0; isa < N_ISAS; isa++) {
    setenv("DLC_SGEMM", isas[isa], 1);
    for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
      for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
        for (size_t l = 0; l < sizeof ks / sizeof *ks; l++)
          for (int t = 0; t < 4; t++) {
            /* the big ones only as NN and TT, to keep it quick */
            if (ms[i] * ns[j] * ks[l] > 2000000 && t % 3 != 0) continue;
            sgemm_case(NULL, t & 1, t >> 1, ms[i], ns[j], ks[l], 1.0f, 0.0f, 0, 0);
          }
  }
  unsetenv("DLC_SGEMM");
}

/* Past one cache block in each dimension: m > 512 rows, n > 768 columns,
 * k over several k blocks (and k just past one block). */
static void test_sgemm_big_blocks(void) {
  for (int isa = 0; isa < N_ISAS; isa++) {
    setenv("DLC_SGEMM", isas[isa], 1);
    sgemm_case(NULL, 0, 0, 600, 70, 257, 1.0f, 0.0f, 0, 0);
    sgemm_case(NULL, 1, 1, 70, 800, 130, 1.0f, 0.0f, 0, 0);
    sgemm_case(NULL, 0, 1, 530, 790, 520, 0.75f, 0.5f, 3, 0);
  }
  /* thin, with k over several gathered pieces of op(A) */
  for (int t = 0; t < 4; t++) {
    sgemm_case(NULL, t & 1, t >> 1, 3, 70, 1100, 1.0f, 0.0f, 2, 0);
    sgemm_case(NULL, t & 1, t >> 1, 300, 4, 1100, 1.0f, 0.5f, 0, 0);
  }
  unsetenv("DLC_SGEMM");
}

/* Leading dims wider than the matrices (and C's padding untouched). */
static void test_sgemm_leading_dims(void) {
  for (int t = 0; t < 4; t++) {
    sgemm_case(NULL, t & 1, t >> 1, 37, 61, 29, 1.0f, 0.0f, 5, 0);
    sgemm_case(NULL, t & 1, t >> 1, 3, 61, 29, 1.0f, 0.0f, 17, 0);
    sgemm_case(NULL, t & 1, t >> 1, 61, 2, 100, 1.0f, 0.0f, 1, 0);
  }
}

static void test_sgemm_alpha_beta(void) {
  for (int t = 0; t < 4; t++) {
    sgemm_case(NULL, t & 1, t >> 1, 50, 70, 40, 0.5f, -1.5f, 2, 0);
    sgemm_case(NULL, t & 1, t >> 1, 3, 70, 40, -2.0f, 1.0f, 2, 0);
    sgemm_case(NULL, t & 1, t >> 1, 50, 70, 40, 1.0f, 0.0f, 2, 1); /* NaN C ignored */
    sgemm_case(NULL, t & 1, t >> 1, 2, 9, 40, 3.0f, 0.0f, 0, 1);
    sgemm_case(NULL, t & 1, t >> 1, 50, 70, 300, 1.0f, 0.25f, 0, 0); /* beta on k block 1 only */
  }
  /* alpha = 0 and k = 0: C = beta * C, A and B not read (NULL). */
  float c[6] = {1, 2, 3, 4, 5, NAN}, want[6] = {2, 4, 6, 8, 10, NAN};
  rt_sgemm(NULL, NULL, 0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 2.0f, c, 3);
  TST_ASSERT_CLOSE(c, want, 6, 0, 0);
  float z[6] = {1, NAN, 3, 4, 5, 6}, zeros[6] = {0};
  rt_sgemm(NULL, NULL, 0, 0, 2, 3, 4, 0.0f, NULL, 4, NULL, 3, 0.0f, z, 3);
  TST_ASSERT_CLOSE(z, zeros, 6, 0, 0);
}

/* A hand-checked product: [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]]. */
static void test_sgemm_hand(void) {
  float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {1, 1, 1, 1};
  float want[4] = {19 * 2 + 1, 22 * 2 + 1, 43 * 2 + 1, 50 * 2 + 1};
  rt_sgemm(NULL, NULL, 0, 0, 2, 2, 2, 2.0f, a, 2, b, 2, 1.0f, c, 2);
  TST_ASSERT_CLOSE(c, want, 4, 0, 0);
  float at[4] = {1, 3, 2, 4}; /* A^T stored, trans_a */
  float c2[4], want2[4] = {19, 22, 43, 50};
  rt_sgemm(NULL, NULL, 1, 0, 2, 2, 2, 1.0f, at, 2, b, 2, 0.0f, c2, 2);
  TST_ASSERT_CLOSE(c2, want2, 4, 0, 0);
}

/* Three threads must agree with one thread (and with the naive loop). */
static void test_sgemm_threads(void) {
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  static const int64_t shapes[][3] = {
      {300, 200, 150}, {64, 1000, 70}, {1000, 64, 70}, {7, 500, 300},
      {3, 2000, 50},   {2000, 2, 50},  {97, 97, 97},   {512, 49, 600},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
    for (int t = 0; t < 4; t++) {
      int64_t m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
      sgemm_case(pool, t & 1, t >> 1, m, n, k, 1.0f, 0.0f, 1, 0);
      int64_t lda = t & 1 ? m : k, ldb = t >> 1 ? k : n;
      float *a = malloc((size_t)(m * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
      float *c1 = malloc((size_t)(m * n) * sizeof(float)), *c3 = malloc((size_t)(m * n) * sizeof(float));
      tst_fill_uniform(a, (size_t)(m * k), -1, 1, 5);
      tst_fill_uniform(b, (size_t)(k * n), -1, 1, 6);
      void *w1 = scratch_for(NULL), *w3 = scratch_for(pool);
      rt_sgemm(NULL, w1, t & 1, t >> 1, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c1, n);
      rt_sgemm(pool, w3, t & 1, t >> 1, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c3, n);
      TST_ASSERT_CLOSE(c3, c1, (size_t)(m * n), 1e-6 * (double)k, 1e-5);
      free(a), free(b), free(c1), free(c3), free(w1), free(w3);
    }
  rt_pool_destroy(pool);
}

/* ---- MatMul and Gemm through rt_kernel_run -------------------------------- */

static rt_view mkview(float *data, int rank, const int64_t *dims) {
  rt_view v = {data, RT_F32, rank, {0}};
  for (int i = 0; i < rank; i++) v.dims[i] = dims[i];
  return v;
}

static int run_op(rt_pool *pool, const rt_kargs *ka) {
  size_t bytes = rt_kernel_scratch(ka, pool);
  void *ws = scratch_alloc(bytes);
  char err[128] = "";
  rt_kctx ctx = {pool, ws, bytes, err, sizeof err};
  int rc = rt_kernel_run(&ctx, ka);
  free(ws);
  return rc;
}

/* NumPy matmul of A (ra dims) and B (rb dims) by the definition: output
 * index = broadcast batch index + [i] + [j], each entry a dot product. */
static void naive_matmul(const float *a, int ra, const int64_t *da, const float *b, int rb,
                         const int64_t *db, float *y, int ry, const int64_t *dy) {
  int64_t k = da[ra - 1], m = ra >= 2 ? da[ra - 2] : 1, n = rb >= 2 ? db[rb - 1] : 1;
  int nb = ry - (ra >= 2) - (rb >= 2);
  int64_t batches = 1;
  for (int d = 0; d < nb; d++) batches *= dy[d];
  for (int64_t bi = 0; bi < batches; bi++) {
    /* batch offsets of A and B: right-aligned, size-1 dims broadcast */
    int64_t ao = 0, bo = 0, astride = m * k, bstride = k * n, rem = bi;
    int an = ra >= 2 ? ra - 2 : 0, bn = rb >= 2 ? rb - 2 : 0;
    for (int d = nb - 1; d >= 0; d--) {
      int64_t idx = rem % dy[d];
      rem /= dy[d];
      int ad = d - (nb - an), bd = d - (nb - bn);
      if (ad >= 0) {
        if (da[ad] != 1) ao += idx * astride;
        astride *= da[ad];
      }
      if (bd >= 0) {
        if (db[bd] != 1) bo += idx * bstride;
        bstride *= db[bd];
      }
    }
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t p = 0; p < k; p++) s += (double)a[ao + i * k + p] * b[bo + p * n + j];
        y[(bi * m + i) * n + j] = (float)s;
      }
  }
}

static void matmul_case(rt_pool *pool, int ra, const int64_t *da, int rb, const int64_t *db,
                        int ry, const int64_t *dy) {
  int64_t na = rt_numel(ra, da), nb = rt_numel(rb, db), ny = rt_numel(ry, dy);
  float *a = malloc((size_t)na * sizeof(float)), *b = malloc((size_t)nb * sizeof(float));
  float *y = malloc((size_t)ny * sizeof(float)), *want = malloc((size_t)ny * sizeof(float));
  tst_fill_uniform(a, (size_t)na, -1, 1, (uint64_t)na);
  tst_fill_uniform(b, (size_t)nb, -1, 1, (uint64_t)nb + 7);
  for (int64_t i = 0; i < ny; i++) y[i] = NAN;
  naive_matmul(a, ra, da, b, rb, db, want, ry, dy);
  rt_view in[2] = {mkview(a, ra, da), mkview(b, rb, db)}, out[1] = {mkview(y, ry, dy)};
  rt_kargs ka = {RT_OP_MATMUL, 2, 1, in, out, NULL, 0, NULL, 0};
  CU_ASSERT_EQUAL(run_op(pool, &ka), 0);
  TST_ASSERT_CLOSE(y, want, (size_t)ny, 1e-6 * (double)da[ra - 1] + 1e-6, 1e-5);
  free(a), free(b), free(y), free(want);
}

static void test_matmul(void) {
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  for (int pi = 0; pi < 2; pi++) {
    rt_pool *p = pi ? pool : NULL;
    /* 1-D x 2-D, 2-D x 1-D, 1-D x 1-D (scalar output) */
    matmul_case(p, 1, (int64_t[]){13}, 2, (int64_t[]){13, 9}, 1, (int64_t[]){9});
    matmul_case(p, 2, (int64_t[]){9, 13}, 1, (int64_t[]){13}, 1, (int64_t[]){9});
    matmul_case(p, 1, (int64_t[]){300}, 1, (int64_t[]){300}, 0, (int64_t[]){0});
    matmul_case(p, 2, (int64_t[]){70, 33}, 2, (int64_t[]){33, 90}, 2, (int64_t[]){70, 90});
    /* batch broadcasting: [2,1,3,4] x [5,4,6] -> [2,5,3,6] */
    matmul_case(p, 4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){5, 4, 6}, 4,
                (int64_t[]){2, 5, 3, 6});
    matmul_case(p, 3, (int64_t[]){1, 7, 20}, 3, (int64_t[]){4, 20, 5}, 3, (int64_t[]){4, 7, 5});
    /* shared B: the batch folds into M */
    matmul_case(p, 4, (int64_t[]){2, 3, 40, 50}, 2, (int64_t[]){50, 60}, 4,
                (int64_t[]){2, 3, 40, 60});
    matmul_case(p, 3, (int64_t[]){2, 3, 50}, 1, (int64_t[]){50}, 2, (int64_t[]){2, 3});
    matmul_case(p, 1, (int64_t[]){8}, 3, (int64_t[]){3, 8, 5}, 2, (int64_t[]){3, 5});
    /* many small batches (one GEMM per thread) */
    matmul_case(p, 3, (int64_t[]){12, 9, 16}, 3, (int64_t[]){12, 16, 10}, 3,
                (int64_t[]){12, 9, 10});
    matmul_case(p, 3, (int64_t[]){6, 64, 64}, 3, (int64_t[]){6, 64, 64}, 3, (int64_t[]){6, 64, 64});
  }
  rt_pool_destroy(pool);
}

/* Gemm with every broadcast form of C, every transpose, alpha and beta. */
static void gemm_case(rt_pool *pool, int ta, int tb, int64_t m, int64_t n, int64_t k,
                      float alpha, float beta, int crank, const int64_t *cdims, int n_in) {
  float *a = malloc((size_t)(m * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
  float *c = malloc((size_t)(m * n) * sizeof(float)), *y = malloc((size_t)(m * n) * sizeof(float));
  float *want = malloc((size_t)(m * n) * sizeof(float));
  tst_fill_uniform(a, (size_t)(m * k), -1, 1, 1);
  tst_fill_uniform(b, (size_t)(k * n), -1, 1, 2);
  tst_fill_uniform(c, (size_t)(m * n), -1, 1, 3);
  int has_c = crank >= 0;
  int64_t cm = crank == 2 ? cdims[0] : 1, cn = crank >= 1 ? cdims[crank - 1] : 1;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++)
        s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      double cv = has_c ? c[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)] : 0.0;
      want[i * n + j] = (float)(alpha * s + beta * cv);
      y[i * n + j] = NAN;
    }
  int64_t da[2] = {ta ? k : m, ta ? m : k}, db[2] = {tb ? n : k, tb ? k : n}, dy[2] = {m, n};
  rt_view in[3] = {mkview(a, 2, da), mkview(b, 2, db), mkview(has_c ? c : NULL, crank < 0 ? 0 : crank, cdims)};
  rt_view out[1] = {mkview(y, 2, dy)};
  int64_t ia[2] = {ta, tb};
  float fa[2] = {alpha, beta};
  rt_kargs ka = {RT_OP_GEMM, n_in, 1, in, out, ia, 2, fa, 2};
  CU_ASSERT_EQUAL(run_op(pool, &ka), 0);
  TST_ASSERT_CLOSE(y, want, (size_t)(m * n), 1e-6 * (double)k + 1e-6, 1e-5);
  free(a), free(b), free(c), free(y), free(want);
}

static void test_gemm_broadcast_c(void) {
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  const int64_t m = 23, n = 37, k = 19;
  for (int t = 0; t < 4; t++) {
    int ta = t & 1, tb = t >> 1;
    rt_pool *p = t % 2 ? pool : NULL;
    gemm_case(p, ta, tb, m, n, k, 1.0f, 1.0f, 0, (int64_t[]){0}, 3);        /* scalar */
    gemm_case(p, ta, tb, m, n, k, 0.5f, 2.0f, 1, (int64_t[]){n}, 3);        /* [N] */
    gemm_case(p, ta, tb, m, n, k, 1.0f, -1.0f, 1, (int64_t[]){1}, 3);       /* [1] */
    gemm_case(p, ta, tb, m, n, k, 2.0f, 0.5f, 2, (int64_t[]){1, n}, 3);     /* [1,N] */
    gemm_case(p, ta, tb, m, n, k, 1.0f, 3.0f, 2, (int64_t[]){m, 1}, 3);     /* [M,1] */
    gemm_case(p, ta, tb, m, n, k, -1.0f, 0.25f, 2, (int64_t[]){m, n}, 3);   /* [M,N] */
    gemm_case(p, ta, tb, m, n, k, 1.0f, 1.0f, 2, (int64_t[]){1, 1}, 3);     /* [1,1] */
    gemm_case(p, ta, tb, m, n, k, 1.5f, 1.0f, -1, (int64_t[]){0}, 2);       /* no C */
    gemm_case(p, ta, tb, m, n, k, 1.5f, 1.0f, -1, (int64_t[]){0}, 3);       /* C slot empty */
    gemm_case(p, ta, tb, 1, 1000, 300, 1.0f, 1.0f, 1, (int64_t[]){1000}, 3); /* FC layer */
    gemm_case(p, ta, tb, 200, 150, 260, 1.0f, 1.0f, 1, (int64_t[]){150}, 3);
  }
  rt_pool_destroy(pool);
}

/* ---- NumPy fixtures -------------------------------------------------------- */

/* Run every case of a fixture file, single-threaded and on a pool of 3. */
static void test_numpy_fixtures(void) {
  FILE *f = fopen(tst_src("tests/fixtures/kernels/gemm.txt"), "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  rt_pool *pool = rt_pool_create(3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  fx_case c;
  int cases = 0;
  while (fx_read(f, &c)) {
    int op = rt_op_parse(c.op);
    CU_ASSERT_FATAL(op == RT_OP_MATMUL || op == RT_OP_GEMM);
    const rt_view *want = &c.t[c.n_in];
    int64_t n = rt_numel(want->rank, want->dims);
    float *y = malloc((size_t)(n + 1) * sizeof(float));
    rt_view out = *want;
    out.data = y;
    for (int pi = 0; pi < 2; pi++) {
      for (int64_t i = 0; i < n; i++) y[i] = NAN;
      rt_kargs ka = {op, c.n_in, 1, c.t, &out, c.ia, c.n_ia, c.fa, c.n_fa};
      CU_ASSERT_EQUAL(run_op(pi ? pool : NULL, &ka), 0);
      TST_ASSERT_CLOSE(y, want->data, (size_t)n, 1e-5, 1e-5);
    }
    free(y);
    fx_free(&c);
    cases++;
  }
  CU_ASSERT(cases >= 10);
  fclose(f);
  rt_pool_destroy(pool);
}

TST_SUITE(kernels_gemm, TST(test_sgemm_hand), TST(test_sgemm_shapes), TST(test_sgemm_big_blocks),
          TST(test_sgemm_leading_dims), TST(test_sgemm_alpha_beta), TST(test_sgemm_threads),
          TST(test_matmul), TST(test_gemm_broadcast_c), TST(test_numpy_fixtures))
