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

static void emit_fma(conv *cv) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  int TM = cv->mg <= 16 ? 1 : cv->mg <= 32 ? 2 : 4, TN = 4;
  int64_t BM = 16 * TM, BN = 16 * TN, BK = 16;
  int64_t tiles = cv->G * ((cv->mg + BM - 1) / BM) * ((cv->P + BN - 1) / BN);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 8);
  cg_printf(b, "/* Conv as implicit GEMM per group: [%lld x %lld] x [%lld x %lld], %lldx%lld tiles, fp32 FMA */\n",
            (long long)cv->mg, (long long)cv->Kd, (long long)cv->Kd, (long long)cv->P, (long long)BM, (long long)BN);
  cg_emit_signature(k, 256);
  cg_printf(b, "  __shared__ float As[%lld][%lld]; /* weights, k-major */\n", (long long)BK, (long long)BM);
  cg_printf(b, "  __shared__ float Bs[%lld][%lld]; /* patches */\n", (long long)BK, (long long)BN);
  cg_printf(b, "  const int tid = threadIdx.x, tx = tid %% 16, ty = tid / 16;\n");
  emit_tile_head(cv, BM, BN, tiles);
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
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < %d; i++)\n      #pragma unroll\n"
               "      for (int j = 0; j < %d; j++)\n", TM, TN);
  emit_tile_out(cv, "(ty + 16 * i)", "(tx + 16 * j)", "acc[i][j]", 8);
  cg_printf(b, "  }\n}\n");
}

