/*
 * plan_bench.c: the memory planner on bare problems, against the published
 * baseline (greedy by size with best fit).
 *
 *   1. the eleven MiniMalloc "challenging" instances A..K (capacity
 *      1,048,576 bytes): peak of each planner, its ratio to the capacity,
 *      and the time;
 *   2. synthetic chain-and-branches problems (planner/synth.h) of 1k, 10k
 *      and 100k buffers: time, peak, lower bound.
 * Every placement is checked with plan_verify before it is reported.
 *
 * Build and run by hand from the repository root:
 *
 *   gcc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L \
 *       -D_DEFAULT_SOURCE -Iplanner bench/plan_bench.c $(ls planner/[a-z]*.c) \
 *       -lm -o build/plan_bench
 *   build/plan_bench [DSA_DIR]      (default ../shared/bench/dsa)
 *
 * Exit status 1 when a file is missing, a placement fails verification, or
 * an A..K instance ends above its capacity.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "planner.h"
#include "synth.h"
#include "verify.h"

#define CAPACITY 1048576ULL

static int verified(const plan_buf *b, size_t n, uint64_t slab, uint64_t alignment) {
  plan_vtensor *t = calloc(n ? n : 1, sizeof *t);
  char msg[512];
  if (!t) return 0;
  for (size_t i = 0; i < n; i++)
    t[i] =
        (plan_vtensor){"b", b[i].offset, b[i].size, b[i].begin, b[i].end - 1, -1, PLAN_ALIAS_NONE};
  int ok = plan_verify(t, n, NULL, 0, slab, alignment, msg, sizeof msg) == 0;
  if (!ok) fprintf(stderr, "plan_bench: placement fails verification: %s\n", msg);
  free(t);
  return ok;
}

typedef int (*place_fn)(plan_buf *, size_t, const plan_opts *, plan_result *, char *, size_t);

/* Places a copy of b; 0 when placed and verified. */
static int run(place_fn fn, const plan_buf *b, size_t n, uint64_t alignment, plan_result *res) {
  plan_buf *c = malloc((n ? n : 1) * sizeof *c);
  char err[256];
  if (!c) return -1;
  memcpy(c, b, n * sizeof *c);
  plan_opts o = {alignment, 0, 0};
  int rc = fn(c, n, &o, res, err, sizeof err);
  if (rc) fprintf(stderr, "plan_bench: %s\n", err);
  if (!rc && !verified(c, n, res->peak, alignment)) rc = -1;
  free(c);
  return rc;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "../shared/bench/dsa";
  int bad = 0;
  printf("MiniMalloc challenging instances (capacity %llu B; ratio = peak / capacity)\n\n",
         CAPACITY);
  printf("| instance | buffers | lower bound | greedy peak | greedy ratio | greedy s | ours peak "
         "| ours ratio | ours s | method |\n");
  printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  double total = 0;
  for (char k = 'A'; k <= 'K'; k++) {
    char path[1024], err[1024];
    snprintf(path, sizeof path, "%s/%c.1048576.csv", dir, k);
    plan_csv c;
    if (plan_csv_read(path, &c, err, sizeof err)) {
      fprintf(stderr, "plan_bench: %s\n", err);
      return 1;
    }
    plan_result g, r;
    if (run(plan_place_greedy_size, c.bufs, c.n, 1, &g) || run(plan_place, c.bufs, c.n, 1, &r)) {
      plan_csv_free(&c);
      return 1;
    }
    bad |= r.peak > CAPACITY;
    total += r.seconds;
    printf("| %c | %zu | %llu | %llu | %.3f | %.3f | %llu | %.4f | %.3f | %s%s |\n", k, c.n,
           (unsigned long long)r.lower_bound, (unsigned long long)g.peak, (double)g.peak / CAPACITY,
           g.seconds, (unsigned long long)r.peak, (double)r.peak / CAPACITY, r.seconds, r.method,
           r.optimal ? " (optimal)" : "");
    fflush(stdout);
    plan_csv_free(&c);
  }
  printf("\nall eleven within the capacity: %s; total time of plan_place: %.2f s\n\n",
         bad ? "NO" : "yes", total);

  printf("Synthetic chain-and-branches problems (seed 1, alignment 256; ratio = peak / lower "
         "bound)\n\n");
  printf("| buffers | steps | lower bound | greedy peak | greedy ratio | greedy s | ours peak | "
         "ours ratio | ours s | method |\n");
  printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  static const size_t sizes[] = {1000, 10000, 100000};
  for (size_t k = 0; k < 3; k++) {
    size_t n = sizes[k];
    plan_buf *b = malloc(n * sizeof *b);
    if (!b) return 1;
    int64_t steps = plan_synth_chain(b, n, 1);
    plan_result g, r;
    if (run(plan_place_greedy_size, b, n, 256, &g) || run(plan_place, b, n, 256, &r)) {
      free(b);
      return 1;
    }
    printf("| %zu | %lld | %llu | %llu | %.4f | %.3f | %llu | %.4f | %.3f | %s%s |\n", n,
           (long long)steps, (unsigned long long)r.lower_bound, (unsigned long long)g.peak,
           (double)g.peak / (double)r.lower_bound, g.seconds, (unsigned long long)r.peak,
           (double)r.peak / (double)r.lower_bound, r.seconds, r.method,
           r.optimal ? " (optimal)" : "");
    fflush(stdout);
    free(b);
  }
  return bad;
}
