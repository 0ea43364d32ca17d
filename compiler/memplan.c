/*
 * memplan.c: liveness and placement of the slab tensors.
 *
 * A slab tensor lives from the step that writes it (inputs: step 0) to the
 * last step that reads it (outputs: the last step, when they are copied
 * out). Those intervals go to the planner (planner/), which knows nothing
 * else; its offsets come back into the plan. lower_bound follows the spec:
 * the largest total of raw tensor bytes alive at one step.
 */
#include <stdlib.h>
#include <string.h>

#include "lower.h"
#include "planner.h"

static int in_slab(const rt_tensor *t) { return t->kind != RT_KIND_PARAM && t->kind != RT_KIND_FUSED; }

void memplan_assign(graph *g, rt_plan *p, const memplan_options *opt, memplan_stats *st) {
  int32_t last = (int32_t)p->n_steps - 1;
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &p->tensors[i];
    t->first_step = t->kind == RT_KIND_INPUT ? 0 : INT32_MAX;
    t->last_step = t->kind == RT_KIND_INPUT ? 0 : -1;
  }
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_step *st_ = &p->steps[s];
    for (uint32_t k = 0; k < st_->n_writes; k++) {
      rt_tensor *t = &p->tensors[p->args[st_->writes + k]];
      if ((int32_t)s < t->first_step) t->first_step = (int32_t)s;
      if ((int32_t)s > t->last_step) t->last_step = (int32_t)s;
    }
    for (uint32_t k = 0; k < st_->n_reads; k++) {
      rt_tensor *t = &p->tensors[p->args[st_->reads + k]];
      if ((int32_t)s > t->last_step) t->last_step = (int32_t)s;
    }
  }
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &p->tensors[i];
    if (t->kind == RT_KIND_PARAM) {
      t->first_step = 0;
      t->last_step = last;
    } else if (t->flags & RT_TF_OUTPUT) {
      t->last_step = last;
    }
    if (t->first_step == INT32_MAX) t->first_step = t->last_step = 0; /* unreachable: never written */
  }

  size_t n = 0;
  for (uint32_t i = 0; i < p->n_tensors; i++) n += in_slab(&p->tensors[i]);
  plan_buf *bufs = arena_array(g->ar, n + 1, sizeof *bufs);
  uint32_t *ids = arena_array(g->ar, n + 1, sizeof *ids);
  n = 0;
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &p->tensors[i];
    if (!in_slab(t)) continue;
    bufs[n] = (plan_buf){t->bytes, t->first_step, (int64_t)t->last_step + 1, 0};
    ids[n++] = i;
  }
  plan_opts po = {p->alignment, opt->time_limit_s, 0};
  plan_result res;
  char err[256];
  if (plan_place(bufs, n, &po, &res, err, sizeof err))
    diag_error(g->d, (src_loc){g->file, 0, 0}, "memory planning failed: %s", err);
  for (size_t k = 0; k < n; k++) p->tensors[ids[k]].offset = bufs[k].offset;
  p->slab_bytes = res.peak;
  st->lower_bound_aligned = res.lower_bound;
  st->seconds = res.seconds;
  memcpy(st->method, res.method, sizeof st->method);

  /* Spec lower bound: raw bytes alive per step (difference array sweep). */
  int64_t *delta = arena_array(g->ar, (size_t)p->n_steps + 2, sizeof *delta);
  for (size_t k = 0; k < n; k++) {
    const rt_tensor *t = &p->tensors[ids[k]];
    if (t->alias_of >= 0) continue; /* counted with what it aliases */
    delta[t->first_step] += (int64_t)t->bytes;
    delta[t->last_step + 1] -= (int64_t)t->bytes;
  }
  int64_t live = 0, best = 0;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    live += delta[s];
    if (live > best) best = live;
  }
  p->lower_bound = (uint64_t)best;
}
