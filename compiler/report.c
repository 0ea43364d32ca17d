/*
 * report.c: what a compiled plan costs, for people and for tools.
 *
 *   report_summary   one line, always: kernels, slab, lower bound and gap,
 *                    params, total device bytes
 *   report_text      --report: a per-step table (kernel, live bytes, tensors
 *                    born and freed) and a per-tensor table, within 80 columns
 *   report_json      --report-json: spec section 4, plus a few added fields
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lower.h"
#include "outfile.h"
#include "rt_ops.h"

static double pct(uint64_t a, uint64_t b) { return b ? 100.0 * ((double)a - (double)b) / (double)b : 0.0; }

/* "12.3 MiB" style; static buffer slots. */
const char *report_bytes(uint64_t b) {
  static char bufs[8][32];
  static int slot;
  char *s = bufs[slot++ % 8];
  if (b < 1024) snprintf(s, 32, "%llu B", (unsigned long long)b);
  else if (b < (1u << 20)) snprintf(s, 32, "%.1f KiB", (double)b / 1024);
  else if (b < (1ull << 30)) snprintf(s, 32, "%.2f MiB", (double)b / (1 << 20));
  else snprintf(s, 32, "%.2f GiB", (double)b / (1ull << 30));
  return s;
}

uint64_t report_device_bytes(const rt_plan *p) { return p->slab_bytes + p->params_bytes; }

void report_summary(FILE *f, const rt_plan *p) {
  /* human units here; exact bytes are in --report and --report-json */
  fprintf(f, "dlc: %s: %u kernel%s, slab %s, lower bound %s (gap %.2f%%), params %s, device %s\n",
          p->model, p->n_steps, p->n_steps == 1 ? "" : "s", report_bytes(p->slab_bytes),
          report_bytes(p->lower_bound), pct(p->slab_bytes, p->lower_bound),
          report_bytes(p->params_bytes), report_bytes(report_device_bytes(p)));
}

static int in_slab(const rt_tensor *t) { return t->kind != RT_KIND_PARAM && t->kind != RT_KIND_FUSED; }

/* Truncate long names for the fixed-width tables. */
static const char *clip(const char *s, int width) {
  static char bufs[4][96];
  static int slot;
  char *b = bufs[slot++ % 4];
  int len = (int)strlen(s);
  if (len <= width) return s;
  snprintf(b, sizeof bufs[0], "..%s", s + len - (width - 2));
  return b;
}

void report_text(FILE *f, arena *a, const rt_plan *p) {
  uint64_t *live = arena_array(a, p->n_steps + 1, sizeof *live);
  int *born = arena_array(a, p->n_steps + 1, sizeof *born);
  int *freed = arena_array(a, p->n_steps + 1, sizeof *freed);
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    if (!in_slab(t)) continue;
    born[t->first_step]++;
    freed[t->last_step]++;
  }
  memplan_group *groups = arena_array(a, p->n_tensors + 1, sizeof *groups);
  memplan_groups(p, groups);
  memplan_live_bytes(p, groups, live);
  fprintf(f, "\nslab %llu B, lower bound %llu B, params %llu B, device %llu B\n",
          (unsigned long long)p->slab_bytes, (unsigned long long)p->lower_bound,
          (unsigned long long)p->params_bytes, (unsigned long long)report_device_bytes(p));
  fprintf(f, "\nsteps of %s (live: slab bytes alive during the step)\n", p->model);
  /* every table line fits 80 columns: long names are clipped from the left */
  fprintf(f, "%5s  %-26s %-16s %10s %4s %4s\n", "step", "kernel", "ops", "live", "born", "free");
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_step *st = &p->steps[s];
    char ops[64] = "";
    for (uint32_t k = 0; k < st->n_nodes && strlen(ops) < 40; k++)
      snprintf(ops + strlen(ops), sizeof ops - strlen(ops), "%s%s", k ? "+" : "",
               rt_op_name(p->nodes[st->first_node + k].op));
    fprintf(f, "%5u  %-26s %-16s %10s %4d %4d%s\n", s, clip(st->kernel, 26), clip(ops, 16),
            report_bytes(live[s]), born[s], freed[s], live[s] == p->lower_bound ? " <- peak" : "");
  }
  fprintf(f, "\ntensors (offset in the slab or the params region)\n");
  fprintf(f, "%-24s %-10s %-8s %10s %11s %11s\n", "name", "kind", "dtype", "bytes", "offset", "steps");
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    char steps[32] = "-";
    if (in_slab(t)) snprintf(steps, sizeof steps, "%d..%d", t->first_step, t->last_step);
    char off[24] = "-";
    if (t->offset != RT_NO_OFFSET) snprintf(off, sizeof off, "%llu", (unsigned long long)t->offset);
    fprintf(f, "%-24s %-10s %-8s %10llu %11s %11s\n", clip(t->name, 24), rt_kind_name(t->kind),
            rt_dtype_name(t->dtype), (unsigned long long)t->bytes, off, steps);
  }
  fprintf(f, "\n");
}