/* Tensor cores: dt is the operands' storage type in shared memory. */
static void emit_wmma(conv *cv, int tf32) {
  cg_kernel *k = cv->k;
  cg_buf *b = k->b;
  cg_dtype xd = k->g->tensors[cv->x].dtype;
  const char *st = tf32 ? "float" : xd == CG_F16 ? "__half" : "__nv_bfloat16";
  const char *cvt = tf32 ? "" : xd == CG_F16 ? "__float2half_rn" : "__float2bfloat16_rn";
  const char *ft = tf32 ? "wmma::precision::tf32" : st;
  int KF = tf32 ? 8 : 16;
  int64_t BM = 64, BN = 64, BK = 16;
  int64_t tiles = cv->G * ((cv->mg + BM - 1) / BM) * ((cv->P + BN - 1) / BN);
  k->uses_wmma = 1;
  k->launch->block[0] = 128;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 16);
  cg_printf(b, "/* Conv as implicit GEMM per group on tensor cores (%s, m16n16k%d, fp32 accumulate): "
               "[%lld x %lld] x [%lld x %lld], 64x64 tiles */\n",
            tf32 ? "tf32" : xd == CG_F16 ? "f16" : "bf16", KF, (long long)cv->mg, (long long)cv->Kd,
            (long long)cv->Kd, (long long)cv->P);
  cg_emit_signature(k, 128);
  cg_printf(b, "  using namespace nvcuda;\n");
  cg_printf(b, "  __shared__ __align__(32) %s As[64][24]; /* weights, row-major m x k */\n", st);
  cg_printf(b, "  __shared__ __align__(32) %s Bs[16][72]; /* patches, row-major k x p */\n", st);
  cg_printf(b, "  __shared__ __align__(32) float Cs[64][68];\n");
  cg_printf(b, "  const int tid = threadIdx.x, wm = (tid >> 5) >> 1, wn = (tid >> 5) & 1;\n");
  emit_tile_head(cv, BM, BN, tiles);
  cg_printf(b, "    wmma::fragment<wmma::accumulator, 16, 16, %d, float> acc[2][2];\n", KF);
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < 2; i++)\n      #pragma unroll\n"
               "      for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);\n");
  cg_printf(b, "    for (int k0 = 0; k0 < %lld; k0 += %lld) {\n", (long long)cv->Kd, (long long)BK);
  cg_printf(b, "      for (int e = tid; e < %lld; e += 128) {\n", (long long)(BM * BK));
  cg_printf(b, "        const int m = e / %lld, kk = e %% %lld;\n", (long long)BK, (long long)BK);
  cg_printf(b, "        As[m][kk] = %s(m0 + m < %lld && k0 + kk < %lld ? cg_ld_%s(p%d + (%s)(gi * %lld + m0 + m) * %lld + k0 + kk) : 0.0f);\n",
            cvt, (long long)cv->mg, (long long)cv->Kd, ld(cv, cv->w), cv->w, cg_ityp(k), (long long)cv->mg,
            (long long)cv->Kd);
  cg_printf(b, "      }\n");
  cg_printf(b, "      for (int kk = tid / %lld; kk < %lld; kk += %lld) {\n", (long long)BN, (long long)BK,
            (long long)(128 / BN));
  cg_printf(b, "        const int kg = k0 + kk;\n        float v = 0.0f;\n");
  emit_patch(cv, "kg", 8);
  cg_printf(b, "        Bs[kk][tid %% %lld] = %s(v);\n      }\n", (long long)BN, cvt);
  cg_printf(b, "      __syncthreads();\n");
  cg_printf(b, "      #pragma unroll\n      for (int ks = 0; ks < 16; ks += %d) {\n", KF);
  cg_printf(b, "        wmma::fragment<wmma::matrix_a, 16, 16, %d, %s, wmma::row_major> fa[2];\n", KF, ft);
  cg_printf(b, "        wmma::fragment<wmma::matrix_b, 16, 16, %d, %s, wmma::row_major> fb[2];\n", KF, ft);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < 2; i++) {\n");
  cg_printf(b, "          wmma::load_matrix_sync(fa[i], &As[wm * 32 + i * 16][ks], 24);\n");
  cg_printf(b, "          wmma::load_matrix_sync(fb[i], &Bs[ks][wn * 32 + i * 16], 72);\n");
  if (tf32)
    cg_printf(b, "          for (int t = 0; t < fa[i].num_elements; t++) fa[i].x[t] = wmma::__float_to_tf32(fa[i].x[t]);\n"
                 "          for (int t = 0; t < fb[i].num_elements; t++) fb[i].x[t] = wmma::__float_to_tf32(fb[i].x[t]);\n");
  cg_printf(b, "        }\n");
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < 2; i++)\n          #pragma unroll\n"
               "          for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);\n");
  cg_printf(b, "      }\n      __syncthreads();\n    }\n");
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < 2; i++)\n      #pragma unroll\n      for (int j = 0; j < 2; j++)\n"
               "        wmma::store_matrix_sync(&Cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], 68, wmma::mem_row_major);\n");
  cg_printf(b, "    __syncthreads();\n");
  cg_printf(b, "    for (int e = tid; e < %lld; e += 128) {\n", (long long)(BM * BN));
  cg_printf(b, "      const int m = e / %lld, cc = e %% %lld;\n", (long long)BN, (long long)BN);
  emit_tile_out(cv, "m", "cc", "Cs[m][cc]", 6);
  cg_printf(b, "    }\n    __syncthreads(); /* Cs is rewritten by the next tile */\n  }\n}\n");
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
  if (cg_region_init(&cv.pro, g, p->pro, p->n_pro, 4, X->dims, &cv.x, 1, err, err_size)) return -1;
  if (cg_region_init(&cv.epi, g, p->epi, p->n_epi, 4, Y->dims, &cv.y, 1, err, err_size)) {
    cg_region_free(&cv.pro);
    return -1;
  }
  cg_dtype xd = X->dtype, wd = g->tensors[cv.w].dtype;
  /* WMMA needs sm_70 for f16, sm_80 for bf16 and tf32, on every target */
  int arch = k->opt->sm < k->opt->ptx_sm ? k->opt->sm : k->opt->ptx_sm;
  int tc_dtype = xd == wd && ((xd == CG_F16 && arch >= 70) || (xd == CG_BF16 && arch >= 80));
  int tf32 = xd == CG_F32 && wd == CG_F32 && k->opt->allow_tf32 && arch >= 80;
  if (cv.cg == 1) emit_depthwise(&cv);
  else if ((tc_dtype || tf32) && cv.mg >= 16 && cv.Kd >= 16) emit_wmma(&cv, tf32);
  else emit_fma(&cv);
  cg_region_free(&cv.pro);
  cg_region_free(&cv.epi);
  return 0;
}
