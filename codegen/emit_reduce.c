/*
 * emit_reduce.c: reduction anchors (Softmax, LogSoftmax, LayerNormalization,
 * ReduceMean/Sum/Max, GlobalAveragePool/GlobalMaxPool) with an elementwise
 * prologue on their input and an epilogue on their output.
 *
 * Every one of them is a segmented reduction over X: the dims are split
 * into kept dims (one segment per kept coordinate) and reduced dims (the R
 * elements of a segment). After coalescing (kept and reduced dims never
 * merge) the kernel takes one of two shapes:
 *
 *   rows     the innermost dim is reduced: a team reads a segment's
 *            elements in chunks of V (16-byte loads where alignment
 *            allows), lanes interleaved so that a warp's loads are
 *            contiguous. The team is a warp (R <= 1024; four segments per
 *            128-thread block, shuffle reductions only) or the whole block
 *            (128..1024 threads; shuffles plus 32 floats of shared memory);
 *            tiny rows (R < 32) take one thread each.
 *   columns  the innermost dim is kept: one thread per segment walks its R
 *            elements; neighbouring threads read neighbouring addresses.
 *
 * Softmax and LayerNormalization read a segment three times (max / mean,
 * sum / variance, write). When a thread's share is at most 32 values it
 * stays in registers (the prologue runs once); beyond that each pass reads
 * global memory again and recomputes the prologue, so nothing is ever
 * stored in between. The epilogue runs on each output value where it is
 * produced (all elements of a Softmax, one value per segment of a Reduce).
 *
 * The arithmetic follows the CPU kernels: max first, exp(x - max), one
 * reciprocal of the sum; LayerNorm with a two-pass variance and
 * (x - mean) * inv * scale + bias; ReduceMean divides the sum by R.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

enum { A_SOFTMAX, A_LOGSOFTMAX, A_LAYERNORM, A_SUM, A_MEAN, A_MAX };

typedef struct red {
  cg_kernel *k;
  const cg_node *an;
  int kind;
  int x, y, scale, bias, mean_out, inv_out;
  cg_region in;  /* X's space, coalesced; prologue (and epilogue when Y has X's shape) */
  cg_region out; /* Y's space for per-segment outputs (Reduce, Global*Pool) */
  int *nodes;    /* prologue then epilogue node indices */
  int keep[CG_MAX_RANK];
  int64_t K, R;
  int T, V, NC, cached, teams, block;
} red;


/* Coordinates of the X-space dims: kept dims from segment `s`, reduced dims
 * from element `r` (dense over each group in order). */
static void seg_coords(const red *rd, const char *s, const char *r, char (*coord)[128]) {
  const cg_region *g = &rd->in;
  int kd[CG_MAX_RANK], rdm[CG_MAX_RANK], nk = 0, nr = 0;
  int64_t ks[CG_MAX_RANK], rs[CG_MAX_RANK];
  for (int d = 0; d < g->rank; d++) {
    if (rd->keep[d]) kd[nk] = d, ks[nk++] = g->dims[d];
    else rdm[nr] = d, rs[nr++] = g->dims[d];
  }
  char tk[CG_MAX_RANK][128], tr[CG_MAX_RANK][128];
  if (nk) cg_coord_exprs(tk, s, nk, ks);
  if (nr) cg_coord_exprs(tr, r, nr, rs);
  for (int i = 0; i < nk; i++) memcpy(coord[kd[i]], tk[i], 128);
  for (int i = 0; i < nr; i++) memcpy(coord[rdm[i]], tr[i], 128);
}

/* X's flat index of (s, r) when the reduced dims are a contiguous tail. */
static int tail_reduced(const red *rd) {
  int seen_red = 0;
  for (int d = 0; d < rd->in.rank; d++) {
    if (!rd->keep[d]) seen_red = 1;
    else if (seen_red) return 0;
  }
  return 1;
}

