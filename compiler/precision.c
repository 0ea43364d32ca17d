/*
 * precision.c: dlc --precision fp32|tf32|fp16|bf16.
 *
 * fp16 and bf16 store every float param and every activation in that type
 * (half the slab), converting param data now; seeded params are regenerated
 * in the new type by the runtime. Arithmetic stays float32 (kernels widen on
 * load and accumulate in float32). Model inputs and outputs keep their
 * declared types, so data directories do not change: a float input is
 * converted once by a one-input Sum (the identity, elementwise, so it fuses
 * into what reads it) and a float output is converted back the same way at
 * the end; every matmul then sees operands of one type, as cuBLASLt wants.
 * tf32 changes no type: it lets float32 convolutions and matmuls use TF32
 * tensor cores (a plan flag).
 */
#include <string.h>

#include "passes.h"

int graph_precision_parse(const char *s) {
  if (!strcmp(s, "fp32")) return PRECISION_FP32;
  if (!strcmp(s, "tf32")) return PRECISION_TF32;
  if (!strcmp(s, "fp16")) return PRECISION_FP16;
  if (!strcmp(s, "bf16")) return PRECISION_BF16;
  return -1;
}

/* A node t_out = Sum(t_in): a dtype conversion in elementwise form. */
static graph_node *cast_node(graph *g, graph_tensor *in, graph_tensor *out) {
  graph_node *n = arena_alloc(g->ar, sizeof *n);
  n->op = RT_OP_SUM;
  n->name = arena_printf(g->ar, "%s.cast", out->name);
  n->loc = n->op_loc = out->loc;
  n->index = -1;
  n->n_in = n->n_out = 1;
  n->in = arena_alloc(g->ar, sizeof *n->in);
  n->out = arena_alloc(g->ar, sizeof *n->out);
  n->in_loc = arena_alloc(g->ar, sizeof *n->in_loc);
  n->out_loc = arena_alloc(g->ar, sizeof *n->out_loc);
  n->in[0] = in;
  n->out[0] = out;
  n->in_loc[0] = n->out_loc[0] = out->loc;
  in->n_uses++;
  out->producer = n;
  return n;
}

/* A tensor like t, in dtype dt, named after it. */
static graph_tensor *twin(graph *g, graph_tensor *t, int dt) {
  const char *name = arena_printf(g->ar, "%s.%s", t->name, rt_dtype_name(dt));
  for (int k = 1; graph_find(g, name); k++) name = arena_printf(g->ar, "%s.%s.%d", t->name, rt_dtype_name(dt), k);
  graph_tensor *c = graph_add_tensor(g, name, GRAPH_VALUE, t->loc);
  c->dtype = dt;
  c->rank = t->rank;
  memcpy(c->dims, t->dims, sizeof c->dims);
  return c;
}

/* Every reader of `from` reads `to` instead. */
static void redirect(graph *g, graph_tensor *from, graph_tensor *to, graph_node *except) {
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    if (n == except) continue;
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i] == from) {
        n->in[i] = to;
        from->n_uses--;
        to->n_uses++;
      }
  }
}

void graph_precision(graph *g, int precision) {
  if (precision != PRECISION_FP16 && precision != PRECISION_BF16) return;
  int dt = precision == PRECISION_FP16 ? RT_F16 : RT_BF16;
  for (int i = 0; i < g->n_tensors; i++) {
    graph_tensor *t = g->tensors[i];
    if (!rt_dtype_is_float(t->dtype) || t->dtype == dt || t->kind == GRAPH_INPUT || t->is_output) continue;
    /* LayerNormalization's statistics are float32 by definition (stash_type 1) */
    if (t->kind == GRAPH_VALUE && t->producer && t->producer->op == RT_OP_LAYER_NORM &&
        t->producer->out[0] != t)
      continue;
    if (t->kind == GRAPH_PARAM && t->data) {
      int64_t n = graph_tensor_numel(t);
      float *wide = arena_array(g->ar, (size_t)n + 1, sizeof *wide);
      rt_to_f32(wide, t->data, t->dtype, (size_t)n);
      void *narrow = arena_alloc(g->ar, (size_t)n * rt_dtype_size(dt) + 1);
      rt_from_f32(narrow, dt, wide, (size_t)n);
      t->data = narrow;
    }
    t->dtype = dt;
  }
  /* conversions at the edges: inputs in, outputs out */
  graph_node **head = arena_array(g->ar, (size_t)g->n_inputs + 1, sizeof *head);
  graph_node **tail = arena_array(g->ar, (size_t)g->n_outputs + 1, sizeof *tail);
  int nh = 0, nt = 0;
  for (int i = 0; i < g->n_inputs; i++) {
    graph_tensor *x = g->inputs[i];
    if (!rt_dtype_is_float(x->dtype) || x->dtype == dt || x->n_uses == 0 || x->is_output) continue;
    graph_tensor *h = twin(g, x, dt);
    redirect(g, x, h, NULL);
    head[nh++] = cast_node(g, x, h);
  }
  for (int i = 0; i < g->n_outputs; i++) {
    graph_tensor *y = g->outputs[i];
    graph_node *p = y->producer;
    if (!p || !rt_dtype_is_float(y->dtype) || y->dtype == dt) continue;
    if (p->op == RT_OP_LAYER_NORM && p->out[0] != y) continue; /* float32 statistics */
    graph_tensor *h = twin(g, y, dt);
    for (int o = 0; o < p->n_out; o++)
      if (p->out[o] == y) p->out[o] = h;
    h->producer = p;
    redirect(g, y, h, NULL);
    tail[nt++] = cast_node(g, h, y);
  }
  if (nh + nt == 0) return;
  graph_node **nodes = arena_array(g->ar, (size_t)(g->n_nodes + nh + nt) + 1, sizeof *nodes);
  memcpy(nodes, head, (size_t)nh * sizeof *nodes);
  memcpy(nodes + nh, g->nodes, (size_t)g->n_nodes * sizeof *nodes);
  memcpy(nodes + nh + g->n_nodes, tail, (size_t)nt * sizeof *nodes);
  g->nodes = nodes;
  g->n_nodes += nh + nt;
}
