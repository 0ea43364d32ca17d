/*
 * csv.c: reading and writing the buffer-list CSV (see csv.h for the rules).
 *
 * The reader takes one line at a time into a fixed buffer (so a line over
 * the limit is an error, not an allocation), splits it on commas, and checks
 * each field before it is used. Duplicate ids are found with an
 * open-addressing hash table. The writer goes through a temporary file and
 * rename(), so a reader of the output never sees half a solution.
 */
#include "csv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_internal.h"

static const char *const HEADER4 = "id,lower,upper,size";
static const char *const HEADER5 = "id,lower,upper,size,offset";

void plan_csv_free(plan_csv *c) {
  if (c->ids)
    for (size_t i = 0; i < c->n; i++) free(c->ids[i]);
  free(c->ids);
  free(c->bufs);
  memset(c, 0, sizeof *c);
}

/* Reads one line without its end ("\n" or "\r\n") into buf (PLAN_CSV_MAX_LINE
 * + 1 bytes). Returns its length, -1 at end of file, -2 when too long, -3 on
 * a NUL byte, -4 on a read error. */
static long read_line(FILE *f, char *buf) {
  size_t k = 0;
  int ch, any = 0;
  while ((ch = getc(f)) != EOF) {
    any = 1;
    if (ch == '\n') break;
    if (ch == '\0') return -3;
    if (k == PLAN_CSV_MAX_LINE) return -2;
    buf[k++] = (char)ch;
  }
  if (ferror(f)) return -4;
  if (!any) return -1;
  if (k > 0 && buf[k - 1] == '\r') k--;
  buf[k] = '\0';
  return (long)k;
}

/* Parses a plain decimal integer (digits only) no larger than max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out) {
  if (!*s) return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    unsigned d = (unsigned)(*s - '0');
    if (v > (max - d) / 10) return -2;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

typedef struct id_slot {
  size_t row; /* index + 1; 0: empty */
  long line;
} id_slot;

typedef struct reader {
  const char *name;
  char *err;
  size_t err_size;
  plan_csv *c;
  size_t cap;
  id_slot *tab;
  size_t tab_cap;
} reader;

static int grow_tab(reader *r) {
  size_t cap = r->tab_cap ? 2 * r->tab_cap : 1024;
  id_slot *t = calloc(cap, sizeof *t);
  if (!t) return -1;
  for (size_t i = 0; i < r->tab_cap; i++) {
    if (!r->tab[i].row) continue;
    size_t h = hash_str(r->c->ids[r->tab[i].row - 1]) & (cap - 1);
    while (t[h].row) h = (h + 1) & (cap - 1);
    t[h] = r->tab[i];
  }
  free(r->tab);
  r->tab = t;
  r->tab_cap = cap;
  return 0;
}

/* Adds row k's id; returns the line of an earlier row with the same id, 0
 * when new, -1 when out of memory. */
static long add_id(reader *r, size_t k, long line) {
  if (2 * (k + 1) > r->tab_cap && grow_tab(r)) return -1;
  const char *id = r->c->ids[k];
  size_t h = hash_str(id) & (r->tab_cap - 1);
  while (r->tab[h].row) {
    if (!strcmp(r->c->ids[r->tab[h].row - 1], id)) return r->tab[h].line;
    h = (h + 1) & (r->tab_cap - 1);
  }
  r->tab[h].row = k + 1;
  r->tab[h].line = line;
  return 0;
}

static int field_int(reader *r, long line, const char *what, const char *s, uint64_t max,
                     uint64_t *out) {
  int e = parse_u64(s, max, out);
  if (e == -1)
    plan_errf(r->err, r->err_size, "%s:%ld: %s '%.64s' is not a non-negative integer", r->name,
              line, what, s);
  else if (e == -2)
    plan_errf(r->err, r->err_size, "%s:%ld: %s %.64s is too large (at most %" PRIu64 ")", r->name,
              line, what, s, max);
  return e ? -1 : 0;
}

static int parse_row(reader *r, char *s, long line, int nf_want) {
  int nf = 1;
  for (const char *q = s; *q; q++) nf += *q == ',';
  if (nf != nf_want) {
    plan_errf(r->err, r->err_size, "%s:%ld: expected %d fields (%s), found %d", r->name, line,
              nf_want, nf_want == 4 ? HEADER4 : HEADER5, nf);
    return -1;
  }
  char *f[5];
  f[0] = s;
  for (int k = 1; k < nf; k++) {
    char *q = strchr(f[k - 1], ',');
    *q = '\0';
    f[k] = q + 1;
  }
  if (!*f[0]) {
    plan_errf(r->err, r->err_size, "%s:%ld: empty id", r->name, line);
    return -1;
  }
  if (strchr(f[0], '"')) {
    plan_errf(r->err, r->err_size,
              "%s:%ld: id %.64s contains a quote (quoted fields are not supported)", r->name, line,
              f[0]);
    return -1;
  }
  uint64_t lower, upper, size, offset = 0;
  if (field_int(r, line, "lower", f[1], INT64_MAX, &lower) ||
      field_int(r, line, "upper", f[2], INT64_MAX, &upper) ||
      field_int(r, line, "size", f[3], UINT64_MAX, &size) ||
      (nf == 5 && field_int(r, line, "offset", f[4], UINT64_MAX, &offset)))
    return -1;
  if (lower >= upper) {
    plan_errf(r->err, r->err_size,
              "%s:%ld: buffer %.64s: lower %" PRIu64 " is not below upper %" PRIu64, r->name, line,
              f[0], lower, upper);
    return -1;
  }
  plan_csv *c = r->c;
  if (c->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 256;
    char **ids = realloc(c->ids, cap * sizeof *ids);
    if (!ids) goto oom;
    c->ids = ids;
    plan_buf *b = realloc(c->bufs, cap * sizeof *b);
    if (!b) goto oom;
    c->bufs = b;
    r->cap = cap;
  }
  c->ids[c->n] = strdup(f[0]);
  if (!c->ids[c->n]) goto oom;
  c->bufs[c->n] = (plan_buf){size, (int64_t)lower, (int64_t)upper, offset};
  c->n++;
  long first = add_id(r, c->n - 1, line);
  if (first < 0) goto oom;
  if (first > 0) {
    plan_errf(r->err, r->err_size, "%s:%ld: duplicate id %.64s (first on line %ld)", r->name, line,
              f[0], first);
    return -1;
  }
  return 0;
oom:
  plan_errf(r->err, r->err_size, "%s:%ld: out of memory", r->name, line);
  return -1;
}

