/*
 * planner.h: static memory planning on bare intervals.
 *
 * The planner knows nothing of graphs or ops. A problem is a list of buffers,
 * each with a size in bytes and a lifetime [begin, end) in steps; a solution
 * gives each buffer an offset so that no two buffers whose lifetimes intersect
 * share a byte. The slab is max(offset + size) over all buffers (the peak).
 * The lower bound is the largest total size alive at one step: no solution can
 * be smaller.
 *
 * Module prefix: plan_. Everything is deterministic: the same input gives the
 * same offsets on every run and machine (no wall-clock dependence in the
 * result; a time limit only cuts a search that then returns its best so far,
 * and the heuristics alone are deterministic).
 */
#ifndef PLANNER_H
#define PLANNER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct plan_buf {
  uint64_t size;        /* bytes; 0-sized buffers get offset 0 and never conflict */
  int64_t begin, end;   /* alive over [begin, end); begin < end */
  uint64_t offset;      /* out: multiple of the alignment */
} plan_buf;

typedef struct plan_opts {
  uint64_t alignment;   /* power of two >= 1; sizes are rounded up to it */
  double time_limit_s;  /* budget for the searches beyond the heuristics; 0: none */
  int verbose;          /* progress of the search on stderr */
} plan_opts;

typedef struct plan_result {
  uint64_t peak;        /* slab bytes of the solution */
  uint64_t lower_bound; /* of the aligned sizes */
  double seconds;       /* wall time spent */
  char method[48];      /* the strategy that gave the solution, for reports */
  int optimal;          /* 1: peak == lower bound, or proven optimal by search */
} plan_result;

/* Place every buffer. 0 on success, -1 when memory runs out or the input is
 * invalid (begin >= end), with the reason in err. */
int plan_place(plan_buf *bufs, size_t n, const plan_opts *opts, plan_result *res,
               char *err, size_t err_size);

/* Largest total aligned size alive at one step. */
uint64_t plan_lower_bound(const plan_buf *bufs, size_t n, uint64_t alignment);

/* Greedy by size with best fit (TFLite GPU, AITemplate, TVM USMP): the
 * published baseline, kept for benchmarks. Same contract as plan_place(). */
int plan_place_greedy_size(plan_buf *bufs, size_t n, const plan_opts *opts,
                           plan_result *res, char *err, size_t err_size);

#endif
