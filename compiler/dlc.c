/*
 * dlc.c: the compiler driver.
 *
 *   YAML -> tree (yml.c) -> graph (model.c) -> order (toposort.c)
 *   -> shapes and attributes (infer.c) -> dead nodes out (dce.c)
 *   -> param values (params.c) -> plan tables (lower.c)
 *   -> liveness and offsets (memplan.c, planner/) -> checks -> plan.bin
 *
 * A user mistake stops the compile with one FILE:LINE:COLUMN: error message
 * and a non-zero exit; nothing is written to -o (or any report) then.
 */
#include "compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "passes.h"
#include "report.h"
#include "report_fit.h"

static const char usage[] =
    "usage: dlc MODEL.yaml [-o PLAN.bin] [--dim NAME=VALUE]... [--precision P] [--report]\n"
    "           [--report-json FILE] [--report-svg FILE] [--time-limit S] [--json] [--quiet]\n"
    "           [--no-fold] [--no-fuse] [--no-views] [--no-concat-elision] [--no-inplace]\n"
    "           [--no-schedule] [--no-split] [--memory-limit SIZE] [--emit-cuda DIR]\n"
    "           [--cuda-arch SM] [--no-gpu]\n"
    "           [--placement greedy|best]\n"
    "       dlc plan-buffers IN.csv [-o OUT.csv] [options]   (dlc plan-buffers --help)\n"
    "\n"
    "Compiles a model (YAML, ONNX operator semantics; see spec/model-format.md):\n"
    "checks it, infers shapes and dtypes, orders the kernels, plans every\n"
    "activation into one slab, and writes a self-contained plan for dlrun.\n"
    "\n"
    "  -o FILE             write the plan (without -o the model is only checked)\n"
    "  --dim NAME=VALUE    bind a symbolic dimension (overrides the model's dims)\n"
    "  --report            print the per-step and per-tensor memory tables\n"
    "  --report-json FILE  write the memory-plan report (spec section 4)\n"
    "  --report-svg FILE   draw the memory plan: steps across, offsets up\n"
    "  --precision P       fp32 (default), tf32 (float32 storage, TF32 tensor cores\n"
    "                      for matmuls and convolutions), fp16 or bf16 (params and\n"
    "                      activations stored in that type, float32 arithmetic;\n"
    "                      inputs and outputs keep their types)\n"
    "  --emit-cuda DIR     write the generated CUDA C to DIR/<model>.cu\n"
    "  --cuda-arch SM      CUBIN for sm_SM (default 90: H100, H200); PTX for\n"
    "                      compute_80 (or SM when lower) runs on the other cards\n"
    "  --no-gpu            generate no GPU code (a CPU-only plan)\n"
    "  --time-limit S      seconds the memory planner may search (default 5)\n"
    "  --no-fold, --no-fuse, --no-views, --no-concat-elision, --no-inplace,\n"
    "  --no-schedule, --no-split\n"
    "                      turn one optimisation off (to see what it buys;\n"
    "                      --no-split: no MatMul cut into row chunks or column pieces)\n"
    "  --placement greedy  place with greedy-by-size (the published baseline)\n"
    "  --memory-limit SIZE compile at the largest batch whose slab and params fit in\n"
    "                      SIZE (e.g. 8GiB, 512MB, 1000000); --report adds a table of\n"
    "                      device bytes against batch size\n"
    "  --json              print the summary as one JSON document on stdout\n"
    "                      (human reports then go to stderr)\n"
    "  --quiet             no summary line\n"
    "  -h, --help          this text\n"
    "\n"
    "A summary line (kernels, slab, lower bound and gap, params, device total)\n"
    "goes to stdout. Errors go to stderr as FILE:LINE:COLUMN: error: ... and the\n"
    "exit status is 1; nothing is written then.\n";

/* "8GiB", "1.5 GB", "512MiB", "4096" -> bytes; 0 when malformed. */
static uint64_t parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || !(v > 0)) return 0;
  while (*end == ' ') end++;
  static const struct { const char *unit; double mult; } units[] = {
      {"", 1}, {"B", 1}, {"K", 1e3}, {"KB", 1e3}, {"KiB", 1024}, {"M", 1e6}, {"MB", 1e6},
      {"MiB", 1 << 20}, {"G", 1e9}, {"GB", 1e9}, {"GiB", 1 << 30}, {"T", 1e12}, {"TB", 1e12},
      {"TiB", 1099511627776.0}};
  for (size_t i = 0; i < sizeof units / sizeof *units; i++)
    if (!strcmp(end, units[i].unit)) {
      double b = v * units[i].mult;
      return b >= 1 && b < 1.8e19 ? (uint64_t)b : 0;
    }
  return 0;
}

