/*
 * emit_conv.c: 2-D convolution (NCHW, groups, strides, dilations, asymmetric
 * pads, optional bias) with a prologue on X and an epilogue on Y.
 *
 * The prologue (typically a per-channel affine of BatchNormalization form
 * and a Relu or Clip) runs on every X value as it is loaded; taps outside X
 * read 0 after the prologue, as ONNX computes the unfused graph. The
 * epilogue (bias first, then e.g. an activation and a residual Add) runs on
 * every output value before its store.
 *
 * Three kernels, picked from shapes and dtypes:
 *
 *   depthwise  one input channel per group: a thread per output element,
 *              the taps unrolled (constant loop bounds), acc = bias then
 *              + w * x tap by tap, as the CPU kernel sums.
 *   fma        implicit GEMM per group: Y_g[M/g x P] = W_g[M/g x K] *
 *              patches[K x P], P = N*OH*OW, K = C/g*KH*KW. A 256-thread
 *              block computes a BM x 64 tile (BM = 16/32/64 by M/g) with
 *              4 x 4 (or fewer rows) outputs per thread, K in steps of 16
 *              staged in shared memory; the patch matrix is never built,
 *              each staged value is gathered from X with the prologue
 *              applied. Exact float32 (FMA) arithmetic.
 *   wmma       the same GEMM on tensor cores (nvcuda::wmma): 128 threads,
 *              a 64 x 64 tile, each warp 32 x 32 as 2 x 2 fragments;
 *              float16 x float16 or bfloat16 x bfloat16 (m16n16k16), or
 *              float32 rounded to tf32 (m16n16k8) when
 *              cg_options.allow_tf32; float32 accumulation. The tile goes
 *              through shared memory to the epilogue. Used when X and W
 *              share such a dtype and M/g and K are at least 16.
 *
 * A Conv followed by window ops (an LRN and/or a pooling, with elementwise
 * nodes between and after) runs as one kernel whose CTAs compute, with the
 * fma or wmma GEMM, the conv outputs of the region a tile of outputs needs,
 * keep them in shared memory, run the LRN across channels and the pooling
 * there, and store only the final values: the conv's output at full
 * resolution never reaches memory.
 */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

typedef struct conv {
  cg_kernel *k;
  const cg_node *an;
  int x, w, bias, y;
  int64_t N, C, H, W, M, OH, OW, G, cg, mg, KH, KW, sh, sw, dh, dw, pt, pl, Kd, P;
  cg_region pro, epi;
} conv;

static void prologue_at(conv *cv, const char *n, const char *c, const char *ih, const char *iw,
                        const char *out, int indent) {
  cg_emit_req q;
  memset(&q, 0, sizeof q);
  q.coord[0] = n;
  q.coord[1] = c;
  q.coord[2] = ih;
  q.coord[3] = iw;
  q.V = 1;
  q.n_want = 1;
  q.want[0] = cv->x;
  q.want_to[0] = out;
  q.indent = indent;
  cg_region_emit(cv->k->b, &cv->pro, &q);
}

/* Y[n, mo, oh, ow] = val through the epilogue; flat is its dense index. */
static void epilogue_at(conv *cv, const char *n, const char *mo, const char *oh, const char *ow,
                        const char *flat, const char *val, int indent) {
  cg_emit_req q;
  memset(&q, 0, sizeof q);
  q.coord[0] = n;
  q.coord[1] = mo;
  q.coord[2] = oh;
  q.coord[3] = ow;
  q.flat = flat;
  q.V = 1;
  q.store = 1;
  q.indent = indent;
  cv->epi.preset[cv->y] = val;
  cg_region_emit(cv->k->b, &cv->epi, &q);
  cv->epi.preset[cv->y] = NULL;
}

static const char *ld(conv *cv, int t) { return cg_dtname(cv->k->g->tensors[t].dtype); }

static void emit_depthwise(conv *cv) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  const char *it = cg_ityp(k);
  int64_t total = cv->N * cv->M * cv->OH * cv->OW, ohw = cv->OH * cv->OW;
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, total, 256, 8);
  cg_printf(b, "/* Conv depthwise: %lld channels x %lld, %lldx%lld taps */\n", (long long)cv->C,
            (long long)cv->mg, (long long)cv->KH, (long long)cv->KW);
  cg_emit_signature(k, 256);
  cg_printf(b, "  const %s stride = (%s)(gridDim.x * blockDim.x);\n", it, it);
  cg_printf(b, "  for (%s i = (%s)(blockIdx.x * blockDim.x + threadIdx.x); i < %lld; i += stride) {\n", it, it,
            (long long)total);
  cg_printf(b, "    const %s ow = i %% %lld, oh = (i / %lld) %% %lld, mo = (i / %lld) %% %lld, n = i / %lld;\n",
            it, (long long)cv->OW, (long long)cv->OW, (long long)cv->OH, (long long)ohw, (long long)cv->M,
            (long long)(ohw * cv->M));
  cg_printf(b, "    const %s ci = mo / %lld, ih0 = oh * %lld - %lld, iw0 = ow * %lld - %lld;\n", it,
            (long long)cv->mg, (long long)cv->sh, (long long)cv->pt, (long long)cv->sw, (long long)cv->pl);
  cg_printf(b, "    (void)n;\n    (void)ci;\n");
  if (cv->bias >= 0) cg_printf(b, "    float acc = cg_ld_%s(p%d + mo);\n", ld(cv, cv->bias), cv->bias);
  else cg_printf(b, "    float acc = 0.0f;\n");
  cg_printf(b, "    #pragma unroll\n    for (int a = 0; a < %lld; a++) {\n", (long long)cv->KH);
  cg_printf(b, "      const %s ih = ih0 + a * %lld;\n      if (ih < 0 || ih >= %lld) continue;\n", it,
            (long long)cv->dh, (long long)cv->H);
  cg_printf(b, "      #pragma unroll\n      for (int bb = 0; bb < %lld; bb++) {\n", (long long)cv->KW);
  cg_printf(b, "        const %s iw = iw0 + bb * %lld;\n        if (iw < 0 || iw >= %lld) continue;\n", it,
            (long long)cv->dw, (long long)cv->W);
  cg_printf(b, "        float v;\n");
  prologue_at(cv, "n", "ci", "ih", "iw", "v", 8);
  cg_printf(b, "        acc += cg_ld_%s(p%d + mo * %lld + a * %lld + bb) * v;\n", ld(cv, cv->w), cv->w,
            (long long)(cv->KH * cv->KW), (long long)cv->KW);
  cg_printf(b, "      }\n    }\n");
  epilogue_at(cv, "n", "mo", "oh", "ow", "i", "acc", 4);
  cg_printf(b, "  }\n}\n");
}

