/*
 * kernel_ir.c: a run of graph nodes -> codegen's kernel IR (codegen/cg.h).
 *
 * The fusion pass uses it to ask codegen whether a candidate group can be
 * generated; the GPU lowering uses it again, with the real alignments of
 * the planned offsets, to generate the kernels. Tensors read from outside
 * the run become kernel inputs, results read outside (or model outputs)
 * kernel outputs, and everything else stays on chip (fused).
 */
#include "kernel_ir.h"

#include <string.h>

#include "rt_ops.h"

_Static_assert((int)CG_GATHER == (int)RT_OP_GATHER && (int)CG_CONV == (int)RT_OP_CONV &&
                   (int)CG_OP_COUNT == (int)RT_OP_COUNT,
               "codegen and runtime op codes must match");

static int index_of(graph_tensor **ts, int n, const graph_tensor *t) {
  for (int i = 0; i < n; i++)
    if (ts[i] == t) return i;
  return -1;
}

int kernel_ir_build(arena *a, graph_node **nodes, int n, const uint32_t *align, kernel_ir *k) {
  memset(k, 0, sizeof *k);
  int cap = 0;
  for (int i = 0; i < n; i++) cap += nodes[i]->n_in + nodes[i]->n_out;
  k->tensors = arena_array(a, (size_t)cap + 1, sizeof *k->tensors);
  k->cg_tensors = arena_array(a, (size_t)cap + 1, sizeof *k->cg_tensors);
  k->nodes = arena_array(a, (size_t)n + 1, sizeof *k->nodes);
  /* tensors in first-use order: inputs as met, outputs as produced */
  for (int i = 0; i < n; i++) {
    graph_node *nd = nodes[i];
    for (int j = 0; j < nd->n_in + nd->n_out; j++) {
      graph_tensor *t = j < nd->n_in ? nd->in[j] : nd->out[j - nd->n_in];
      if (t && index_of(k->tensors, k->n_tensors, t) < 0) k->tensors[k->n_tensors++] = t;
    }
  }
  for (int i = 0; i < k->n_tensors; i++) {
    graph_tensor *t = k->tensors[i];
    cg_tensor *c = &k->cg_tensors[i];
    c->dtype = (cg_dtype)t->dtype;
    c->rank = t->rank;
    for (int d = 0; d < t->rank; d++) c->dims[d] = t->dims[d].v;
    int produced_here = 0;
    for (int m = 0; m < n; m++)
      for (int o = 0; o < nodes[m]->n_out; o++) produced_here |= nodes[m]->out[o] == t;
    if (!produced_here) {
      c->role = CG_IN;
      c->is_param = t->kind == GRAPH_PARAM;
    } else {
      c->role = t->fused ? CG_FUSED : CG_OUT;
    }
    size_t es = rt_dtype_size(t->dtype);
    c->align = align ? align[t->id] : (uint32_t)es;
    if (c->align < es) c->align = (uint32_t)es;
  }
  for (int i = 0; i < n; i++) {
    graph_node *nd = nodes[i];
    cg_node *c = &k->nodes[i];
    c->op = (cg_op)nd->op;
    c->n_in = nd->n_in;
    c->n_out = nd->n_out;
    if (nd->n_in > CG_MAX_NODE_IO || nd->n_out > CG_MAX_NODE_IO ||
        nd->n_ia > (int)(sizeof c->ia / sizeof c->ia[0]) || nd->n_fa > (int)(sizeof c->fa / sizeof c->fa[0]))
      return -1;
    for (int j = 0; j < nd->n_in; j++) c->in[j] = nd->in[j] ? index_of(k->tensors, k->n_tensors, nd->in[j]) : -1;
    for (int j = 0; j < nd->n_out; j++)
      c->out[j] = nd->out[j] ? index_of(k->tensors, k->n_tensors, nd->out[j]) : -1;
    c->n_ia = nd->n_ia;
    c->n_fa = nd->n_fa;
    if (nd->n_ia) memcpy(c->ia, nd->ia, (size_t)nd->n_ia * sizeof *nd->ia);
    if (nd->n_fa) memcpy(c->fa, nd->fa, (size_t)nd->n_fa * sizeof *nd->fa);
  }
  k->group.name = nodes[0]->name;
  k->group.tensors = k->cg_tensors;
  k->group.n_tensors = k->n_tensors;
  k->group.nodes = k->nodes;
  k->group.n_nodes = n;
  return 0;
}
