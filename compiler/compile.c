/*
 * compile.c: the pipeline of passes (see dlc.c's top comment), with the
 * error jump target, the internal consistency checks and the outputs.
 */
#include "compile.h"

#include <stdlib.h>
#include <string.h>

#include "gpu_lower.h"
#include "passes.h"
#include "report.h"
#include "report_svg.h"
#include "yml.h"

/* A plan the compiler built must pass the runtime's own checks; if it does
 * not, the compiler is wrong, not the model. */
static void internal_check(int rc, const char *what, const char *msg) {
  if (rc == 0) return;
  fprintf(stderr, "dlc: internal error: %s: %s\n(please report this with the model)\n", what, msg);
  abort();
}

typedef struct order_choice {
  graph_node **order; /* g->nodes in the kernel order chosen */
  uint64_t bound;
  int schedule, concat;
} order_choice;

/* Try each kernel order, keep the one with the lowest memory bound (ties:
 * the earlier strategy, file order first). Concat elision usually lowers
 * the bound but keeps a block's branch outputs alive together (Inception
 * at batch 1), so both are tried. */
static order_choice choose_order(graph *g, const compile_options *opt, const storage_options *so,
                                 const lower_options *lo) {
  size_t order_bytes = (size_t)g->n_nodes * sizeof *g->nodes;
  graph_node **base = arena_alloc(g->ar, order_bytes);
  order_choice best = {arena_alloc(g->ar, order_bytes), UINT64_MAX, SCHED_FILE, so->concat};
  memcpy(base, g->nodes, order_bytes);
  memcpy(best.order, g->nodes, order_bytes);
  for (int s = 0; s < (opt->no_schedule ? 1 : SCHED_COUNT); s++) {
    for (int c = so->concat; c >= 0; c--) {
      memcpy(g->nodes, base, order_bytes);
      if (graph_schedule(g, s)) break;
      graph_fuse(g, !opt->no_fuse);
      storage_options try = *so;
      try.concat = c;
      graph_plan_storage(g, &try);
      uint64_t bound = memplan_bound(g, lower_graph(g, lo, NULL));
      if (bound < best.bound) {
        best.bound = bound;
        best.concat = c;
        best.schedule = s;
        memcpy(best.order, g->nodes, order_bytes);
      }
    }
  }
  memcpy(g->nodes, base, order_bytes);
  return best;
}

/* Apply rewrite (returning how many places it changed) and keep it, with
 * its best order in *oc, only if it lowers the bound; returns the count
 * kept (0 when undone). */
static int try_rewrite(graph *g, int (*rewrite)(graph *), order_choice *oc, const compile_options *opt,
                       const storage_options *so, const lower_options *lo) {
  graph_mark before = graph_checkpoint(g);
  int n = rewrite(g);
  if (!n) return 0;
  order_choice after = choose_order(g, opt, so, lo);
  if (after.bound < oc->bound) {
    *oc = after;
    return n;
  }
  graph_restore(g, &before);
  return 0;
}

