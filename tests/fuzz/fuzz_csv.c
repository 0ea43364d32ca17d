/*
 * fuzz_csv.c: libFuzzer target for the buffer-list CSV reader
 * (planner/csv.h, `dlc plan-buffers IN.csv`) and the placement behind it.
 *
 * The input is a CSV file, read with plan_csv_read() through a temporary
 * file. When it parses, the solution is written with plan_csv_print() and
 * read back (it must give the same rows), and the buffers are placed with
 * plan_place() and plan_place_greedy_size() under a short time limit; each
 * placement must pass the independent verifier (planner/verify.h), be
 * aligned, and be no smaller than the lower bound. So the target finds both
 * reader bugs and placements that overlap.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "fuzz_util.h"
#include "planner.h"
#include "verify.h"

/* Placement cost grows with the rows; inputs are short anyway (-max_len). */
#define MAX_PLACE 2000

static void check_round_trip(const plan_csv *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) abort();
  if (plan_csv_print(f, c) != 0) abort();
  if (fclose(f) != 0) abort();
  plan_csv back;
  char err[512];
  const char *path = fuzz_tmp_write((const uint8_t *)buf, len);
  if (plan_csv_read(path, &back, err, sizeof err) != 0) {
    fprintf(stderr, "plan_csv_print wrote what plan_csv_read refuses: %s\n", err);
    abort();
  }
  if (back.n != c->n || !back.has_offset) abort();
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(back.ids[i], c->ids[i]) || back.bufs[i].size != c->bufs[i].size ||
        back.bufs[i].begin != c->bufs[i].begin || back.bufs[i].end != c->bufs[i].end ||
        back.bufs[i].offset != c->bufs[i].offset)
      abort();
  plan_csv_free(&back);
  free(buf);
}

typedef int (*place_fn)(plan_buf *, size_t, const plan_opts *, plan_result *, char *, size_t);

static void check_placement(const plan_csv *c, place_fn place, uint64_t alignment) {
  size_t n = c->n;
  plan_buf *b = malloc((n ? n : 1) * sizeof *b);
  plan_vtensor *vt = calloc(n ? n : 1, sizeof *vt);
  if (!b || !vt) abort();
  if (n) memcpy(b, c->bufs, n * sizeof *b);
  plan_opts opts = {alignment, 0.01, 0};
  plan_result res;
  char err[512];
  if (place(b, n, &opts, &res, err, sizeof err) == 0) {
    uint64_t peak = 0;
    for (size_t i = 0; i < n; i++) {
      if (b[i].size == 0) continue;
      if (b[i].offset % alignment || b[i].begin != c->bufs[i].begin ||
          b[i].end != c->bufs[i].end || b[i].size != c->bufs[i].size)
        abort();
      uint64_t top = b[i].offset + b[i].size;
      if (top < b[i].offset) abort(); /* wrapped around */
      if (top > peak) peak = top;
    }
    if (peak > res.peak || res.peak < res.lower_bound) abort();
    /* the verifier's steps are inclusive, the CSV's [lower, upper) half-open */
    for (size_t i = 0; i < n; i++)
      vt[i] = (plan_vtensor){c->ids[i], b[i].offset, b[i].size, b[i].begin, b[i].end - 1, -1,
                             PLAN_ALIAS_NONE};
    if (plan_verify(vt, n, NULL, 0, res.peak, alignment, err, sizeof err) != 0) {
      fprintf(stderr, "placement (%s) fails verification: %s\n", res.method, err);
      abort();
    }
  }
  free(vt);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  plan_csv c;
  const char *path = fuzz_tmp_write(data, size);
  if (plan_csv_read(path, &c, err, sizeof err) != 0) {
    if (c.n || c.ids || c.bufs) abort(); /* "*out is empty on failure" */
    return 0;
  }
  check_round_trip(&c);
  if (c.n <= MAX_PLACE) {
    uint64_t alignment = (uint64_t)1 << (size % 9); /* 1 .. 256 */
    check_placement(&c, plan_place, alignment);
    check_placement(&c, plan_place_greedy_size, alignment);
  }
  plan_csv_free(&c);
  return 0;
}
