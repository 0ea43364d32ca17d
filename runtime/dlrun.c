/*
 * dlrun.c: the runtime driver: load a plan, pick a backend, stream a data
 * directory through it, print a summary.
 *
 * dlrun links neither libyaml nor NVRTC, and never needs libcuda to start:
 * the CUDA backend loads the driver with dlopen, and without a driver, a
 * device or GPU code in the plan dlrun runs on the CPU and says why (unless
 * --device cuda asked for the GPU, which then makes that an error).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rt_backend.h"
#include "rt_plan.h"
#include "rt_run.h"

static const char usage[] =
    "usage: dlrun PLAN.bin --data DIR [--out DIR] [--device cpu|cuda] [--threads N]\n"
    "             [--profile] [--json] [--quiet]\n"
    "\n"
    "Runs a plan compiled by dlc over a data directory: DIR/<input>.npy for every\n"
    "model input ('/' and ':' in names written as '_'). Inputs whose first\n"
    "dimension is the batch dimension may hold any number M of samples; they are\n"
    "streamed in batches of the planned size, the last batch padded. Outputs are\n"
    "written to OUT/<output>.npy, each complete or not at all.\n"
    "\n"
    "  --data DIR      the input directory (required)\n"
    "  --out DIR       where outputs go (default: out), created if missing\n"
    "  --device D      cpu, or cuda (default: cuda where a driver, a device and\n"
    "                  GPU code in the plan are present, else cpu, saying why on\n"
    "                  stderr); with cuda, any of them missing is an error\n"
    "  --threads N     CPU threads (default: one per core, or $DLC_THREADS)\n"
    "  --profile       then run each step alone 20 times and print its mean\n"
    "                  time, the bytes it reads and writes, and the bandwidth that\n"
    "                  makes (with --json: \"profile\" in the document)\n"
    "  --json          print the summary as one JSON document on stdout\n"
    "  --quiet         no summary\n"
    "  -h, --help      this text\n"
    "\n"
    "Exit status: 0 success; 1 bad command line; 2 the data does not fit the plan\n"
    "(missing file, wrong dtype or shape, sample counts differ); 3 the plan is\n"
    "missing, corrupt or invalid; 4 out of memory or other resources; 5 reading\n"
    "data or writing outputs failed (e.g. disk full); 6 device failure;\n"
    "130 interrupted (SIGINT/SIGTERM). On any failure no output file is left\n"
    "half-written.\n"
    "\n"
    "Environment: DLC_THREADS (CPU threads), DLC_LIBCUDA and DLC_LIBCUBLASLT (paths\n"
    "of the CUDA driver and cuBLASLt libraries, default libcuda.so.1 and\n"
    "libcublasLt.so.13/.12).\n";

enum { PROFILE_REPS = 20 };

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  stop_flag = 1;
  signal(sig, SIG_DFL); /* a second signal ends the process at once */
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The exit status for a CUDA backend that did not start. */
static int cuda_exit(rt_cuda_status st) {
  switch (st) {
  case RT_CUDA_NO_CODE: return RT_EXIT_PLAN;
  case RT_CUDA_NO_MEMORY: return RT_EXIT_RESOURCE;
  default: return RT_EXIT_DEVICE;
  }
}

/* JSON string contents (names and device strings are plain, but be safe). */
static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

/* Bytes step s reads plus bytes it writes, in memory: fused tensors never
 * leave the chip; a tensor read twice (or read and written in place)
 * counts each way once. */
static uint64_t step_bytes(const rt_plan *p, const rt_step *st) {
  uint64_t n = 0;
  for (uint32_t k = 0; k < st->n_reads + st->n_writes; k++) {
    uint32_t at = k < st->n_reads ? st->reads + k : st->writes + (k - st->n_reads);
    const rt_tensor *t = &p->tensors[p->args[at]];
    if (t->kind != RT_KIND_FUSED) n += t->bytes;
  }
  return n;
}

/* What ran step s: the GPU launch kind, or the CPU's kernels. */
static const char *step_launch(const rt_plan *p, const rt_backend *b, uint32_t s) {
  if (!b->submit || !p->launches) return "cpu";
  switch (p->launches[s].kind) {
  case RT_LAUNCH_KERNEL: return "kernel";
  case RT_LAUNCH_GEMM: return "gemm";
  default: return "none";
  }
}

