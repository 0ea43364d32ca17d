/*
 * gemm.c: single-precision GEMM (rt_sgemm) and the MatMul and Gemm kernels
 * built on it.
 *
 * rt_sgemm follows the BLIS / GotoBLAS scheme. C = alpha*op(A)*op(B) + beta*C
 * is cut into cache blocks; each block of A (mc x kc) and of B (kc x nc) is
 * copied ("packed") into scratch so that a register-tiled micro-kernel reads
 * both as unit-stride streams:
 *
 *   for ic (mc rows of A)         A block packed in mr-row panels (L2/L3)
 *     for pc (kc of the k dim)
 *       for jc (nc cols of B)     B block packed in nr-col panels (L2)
 *         for ir (mr rows)        one A micro-panel mr x kc stays in L1
 *           for jr (nr cols)      B micro-panels stream from L2
 *             micro-kernel: mr x nr tile of C kept in vector registers
 *
 * The vector dimension is n (a row of the C tile is nr/W vectors); the
 * micro-kernel broadcasts one A value per row. It is written once with GCC
 * vector extensions and instantiated per ISA (AVX-512, AVX2+FMA, baseline
 * SSE / any other target); the widest one the CPU supports is picked at run
 * time ($DLC_SGEMM=avx512|avx2|generic forces one, for tests and benches).
 * Packing zero-fills ragged edges, so the micro-kernel always computes a full
 * tile and only the store is clipped.
 *
 * Threads split C into one tile per thread (a tm x tn grid picked to minimise
 * the padded work plus the redundant packing of the split), each thread runs
 * the loop nest above on its tile with its own packing scratch: one A block
 * and one B block, 1.25 MiB per thread whatever the sizes.
 * When one side is thin (m or n <= SG_THIN) packing does not pay: a direct
 * loop streams the big operand once.
 * When n fits the register tile badly and m fits it well (e.g. a 512 x 49
 * convolution GEMM), the transposed problem C^T = op(B)^T op(A)^T is solved
 * instead; the micro-kernel stores through general (row, col) strides.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_internal.h"

/* ---- blocking ------------------------------------------------------------- */

/* Upper bounds of every config's blocks: scratch size must not depend on the
 * CPU the plan is run on. */
#define SG_KC 256
#define SG_MC 512
#define SG_NC 768
#define SG_A_FLOATS ((size_t)SG_MC * SG_KC)
#define SG_B_FLOATS ((size_t)SG_KC * SG_NC)
#define SG_THREAD_FLOATS (SG_A_FLOATS + SG_B_FLOATS)

/* m or n at most this: direct loops instead of packing. */
#define SG_THIN 4
/* Below this many flops per thread a pool hand-off costs more than it saves. */
#define SG_MIN_TASK_FLOPS (1 << 21)

typedef void (*sg_ukr_fn)(int64_t kc, const float *a, const float *b, float *c,
                          int64_t rs, int64_t cs, int mr, int nr, float alpha,
                          float beta);

typedef struct sg_cfg {
  const char *name;
  int mr, nr;       /* register tile */
  int64_t mc, nc;   /* cache blocks (multiples of mr, nr; <= SG_MC, SG_NC) */
  sg_ukr_fn ukr;
} sg_cfg;

/* One GEMM as the loop nest sees it: element (i, p) of op(A) is
 * a[i*lda + p] or a[p*lda + i], (p, j) of op(B) likewise, (i, j) of C is
 * c[i*rs + j*cs]. */
typedef struct sg_prob {
  int ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  const float *a, *b;
  int64_t lda, ldb;
  float *c;
  int64_t rs, cs;
} sg_prob;

static inline int64_t sg_min(int64_t x, int64_t y) { return x < y ? x : y; }
static inline int64_t sg_max(int64_t x, int64_t y) { return x > y ? x : y; }
static inline int64_t sg_cdiv(int64_t x, int64_t y) { return (x + y - 1) / y; }
static inline int64_t sg_rup(int64_t x, int64_t y) { return sg_cdiv(x, y) * y; }

/* ---- micro-kernels -------------------------------------------------------- */