/* Stage the patch value of GEMM row kg (input channel, tap) and this
 * thread's column (n_, ih0, iw0) into `v` (0 outside X). */
static void emit_patch(conv *cv, const char *kg, int indent) {
  cg_buf *b = cv->k->b;
  const char *it = cg_ityp(cv->k);
  int64_t khw = cv->KH * cv->KW;
  cg_printf(b, "%*sif (col_ok && %s < %lld) {\n", indent, "", kg, (long long)cv->Kd);
  cg_printf(b, "%*s  const int c = %s / %lld, a = (%s / %lld) %% %lld, bb = %s %% %lld;\n", indent, "", kg,
            (long long)khw, kg, (long long)cv->KW, (long long)cv->KH, kg, (long long)cv->KW);
  cg_printf(b, "%*s  const %s ih = ih0 + a * %lld, iw = iw0 + bb * %lld;\n", indent, "", it, (long long)cv->dh,
            (long long)cv->dw);
  cg_printf(b, "%*s  if (ih >= 0 && ih < %lld && iw >= 0 && iw < %lld)\n", indent, "", (long long)cv->H,
            (long long)cv->W);
  char ci[64];
  snprintf(ci, sizeof ci, "(gi * %lld + c)", (long long)cv->cg);
  prologue_at(cv, "n_", ci, "ih", "iw", "v", indent + 4);
  cg_printf(b, "%*s}\n", indent, "");
}

/* The tile loop's head: group, rows m0, columns col0 and this thread's
 * staging column. */
static void emit_tile_head(conv *cv, int64_t BM, int64_t BN, int64_t tiles) {
  cg_buf *b = cv->k->b;
  const char *it = cg_ityp(cv->k);
  int64_t MT = (cv->mg + BM - 1) / BM, PT = (cv->P + BN - 1) / BN, ohw = cv->OH * cv->OW;
  cg_printf(b, "  for (%s tile = blockIdx.x; tile < %lld; tile += gridDim.x) {\n", it, (long long)tiles);
  cg_printf(b, "    const int gi = (int)(tile / %lld), m0 = (int)((tile / %lld) %% %lld) * %lld;\n",
            (long long)(MT * PT), (long long)PT, (long long)MT, (long long)BM);
  cg_printf(b, "    const %s col0 = (tile %% %lld) * %lld;\n", it, (long long)PT, (long long)BN);
  cg_printf(b, "    const %s col = col0 + threadIdx.x %% %lld;\n", it, (long long)BN);
  cg_printf(b, "    const bool col_ok = col < %lld;\n", (long long)cv->P);
  cg_printf(b, "    const %s n_ = col / %lld, r_ = col %% %lld;\n", it, (long long)ohw, (long long)ohw);
  cg_printf(b, "    const %s ih0 = (r_ / %lld) * %lld - %lld, iw0 = (r_ %% %lld) * %lld - %lld;\n", it,
            (long long)cv->OW, (long long)cv->sh, (long long)cv->pt, (long long)cv->OW, (long long)cv->sw,
            (long long)cv->pl);
  cg_printf(b, "    (void)n_;\n");
}

/* The output element (m, cc) of the tile: bias, epilogue, store. */
static void emit_tile_out(conv *cv, const char *m, const char *cc, const char *val, int indent) {
  cg_buf *b = cv->k->b;
  const char *it = cg_ityp(cv->k);
  int64_t ohw = cv->OH * cv->OW;
  cg_printf(b, "%*sif (m0 + %s < %lld && col0 + %s < %lld) {\n", indent, "", m, (long long)cv->mg, cc, (long long)cv->P);
  cg_printf(b, "%*s  const %s q = col0 + %s, n = q / %lld, oh = (q %% %lld) / %lld, ow = q %% %lld;\n", indent, "", it,
            cc, (long long)ohw, (long long)ohw, (long long)cv->OW, (long long)cv->OW);
  cg_printf(b, "%*s  const %s mo = gi * %lld + m0 + %s;\n", indent, "", it, (long long)cv->mg, m);
  cg_printf(b, "%*s  const %s yi = ((n * %lld + mo) * %lld) + q %% %lld;\n", indent, "", it, (long long)cv->M,
            (long long)ohw, (long long)ohw);
  cg_printf(b, "%*s  (void)oh;\n%*s  (void)ow;\n", indent, "", indent, "");
  if (cv->bias >= 0) cg_printf(b, "%*s  const float yv = %s + cg_ld_%s(p%d + mo);\n", indent, "", val, ld(cv, cv->bias), cv->bias);
  else cg_printf(b, "%*s  const float yv = %s;\n", indent, "", val);
  epilogue_at(cv, "n", "mo", "oh", "ow", "yi", "yv", indent + 2);
  cg_printf(b, "%*s}\n", indent, "");
}

