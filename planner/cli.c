/*
 * cli.c: plan_buffers_main(), `dlc plan-buffers` (see cli.h).
 *
 * Every result is checked by the independent verifier before anything is
 * written, and every file goes through a temporary file in its directory
 * that is renamed over the target, so an error never leaves half a file.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv.h"
#include "planner.h"
#include "svg.h"
#include "verify.h"

static const char *const USAGE =
    "usage: dlc plan-buffers IN.csv [-o OUT.csv] [--alignment N] [--time-limit S] [--greedy]\n"
    "                        [--svg FILE]\n"
    "  IN.csv          buffers: header id,lower,upper,size; alive over [lower, upper)\n"
    "  -o OUT.csv      write the solution: the same rows plus a column offset\n"
    "  --alignment N   offsets are multiples of N, a power of two (default 1)\n"
    "  --time-limit S  seconds for the search beyond the heuristics (default 0: no limit\n"
    "                  beyond the planner's own work budget)\n"
    "  --greedy        greedy by size with best fit (the published baseline) instead\n"
    "  --svg FILE      draw the placement: steps across, offsets up\n";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("dlc plan-buffers: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

static int write_svg(const char *path, const plan_csv *c, const char *title, uint64_t peak,
                     uint64_t lb, char *err, size_t err_size) {
  plan_svg_rect *r = malloc((c->n ? c->n : 1) * sizeof *r);
  size_t len = strlen(path);
  char *tmp = malloc(len + 16);
  if (!r || !tmp) {
    free(r);
    free(tmp);
    snprintf(err, err_size, "%s: out of memory", path);
    return -1;
  }
  for (size_t i = 0; i < c->n; i++)
    r[i] = (plan_svg_rect){c->ids[i],        c->bufs[i].offset,  c->bufs[i].size,
                           c->bufs[i].begin, c->bufs[i].end - 1, PLAN_SVG_ACTIVATION};
  snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp), ok = fd >= 0, saved = errno;
  FILE *f = ok && fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL; /* not mkstemp's 0600 */
  if (ok && !f) {
    saved = errno;
    close(fd);
    ok = 0;
  }
  plan_svg_info info = {title, peak, lb};
  if (ok && (plan_svg_write(f, r, c->n, &info) || fflush(f) || fsync(fileno(f)))) {
    saved = errno;
    ok = 0;
  }
  if (f && fclose(f) && ok) {
    saved = errno;
    ok = 0;
  }
  if (ok && rename(tmp, path)) {
    saved = errno;
    ok = 0;
  }
  if (!ok) {
    if (fd >= 0) unlink(tmp);
    snprintf(err, err_size, "%s: cannot write: %s", path, strerror(saved));
  }
  free(r);
  free(tmp);
  return ok ? 0 : -1;
}

/* A power of two in [1, 2^32]. */
static int parse_alignment(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v == 0 || (v & (v - 1)) || v > (1ULL << 32))
    return -1;
  *out = v;
  return 0;
}

int plan_buffers_main(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *svg = NULL;
  uint64_t alignment = 1;
  double limit = 0;
  int greedy = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_next = i + 1 < argc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(USAGE, stdout);
      return 0;
    } else if (!strcmp(a, "-o") && has_next) {
      out = argv[++i];
    } else if (!strcmp(a, "--svg") && has_next) {
      svg = argv[++i];
    } else if (!strcmp(a, "--alignment") && has_next) {
      if (parse_alignment(argv[++i], &alignment))
        return fail("--alignment %s: expected a power of two from 1 to 2^32", argv[i]);
    } else if (!strcmp(a, "--time-limit") && has_next) {
      char *end;
      limit = strtod(argv[++i], &end);
      if (end == argv[i] || *end || !(limit >= 0) || limit > 86400)
        return fail("--time-limit %s: expected seconds from 0 to 86400", argv[i]);
    } else if (!strcmp(a, "--greedy")) {
      greedy = 1;
    } else if (a[0] == '-' && a[1]) {
      fputs(USAGE, stderr);
      return fail("unknown option or missing value: %s", a);
    } else if (!in) {
      in = a;
    } else {
      fputs(USAGE, stderr);
      return fail("more than one input file: %s and %s", in, a);
    }
  }
  if (!in) {
    fputs(USAGE, stderr);
    return fail("no input file");
  }

  char err[1024];
  plan_csv c;
  if (plan_csv_read(in, &c, err, sizeof err)) return fail("%s", err);
  plan_opts opts = {alignment, limit, 0};
  plan_result res;
  int rc = greedy ? plan_place_greedy_size(c.bufs, c.n, &opts, &res, err, sizeof err)
                  : plan_place(c.bufs, c.n, &opts, &res, err, sizeof err);
  if (rc) {
    plan_csv_free(&c);
    return fail("%s: %s", in, err);
  }
  /* the verifier's steps are inclusive, the CSV's [lower, upper) half-open */
  plan_vtensor *vt = malloc((c.n ? c.n : 1) * sizeof *vt);
  if (!vt) {
    plan_csv_free(&c);
    return fail("%s: out of memory", in);
  }
  for (size_t i = 0; i < c.n; i++)
    vt[i] = (plan_vtensor){c.ids[i],        c.bufs[i].offset,  c.bufs[i].size,
                           c.bufs[i].begin, c.bufs[i].end - 1, -1,
                           PLAN_ALIAS_NONE};
  rc = plan_verify(vt, c.n, NULL, 0, res.peak, alignment, err, sizeof err);
  free(vt);
  if (rc) {
    plan_csv_free(&c);
    return fail("internal error: the placement fails verification: %s", err);
  }
  if (out && plan_csv_write(out, &c, err, sizeof err)) {
    plan_csv_free(&c);
    return fail("%s", err);
  }
  if (svg && write_svg(svg, &c, in, res.peak, res.lower_bound, err, sizeof err)) {
    plan_csv_free(&c);
    return fail("%s", err);
  }
  char b1[32], b2[32];
  double gap = res.lower_bound
                   ? 100.0 * (double)(res.peak - res.lower_bound) / (double)res.lower_bound
                   : 0.0;
  printf("%s: %zu buffers, alignment %" PRIu64 "\n", in, c.n, alignment);
  printf("peak         %" PRIu64 " B (%s)\n", res.peak, plan_svg_bytes(res.peak, b1, sizeof b1));
  printf("lower bound  %" PRIu64 " B (%s)\n", res.lower_bound,
         plan_svg_bytes(res.lower_bound, b2, sizeof b2));
  printf("gap          %.2f%%\n", gap);
  printf("method       %s%s\n", res.method, res.optimal ? " (optimal)" : "");
  printf("time         %.3f s\n", res.seconds);
  if (out) printf("wrote        %s\n", out);
  if (svg) printf("wrote        %s\n", svg);
  plan_csv_free(&c);
  return fflush(stdout) ? 1 : 0;
}
