/*
 * synth.h: synthetic placement problems shaped like the activations of a
 * deep network, for the scaling benchmark and the tests: a chain of ops, one
 * per step, whose outputs are read by the next op, some also by a later op
 * (skip connections, branches joining a concat), and some ops with a
 * one-step workspace. Sizes shrink by stage, as feature maps do.
 * Deterministic: the same seed gives the same problem on every machine.
 */
#ifndef PLAN_SYNTH_H
#define PLAN_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "planner.h"

/* Fills out[0..n) (offsets 0). Returns the number of steps used. */
int64_t plan_synth_chain(plan_buf *out, size_t n, uint64_t seed);

#endif
