/*
 * rt_run.h: streaming a data directory through a plan (spec section 3).
 *
 * Every input is DIR/<name>.npy. Inputs whose first dimension is the plan's
 * batch dimension hold M samples on axis 0; the run reads them batch by
 * batch (the last batch padded with zeros, its padding dropped), so memory
 * use does not depend on M. Outputs are written to OUT/<name>.npy through
 * temporary files renamed at the end: complete or absent, never partial.
 */
#ifndef RT_RUN_H
#define RT_RUN_H

#include <signal.h>
#include <stdint.h>

#include "rt_backend.h"
#include "rt_plan.h"

/* Exit statuses of dlrun (documented in dlrun --help). */
enum {
  RT_EXIT_OK = 0,
  RT_EXIT_USAGE = 1,       /* bad command line */
  RT_EXIT_DATA = 2,        /* the data directory does not fit the plan */
  RT_EXIT_PLAN = 3,        /* plan.bin missing, corrupt or invalid */
  RT_EXIT_RESOURCE = 4,    /* out of memory, threads, device memory */
  RT_EXIT_IO = 5,          /* reading data or writing outputs failed (disk full...) */
  RT_EXIT_DEVICE = 6,      /* the GPU or driver failed during the run */
  RT_EXIT_INTERRUPTED = 130,
};

typedef struct rt_run_options {
  const char *data_dir;
  const char *out_dir;
  int progress;                    /* progress line on stderr */
  volatile sig_atomic_t *stop;     /* set asynchronously to stop between batches */
} rt_run_options;

typedef struct rt_run_stats {
  int64_t samples;       /* M (1 when nothing is batched) */
  int64_t batches;
  int64_t batch_size;    /* N */
  double seconds;        /* whole streaming loop: reads, compute, writes */
  double compute_seconds;
  double latency_ms[3];  /* p50, p90, p99 of run() per batch */
} rt_run_stats;

/* Returns an RT_EXIT_* status; on failure err says what and no output file
 * is left behind. */
int rt_run(const rt_plan *p, rt_backend *b, const rt_run_options *opt, rt_run_stats *stats,
           char *err, size_t err_size);

#endif