static int parse_dim(const char *arg, model_dim_override *o) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) return -1;
  char *end;
  long long v = strtoll(eq + 1, &end, 10);
  if (*end || end == eq + 1 || v <= 0) return -1;
  o->name = strndup(arg, (size_t)(eq - arg));
  o->value = v;
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "plan-buffers")) return plan_buffers_main(argc - 1, argv + 1);
  compile_options opt = {.time_limit_s = 5.0, .gpu = 1};
  model_dim_override dims[64];
  int quiet = 0, text_report = 0, json = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_next = i + 1 < argc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "-o") && has_next) {
      opt.plan_path = argv[++i];
    } else if (!strcmp(a, "--dim") && has_next) {
      if (opt.model.n_dim_overrides == 64 || parse_dim(argv[++i], &dims[opt.model.n_dim_overrides])) {
        fprintf(stderr, "dlc: --dim wants NAME=VALUE with a positive integer VALUE, got '%s'\n", argv[i]);
        return 1;
      }
      opt.model.n_dim_overrides++;
    } else if (!strcmp(a, "--report")) {
      text_report = 1;
    } else if (!strcmp(a, "--report-json") && has_next) {
      opt.report_json = argv[++i];
    } else if (!strcmp(a, "--report-svg") && has_next) {
      opt.report_svg = argv[++i];
    } else if (!strcmp(a, "--time-limit") && has_next) {
      char *end;
      opt.time_limit_s = strtod(argv[++i], &end);
      if (*end || !(opt.time_limit_s >= 0) || opt.time_limit_s > 3600) {
        fprintf(stderr, "dlc: --time-limit wants seconds from 0 to 3600\n");
        return 1;
      }
    } else if (!strcmp(a, "--precision") && has_next) {
      opt.precision = graph_precision_parse(argv[++i]);
      if (opt.precision < 0) {
        fprintf(stderr, "dlc: --precision is fp32, tf32, fp16 or bf16, not '%s'\n", argv[i]);
        return 1;
      }
    } else if (!strcmp(a, "--emit-cuda") && has_next) {
      opt.emit_cuda = argv[++i];
      if (mkdir(opt.emit_cuda, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dlc: --emit-cuda %s: %s\n", opt.emit_cuda, strerror(errno));
        return 1;
      }
    } else if (!strcmp(a, "--cuda-arch") && has_next) {
      char *end;
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > 1000) {
        fprintf(stderr, "dlc: --cuda-arch wants a number such as 80 or 90, not '%s'\n", argv[i]);
        return 1;
      }
      opt.cuda_arch = (int)v;
    } else if (!strcmp(a, "--no-gpu")) {
      opt.gpu = 0;
    } else if (!strcmp(a, "--no-fold")) {
      opt.no_fold = 1;
    } else if (!strcmp(a, "--no-split")) {
      opt.no_split = 1;
    } else if (!strcmp(a, "--no-fuse")) {
      opt.no_fuse = 1;
    } else if (!strcmp(a, "--no-views")) {
      opt.no_views = 1;
    } else if (!strcmp(a, "--no-concat-elision")) {
      opt.no_concat = 1;
    } else if (!strcmp(a, "--no-inplace")) {
      opt.no_inplace = 1;
    } else if (!strcmp(a, "--no-schedule")) {
      opt.no_schedule = 1;
    } else if (!strcmp(a, "--placement") && has_next) {
      const char *v = argv[++i];
      if (strcmp(v, "greedy") && strcmp(v, "best")) {
        fprintf(stderr, "dlc: --placement is greedy or best, not '%s'\n", v);
        return 1;
      }
      opt.greedy = !strcmp(v, "greedy");
    } else if (!strcmp(a, "--memory-limit") && has_next) {
      opt.memory_limit = parse_size(argv[++i]);
      if (!opt.memory_limit) {
        fprintf(stderr, "dlc: --memory-limit wants a size such as 8GiB, 512MB or 1000000, not '%s'\n", argv[i]);
        return 1;
      }
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--quiet")) {
      quiet = 1;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "dlc: unknown option '%s'%s\n%s", a,
              has_next || strncmp(a, "--", 2) ? "" : " (or it is missing its value)", usage);
      return 1;
    } else if (!opt.model_path) {
      opt.model_path = a;
    } else {
      fprintf(stderr, "dlc: unexpected argument '%s' (one model at a time)\n", a);
      return 1;
    }
  }
  if (!opt.model_path) {
    fprintf(stderr, "dlc: no model given\n%s", usage);
    return 1;
  }
  opt.model.dim_overrides = dims;
  compile_result r;
  int rc = compile_model(&opt, &r, stderr);
  if (rc == 0) {
    FILE *human = json ? stderr : stdout; /* one JSON document on stdout */
    if (!quiet && !json) report_summary(human, r.plan);
    if (opt.memory_limit) report_fit(human, &r, opt.memory_limit, text_report);
    if (text_report) report_text(human, &r.arena, r.plan);
    if (text_report && (r.split_columns || r.split_blocks))
      fprintf(human, "\nMatMuls cut to lower the bound (--no-split keeps them whole): %d into column pieces, "
                     "%d feed-forward blocks into row chunks\n", r.split_columns, r.split_blocks);
    if (json) report_summary_json(stdout, &r, opt.plan_path);
    else if (!opt.plan_path && !quiet) printf("dlc: no -o given: the model checks out; no plan written\n");
  }
  compile_free(&r);
  for (int i = 0; i < opt.model.n_dim_overrides; i++) free((void *)dims[i].name);
  return rc ? 1 : 0;
}
