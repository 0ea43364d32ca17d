/*
 * graph.h: the compiler's dataflow graph IR.
 *
 * A graph holds tensors (inputs, params, node outputs) and nodes (one ONNX
 * operator each). Every object lives in the compile's arena and remembers
 * where in the model file it came from, so any later phase can report an
 * error at the right line.
 *
 * Dimensions carry a symbol: graph_dim.sym is the index of the model's
 * `dims` entry a dimension equals exactly (or -1). Shape inference keeps the
 * symbol wherever a dimension passes through an op unchanged, which is how
 * the compiler knows which outputs have the batch dimension first.
 *
 * After front end and inference, every node also holds its canonical kernel
 * attributes (ia / fa, layout in runtime/rt_ops.h) ready for lowering.
 */
#ifndef GRAPH_H
#define GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "rt_ops.h"
#include "rt_types.h"
#include "strmap.h"
#include "yml.h"

typedef struct graph_dim {
  int64_t v;
  int sym; /* index into graph.dims, or -1 */
} graph_dim;

typedef enum graph_tensor_kind {
  GRAPH_INPUT,
  GRAPH_PARAM,
  GRAPH_VALUE, /* produced by a node */
} graph_tensor_kind;

/* How a param gets its values (numbers stored in plan.bin: see rt_plan.h). */
typedef enum graph_init {
  GRAPH_INIT_WEIGHTS,  /* read from the weights file under its name */
  GRAPH_INIT_ZEROS,
  GRAPH_INIT_ONES,
  GRAPH_INIT_CONSTANT, /* a */
  GRAPH_INIT_UNIFORM,  /* [a, b), seed */
  GRAPH_INIT_NORMAL,   /* mean a, std b, seed */
  GRAPH_INIT_VALUES,   /* the `values:` list */
} graph_init;

typedef struct graph_node graph_node;

typedef struct graph_tensor {
  const char *name;
  int id; /* index in graph.tensors */
  graph_tensor_kind kind;
  int dtype; /* rt_dtype */
  int rank;
  graph_dim dims[RT_MAX_RANK];
  src_loc loc; /* where it is defined (input/param key, or node output name) */
  graph_node *producer; /* GRAPH_VALUE only */
  int n_uses;           /* node inputs reading it */
  bool is_output;
  /* params */
  graph_init init;
  double init_a, init_b;
  uint64_t init_seed;
  const yml_node *init_values; /* GRAPH_INIT_VALUES */
  void *data;                  /* the values once known (values:, weights file, folding) */
  /* storage (storage.c): where the bytes live when not in their own buffer */
  struct graph_tensor *alias_of; /* written over it (in place), or a window on its bytes (view) */
  int alias_kind;                /* RT_ALIAS_INPLACE or RT_ALIAS_VIEW (rt_plan.h) */
  uint64_t alias_offset;         /* byte offset of this tensor inside alias_of */
  bool fused;                    /* computed and consumed inside one kernel (fuse.c) */
} graph_tensor;

typedef enum graph_attr_type {
  GRAPH_ATTR_INT,
  GRAPH_ATTR_FLOAT,
  GRAPH_ATTR_STRING,
  GRAPH_ATTR_INTS,
  GRAPH_ATTR_FLOATS,
} graph_attr_type;

typedef struct graph_attr {
  const char *name;
  graph_attr_type type; /* as written: 3 is INT, 3.0 FLOAT, [1, 2] INTS */
  int n;                /* list length (1 for scalars) */
  int64_t *ints;        /* INT, INTS */
  double *floats;       /* every numeric type */
  const char *str;      /* STRING */
  src_loc loc;          /* the value */
  bool used;            /* read by inference (unused known attributes are ignored) */
} graph_attr;

struct graph_node {
  int op; /* rt_op */
  const char *name;     /* `name:` or a generated "Op_<index>" */
  bool named;           /* name came from the file */
  int index;            /* position in the file's nodes list */
  int pos;              /* scratch: position in g->nodes, for passes that need it */
  src_loc loc;          /* the node's mapping */
  src_loc op_loc;
  int n_in, n_out;
  graph_tensor **in;    /* NULL: optional input skipped with "" */
  graph_tensor **out;   /* NULL: optional output not wanted ("") */
  src_loc *in_loc, *out_loc;
  int n_attrs;
  graph_attr *attrs;
  bool elided;          /* no kernel: its outputs are views (storage.c) */
  int group;            /* kernel: nodes with equal group are consecutive and fused (fuse.c) */
  /* canonical kernel attributes, set by inference */
  int64_t *ia;
  int n_ia;
  float *fa;
  int n_fa;
};

typedef struct graph_dimdef {
  const char *name;
  int64_t value;
  src_loc loc;
} graph_dimdef;

typedef struct graph {
  arena *ar;
  diag *d;
  const char *file;
  const char *name;
  graph_dimdef *dims;
  int n_dims;
  graph_tensor **tensors;
  int n_tensors, cap_tensors;
  graph_node **nodes; /* topological order after graph_toposort() */
  int n_nodes;
  graph_tensor **inputs;
  int n_inputs;
  graph_tensor **outputs;
  int n_outputs;
  graph_tensor **params;
  int n_params;
  const char *weights_path; /* resolved against the model's directory; NULL if none */
  src_loc weights_loc;
  int batch_sym; /* dims index of the inputs' symbolic first dimension, or -1 */
  strmap by_name;
} graph;

/* --- building --- */
graph_tensor *graph_add_tensor(graph *g, const char *name, graph_tensor_kind kind, src_loc loc);
graph_tensor *graph_find(const graph *g, const char *name);

/* A way back from a tentative rewrite that adds tensors, params and nodes
 * (split.c): restores the node order, the tensor and param counts, and
 * every tensor's uses and producer. Later passes recompute everything else. */
typedef struct graph_mark {
  graph_node **nodes;
  int n_nodes, n_tensors, n_params;
  int *n_uses;
  graph_node **producer;
} graph_mark;
graph_mark graph_checkpoint(graph *g);
void graph_restore(graph *g, const graph_mark *m);

/* Attribute lookup (NULL when absent); marks it used. */
graph_attr *graph_attr_get(graph_node *n, const char *name);

/* Bytes of a tensor's data; the shape was checked not to overflow. */
uint64_t graph_tensor_bytes(const graph_tensor *t);
int64_t graph_tensor_numel(const graph_tensor *t);

/* "[N=8, 3, 224, 224]" style shape text for messages (arena string). */
const char *graph_shape_str(const graph *g, const graph_tensor *t);
const char *graph_dims_str(const graph *g, int rank, const graph_dim *dims);

/* "node 'conv1' (Conv)" for messages. */
const char *graph_node_desc(const graph *g, const graph_node *n);

#endif
