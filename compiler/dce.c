/*
 * dce.c: dead node elimination. A node none of whose outputs is read or is
 * a model output computes nothing anyone sees; removing it (and then what
 * only it read) shrinks the plan, as ONNX Runtime and TVM do.
 */
#include "passes.h"

int graph_dce(graph *g) {
  int removed = 0;
  /* Reverse topological order: a node's readers are visited before it. */
  for (int k = g->n_nodes - 1; k >= 0; k--) {
    graph_node *n = g->nodes[k];
    int live = 0;
    for (int o = 0; o < n->n_out; o++)
      if (n->out[o] && (n->out[o]->n_uses > 0 || n->out[o]->is_output)) live = 1;
    if (live) continue;
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i]) n->in[i]->n_uses--;
    g->nodes[k] = NULL;
    removed++;
  }
  int j = 0;
  for (int k = 0; k < g->n_nodes; k++)
    if (g->nodes[k]) g->nodes[j++] = g->nodes[k];
  g->n_nodes = j;
  return removed;
}