static void print_profile(FILE *f, const rt_plan *p, const rt_backend *b, const double *ms) {
  double total = 0;
  fprintf(f, "  profile: each step alone, mean of %d runs\n", PROFILE_REPS);
  fprintf(f, "   step  %-28s %-6s %11s %11s %9s\n", "kernel", "launch", "time", "moved", "GB/s");
  for (uint32_t s = 0; s < p->n_steps; s++) {
    uint64_t bytes = step_bytes(p, &p->steps[s]);
    total += ms[s];
    fprintf(f, "  %5u  %-28.28s %-6s %8.1f us %8.2f MB %9.1f\n", s, p->steps[s].kernel, step_launch(p, b, s),
            ms[s] * 1e3, (double)bytes / 1e6, ms[s] > 0 ? (double)bytes / (ms[s] * 1e6) : 0.0);
  }
  fprintf(f, "  %5s  %-28s %-6s %8.1f us\n", "", "all steps", "", total * 1e3);
}

static void json_profile(FILE *f, const rt_plan *p, const rt_backend *b, const double *ms) {
  fprintf(f, ", \"profile\": {\"reps\": %d, \"steps\": [", PROFILE_REPS);
  for (uint32_t s = 0; s < p->n_steps; s++) {
    fprintf(f, "%s{\"step\": %u, \"kernel\": ", s ? ", " : "", s);
    json_str(f, p->steps[s].kernel);
    fprintf(f, ", \"launch\": \"%s\", \"ms\": %.6f, \"bytes\": %llu}", step_launch(p, b, s), ms[s],
            (unsigned long long)step_bytes(p, &p->steps[s]));
  }
  fprintf(f, "]}");
}

static void print_bytes(FILE *f, const char *label, uint64_t b) {
  fprintf(f, "  %-14s %14llu B (%.1f MiB)\n", label, (unsigned long long)b, (double)b / (1 << 20));
}

