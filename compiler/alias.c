/*
 * alias.c: memoised alias roots (see alias.h). Each tensor is resolved by
 * walking up to the first tensor already resolved, then writing the answer
 * back down the path, so the total work is linear in the links.
 */
#include "alias.h"

#include <stdlib.h>

void alias_graph_roots(graph *g, graph_tensor **root, uint64_t *offset) {
  int n = g->n_tensors;
  char *done = arena_alloc(g->ar, (size_t)n + 1);
  graph_tensor **path = arena_array(g->ar, (size_t)n + 1, sizeof *path);
  for (int i = 0; i < n; i++) {
    graph_tensor *t = g->tensors[i];
    int len = 0;
    while (!done[t->id] && t->alias_of) {
      path[len++] = t;
      t = t->alias_of;
    }
    if (!done[t->id]) { /* a root */
      root[t->id] = t;
      if (offset) offset[t->id] = 0;
      done[t->id] = 1;
    }
    /* unwind: each one's root is its parent's, at parent's offset + its own */
    for (int k = len - 1; k >= 0; k--) {
      graph_tensor *c = path[k];
      root[c->id] = root[c->alias_of->id];
      if (offset) offset[c->id] = offset[c->alias_of->id] + c->alias_offset;
      done[c->id] = 1;
    }
  }
}

void alias_plan_roots(const rt_plan *p, uint32_t *root) {
  uint32_t n = p->n_tensors;
  uint32_t *path = malloc(((size_t)n + 1) * sizeof *path);
  char *done = calloc((size_t)n + 1, 1);
  if (!path || !done) abort(); /* compiler-side: the arena has far more */
  for (uint32_t i = 0; i < n; i++) {
    uint32_t t = i, len = 0;
    while (!done[t] && p->tensors[t].alias_of >= 0) {
      path[len++] = t;
      t = (uint32_t)p->tensors[t].alias_of;
    }
    if (!done[t]) {
      root[t] = t;
      done[t] = 1;
    }
    while (len-- > 0) {
      uint32_t c = path[len];
      root[c] = root[p->tensors[c].alias_of];
      done[c] = 1;
    }
  }
  free(path);
  free(done);
}
