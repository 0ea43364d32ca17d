/*
 * model.h: building a graph from a parsed model file (spec section 1).
 */
#ifndef MODEL_H
#define MODEL_H

#include "graph.h"
#include "yml.h"

typedef struct model_dim_override {
  const char *name;
  int64_t value;
} model_dim_override;

typedef struct model_options {
  const model_dim_override *dim_overrides; /* --dim NAME=VALUE, in order */
  int n_dim_overrides;
} model_options;

/* Checks every rule that needs no shapes; errors go through d. The graph's
 * nodes are in file order (see graph_toposort). */
graph *model_build(arena *a, diag *d, const yml_node *root, const char *file,
                   const model_options *opt);

#endif
