/*
 * alias.h: where a tensor's bytes live when it shares them (alias.c).
 *
 * Views and in-place writes link tensors into chains (alias_of); a chain of
 * n in-place elementwise ops is n links long, so every question "whose
 * bytes are these" is answered once per tensor with memoisation, never by
 * walking the chain again.
 */
#ifndef ALIAS_H
#define ALIAS_H

#include <stdint.h>

#include "graph.h"
#include "rt_plan.h"

/* root[t->id]: the tensor owning t's bytes (t itself when not an alias);
 * offset[t->id] (may be NULL): t's byte offset inside it. */
void alias_graph_roots(graph *g, graph_tensor **root, uint64_t *offset);

/* root[i]: the plan tensor owning tensor i's bytes. scratch holds
 * n_tensors uint32_t. */
void alias_plan_roots(const rt_plan *p, uint32_t *root);

#endif
