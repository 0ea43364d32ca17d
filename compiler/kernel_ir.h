/*
 * kernel_ir.h: graph nodes -> codegen's kernel IR (kernel_ir.c).
 */
#ifndef KERNEL_IR_H
#define KERNEL_IR_H

#include "cg.h"
#include "graph.h"

typedef struct kernel_ir {
  cg_group group;
  graph_tensor **tensors;  /* the graph tensor of each cg tensor */
  cg_tensor *cg_tensors;
  cg_node *nodes;
  int n_tensors;
} kernel_ir;

/* nodes[0..n) in execution order; tensors' fused flags decide their roles.
 * align[t->id] is each tensor's base alignment in bytes, or align is NULL
 * for the element size. Memory comes from a. -1 when a node does not fit the
 * IR's limits. */
int kernel_ir_build(arena *a, graph_node **nodes, int n, const uint32_t *align, kernel_ir *k);

#endif