/* The FMA GEMM of one BM x 64 tile (rows m0.. of group gi, the columns this
 * thread stages given by col_ok, n_, ih0, iw0): acc[TM][4] per thread, rows
 * ty + 16 i, columns tx + 16 j. Needs As, Bs, tid, tx, ty declared. */
static void emit_fma_core(conv *cv, int TM) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  int TN = 4;
  int64_t BM = 16 * TM, BN = 16 * TN, BK = 16;
  cg_printf(b, "    float acc[%d][%d];\n", TM, TN);
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < %d; i++)\n      #pragma unroll\n"
               "      for (int j = 0; j < %d; j++) acc[i][j] = 0.0f;\n", TM, TN);
  cg_printf(b, "    for (int k0 = 0; k0 < %lld; k0 += %lld) {\n", (long long)cv->Kd, (long long)BK);
  cg_printf(b, "      for (int e = tid; e < %lld; e += 256) {\n", (long long)(BM * BK));
  cg_printf(b, "        const int m = e / %lld, kk = e %% %lld;\n", (long long)BK, (long long)BK);
  cg_printf(b, "        As[kk][m] = m0 + m < %lld && k0 + kk < %lld ? cg_ld_%s(p%d + (%s)(gi * %lld + m0 + m) * %lld + k0 + kk) : 0.0f;\n",
            (long long)cv->mg, (long long)cv->Kd, ld(cv, cv->w), cv->w, cg_ityp(k), (long long)cv->mg, (long long)cv->Kd);
  cg_printf(b, "      }\n");
  cg_printf(b, "      for (int kk = tid / %lld; kk < %lld; kk += %lld) {\n", (long long)BN, (long long)BK,
            (long long)(256 / BN));
  cg_printf(b, "        const int kg = k0 + kk;\n        float v = 0.0f;\n");
  emit_patch(cv, "kg", 8);
  cg_printf(b, "        Bs[kk][tid %% %lld] = v;\n      }\n", (long long)BN);
  cg_printf(b, "      __syncthreads();\n");
  cg_printf(b, "      #pragma unroll\n      for (int kk = 0; kk < %lld; kk++) {\n", (long long)BK);
  cg_printf(b, "        float av[%d], bv[%d];\n", TM, TN);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < %d; i++) av[i] = As[kk][ty + 16 * i];\n", TM);
  cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %d; j++) bv[j] = Bs[kk][tx + 16 * j];\n", TN);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < %d; i++)\n          #pragma unroll\n"
               "          for (int j = 0; j < %d; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);\n", TM, TN);
  cg_printf(b, "      }\n      __syncthreads();\n    }\n");
}

static int fma_rows(const conv *cv) { return cv->mg <= 16 ? 1 : cv->mg <= 32 ? 2 : 4; }

static void emit_fma_decls(conv *cv, int TM) {
  cg_buf *b = cv->k->b;
  cg_printf(b, "  __shared__ float As[16][%d]; /* weights, k-major */\n", 16 * TM);
  cg_printf(b, "  __shared__ float Bs[16][64]; /* patches */\n");
  cg_printf(b, "  const int tid = threadIdx.x, tx = tid %% 16, ty = tid / 16;\n");
}

static void emit_fma(conv *cv) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  int TM = fma_rows(cv);
  int64_t BM = 16 * TM, BN = 64;
  int64_t tiles = cv->G * ((cv->mg + BM - 1) / BM) * ((cv->P + BN - 1) / BN);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 8);
  cg_printf(b, "/* Conv as implicit GEMM per group: [%lld x %lld] x [%lld x %lld], %lldx%lld tiles, fp32 FMA */\n",
            (long long)cv->mg, (long long)cv->Kd, (long long)cv->Kd, (long long)cv->P, (long long)BM, (long long)BN);
  cg_emit_signature(k, 256);
  emit_fma_decls(cv, TM);
  emit_tile_head(cv, BM, BN, tiles);
  emit_fma_core(cv, TM);
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < %d; i++)\n      #pragma unroll\n"
               "      for (int j = 0; j < 4; j++)\n", TM);
  emit_tile_out(cv, "(ty + 16 * i)", "(tx + 16 * j)", "acc[i][j]", 8);
  cg_printf(b, "  }\n}\n");
}

/* Tensor cores: the operands' storage type in shared memory, the fragment
 * type and k-step. */
typedef struct tc_types {
  const char *st, *cvt, *ft;
  int KF, tf32;
} tc_types;

static tc_types tc_of(conv *cv, int tf32) {
  cg_dtype xd = cv->k->g->tensors[cv->x].dtype;
  tc_types t;
  t.tf32 = tf32;
  t.st = tf32 ? "float" : xd == CG_F16 ? "__half" : "__nv_bfloat16";
  t.cvt = tf32 ? "" : xd == CG_F16 ? "__float2half_rn" : "__float2bfloat16_rn";
  t.ft = tf32 ? "wmma::precision::tf32" : t.st;
  t.KF = tf32 ? 8 : 16;
  return t;
}

