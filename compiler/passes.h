/*
 * passes.h: whole-graph passes, run by the driver in this order:
 *
 *   graph_toposort   order nodes by data dependence (toposort.c)
 *   graph_infer      shapes, dtypes, attribute checks, canonical attributes (infer.c)
 *   graph_load_params param values: values:, init:, weights file (params.c)
 *   graph_dce        drop nodes whose results nobody uses (dce.c)
 *   graph_fold       fold per-channel affine chains into Conv / Gemm (fold.c)
 *   graph_precision  store params and activations in fp16 / bf16 (precision.c)
 *   graph_split_columns  one MatMul per piece of a Split of its result (split.c)
 *   graph_split_ffn  run wide feed-forward blocks in row chunks (split.c)
 *   graph_schedule   choose the kernel order that needs the least memory (schedule.c)
 *   graph_fuse       group ops into kernels; intermediates stay on chip (fuse.c)
 *   graph_plan_storage  views, concat elision, in-place writes (storage.c)
 */
#ifndef PASSES_H
#define PASSES_H

#include "graph.h"

void graph_toposort(graph *g);
void graph_infer(graph *g);
void graph_load_params(graph *g);
/* Returns the number of nodes removed. */
int graph_dce(graph *g);
void graph_fold(graph *g);

enum { PRECISION_FP32, PRECISION_TF32, PRECISION_FP16, PRECISION_BF16 };
/* PRECISION_* of "fp32", "tf32", "fp16", "bf16"; -1 otherwise. */
int graph_precision_parse(const char *s);
void graph_precision(graph *g, int precision);

/* A new param holding columns [start, start + len) of float param w along
 * its last axis (values materialised; fold.c). */
graph_tensor *graph_param_columns(graph *g, graph_tensor *w, int64_t start, int64_t len);

/* Split MatMul -> activation -> MatMul blocks whose intermediate dominates
 * memory into row chunks; returns the number of blocks split. */
int graph_split_ffn(graph *g);
/* Cut each MatMul [-> bias Add] whose result only feeds a Split along its
 * last axis into one MatMul [-> Add] per piece, over column windows of the
 * weights (a fused QKV projection); returns the number cut. */
int graph_split_columns(graph *g);

enum { SCHED_FILE, SCHED_GREEDY, SCHED_DFS, SCHED_COUNT };
/* Reorder g->nodes by strategy; -1 when the graph is too big for it. */
int graph_schedule(graph *g, int strategy);

/* Group nodes into kernels (consecutive in g->nodes, equal node->group) and
 * mark the tensors that never leave a kernel. enable 0: one node a kernel. */
void graph_fuse(graph *g, int enable);

typedef struct storage_options {
  bool views;   /* Reshape-like ops become views */
  bool concat;  /* producers write into their slice of a Concat */
  bool inplace; /* elementwise ops overwrite a dying input */
} storage_options;
void graph_plan_storage(graph *g, const storage_options *opt);

#endif