int plan_csv_read_file(FILE *f, const char *name, plan_csv *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  reader r = {name, err, err_size, out, 0, NULL, 0};
  char *buf = malloc(PLAN_CSV_MAX_LINE + 1);
  if (!buf) {
    plan_errf(err, err_size, "%s: out of memory", name);
    return -1;
  }
  int nf = 0, rc = -1;
  long line = 0, blank = 0;
  for (;;) {
    long len = read_line(f, buf);
    if (len == -1) break;
    line++;
    if (len == -2) {
      plan_errf(err, err_size, "%s:%ld: line longer than %d bytes", name, line, PLAN_CSV_MAX_LINE);
      goto done;
    }
    if (len == -3) {
      plan_errf(err, err_size, "%s:%ld: NUL byte in the line", name, line);
      goto done;
    }
    if (len == -4) {
      plan_errf(err, err_size, "%s:%ld: read error: %s", name, line, strerror(errno));
      goto done;
    }
    if (line == 1) {
      char *h = buf;
      if ((unsigned char)h[0] == 0xEF && (unsigned char)h[1] == 0xBB && (unsigned char)h[2] == 0xBF)
        h += 3; /* UTF-8 byte-order mark */
      if (!strcmp(h, HEADER4))
        nf = 4;
      else if (!strcmp(h, HEADER5))
        nf = 5;
      else {
        plan_errf(err, err_size, "%s:1: expected the header '%s' (or '%s'), found '%.64s'", name,
                  HEADER4, HEADER5, h);
        goto done;
      }
      continue;
    }
    if (len == 0) {
      if (!blank) blank = line;
      continue;
    }
    if (blank) {
      plan_errf(err, err_size, "%s:%ld: blank line inside the data", name, blank);
      goto done;
    }
    if (parse_row(&r, buf, line, nf)) goto done;
  }
  if (line == 0) {
    plan_errf(err, err_size, "%s: empty file (expected the header '%s')", name, HEADER4);
    goto done;
  }
  out->has_offset = nf == 5;
  rc = 0;
done:
  free(buf);
  free(r.tab);
  if (rc) plan_csv_free(out);
  return rc;
}

int plan_csv_read(const char *path, plan_csv *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) {
    plan_errf(err, err_size, "%s: %s", path, strerror(errno));
    return -1;
  }
  int rc = plan_csv_read_file(f, path, out, err, err_size);
  fclose(f);
  return rc;
}

int plan_csv_print(FILE *f, const plan_csv *c) {
  if (fprintf(f, "%s\n", HEADER5) < 0) return -1;
  for (size_t i = 0; i < c->n; i++) {
    const plan_buf *b = &c->bufs[i];
    if (fprintf(f, "%s,%" PRId64 ",%" PRId64 ",%" PRIu64 ",%" PRIu64 "\n", c->ids[i], b->begin,
                b->end, b->size, b->offset) < 0)
      return -1;
  }
  return 0;
}

int plan_csv_write(const char *path, const plan_csv *c, char *err, size_t err_size) {
  size_t len = strlen(path);
  char *tmp = malloc(len + 16);
  if (!tmp) {
    plan_errf(err, err_size, "%s: out of memory", path);
    return -1;
  }
  snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    plan_errf(err, err_size, "%s: cannot create a temporary file: %s", path, strerror(errno));
    free(tmp);
    return -1;
  }
  /* mkstemp creates the file 0600; a solution is an ordinary file */
  FILE *f = fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL;
  int ok = f != NULL;
  if (!f) close(fd);
  ok = ok && plan_csv_print(f, c) == 0;
  ok = ok && fflush(f) == 0;
  ok = ok && fsync(fileno(f)) == 0;
  int saved = errno;
  if (f && fclose(f) != 0 && ok) {
    ok = 0;
    saved = errno;
  }
  if (ok && rename(tmp, path) != 0) {
    ok = 0;
    saved = errno;
  }
  if (!ok) {
    unlink(tmp);
    plan_errf(err, err_size, "%s: cannot write: %s", path, strerror(saved));
  }
  free(tmp);
  return ok ? 0 : -1;
}