/* Clipped or strided store of a full tile t (mr x nr of MR x NR). */
static void sg_store_edge(const float *t, int ldt, float *c, int64_t rs, int64_t cs,
                          int mr, int nr, float alpha, float beta) {
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) {
      float *cp = c + i * rs + j * cs;
      *cp = beta == 0.0f ? alpha * t[i * ldt + j] : alpha * t[i * ldt + j] + beta * *cp;
    }
}

/* GCC in ISO C mode does not fuse a*b+c into an FMA; the micro-kernels ask
 * for it back. Clang fuses within an expression by default. */
#if defined(__clang__)
#define SG_CONTRACT
#else
#define SG_CONTRACT __attribute__((optimize("fp-contract=fast")))
#endif

/* The micro-kernel: C[0:mr, 0:nr] = alpha * (A panel * B panel) + beta * C.
 * a holds kc steps of MR values, b kc steps of NV vectors of W floats. */
#define SG_UKR(NAME, TARGET, V, W, MR, NV)                                      \
  __attribute__((TARGET)) SG_CONTRACT static void NAME(                        \
      int64_t kc, const float *restrict a, const float *restrict b,            \
      float *restrict c, int64_t rs, int64_t cs, int mr, int nr, float alpha,  \
      float beta) {                                                            \
    V acc[MR][NV];                                                             \
    for (int i = 0; i < MR; i++)                                               \
      for (int v = 0; v < NV; v++) acc[i][v] = (V){0};                         \
    for (int64_t p = 0; p < kc; p++) {                                         \
      V bv[NV];                                                                \
      for (int v = 0; v < NV; v++) memcpy(&bv[v], b + v * W, sizeof(V));      \
      for (int i = 0; i < MR; i++)                                             \
        for (int v = 0; v < NV; v++) acc[i][v] += a[i] * bv[v];                \
      a += MR;                                                                 \
      b += NV * W;                                                             \
    }                                                                          \
    if (mr == MR && nr == NV * W && cs == 1) {                                 \
      for (int i = 0; i < MR; i++)                                             \
        for (int v = 0; v < NV; v++) {                                         \
          float *cp = c + i * rs + v * W;                                      \
          V r = alpha * acc[i][v];                                             \
          if (beta != 0.0f) {                                                  \
            V old;                                                             \
            memcpy(&old, cp, sizeof(V));                                       \
            r += beta * old;                                                   \
          }                                                                    \
          memcpy(cp, &r, sizeof(V));                                           \
        }                                                                      \
    } else {                                                                   \
      float t[MR * NV * W];                                                    \
      for (int i = 0; i < MR; i++)                                             \
        for (int v = 0; v < NV; v++)                                           \
          memcpy(t + i * NV * W + v * W, &acc[i][v], sizeof(V));               \
      sg_store_edge(t, NV * W, c, rs, cs, mr, nr, alpha, beta);                \
    }                                                                          \
  }

typedef float sg_v4 __attribute__((vector_size(16)));
/* Baseline: 6 x 8 uses 12 of the 16 SSE (or any 128-bit) registers for C. */
SG_UKR(sg_ukr_generic, noinline, sg_v4, 4, 6, 2)

#if defined(__x86_64__) || defined(__i386__)
#define SG_HAVE_X86 1
typedef float sg_v8 __attribute__((vector_size(32)));
typedef float sg_v16 __attribute__((vector_size(64)));
/* AVX2: 6 x 16, 12 of 16 ymm registers accumulate. */
SG_UKR(sg_ukr_avx2, target("avx2,fma"), sg_v8, 8, 6, 2)
/* AVX-512: 8 x 48, 24 of 32 zmm registers accumulate: enough independent
 * FMAs to cover two FMA pipes of latency 4. */
SG_UKR(sg_ukr_avx512, target("avx512f"), sg_v16, 16, 8, 3)
#endif

