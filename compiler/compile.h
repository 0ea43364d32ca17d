/*
 * compile.h: the whole compile as one call, for the driver and the tests.
 */
#ifndef COMPILE_H
#define COMPILE_H

#include <stdio.h>

#include "arena.h"
#include "diag.h"
#include "graph.h"
#include "lower.h"
#include "model.h"
#include "rt_plan.h"

typedef struct compile_options {
  const char *model_path;   /* the file, or the name used in messages with model_text */
  const char *model_text;   /* compile this text instead of reading model_path */
  size_t model_text_len;
  const char *plan_path;    /* NULL: check only, write nothing */
  const char *report_json;  /* NULL: none */
  const char *report_svg;   /* NULL: none */
  model_options model;
  double time_limit_s;      /* memory planner search budget */
  /* Memory optimisations, all on by default; off to measure what each buys. */
  int no_views, no_concat, no_inplace, no_schedule, no_fold, no_fuse, no_split;
  int greedy;               /* place with the greedy-by-size baseline */
  uint64_t memory_limit;    /* > 0: compile at the largest batch whose device bytes fit */
  int gpu;                  /* generate GPU code (when this dlc has NVRTC) */
  int precision;            /* PRECISION_* (passes.h) */
  const char *emit_cuda;    /* write the generated CUDA C into this directory */
  int cuda_arch;            /* CUBIN architecture (0: 90, H100/H200); PTX covers the rest */
  int skip_codegen;         /* plan the GPU's memory (workspaces) but compile no code */
} compile_options;

typedef struct compile_fit_row {
  int64_t batch;
  uint64_t device_bytes;    /* 0: the model does not compile at this batch */
} compile_fit_row;

typedef struct compile_result {
  arena arena;              /* owns g, plan and everything they point to */
  diag d;                   /* d.msg: the error when compile_model fails */
  graph *g;
  rt_plan *plan;
  memplan_stats mem;
  int dce_removed;
  int split_blocks;         /* feed-forward blocks run in row chunks (split.c) */
  int split_columns;        /* MatMuls cut into one per Split piece (split.c) */
  int schedule;             /* the kernel order kept: SCHED_* (passes.h) */
  /* --memory-limit: the batch dimension, the batch chosen, what was tried */
  const char *fit_dim;
  int64_t fit_n;
  compile_fit_row fit_rows[64];
  int n_fit_rows;
} compile_result;

/* 0 on success; -1 on a user error (message printed to diag_out when not
 * NULL, and kept in r->d.msg). Nothing is written on error. Call
 * compile_free() in both cases. */
int compile_model(const compile_options *opt, compile_result *r, FILE *diag_out);
void compile_free(compile_result *r);

#endif
