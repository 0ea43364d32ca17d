/*
 * emit_pool.c: window anchors, MaxPool / AveragePool (2-D, NCHW) and LRN,
 * with an elementwise prologue applied to every input value they read and
 * an epilogue on every output value.
 *
 * One thread per output element in a grid-stride loop; the window loops
 * have constant bounds and unroll, and neighbouring threads read
 * neighbouring input columns, so the window overlap is served by L1.
 *
 * Pooling follows the CPU kernel (runtime/kernels/pool.c) exactly: taps
 * outside the input are skipped (the prologue never sees padding), taps are
 * visited kernel row by kernel row, and AveragePool divides by
 * (rows counted) * (columns counted), counting either the taps inside the
 * input or, with count_include_pad, those inside the padded extent. LRN sums
 * squares over channels c - floor((size-1)/2) .. c + ceil((size-1)/2)
 * clipped to [0, C) and divides by (bias + alpha/size * sum)^beta, with the
 * CPU kernel's shortcuts for beta = 0.75, 0.5 and 1.
 */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

/* The prologue at X coordinates coord[] into `out` (a float). */
static void prologue_at(cg_kernel *k, cg_region *r, int x, char (*coord)[128], const char *out, int indent) {
  cg_emit_req q;
  memset(&q, 0, sizeof q);
  for (int d = 0; d < r->rank; d++) q.coord[d] = coord[d];
  q.V = 1;
  q.n_want = 1;
  q.want[0] = x;
  q.want_to[0] = out;
  q.indent = indent;
  cg_region_emit(k->b, r, &q);
}

static void epilogue_at(cg_kernel *k, cg_region *r, int y, const char *flat, const char *val, int indent) {
  char coord[CG_MAX_RANK][128];
  cg_coord_exprs(coord, flat, r->rank, r->dims);
  cg_emit_req q;
  memset(&q, 0, sizeof q);
  for (int d = 0; d < r->rank; d++) q.coord[d] = coord[d];
  q.flat = flat;
  q.V = 1;
  q.store = 1;
  q.indent = indent;
  r->preset[y] = val;
  cg_region_emit(k->b, r, &q);
  r->preset[y] = NULL;
}

static void emit_pool2d(cg_kernel *k, cg_region *pro, cg_region *epi) {
  const cg_plan *p = k->plan;
  const cg_node *an = &k->g->nodes[p->anchor];
  const cg_tensor *X = &k->g->tensors[p->x], *Y = &k->g->tensors[p->y];
  cg_buf *b = k->b;
  const int64_t *ia = an->ia;
  int64_t C = X->dims[1], H = X->dims[2], W = X->dims[3], OH = Y->dims[2], OW = Y->dims[3];
  int64_t kh = ia[0], kw = ia[1], sh = ia[2], sw = ia[3], dh = ia[4], dw = ia[5], pt = ia[6], pl = ia[7];
  int64_t pb = ia[8], pr = ia[9];
  int is_max = an->op == CG_MAX_POOL, cip = !is_max && ia[10] != 0;
  int64_t total = cg_numel(Y);
  const char *it = cg_ityp(k);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, total, 256, 8);
  cg_printf(b, "/* %s %lldx%lld, stride %lldx%lld, dilation %lldx%lld, pads %lld %lld %lld %lld%s */\n",
            cg_op_name(an->op), (long long)kh, (long long)kw, (long long)sh, (long long)sw, (long long)dh,
            (long long)dw, (long long)pt, (long long)pl, (long long)pb, (long long)pr,
            cip ? ", count_include_pad" : "");
  cg_emit_signature(k, 256);
  cg_printf(b, "  const %s stride = (%s)(gridDim.x * blockDim.x);\n", it, it);
  cg_printf(b, "  for (%s i = (%s)(blockIdx.x * blockDim.x + threadIdx.x); i < %lld; i += stride) {\n", it, it,
            (long long)total);
  cg_printf(b, "    const %s ow = i %% %lld, oh = (i / %lld) %% %lld, pc = i / %lld;\n", it, (long long)OW,
            (long long)OW, (long long)OH, (long long)(OW * OH));
  cg_printf(b, "    const %s ih0 = oh * %lld - %lld, iw0 = ow * %lld - %lld;\n", it, (long long)sh, (long long)pt,
            (long long)sw, (long long)pl);
  cg_printf(b, "    (void)pc;\n");
  cg_printf(b, "    float acc = %s;\n", is_max ? "-CG_INF" : "0.0f");
  if (!is_max) cg_printf(b, "    int nh = 0, nw = 0;\n");
  cg_printf(b, "    #pragma unroll\n    for (int a = 0; a < %lld; a++) {\n", (long long)kh);
  cg_printf(b, "      const %s ih = ih0 + a * %lld;\n", it, (long long)dh);
  if (cip) cg_printf(b, "      nh += ih < %lld;\n", (long long)(H + pb));
  else if (!is_max) cg_printf(b, "      nh += ih >= 0 && ih < %lld;\n", (long long)H);
  cg_printf(b, "      if (ih < 0 || ih >= %lld) continue;\n", (long long)H);
  cg_printf(b, "      #pragma unroll\n      for (int bb = 0; bb < %lld; bb++) {\n", (long long)kw);
  cg_printf(b, "        const %s iw = iw0 + bb * %lld;\n", it, (long long)dw);
  cg_printf(b, "        if (iw < 0 || iw >= %lld) continue;\n", (long long)W);
  cg_printf(b, "        float v;\n");
  char coord[CG_MAX_RANK][128];
  snprintf(coord[0], 128, "(pc / %lld)", (long long)C);
  snprintf(coord[1], 128, "(pc %% %lld)", (long long)C);
  snprintf(coord[2], 128, "ih");
  snprintf(coord[3], 128, "iw");
  prologue_at(k, pro, p->x, coord, "v", 8);
  cg_printf(b, is_max ? "        acc = cg_max(acc, v);\n" : "        acc += v;\n");
  cg_printf(b, "      }\n    }\n");
  if (!is_max) {
    /* columns counted: the same for every kernel row */
    cg_printf(b, "    #pragma unroll\n    for (int bb = 0; bb < %lld; bb++) {\n", (long long)kw);
    cg_printf(b, "      const %s iw = iw0 + bb * %lld;\n", it, (long long)dw);
    if (cip) cg_printf(b, "      nw += iw < %lld;\n", (long long)(W + pr));
    else cg_printf(b, "      nw += iw >= 0 && iw < %lld;\n", (long long)W);
    cg_printf(b, "    }\n    acc = acc / (float)(nh * nw);\n");
  }
  epilogue_at(k, epi, p->y, "i", "acc", 4);
  cg_printf(b, "  }\n}\n");
}

