/*
 * memplan.c: liveness and placement of the slab tensors.
 *
 * A slab tensor lives from the step that writes it (inputs: step 0) to the
 * last step that reads it (outputs: the last step, when they are copied
 * out). A view's bytes belong to its parent, so a parent's lifetime is
 * stretched over its views'. Tensors sharing bytes (views, in-place writes,
 * see storage.c) form a group rooted at the tensor that owns the bytes; the
 * planner (planner/, which knows nothing else) places one buffer per group,
 * alive from the first write to the last read of any member. lower_bound
 * follows the spec: the largest total of raw bytes alive at one step, a
 * group counted once.
 */
#include <stdlib.h>
#include <string.h>

#include "alias.h"
#include "lower.h"
#include "planner.h"

static int in_slab(const rt_tensor *t) { return t->kind != RT_KIND_PARAM && t->kind != RT_KIND_FUSED; }

void memplan_groups(const rt_plan *p, memplan_group *groups) {
  uint32_t *root = malloc(((size_t)p->n_tensors + 1) * sizeof *root);
  if (!root) abort();
  alias_plan_roots(p, root);
  for (uint32_t i = 0; i < p->n_tensors; i++) groups[i] = (memplan_group){INT32_MAX, -1, 0};
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    if (!in_slab(t)) continue;
    memplan_group *g = &groups[root[i]];
    if (t->first_step < g->first) g->first = t->first_step;
    if (t->last_step > g->last) g->last = t->last_step;
    if (t->bytes > g->bytes) g->bytes = t->bytes;
  }
  free(root);
}

uint64_t memplan_live_bytes(const rt_plan *p, const memplan_group *groups, uint64_t *live) {
  int64_t *delta = calloc((size_t)p->n_steps + 2, sizeof *delta);
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const memplan_group *g = &groups[i];
    if (g->last < 0 || !in_slab(&p->tensors[i])) continue;
    delta[g->first] += (int64_t)g->bytes;
    delta[g->last + 1] -= (int64_t)g->bytes;
  }
  int64_t now = 0, best = 0;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    now += delta[s];
    if (live) live[s] = (uint64_t)now;
    if (now > best) best = now;
  }
  free(delta);
  return (uint64_t)best;
}

/* Own lifetimes from the steps, then views stretch their parents. */
static void lifetimes(graph *g, rt_plan *p) {
  int32_t last = (int32_t)p->n_steps - 1;
  int32_t *first_read = arena_array(g->ar, (size_t)p->n_tensors + 1, sizeof *first_read);
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &p->tensors[i];
    first_read[i] = INT32_MAX;
    if (t->kind == RT_KIND_FUSED) continue; /* lowering set its one step */
    t->first_step = t->kind == RT_KIND_INPUT ? 0 : INT32_MAX;
    t->last_step = t->kind == RT_KIND_INPUT ? 0 : -1;
  }
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_step *st = &p->steps[s];
    for (uint32_t k = 0; k < st->n_writes; k++) {
      rt_tensor *t = &p->tensors[p->args[st->writes + k]];
      if ((int32_t)s < t->first_step) t->first_step = (int32_t)s;
      if ((int32_t)s > t->last_step) t->last_step = (int32_t)s;
    }
    for (uint32_t k = 0; k < st->n_reads; k++) {
      int32_t id = p->args[st->reads + k];
      rt_tensor *t = &p->tensors[id];
      if ((int32_t)s > t->last_step) t->last_step = (int32_t)s;
      if ((int32_t)s < first_read[id]) first_read[id] = (int32_t)s;
    }
  }
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &p->tensors[i];
    /* A view nobody writes comes alive when first read: its parent holds
     * the bytes until then. */
    if (t->first_step == INT32_MAX && t->alias_kind == RT_ALIAS_VIEW) t->first_step = first_read[i];
    if (t->kind == RT_KIND_PARAM) {
      t->first_step = 0;
      t->last_step = last;
    } else if (t->flags & RT_TF_OUTPUT) {
      if (t->first_step == INT32_MAX) t->first_step = last; /* an output view nobody reads */
      t->last_step = last;
    }
  }
  /* A view makes its parent's bytes live as long as it is (and a parent
   * with no writer of its own, an elided Concat, starts with its first
   * slice). Deepest views first, each stretching its direct parent, so a
   * chain of views passes its range all the way up in linear time. */
  uint32_t n = p->n_tensors;
  uint32_t *depth = arena_array(g->ar, (size_t)n + 1, sizeof *depth);
  char *known = arena_alloc(g->ar, (size_t)n + 1);
  uint32_t *path = arena_array(g->ar, (size_t)n + 1, sizeof *path), max_depth = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t t = i, len = 0;
    while (!known[t] && p->tensors[t].alias_kind == RT_ALIAS_VIEW) path[len++] = t, t = (uint32_t)p->tensors[t].alias_of;
    if (!known[t]) known[t] = 1, depth[t] = 0;
    while (len-- > 0) {
      uint32_t c = path[len];
      depth[c] = depth[p->tensors[c].alias_of] + 1;
      known[c] = 1;
      if (depth[c] > max_depth) max_depth = depth[c];
    }
  }
  uint32_t *count = arena_array(g->ar, (size_t)max_depth + 2, sizeof *count);
  for (uint32_t i = 0; i < n; i++) count[depth[i]]++;
  for (uint32_t d = max_depth; d > 0; d--) count[d - 1] += count[d]; /* deepest first */
  uint32_t *order = arena_array(g->ar, (size_t)n + 1, sizeof *order);
  for (uint32_t i = n; i-- > 0;) order[--count[depth[i]]] = i;
  for (uint32_t k = 0; k < n; k++) {
    const rt_tensor *t = &p->tensors[order[k]];
    if (t->alias_kind != RT_ALIAS_VIEW || !in_slab(t) || t->first_step == INT32_MAX) continue;
    rt_tensor *parent = &p->tensors[t->alias_of];
    if (t->first_step < parent->first_step) parent->first_step = t->first_step;
    if (t->last_step > parent->last_step) parent->last_step = t->last_step;
  }
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &p->tensors[i];
    if (t->first_step == INT32_MAX) t->first_step = t->last_step = 0; /* never touched */
  }
}

