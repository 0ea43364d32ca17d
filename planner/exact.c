/*
 * exact.c: turns the decision search of search.c into a minimization.
 *
 * The buffers split into temporal components (runs of lifetimes that chain
 * by overlap); they are independent, and only the components above a target
 * need work.
 *
 * The lower bound itself is tried first, with half the budget: most real
 * problems reach it (then the result is proven optimal), and there the
 * section inference is at its tightest (every busiest section must be packed
 * exactly), so a perfect packing is found far faster than a placement under
 * a looser cap. Then targets are bisected between the best proven bound and
 * the best peak known. A found placement lowers the upper end to its own
 * peak; a proof of infeasibility raises the proven bound; a search that runs
 * out of budget only moves this round's lower end. Rounds repeat with twice
 * the budget per decision until the range is closed by proofs or the budget
 * is spent, so a hard target cannot eat the whole budget before the easy
 * ones below the heuristic peak are found (iterative deepening).
 *
 * Budgets are counted in work (entries scanned), so the outcome is
 * reproducible; the deadline only cuts a search that would not have finished
 * in time anyway.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

/* Larger components are left to the heuristics. Dynamic decomposition keeps
 * the search fast on long chains (100k buffers: well under a second), and
 * its memory is capped (PLAN_SEARCH_MEM in search.c), so this is only a
 * guard against absurd sizes. */
#define PLAN_EXACT_MAX 200000

static int cmp_begin(const void *ctx, uint32_t a, uint32_t b) {
  const plan_prob *p = ctx;
  if (p->begin[a] != p->begin[b]) return p->begin[a] < p->begin[b] ? -1 : 1;
  return (a > b) - (a < b);
}

static int cmp_idx(const void *ctx, uint32_t a, uint32_t b) {
  (void)ctx;
  return (a > b) - (a < b);
}

int plan_exact_minimize(const plan_prob *p, uint64_t *off, uint64_t *peak, int64_t work_budget,
                        double deadline, int verbose, int *proven, int64_t *work_used) {
  size_t n = p->n;
  *proven = *peak == p->lb;
  if (*proven || n == 0) return 0;
  uint32_t *mem = malloc(n * sizeof *mem); /* members, grouped by component */
  size_t *cstart = malloc((n + 1) * sizeof *cstart);
  uint64_t *cpeak = malloc(n * sizeof *cpeak);
  uint64_t *tmp = malloc(n * sizeof *tmp);
  int rc = -1;
  if (!mem || !cstart || !cpeak || !tmp) goto done;
  for (size_t i = 0; i < n; i++) mem[i] = (uint32_t)i;
  if (plan_sort(mem, n, cmp_begin, p)) goto done;
  size_t nc = 0;
  int64_t reach = 0;
  for (size_t k = 0; k < n; k++) {
    uint32_t i = mem[k];
    if (k == 0 || p->begin[i] >= reach) cstart[nc++] = k;
    if (k == 0 || p->end[i] > reach) reach = p->end[i];
  }
  cstart[nc] = n;
  for (size_t c = 0; c < nc; c++) {
    /* plan_exact_new wants ascending indices */
    if (plan_sort(mem + cstart[c], cstart[c + 1] - cstart[c], cmp_idx, NULL)) goto done;
    cpeak[c] = 0;
    for (size_t k = cstart[c]; k < cstart[c + 1]; k++) {
      uint32_t i = mem[k];
      if (off[i] + p->size[i] > cpeak[c]) cpeak[c] = off[i] + p->size[i];
    }
  }

  /* Components too large for the search keep their heuristic peaks, which
   * bound what the search can achieve. */
  uint64_t floor_big = 0;
  for (size_t c = 0; c < nc; c++)
    if (cstart[c + 1] - cstart[c] > PLAN_EXACT_MAX && cpeak[c] > floor_big) floor_big = cpeak[c];
  uint64_t proven_lo = p->lb; /* every cap below it is proven infeasible */
  int64_t used = 0, per_call = work_budget / 2, min_call = work_budget / 64;
  if (min_call < 1) min_call = 1;
  int closed = 0, round = 0;
  while (!closed && used < work_budget) {
    uint64_t lo = proven_lo > floor_big ? proven_lo : floor_big, hi = *peak - 1;
    int gave_up = 0, first = 1;
    int64_t round_start = used;
    while (lo <= hi && used < work_budget) {
      if (deadline > 0 && plan_now() > deadline) break;
      uint64_t target = first ? lo : lo + (hi - lo) / 2;
      if (round == 0 && !first) break; /* round 0: the lower bound alone */
      first = 0;
      int r = PLAN_SR_FOUND;
      for (size_t c = 0; c < nc && r == PLAN_SR_FOUND; c++) {
        if (cpeak[c] <= target) continue;
        size_t nb = cstart[c + 1] - cstart[c];
        assert(nb <= PLAN_EXACT_MAX); /* target >= floor_big */
        plan_exact *e = plan_exact_new(p, mem + cstart[c], (uint32_t)nb);
        if (!e) { /* no memory for the search: keep the heuristic placement */
          r = PLAN_SR_ABORT;
          break;
        }
        int64_t before = used;
        int64_t budget = work_budget - used < per_call ? work_budget - used : per_call;
        r = plan_exact_decide(e, target, budget, deadline, tmp, &used);
        plan_exact_free(e);
        if (verbose)
          fprintf(stderr,
                  "plan: exact: component %zu (%zu buffers) under %llu units: %s (%lld work)\n", c,
                  nb, (unsigned long long)target,
                  r == PLAN_SR_FOUND  ? "found"
                  : r == PLAN_SR_NONE ? "infeasible"
                                      : "gave up",
                  (long long)(used - before));
        if (r == PLAN_SR_FOUND) {
          cpeak[c] = 0;
          for (size_t k = 0; k < nb; k++) {
            uint32_t i = mem[cstart[c] + k];
            off[i] = tmp[k];
            if (off[i] + p->size[i] > cpeak[c]) cpeak[c] = off[i] + p->size[i];
          }
        }
      }
      /* components found under the target keep their new placement even
       * when another one fails */
      uint64_t pk = 0;
      for (size_t c = 0; c < nc; c++)
        if (cpeak[c] > pk) pk = cpeak[c];
      *peak = pk;
      hi = pk - 1;
      if (r != PLAN_SR_FOUND) {
        if (r == PLAN_SR_NONE && target + 1 > proven_lo) proven_lo = target + 1;
        if (r == PLAN_SR_ABORT) gave_up = 1;
        lo = target + 1;
      }
    }
    closed = proven_lo >= *peak;
    if (deadline > 0 && plan_now() > deadline) break;
    if ((round > 0 && !gave_up) || used == round_start) break;
    per_call = round == 0 ? min_call : per_call > INT64_MAX / 2 ? INT64_MAX : 2 * per_call;
    round++;
  }
  *proven = *peak == p->lb || proven_lo >= *peak;
  if (work_used) *work_used += used;
  rc = 0;
done:
  free(mem);
  free(cstart);
  free(cpeak);
  free(tmp);
  return rc;
}