static const sg_cfg sg_cfgs[] = {
#ifdef SG_HAVE_X86
    {"avx512", 8, 48, 512, 768, sg_ukr_avx512},
    {"avx2", 6, 16, 510, 768, sg_ukr_avx2},
#endif
    {"generic", 6, 8, 510, 768, sg_ukr_generic},
};
#define SG_N_CFGS (sizeof sg_cfgs / sizeof sg_cfgs[0])

static int sg_cpu_has(const char *name) {
#ifdef SG_HAVE_X86
  if (!strcmp(name, "avx512")) return __builtin_cpu_supports("avx512f");
  if (!strcmp(name, "avx2"))
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return !strcmp(name, "generic");
}

/* The widest supported config, or the one $DLC_SGEMM names (if supported). */
static const sg_cfg *sg_pick(void) {
  const char *want = getenv("DLC_SGEMM");
  for (size_t i = 0; want && i < SG_N_CFGS; i++)
    if (!strcmp(want, sg_cfgs[i].name) && sg_cpu_has(want)) return &sg_cfgs[i];
  for (size_t i = 0; i < SG_N_CFGS; i++)
    if (sg_cpu_has(sg_cfgs[i].name)) return &sg_cfgs[i];
  return &sg_cfgs[SG_N_CFGS - 1];
}

/* ---- packing -------------------------------------------------------------- */

typedef float sg_pv __attribute__((vector_size(16)));
typedef int sg_pi __attribute__((vector_size(16)));
#if defined(__clang__)
#define SG_SHUF(x, y, i, j, k, l) __builtin_shufflevector(x, y, i, j, k, l)
#else
#define SG_SHUF(x, y, i, j, k, l) __builtin_shuffle(x, y, (sg_pi){i, j, k, l})
#endif

/* Transposing pack: dst[p*w + r] = src[r*ld + p] for r < rows, p < kc, and
 * zero for rows <= r < w. Four source rows at a time go through a 4 x 4
 * register transpose, so both sides move whole vectors. */
static void sg_pack_t(float *restrict dst, const float *restrict src, int64_t ld, int rows,
                      int w, int64_t kc) {
  int r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float *s0 = src + r * ld, *s1 = s0 + ld, *s2 = s1 + ld, *s3 = s2 + ld;
    int64_t p = 0;
    for (; p + 4 <= kc; p += 4) {
      sg_pv a, b, c, d;
      memcpy(&a, s0 + p, 16), memcpy(&b, s1 + p, 16);
      memcpy(&c, s2 + p, 16), memcpy(&d, s3 + p, 16);
      sg_pv t0 = SG_SHUF(a, b, 0, 4, 1, 5), t1 = SG_SHUF(a, b, 2, 6, 3, 7);
      sg_pv t2 = SG_SHUF(c, d, 0, 4, 1, 5), t3 = SG_SHUF(c, d, 2, 6, 3, 7);
      sg_pv r0 = SG_SHUF(t0, t2, 0, 1, 4, 5), r1 = SG_SHUF(t0, t2, 2, 3, 6, 7);
      sg_pv r2 = SG_SHUF(t1, t3, 0, 1, 4, 5), r3 = SG_SHUF(t1, t3, 2, 3, 6, 7);
      float *d0 = dst + p * w + r;
      memcpy(d0, &r0, 16), memcpy(d0 + w, &r1, 16);
      memcpy(d0 + 2 * w, &r2, 16), memcpy(d0 + 3 * w, &r3, 16);
    }
    for (; p < kc; p++) {
      float *d0 = dst + p * w + r;
      d0[0] = s0[p], d0[1] = s1[p], d0[2] = s2[p], d0[3] = s3[p];
    }
  }
  for (; r < rows; r++)
    for (int64_t p = 0; p < kc; p++) dst[p * w + r] = src[r * ld + p];
  for (; r < w; r++)
    for (int64_t p = 0; p < kc; p++) dst[p * w + r] = 0.0f;
}

/* Rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) as mr-row panels: element
 * (i, p) of a panel at p*mr + i; rows past mc are zero. */
