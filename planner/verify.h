/*
 * verify.h: an independent check of a memory plan.
 *
 * Kept apart from the placement code on purpose: it shares no code with the
 * planner, so a planner bug cannot hide itself. dlc runs it on every plan it
 * writes, dlrun on every plan it loads, and the tests on every model.
 *
 * A plan is a list of tensors placed in one slab, with inclusive step ranges,
 * and the steps that read and write them. Each tensor may name one other it
 * shares bytes with (alias_of): an in-place alias (PLAN_ALIAS_INPLACE) is
 * written over alias_of where that dies; a view (PLAN_ALIAS_VIEW) is a window
 * on alias_of's bytes (a reshape, or a slice of a concat written in place).
 * The plan is valid when
 *   - every tensor lies inside the slab; one without alias_of is aligned;
 *   - the alias links form no cycle; a view lies inside alias_of's bytes and
 *     its steps inside alias_of's steps;
 *   - two tensors whose step ranges intersect share no byte unless they are
 *     related through alias links: one is an ancestor of the other through
 *     views only (any steps), or through a path with an in-place link (at
 *     most one common step: the write over what dies there), or both are
 *     windows through views on a common ancestor (any steps);
 *   - every step reads and writes only tensors alive at that step.
 */
#ifndef PLAN_VERIFY_H
#define PLAN_VERIFY_H

#include <stddef.h>
#include <stdint.h>

enum { PLAN_ALIAS_NONE = 0, PLAN_ALIAS_INPLACE = 1, PLAN_ALIAS_VIEW = 2 };

typedef struct plan_vtensor {
  const char *name;     /* for messages */
  uint64_t offset;
  uint64_t size;        /* bytes, without alignment padding */
  int64_t first, last;  /* inclusive steps */
  int64_t alias_of;     /* index of the tensor it aliases, or -1 */
  int alias_kind;       /* PLAN_ALIAS_* */
} plan_vtensor;

typedef struct plan_vstep {
  const char *name;     /* kernel name, for messages */
  const int64_t *reads;
  size_t n_reads;
  const int64_t *writes;
  size_t n_writes;
} plan_vstep;

/* 0 when the plan is valid; otherwise -1 and a one-line message naming the
 * tensors, bytes and step at fault. steps may be NULL (n_steps 0): only the
 * placement is checked. alignment 0 or 1: no alignment check. */
int plan_verify(const plan_vtensor *t, size_t n, const plan_vstep *steps, size_t n_steps,
                uint64_t slab_bytes, uint64_t alignment, char *msg, size_t msg_size);

#endif