static void emit_lrn(cg_kernel *k, cg_region *pro, cg_region *epi) {
  const cg_plan *p = k->plan;
  const cg_node *an = &k->g->nodes[p->anchor];
  const cg_tensor *X = &k->g->tensors[p->x];
  cg_buf *b = k->b;
  int64_t C = X->dims[1], S = 1, size = an->ia[0];
  for (int d = 2; d < X->rank; d++) S *= X->dims[d];
  int64_t lo = (size - 1) / 2, hi = size / 2, total = cg_numel(X);
  float kk = an->fa[0] / (float)size, beta = an->fa[1], bias = an->fa[2];
  char kf[48], bf[48], betaf[48];
  cg_flit(kf, kk);
  cg_flit(bf, bias);
  cg_flit(betaf, beta);
  const char *it = cg_ityp(k);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, total, 256, 8);
  cg_printf(b, "/* LRN over %lld channels, window %lld */\n", (long long)C, (long long)size);
  cg_emit_signature(k, 256);
  cg_printf(b, "  const %s stride = (%s)(gridDim.x * blockDim.x);\n", it, it);
  cg_printf(b, "  for (%s i = (%s)(blockIdx.x * blockDim.x + threadIdx.x); i < %lld; i += stride) {\n", it, it,
            (long long)total);
  cg_printf(b, "    const %s sp = i %% %lld, c = (i / %lld) %% %lld, n = i / %lld;\n", it, (long long)S, (long long)S,
            (long long)C, (long long)(S * C));
  cg_printf(b, "    (void)sp;\n    (void)n;\n");
  char coord[CG_MAX_RANK][128];
  snprintf(coord[0], 128, "n");
  snprintf(coord[1], 128, "ci");
  cg_coord_exprs(coord + 2, "sp", X->rank - 2, X->dims + 2);
  cg_printf(b, "    float acc = 0.0f, x = 0.0f;\n");
  cg_printf(b, "    #pragma unroll\n    for (int q = %lld; q <= %lld; q++) {\n", (long long)-lo, (long long)hi);
  cg_printf(b, "      const %s ci = c + q;\n      if (ci < 0 || ci >= %lld) continue;\n", it, (long long)C);
  cg_printf(b, "      float v;\n");
  prologue_at(k, pro, p->x, coord, "v", 6);
  cg_printf(b, "      acc += v * v;\n      if (q == 0) x = v;\n    }\n");
  cg_printf(b, "    const float qv = %s + %s * acc;\n", bf, kf);
  if (beta == 0.75f) cg_printf(b, "    const float r = sqrtf(qv), y = x / (r * sqrtf(r));\n");
  else if (beta == 0.5f) cg_printf(b, "    const float y = x / sqrtf(qv);\n");
  else if (beta == 1.0f) cg_printf(b, "    const float y = x / qv;\n");
  else cg_printf(b, "    const float y = x / powf(qv, %s);\n", betaf);
  epilogue_at(k, epi, p->y, "i", "y", 4);
  cg_printf(b, "  }\n}\n");
}

int cg_emit_window(cg_kernel *k, char *err, size_t err_size) {
  const cg_plan *p = k->plan;
  const cg_tensor *X = &k->g->tensors[p->x], *Y = &k->g->tensors[p->y];
  cg_region pro, epi;
  if (cg_region_init(&pro, k->g, p->pro, p->n_pro, X->rank, X->dims, &p->x, 1, err, err_size)) return -1;
  if (cg_region_init(&epi, k->g, p->epi, p->n_epi, Y->rank, Y->dims, &p->y, 1, err, err_size)) {
    cg_region_free(&pro);
    return -1;
  }
  cg_region_coalesce(&epi, NULL, NULL);
  if (k->g->nodes[p->anchor].op == CG_LRN) emit_lrn(k, &pro, &epi);
  else emit_pool2d(k, &pro, &epi);
  cg_region_free(&pro);
  cg_region_free(&epi);
  return 0;
}
