/*
 * passes.h: whole-graph passes, run by the driver in this order:
 *
 *   graph_toposort   order nodes by data dependence (toposort.c)
 *   graph_infer      shapes, dtypes, attribute checks, canonical attributes (infer.c)
 *   graph_load_params param values: values:, init:, weights file (params.c)
 *   graph_dce        drop nodes whose results nobody uses (dce.c)
 */
#ifndef PASSES_H
#define PASSES_H

#include "graph.h"

void graph_toposort(graph *g);
void graph_infer(graph *g);
void graph_load_params(graph *g);
/* Returns the number of nodes removed. */
int graph_dce(graph *g);

#endif