/* Front end to a checked plan in r->plan; writes nothing. */
static int compile_plan(const compile_options *opt, compile_result *r, FILE *diag_out) {
  memset(r, 0, sizeof *r);
  r->d.out = diag_out;
  if (setjmp(r->d.jmp)) return -1;
  arena *a = &r->arena;
  diag *d = &r->d;
  const char *file = opt->model_path ? opt->model_path : "<model>";
  yml_node *root = opt->model_text ? yml_load_string(a, d, file, opt->model_text, opt->model_text_len)
                                   : yml_load_file(a, d, file);
  graph *g = model_build(a, d, root, file, &opt->model);
  r->g = g;
  graph_toposort(g);
  graph_infer(g);
  r->dce_removed = graph_dce(g);
  if (g->n_nodes == 0)
    diag_error(d, root->loc, "the model computes nothing: no node contributes to its outputs");
  graph_load_params(g);
  if (!opt->no_fold) graph_fold(g);
  graph_precision(g, opt->precision);
  storage_options so = {!opt->no_views, !opt->no_concat, !opt->no_inplace};
  /* GPU code needs a workspace for each cuBLASLt call, planned in the slab */
  int gpu = opt->gpu && cg_have_nvrtc();
  lower_options lo = {256, gpu ? (uint64_t)4 << 20 : 0};

  order_choice oc = choose_order(g, opt, &so, &lo);
  if (!opt->no_split) {
    /* Cutting MatMuls lowers the bound only where what they cut is at the
     * peak; elsewhere it only adds kernels, so each cut must earn it.
     * Columns first: with a fused QKV projection cut, the feed-forward
     * block may become the peak that row chunks then lower. */
    r->split_columns = try_rewrite(g, graph_split_columns, &oc, opt, &so, &lo);
    r->split_blocks = try_rewrite(g, graph_split_ffn, &oc, opt, &so, &lo);
  }
  memcpy(g->nodes, oc.order, (size_t)g->n_nodes * sizeof *g->nodes);
  r->schedule = oc.schedule;
  so.concat = oc.concat;
  graph_fuse(g, !opt->no_fuse);
  graph_plan_storage(g, &so);
  lower_info li;
  rt_plan *p = lower_graph(g, &lo, &li);
  memplan_options mo = {opt->time_limit_s, opt->greedy};
  memplan_assign(g, p, &mo, &r->mem);
  r->plan = p;
  if (opt->precision == PRECISION_TF32) p->flags |= RT_PLAN_TF32;
  if (gpu && !opt->skip_codegen) {
    int arch = opt->cuda_arch ? opt->cuda_arch : 90;
    gpu_options go = {arch, arch < 80 ? arch : 80, 132, opt->precision == PRECISION_TF32, opt->emit_cuda};
    char why[16384];
    if (gpu_lower(g, p, &li, &go, why, sizeof why)) {
      if (strncmp(why, "NVRTC", 5) == 0) diag_error(d, (src_loc){file, 0, 0}, "%s", why);
      diag_warn(d, (src_loc){file, 0, 0}, "the plan will run on the CPU only: %s", why);
    }
  }

  char err[1024];
  internal_check(rt_plan_check(p, err, sizeof err), "plan check", err);
  internal_check(rt_plan_verify_memory(p, err, sizeof err), "memory plan verification", err);
  return 0;
}

/* The plan's file outputs, in the order that leaves the plan for last. */
static int write_outputs(const compile_options *opt, compile_result *r) {
  if (setjmp(r->d.jmp)) return -1;
  diag *d = &r->d;
  rt_plan *p = r->plan;
  char err[1024];
  src_loc whole = {opt->model_path ? opt->model_path : "<model>", 0, 0};
  if (opt->plan_path && rt_plan_write(p, opt->plan_path, err, sizeof err))
    diag_error(d, whole, "%s", err);
  if (opt->report_json) {
    report_extra x = {p->params_bytes, r->mem.lower_bound_aligned, r->mem.method, r->mem.seconds};
    uint64_t w = 0;
    for (uint32_t i = 0; i < p->n_tensors; i++)
      if (p->tensors[i].kind == RT_KIND_PARAM) w += p->tensors[i].bytes;
    x.weights_bytes = w;
    if (report_json(opt->report_json, p, &x, err, sizeof err)) diag_error(d, whole, "%s", err);
  }
  if (opt->report_svg && report_svg(opt->report_svg, p, err, sizeof err)) diag_error(d, whole, "%s", err);
  return 0;
}

/* Device bytes of the model compiled with dim = n; -1 when it does not
 * compile at that size (the message in msg). */
static int probe(const compile_options *opt, const char *dim, int64_t n, uint64_t *bytes,
                 char *msg, size_t msg_size) {
  compile_options o = *opt;
  model_dim_override ov[65];
  int k = 0;
  for (int i = 0; i < opt->model.n_dim_overrides && k < 64; i++)
    if (strcmp(opt->model.dim_overrides[i].name, dim)) ov[k++] = opt->model.dim_overrides[i];
  ov[k++] = (model_dim_override){dim, n};
  o.model.dim_overrides = ov;
  o.model.n_dim_overrides = k;
  o.time_limit_s = opt->time_limit_s < 0.2 ? opt->time_limit_s : 0.2; /* probes need no search */
  o.skip_codegen = 1; /* memory only: the workspaces are planned, no NVRTC */
  compile_result r;
  int rc = compile_plan(&o, &r, NULL);
  if (rc == 0) *bytes = r.plan->slab_bytes + r.plan->params_bytes; /* workspace is in the slab */
  else snprintf(msg, msg_size, "%s", r.d.msg);
  compile_free(&r);
  return rc;
}

