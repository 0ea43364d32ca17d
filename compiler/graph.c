/*
 * graph.c: IR helpers: tensor table, attribute lookup, shape printing.
 */
#include "graph.h"

#include <stdio.h>
#include <string.h>

graph_tensor *graph_add_tensor(graph *g, const char *name, graph_tensor_kind kind, src_loc loc) {
  graph_tensor *old = graph_find(g, name);
  if (old)
    diag_error(g->d, loc, "tensor '%s' is defined twice (first at %s)", name, diag_where(old->loc));
  if (g->n_tensors == g->cap_tensors) {
    int cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
    graph_tensor **v = arena_array(g->ar, (size_t)cap, sizeof *v);
    if (g->n_tensors) memcpy(v, g->tensors, (size_t)g->n_tensors * sizeof *v);
    g->tensors = v;
    g->cap_tensors = cap;
  }
  graph_tensor *t = arena_alloc(g->ar, sizeof *t);
  t->name = name;
  t->id = g->n_tensors;
  t->kind = kind;
  t->dtype = RT_F32;
  t->loc = loc;
  g->tensors[g->n_tensors++] = t;
  strmap_put(&g->by_name, name, t);
  return t;
}

graph_tensor *graph_find(const graph *g, const char *name) { return strmap_get(&g->by_name, name); }

graph_mark graph_checkpoint(graph *g) {
  graph_mark m = {g->nodes, g->n_nodes, g->n_tensors, g->n_params,
                  arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *m.n_uses),
                  arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *m.producer)};
  m.nodes = arena_array(g->ar, (size_t)g->n_nodes + 1, sizeof *m.nodes);
  memcpy(m.nodes, g->nodes, (size_t)g->n_nodes * sizeof *m.nodes);
  for (int t = 0; t < g->n_tensors; t++) m.n_uses[t] = g->tensors[t]->n_uses, m.producer[t] = g->tensors[t]->producer;
  return m;
}

void graph_restore(graph *g, const graph_mark *m) {
  /* the names of the tensors dropped stay in by_name, pointing at unused
   * tensors: harmless, as nothing looks them up again */
  g->nodes = arena_array(g->ar, (size_t)m->n_nodes + 1, sizeof *g->nodes);
  memcpy(g->nodes, m->nodes, (size_t)m->n_nodes * sizeof *m->nodes);
  g->n_nodes = m->n_nodes;
  g->n_tensors = m->n_tensors;
  g->n_params = m->n_params;
  for (int t = 0; t < g->n_tensors; t++) g->tensors[t]->n_uses = m->n_uses[t], g->tensors[t]->producer = m->producer[t];
}

graph_attr *graph_attr_get(graph_node *n, const char *name) {
  for (int i = 0; i < n->n_attrs; i++)
    if (strcmp(n->attrs[i].name, name) == 0) {
      n->attrs[i].used = true;
      return &n->attrs[i];
    }
  return NULL;
}

int64_t graph_tensor_numel(const graph_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i].v;
  return n;
}

uint64_t graph_tensor_bytes(const graph_tensor *t) {
  return (uint64_t)graph_tensor_numel(t) * rt_dtype_size(t->dtype);
}

const char *graph_dims_str(const graph *g, int rank, const graph_dim *dims) {
  char buf[512];
  size_t n = 0;
  buf[n++] = '[';
  for (int i = 0; i < rank && n < sizeof buf - 64; i++) {
    if (i) n += (size_t)snprintf(buf + n, sizeof buf - n, ", ");
    if (dims[i].sym >= 0)
      n += (size_t)snprintf(buf + n, sizeof buf - n, "%s=%lld", g->dims[dims[i].sym].name,
                            (long long)dims[i].v);
    else
      n += (size_t)snprintf(buf + n, sizeof buf - n, "%lld", (long long)dims[i].v);
  }
  snprintf(buf + n, sizeof buf - n, "]");
  return arena_strdup(g->ar, buf);
}

const char *graph_shape_str(const graph *g, const graph_tensor *t) {
  return graph_dims_str(g, t->rank, t->dims);
}

const char *graph_node_desc(const graph *g, const graph_node *n) {
  return arena_printf(g->ar, "node '%s' (%s)", n->name, rt_op_name(n->op));
}