static void sg_pack_a(float *restrict dst, const sg_prob *P, int64_t i0, int64_t p0,
                      int64_t mc, int64_t kc, int mr) {
  for (int64_t ir = 0; ir < mc; ir += mr, dst += mr * kc) {
    int rows = (int)sg_min(mr, mc - ir);
    if (P->ta) { /* op(A) row i is column i of a: mr values contiguous per p */
      const float *s = P->a + p0 * P->lda + i0 + ir;
      for (int64_t p = 0; p < kc; p++) {
        memcpy(dst + p * mr, s + p * P->lda, (size_t)rows * sizeof(float));
        for (int i = rows; i < mr; i++) dst[p * mr + i] = 0.0f;
      }
    } else {
      sg_pack_t(dst, P->a + (i0 + ir) * P->lda + p0, P->lda, rows, mr, kc);
    }
  }
}

/* Rows [p0, p0+kc) x cols [j0, j0+nc) of op(B) as nr-col panels: element
 * (p, j) of a panel at p*nr + j; cols past nc are zero. */
static void sg_pack_b(float *restrict dst, const sg_prob *P, int64_t p0, int64_t j0,
                      int64_t kc, int64_t nc, int nr) {
  for (int64_t jr = 0; jr < nc; jr += nr, dst += nr * kc) {
    int cols = (int)sg_min(nr, nc - jr);
    if (!P->tb) {
      const float *s = P->b + p0 * P->ldb + j0 + jr;
      for (int64_t p = 0; p < kc; p++) {
        memcpy(dst + p * nr, s + p * P->ldb, (size_t)cols * sizeof(float));
        for (int j = cols; j < nr; j++) dst[p * nr + j] = 0.0f;
      }
    } else { /* op(B) column j is row j of b */
      sg_pack_t(dst, P->b + (j0 + jr) * P->ldb + p0, P->ldb, cols, nr, kc);
    }
  }
}

/* ---- the blocked loop nest on one tile of C ------------------------------- */

/* Rows [i0, i1) x cols [j0, j1) of C, on one thread; ws: SG_THREAD_FLOATS. */
static void sg_tile(const sg_cfg *g, float *ws, const sg_prob *P, int64_t i0,
                    int64_t i1, int64_t j0, int64_t j1) {
  float *ap = ws, *bp = ws + SG_A_FLOATS;
  int64_t m = i1 - i0, n = j1 - j0, k = P->k;
  int mr = g->mr, nr = g->nr;
  /* Even block sizes: 300 = 150 + 150 rather than 256 + 44. */
  int64_t kcs = sg_cdiv(k, sg_cdiv(k, SG_KC));
  int64_t mcs = sg_rup(sg_cdiv(m, sg_cdiv(m, g->mc)), mr);
  int64_t ncs = sg_rup(sg_cdiv(n, sg_cdiv(n, g->nc)), nr);
  assert(kcs <= SG_KC && mcs <= SG_MC && ncs <= SG_NC);
  for (int64_t ic = 0; ic < m; ic += mcs) {
    int64_t mc = sg_min(mcs, m - ic);
    for (int64_t pc = 0; pc < k; pc += kcs) {
      int64_t kc = sg_min(kcs, k - pc);
      float beta = pc == 0 ? P->beta : 1.0f; /* later k blocks accumulate */
      sg_pack_a(ap, P, i0 + ic, pc, mc, kc, mr);
      for (int64_t jc = 0; jc < n; jc += ncs) {
        int64_t nc = sg_min(ncs, n - jc);
        sg_pack_b(bp, P, pc, j0 + jc, kc, nc, nr);
        for (int64_t ir = 0; ir < mc; ir += mr) {
          float *crow = P->c + (i0 + ic + ir) * P->rs + (j0 + jc) * P->cs;
          int mre = (int)sg_min(mr, mc - ir);
          for (int64_t jr = 0; jr < nc; jr += nr)
            g->ukr(kc, ap + ir * kc, bp + jr * kc, crow + jr * P->cs, P->rs, P->cs,
                   mre, (int)sg_min(nr, nc - jr), P->alpha, beta);
        }
      }
    }
  }
}

typedef struct {
  const sg_cfg *g;
  const sg_prob *P;
  float *ws;
  int64_t tn, mstep, nstep;
} sg_par;