static void add_row(compile_result *r, int64_t n, uint64_t bytes) {
  if (r->n_fit_rows < (int)(sizeof r->fit_rows / sizeof r->fit_rows[0]))
    r->fit_rows[r->n_fit_rows++] = (compile_fit_row){n, bytes};
}

/* Largest batch whose device bytes fit the limit: doubling, then bisection. */
static int fit_batch(const compile_options *opt, compile_result *first, FILE *diag_out,
                     int64_t *best_n) {
  graph *g = first->g;
  src_loc whole = {g->file, 0, 0};
  if (g->batch_sym < 0) {
    first->d.out = diag_out;
    snprintf(first->d.msg, sizeof first->d.msg, "%s: error: --memory-limit needs a batch dimension: "
             "an input whose first dimension is a dims name", whole.file);
    if (diag_out) fprintf(diag_out, "%s\n", first->d.msg);
    return -1;
  }
  const char *dim = g->dims[g->batch_sym].name;
  first->fit_dim = dim;
  char msg[2048] = "";
  uint64_t bytes;
  int64_t lo = 0, hi = -1; /* lo fits (0: none yet), hi does not */
  for (int64_t n = 1; n <= ((int64_t)1 << 24); n *= 2) {
    if (probe(opt, dim, n, &bytes, msg, sizeof msg) || bytes > opt->memory_limit) {
      if (bytes <= opt->memory_limit && msg[0]) add_row(first, n, 0);
      else add_row(first, n, bytes);
      hi = n;
      break;
    }
    add_row(first, n, bytes);
    lo = n;
  }
  if (lo == 0) {
    if (msg[0])
      snprintf(first->d.msg, sizeof first->d.msg, "%s: error: --memory-limit: the model does not "
               "compile at %s=1: %s", whole.file, dim, msg);
    else
      snprintf(first->d.msg, sizeof first->d.msg, "%s: error: --memory-limit: even %s=1 needs %llu "
               "bytes of device memory, over the limit of %llu", whole.file, dim,
               (unsigned long long)bytes, (unsigned long long)opt->memory_limit);
    if (diag_out) fprintf(diag_out, "%s\n", first->d.msg);
    return -1;
  }
  while (hi > 0 && hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    msg[0] = 0;
    if (probe(opt, dim, mid, &bytes, msg, sizeof msg) == 0 && bytes <= opt->memory_limit) {
      add_row(first, mid, bytes);
      lo = mid;
    } else {
      add_row(first, mid, msg[0] ? 0 : bytes);
      hi = mid;
    }
  }
  *best_n = lo;
  return 0;
}

int compile_model(const compile_options *opt, compile_result *r, FILE *diag_out) {
  if (compile_plan(opt, r, diag_out)) return -1;
  if (opt->memory_limit) {
    int64_t n;
    if (fit_batch(opt, r, diag_out, &n)) return -1;
    compile_fit_row rows[64];
    int n_rows = r->n_fit_rows;
    memcpy(rows, r->fit_rows, sizeof rows);
    char dim[256]; /* r's arena goes away below */
    snprintf(dim, sizeof dim, "%s", r->fit_dim);
    compile_options o = *opt;
    model_dim_override ov[65];
    int k = 0;
    for (int i = 0; i < opt->model.n_dim_overrides && k < 64; i++)
      if (strcmp(opt->model.dim_overrides[i].name, dim)) ov[k++] = opt->model.dim_overrides[i];
    ov[k++] = (model_dim_override){dim, n};
    o.model.dim_overrides = ov;
    o.model.n_dim_overrides = k;
    compile_free(r);
    if (compile_plan(&o, r, diag_out)) return -1;
    r->fit_dim = arena_strdup(&r->arena, dim);
    r->fit_n = n;
    memcpy(r->fit_rows, rows, sizeof rows);
    r->n_fit_rows = n_rows;
  }
  return write_outputs(opt, r);
}

void compile_free(compile_result *r) { arena_free(&r->arena); }
