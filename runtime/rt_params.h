/*
 * rt_params.h: filling the params region of a plan on the host, for every
 * backend: bytes stored in the plan are copied, seeded params regenerated
 * (rt_init.h), in parallel over the pool. Param views share their root's
 * bytes and are skipped.
 */
#ifndef RT_PARAMS_H
#define RT_PARAMS_H

#include <stdint.h>

#include "rt_plan.h"
#include "rt_pool.h"

/* dst holds plan->params_bytes bytes. pool may be NULL. */
void rt_params_materialize(const rt_plan *p, uint8_t *dst, rt_pool *pool);

#endif