static void sg_par_fn(void *arg, int64_t begin, int64_t end, int thread) {
  const sg_par *q = arg;
  for (int64_t t = begin; t < end; t++) {
    int64_t i0 = t / q->tn * q->mstep, j0 = t % q->tn * q->nstep;
    if (i0 >= q->P->m || j0 >= q->P->n) continue;
    sg_tile(q->g, q->ws + (size_t)thread * SG_THREAD_FLOATS, q->P, i0,
            sg_min(q->P->m, i0 + q->mstep), j0, sg_min(q->P->n, j0 + q->nstep));
  }
}

/* Split C over nt threads: the tm x tn grid whose slowest tile (padded
 * compute plus its packing, weighted ~16 flops per packed float) is cheapest. */
static void sg_blocked(const sg_cfg *g, rt_pool *pool, float *ws, const sg_prob *P) {
  int64_t m = P->m, n = P->n, k = P->k;
  double flops = 2.0 * (double)m * (double)n * (double)k;
  int64_t nt = rt_pool_size(pool);
  if (flops < (double)nt * SG_MIN_TASK_FLOPS) nt = (int64_t)(flops / SG_MIN_TASK_FLOPS);
  if (nt < 1) nt = 1;
  sg_par q = {g, P, ws, 1, sg_rup(m, g->mr), sg_rup(n, g->nr)};
  if (nt == 1) {
    sg_tile(g, ws, P, 0, m, 0, n);
    return;
  }
  double best = 0;
  for (int64_t tm = 1; tm <= nt; tm++) {
    if (nt % tm) continue;
    int64_t tn = nt / tm;
    int64_t ms = sg_rup(sg_cdiv(m, tm), g->mr), ns = sg_rup(sg_cdiv(n, tn), g->nr);
    double cost = 2.0 * (double)ms * (double)ns * (double)k +
                  16.0 * (double)k * ((double)ms + (double)ns * (double)sg_cdiv(ms, g->mc));
    if (best == 0 || cost < best) {
      best = cost;
      q.tn = tn;
      q.mstep = ms;
      q.nstep = ns;
    }
  }
  rt_pool_run(pool, nt, 1, sg_par_fn, &q);
}

/* ---- thin problems: m <= SG_THIN, no packing ------------------------------ */

typedef float sg_dv __attribute__((vector_size(16)));

/* Dot product of two unit-stride rows (4 independent vector sums). */
static float sg_dot(const float *x, const float *y, int64_t n) {
  sg_dv s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    sg_dv x0, x1, x2, x3, y0, y1, y2, y3;
    memcpy(&x0, x + i, 16), memcpy(&x1, x + i + 4, 16);
    memcpy(&x2, x + i + 8, 16), memcpy(&x3, x + i + 12, 16);
    memcpy(&y0, y + i, 16), memcpy(&y1, y + i + 4, 16);
    memcpy(&y2, y + i + 8, 16), memcpy(&y3, y + i + 12, 16);
    s0 += x0 * y0, s1 += x1 * y1, s2 += x2 * y2, s3 += x3 * y3;
  }
  sg_dv s = (s0 + s1) + (s2 + s3);
  float r = (s[0] + s[1]) + (s[2] + s[3]);
  for (; i < n; i++) r += x[i] * y[i];
  return r;
}

#define SG_THIN_COLS 256 /* columns of C per task (accumulators on the stack) */
#define SG_THIN_KC 512   /* gathered op(A) columns at a time */

typedef struct {
  const sg_prob *P;
} sg_thin_job;