static void emit_wmma_decls(conv *cv, const tc_types *t) {
  cg_buf *b = cv->k->b;
  cv->k->uses_wmma = 1;
  cg_printf(b, "  using namespace nvcuda;\n");
  cg_printf(b, "  __shared__ __align__(32) %s As[64][24]; /* weights, row-major m x k */\n", t->st);
  cg_printf(b, "  __shared__ __align__(32) %s Bs[16][72]; /* patches, row-major k x p */\n", t->st);
  cg_printf(b, "  __shared__ __align__(32) float Cs[64][68];\n");
  cg_printf(b, "  const int tid = threadIdx.x, wm = (tid >> 5) >> 1, wn = (tid >> 5) & 1;\n");
}

/* The tensor-core GEMM of one 64 x 64 tile into Cs (then a barrier): rows
 * m0.. of group gi, the columns this thread stages given by col_ok, n_, ih0,
 * iw0. */
static void emit_wmma_core(conv *cv, const tc_types *t) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  int64_t BM = 64, BN = 64, BK = 16;
  int KF = t->KF;
  cg_printf(b, "    wmma::fragment<wmma::accumulator, 16, 16, %d, float> acc[2][2];\n", KF);
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < 2; i++)\n      #pragma unroll\n"
               "      for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);\n");
  cg_printf(b, "    for (int k0 = 0; k0 < %lld; k0 += %lld) {\n", (long long)cv->Kd, (long long)BK);
  cg_printf(b, "      for (int e = tid; e < %lld; e += 128) {\n", (long long)(BM * BK));
  cg_printf(b, "        const int m = e / %lld, kk = e %% %lld;\n", (long long)BK, (long long)BK);
  cg_printf(b, "        As[m][kk] = %s(m0 + m < %lld && k0 + kk < %lld ? cg_ld_%s(p%d + (%s)(gi * %lld + m0 + m) * %lld + k0 + kk) : 0.0f);\n",
            t->cvt, (long long)cv->mg, (long long)cv->Kd, ld(cv, cv->w), cv->w, cg_ityp(k), (long long)cv->mg,
            (long long)cv->Kd);
  cg_printf(b, "      }\n");
  cg_printf(b, "      for (int kk = tid / %lld; kk < %lld; kk += %lld) {\n", (long long)BN, (long long)BK,
            (long long)(128 / BN));
  cg_printf(b, "        const int kg = k0 + kk;\n        float v = 0.0f;\n");
  emit_patch(cv, "kg", 8);
  cg_printf(b, "        Bs[kk][tid %% %lld] = %s(v);\n      }\n", (long long)BN, t->cvt);
  cg_printf(b, "      __syncthreads();\n");
  cg_printf(b, "      #pragma unroll\n      for (int ks = 0; ks < 16; ks += %d) {\n", KF);
  cg_printf(b, "        wmma::fragment<wmma::matrix_a, 16, 16, %d, %s, wmma::row_major> fa[2];\n", KF, t->ft);
  cg_printf(b, "        wmma::fragment<wmma::matrix_b, 16, 16, %d, %s, wmma::row_major> fb[2];\n", KF, t->ft);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < 2; i++) {\n");
  cg_printf(b, "          wmma::load_matrix_sync(fa[i], &As[wm * 32 + i * 16][ks], 24);\n");
  cg_printf(b, "          wmma::load_matrix_sync(fb[i], &Bs[ks][wn * 32 + i * 16], 72);\n");
  if (t->tf32)
    cg_printf(b, "          for (int t = 0; t < fa[i].num_elements; t++) fa[i].x[t] = wmma::__float_to_tf32(fa[i].x[t]);\n"
                 "          for (int t = 0; t < fb[i].num_elements; t++) fb[i].x[t] = wmma::__float_to_tf32(fb[i].x[t]);\n");
  cg_printf(b, "        }\n");
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < 2; i++)\n          #pragma unroll\n"
               "          for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);\n");
  cg_printf(b, "      }\n      __syncthreads();\n    }\n");
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < 2; i++)\n      #pragma unroll\n      for (int j = 0; j < 2; j++)\n"
               "        wmma::store_matrix_sync(&Cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], 68, wmma::mem_row_major);\n");
  cg_printf(b, "    __syncthreads();\n");
}

static void emit_wmma(conv *cv, int tf32) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  tc_types t = tc_of(cv, tf32);
  int64_t BM = 64, BN = 64;
  int64_t tiles = cv->G * ((cv->mg + BM - 1) / BM) * ((cv->P + BN - 1) / BN);
  k->launch->block[0] = 128;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 16);
  cg_printf(b, "/* Conv as implicit GEMM per group on tensor cores (%s, m16n16k%d, fp32 accumulate): "
               "[%lld x %lld] x [%lld x %lld], 64x64 tiles */\n",
            tf32 ? "tf32" : t.st[2] == 'h' ? "f16" : "bf16", t.KF, (long long)cv->mg, (long long)cv->Kd,
            (long long)cv->Kd, (long long)cv->P);
  cg_emit_signature(k, 128);
  emit_wmma_decls(cv, &t);
  emit_tile_head(cv, BM, BN, tiles);
  emit_wmma_core(cv, &t);
  cg_printf(b, "    for (int e = tid; e < %lld; e += 128) {\n", (long long)(BM * BN));
  cg_printf(b, "      const int m = e / %lld, cc = e %% %lld;\n", (long long)BN, (long long)BN);
  emit_tile_out(cv, "m", "cc", "Cs[m][cc]", 6);
  cg_printf(b, "    }\n    __syncthreads(); /* Cs is rewritten by the next tile */\n  }\n}\n");
}

/* ---- Conv + LRN / pooling in one kernel ------------------------------------------- */

/* The window stages after the conv, as the fused kernel sees them. Without
 * a pooling, the output tiles are the conv's own positions (a 1x1 window of
 * stride 1). */
