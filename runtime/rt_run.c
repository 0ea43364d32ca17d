/*
 * rt_run.c: the batch loop of dlrun (see rt_run.h).
 *
 * Everything that can fail because of the data is checked before the first
 * batch: every file exists, has the right dtype and shape, batched inputs
 * agree on M, outputs can be streamed, the output directory is writable. All
 * buffers are allocated before the loop; the loop itself only reads rows,
 * runs the backend and appends rows to the output files.
 *
 * With an asynchronous backend (rt_backend.h: two slots of host buffers)
 * batch i+1 is read and submitted before batch i's outputs are waited for
 * and written, so file I/O and copies overlap the device's compute. The
 * per-batch latency is the backend's compute time: run() timed here, or
 * what wait() reports (the device's own timing of the batch).
 */
#include "rt_run.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "npy.h"

#define MAX_PATH 4096

typedef struct run_input {
  const rt_tensor *t;
  rt_npy_reader r;
  int open;
  int batched;
  void *host;          /* unbatched: the whole tensor, copied in every batch */
  uint64_t row_bytes;
} run_input;

typedef struct run_output {
  const rt_tensor *t;
  rt_npy_writer w;
  int open;
  int batched;
  uint64_t row_bytes;
  char file[300];
} run_output;

static int fail(char *err, size_t size, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t size, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, size, fmt, ap);
  va_end(ap);
  return code;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* "(3, 224, 224)", or "(M, 784)" for a batched shape; NumPy's "(5,)" for rank 1. */
static const char *shape_str(char *buf, size_t size, int rank, const int64_t *dims, int m_first) {
  size_t n = 0;
  buf[0] = 0;
#define PUT(...) do { if (n < size) n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__); } while (0)
  PUT("(");
  for (int i = 0; i < rank; i++) {
    if (i == 0 && m_first) PUT("M");
    else PUT("%lld", (long long)dims[i]);
    if (i + 1 < rank) PUT(", ");
    else if (rank == 1) PUT(",");
  }
  PUT(")");
#undef PUT
  return buf;
}