uint64_t memplan_bound(graph *g, rt_plan *p) {
  lifetimes(g, p);
  memplan_group *groups = arena_array(g->ar, (size_t)p->n_tensors + 1, sizeof *groups);
  memplan_groups(p, groups);
  return memplan_live_bytes(p, groups, NULL);
}

void memplan_assign(graph *g, rt_plan *p, const memplan_options *opt, memplan_stats *st) {
  lifetimes(g, p);
  memplan_group *groups = arena_array(g->ar, (size_t)p->n_tensors + 1, sizeof *groups);
  memplan_groups(p, groups);

  size_t n = 0;
  for (uint32_t i = 0; i < p->n_tensors; i++) n += groups[i].last >= 0 && in_slab(&p->tensors[i]);
  plan_buf *bufs = arena_array(g->ar, n + 1, sizeof *bufs);
  uint32_t *ids = arena_array(g->ar, n + 1, sizeof *ids);
  n = 0;
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    if (groups[i].last < 0 || !in_slab(&p->tensors[i])) continue;
    bufs[n] = (plan_buf){groups[i].bytes, groups[i].first, (int64_t)groups[i].last + 1, 0};
    ids[n++] = i;
  }
  plan_opts po = {p->alignment, opt->time_limit_s, 0};
  plan_result res;
  char err[256];
  int rc = opt->greedy ? plan_place_greedy_size(bufs, n, &po, &res, err, sizeof err)
                       : plan_place(bufs, n, &po, &res, err, sizeof err);
  if (rc) diag_error(g->d, (src_loc){g->file, 0, 0}, "memory planning failed: %s", err);
  uint64_t *root_offset = arena_array(g->ar, (size_t)p->n_tensors + 1, sizeof *root_offset);
  for (size_t k = 0; k < n; k++) root_offset[ids[k]] = bufs[k].offset;
  /* lowering left each slab tensor's offset inside its root */
  uint32_t *root = arena_array(g->ar, (size_t)p->n_tensors + 1, sizeof *root);
  alias_plan_roots(p, root);
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &p->tensors[i];
    if (in_slab(t)) t->offset += root_offset[root[i]];
  }
  p->slab_bytes = res.peak;
  p->workspace_bytes = 0; /* the largest one step uses (they are in the slab) */
  for (uint32_t i = 0; i < p->n_tensors; i++)
    if (p->tensors[i].kind == RT_KIND_WORKSPACE && p->tensors[i].bytes > p->workspace_bytes)
      p->workspace_bytes = p->tensors[i].bytes;
  st->lower_bound_aligned = res.lower_bound;
  st->seconds = res.seconds;
  memcpy(st->method, res.method, sizeof st->method);
  p->lower_bound = memplan_live_bytes(p, groups, NULL);
}
