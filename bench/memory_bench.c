/*
 * memory_bench.c: dlc's memory plans against the published baseline, on the
 * real architectures of ../shared/models/onnx-light, computed in one run.
 *
 *   baseline  the unfused graph in file order, every tensor in its own
 *             buffer, placed greedy-by-size with best fit (TFLite GPU,
 *             AITemplate, TVM USMP's default), 256-byte alignment
 *   dlc       everything on: affine folding, fusion, memory-aware order,
 *             views, concat elision, in-place writes, dlc's planner
 *
 * For each model at N=1 and N=8 it prints the slab of both, dlc's lower
 * bound and gap, the ratio to the baseline, kernels and compile time, plus a
 * column per optimisation switched off alone (what each one buys).
 *
 *   build/bench/memory_bench [MODELS_DIR] > table.md
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compile.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct result {
  uint64_t slab, lower_bound;
  uint32_t kernels;
  double seconds;
  int ok;
} result;

static result run(const char *path, int64_t n, const compile_options *base) {
  compile_options o = *base;
  model_dim_override ov = {"N", n};
  o.model_path = path;
  o.model.dim_overrides = &ov;
  o.model.n_dim_overrides = 1;
  compile_result r;
  double t0 = now();
  result out = {0};
  if (compile_model(&o, &r, stderr) == 0) {
    out = (result){r.plan->slab_bytes, r.plan->lower_bound, r.plan->n_steps, now() - t0, 1};
  }
  compile_free(&r);
  return out;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "../shared/models/onnx-light";
  DIR *d = opendir(dir);
  if (!d) {
    fprintf(stderr, "memory_bench: cannot open %s\n", dir);
    return 1;
  }
  char *names[64];
  int n_names = 0;
  for (struct dirent *e; (e = readdir(d)) && n_names < 64;) {
    size_t len = strlen(e->d_name);
    if (len > 5 && !strcmp(e->d_name + len - 5, ".yaml")) names[n_names++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n_names, sizeof *names, by_name);

  /* dlc's GPU plans (cuBLASLt workspaces included in its slab), memory only,
   * no NVRTC; the baseline has no workspace at all */
  compile_options baseline = {.time_limit_s = 5, .no_fold = 1, .no_fuse = 1, .no_views = 1,
                              .no_concat = 1, .no_inplace = 1, .no_schedule = 1, .greedy = 1};
  compile_options ours = {.time_limit_s = 5, .gpu = 1, .skip_codegen = 1};
  struct { const char *name; compile_options o; } ablations[] = {
      {"no fuse", {.time_limit_s = 5, .no_fuse = 1, .gpu = 1, .skip_codegen = 1}},
      {"no in-place", {.time_limit_s = 5, .no_inplace = 1, .gpu = 1, .skip_codegen = 1}},
      {"no concat", {.time_limit_s = 5, .no_concat = 1, .gpu = 1, .skip_codegen = 1}},
      {"no schedule", {.time_limit_s = 5, .no_schedule = 1, .gpu = 1, .skip_codegen = 1}},
  };
  int n_abl = (int)(sizeof ablations / sizeof *ablations);

  printf("| model | N | baseline B | dlc slab B | lower bound B | gap | dlc / baseline | kernels | compile s |");
  for (int a = 0; a < n_abl; a++) printf(" %s |", ablations[a].name);
  printf("\n|---|---|---|---|---|---|---|---|---|");
  for (int a = 0; a < n_abl; a++) printf("---|");
  printf("\n");
  int worst_ok = 1;
  for (int i = 0; i < n_names; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    names[i][strlen(names[i]) - 5] = 0;
    for (int64_t n = 1; n <= 8; n *= 8) {
      result b = run(path, n, &baseline), r = run(path, n, &ours);
      if (!b.ok || !r.ok) {
        printf("| %s | %lld | (compile failed) |\n", names[i], (long long)n);
        worst_ok = 0;
        continue;
      }
      double gap = r.lower_bound ? 100.0 * ((double)r.slab - (double)r.lower_bound) / (double)r.lower_bound : 0;
      double ratio = (double)r.slab / (double)b.slab;
      printf("| %s | %lld | %llu | %llu | %llu | %.2f%% | %.3f | %u | %.2f |", names[i], (long long)n,
             (unsigned long long)b.slab, (unsigned long long)r.slab,
             (unsigned long long)r.lower_bound, gap, ratio, r.kernels, r.seconds);
      for (int a = 0; a < n_abl; a++) {
        result x = run(path, n, &ablations[a].o);
        printf(" %.3f |", x.ok ? (double)x.slab / (double)b.slab : 0.0);
      }
      printf("\n");
      fflush(stdout);
      if (gap > 1.0 || ratio > 0.75) worst_ok = 0;
    }
    free(names[i]);
  }
  printf("\nTargets (slab within 1%% of the lower bound, at or below 0.75x the baseline): %s\n",
         worst_ok ? "all met" : "NOT all met");
  return 0;
}
