/*
 * plan_verify.c: hands a loaded plan's memory layout to planner/verify.h's
 * independent checker: slab tensors with their step ranges and aliases,
 * and every step's reads and writes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "rt_plan.h"
#include "verify.h"

static int in_slab(const rt_tensor *t) {
  return t->kind != RT_KIND_PARAM && t->kind != RT_KIND_FUSED;
}

int rt_plan_verify_memory(const rt_plan *p, char *err, size_t err_size) {
  plan_vtensor *vt = calloc((size_t)p->n_tensors + 1, sizeof *vt);
  int64_t *map = calloc((size_t)p->n_tensors + 1, sizeof *map);
  size_t total = 0; /* steps may share arg ranges: count, do not assume n_args */
  for (uint32_t s = 0; s < p->n_steps; s++) total += (size_t)p->steps[s].n_reads + p->steps[s].n_writes;
  int64_t *ids = calloc(total + 1, sizeof *ids);
  plan_vstep *vs = calloc((size_t)p->n_steps + 1, sizeof *vs);
  int rc = -1;
  if (!vt || !map || !ids || !vs) {
    snprintf(err, err_size, "out of memory verifying the plan");
    goto done;
  }
  size_t n = 0;
  for (uint32_t i = 0; i < p->n_tensors; i++) map[i] = in_slab(&p->tensors[i]) ? (int64_t)n++ : -1;
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    if (map[i] < 0) continue;
    plan_vtensor *v = &vt[map[i]];
    v->name = t->name;
    v->offset = t->offset;
    v->size = t->bytes;
    v->first = t->first_step;
    v->last = t->last_step;
    v->alias_of = t->alias_of >= 0 ? map[t->alias_of] : -1;
    v->alias_kind = v->alias_of >= 0 ? t->alias_kind : PLAN_ALIAS_NONE;
  }
  /* Step reads/writes, as verifier indices, slab tensors only. */
  size_t at = 0;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_step *st = &p->steps[s];
    vs[s].name = st->kernel;
    vs[s].reads = ids + at;
    for (uint32_t k = 0; k < st->n_reads; k++)
      if (map[p->args[st->reads + k]] >= 0) ids[at++] = map[p->args[st->reads + k]];
    vs[s].n_reads = (size_t)(ids + at - vs[s].reads);
    vs[s].writes = ids + at;
    for (uint32_t k = 0; k < st->n_writes; k++)
      if (map[p->args[st->writes + k]] >= 0) ids[at++] = map[p->args[st->writes + k]];
    vs[s].n_writes = (size_t)(ids + at - vs[s].writes);
  }
  rc = plan_verify(vt, n, vs, p->n_steps, p->slab_bytes, p->alignment, err, err_size);
done:
  free(vt);
  free(map);
  free(ids);
  free(vs);
  return rc;
}