int main(int argc, char **argv) {
  double t_start = now();
  const char *plan_path = NULL, *device = NULL;
  rt_run_options opt = {.out_dir = "out", .stop = &stop_flag};
  int threads = 0, json = 0, quiet = 0, profile = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_next = i + 1 < argc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "--data") && has_next) {
      opt.data_dir = argv[++i];
    } else if (!strcmp(a, "--out") && has_next) {
      opt.out_dir = argv[++i];
    } else if (!strcmp(a, "--device") && has_next) {
      device = argv[++i];
      if (strcmp(device, "cpu") && strcmp(device, "cuda")) {
        fprintf(stderr, "dlrun: --device must be cpu or cuda, not '%s'\n", device);
        return RT_EXIT_USAGE;
      }
    } else if (!strcmp(a, "--threads") && has_next) {
      char *end;
      long t = strtol(argv[++i], &end, 10);
      if (*end || t < 1 || t > 1024) {
        fprintf(stderr, "dlrun: --threads must be a number from 1 to 1024\n");
        return RT_EXIT_USAGE;
      }
      threads = (int)t;
    } else if (!strcmp(a, "--json")) {
      json = 1;
    } else if (!strcmp(a, "--profile")) {
      profile = 1;
    } else if (!strcmp(a, "--quiet")) {
      quiet = 1;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "dlrun: unknown option '%s'%s\n%s", a,
              has_next || strncmp(a, "--", 2) ? "" : " (or it is missing its value)", usage);
      return RT_EXIT_USAGE;
    } else if (!plan_path) {
      plan_path = a;
    } else {
      fprintf(stderr, "dlrun: unexpected argument '%s'\n%s", a, usage);
      return RT_EXIT_USAGE;
    }
  }
  if (!plan_path || !opt.data_dir) {
    fprintf(stderr, "dlrun: %s\n%s", plan_path ? "--data DIR is required" : "no plan given", usage);
    return RT_EXIT_USAGE;
  }

  char err[1024];
  rt_plan plan;
  if (rt_plan_read(plan_path, &plan, err, sizeof err)) {
    fprintf(stderr, "dlrun: %s\n", err);
    return RT_EXIT_PLAN;
  }
  if (rt_plan_verify_memory(&plan, err, sizeof err)) {
    fprintf(stderr, "dlrun: %s: the memory plan is invalid: %s\n", plan_path, err);
    rt_plan_free(&plan);
    return RT_EXIT_PLAN;
  }

  double t_plan = now();

  rt_backend *b = NULL;
  if (!device || !strcmp(device, "cuda")) {
    rt_cuda_status cst;
    b = rt_cuda_backend_create(&plan, threads, &cst, err, sizeof err);
    if (!b) {
      if (device || (cst != RT_CUDA_NO_DRIVER && cst != RT_CUDA_NO_DEVICE && cst != RT_CUDA_NO_CODE)) {
        fprintf(stderr, "dlrun: %s%s\n", device ? "--device cuda: " : "", err);
        rt_plan_free(&plan);
        return cuda_exit(cst);
      }
      fprintf(stderr, "dlrun: running on the CPU: %s\n", err);
    }
  }
  if (!b) b = rt_cpu_backend_create(&plan, threads, err, sizeof err);
  if (!b) {
    fprintf(stderr, "dlrun: %s\n", err);
    rt_plan_free(&plan);
    return RT_EXIT_RESOURCE;
  }
  double t_ready = now();
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  /* past a file size limit a write must fail (EFBIG, then exit 5 with the
   * temporaries removed) rather than the signal kill dlrun mid-file */
  signal(SIGXFSZ, SIG_IGN);
  opt.progress = isatty(STDERR_FILENO) && !quiet;
  rt_run_stats st;
  int code = rt_run(&plan, b, &opt, &st, err, sizeof err);
  double *step_ms = NULL;
  if (code == RT_EXIT_OK && profile) {
    step_ms = calloc((size_t)plan.n_steps + 1, sizeof *step_ms);
    if (!step_ms) {
      snprintf(err, sizeof err, "out of memory for the profile");
      code = RT_EXIT_RESOURCE;
    } else if (b->profile(b, PROFILE_REPS, step_ms, err + 11, sizeof err - 11)) {
      memcpy(err, "profiling: ", 11);
      code = RT_EXIT_DEVICE;
    }
  }
  if (code != RT_EXIT_OK) {
    fprintf(stderr, "dlrun: %s\n", err);
  } else if (json) {
    printf("{\"model\": ");
    json_str(stdout, plan.model);
    printf(", \"backend\": \"%s\", \"device\": ", b->name);
    json_str(stdout, b->device);
    if (b->card[0]) {
      printf(", \"card\": {\"name\": ");
      json_str(stdout, b->card);
      printf(", \"compute_capability\": \"%d.%d\", \"memory_bytes\": %llu, \"sms\": %d, "
             "\"driver_version\": %d, \"code\": \"%s\"}", b->cc_major, b->cc_minor,
             (unsigned long long)b->card_bytes, b->sms, b->driver_version, b->code ? b->code : "");
    } else {
      printf(", \"card\": null");
    }
    printf(", \"samples\": %lld, \"batch_size\": %lld, \"batches\": %lld, \"seconds\": %.6f, "
           "\"compute_seconds\": %.6f, \"samples_per_second\": %.3f, "
           "\"latency_ms\": {\"p50\": %.4f, \"p90\": %.4f, \"p99\": %.4f}, "
           "\"startup_ms\": {\"total\": %.3f, \"plan\": %.3f, \"backend\": %.3f}, "
           "\"slab_bytes\": %llu, \"params_bytes\": %llu, \"workspace_bytes\": %llu, "
           "\"device_bytes\": %llu, \"outputs_dir\": ",
           (long long)st.samples, (long long)st.batch_size, (long long)st.batches, st.seconds,
           st.compute_seconds, st.seconds > 0 ? (double)st.samples / st.seconds : 0.0, st.latency_ms[0],
           st.latency_ms[1], st.latency_ms[2], (t_ready - t_start) * 1e3, (t_plan - t_start) * 1e3,
           (t_ready - t_plan) * 1e3, (unsigned long long)plan.slab_bytes,
           (unsigned long long)plan.params_bytes, (unsigned long long)plan.workspace_bytes,
           (unsigned long long)b->device_bytes);
    json_str(stdout, opt.out_dir);
    if (step_ms) json_profile(stdout, &plan, b, step_ms);
    printf("}\n");
  } else if (!quiet) {
    printf("dlrun: %s on %s (%s)\n", plan.model, b->name, b->device);
    if (b->code) printf("  GPU code: %s\n", b->code);
    printf("  start-up %.1f ms (plan %.1f ms, backend %.1f ms)\n", (t_ready - t_start) * 1e3,
           (t_plan - t_start) * 1e3, (t_ready - t_plan) * 1e3);
    printf("  %lld sample%s in %lld batch%s of %lld%s\n", (long long)st.samples,
           st.samples == 1 ? "" : "s", (long long)st.batches, st.batches == 1 ? "" : "es",
           (long long)st.batch_size,
           st.batches * st.batch_size > st.samples ? " (last batch padded)" : "");
    printf("  %.3f s, %.1f samples/s; compute %.3f s; batch latency p50 %.3f ms, p90 %.3f ms, "
           "p99 %.3f ms\n", st.seconds, st.seconds > 0 ? (double)st.samples / st.seconds : 0.0,
           st.compute_seconds, st.latency_ms[0], st.latency_ms[1], st.latency_ms[2]);
    print_bytes(stdout, "slab", plan.slab_bytes);
    print_bytes(stdout, "  workspace", plan.workspace_bytes);
    print_bytes(stdout, "params", plan.params_bytes);
    print_bytes(stdout, "allocated", b->device_bytes);
    printf("  outputs in %s/\n", opt.out_dir);
    if (step_ms) print_profile(stdout, &plan, b, step_ms);
  }
  free(step_ms);
  b->destroy(b);
  rt_plan_free(&plan);
  return code;
}