static void sg_thin_fn(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const sg_prob *P = ((const sg_thin_job *)arg)->P;
  int64_t m = P->m;
  float acc[SG_THIN][SG_THIN_COLS];
  float abuf[SG_THIN][SG_THIN_KC];
  for (int64_t t = begin; t < end; t++) {
    int64_t j0 = t * SG_THIN_COLS, nb = sg_min(SG_THIN_COLS, P->n - j0);
    for (int64_t i = 0; i < m; i++) memset(acc[i], 0, (size_t)nb * sizeof(float));
    /* Unit-stride rows of op(A) are used in place, whole: each row of b is
     * then one long stream. Strided ones are gathered a piece at a time. */
    int64_t kstep = P->ta ? SG_THIN_KC : P->k;
    for (int64_t p0 = 0; p0 < P->k; p0 += kstep) {
      int64_t kb = sg_min(kstep, P->k - p0);
      const float *arow[SG_THIN];
      for (int64_t i = 0; i < m; i++) {
        if (P->ta) {
          for (int64_t p = 0; p < kb; p++) abuf[i][p] = P->a[(p0 + p) * P->lda + i];
          arow[i] = abuf[i];
        } else {
          arow[i] = P->a + i * P->lda + p0;
        }
      }
      if (P->tb) { /* column j of op(B) is a unit-stride row of b */
        for (int64_t j = 0; j < nb; j++) {
          const float *bj = P->b + (j0 + j) * P->ldb + p0;
          for (int64_t i = 0; i < m; i++) acc[i][j] += sg_dot(arow[i], bj, kb);
        }
      } else { /* rows of op(B): axpy into the accumulators */
        for (int64_t p = 0; p < kb; p++) {
          const float *bp = P->b + (p0 + p) * P->ldb + j0;
          for (int64_t i = 0; i < m; i++) {
            float av = arow[i][p];
            float *ac = acc[i];
            for (int64_t j = 0; j < nb; j++) ac[j] += av * bp[j];
          }
        }
      }
    }
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < nb; j++) {
        float *cp = P->c + i * P->rs + (j0 + j) * P->cs;
        *cp = P->beta == 0.0f ? P->alpha * acc[i][j] : P->alpha * acc[i][j] + P->beta * *cp;
      }
  }
}

static void sg_thin(rt_pool *pool, const sg_prob *P) {
  sg_thin_job job = {P};
  int64_t tasks = sg_cdiv(P->n, SG_THIN_COLS);
  double flops = 2.0 * (double)P->m * (double)P->n * (double)P->k;
  int64_t grain = sg_max(1, (int64_t)((double)tasks * SG_MIN_TASK_FLOPS / (flops + 1)));
  rt_pool_run(pool, tasks, grain, sg_thin_fn, &job);
}

/* ---- rt_sgemm ------------------------------------------------------------- */

size_t rt_sgemm_scratch(const rt_pool *pool) {
  return (size_t)rt_pool_size(pool) * SG_THREAD_FLOATS * sizeof(float);
}

/* Fraction of a padded register-tile grid that is real work. */
static double sg_fill(int64_t m, int64_t n, int mr, int nr) {
  return (double)m / (double)sg_rup(m, mr) * (double)n / (double)sg_rup(n, nr);
}