static void json_ids(FILE *f, const rt_plan *p, uint32_t at, uint32_t n) {
  fputc('[', f);
  for (uint32_t k = 0; k < n; k++) {
    if (k) fputs(", ", f);
    json_write_string(f, p->tensors[p->args[at + k]].name);
  }
  fputc(']', f);
}

int report_json(const char *path, const rt_plan *p, const report_extra *extra, char *err, size_t err_size) {
  rt_outfile of;
  FILE *f = rt_outfile_open(&of, path, err, err_size);
  if (!f) return -1;
  fprintf(f, "{\n  \"model\": ");
  json_write_string(f, p->model);
  fprintf(f, ",\n  \"dims\": {");
  for (uint32_t i = 0; i < p->n_dims; i++) {
    fprintf(f, "%s", i ? ", " : "");
    json_write_string(f, p->dims[i].name);
    fprintf(f, ": %lld", (long long)p->dims[i].value);
  }
  fprintf(f, "},\n  \"alignment\": %u,\n  \"slab_bytes\": %llu,\n  \"lower_bound_bytes\": %llu,\n"
             "  \"weights_bytes\": %llu,\n  \"params_bytes\": %llu,\n  \"device_bytes\": %llu,\n",
          p->alignment, (unsigned long long)p->slab_bytes, (unsigned long long)p->lower_bound,
          (unsigned long long)extra->weights_bytes, (unsigned long long)p->params_bytes,
          (unsigned long long)report_device_bytes(p));
  fprintf(f, "  \"batch_dim\": ");
  if (p->batch_dim >= 0) json_write_string(f, p->dims[p->batch_dim].name);
  else fputs("null", f);
  fprintf(f, ",\n  \"planner\": {\"method\": ");
  json_write_string(f, extra->planner_method);
  fprintf(f, ", \"seconds\": %.6f, \"lower_bound_aligned_bytes\": %llu},\n", extra->planner_seconds,
          (unsigned long long)extra->lower_bound_aligned);
  fprintf(f, "  \"steps\": [\n");
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_step *st = &p->steps[s];
    fprintf(f, "    {\"index\": %u, \"kernel\": ", s);
    json_write_string(f, st->kernel);
    fprintf(f, ", \"ops\": [");
    for (uint32_t k = 0; k < st->n_nodes; k++) {
      if (k) fputs(", ", f);
      json_write_string(f, rt_op_name(p->nodes[st->first_node + k].op));
    }
    fprintf(f, "], \"nodes\": [");
    for (uint32_t k = 0; k < st->n_nodes; k++) {
      if (k) fputs(", ", f);
      json_write_string(f, p->nodes[st->first_node + k].name);
    }
    fprintf(f, "], \"reads\": ");
    json_ids(f, p, st->reads, st->n_reads);
    fprintf(f, ", \"writes\": ");
    json_ids(f, p, st->writes, st->n_writes);
    fprintf(f, "}%s\n", s + 1 < p->n_steps ? "," : "");
  }
  fprintf(f, "  ],\n  \"tensors\": [\n");
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    fprintf(f, "    {\"name\": ");
    json_write_string(f, t->name);
    fprintf(f, ", \"kind\": \"%s\", \"dtype\": \"%s\", \"shape\": [", rt_kind_name(t->kind),
            rt_dtype_name(t->dtype));
    for (int d = 0; d < t->rank; d++) fprintf(f, "%s%lld", d ? ", " : "", (long long)t->dims[d]);
    /* Params live in their own region, not the slab: their offset there is
     * params_offset, so tools that check slab overlaps never see them. */
    fprintf(f, "], \"bytes\": %llu, \"offset\": ", (unsigned long long)t->bytes);
    if (!in_slab(t)) fputs("null", f);
    else fprintf(f, "%llu", (unsigned long long)t->offset);
    if (t->kind == RT_KIND_PARAM) fprintf(f, ", \"params_offset\": %llu", (unsigned long long)t->offset);
    if (in_slab(t) || t->kind == RT_KIND_FUSED)
      fprintf(f, ", \"first_step\": %d, \"last_step\": %d", t->first_step, t->last_step);
    else
      fprintf(f, ", \"first_step\": null, \"last_step\": null");
    fprintf(f, ", \"alias_of\": ");
    if (t->alias_of >= 0) json_write_string(f, p->tensors[t->alias_of].name);
    else fputs("null", f);
    if (t->alias_of >= 0)
      fprintf(f, ", \"alias_kind\": \"%s\"", t->alias_kind == RT_ALIAS_VIEW ? "view" : "inplace");
    fprintf(f, ", \"batched\": %s}%s\n", t->flags & RT_TF_BATCHED ? "true" : "false",
            i + 1 < p->n_tensors ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
  return rt_outfile_commit(&of, err, err_size);
}