/* mkdir -p */
static int make_dirs(const char *path) {
  char buf[MAX_PATH];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return ENAMETOOLONG;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) return errno;
  struct stat st;
  if (stat(buf, &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  return 0;
}

/* Latency histogram: fixed buckets, so memory does not grow with batches. */
enum { HIST_BUCKETS = 256 };
static int hist_bucket(double ms) {
  if (ms <= 1e-3) return 0;
  int b = (int)(log(ms / 1e-3) / log(1.08)) + 1; /* 8% wide from 1 us */
  return b >= HIST_BUCKETS ? HIST_BUCKETS - 1 : b;
}
static double hist_value(int b) { return b == 0 ? 1e-3 : 1e-3 * pow(1.08, b - 0.5); }

static void percentiles(const int64_t *hist, int64_t total, double *out) {
  static const double q[3] = {0.50, 0.90, 0.99};
  for (int k = 0; k < 3; k++) {
    int64_t want = (int64_t)ceil(q[k] * (double)total), seen = 0;
    out[k] = 0;
    for (int b = 0; b < HIST_BUCKETS; b++) {
      seen += hist[b];
      if (seen >= want && want > 0) {
        out[k] = hist_value(b);
        break;
      }
    }
  }
}

/* State of the batch loop. */
typedef struct batch_loop {
  const rt_plan *p;
  rt_backend *b;
  run_input *in;
  run_output *out;
  int64_t n, m;          /* batch size, samples */
  int any_batched;
  int64_t batches;
  int64_t hist[HIST_BUCKETS];
  double compute;        /* seconds of compute, summed over batches */
  double t0;
  double sync_seconds;   /* a synchronous backend's last run(), timed here */
  char inner[512];
  int progress;
} batch_loop;

static int64_t batch_rows(const batch_loop *L, int64_t bi) {
  int64_t first = bi * L->n;
  return L->any_batched ? (L->m - first < L->n ? L->m - first : L->n) : 1;
}

/* A backend failure: the CPU's are about the data (e.g. a Gather index out
 * of range), the device's are the device's. */
static int backend_failed(const batch_loop *L, int64_t bi, char *err, size_t err_size) {
  return fail(err, err_size, strcmp(L->b->name, "cpu") ? RT_EXIT_DEVICE : RT_EXIT_DATA, "batch %lld: %s",
              (long long)bi, L->inner);
}

/* Read batch bi into its slot and start it. */
static int submit(batch_loop *L, int64_t bi, char *err, size_t err_size) {
  const rt_plan *p = L->p;
  rt_backend *b = L->b;
  int slot = (int)(bi % rt_backend_slots(b));
  int64_t first = bi * L->n, rows = batch_rows(L, bi);
  for (uint32_t i = 0; i < p->n_inputs; i++) {
    run_input *x = &L->in[i];
    uint8_t *dst = rt_backend_input(b, slot, i);
    if (!x->batched) {
      memcpy(dst, x->host, x->t->bytes);
      continue;
    }
    if (rt_npy_read_rows(&x->r, first, rows, dst, L->inner, sizeof L->inner))
      return fail(err, err_size, RT_EXIT_IO, "%s", L->inner);
    if (rows < L->n) memset(dst + (uint64_t)rows * x->row_bytes, 0, (uint64_t)(L->n - rows) * x->row_bytes);
  }
  if (b->submit) {
    if (b->submit(b, slot, L->inner, sizeof L->inner)) return backend_failed(L, bi, err, err_size);
    return 0;
  }
  double c0 = now();
  if (b->run(b, L->inner, sizeof L->inner)) return backend_failed(L, bi, err, err_size);
  L->sync_seconds = now() - c0;
  return 0;
}

/* Wait for batch bi and append its rows to the outputs. */
static int retire(batch_loop *L, int64_t bi, char *err, size_t err_size) {
  const rt_plan *p = L->p;
  rt_backend *b = L->b;
  int slot = (int)(bi % rt_backend_slots(b));
  double dt = L->sync_seconds, ms = 0;
  if (b->submit) {
    if (b->wait(b, slot, &ms, L->inner, sizeof L->inner)) return backend_failed(L, bi, err, err_size);
    dt = ms * 1e-3;
  }
  L->compute += dt;
  L->hist[hist_bucket(dt * 1e3)]++;
  int64_t rows = batch_rows(L, bi);
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    run_output *o = &L->out[i];
    const uint8_t *src = rt_backend_output(b, slot, i);
    uint64_t bytes = o->batched ? (uint64_t)rows * o->row_bytes : o->t->bytes;
    if (rt_npy_writer_write(&o->w, src, bytes, L->inner, sizeof L->inner))
      return fail(err, err_size, RT_EXIT_IO, "%s", L->inner);
  }
  if (L->progress && (bi % 8 == 7 || bi + 1 == L->batches)) {
    double el = now() - L->t0;
    fprintf(stderr, "\rbatch %lld/%lld  %.0f samples/s   ", (long long)bi + 1, (long long)L->batches,
            el > 0 ? (double)(bi * L->n + rows) / el : 0.0);
    fflush(stderr);
  }
  return 0;
}

