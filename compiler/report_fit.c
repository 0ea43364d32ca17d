/*
 * report_fit.c: see report_fit.h.
 */
#include "report_fit.h"

#include <stdlib.h>

#include "json.h"
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

void report_summary_json(FILE *f, const compile_result *r, const char *plan_path) {
  const rt_plan *p = r->plan;
  uint32_t kernels = 0, gemms = 0;
  for (uint32_t s = 0; p->launches && s < p->n_steps; s++) {
    kernels += p->launches[s].kind == RT_LAUNCH_KERNEL;
    gemms += p->launches[s].kind == RT_LAUNCH_GEMM;
  }
  static const char *const sched[] = {"file", "greedy", "dfs"};
  fprintf(f, "{\"model\": ");
  json_write_string(f, p->model);
  fprintf(f, ", \"plan\": ");
  if (plan_path) json_write_string(f, plan_path);
  else fputs("null", f);
  fprintf(f, ", \"dims\": {");
  for (uint32_t i = 0; i < p->n_dims; i++) {
    fprintf(f, "%s", i ? ", " : "");
    json_write_string(f, p->dims[i].name);
    fprintf(f, ": %lld", (long long)p->dims[i].value);
  }
  fprintf(f, "}, \"steps\": %u, \"slab_bytes\": %llu, \"lower_bound_bytes\": %llu, "
             "\"workspace_bytes\": %llu, \"params_bytes\": %llu, \"device_bytes\": %llu, "
             "\"schedule\": \"%s\", \"planner\": ",
          p->n_steps, (unsigned long long)p->slab_bytes, (unsigned long long)p->lower_bound,
          (unsigned long long)p->workspace_bytes, (unsigned long long)p->params_bytes,
          (unsigned long long)(p->slab_bytes + p->params_bytes), sched[r->schedule % 3]);
  json_write_string(f, r->mem.method);
  fprintf(f, ", \"cuts\": {\"column_pieces\": %d, \"row_chunks\": %d}", r->split_columns, r->split_blocks);
  fprintf(f, ", \"gpu\": ");
  if (p->launches)
    fprintf(f, "{\"kernels\": %u, \"cublaslt_calls\": %u, \"cubin_bytes\": %llu, \"cubin_arch\": %u, "
               "\"ptx_bytes\": %llu}", kernels, gemms, (unsigned long long)p->cubin_bytes, p->cubin_arch,
            (unsigned long long)p->ptx_bytes);
  else
    fputs("null", f);
  if (r->fit_dim) {
    fprintf(f, ", \"memory_limit\": {\"dim\": ");
    json_write_string(f, r->fit_dim);
    fprintf(f, ", \"batch\": %lld}", (long long)r->fit_n);
  }
  fprintf(f, "}\n");
}
