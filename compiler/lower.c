/*
 * lower.c: the checked, ordered graph -> the runtime's plan tables.
 *
 * Each node that is not elided (storage.c) becomes one rt_node with its
 * canonical attributes and one step (a kernel launch). Tensors become
 * rt_tensors with their kind (inputs, params, outputs, activations) and what
 * they share bytes with. Ops that only move bytes unchanged in memory and
 * were not made views lower to a copy of their one input. Params get offsets
 * in the params region here (a view of a param shares its parent's); slab
 * offsets are the memory planner's job (memplan.c).
 */
#include "lower.h"

#include "alias.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }



static int is_copy_op(const graph_node *n) {
  switch (n->op) {
  case RT_OP_IDENTITY: case RT_OP_DROPOUT: case RT_OP_RESHAPE: case RT_OP_FLATTEN:
  case RT_OP_SQUEEZE: case RT_OP_UNSQUEEZE:
    return 1;
  case RT_OP_REDUCE_MEAN: case RT_OP_REDUCE_SUM: case RT_OP_REDUCE_MAX:
    return n->n_ia == 1; /* no axes to reduce: the identity */
  default:
    return 0;
  }
}

/* "Conv" -> "conv", "BatchNormalization" -> "batch_normalization" */
static const char *kernel_stem(arena *a, int op) {
  const char *name = rt_op_name(op);
  char buf[64];
  size_t n = 0;
  for (const char *p = name; *p && n < sizeof buf - 2; p++) {
    if (isupper((unsigned char)*p) && p != name && !isupper((unsigned char)p[-1])) buf[n++] = '_';
    buf[n++] = (char)tolower((unsigned char)*p);
  }
  buf[n] = 0;
  return arena_strdup(a, buf);
}

static int is_gemm(const graph_node *n) { return n->op == RT_OP_MATMUL || n->op == RT_OP_GEMM; }

int lower_is_cublas(graph_node *const *nodes, int n) {
  if (!is_gemm(nodes[0])) return 0;
  for (int i = 1; i < n; i++)
    if (nodes[i]->op != RT_OP_ADD && nodes[i]->op != RT_OP_RELU &&
        !(nodes[i]->op == RT_OP_GELU && nodes[i]->ia[0] == 1))
      return 0;
  return 1;
}