void rt_sgemm(rt_pool *pool, void *scratch, int trans_a, int trans_b, int64_t m,
              int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  assert(m >= 0 && n >= 0 && k >= 0);
  if (m == 0 || n == 0) return;
  assert(c && ldc >= n);
  if (k == 0 || alpha == 0.0f) { /* BLAS: A and B are not read */
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  assert(a && b);
  assert(lda >= (trans_a ? m : k) && ldb >= (trans_b ? k : n));
  sg_prob P = {trans_a != 0, trans_b != 0, m, n, k, alpha, beta, a, b, lda, ldb, c, ldc, 1};
  const sg_cfg *g = sg_pick();
  /* C^T = op(B)^T op(A)^T: swap the operands and the strides of C. */
  int swap = m > SG_THIN && n > SG_THIN
                 ? sg_fill(n, m, g->mr, g->nr) > 1.1 * sg_fill(m, n, g->mr, g->nr)
                 : n <= SG_THIN && n < m;
  if (swap) {
    P = (sg_prob){!P.tb, !P.ta, n, m, k, alpha, beta, b, a, ldb, lda, c, 1, ldc};
  }
  if (P.m <= SG_THIN) {
    sg_thin(pool, &P);
    return;
  }
  assert(scratch);
  sg_blocked(g, pool, scratch, &P);
}

/* ---- MatMul --------------------------------------------------------------- */

/* NumPy matmul: a 1-D A is a row [1, K], a 1-D B a column [K, 1] (the added
 * dim is absent from the output view); the leading dims broadcast. */
typedef struct {
  int64_t m, n, k, batches;
  int nb;                              /* batch rank (of the output) */
  int64_t bdims[RT_MAX_RANK];          /* output batch dims */
  int64_t astr[RT_MAX_RANK], bstr[RT_MAX_RANK]; /* batch strides, 0: broadcast */
  int64_t lda, ldb;
} mm_shape;

static void mm_shape_of(const rt_kargs *a, mm_shape *s) {
  const rt_view *A = &a->in[0], *B = &a->in[1], *Y = &a->out[0];
  assert(A->rank >= 1 && B->rank >= 1);
  s->k = A->dims[A->rank - 1];
  s->m = A->rank >= 2 ? A->dims[A->rank - 2] : 1;
  s->n = B->rank >= 2 ? B->dims[B->rank - 1] : 1;
  assert((B->rank >= 2 ? B->dims[B->rank - 2] : B->dims[0]) == s->k);
  s->lda = s->k;
  s->ldb = s->n;
  s->nb = Y->rank - (A->rank >= 2) - (B->rank >= 2);
  assert(s->nb >= 0);
  int an = A->rank >= 2 ? A->rank - 2 : 0, bn = B->rank >= 2 ? B->rank - 2 : 0;
  assert(an <= s->nb && bn <= s->nb);
  int64_t as = s->m * s->k, bs = s->k * s->n;
  s->batches = 1;
  for (int d = s->nb - 1; d >= 0; d--) { /* right-aligned broadcasting */
    int ad = d - (s->nb - an), bd = d - (s->nb - bn);
    int64_t da = ad >= 0 ? A->dims[ad] : 1, db = bd >= 0 ? B->dims[bd] : 1;
    s->bdims[d] = Y->dims[d];
    assert((da == s->bdims[d] || da == 1) && (db == s->bdims[d] || db == 1));
    s->astr[d] = da == 1 ? 0 : as;
    s->bstr[d] = db == 1 ? 0 : bs;
    as *= da;
    bs *= db;
    s->batches *= s->bdims[d];
  }
  if (A->rank >= 2) assert(Y->dims[s->nb] == s->m);
  if (B->rank >= 2) assert(Y->dims[Y->rank - 1] == s->n);
}

static void mm_offsets(const mm_shape *s, int64_t bi, int64_t *ao, int64_t *bo) {
  *ao = *bo = 0;
  for (int d = s->nb - 1; d >= 0; d--) {
    int64_t i = bi % s->bdims[d];
    bi /= s->bdims[d];
    *ao += i * s->astr[d];
    *bo += i * s->bstr[d];
  }
}

typedef struct {
  const mm_shape *s;
  const float *a, *b;
  float *y;
  float *ws;
} mm_job;

/* One serial GEMM per batch entry, threads taking whole entries. */
static void mm_batch_fn(void *arg, int64_t begin, int64_t end, int thread) {
  const mm_job *j = arg;
  const mm_shape *s = j->s;
  for (int64_t bi = begin; bi < end; bi++) {
    int64_t ao, bo;
    mm_offsets(s, bi, &ao, &bo);
    rt_sgemm(NULL, j->ws + (size_t)thread * SG_THREAD_FLOATS, 0, 0, s->m, s->n, s->k, 1.0f,
             j->a + ao, s->lda, j->b + bo, s->ldb, 0.0f, j->y + bi * s->m * s->n, s->n);
  }
}

size_t rt_k_matmul_scratch(const rt_kargs *a, const rt_pool *pool) {
  (void)a;
  return rt_sgemm_scratch(pool);
}

int rt_k_matmul(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in == 2 && a->n_out == 1);
  mm_shape s;
  mm_shape_of(a, &s);
  const float *A = a->in[0].data, *B = a->in[1].data;
  float *Y = a->out[0].data;
  if (s.batches == 0 || s.m == 0 || s.n == 0) return 0;
  assert(ctx->scratch_bytes >= rt_sgemm_scratch(ctx->pool));
  /* A shared B (no batch stride) and a dense A: one GEMM with the batch
   * folded into M. */
  int b_shared = 1, a_dense = 1;
  int64_t want = s.m * s.k;
  for (int d = s.nb - 1; d >= 0; d--) {
    if (s.bdims[d] == 1) continue;
    b_shared &= s.bstr[d] == 0;
    a_dense &= s.astr[d] == want;
    want *= s.bdims[d];
  }
  if (b_shared && a_dense) {
    rt_sgemm(ctx->pool, ctx->scratch, 0, 0, s.batches * s.m, s.n, s.k, 1.0f, A, s.lda, B,
             s.ldb, 0.0f, Y, s.n);
    return 0;
  }
  double flops = 2.0 * (double)s.m * (double)s.n * (double)s.k;
  int nt = rt_pool_size(ctx->pool);
  if (nt > 1 && s.batches >= nt && flops < 64.0 * SG_MIN_TASK_FLOPS) {
    mm_job j = {&s, A, B, Y, ctx->scratch};
    int64_t grain = sg_max(1, (int64_t)(SG_MIN_TASK_FLOPS / (flops + 1)));
    rt_pool_run(ctx->pool, s.batches, grain, mm_batch_fn, &j);
    return 0;
  }
  for (int64_t bi = 0; bi < s.batches; bi++) {
    int64_t ao, bo;
    mm_offsets(&s, bi, &ao, &bo);
    rt_sgemm(ctx->pool, ctx->scratch, 0, 0, s.m, s.n, s.k, 1.0f, A + ao, s.lda, B + bo, s.ldb,
             0.0f, Y + bi * s.m * s.n, s.n);
  }
  return 0;
}

