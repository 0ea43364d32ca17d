/*
 * report_fit.c: see report_fit.h.
 */
#include "report_fit.h"

#include <stdlib.h>

#include "report.h"

static int by_batch(const void *x, const void *y) {
  const compile_fit_row *a = x, *b = y;
  return (a->batch > b->batch) - (a->batch < b->batch);
}

void report_fit(FILE *f, const compile_result *r, uint64_t limit, int table) {
  compile_fit_row rows[64];
  int n = r->n_fit_rows;
  for (int i = 0; i < n; i++) rows[i] = r->fit_rows[i];
  qsort(rows, (size_t)n, sizeof *rows, by_batch);
  const compile_fit_row *over = NULL;
  for (int i = 0; i < n && !over; i++)
    if (rows[i].batch > r->fit_n) over = &rows[i];
  uint64_t used = r->plan->slab_bytes + r->plan->params_bytes;
  fprintf(f, "dlc: --memory-limit %s: compiled at %s=%lld, device %s", report_bytes(limit), r->fit_dim,
          (long long)r->fit_n, report_bytes(used));
  if (over && over->device_bytes)
    fprintf(f, "; %s=%lld would need %s", r->fit_dim, (long long)over->batch,
            report_bytes(over->device_bytes));
  else if (over)
    fprintf(f, "; the model does not compile at %s=%lld", r->fit_dim, (long long)over->batch);
  fprintf(f, "\n");
  if (!table) return;
  fprintf(f, "\n%12s %16s %12s\n", "batch", "device bytes", "");
  for (int i = 0; i < n; i++) {
    if (rows[i].device_bytes)
      fprintf(f, "%12lld %16llu %12s%s\n", (long long)rows[i].batch,
              (unsigned long long)rows[i].device_bytes, report_bytes(rows[i].device_bytes),
              rows[i].batch == r->fit_n ? "  <- fits" : rows[i].device_bytes > limit ? "  over" : "");
    else
      fprintf(f, "%12lld %16s %12s\n", (long long)rows[i].batch, "-", "no compile");
  }
  fprintf(f, "\n");
}
