/*
 * params.c: give every param its values: a `values:` list, a seeded `init:`
 * (kept as a descriptor: the runtime regenerates it), or the tensor of the
 * same name in the model's safetensors weights file, whose dtype and shape
 * must match exactly.
 */
#include <stdio.h>
#include <string.h>

#include "passes.h"
#include "safetensors.h"

#define ERR(loc, ...) diag_error(g->d, (loc), __VA_ARGS__)

static void read_values(graph *g, graph_tensor *t) {
  const yml_node *v = t->init_values;
  size_t es = rt_dtype_size(t->dtype);
  unsigned char *data = arena_array(g->ar, (size_t)v->n + 1, es);
  for (int i = 0; i < v->n; i++) {
    const yml_node *e = v->items[i];
    unsigned char *p = data + (size_t)i * es;
    if (t->dtype == RT_I64) {
      int64_t x;
      if (!yml_as_int(e, &x))
        ERR(e->loc, "values of int64 param '%s': entry %d must be an integer, found %s", t->name, i,
            yml_describe(g->ar, e));
      memcpy(p, &x, 8);
      continue;
    }
    double x;
    if (!yml_as_float(e, &x))
      ERR(e->loc, "values of param '%s': entry %d must be a number, found %s", t->name, i,
          yml_describe(g->ar, e));
    float f = (float)x;
    rt_from_f32(p, t->dtype, &f, 1);
  }
  t->data = data;
}

static const char *st_shape_str(graph *g, const st_entry *e) {
  graph_dim dims[RT_MAX_RANK];
  for (int i = 0; i < e->rank; i++) dims[i] = (graph_dim){e->dims[i], -1};
  return graph_dims_str(g, e->rank, dims);
}

void graph_load_params(graph *g) {
  st_file weights;
  int have_weights = 0;
  char err[1024];
  for (int i = 0; i < g->n_params; i++) {
    graph_tensor *t = g->params[i];
    if (t->dtype == RT_I64 && (t->init == GRAPH_INIT_UNIFORM || t->init == GRAPH_INIT_NORMAL))
      ERR(t->loc, "int64 param '%s' cannot have a random init; use zeros, ones, constant or values",
          t->name);
    if (t->init == GRAPH_INIT_VALUES) read_values(g, t);
    if (t->init != GRAPH_INIT_WEIGHTS || t->n_uses == 0) continue;
    if (!have_weights) {
      if (st_open(g->weights_path, &weights, err, sizeof err))
        ERR(g->weights_loc, "weights file: %s", err);
      have_weights = 1;
    }
    const st_entry *e = st_find(&weights, t->name);
    if (!e) {
      st_close(&weights);
      ERR(t->loc, "param '%s' is not in the weights file %s (it holds %zu tensors)", t->name,
          g->weights_path, weights.n_entries);
    }
    int ok = e->dtype == t->dtype && e->rank == t->rank;
    for (int k = 0; ok && k < t->rank; k++) ok = e->dims[k] == t->dims[k].v;
    if (!ok) {
      const char *msg = arena_printf(g->ar,
          "param '%s' is %s %s in the model but %s %s in the weights file %s", t->name,
          rt_dtype_name(t->dtype), graph_shape_str(g, t), e->st_dtype, st_shape_str(g, e),
          g->weights_path);
      st_close(&weights);
      ERR(t->loc, "%s", msg);
    }
    t->data = arena_alloc(g->ar, graph_tensor_bytes(t));
    if (st_read(&weights, e, t->data, err, sizeof err)) {
      const char *msg = arena_strdup(g->ar, err);
      st_close(&weights);
      ERR(g->weights_loc, "weights file: %s", msg);
    }
  }
  if (have_weights) st_close(&weights);
}