/* ---- Gemm ----------------------------------------------------------------- */

size_t rt_k_gemm_scratch(const rt_kargs *a, const rt_pool *pool) {
  (void)a;
  return rt_sgemm_scratch(pool);
}

int rt_k_gemm(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 2 && a->n_out == 1 && a->n_ia >= 2 && a->n_fa >= 2);
  const rt_view *A = &a->in[0], *B = &a->in[1], *Y = &a->out[0];
  assert(A->rank == 2 && B->rank == 2 && Y->rank == 2);
  int ta = a->ia[0] != 0, tb = a->ia[1] != 0;
  float alpha = a->fa[0], beta = a->fa[1];
  int64_t m = ta ? A->dims[1] : A->dims[0], k = ta ? A->dims[0] : A->dims[1];
  int64_t n = tb ? B->dims[0] : B->dims[1];
  assert((tb ? B->dims[1] : B->dims[0]) == k && Y->dims[0] == m && Y->dims[1] == n);
  float *y = Y->data;
  const rt_view *C = a->n_in >= 3 && a->in[2].data ? &a->in[2] : NULL;
  if (C && beta != 0.0f) {
    /* Unidirectional broadcast of C to (M, N): each of its (right-aligned,
     * at most two) dims is 1 or the full size. */
    assert(C->rank <= 2);
    int64_t cm = C->rank == 2 ? C->dims[0] : 1, cn = C->rank >= 1 ? C->dims[C->rank - 1] : 1;
    assert((cm == 1 || cm == m) && (cn == 1 || cn == n));
    const float *cv = C->data;
    for (int64_t i = 0; i < m; i++) {
      const float *crow = cv + (cm == 1 ? 0 : i * cn);
      for (int64_t j = 0; j < n; j++) y[i * n + j] = crow[cn == 1 ? 0 : j];
    }
  } else {
    beta = 0.0f;
  }
  if (m == 0 || n == 0) return 0;
  assert(ctx->scratch_bytes >= rt_sgemm_scratch(ctx->pool));
  rt_sgemm(ctx->pool, ctx->scratch, ta, tb, m, n, k, alpha, A->data, A->dims[1], B->data,
           B->dims[1], beta, y, n);
  return 0;
}
