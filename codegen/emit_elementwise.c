/*
 * emit_elementwise.c: the kernel of an elementwise group.
 *
 * The iteration space is the largest output's shape, coalesced against
 * every tensor's broadcast view (same-shape operands collapse it to one
 * dim; a per-channel operand leaves [outer, C, inner]). Each thread of a
 * grid-stride loop takes chunks of V consecutive elements: V = 8 when every
 * tensor is 16-bit, else 4, lowered until it divides the innermost dim (a
 * one-dim space keeps V and finishes its tail one element at a time). The
 * region emitter then turns each operand into one 16-byte (or 8-byte) load
 * where its view and alignment allow, and the whole DAG into register math.
 */
#include <stdio.h>

#include "cg_internal.h"

int cg_emit_elementwise(cg_kernel *k, char *err, size_t err_size) {
  const cg_group *g = k->g;
  const cg_plan *p = k->plan;
  cg_buf *b = k->b;
  cg_region r;
  if (cg_region_init(&r, g, p->ew, p->n_ew, p->rank, p->dims, NULL, 0, err, err_size)) return -1;
  cg_region_coalesce(&r, NULL, NULL);
  int all16 = 1;
  for (int t = 0; t < g->n_tensors; t++)
    if (r.has[t] && cg_dtype_size(g->tensors[t].dtype) != 2) all16 = 0;
  int64_t total = 1;
  for (int d = 0; d < r.rank; d++) total *= r.dims[d];
  int64_t L = r.dims[r.rank - 1];
  int V = all16 ? 8 : 4;
  if (r.rank > 1) V = cg_pick_vec(L, V);
  if (total < V) V = 1;
  int64_t nv = total / V, done = nv * V;
  const int threads = 256;
  const char *it = cg_ityp(k);
  k->launch->block[0] = threads;
  k->launch->grid[0] = cg_grid_for(k, nv, threads, 8);
  cg_printf(b, "/* elementwise: %d nodes over [", p->n_ew);
  for (int d = 0; d < r.rank; d++) cg_printf(b, "%s%lld", d ? ", " : "", (long long)r.dims[d]);
  cg_printf(b, "] (coalesced), %d elements per thread step */\n", V);
  cg_emit_signature(k, threads);
  cg_printf(b, "  const %s stride = (%s)(gridDim.x * blockDim.x);\n", it, it);
  cg_printf(b, "  for (%s u = (%s)(blockIdx.x * blockDim.x + threadIdx.x); u < %lld; u += stride) {\n",
            it, it, (long long)nv);
  cg_printf(b, "    const %s i = u * %d;\n", it, V);
  char coord[CG_MAX_RANK][128];
  cg_coord_exprs(coord, "i", r.rank, r.dims);
  cg_emit_req q = {0};
  for (int d = 0; d < r.rank; d++) q.coord[d] = coord[d];
  q.flat = "i";
  q.V = V;
  q.store = 1;
  q.indent = 4;
  cg_region_emit(b, &r, &q);
  cg_printf(b, "  }\n");
  if (done < total) { /* one-dim space: the tail that is not a whole chunk */
    cg_printf(b, "  for (%s i = %lld + (%s)(blockIdx.x * blockDim.x + threadIdx.x); i < %lld; i += stride) {\n",
              it, (long long)done, it, (long long)total);
    q.V = 1;
    cg_region_emit(b, &r, &q);
    cg_printf(b, "  }\n");
  }
  cg_printf(b, "}\n");
  cg_region_free(&r);
  return 0;
}