static void fill_req(const red *rd, cg_emit_req *q, char (*coord)[128], char *flat, int V, int indent) {
  memset(q, 0, sizeof *q);
  seg_coords(rd, "s", "r0", coord);
  for (int d = 0; d < rd->in.rank; d++) q->coord[d] = coord[d];
  if (tail_reduced(rd)) {
    snprintf(flat, 64, "(s * %lld + r0)", (long long)rd->R);
    q->flat = flat;
  }
  q->V = V;
  q->indent = indent;
}

/* The prologue for the chunk at r0 into float xv[V]. */
static void emit_prologue(const red *rd, int indent) {
  cg_region r = rd->in;
  r.n_nodes = rd->k->plan->n_pro;
  r.nodes = rd->nodes;
  char coord[CG_MAX_RANK][128], flat[64];
  cg_emit_req q;
  fill_req(rd, &q, coord, flat, rd->V, indent);
  q.n_want = 1;
  q.want[0] = rd->x;
  q.want_to[0] = rd->V == 1 ? "xv[0]" : "xv";
  cg_region_emit(rd->k->b, &r, &q);
}

/* The epilogue of elementwise outputs (Softmax, LayerNorm): Y's values are
 * in xv; stores every CG_OUT. */
static void emit_epilogue_elems(red *rd, int indent) {
  cg_region r = rd->in;
  r.n_nodes = rd->k->plan->n_epi;
  r.nodes = rd->nodes + rd->k->plan->n_pro;
  r.preset[rd->y] = rd->V == 1 ? "xv[0]" : "xv";
  r.preset_vec[rd->y] = rd->V > 1;
  char coord[CG_MAX_RANK][128], flat[64];
  cg_emit_req q;
  fill_req(rd, &q, coord, flat, rd->V, indent);
  q.store = 1;
  cg_region_emit(rd->k->b, &r, &q);
  r.preset[rd->y] = NULL;
  r.preset_vec[rd->y] = 0;
}

/* LayerNorm's scale and bias for the chunk, into sc[V], bi[V]. */
static void emit_ln_params(const red *rd, int indent) {
  cg_region r = rd->in;
  r.n_nodes = 0;
  char coord[CG_MAX_RANK][128], flat[64];
  cg_emit_req q;
  fill_req(rd, &q, coord, flat, rd->V, indent);
  q.want[q.n_want] = rd->scale;
  q.want_to[q.n_want++] = rd->V == 1 ? "sc[0]" : "sc";
  if (rd->bias >= 0) {
    q.want[q.n_want] = rd->bias;
    q.want_to[q.n_want++] = rd->V == 1 ? "bi[0]" : "bi";
  }
  cg_region_emit(rd->k->b, &r, &q);
}

/* A pass over this thread's chunks of the segment: opens the loop and
 * leaves the chunk's values in xv (from the registers when cached, else
 * through the prologue), then `body`, then closes. */
static void pass(red *rd, int first, const char *body, int write) {
  cg_buf *b = rd->k->b;
  const char *it = cg_ityp(rd->k);
  int V = rd->V, T = rd->T;
  int full = rd->R % ((int64_t)T * V) == 0;
  if (rd->cached) {
    cg_printf(b, "    #pragma unroll\n    for (int k = 0; k < %d; k++) {\n", rd->NC);
    cg_printf(b, "      const %s r0 = (%s)(k * %d + lane) * %d;\n      (void)r0;\n", it, it, T, V);
    if (!full) cg_printf(b, "      if (r0 < %lld) {\n", (long long)rd->R);
    else cg_printf(b, "      {\n");
    cg_printf(b, "        float *xv = c + k * %d;\n", V);
    if (first) emit_prologue(rd, 8);
  } else {
    cg_printf(b, "    for (%s r0 = (%s)lane * %d; r0 < %lld; r0 += %lld) {\n      {\n", it, it, V,
              (long long)rd->R, (long long)T * V);
    cg_printf(b, "        float xv[%d];\n", V);
    emit_prologue(rd, 8);
  }
  if (body) {
    cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %d; j++) {\n          %s\n        }\n", V, body);
  }
  if (write) {
    if (rd->kind == A_LAYERNORM) {
      cg_printf(b, "        float sc[%d], bi[%d];\n", V, V);
      if (rd->bias < 0) cg_printf(b, "        for (int j = 0; j < %d; j++) bi[j] = 0.0f;\n", V);
      emit_ln_params(rd, 8);
      cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %d; j++) xv[j] = (xv[j] - mean) * inv * sc[j] + bi[j];\n", V);
    }
    emit_epilogue_elems(rd, 8);
  }
  cg_printf(b, "      }\n    }\n");
}