typedef struct cwin {
  const cg_node *lrn, *pool;
  int64_t kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, cip, is_max;
  int64_t POH, POW;          /* final output spatial dims */
  int64_t TPH, TPW, TH, TW;  /* output tile, tiles per dim */
  int64_t CH, CW, NPOS;      /* the conv region a tile needs */
  int64_t BM, MB, Mc;        /* GEMM rows per block, blocks per group, channels a CTA keeps */
  cg_region mid[2];
} cwin;

/* Region rows/cols a tile of t outputs needs along one dim. */
static int64_t ext_of(int64_t t, int64_t k, int64_t s, int64_t d) { return (t - 1) * s + (k - 1) * d + 1; }

/* Pick the output tile: the fewest GEMM column chunks per wave of CTAs,
 * then the least total work, then the least shared memory. */
static void choose_tile(conv *cv, cwin *w) {
  int64_t best_t = -1, best_w = 0, best_m = 0;
  int64_t blocks = cv->G * w->MB, sms = cv->k->opt->num_sms;
  for (int64_t th = 1; th <= w->POH && th <= 32; th++)
    for (int64_t tw = 1; tw <= w->POW && tw <= 32; tw++) {
      int64_t ch = ext_of(th, w->kh, w->sh, w->dh), cw = ext_of(tw, w->kw, w->sw, w->dw), np = ch * cw;
      if (np > 1024 || w->Mc * np * 4 > CG_CONV_WINDOW_SMEM) continue;
      int64_t chunks = (np + 63) / 64;
      int64_t ctas = cv->N * ((w->POH + th - 1) / th) * ((w->POW + tw - 1) / tw) * (w->lrn ? 1 : blocks);
      int64_t per = chunks * (w->lrn ? blocks : 1);
      int64_t waves = (ctas + 2 * sms - 1) / (2 * sms);
      int64_t t = waves * per, work = ctas * per, mem = w->Mc * np;
      if (best_t < 0 || t < best_t || (t == best_t && (work < best_w || (work == best_w && mem < best_m)))) {
        best_t = t, best_w = work, best_m = mem;
        w->TPH = th, w->TPW = tw, w->CH = ch, w->CW = cw, w->NPOS = np;
      }
    }
  w->TH = (w->POH + w->TPH - 1) / w->TPH;
  w->TW = (w->POW + w->TPW - 1) / w->TPW;
}

/* The value of region r at conv-output coordinates, from `val` (the value of
 * tensor `from`) to tensor `want`, into `out`; stores when store. */
static void region_at(conv *cv, cg_region *r, int from, const char *val, int want, const char *out, const char *n,
                      const char *mo, const char *oh, const char *ow, const char *flat, int store, int indent) {
  cg_emit_req q;
  memset(&q, 0, sizeof q);
  q.coord[0] = n;
  q.coord[1] = mo;
  q.coord[2] = oh;
  q.coord[3] = ow;
  q.flat = flat;
  q.V = 1;
  q.store = store;
  q.indent = indent;
  if (want >= 0) {
    q.n_want = 1;
    q.want[0] = want;
    q.want_to[0] = out;
  }
  r->preset[from] = val;
  cg_region_emit(cv->k->b, r, &q);
  r->preset[from] = NULL;
}

/* LRN over the CTA's channels of each kept position, in place in Cb (or
 * through the epilogue to Y when nothing follows). The sum of squares runs
 * over channels in increasing order as the CPU kernel's; the values of the
 * channels below, already overwritten, ride in a shift register. */
static void emit_lrn_pass(conv *cv, cwin *w, int threads) {
  cg_buf *b = cv->k->b;
  const cg_plan *p = cv->k->plan;
  const cg_node *an = w->lrn;
  int64_t size = an->ia[0], lo = (size - 1) / 2, hi = size / 2, M = cv->M;
  float kk = an->fa[0] / (float)size, beta = an->fa[1], bias = an->fa[2];
  char kf[48], bf[48], betaf[48];
  cg_flit(kf, kk);
  cg_flit(bf, bias);
  cg_flit(betaf, beta);
  int last = w->pool == NULL;
  cg_printf(b, "    for (int e = tid; e < %lld; e += %d) {\n", (long long)w->NPOS, threads);
  cg_printf(b, "      const int oh = r0 + e / %lld, ow = c0 + e %% %lld;\n", (long long)w->CW, (long long)w->CW);
  cg_printf(b, "      if (oh < 0 || oh >= %lld || ow < 0 || ow >= %lld) continue;\n", (long long)cv->OH, (long long)cv->OW);
  for (int64_t i = 0; i < lo; i++) cg_printf(b, "      float w%lld = 0.0f;\n", (long long)i);
  cg_printf(b, "      for (int c = 0; c < %lld; c++) {\n", (long long)M);
  cg_printf(b, "        const float x = Cb[c * %lld + e];\n        float acc = 0.0f;\n", (long long)w->NPOS);
  for (int64_t q = -lo; q < 0; q++)
    cg_printf(b, "        if (c - %lld >= 0) acc += w%lld * w%lld;\n", (long long)-q, (long long)(q + lo), (long long)(q + lo));
  cg_printf(b, "        acc += x * x;\n");
  for (int64_t q = 1; q <= hi; q++)
    cg_printf(b, "        if (c + %lld < %lld) {\n          const float u = Cb[(c + %lld) * %lld + e];\n          acc += u * u;\n        }\n",
              (long long)q, (long long)M, (long long)q, (long long)w->NPOS);
  cg_printf(b, "        const float qv = %s + %s * acc;\n", bf, kf);
  if (beta == 0.75f) cg_printf(b, "        const float r = sqrtf(qv), y = x / (r * sqrtf(r));\n");
  else if (beta == 0.5f) cg_printf(b, "        const float y = x / sqrtf(qv);\n");
  else if (beta == 1.0f) cg_printf(b, "        const float y = x / qv;\n");
  else cg_printf(b, "        const float y = x / powf(qv, %s);\n", betaf);
  for (int64_t i = 0; i + 1 < lo; i++) cg_printf(b, "        w%lld = w%lld;\n", (long long)i, (long long)(i + 1));
  if (lo) cg_printf(b, "        w%lld = x;\n", (long long)(lo - 1));
  if (last) {
    char flat[160];
    snprintf(flat, sizeof flat, "((n_ * %lld + c) * %lld + oh) * %lld + ow", (long long)M, (long long)cv->OH,
             (long long)cv->OW);
    cg_printf(b, "        const %s yi = %s;\n", cg_ityp(cv->k), flat);
    region_at(cv, &cv->epi, w->lrn->out[0], "y", -1, NULL, "n_", "c", "oh", "ow", "yi", 1, 8);
  } else {
    cg_printf(b, "        float z;\n");
    region_at(cv, &w->mid[1], w->lrn->out[0], "y", p->win_x[1], "z", "n_", "c", "oh", "ow", NULL, 0, 8);
    cg_printf(b, "        Cb[c * %lld + e] = z;\n", (long long)w->NPOS);
  }
  cg_printf(b, "      }\n    }\n    __syncthreads();\n");
}