rt_plan *lower_graph(graph *g, const lower_options *opt, lower_info *info) {
  arena *a = g->ar;
  rt_plan *p = arena_alloc(a, sizeof *p);
  p->model = g->name;
  p->alignment = opt->alignment;
  p->batch_dim = g->batch_sym;
  p->n_dims = (uint32_t)g->n_dims;
  p->dims = arena_array(a, (size_t)g->n_dims + 1, sizeof *p->dims);
  for (int i = 0; i < g->n_dims; i++) p->dims[i] = (rt_dim){g->dims[i].name, g->dims[i].value};

  /* Which tensors the plan needs: inputs, outputs, and what live nodes touch. */
  int32_t *map = arena_array(a, (size_t)g->n_tensors + 1, sizeof *map);
  char *need = arena_alloc(a, (size_t)g->n_tensors + 1);
  for (int i = 0; i < g->n_inputs; i++) need[g->inputs[i]->id] = 1;
  for (int i = 0; i < g->n_outputs; i++) need[g->outputs[i]->id] = 1;
  size_t n_args = 0, n_ints = 0, n_floats = 0;
  int n_live = 0;
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    if (n->elided) continue;
    n_live++;
    for (int i = 0; i < n->n_in; i++)
      if (n->in[i]) need[n->in[i]->id] = 1;
    for (int i = 0; i < n->n_out; i++)
      if (n->out[i]) need[n->out[i]->id] = 1;
    n_args += 2 * ((size_t)n->n_in + n->n_out) + 1; /* node args, step reads/writes, a workspace */
    n_ints += (size_t)n->n_ia;
    n_floats += (size_t)n->n_fa;
  }
  /* whatever a needed tensor shares bytes with must be in the plan too
   * (each link walked once: chains can be as long as the model) */
  char *up = arena_alloc(a, (size_t)g->n_tensors + 1);
  for (int i = 0; i < g->n_tensors; i++)
    if (need[i])
      for (graph_tensor *t = g->tensors[i]; t && !up[t->id]; t = t->alias_of) need[t->id] = up[t->id] = 1;
  uint32_t nt = 0;
  for (int i = 0; i < g->n_tensors; i++) map[i] = need[i] ? (int32_t)nt++ : -1;
  graph_tensor **root = arena_array(a, (size_t)g->n_tensors + 1, sizeof *root);
  uint64_t *in_root = arena_array(a, (size_t)g->n_tensors + 1, sizeof *in_root);
  alias_graph_roots(g, root, in_root);
  int n_ws = 0; /* GEMM workspaces: one per step that starts with a MatMul/Gemm */
  for (int k = 0; k < g->n_nodes && opt->gemm_workspace; k++) {
    graph_node *n = g->nodes[k];
    if (!n->elided && is_gemm(n)) n_ws++; /* at most one per step: an upper bound */
  }
  p->tensors = arena_array(a, nt + (uint32_t)n_ws + 1, sizeof *p->tensors);
  p->n_tensors = nt;
  uint64_t params_at = 0, data_at = 0;
  for (int i = 0; i < g->n_tensors; i++) {
    if (map[i] < 0) continue;
    graph_tensor *gt = g->tensors[i];
    rt_tensor *t = &p->tensors[map[i]];
    t->name = gt->name;
    t->dtype = gt->dtype;
    t->rank = gt->rank;
    for (int d = 0; d < gt->rank; d++) t->dims[d] = gt->dims[d].v;
    t->bytes = graph_tensor_bytes(gt);
    t->alias_of = -1;
    t->offset = in_root[gt->id]; /* slab: memplan adds the group's base */
    if (g->batch_sym >= 0 && gt->rank > 0 && gt->dims[0].sym == g->batch_sym) t->flags |= RT_TF_BATCHED;
    if (gt->is_output) t->flags |= RT_TF_OUTPUT;
    if (gt->alias_of) {
      t->alias_of = map[gt->alias_of->id];
      t->alias_kind = gt->alias_kind;
    }
    graph_tensor_kind kind = root[gt->id]->kind == GRAPH_PARAM ? GRAPH_PARAM : gt->kind;
    if (kind == GRAPH_PARAM && gt->alias_of) {
      /* a view of a param: placed with its root below */
      t->kind = RT_KIND_PARAM;
      t->flags &= ~RT_TF_BATCHED;
      continue;
    }
    switch (kind) {
    case GRAPH_INPUT: t->kind = RT_KIND_INPUT; break;
    case GRAPH_VALUE:
      t->kind = gt->fused ? RT_KIND_FUSED : gt->is_output ? RT_KIND_OUTPUT : RT_KIND_ACTIVATION;
      if (gt->fused) t->offset = RT_NO_OFFSET;
      break;
    case GRAPH_PARAM:
      t->kind = RT_KIND_PARAM;
      t->flags &= ~RT_TF_BATCHED; /* params are not streamed */
      t->offset = params_at;
      params_at = align_up(params_at + t->bytes, opt->alignment);
      switch (gt->init) {
      case GRAPH_INIT_ZEROS: t->init = RT_INIT_ZEROS; break;
      case GRAPH_INIT_ONES: t->init = RT_INIT_ONES; break;
      case GRAPH_INIT_CONSTANT: t->init = RT_INIT_CONSTANT; break;
      case GRAPH_INIT_UNIFORM: t->init = RT_INIT_UNIFORM; break;
      case GRAPH_INIT_NORMAL: t->init = RT_INIT_NORMAL; break;
      default:
        t->init = RT_INIT_DATA;
        t->data_offset = data_at;
        data_at = align_up(data_at + t->bytes, 64);
        break;
      }
      t->init_a = gt->init_a;
      t->init_b = gt->init_b;
      t->init_seed = gt->init_seed;
      break;
    }
  }
  p->params_bytes = params_at;
  /* param views share their root's bytes and values */
  for (int i = 0; i < g->n_tensors; i++) {
    if (map[i] < 0 || p->tensors[map[i]].kind != RT_KIND_PARAM || !g->tensors[i]->alias_of) continue;
    rt_tensor *t = &p->tensors[map[i]];
    const rt_tensor *r = &p->tensors[map[root[i]->id]];
    t->offset = r->offset + in_root[i];
    t->init = r->init;
    t->init_a = r->init_a;
    t->init_b = r->init_b;
    t->init_seed = r->init_seed;
    t->data_offset = r->data_offset + in_root[i];
  }
  uint8_t *data = arena_alloc(a, data_at + 1);
  for (int i = 0; i < g->n_tensors; i++)
    if (map[i] >= 0 && p->tensors[map[i]].kind == RT_KIND_PARAM && !g->tensors[i]->alias_of &&
        p->tensors[map[i]].init == RT_INIT_DATA)
      memcpy(data + p->tensors[map[i]].data_offset, g->tensors[i]->data, p->tensors[map[i]].bytes);
  p->param_data = data;
  p->param_data_bytes = data_at;

  /* Nodes, then steps: a step is a run of consecutive nodes of one fusion
   * group (one kernel launch). */
  p->nodes = arena_array(a, (size_t)n_live + 1, sizeof *p->nodes);
  p->steps = arena_array(a, (size_t)n_live + 1, sizeof *p->steps);
  p->args = arena_array(a, n_args + 1, sizeof *p->args);
  p->ints = arena_array(a, n_ints + 1, sizeof *p->ints);
  p->floats = arena_array(a, n_floats + 1, sizeof *p->floats);
  graph_node **live = arena_array(a, (size_t)n_live + 1, sizeof *live);
  if (info) {
    info->map = map;
    info->nodes = live;
    info->workspace = arena_array(a, (size_t)n_live + 1, sizeof *info->workspace);
    for (int i = 0; i < n_live; i++) info->workspace[i] = -1;
  }
  int k = 0;
  for (int gk = 0; gk < g->n_nodes; gk++) {
    graph_node *gn = g->nodes[gk];
    if (gn->elided) continue;
    live[k] = gn;
    rt_node *n = &p->nodes[k++];
    int copy = is_copy_op(gn);
    n->op = copy ? RT_OP_IDENTITY : gn->op;
    if (copy && (gn->op == RT_OP_RESHAPE || gn->op == RT_OP_FLATTEN || gn->op == RT_OP_SQUEEZE ||
                 gn->op == RT_OP_UNSQUEEZE))
      n->op = gn->op; /* same copy kernel, clearer report */
    n->name = gn->name;
    n->n_in = copy ? 1 : (uint32_t)gn->n_in;
    n->n_out = copy ? 1 : (uint32_t)gn->n_out;
    n->args = p->n_args;
    for (uint32_t i = 0; i < n->n_in; i++) p->args[p->n_args++] = gn->in[i] ? map[gn->in[i]->id] : -1;
    for (uint32_t i = 0; i < n->n_out; i++) p->args[p->n_args++] = gn->out[i] ? map[gn->out[i]->id] : -1;
    n->ia = p->n_ints;
    n->fa = p->n_floats;
    if (!copy) {
      n->n_ia = (uint32_t)gn->n_ia;
      if (gn->n_ia) memcpy(p->ints + p->n_ints, gn->ia, (size_t)gn->n_ia * sizeof *gn->ia);
      p->n_ints += (uint32_t)gn->n_ia;
      n->n_fa = (uint32_t)gn->n_fa;
      if (gn->n_fa) memcpy(p->floats + p->n_floats, gn->fa, (size_t)gn->n_fa * sizeof *gn->fa);
      p->n_floats += (uint32_t)gn->n_fa;
    }
  }
  uint32_t ns = 0;
  for (int first = 0; first < n_live;) {
    int end = first + 1;
    while (end < n_live && live[end]->group == live[first]->group) end++;
    rt_step *s = &p->steps[ns];
    /* kernel name: the ops' stems, e.g. conv_relu_12 */
    char name[96] = "";
    for (int j = first; j < end && strlen(name) < 48; j++)
      snprintf(name + strlen(name), sizeof name - strlen(name), "%s%s", j > first ? "_" : "",
               kernel_stem(a, live[j]->op));
    if (end - first > 3) snprintf(name + strlen(name), sizeof name - strlen(name), "_x%d", end - first);
    s->kernel = arena_printf(a, "%s_%u", name, ns);
    s->first_node = (uint32_t)first;
    s->n_nodes = (uint32_t)(end - first);
    /* reads: distinct tensors the step takes from memory (params too, since
     * the report lists everything a launch touches); writes: what it stores */
    s->reads = p->n_args;
    for (int j = first; j < end; j++)
      for (int i = 0; i < live[j]->n_in; i++) {
        graph_tensor *t = live[j]->in[i];
        if (!t || t->fused) continue;
        int32_t id = map[t->id];
        int dup = 0;
        for (uint32_t q = s->reads; q < p->n_args && !dup; q++) dup = p->args[q] == id;
        if (!dup) p->args[p->n_args++] = id;
      }
    s->n_reads = p->n_args - s->reads;
    s->writes = p->n_args;
    for (int j = first; j < end; j++)
      for (int i = 0; i < live[j]->n_out; i++) {
        graph_tensor *t = live[j]->out[i];
        if (t && !t->fused) p->args[p->n_args++] = map[t->id];
      }
    s->n_writes = p->n_args - s->writes;
    for (int j = first; j < end; j++) /* fused results live inside this step */
      for (int i = 0; i < live[j]->n_out; i++) {
        graph_tensor *t = live[j]->out[i];
        if (t && t->fused) p->tensors[map[t->id]].first_step = p->tensors[map[t->id]].last_step = (int32_t)ns;
      }
    /* cuBLASLt's scratch: split-K pays off when the output is small (an FC
     * layer at small batch: a few KiB) and needs a few copies of it; larger
     * outputs are tiled without splitting K and need none. 64 KiB up to
     * twice the output, at most the cap, so a matmul's workspace never sets
     * a model's peak. */
    uint64_t ws = 0;
    if (opt->gemm_workspace && lower_is_cublas(live + first, end - first)) {
      uint64_t out_bytes = graph_tensor_bytes(live[end - 1]->out[0]);
      if (out_bytes < ((uint64_t)256 << 10)) ws = out_bytes * 2 < (64u << 10) ? 64u << 10 : out_bytes * 2;
      if (ws > opt->gemm_workspace) ws = opt->gemm_workspace;
    }
    if (ws) {
      rt_tensor *w = &p->tensors[p->n_tensors];
      memset(w, 0, sizeof *w);
      w->name = arena_printf(a, "%s.workspace", s->kernel);
      w->kind = RT_KIND_WORKSPACE;
      w->dtype = RT_F32;
      w->rank = 1;
      w->dims[0] = (int64_t)((ws + 255) / 256 * 64);
      w->bytes = (uint64_t)w->dims[0] * 4;
      w->alias_of = -1;
      w->first_step = w->last_step = (int32_t)ns;
      p->args[p->n_args++] = (int32_t)p->n_tensors; /* written by the step */
      s->n_writes++;
      if (info) info->workspace[ns] = (int32_t)p->n_tensors;
      p->n_tensors++;
    }
    ns++;
    first = end;
  }
  p->n_nodes = (uint32_t)n_live;
  p->n_steps = ns;

  p->inputs = arena_array(a, (size_t)g->n_inputs + 1, sizeof *p->inputs);
  p->outputs = arena_array(a, (size_t)g->n_outputs + 1, sizeof *p->outputs);
  for (int i = 0; i < g->n_inputs; i++) p->inputs[p->n_inputs++] = map[g->inputs[i]->id];
  for (int i = 0; i < g->n_outputs; i++) p->outputs[p->n_outputs++] = map[g->outputs[i]->id];
  return p;
}
