/*
 * compile.c: the pipeline of passes (see dlc.c's top comment), with the
 * error jump target, the internal consistency checks and the outputs.
 */
#include "compile.h"

#include <stdlib.h>
#include <string.h>

#include "passes.h"
#include "report.h"
#include "yml.h"

/* A plan the compiler built must pass the runtime's own checks; if it does
 * not, the compiler is wrong, not the model. */
static void internal_check(int rc, const char *what, const char *msg) {
  if (rc == 0) return;
  fprintf(stderr, "dlc: internal error: %s: %s\n(please report this with the model)\n", what, msg);
  abort();
}

int compile_model(const compile_options *opt, compile_result *r, FILE *diag_out) {
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

  lower_options lo = {256};
  rt_plan *p = lower_graph(g, &lo, NULL);
  memplan_options mo = {opt->time_limit_s};
  memplan_assign(g, p, &mo, &r->mem);
  r->plan = p;

  char err[1024];
  internal_check(rt_plan_check(p, err, sizeof err), "plan check", err);
  internal_check(rt_plan_verify_memory(p, err, sizeof err), "memory plan verification", err);

  src_loc whole = {file, 0, 0};
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
  return 0;
}

void compile_free(compile_result *r) { arena_free(&r->arena); }