static void emit_team(red *rd, const char *var, int is_max) {
  if (rd->T == 1) return;
  if (rd->T == 32) cg_printf(rd->k->b, "    %s = %s(%s);\n", var, is_max ? "cg_warp_max" : "cg_warp_sum", var);
  else cg_printf(rd->k->b, "    %s = %s(%s, cg_sh);\n", var, is_max ? "cg_block_max" : "cg_block_sum", var);
}

/* One value per segment: the epilogue in Y's space at flat index s. */
static void emit_segment_out(red *rd, const char *val, int indent) {
  cg_region r = rd->out;
  r.preset[rd->y] = val;
  r.preset_vec[rd->y] = 0;
  char coord[CG_MAX_RANK][128];
  cg_coord_exprs(coord, "s", r.rank, r.dims);
  cg_emit_req q;
  memset(&q, 0, sizeof q);
  for (int d = 0; d < r.rank; d++) q.coord[d] = coord[d];
  q.flat = "s";
  q.V = 1;
  q.store = 1;
  q.indent = indent;
  cg_region_emit(rd->k->b, &r, &q);
  r.preset[rd->y] = NULL;
}

static void emit_body(red *rd) {
  cg_buf *b = rd->k->b;
  char flit[48];
  switch (rd->kind) {
  case A_SOFTMAX: case A_LOGSOFTMAX: {
    int lg = rd->kind == A_LOGSOFTMAX;
    cg_printf(b, "    float m = -CG_INF;\n");
    pass(rd, 1, "m = cg_max(m, xv[j]);", 0);
    emit_team(rd, "m", 1);
    cg_printf(b, "    float sum = 0.0f;\n");
    if (rd->cached)
      pass(rd, 0, lg ? "xv[j] = xv[j] - m; sum += expf(xv[j]);" : "xv[j] = expf(xv[j] - m); sum += xv[j];", 0);
    else
      pass(rd, 0, "sum += expf(xv[j] - m);", 0);
    emit_team(rd, "sum", 0);
    if (lg) cg_printf(b, "    const float ls = logf(sum);\n");
    else cg_printf(b, "    const float inv = 1.0f / sum;\n");
    if (rd->cached) pass(rd, 0, lg ? "xv[j] = xv[j] - ls;" : "xv[j] = xv[j] * inv;", 1);
    else pass(rd, 0, lg ? "xv[j] = (xv[j] - m) - ls;" : "xv[j] = expf(xv[j] - m) * inv;", 1);
    break;
  }
  case A_LAYERNORM: {
    cg_flit(flit, rd->an->fa[0]);
    cg_printf(b, "    float sum = 0.0f;\n");
    pass(rd, 1, "sum += xv[j];", 0);
    emit_team(rd, "sum", 0);
    cg_printf(b, "    const float mean = sum / %lld.0f;\n    float ssq = 0.0f;\n", (long long)rd->R);
    pass(rd, 0, "const float d = xv[j] - mean; ssq += d * d;", 0);
    emit_team(rd, "ssq", 0);
    cg_printf(b, "    const float inv = 1.0f / sqrtf(ssq / %lld.0f + %s);\n", (long long)rd->R, flit);
    if (rd->mean_out >= 0 || rd->inv_out >= 0) {
      cg_printf(b, "    if (lane == 0) {\n");
      if (rd->mean_out >= 0)
        cg_printf(b, "      cg_st_%s(p%d + s, mean);\n", cg_dtname(rd->k->g->tensors[rd->mean_out].dtype), rd->mean_out);
      if (rd->inv_out >= 0)
        cg_printf(b, "      cg_st_%s(p%d + s, inv);\n", cg_dtname(rd->k->g->tensors[rd->inv_out].dtype), rd->inv_out);
      cg_printf(b, "    }\n");
    }
    pass(rd, 0, NULL, 1);
    break;
  }
  default: {
    int mx = rd->kind == A_MAX;
    cg_printf(b, "    float acc = %s;\n", mx ? "-CG_INF" : "0.0f");
    pass(rd, 1, mx ? "acc = cg_max(acc, xv[j]);" : "acc += xv[j];", 0);
    emit_team(rd, "acc", mx);
    if (rd->kind == A_MEAN) cg_printf(b, "    acc = acc / %lld.0f;\n", (long long)rd->R);
    cg_printf(b, "    if (lane == 0)\n");
    emit_segment_out(rd, "acc", 6);
  }
  }
}