/* The pooling of the CTA's kept conv outputs, then the epilogue and store. */
static void emit_pool_pass(conv *cv, cwin *w, int threads) {
  cg_buf *b = cv->k->b;
  const char *it = cg_ityp(cv->k);
  int64_t tp = w->TPH * w->TPW, OH = cv->OH, OW = cv->OW;
  cg_printf(b, "    for (int e = tid; e < %lld; e += %d) {\n", (long long)(w->Mc * tp), threads);
  cg_printf(b, "      const int mc = e / %lld, ph = ph0 + (e / %lld) %% %lld, pw = pw0 + e %% %lld;\n", (long long)tp,
            (long long)w->TPW, (long long)w->TPH, (long long)w->TPW);
  if (w->lrn) cg_printf(b, "      const int mo = mc;\n      if (ph >= %lld || pw >= %lld) continue;\n", (long long)w->POH, (long long)w->POW);
  else
    cg_printf(b, "      const int mo = gi * %lld + m0 + mc;\n      if (ph >= %lld || pw >= %lld || m0 + mc >= %lld) continue;\n",
              (long long)cv->mg, (long long)w->POH, (long long)w->POW, (long long)cv->mg);
  cg_printf(b, "      const int ih0 = ph * %lld - %lld, iw0 = pw * %lld - %lld;\n", (long long)w->sh, (long long)w->pt,
            (long long)w->sw, (long long)w->pl);
  cg_printf(b, "      float acc = %s;\n", w->is_max ? "-CG_INF" : "0.0f");
  if (!w->is_max) cg_printf(b, "      int nh = 0, nw = 0;\n");
  cg_printf(b, "      #pragma unroll\n      for (int a = 0; a < %lld; a++) {\n", (long long)w->kh);
  cg_printf(b, "        const int ih = ih0 + a * %lld;\n", (long long)w->dh);
  if (w->cip) cg_printf(b, "        nh += ih < %lld;\n", (long long)(OH + w->pb));
  else if (!w->is_max) cg_printf(b, "        nh += ih >= 0 && ih < %lld;\n", (long long)OH);
  cg_printf(b, "        if (ih < 0 || ih >= %lld) continue;\n", (long long)OH);
  cg_printf(b, "        #pragma unroll\n        for (int bb = 0; bb < %lld; bb++) {\n", (long long)w->kw);
  cg_printf(b, "          const int iw = iw0 + bb * %lld;\n", (long long)w->dw);
  cg_printf(b, "          if (iw < 0 || iw >= %lld) continue;\n", (long long)OW);
  cg_printf(b, "          const float v = Cb[mc * %lld + (ih - r0) * %lld + (iw - c0)];\n", (long long)w->NPOS, (long long)w->CW);
  cg_printf(b, w->is_max ? "          acc = cg_max(acc, v);\n" : "          acc += v;\n");
  cg_printf(b, "        }\n      }\n");
  if (!w->is_max) {
    cg_printf(b, "      #pragma unroll\n      for (int bb = 0; bb < %lld; bb++) {\n", (long long)w->kw);
    cg_printf(b, "        const int iw = iw0 + bb * %lld;\n", (long long)w->dw);
    if (w->cip) cg_printf(b, "        nw += iw < %lld;\n", (long long)(OW + w->pr));
    else cg_printf(b, "        nw += iw >= 0 && iw < %lld;\n", (long long)OW);
    cg_printf(b, "      }\n      acc = acc / (float)(nh * nw);\n");
  }
  cg_printf(b, "      const %s yi = ((n_ * %lld + mo) * %lld + ph) * %lld + pw;\n", it, (long long)cv->M, (long long)w->POH,
            (long long)w->POW);
  region_at(cv, &cv->epi, w->pool->out[0], "acc", -1, NULL, "n_", "mo", "ph", "pw", "yi", 1, 6);
  cg_printf(b, "    }\n    __syncthreads(); /* Cb is rewritten by the next tile */\n");
}

