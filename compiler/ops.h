/*
 * ops.h: what the front end knows about each op before running it: how many
 * inputs and outputs it takes, which attributes exist and their types, and
 * the shape inference function (infer.c) that computes its outputs.
 */
#ifndef OPS_H
#define OPS_H

#include "graph.h"

typedef void (*op_infer_fn)(graph *g, graph_node *n);

typedef struct op_schema {
  int min_in, max_in;   /* max_in < 0: any number */
  int min_out, max_out;
  /* "name:type ..." with type i (int), f (float, ints accepted), s (string),
   * is (list of ints), fs (list of floats). */
  const char *attrs;
  op_infer_fn infer;
} op_schema;

const op_schema *op_schema_get(int op);

/* The declared type of an attribute of op ("i", "is", ...) or NULL if the
 * op has no attribute of that name. */
const char *op_attr_type(int op, const char *name, char *buf, size_t size);

#endif