int cg_emit_reduce(cg_kernel *k, char *err, size_t err_size) {
  const cg_group *g = k->g;
  const cg_plan *p = k->plan;
  cg_buf *b = k->b;
  red rd;
  memset(&rd, 0, sizeof rd);
  rd.k = k;
  rd.an = &g->nodes[p->anchor];
  rd.x = p->x;
  rd.y = p->y;
  rd.scale = rd.bias = rd.mean_out = rd.inv_out = -1;
  const cg_tensor *X = &g->tensors[rd.x], *Y = &g->tensors[rd.y];
  int rank = X->rank ? X->rank : 1, red_[CG_MAX_RANK] = {0};
  int64_t one = 1;
  const int64_t *dims = X->rank ? X->dims : &one;
  switch (rd.an->op) {
  case CG_SOFTMAX: case CG_LOG_SOFTMAX:
    rd.kind = rd.an->op == CG_SOFTMAX ? A_SOFTMAX : A_LOGSOFTMAX;
    red_[X->rank ? rd.an->ia[0] : 0] = 1;
    break;
  case CG_LAYER_NORM:
    rd.kind = A_LAYERNORM;
    for (int d = (int)rd.an->ia[0]; d < rank; d++) red_[d] = 1;
    rd.scale = rd.an->in[1];
    if (rd.an->n_in > 2) rd.bias = rd.an->in[2];
    if (rd.an->n_out > 1) rd.mean_out = rd.an->out[1];
    if (rd.an->n_out > 2) rd.inv_out = rd.an->out[2];
    break;
  case CG_GLOBAL_AVERAGE_POOL: case CG_GLOBAL_MAX_POOL:
    rd.kind = rd.an->op == CG_GLOBAL_MAX_POOL ? A_MAX : A_MEAN;
    for (int d = 2; d < rank; d++) red_[d] = 1;
    break;
  default:
    rd.kind = rd.an->op == CG_REDUCE_MAX ? A_MAX : rd.an->op == CG_REDUCE_SUM ? A_SUM : A_MEAN;
    for (int i = 1; i < rd.an->n_ia; i++) red_[rd.an->ia[i]] = 1;
  }
  int elems = rd.kind <= A_LAYERNORM; /* outputs per element, of X's shape */
  rd.nodes = malloc(sizeof(int) * (size_t)(p->n_pro + p->n_epi + 1));
  if (!rd.nodes) return cg_fail(err, err_size, "out of memory");
  memcpy(rd.nodes, p->pro, sizeof(int) * (size_t)p->n_pro);
  memcpy(rd.nodes + p->n_pro, p->epi, sizeof(int) * (size_t)p->n_epi);
  int extra[4] = {rd.x, rd.y}, n_extra = elems ? 2 : 1;
  if (rd.scale >= 0) extra[n_extra++] = rd.scale;
  if (rd.bias >= 0) extra[n_extra++] = rd.bias;
  if (cg_region_init(&rd.in, g, rd.nodes, elems ? p->n_pro + p->n_epi : p->n_pro, rank, dims, extra, n_extra,
                     err, err_size)) {
    free(rd.nodes);
    return -1;
  }
  int map[CG_MAX_RANK];
  cg_region_coalesce(&rd.in, red_, map);
  for (int d = 0; d < rd.in.rank; d++) rd.keep[d] = 1;
  for (int d = 0; d < rank; d++)
    if (map[d] >= 0) rd.keep[map[d]] = !red_[d];
  rd.K = rd.R = 1;
  for (int d = 0; d < rd.in.rank; d++) {
    if (rd.keep[d]) rd.K *= rd.in.dims[d];
    else rd.R *= rd.in.dims[d];
  }
  if (!elems) {
    int64_t yd1 = 1;
    if (cg_region_init(&rd.out, g, p->epi, p->n_epi, Y->rank ? Y->rank : 1, Y->rank ? Y->dims : &yd1, &rd.y, 1,
                       err, err_size)) {
      cg_region_free(&rd.in);
      free(rd.nodes);
      return -1;
    }
    cg_region_coalesce(&rd.out, NULL, NULL);
  }
  /* the kernel's shape */
  int inner_red = !rd.keep[rd.in.rank - 1] && rd.R > 1;
  int all16 = 1;
  for (int t = 0; t < g->n_tensors; t++)
    if (rd.in.has[t] && cg_dtype_size(g->tensors[t].dtype) != 2) all16 = 0;
  rd.V = inner_red ? cg_pick_vec(rd.in.dims[rd.in.rank - 1], all16 ? 8 : 4) : 1;
  if (!inner_red || rd.R < 32) rd.T = 1;
  else if (rd.R <= 32 * 32) rd.T = 32;
  else {
    rd.T = 128;
    while (rd.T < 1024 && rd.R > (int64_t)rd.T * 32) rd.T *= 2;
  }
  while (rd.V > 1 && (int64_t)rd.T * rd.V > rd.R) rd.V /= 2; /* keep lanes busy */
  rd.NC = (int)((rd.R + (int64_t)rd.T * rd.V - 1) / ((int64_t)rd.T * rd.V));
  rd.cached = elems && (int64_t)rd.NC * rd.V <= 32;
  rd.block = rd.T == 1 ? 256 : rd.T == 32 ? 128 : rd.T;
  rd.teams = rd.block / rd.T;
  const char *it = cg_ityp(k);
  k->launch->block[0] = (uint32_t)rd.block;
  k->launch->grid[0] = cg_grid_for(k, rd.K, rd.teams, rd.T >= 128 ? 2048 / rd.T : 8);
  cg_printf(b, "/* %s: %lld segments of %lld elements; %s, %d elements per step%s */\n", cg_op_name(rd.an->op),
            (long long)rd.K, (long long)rd.R,
            rd.T == 1 ? "a thread per segment" : rd.T == 32 ? "a warp per segment" : "a block per segment", rd.V,
            rd.cached ? ", kept in registers" : "");
  cg_emit_signature(k, rd.block);
  if (rd.T > 32) cg_printf(b, "  __shared__ float cg_sh[32];\n");
  cg_printf(b, "  const int lane = %s;\n", rd.T == 1 ? "0" : rd.T == 32 ? "threadIdx.x & 31" : "threadIdx.x");
  cg_printf(b, "  const %s step = (%s)gridDim.x * %d;\n", it, it, rd.teams);
  cg_printf(b, "  for (%s s = (%s)blockIdx.x * %d + %s; s < %lld; s += step) {\n", it, it, rd.teams,
            rd.teams == 1 ? "0" : rd.T == 1 ? "threadIdx.x" : "(threadIdx.x >> 5)", (long long)rd.K);
  if (rd.cached) cg_printf(b, "    float c[%d];\n", rd.NC * rd.V);
  emit_body(&rd);
  cg_printf(b, "  }\n}\n");
  cg_region_free(&rd.in);
  if (!elems) cg_region_free(&rd.out);
  free(rd.nodes);
  return 0;
}
