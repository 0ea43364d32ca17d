/*
 * place.c: plan_place(), the planner proper. It runs, stopping as soon as the
 * peak meets the lower bound:
 *   1. best fit under every order of order.c, keeping the best (the first
 *      order is the greedy-by-size baseline's, so it is never worse);
 *   2. the exact search (exact.c, search.c) on the temporal components,
 *      the lower bound first, then bisecting up to the best peak;
 *   3. local search over best-fit orders (local.c) for whatever gap is left.
 * All budgets are counted in work (entries scanned by the search, overlap
 * entries walked by the best fit), so the result depends only on the input.
 * opts->time_limit_s (0: none) is a safety net that cuts the searches of an
 * input that would otherwise run long, or of a slow machine; the normal
 * cases finish well inside a few seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

/* Work for the exact phase and for the local search: at most about 3 s and
 * 0.1 s on the 2-core Xeon of bench/RESULTS.md. */
#define PLAN_EXACT_WORK ((int64_t)2000 * 1000 * 1000)
#define PLAN_LOCAL_WORK ((uint64_t)40 * 1000 * 1000)

int plan_place(plan_buf *bufs, size_t n, const plan_opts *opts, plan_result *res, char *err,
               size_t err_size) {
  double t0 = plan_now();
  plan_opts o = {1, 0, 0};
  if (opts) o = *opts;
  double deadline = o.time_limit_s > 0 ? t0 + o.time_limit_s : 0;
  plan_prob p;
  if (plan_prob_init(&p, bufs, n, o.alignment, err, err_size)) return -1;
  size_t m = p.n ? p.n : 1;
  uint64_t *off = calloc(m, sizeof *off), *coff = calloc(m, sizeof *coff);
  uint32_t *ord = malloc(m * sizeof *ord), *cord = malloc(m * sizeof *cord);
  plan_fit f = {0};
  plan_keys k = {0};
  char method[48] = "empty";
  uint64_t peak = 0;
  int proven = 1, rc = -1;
  if (!off || !coff || !ord || !cord) goto done;
  if (p.n && !p.adj_start) {
    snprintf(method, sizeof method, "online (too many overlaps)");
    if (plan_online(&p, off, &peak)) goto done;
    proven = peak == p.lb;
  } else if (p.n) {
    if (plan_fit_init(&f, &p) || plan_keys_init(&k, &p)) goto done;
    peak = UINT64_MAX;
    for (int kind = 0; kind < PLAN_ORD_COUNT && peak > p.lb; kind++) {
      if (plan_order_make(&p, &k, kind, cord)) goto done;
      uint64_t pk = plan_bestfit(&p, &f, cord, p.n, coff);
      if (o.verbose)
        fprintf(stderr, "plan: best fit by %s: %llu units\n", plan_order_names[kind],
                (unsigned long long)pk);
      if (pk < peak) {
        peak = pk;
        memcpy(off, coff, p.n * sizeof *off);
        memcpy(ord, cord, p.n * sizeof *ord);
        snprintf(method, sizeof method, "best fit by %s", plan_order_names[kind]);
      }
    }
    proven = peak == p.lb;
    if (!proven) {
      uint64_t before = peak;
      int64_t work = 0;
      if (plan_exact_minimize(&p, off, &peak, PLAN_EXACT_WORK, deadline, o.verbose, &proven, &work))
        goto done;
      if (peak < before) snprintf(method, sizeof method, "exact search");
      if (o.verbose)
        fprintf(stderr, "plan: exact search: %lld work, peak %llu units%s\n", (long long)work,
                (unsigned long long)peak, proven ? " (optimal)" : "");
    }
    if (!proven) {
      /* the local search works on orders, so it starts from the best
       * heuristic one; its result is kept only if it beats the search's */
      uint64_t pk = plan_bestfit(&p, &f, ord, p.n, coff);
      uint64_t before = pk;
      if (plan_local_search(&p, &f, ord, coff, &pk, PLAN_LOCAL_WORK, deadline, o.verbose))
        goto done;
      if (pk < peak) {
        peak = pk;
        memcpy(off, coff, p.n * sizeof *off);
        if (pk < before) snprintf(method, sizeof method, "local search");
      }
      proven = peak == p.lb;
    }
  }
  plan_prob_store(&p, off, bufs, n);
  rc = 0;
  if (res) {
    memset(res, 0, sizeof *res);
    res->peak = peak * p.unit;
    res->lower_bound = p.lb * p.unit;
    res->optimal = proven;
    snprintf(res->method, sizeof res->method, "%s", method);
    res->seconds = plan_now() - t0;
  }
done:
  if (rc) plan_errf(err, err_size, "out of memory placing %zu buffers", n);
  plan_keys_free(&k);
  plan_fit_free(&f);
  free(off);
  free(coff);
  free(ord);
  free(cord);
  plan_prob_free(&p);
  return rc;
}