static void emit_conv_window(conv *cv, int wmma, int tf32) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  const cg_plan *p = k->plan;
  const cg_group *g = k->g;
  cwin w;
  memset(&w, 0, sizeof w);
  for (int s = 0; s < p->n_win; s++) {
    const cg_node *nd = &g->nodes[p->win[s]];
    if (nd->op == CG_LRN) w.lrn = nd;
    else w.pool = nd;
  }
  w.kh = w.kw = w.sh = w.sw = w.dh = w.dw = 1;
  w.POH = cv->OH, w.POW = cv->OW;
  w.is_max = 1;
  if (w.pool) {
    const int64_t *ia = w.pool->ia;
    w.kh = ia[0], w.kw = ia[1], w.sh = ia[2], w.sw = ia[3], w.dh = ia[4], w.dw = ia[5];
    w.pt = ia[6], w.pl = ia[7], w.pb = ia[8], w.pr = ia[9];
    w.is_max = w.pool->op == CG_MAX_POOL;
    w.cip = !w.is_max && ia[10] != 0;
    w.POH = g->tensors[w.pool->out[0]].dims[2];
    w.POW = g->tensors[w.pool->out[0]].dims[3];
  }
  int TM = wmma ? 4 : fma_rows(cv), threads = wmma ? 128 : 256;
  w.BM = 16 * TM;
  w.MB = (cv->mg + w.BM - 1) / w.BM;
  w.Mc = w.lrn ? cv->M : w.BM;
  choose_tile(cv, &w);
  for (int s = 0; s < p->n_win; s++) {
    int ex[2] = {s ? p->win_y[s - 1] : p->y, p->win_x[s]};
    cg_region_init(&w.mid[s], g, p->mid[s], p->n_mid[s], 4, g->tensors[p->y].dims, ex, 2, NULL, 0);
  }
  int64_t blocks = cv->G * w.MB;
  int64_t tiles = cv->N * w.TH * w.TW * (w.lrn ? 1 : blocks);
  tc_types t = tc_of(cv, tf32);
  k->launch->block[0] = (uint32_t)threads;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 8);
  k->launch->shared_bytes = (uint32_t)(w.Mc * w.NPOS * 4);
  cg_printf(b, "/* Conv (implicit GEMM, %s)%s%s in one kernel: [%lld x %lld] x [%lld x %lld]; output tiles %lldx%lld "
               "of %lldx%lld, from %lldx%lld conv positions x %lld channels kept in shared memory */\n",
            wmma ? "tensor cores" : "fp32 FMA", w.lrn ? " + LRN" : "", w.pool ? w.is_max ? " + MaxPool" : " + AveragePool" : "",
            (long long)cv->mg, (long long)cv->Kd, (long long)cv->Kd, (long long)cv->P, (long long)w.TPH,
            (long long)w.TPW, (long long)w.POH, (long long)w.POW, (long long)w.CH, (long long)w.CW, (long long)w.Mc);
  /* static staging (Cs, As, Bs: ~22 KiB with tensor cores, else 8 KiB) + Cb */
  cg_emit_signature_smem(k, threads, (wmma ? 22784 : 8192) + (int64_t)k->launch->shared_bytes);
  if (wmma) emit_wmma_decls(cv, &t);
  else emit_fma_decls(cv, TM);
  cg_printf(b, "  CG_DYN_SHARED(smem);\n  float *Cb = (float *)smem; /* [%lld][%lld] conv outputs */\n",
            (long long)w.Mc, (long long)w.NPOS);
  const char *it = cg_ityp(k);
  cg_printf(b, "  for (%s tile = blockIdx.x; tile < %lld; tile += gridDim.x) {\n", it, (long long)tiles);
  if (w.lrn) cg_printf(b, "    const %s rest = tile;\n", it);
  else cg_printf(b, "    const int cb = (int)(tile %% %lld);\n    const %s rest = tile / %lld;\n", (long long)blocks, it,
                 (long long)blocks);
  cg_printf(b, "    const int tw_ = (int)(rest %% %lld), th_ = (int)((rest / %lld) %% %lld);\n", (long long)w.TW,
            (long long)w.TW, (long long)w.TH);
  cg_printf(b, "    const %s n_ = rest / %lld;\n", it, (long long)(w.TW * w.TH));
  cg_printf(b, "    const int ph0 = th_ * %lld, pw0 = tw_ * %lld;\n", (long long)w.TPH, (long long)w.TPW);
  cg_printf(b, "    const int r0 = ph0 * %lld - %lld, c0 = pw0 * %lld - %lld; /* the region's first conv position */\n",
            (long long)w.sh, (long long)w.pt, (long long)w.sw, (long long)w.pl);
  cg_printf(b, "    (void)ph0;\n    (void)pw0;\n");
  if (w.lrn) cg_printf(b, "    for (int cb = 0; cb < %lld; cb++) {\n", (long long)blocks);
  else cg_printf(b, "    {\n");
  cg_printf(b, "    const int gi = cb / %lld, m0 = (cb %% %lld) * %lld;\n", (long long)w.MB, (long long)w.MB, (long long)w.BM);
  cg_printf(b, "    for (int q0 = 0; q0 < %lld; q0 += 64) {\n", (long long)w.NPOS);
  cg_printf(b, "    const int pq = q0 + tid %% 64, qh = r0 + pq / %lld, qw = c0 + pq %% %lld;\n", (long long)w.CW,
            (long long)w.CW);
  cg_printf(b, "    const bool col_ok = pq < %lld && qh >= 0 && qh < %lld && qw >= 0 && qw < %lld;\n", (long long)w.NPOS,
            (long long)cv->OH, (long long)cv->OW);
  cg_printf(b, "    const int ih0 = qh * %lld - %lld, iw0 = qw * %lld - %lld;\n", (long long)cv->sh, (long long)cv->pt,
            (long long)cv->sw, (long long)cv->pl);
  if (wmma) emit_wmma_core(cv, &t);
  else emit_fma_core(cv, TM);
  /* the tile's outputs: bias, the elementwise nodes before the first window
   * op, into Cb */
  const char *m_, *cc, *val;
  if (wmma) {
    cg_printf(b, "    for (int e = tid; e < 4096; e += 128) {\n      const int m = e / 64, cc = e %% 64;\n");
    m_ = "m", cc = "cc", val = "Cs[m][cc]";
  } else {
    cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < %d; i++)\n      #pragma unroll\n      for (int j = 0; j < 4; j++) {\n", TM);
    cg_printf(b, "      const int m = ty + 16 * i, cc = tx + 16 * j;\n");
    m_ = "m", cc = "cc", val = "acc[i][j]";
  }
  (void)m_;
  (void)cc;
  cg_printf(b, "      const int pq2 = q0 + cc, oh = r0 + pq2 / %lld, ow = c0 + pq2 %% %lld;\n", (long long)w.CW,
            (long long)w.CW);
  cg_printf(b, "      if (m0 + m < %lld && pq2 < %lld && oh >= 0 && oh < %lld && ow >= 0 && ow < %lld) {\n",
            (long long)cv->mg, (long long)w.NPOS, (long long)cv->OH, (long long)cv->OW);
  cg_printf(b, "        const int mo = gi * %lld + m0 + m;\n", (long long)cv->mg);
  if (cv->bias >= 0) cg_printf(b, "        const float yv = %s + cg_ld_%s(p%d + mo);\n", val, ld(cv, cv->bias), cv->bias);
  else cg_printf(b, "        const float yv = %s;\n", val);
  cg_printf(b, "        float z;\n");
  region_at(cv, &w.mid[0], p->y, "yv", p->win_x[0], "z", "n_", "mo", "oh", "ow", NULL, 0, 8);
  cg_printf(b, "        Cb[%s * %lld + pq2] = z;\n      }\n    }\n", w.lrn ? "mo" : "m", (long long)w.NPOS);
  if (wmma) cg_printf(b, "    __syncthreads(); /* Cs is rewritten by the next chunk */\n");
  cg_printf(b, "    }\n    }\n    __syncthreads();\n");
  if (w.lrn) emit_lrn_pass(cv, &w, threads);
  if (w.pool) {
    if (w.lrn) cg_printf(b, "    {\n    const int gi = 0, m0 = 0;\n    (void)gi;\n    (void)m0;\n");
    else cg_printf(b, "    {\n    const int gi = cb / %lld, m0 = (cb %% %lld) * %lld;\n", (long long)w.MB, (long long)w.MB, (long long)w.BM);
    emit_pool_pass(cv, &w, threads);
    cg_printf(b, "    }\n");
  }
  cg_printf(b, "  }\n}\n");
  for (int s = 0; s < p->n_win; s++) cg_region_free(&w.mid[s]);
}

