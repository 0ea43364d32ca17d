/*
 * greedy.c: plan_place_greedy_size(), the published baseline (TFLite GPU's
 * and TVM USMP's "greedy by size", AITemplate): buffers sorted by size,
 * largest first (ties by input order), each placed by best fit. Kept so the
 * benchmarks compare plan_place() against what compilers commonly ship.
 */
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

static int cmp_size(const void *ctx, uint32_t a, uint32_t b) {
  const plan_prob *p = ctx;
  if (p->size[a] != p->size[b]) return p->size[a] > p->size[b] ? -1 : 1;
  return (a > b) - (a < b);
}

int plan_place_greedy_size(plan_buf *bufs, size_t n, const plan_opts *opts, plan_result *res,
                           char *err, size_t err_size) {
  double t0 = plan_now();
  plan_prob p;
  uint64_t alignment = opts ? opts->alignment : 1;
  if (plan_prob_init(&p, bufs, n, alignment, err, err_size)) return -1;
  uint64_t *off = calloc(p.n ? p.n : 1, sizeof *off);
  uint32_t *ord = malloc((p.n ? p.n : 1) * sizeof *ord);
  plan_fit f = {0};
  const char *method = "greedy-by-size";
  uint64_t peak = 0;
  int rc = -1;
  if (!off || !ord) goto done;
  if (p.adj_start) {
    for (size_t i = 0; i < p.n; i++) ord[i] = (uint32_t)i;
    if (plan_sort(ord, p.n, cmp_size, &p) || plan_fit_init(&f, &p)) goto done;
    peak = plan_bestfit(&p, &f, ord, p.n, off);
  } else {
    /* too many pairs to list: the time-ordered allocator instead */
    method = "online (too many overlaps)";
    if (plan_online(&p, off, &peak)) goto done;
  }
  plan_prob_store(&p, off, bufs, n);
  rc = 0;
  if (res) {
    memset(res, 0, sizeof *res);
    res->peak = peak * p.unit;
    res->lower_bound = p.lb * p.unit;
    res->optimal = peak == p.lb;
    snprintf(res->method, sizeof res->method, "%s", method);
    res->seconds = plan_now() - t0;
  }
done:
  if (rc) plan_errf(err, err_size, "out of memory placing %zu buffers", n);
  plan_fit_free(&f);
  free(off);
  free(ord);
  plan_prob_free(&p);
  return rc;
}
