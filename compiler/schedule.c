/*
 * schedule.c: kernel orders that keep less memory alive.
 *
 * Any topological order computes the same result, but the bytes alive at
 * once depend on it: finishing one branch of an Inception block before
 * starting the next frees its intermediates early. Like XLA's memory
 * schedulers, dlc proposes several orders and keeps the one whose memory
 * bound is lowest (the driver measures each after storage planning):
 *
 *   SCHED_FILE    the file's order (as sorted by toposort.c)
 *   SCHED_GREEDY  list scheduling: of the ready nodes, run the one that
 *                 frees the most bytes net of what it allocates
 *   SCHED_DFS     depth-first from the outputs, heaviest input subtree
 *                 first (Sethi-Ullman order generalised to DAGs)
 *
 * Views (Reshape and friends) share their input's bytes, so their outputs
 * are charged nothing and keep the input alive instead.
 */
#include <string.h>

#include "passes.h"

static int is_view_op(const graph_node *n) {
  switch (n->op) {
  case RT_OP_IDENTITY: case RT_OP_DROPOUT: case RT_OP_RESHAPE: case RT_OP_FLATTEN:
  case RT_OP_SQUEEZE: case RT_OP_UNSQUEEZE:
    return 1;
  default:
    return 0;
  }
}

typedef struct sched {
  graph *g;
  int *storage;     /* tensor id -> id of the tensor owning its bytes */
} sched;

static void init_storage(sched *s) {
  graph *g = s->g;
  s->storage = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *s->storage);
  for (int t = 0; t < g->n_tensors; t++) s->storage[t] = t;
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    if (is_view_op(n) && n->in[0] && n->out[0]) s->storage[n->out[0]->id] = s->storage[n->in[0]->id];
  }
}

static int64_t storage_bytes(sched *s, const graph_tensor *t) {
  if (t->kind == GRAPH_PARAM) return 0;
  return s->storage[t->id] == t->id ? (int64_t)graph_tensor_bytes(t) : 0;
}

/* --- greedy list scheduling --- */

static void order_greedy(sched *s, graph_node **out) {
  graph *g = s->g;
  int nn = g->n_nodes;
  int *pending = arena_array(g->ar, (size_t)nn + 1, sizeof *pending);
  int64_t *uses = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *uses);
  graph_node **ready = arena_array(g->ar, (size_t)nn + 1, sizeof *ready);
  /* readers of each tensor, CSR */
  int *first = arena_array(g->ar, (size_t)g->n_tensors + 2, sizeof *first);
  int n_ready = 0;
  for (int k = 0; k < nn; k++) {
    graph_node *n = g->nodes[k];
    n->pos = k;
    for (int i = 0; i < n->n_in; i++) {
      if (!n->in[i]) continue;
      uses[s->storage[n->in[i]->id]]++;
      first[n->in[i]->id + 1]++;
      if (n->in[i]->producer) pending[k]++;
    }
  }
  for (int t = 0; t < g->n_tensors; t++) first[t + 1] += first[t];
  graph_node **readers = arena_array(g->ar, (size_t)first[g->n_tensors] + 1, sizeof *readers);
  int *fill = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *fill);
  memcpy(fill, first, (size_t)g->n_tensors * sizeof *fill);
  for (int k = 0; k < nn; k++)
    for (int i = 0; i < g->nodes[k]->n_in; i++)
      if (g->nodes[k]->in[i]) readers[fill[g->nodes[k]->in[i]->id]++] = g->nodes[k];
  for (int i = 0; i < g->n_outputs; i++) uses[s->storage[g->outputs[i]->id]] += nn + 1; /* never freed */
  for (int k = 0; k < nn; k++)
    if (pending[k] == 0) ready[n_ready++] = g->nodes[k];
  for (int done = 0; done < nn; done++) {
    int best = 0;
    int64_t best_net = INT64_MAX;
    for (int r = 0; r < n_ready; r++) {
      graph_node *n = ready[r];
      int64_t net = 0;
      for (int o = 0; o < n->n_out; o++)
        if (n->out[o]) net += storage_bytes(s, n->out[o]);
      for (int i = 0; i < n->n_in; i++) {
        graph_tensor *t = n->in[i];
        if (!t || t->kind == GRAPH_PARAM || is_view_op(n)) continue;
        int dup = 0; /* count a storage read twice once */
        for (int j = 0; j < i; j++) dup |= n->in[j] && s->storage[n->in[j]->id] == s->storage[t->id];
        if (dup) continue;
        int reads = 0;
        for (int j = 0; j < n->n_in; j++) reads += n->in[j] && s->storage[n->in[j]->id] == s->storage[t->id];
        if (uses[s->storage[t->id]] == reads) net -= (int64_t)graph_tensor_bytes(g->tensors[s->storage[t->id]]);
      }
      if (net < best_net || (net == best_net && n->pos < ready[best]->pos)) best = r, best_net = net;
    }
    graph_node *n = ready[best];
    ready[best] = ready[--n_ready];
    out[done] = n;
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i]) uses[s->storage[n->in[i]->id]]--;
    for (int o = 0; o < n->n_out; o++) {
      graph_tensor *t = n->out[o];
      if (!t) continue;
      for (int r = first[t->id]; r < first[t->id + 1]; r++)
        if (--pending[readers[r]->pos] == 0) ready[n_ready++] = readers[r];
    }
  }
}

