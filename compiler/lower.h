/*
 * lower.h: from the graph IR to the runtime's plan tables, and the memory
 * plan that places every slab tensor.
 */
#ifndef LOWER_H
#define LOWER_H

#include "graph.h"
#include "rt_plan.h"

typedef struct lower_options {
  uint32_t alignment;          /* offsets in the slab and params region */
  uint64_t gemm_workspace;     /* > 0: a workspace tensor, up to this many bytes,
                                  for each step that starts with MatMul or Gemm
                                  (cuBLASLt's scratch, planned in the slab) */
} lower_options;

typedef struct lower_info {
  int32_t *map;                /* graph tensor id -> plan tensor id, or -1 */
  graph_node **nodes;          /* plan node index -> graph node */
  int32_t *workspace;          /* step -> its workspace tensor id, or -1 */
} lower_info;

/* Whether a step of these nodes runs as one cuBLASLt call: a MatMul or
 * Gemm followed only by its bias and activation epilogue (fuse.c forms no
 * other group starting with one, except attention, which is a kernel). */
int lower_is_cublas(graph_node *const *nodes, int n);

/* Build the plan (arena memory); info (may be NULL) receives the links
 * back to the graph. */
rt_plan *lower_graph(graph *g, const lower_options *opt, lower_info *info);

typedef struct memplan_options {
  double time_limit_s; /* for the planner's searches */
  int greedy;          /* place with the greedy-by-size baseline instead */
} memplan_options;

/* The bytes of a group of tensors sharing storage, kept at its root's index:
 * alive over steps [first, last] (last < 0: no group roots here). */
typedef struct memplan_group {
  int32_t first, last;
  uint64_t bytes;
} memplan_group;

/* Fill groups[root] for every group of slab tensors (p's lifetimes set). */
void memplan_groups(const rt_plan *p, memplan_group *groups);
/* Largest total of group bytes alive at one step; live (may be NULL)
 * receives the total per step. */
uint64_t memplan_live_bytes(const rt_plan *p, const memplan_group *groups, uint64_t *live);

typedef struct memplan_stats {
  uint64_t lower_bound_aligned; /* the planner's bound on aligned sizes */
  double seconds;
  char method[48];
} memplan_stats;

/* Liveness over the steps, then offsets from the planner; sets slab_bytes
 * and lower_bound. Errors (out of memory) through g->d. */
void memplan_assign(graph *g, rt_plan *p, const memplan_options *opt, memplan_stats *st);

/* The memory bound of a plan's kernel order (lifetimes, no placement). */
uint64_t memplan_bound(graph *g, rt_plan *p);

#endif
