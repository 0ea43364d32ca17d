/*
 * npy.c: the .npy header parser, the streaming row reader and the
 * all-or-nothing writer declared in npy.h.
 *
 * The header is a Python dict literal. Rather than a general Python parser we
 * accept exactly what numpy (and the usual C writers) emit: string keys
 * 'descr', 'fortran_order' and 'shape' once each in any order, a descr that
 * is a string (or, to name it in the error, a list of tuples), True/False,
 * and a tuple of decimal ints. Anything else is a clear error.
 */
#define _FILE_OFFSET_BITS 64 /* off_t and pread cover files beyond 2 GiB */

#include "npy.h"
#include "rfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ---- header dict parsing ---- */

typedef struct {
  const unsigned char *s;
  size_t n, pos;
  size_t base;  /* file offset of s[0], for messages */
  int allow_L;  /* Python 2 wrote 3L for long ints in 1.0/2.0 headers */
  char *err;
  size_t err_size;
} npy_lex;

static int lex_fail(npy_lex *lx, const char *what) {
  return rt_fail(lx->err, lx->err_size, "invalid .npy header at offset %zu: %s",
              lx->base + lx->pos, what);
}

static void lex_ws(npy_lex *lx) {
  while (lx->pos < lx->n) {
    unsigned char c = lx->s[lx->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    lx->pos++;
  }
}

static int lex_peek(npy_lex *lx) { return lx->pos < lx->n ? lx->s[lx->pos] : -1; }

/* A quoted Python string; its raw contents are s[*start, *start + *len). */
static int lex_string(npy_lex *lx, size_t *start, size_t *len) {
  int q = lex_peek(lx);
  if (q != '\'' && q != '"') return lex_fail(lx, "expected a quoted string");
  size_t p = lx->pos + 1;
  while (p < lx->n && lx->s[p] != q) {
    if (lx->s[p] == '\n' || lx->s[p] == '\0') break;
    if (lx->s[p] == '\\') p++; /* the escaped byte never ends the string */
    p++;
  }
  if (p >= lx->n || lx->s[p] != q) return lex_fail(lx, "unterminated string");
  *start = lx->pos + 1;
  *len = p - *start;
  lx->pos = p + 1;
  return 0;
}

/* A decimal int, optionally negative. *neg tells the sign; the magnitude must
 * fit int64. */
static int lex_int(npy_lex *lx, int64_t *mag, int *neg) {
  *neg = 0;
  if (lex_peek(lx) == '-') {
    *neg = 1;
    lx->pos++;
  }
  size_t start = lx->pos;
  uint64_t v = 0;
  while (lx->pos < lx->n && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') {
    unsigned d = lx->s[lx->pos] - '0';
    if (v > ((uint64_t)INT64_MAX - d) / 10) return lex_fail(lx, "integer too large");
    v = v * 10 + d;
    lx->pos++;
  }
  if (lx->pos == start) return lex_fail(lx, "expected an integer");
  if (lx->s[start] == '0' && lx->pos - start > 1)
    return lex_fail(lx, "integer with a leading zero");
  if (lx->allow_L && lex_peek(lx) == 'L') lx->pos++;
  *mag = (int64_t)v;
  return 0;
}

static int lex_name(npy_lex *lx, const char *name) {
  size_t k = strlen(name);
  if (lx->n - lx->pos < k || memcmp(lx->s + lx->pos, name, k) != 0) return 0;
  size_t e = lx->pos + k;
  if (e < lx->n) {
    unsigned char c = lx->s[e];
    if (c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
      return 0;
  }
  lx->pos = e;
  return 1;
}

/* Skip any value a structured descr can hold: strings, ints, names, tuples
 * and lists. Only used so that the error can name the descr. */
static int lex_skip_value(npy_lex *lx, int depth) {
  if (depth > 16) return lex_fail(lx, "value nested too deeply");
  int c = lex_peek(lx);
  if (c == '\'' || c == '"') {
    size_t a, b;
    return lex_string(lx, &a, &b);
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    int64_t m;
    int neg;
    return lex_int(lx, &m, &neg);
  }
  if (c == '(' || c == '[') {
    int close = c == '(' ? ')' : ']';
    lx->pos++;
    lex_ws(lx);
    while (lex_peek(lx) != close) {
      if (lex_skip_value(lx, depth + 1)) return -1;
      lex_ws(lx);
      if (lex_peek(lx) == ',') {
        lx->pos++;
        lex_ws(lx);
      } else if (lex_peek(lx) != close) {
        return lex_fail(lx, "expected ',' or a closing bracket");
      }
    }
    lx->pos++;
    return 0;
  }
  if (lex_name(lx, "True") || lex_name(lx, "False") || lex_name(lx, "None")) return 0;
  return lex_fail(lx, "expected a value");
}

/* The shape: "()", "(3,)", "(2, 3)", "(2, 3,)". */
static int lex_shape(npy_lex *lx, rt_npy_info *out) {
  if (lex_peek(lx) != '(') return lex_fail(lx, "'shape' must be a tuple of ints");
  lx->pos++;
  lex_ws(lx);
  int rank = 0, commas = 0;
  while (lex_peek(lx) != ')') {
    int64_t mag;
    int neg;
    size_t at = lx->pos;
    if (lex_int(lx, &mag, &neg)) return -1;
    if (neg && mag != 0) {
      lx->pos = at;
      return rt_fail(lx->err, lx->err_size,
                  "invalid .npy header at offset %zu: negative dimension -%lld in 'shape'",
                  lx->base + at, (long long)mag);
    }
    if (rank == RT_MAX_RANK)
      return rt_fail(lx->err, lx->err_size, "array has more than %d dimensions", RT_MAX_RANK);
    out->dims[rank++] = mag;
    lex_ws(lx);
    if (lex_peek(lx) == ',') {
      commas++;
      lx->pos++;
      lex_ws(lx);
    } else if (lex_peek(lx) != ')') {
      return lex_fail(lx, "expected ',' or ')' in 'shape'");
    }
  }
  /* (3) is an int in Python, not a tuple */
  if (rank == 1 && commas == 0) return lex_fail(lx, "'shape' must be a tuple: write (N,)");
  lx->pos++;
  out->rank = rank;
  return 0;
}

/* ---- descr ---- */

/* Printable form of a descr for messages: quoted text plus a type name when
 * it is a typestr we can name. Non-printable bytes become '?'. */
static void describe_descr(const unsigned char *d, size_t len, int is_string, char *out,
                           size_t size) {
  char text[64];
  size_t k = 0;
  for (size_t i = 0; i < len && k + 4 < sizeof text; i++)
    text[k++] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '?';
  int cut = k < len;
  text[k] = 0;
  if (!is_string) {
    snprintf(out, size, "%s%s (structured)", text, cut ? "..." : "");
    return;
  }
  const char *name = NULL;
  char buf[32];
  size_t p = 0;
  if (len > 0 && d[0] && strchr("<>|=", d[0])) p = 1;
  if (p < len) {
    char kind = (char)d[p];
    unsigned long sz = 0;
    size_t q = p + 1, digits = 0;
    while (q < len && d[q] >= '0' && d[q] <= '9' && digits < 6) {
      sz = sz * 10 + (d[q++] - '0');
      digits++;
    }
    int whole = q == len;
    if (whole && digits) {
      switch (kind) {
      case 'b': if (sz == 1) name = "bool"; break;
      case 'i': snprintf(buf, sizeof buf, "int%lu", sz * 8); name = buf; break;
      case 'u': snprintf(buf, sizeof buf, "uint%lu", sz * 8); name = buf; break;
      case 'f': snprintf(buf, sizeof buf, "float%lu", sz * 8); name = buf; break;
      case 'c': snprintf(buf, sizeof buf, "complex%lu", sz * 8); name = buf; break;
      case 'S': case 'a': name = "bytes"; break;
      case 'U': name = "str"; break;
      case 'V': name = (len == 3 && d[0] == '<' && sz == 2) ? "bfloat16" : "void"; break;
      case 'O': name = "object"; break;
      default: break;
      }
    } else if (kind == 'O' && q == len) {
      name = "object";
    } else if (kind == 'M') {
      name = "datetime64";
    } else if (kind == 'm') {
      name = "timedelta64";
    }
  }
  if (name)
    snprintf(out, size, "'%s%s' (%s)", text, cut ? "..." : "", name);
  else
    snprintf(out, size, "'%s%s'", text, cut ? "..." : "");
}

/* Map a typestr to a dtype, or fail naming it. */
static int classify_descr(const unsigned char *d, size_t len, rt_npy_info *out, char *err,
                          size_t err_size) {
  static const struct {
    const char *s;
    rt_dtype dt;
  } ok[] = {{"<f4", RT_F32}, {"<f2", RT_F16}, {"<i8", RT_I64}, {"<V2", RT_BF16}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (len == 3 && memcmp(d, ok[i].s, 3) == 0) {
      out->dtype = ok[i].dt;
      return 0;
    }
  if (len >= 2 && d[0] == '>') {
    /* name the little-endian spelling the user should save instead */
    char le[32];
    size_t k = len - 1 < sizeof le - 1 ? len - 1 : sizeof le - 1;
    for (size_t i = 0; i < k; i++) {
      unsigned char c = d[1 + i];
      le[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    le[k] = 0;
    return rt_fail(err, err_size,
                "big-endian dtype %s is not supported: save little-endian data, e.g. "
                "a.astype('<%s')",
                out->descr, le);
  }
  if (len >= 2 && d[0] == '|') {
    size_t q = 2;
    unsigned long sz = 0;
    while (q < len && q < 8 && d[q] >= '0' && d[q] <= '9') sz = sz * 10 + (d[q++] - '0');
    if (q == len && sz > 1)
      return rt_fail(err, err_size, "dtype %s: '|' (no byte order) is only valid for 1-byte types",
                  out->descr);
  }
  return rt_fail(err, err_size,
              "unsupported dtype %s: dlc reads float32 ('<f4'), float16 ('<f2'), "
              "bfloat16 ('<V2' as written for ml_dtypes.bfloat16) and int64 ('<i8')",
              out->descr);
}

/* ---- header ---- */

int rt_npy_parse_header(const void *buf, size_t len, rt_npy_info *out, char *err,
                        size_t err_size) {
  const unsigned char *b = buf;
  memset(out, 0, sizeof *out);
  size_t m = len < 6 ? len : 6;
  if (m && memcmp(b, npy_magic, m) != 0)
    return rt_fail(err, err_size, "not a .npy file (the magic string \\x93NUMPY is missing)");
  if (len < 10) return rt_fail(err, err_size, "truncated .npy header: only %zu bytes", len);
  int major = b[6], minor = b[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    return rt_fail(err, err_size, "unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are read)",
                major, minor);
  size_t prefix = major == 1 ? 10 : 12;
  if (len < prefix) return rt_fail(err, err_size, "truncated .npy header: only %zu bytes", len);
  uint32_t hlen = major == 1 ? (uint32_t)b[8] | (uint32_t)b[9] << 8
                             : (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 |
                                   (uint32_t)b[11] << 24;
  if (hlen > RT_NPY_MAX_HEADER)
    return rt_fail(err, err_size, ".npy header length %u exceeds the limit of %d bytes", hlen,
                RT_NPY_MAX_HEADER);
  if (len - prefix < hlen)
    return rt_fail(err, err_size, "truncated .npy header: it needs %zu bytes, only %zu available",
                prefix + hlen, len);
  out->version_major = major;
  out->version_minor = minor;
  out->data_offset = prefix + hlen;

  npy_lex lx = {b + prefix, hlen, 0, prefix, major < 3, err, err_size};
  for (size_t i = 0; i < hlen; i++)
    if (lx.s[i] == 0) {
      lx.pos = i;
      return lex_fail(&lx, "NUL byte in header");
    }
  lex_ws(&lx);
  if (lex_peek(&lx) != '{') return lex_fail(&lx, "expected '{' (a Python dict)");
  lx.pos++;
  int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0;
  size_t d_start = 0, d_len = 0;
  int d_is_string = 0;
  for (;;) {
    lex_ws(&lx);
    if (lex_peek(&lx) == '}') break;
    size_t k_start, k_len, k_at = lx.pos;
    if (lex_string(&lx, &k_start, &k_len)) return -1;
    const unsigned char *key = lx.s + k_start;
    int which = k_len == 5 && !memcmp(key, "descr", 5)           ? 0
                : k_len == 13 && !memcmp(key, "fortran_order", 13) ? 1
                : k_len == 5 && !memcmp(key, "shape", 5)           ? 2
                                                                  : -1;
    if (which < 0) {
      lx.pos = k_at;
      return lex_fail(&lx,
                      "unexpected key (only 'descr', 'fortran_order' and 'shape' are allowed)");
    }
    int *have = which == 0 ? &have_descr : which == 1 ? &have_fortran : &have_shape;
    if (*have) {
      lx.pos = k_at;
      return lex_fail(&lx, "duplicate key");
    }
    *have = 1;
    lex_ws(&lx);
    if (lex_peek(&lx) != ':') return lex_fail(&lx, "expected ':' after a key");
    lx.pos++;
    lex_ws(&lx);
    if (which == 0) {
      if (lex_peek(&lx) == '\'' || lex_peek(&lx) == '"') {
        if (lex_string(&lx, &d_start, &d_len)) return -1;
        d_is_string = 1;
      } else {
        d_start = lx.pos;
        if (lex_skip_value(&lx, 0)) return -1;
        d_len = lx.pos - d_start;
      }
    } else if (which == 1) {
      if (lex_name(&lx, "True"))
        fortran = 1;
      else if (!lex_name(&lx, "False"))
        return lex_fail(&lx, "'fortran_order' must be True or False");
    } else {
      if (lex_shape(&lx, out)) return -1;
    }
    lex_ws(&lx);
    if (lex_peek(&lx) == ',') {
      lx.pos++;
    } else if (lex_peek(&lx) != '}') {
      return lex_fail(&lx, "expected ',' or '}'");
    }
  }
  lx.pos++;
  lex_ws(&lx);
  if (lx.pos != lx.n) return lex_fail(&lx, "unexpected text after the dict");
  if (!have_descr || !have_fortran || !have_shape)
    return rt_fail(err, err_size, "invalid .npy header: the dict has no '%s' key",
                !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");

  describe_descr(lx.s + d_start, d_len, d_is_string, out->descr, sizeof out->descr);
  if (!d_is_string)
    return rt_fail(err, err_size, "unsupported dtype %s: structured arrays are not supported",
                out->descr);
  if (classify_descr(lx.s + d_start, d_len, out, err, err_size)) return -1;
  if (fortran)
    return rt_fail(err, err_size, "Fortran order not supported; save with np.ascontiguousarray");

  /* Bytes must fit int64 (off_t) even when a zero dimension would hide an
   * overflow of the others: row sizes are products of the trailing dims. */
  uint64_t bytes = rt_dtype_size(out->dtype), bound = bytes;
  for (int i = 0; i < out->rank; i++) {
    uint64_t d = (uint64_t)out->dims[i];
    uint64_t d1 = d ? d : 1;
    if (bound > (uint64_t)INT64_MAX / d1)
      return rt_fail(err, err_size, "shape too large: the array would exceed 2^63 bytes");
    bound *= d1;
    bytes *= d;
  }
  out->data_bytes = bytes;
  return 0;
}

/* ---- reader ---- */

int rt_npy_open(const char *path, rt_npy_reader *r, char *err, size_t err_size) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  int fd;
  uint64_t fsize;
  if (rt_open_regular(path, &fd, &fsize, err, err_size)) return -1;
  size_t want = 12 + RT_NPY_MAX_HEADER;
  if (fsize < want) want = (size_t)fsize;
  unsigned char *head = malloc(want ? want : 1);
  if (!head) {
    close(fd);
    return rt_fail(err, err_size, "%s: out of memory", path);
  }
  size_t got;
  if (rt_pread_full(fd, head, want, 0, &got) != 0) {
    int e = errno;
    free(head);
    close(fd);
    return rt_fail(err, err_size, "%s: read error: %s", path, strerror(e));
  }
  char msg[512];
  int rc = rt_npy_parse_header(head, got, &r->info, msg, sizeof msg);
  free(head);
  if (rc) {
    close(fd);
    return rt_fail(err, err_size, "%s: %s", path, msg);
  }
  uint64_t have = fsize - r->info.data_offset; /* the header fit, so no underflow */
  if (have < r->info.data_bytes) {
    close(fd);
    return rt_fail(err, err_size, "%s: truncated: header says %llu bytes of data, file has %llu", path,
                (unsigned long long)r->info.data_bytes, (unsigned long long)have);
  }
  if (have > r->info.data_bytes) {
    close(fd);
    return rt_fail(err, err_size,
                "%s: %llu unexpected bytes after the data (header says %llu bytes of data, "
                "file has %llu)",
                path, (unsigned long long)(have - r->info.data_bytes),
                (unsigned long long)r->info.data_bytes, (unsigned long long)have);
  }
  r->path = strdup(path);
  if (!r->path) {
    close(fd);
    return rt_fail(err, err_size, "%s: out of memory", path);
  }
  r->fd = fd;
  size_t es = rt_dtype_size(r->info.dtype);
  if (r->info.rank == 0) {
    r->n_rows = 1;
    r->row_bytes = es;
  } else {
    r->n_rows = r->info.dims[0];
    uint64_t rb = es; /* cannot overflow: checked with zero dims as one */
    for (int i = 1; i < r->info.rank; i++) rb *= (uint64_t)r->info.dims[i];
    r->row_bytes = rb;
  }
  return 0;
}

int rt_npy_read_rows(rt_npy_reader *r, int64_t first_row, int64_t n_rows, void *dst,
                     char *err, size_t err_size) {
  const char *path = r->path ? r->path : "(npy)";
  if (r->fd < 0) return rt_fail(err, err_size, "%s: not open", path);
  if (first_row < 0 || n_rows < 0)
    return rt_fail(err, err_size, "%s: invalid row range (first %lld, count %lld)", path,
                (long long)first_row, (long long)n_rows);
  if (first_row > r->n_rows || n_rows > r->n_rows - first_row)
    return rt_fail(err, err_size, "%s: rows [%lld, %llu) out of range (the file has %lld rows)", path,
                (long long)first_row, (unsigned long long)first_row + (unsigned long long)n_rows,
                (long long)r->n_rows);
  uint64_t bytes = (uint64_t)n_rows * r->row_bytes; /* <= data_bytes */
  if (bytes > SIZE_MAX) return rt_fail(err, err_size, "%s: read too large for this machine", path);
  uint64_t off = r->info.data_offset + (uint64_t)first_row * r->row_bytes;
  size_t got;
  if (rt_pread_full(r->fd, dst, (size_t)bytes, off, &got) != 0)
    return rt_fail(err, err_size, "%s: read error: %s", path, strerror(errno));
  if (got != bytes)
    return rt_fail(err, err_size, "%s: unexpected end of file (the file shrank after it was opened)",
                path);
  return 0;
}

void rt_npy_close(rt_npy_reader *r) {
  if (r->fd >= 0) close(r->fd);
  free(r->path);
  r->fd = -1;
  r->path = NULL;
}

/* ---- writer ---- */

static int valid_plain_name(const char *name) {
  return name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/');
}

/* Temporary "<dir>/.<name>.tmp.XXXXXX" created with O_EXCL. Unlike mkstemp
 * (always 0600) the mode is 0666 minus the umask, as np.save's files get. */
static int create_temp(rt_npy_writer *w, const char *dir, const char *filename) {
  size_t n = strlen(dir) + strlen(filename) + 16;
  w->tmp_path = malloc(n);
  if (!w->tmp_path) {
    errno = ENOMEM;
    return -1;
  }
  static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t s = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() << 32 ^
               (uint64_t)(uintptr_t)w;
  for (int attempt = 0; attempt < 100; attempt++) {
    char suffix[7];
    for (int i = 0; i < 6; i++) {
      s ^= s << 13;
      s ^= s >> 7;
      s ^= s << 17;
      suffix[i] = alnum[s % (sizeof alnum - 1)];
    }
    suffix[6] = 0;
    snprintf(w->tmp_path, n, "%s/.%s.tmp.%s", dir, filename, suffix);
    int fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    if (errno != EEXIST) return -1;
  }
  errno = EEXIST;
  return -1;
}

static void writer_free(rt_npy_writer *w) {
  free(w->tmp_path);
  free(w->final_path);
  free(w->dir);
  w->tmp_path = w->final_path = w->dir = NULL;
}

int rt_npy_writer_open(rt_npy_writer *w, const char *dir, const char *filename,
                       rt_dtype dtype, int rank, const int64_t *dims, char *err,
                       size_t err_size) {
  memset(w, 0, sizeof *w);
  if (!dir[0]) return rt_fail(err, err_size, "%s: empty output directory name", filename);
  if (!valid_plain_name(filename))
    return rt_fail(err, err_size, "%s/%s: not a valid output file name", dir, filename);
  static const char *const descr[RT_DTYPE_COUNT] = {
      [RT_F32] = "<f4", [RT_F16] = "<f2", [RT_BF16] = "<V2", [RT_I64] = "<i8"};
  if ((int)dtype < 0 || dtype >= RT_DTYPE_COUNT)
    return rt_fail(err, err_size, "%s/%s: invalid dtype %d", dir, filename, (int)dtype);
  if (rank < 0 || rank > RT_MAX_RANK)
    return rt_fail(err, err_size, "%s/%s: rank %d out of range", dir, filename, rank);
  uint64_t bytes = rt_dtype_size(dtype), bound = bytes;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < 0)
      return rt_fail(err, err_size, "%s/%s: negative dimension %lld", dir, filename,
                  (long long)dims[i]);
    uint64_t d1 = dims[i] ? (uint64_t)dims[i] : 1;
    if (bound > (uint64_t)INT64_MAX / d1)
      return rt_fail(err, err_size, "%s/%s: shape too large", dir, filename);
    bound *= d1;
    bytes *= (uint64_t)dims[i];
  }

  /* The header exactly as np.save writes it, so outputs are byte-identical
   * to numpy's: the dict, spare spaces for growing axis 0 in place (numpy
   * reserves 21 digits), then spaces and '\n' so the data starts on a 64-byte
   * boundary. With RT_MAX_RANK dims it is well under 512 bytes. */
  char dict[512];
  int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                   descr[dtype]);
  for (int i = 0; i < rank; i++)
    k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%lld", i ? ", " : "", (long long)dims[i]);
  k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }", rank == 1 ? "," : "");
  if (rank > 0) {
    int digits = snprintf(NULL, 0, "%lld", (long long)dims[0]);
    for (int i = digits; i < 21; i++) dict[k++] = ' ';
  }
  size_t body = (size_t)k + 1; /* + '\n' */
  int major = 1;
  size_t prefix = 10, pad = 64 - (prefix + body) % 64; /* numpy pads 64 when aligned */
  if (body + pad > 65535) { /* 1.0 stores the length in 16 bits */
    major = 2;
    prefix = 12;
    pad = 64 - (prefix + body) % 64;
  }
  size_t hlen = body + pad;
  unsigned char head[12 + sizeof dict + 64];
  memcpy(head, npy_magic, 6);
  head[6] = (unsigned char)major;
  head[7] = 0;
  head[8] = (unsigned char)(hlen & 0xff);
  head[9] = (unsigned char)(hlen >> 8 & 0xff);
  if (major == 2) {
    head[10] = (unsigned char)(hlen >> 16 & 0xff);
    head[11] = (unsigned char)(hlen >> 24 & 0xff);
  }
  memcpy(head + prefix, dict, (size_t)k);
  memset(head + prefix + (size_t)k, ' ', pad);
  head[prefix + hlen - 1] = '\n';

  w->dir = strdup(dir);
  size_t fl = strlen(dir) + strlen(filename) + 2;
  w->final_path = malloc(fl);
  if (!w->dir || !w->final_path) {
    writer_free(w);
    return rt_fail(err, err_size, "%s/%s: out of memory", dir, filename);
  }
  snprintf(w->final_path, fl, "%s/%s", dir, filename);
  int fd = create_temp(w, dir, filename);
  if (fd < 0) {
    int e = errno;
    rt_fail(err, err_size, "%s: cannot create a temporary file in %s: %s", w->final_path, dir,
         strerror(e));
    writer_free(w);
    return -1;
  }
  w->f = fdopen(fd, "wb");
  if (!w->f) {
    int e = errno;
    close(fd);
    unlink(w->tmp_path);
    rt_fail(err, err_size, "%s: %s", w->final_path, strerror(e));
    writer_free(w);
    return -1;
  }
  w->expected = bytes;
  if (fwrite(head, 1, prefix + hlen, w->f) != prefix + hlen) {
    int e = errno;
    rt_fail(err, err_size, "%s: write failed: %s", w->final_path, strerror(e));
    rt_npy_writer_abort(w);
    return -1;
  }
  return 0;
}

int rt_npy_writer_write(rt_npy_writer *w, const void *data, size_t bytes, char *err,
                        size_t err_size) {
  const char *path = w->final_path ? w->final_path : "(npy writer)";
  if (!w->f) return rt_fail(err, err_size, "%s: writer is not open", path);
  if (w->failed) return rt_fail(err, err_size, "%s: an earlier write failed", path);
  if (bytes > w->expected - w->written) {
    w->failed = 1;
    return rt_fail(err, err_size,
                "%s: writing %zu more bytes would exceed the %llu declared (%llu written)", path,
                bytes, (unsigned long long)w->expected, (unsigned long long)w->written);
  }
  errno = 0;
  if (fwrite(data, 1, bytes, w->f) != bytes) {
    w->failed = 1;
    return rt_fail(err, err_size, "%s: write failed: %s", path,
                strerror(errno ? errno : EIO));
  }
  w->written += bytes;
  return 0;
}

int rt_npy_writer_commit(rt_npy_writer *w, char *err, size_t err_size) {
  const char *path = w->final_path ? w->final_path : "(npy writer)";
  if (!w->f) return rt_fail(err, err_size, "%s: writer is not open", path);
  if (w->failed) {
    rt_fail(err, err_size, "%s: an earlier write failed", path);
    rt_npy_writer_abort(w);
    return -1;
  }
  if (w->written != w->expected) {
    rt_fail(err, err_size, "%s: only %llu of the %llu declared data bytes were written", path,
         (unsigned long long)w->written, (unsigned long long)w->expected);
    rt_npy_writer_abort(w);
    return -1;
  }
  errno = 0;
  if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
    rt_fail(err, err_size, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
    rt_npy_writer_abort(w);
    return -1;
  }
  FILE *f = w->f;
  w->f = NULL;
  if (fclose(f) != 0) {
    rt_fail(err, err_size, "%s: write failed: %s", path, strerror(errno));
    rt_npy_writer_abort(w);
    return -1;
  }
  if (rename(w->tmp_path, w->final_path) != 0) {
    rt_fail(err, err_size, "%s: cannot rename %s into place: %s", path, w->tmp_path,
         strerror(errno));
    rt_npy_writer_abort(w);
    return -1;
  }
  free(w->tmp_path);
  w->tmp_path = NULL;
  /* Make the rename itself durable. Some file systems cannot fsync a
   * directory (EINVAL); the data is already safe there. */
  int rc = 0;
  int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    rc = rt_fail(err, err_size, "%s: cannot open directory %s to sync it: %s", path, w->dir,
              strerror(errno));
  } else {
    if (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP)
      rc = rt_fail(err, err_size, "%s: cannot sync directory %s: %s", path, w->dir, strerror(errno));
    close(dfd);
  }
  writer_free(w);
  return rc;
}

void rt_npy_writer_abort(rt_npy_writer *w) {
  if (w->f) fclose(w->f);
  w->f = NULL;
  if (w->tmp_path) unlink(w->tmp_path);
  writer_free(w);
}

/* ---- file names ---- */

int rt_npy_filename(const char *tensor_name, char *buf, size_t size) {
  size_t n = strlen(tensor_name);
  if (n == 0 || strcmp(tensor_name, ".") == 0 || strcmp(tensor_name, "..") == 0) return -1;
  if (n + 4 > 255 || n + 5 > size) return -1; /* NAME_MAX on common file systems */
  for (size_t i = 0; i < n; i++) {
    char c = tensor_name[i];
    buf[i] = c == '/' || c == ':' ? '_' : c;
  }
  memcpy(buf + n, ".npy", 5);
  return 0;
}
