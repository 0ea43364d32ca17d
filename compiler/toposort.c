/*
 * toposort.c: order nodes so that every tensor is produced before it is read.
 *
 * Kahn's algorithm with the file position as priority (a binary heap), so a
 * model already in order keeps its order exactly and any model gets one
 * deterministic order. Nodes left over sit on or behind a cycle; the error
 * walks producer links from one of them until a node repeats, and names the
 * tensors around that loop.
 */
#include "passes.h"

#include <string.h>

typedef struct heap {
  graph_node **v;
  int n;
} heap;

static void heap_push(heap *h, graph_node *x) {
  int i = h->n++;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (h->v[p]->index <= x->index) break;
    h->v[i] = h->v[p];
    i = p;
  }
  h->v[i] = x;
}

static graph_node *heap_pop(heap *h) {
  graph_node *top = h->v[0], *last = h->v[--h->n];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && h->v[c + 1]->index < h->v[c]->index) c++;
    if (last->index <= h->v[c]->index) break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n) h->v[i] = last;
  return top;
}

static void report_cycle(graph *g, const int *pending) {
  /* Start at any blocked node and follow an input whose producer is also
   * blocked; with finitely many nodes this must revisit one. */
  graph_node *start = NULL;
  for (int i = 0; i < g->n_nodes && !start; i++)
    if (pending[g->nodes[i]->index] > 0) start = g->nodes[i];
  int *seen_at = arena_array(g->ar, (size_t)g->n_nodes, sizeof *seen_at);
  graph_node **path = arena_array(g->ar, (size_t)g->n_nodes + 1, sizeof *path);
  graph_tensor **via = arena_array(g->ar, (size_t)g->n_nodes + 1, sizeof *via);
  int len = 0;
  graph_node *n = start;
  while (!seen_at[n->index]) {
    seen_at[n->index] = len + 1;
    path[len] = n;
    graph_node *next = NULL;
    for (int i = 0; i < n->n_in && !next; i++) {
      graph_tensor *t = n->in[i];
      if (t && t->producer && pending[t->producer->index] > 0) {
        next = t->producer;
        via[len] = t;
      }
    }
    len++;
    n = next;
  }
  /* The loop runs from position seen_at[n]-1 to len-1; its tensors in data
   * flow order are the via[] entries reversed. */
  int from = seen_at[n->index] - 1;
  char buf[1024];
  size_t used = 0;
  for (int i = len - 1; i >= from && used < sizeof buf - 200; i--)
    used += (size_t)snprintf(buf + used, sizeof buf - used, "'%s' -> ", via[i]->name);
  snprintf(buf + used, sizeof buf - used, "'%s'", via[len - 1]->name);
  diag_error(g->d, path[from]->loc, "the graph has a cycle: %s (%s reads its own result)", buf,
             graph_node_desc(g, path[from]));
}

void graph_toposort(graph *g) {
  int nn = g->n_nodes;
  /* pending[i]: inputs of node with file index i not yet produced */
  int *pending = arena_array(g->ar, (size_t)nn + 1, sizeof *pending);
  /* consumers lists, CSR style */
  int *count = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *count);
  for (int k = 0; k < nn; k++) {
    graph_node *n = g->nodes[k];
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] && n->in[i]->producer) {
        pending[n->index]++;
        count[n->in[i]->id + 1]++;
      }
  }
  for (int t = 0; t < g->n_tensors; t++) count[t + 1] += count[t];
  graph_node **users = arena_array(g->ar, (size_t)count[g->n_tensors] + 1, sizeof *users);
  int *fill = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *fill);
  memcpy(fill, count, (size_t)g->n_tensors * sizeof *fill);
  for (int k = 0; k < nn; k++) {
    graph_node *n = g->nodes[k];
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] && n->in[i]->producer) users[fill[n->in[i]->id]++] = n;
  }
  heap h = {arena_array(g->ar, (size_t)nn + 1, sizeof *h.v), 0};
  for (int k = 0; k < nn; k++)
    if (pending[g->nodes[k]->index] == 0) heap_push(&h, g->nodes[k]);
  graph_node **order = arena_array(g->ar, (size_t)nn + 1, sizeof *order);
  int done = 0;
  while (h.n) {
    graph_node *n = heap_pop(&h);
    order[done++] = n;
    for (int o = 0; o < n->n_out; o++) {
      graph_tensor *t = n->out[o];
      if (!t) continue;
      for (int u = count[t->id]; u < count[t->id + 1]; u++)
        if (--pending[users[u]->index] == 0) heap_push(&h, users[u]);
    }
  }
  if (done < nn) report_cycle(g, pending);
  memcpy(g->nodes, order, (size_t)nn * sizeof *order);
}