int cg_emit_conv(cg_kernel *k, char *err, size_t err_size) {
  const cg_plan *p = k->plan;
  const cg_group *g = k->g;
  conv cv;
  memset(&cv, 0, sizeof cv);
  cv.k = k;
  cv.an = &g->nodes[p->anchor];
  cv.x = p->x;
  cv.y = p->y;
  cv.w = cv.an->in[1];
  cv.bias = cv.an->n_in > 2 ? cv.an->in[2] : -1;
  const cg_tensor *X = &g->tensors[cv.x], *Y = &g->tensors[cv.y];
  const int64_t *ia = cv.an->ia;
  cv.N = X->dims[0], cv.C = X->dims[1], cv.H = X->dims[2], cv.W = X->dims[3];
  cv.M = Y->dims[1], cv.OH = Y->dims[2], cv.OW = Y->dims[3];
  cv.G = ia[0], cv.KH = ia[1], cv.KW = ia[2], cv.sh = ia[3], cv.sw = ia[4], cv.dh = ia[5], cv.dw = ia[6];
  cv.pt = ia[7], cv.pl = ia[8];
  cv.cg = cv.C / cv.G, cv.mg = cv.M / cv.G;
  cv.Kd = cv.cg * cv.KH * cv.KW;
  cv.P = cv.N * cv.OH * cv.OW;
  /* the epilogue starts from the last window op's output when there is one */
  int ey = p->n_win ? p->win_y[p->n_win - 1] : cv.y;
  const cg_tensor *E = &g->tensors[ey];
  if (cg_region_init(&cv.pro, g, p->pro, p->n_pro, 4, X->dims, &cv.x, 1, err, err_size)) return -1;
  if (cg_region_init(&cv.epi, g, p->epi, p->n_epi, 4, E->dims, &ey, 1, err, err_size)) {
    cg_region_free(&cv.pro);
    return -1;
  }
  cg_dtype xd = X->dtype, wd = g->tensors[cv.w].dtype;
  /* WMMA needs sm_70 for f16, sm_80 for bf16 and tf32, on every target */
  int arch = k->arch;
  int tc_dtype = xd == wd && ((xd == CG_F16 && arch >= 70) || (xd == CG_BF16 && arch >= 80));
  int tf32 = xd == CG_F32 && wd == CG_F32 && k->opt->allow_tf32 && arch >= 80;
  int tc = (tc_dtype || tf32) && cv.mg >= 16 && cv.Kd >= 16;
  if (p->n_win) emit_conv_window(&cv, tc, tf32);
  else if (cv.cg == 1) emit_depthwise(&cv);
  else if (tc) emit_wmma(&cv, tf32);
  else emit_fma(&cv);
  cg_region_free(&cv.pro);
  cg_region_free(&cv.epi);
  return 0;
}
