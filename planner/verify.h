/*
 * verify.h: an independent check of a memory plan.
 *
 * Kept apart from the placement code on purpose: it shares no code with the
 * planner, so a planner bug cannot hide itself. dlc runs it on every plan it
 * writes, dlrun on every plan it loads, and the tests on every model.
 *
 * A plan is a list of tensors placed in one slab, with inclusive step ranges,
 * and the steps that read and write them. It is valid when
 *   - every tensor lies inside the slab and its offset is aligned;
 *   - two tensors whose step ranges intersect share no byte, except
 *       * an in-place alias (alias_kind PLAN_ALIAS_INPLACE): the tensor is
 *         written over alias_of, and they may share bytes only at the step
 *         where alias_of is last read and the tensor is first written;
 *       * a view (PLAN_ALIAS_VIEW): the tensor is a window on the bytes of
 *         alias_of (a reshape, or a slice of a concat written in place); it
 *         lies inside alias_of's bytes, its steps lie inside alias_of's steps,
 *         and it may share bytes with alias_of and with alias_of's own view
 *         ancestors at any step;
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