int rt_run(const rt_plan *p, rt_backend *b, const rt_run_options *opt, rt_run_stats *stats,
           char *err, size_t err_size) {
  memset(stats, 0, sizeof *stats);
  int code = RT_EXIT_OK;
  int64_t n = p->batch_dim >= 0 ? p->dims[p->batch_dim].value : 1, m = -1;
  const char *m_from = NULL;
  run_input *in = calloc((size_t)p->n_inputs + 1, sizeof *in);
  run_output *out = calloc((size_t)p->n_outputs + 1, sizeof *out);
  char path[MAX_PATH], s1[160], s2[160], inner[512];
  if (!in || !out) {
    code = fail(err, err_size, RT_EXIT_RESOURCE, "out of memory");
    goto done;
  }
  struct stat st;
  if (stat(opt->data_dir, &st) != 0)
    { code = fail(err, err_size, RT_EXIT_DATA, "data directory %s: %s", opt->data_dir, strerror(errno)); goto done; }
  if (!S_ISDIR(st.st_mode))
    { code = fail(err, err_size, RT_EXIT_DATA, "data directory %s is not a directory", opt->data_dir); goto done; }

  /* --- inputs --- */
  for (uint32_t i = 0; i < p->n_inputs; i++) {
    run_input *x = &in[i];
    x->t = &p->tensors[p->inputs[i]];
    x->batched = (x->t->flags & RT_TF_BATCHED) != 0;
    char file[300];
    if (rt_npy_filename(x->t->name, file, sizeof file))
      { code = fail(err, err_size, RT_EXIT_DATA, "input '%s' has no valid file name", x->t->name); goto done; }
    if (snprintf(path, sizeof path, "%s/%s", opt->data_dir, file) >= (int)sizeof path)
      { code = fail(err, err_size, RT_EXIT_DATA, "path too long: %s/%s", opt->data_dir, file); goto done; }
    if (access(path, F_OK) != 0)
      { code = fail(err, err_size, RT_EXIT_DATA, "%s: missing: the model's input '%s' needs it (%s %s)",
                    path, x->t->name, rt_dtype_name(x->t->dtype),
                    shape_str(s1, sizeof s1, x->t->rank, x->t->dims, x->batched)); goto done; }
    if (rt_npy_open(path, &x->r, inner, sizeof inner))
      { code = fail(err, err_size, RT_EXIT_DATA, "%s", inner); goto done; }
    x->open = 1;
    const rt_npy_info *h = &x->r.info;
    if ((int)h->dtype != x->t->dtype)
      { code = fail(err, err_size, RT_EXIT_DATA, "%s holds %s but input '%s' is %s", path, h->descr,
                    x->t->name, rt_dtype_name(x->t->dtype)); goto done; }
    int ok = h->rank == x->t->rank;
    for (int d = x->batched; ok && d < h->rank; d++) ok = h->dims[d] == x->t->dims[d];
    if (!ok)
      { code = fail(err, err_size, RT_EXIT_DATA, "%s has shape %s but input '%s' needs %s%s", path,
                    shape_str(s1, sizeof s1, h->rank, h->dims, 0), x->t->name,
                    shape_str(s2, sizeof s2, x->t->rank, x->t->dims, x->batched),
                    x->batched ? " with M samples" : ""); goto done; }
    if (x->batched) {
      if (m >= 0 && h->dims[0] != m)
        { code = fail(err, err_size, RT_EXIT_DATA, "inputs hold different numbers of samples: %s has %lld, "
                      "%s has %lld", m_from, (long long)m, path, (long long)h->dims[0]); goto done; }
      if (m < 0) {
        m = h->dims[0];
        m_from = strdup(path);
      }
      x->row_bytes = x->t->bytes / (uint64_t)x->t->dims[0];
    } else {
      x->host = malloc(x->t->bytes ? x->t->bytes : 1);
      if (!x->host) { code = fail(err, err_size, RT_EXIT_RESOURCE, "out of memory for input '%s'", x->t->name); goto done; }
      if (rt_npy_read_rows(&x->r, 0, x->r.n_rows, x->host, inner, sizeof inner))
        { code = fail(err, err_size, RT_EXIT_IO, "%s", inner); goto done; }
    }
  }
  free((void *)m_from);
  m_from = NULL;
  int any_batched = m >= 0;
  int64_t batches = any_batched ? (m + n - 1) / n : 1;
  stats->samples = any_batched ? m : 1;
  stats->batch_size = n;
  stats->batches = batches;

  /* --- outputs --- */
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    run_output *o = &out[i];
    o->t = &p->tensors[p->outputs[i]];
    o->batched = any_batched && (o->t->flags & RT_TF_BATCHED);
    if (rt_npy_filename(o->t->name, o->file, sizeof o->file))
      { code = fail(err, err_size, RT_EXIT_DATA, "output '%s' has no valid file name", o->t->name); goto done; }
    for (uint32_t j = 0; j < i; j++)
      if (!strcmp(out[j].file, o->file))
        { code = fail(err, err_size, RT_EXIT_DATA, "outputs '%s' and '%s' would both be written to %s",
                      out[j].t->name, o->t->name, o->file); goto done; }
    if (any_batched && !o->batched && m != n)
      { code = fail(err, err_size, RT_EXIT_DATA,
                    "output '%s' does not have the batch dimension first, so it cannot be streamed: "
                    "the data holds %lld samples and the plan's batch is %lld; give exactly %lld "
                    "samples or recompile with --dim %s=%lld", o->t->name, (long long)m, (long long)n,
                    (long long)n, p->dims[p->batch_dim].name, (long long)m); goto done; }
    if (o->batched) o->row_bytes = o->t->bytes / (uint64_t)o->t->dims[0];
  }
  int e = make_dirs(opt->out_dir);
  if (e) { code = fail(err, err_size, RT_EXIT_IO, "output directory %s: %s", opt->out_dir, strerror(e)); goto done; }
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    run_output *o = &out[i];
    int64_t dims[RT_MAX_RANK];
    memcpy(dims, o->t->dims, sizeof dims);
    if (o->batched) dims[0] = m;
    if (rt_npy_writer_open(&o->w, opt->out_dir, o->file, (rt_dtype)o->t->dtype, o->t->rank, dims, inner, sizeof inner))
      { code = fail(err, err_size, RT_EXIT_IO, "%s", inner); goto done; }
    o->open = 1;
  }

  /* --- the loop: batch bi is read into slot bi % slots and submitted; its
   * outputs are written once the slot comes round again (or at the end), so
   * an asynchronous backend computes one batch while the next is read. --- */
  int slots = rt_backend_slots(b);
  batch_loop L = {p, b, in, out, n, m, any_batched, batches, {0}, 0, now(), 0, {0}, opt->progress};
  for (int64_t bi = 0; bi < batches; bi++) {
    if (opt->stop && *opt->stop)
      { code = fail(err, err_size, RT_EXIT_INTERRUPTED, "interrupted after %lld of %lld batches; no "
                    "output was written", (long long)bi, (long long)batches); goto done; }
    if (bi >= slots && (code = retire(&L, bi - slots, err, err_size))) goto done;
    if ((code = submit(&L, bi, err, err_size))) goto done;
  }
  for (int64_t bi = batches > slots ? batches - slots : 0; bi < batches; bi++)
    if ((code = retire(&L, bi, err, err_size))) goto done;
  if (batches == 0 && p->n_outputs)
    for (uint32_t i = 0; i < p->n_outputs; i++)
      if (!out[i].batched)
        { code = fail(err, err_size, RT_EXIT_DATA, "the data holds no samples, so output '%s' cannot be "
                      "computed", out[i].t->name); goto done; }
  if (opt->progress && batches) fprintf(stderr, "\n");
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    if (rt_npy_writer_commit(&out[i].w, inner, sizeof inner))
      { code = fail(err, err_size, RT_EXIT_IO, "%s", inner); goto done; }
    out[i].open = 0;
  }
  stats->seconds = now() - L.t0;
  stats->compute_seconds = L.compute;
  percentiles(L.hist, batches, stats->latency_ms);

done:
  free((void *)m_from);
  for (uint32_t i = 0; in && i < p->n_inputs; i++) {
    if (in[i].open) rt_npy_close(&in[i].r);
    free(in[i].host);
  }
  for (uint32_t i = 0; out && i < p->n_outputs; i++)
    if (out[i].open) rt_npy_writer_abort(&out[i].w);
  free(in);
  free(out);
  return code;
}