/* --- depth-first, heaviest subtree first --- */

typedef struct dfs {
  sched *s;
  int64_t *weight; /* node index -> estimated peak bytes of its subtree */
  char *seen;
  graph_node **out;
  int n_out;
} dfs;

static int64_t out_bytes(sched *s, const graph_node *n) {
  int64_t b = 0;
  for (int o = 0; o < n->n_out; o++)
    if (n->out[o]) b += storage_bytes(s, n->out[o]);
  return b;
}

static void visit(dfs *d, graph_node *n) {
  if (d->seen[n->pos]) return;
  d->seen[n->pos] = 1;
  /* producers of the inputs, heaviest first (ties: file order) */
  graph_node *pred[64];
  int np = 0;
  for (int i = 0; i < n->n_in && np < 64; i++) {
    graph_node *p = n->in[i] ? n->in[i]->producer : NULL;
    if (!p || d->seen[p->pos]) continue;
    int dup = 0;
    for (int j = 0; j < np; j++) dup |= pred[j] == p;
    if (!dup) pred[np++] = p;
  }
  for (int a = 1; a < np; a++)
    for (int b = a; b > 0; b--) {
      graph_node *x = pred[b - 1], *y = pred[b];
      int64_t wx = d->weight[x->pos], wy = d->weight[y->pos];
      if (wy > wx || (wy == wx && y->pos < x->pos)) pred[b - 1] = y, pred[b] = x;
      else break;
    }
  for (int i = 0; i < np; i++) visit(d, pred[i]);
  for (int i = 0; i < n->n_in; i++) /* inputs beyond the 64 above */
    if (n->in[i] && n->in[i]->producer) visit(d, n->in[i]->producer);
  d->out[d->n_out++] = n;
}

static void order_dfs(sched *s, graph_node **out) {
  graph *g = s->g;
  int nn = g->n_nodes;
  for (int k = 0; k < nn; k++) g->nodes[k]->pos = k;
  dfs d = {s, arena_array(g->ar, (size_t)nn + 1, sizeof(int64_t)), arena_alloc(g->ar, (size_t)nn + 1),
           out, 0};
  /* weight in topological order: the subtree's peak if its inputs run
   * heaviest first, each leaving its output alive */
  for (int k = 0; k < nn; k++) {
    graph_node *n = g->nodes[k];
    int64_t held = 0, peak = out_bytes(s, n);
    int64_t w[64];
    int nw = 0;
    for (int i = 0; i < n->n_in && nw < 64; i++)
      if (n->in[i] && n->in[i]->producer) w[nw++] = d.weight[n->in[i]->producer->pos];
    for (int a = 1; a < nw; a++)
      for (int b = a; b > 0 && w[b] > w[b - 1]; b--) {
        int64_t t = w[b];
        w[b] = w[b - 1];
        w[b - 1] = t;
      }
    for (int i = 0; i < nw; i++) {
      if (held + w[i] > peak) peak = held + w[i];
      held += w[i] / 4; /* an input's output is a fraction of its subtree's peak */
    }
    d.weight[k] = peak;
  }
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i]->producer) visit(&d, g->outputs[i]->producer);
  for (int k = 0; k < nn; k++) visit(&d, g->nodes[k]); /* anything not feeding an output */
}

int graph_schedule(graph *g, int strategy) {
  if (strategy == SCHED_FILE || g->n_nodes < 2) return 0;
  if (g->n_nodes > 20000) return -1; /* the searches are quadratic in places */
  sched s = {g, NULL};
  init_storage(&s);
  graph_node **order = arena_array(g->ar, (size_t)g->n_nodes + 1, sizeof *order);
  if (strategy == SCHED_GREEDY) order_greedy(&s, order);
  else order_dfs(&s, order);
  memcpy(g->nodes, order, (size_t)g->n_nodes * sizeof *order);
  return 0;
}
