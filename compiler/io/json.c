/*
 * json.c: the strict two-pass JSON parser and the string writer of json.h.
 *
 * The same recursive-descent code runs twice. The first pass validates and
 * counts values and string bytes while writing nothing (values go to one
 * scratch node); then one block of exactly the right size is allocated and
 * the second pass fills it. Limits are enforced in the first pass, before
 * anything proportional to the input is allocated.
 */
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const unsigned char *s;
  size_t len, pos;
  int depth, max_depth;
  size_t n_values, max_values;
  size_t str_bytes;   /* pass 1: counted; pass 2: used so far */
  json_value *values; /* pass 2: the block's values; NULL in pass 1 */
  char *strs;         /* pass 2: the block's string area */
  json_value scratch; /* pass 1 writes values here */
  char *err;
  size_t err_size;
} jparser;

void json_line_col(const char *text, size_t len, size_t offset, int *line, int *col) {
  int l = 1;
  size_t line_start = 0;
  if (offset > len) offset = len;
  for (size_t i = 0; i < offset; i++)
    if (text[i] == '\n') {
      l++;
      line_start = i + 1;
    }
  *line = l;
  *col = (int)(offset - line_start + 1);
}

static int jfail(jparser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jfail(jparser *p, size_t at, const char *fmt, ...) {
  if (p->err && p->err_size && !p->err[0]) {
    int line, col;
    json_line_col((const char *)p->s, p->len, at, &line, &col);
    int k = snprintf(p->err, p->err_size, "line %d, column %d (byte %zu): ", line, col, at);
    if (k >= 0 && (size_t)k < p->err_size) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->err + k, p->err_size - (size_t)k, fmt, ap);
      va_end(ap);
    }
  }
  return -1;
}

/* A printable rendering of the byte at pos, for "unexpected ..." messages. */
static const char *show_byte(jparser *p, char *buf, size_t n) {
  if (p->pos >= p->len) return "end of input";
  unsigned char c = p->s[p->pos];
  if (c >= 0x20 && c < 0x7f)
    snprintf(buf, n, "character '%c'", c);
  else
    snprintf(buf, n, "byte 0x%02x", c);
  return buf;
}

static json_value *new_value(jparser *p, json_type t, size_t offset) {
  if (p->n_values == p->max_values) {
    jfail(p, offset, "more than %zu values", p->max_values);
    return NULL;
  }
  json_value *v = p->values ? &p->values[p->n_values] : &p->scratch;
  p->n_values++;
  memset(v, 0, sizeof *v);
  v->type = t;
  v->offset = offset;
  return v;
}

/* Append a byte of string data (counted only in pass 1). */
static void put(jparser *p, unsigned char c) {
  if (p->strs) p->strs[p->str_bytes] = (char)c;
  p->str_bytes++;
}

static void put_utf8(jparser *p, uint32_t cp) {
  if (cp < 0x80) {
    put(p, (unsigned char)cp);
  } else if (cp < 0x800) {
    put(p, (unsigned char)(0xc0 | cp >> 6));
    put(p, (unsigned char)(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    put(p, (unsigned char)(0xe0 | cp >> 12));
    put(p, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
    put(p, (unsigned char)(0x80 | (cp & 0x3f)));
  } else {
    put(p, (unsigned char)(0xf0 | cp >> 18));
    put(p, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
    put(p, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
    put(p, (unsigned char)(0x80 | (cp & 0x3f)));
  }
}

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 (overlong forms,
 * surrogates and code points past U+10FFFF are not well-formed). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t k;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) k = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    k = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    k = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else return 0;
  if (n < k) return 0;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < k; i++)
    if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return k;
}

static int hex4(jparser *p, size_t at, uint32_t *out) {
  if (p->len - at < 4) return jfail(p, at, "truncated \\u escape");
  uint32_t v = 0;
  for (size_t i = 0; i < 4; i++) {
    unsigned char c = p->s[at + i];
    int d = c >= '0' && c <= '9' ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return jfail(p, at + i, "invalid hex digit in \\u escape");
    v = v << 4 | (uint32_t)d;
  }
  *out = v;
  return 0;
}

/* A string at pos (which holds '"'); the decoded text goes to the string
 * area, NUL-terminated. */
static int parse_string(jparser *p, const char **str, size_t *len) {
  size_t start = p->pos, first = p->str_bytes;
  p->pos++;
  for (;;) {
    if (p->pos >= p->len) return jfail(p, start, "unterminated string");
    unsigned char c = p->s[p->pos];
    if (c == '"') break;
    if (c < 0x20)
      return jfail(p, p->pos, "control character 0x%02x in a string (it must be escaped)", c);
    if (c == '\\') {
      size_t esc = p->pos;
      if (p->pos + 1 >= p->len) return jfail(p, start, "unterminated string");
      unsigned char e = p->s[p->pos + 1];
      p->pos += 2;
      switch (e) {
      case '"': put(p, '"'); break;
      case '\\': put(p, '\\'); break;
      case '/': put(p, '/'); break;
      case 'b': put(p, '\b'); break;
      case 'f': put(p, '\f'); break;
      case 'n': put(p, '\n'); break;
      case 'r': put(p, '\r'); break;
      case 't': put(p, '\t'); break;
      case 'u': {
        uint32_t cp;
        if (hex4(p, p->pos, &cp)) return -1;
        p->pos += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff)
          return jfail(p, esc, "unpaired low surrogate \\u%04x", (unsigned)cp);
        if (cp >= 0xd800 && cp <= 0xdbff) {
          uint32_t lo;
          if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return jfail(p, esc, "high surrogate \\u%04x not followed by a low surrogate",
                         (unsigned)cp);
          if (hex4(p, p->pos + 2, &lo)) return -1;
          if (lo < 0xdc00 || lo > 0xdfff)
            return jfail(p, esc, "high surrogate \\u%04x not followed by a low surrogate",
                         (unsigned)cp);
          p->pos += 6;
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        put_utf8(p, cp);
        break;
      }
      default:
        if (e >= 0x20 && e < 0x7f) return jfail(p, esc, "invalid escape '\\%c'", e);
        return jfail(p, esc, "invalid escape (backslash before byte 0x%02x)", e);
      }
      continue;
    }
    size_t k = utf8_seq(p->s + p->pos, p->len - p->pos);
    if (!k) return jfail(p, p->pos, "invalid UTF-8 in a string");
    for (size_t i = 0; i < k; i++) put(p, p->s[p->pos + i]);
    p->pos += k;
  }
  p->pos++;
  *len = p->str_bytes - first;
  put(p, 0);
  *str = p->strs ? p->strs + first : NULL;
  return 0;
}

/* strtod on a bounded copy (the text is not NUL-terminated). */
static int to_double(jparser *p, size_t start, size_t n, double *out) {
  char small[128];
  char *buf = n < sizeof small ? small : malloc(n + 1);
  if (!buf) return jfail(p, start, "out of memory");
  memcpy(buf, p->s + start, n);
  buf[n] = 0;
  *out = strtod(buf, NULL);
  if (buf != small) free(buf);
  if (isinf(*out)) return jfail(p, start, "number out of range");
  return 0;
}

static int parse_number(jparser *p, json_value *v) {
  size_t start = p->pos;
  const unsigned char *s = p->s;
  size_t i = p->pos;
  int neg = 0, is_int = 1;
  if (i < p->len && s[i] == '-') neg = 1, i++;
  if (i >= p->len || s[i] < '0' || s[i] > '9')
    return jfail(p, i, "expected a digit in a number");
  size_t digits = i;
  if (s[i] == '0') {
    i++;
    if (i < p->len && s[i] >= '0' && s[i] <= '9')
      return jfail(p, start, "number with a leading zero");
  } else {
    while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
  }
  size_t int_end = i;
  if (i < p->len && s[i] == '.') {
    is_int = 0;
    i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9')
      return jfail(p, i, "expected a digit after '.'");
    while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
  }
  if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
    is_int = 0;
    i++;
    if (i < p->len && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9')
      return jfail(p, i, "expected a digit in the exponent");
    while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
  }
  p->pos = i;
  double d = 0;
  if (to_double(p, start, i - start, &d)) return -1;
  v->d = d;
  v->is_int = is_int;
  if (is_int) {
    /* magnitude limit: 2^63 - 1, or 2^63 for a negative number */
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, m = 0;
    for (size_t k = digits; k < int_end; k++) {
      unsigned dg = s[k] - '0';
      if (m > (lim - dg) / 10) {
        v->overflow = 1;
        break;
      }
      m = m * 10 + dg;
    }
    if (v->overflow)
      v->i = neg ? INT64_MIN : INT64_MAX;
    else
      v->i = neg ? (m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m) : (int64_t)m;
  }
  /* keep the text */
  size_t first = p->str_bytes;
  for (size_t k = start; k < i; k++) put(p, s[k]);
  put(p, 0);
  v->str = p->strs ? p->strs + first : NULL;
  v->len = i - start;
  return 0;
}

static void skip_ws(jparser *p) {
  while (p->pos < p->len) {
    unsigned char c = p->s[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static int parse_value(jparser *p, json_value **out);

static int parse_container(jparser *p, json_value *v, int is_object) {
  char close = is_object ? '}' : ']';
  size_t open_at = p->pos;
  if (++p->depth > p->max_depth)
    return jfail(p, open_at, "nesting deeper than %d levels", p->max_depth);
  p->pos++;
  skip_ws(p);
  json_value *last = NULL;
  if (p->pos < p->len && p->s[p->pos] == (unsigned char)close) {
    p->pos++;
    p->depth--;
    return 0;
  }
  for (;;) {
    const char *key = NULL;
    size_t key_len = 0, key_at = 0;
    if (is_object) {
      skip_ws(p);
      key_at = p->pos;
      if (p->pos >= p->len || p->s[p->pos] != '"') {
        char b[32];
        return jfail(p, p->pos, "expected a string key, found %s", show_byte(p, b, sizeof b));
      }
      if (parse_string(p, &key, &key_len)) return -1;
      skip_ws(p);
      if (p->pos >= p->len || p->s[p->pos] != ':') {
        char b[32];
        return jfail(p, p->pos, "expected ':' after a key, found %s", show_byte(p, b, sizeof b));
      }
      p->pos++;
    }
    json_value *child;
    if (parse_value(p, &child)) return -1;
    if (is_object) {
      child->key = key;
      child->key_len = key_len;
      child->key_offset = key_at;
    }
    if (last)
      last->next = child;
    else
      v->child = child;
    last = child;
    v->n++;
    skip_ws(p);
    if (p->pos >= p->len)
      return jfail(p, p->pos, "unexpected end of input: unclosed %s",
                   is_object ? "object" : "array");
    unsigned char c = p->s[p->pos];
    if (c == ',') {
      p->pos++;
      skip_ws(p);
      if (p->pos < p->len && p->s[p->pos] == (unsigned char)close)
        return jfail(p, p->pos, "trailing comma");
      continue;
    }
    if (c == (unsigned char)close) {
      p->pos++;
      break;
    }
    char b[32];
    return jfail(p, p->pos, "expected ',' or '%c', found %s", close, show_byte(p, b, sizeof b));
  }
  p->depth--;
  return 0;
}

static int parse_literal(jparser *p, const char *word) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
    return jfail(p, p->pos, "invalid literal (expected %s)", word);
  p->pos += n;
  return 0;
}

static int parse_value(jparser *p, json_value **out) {
  skip_ws(p);
  if (p->pos >= p->len) return jfail(p, p->pos, "unexpected end of input: expected a value");
  unsigned char c = p->s[p->pos];
  json_type t = c == '{' ? JSON_OBJECT
                : c == '[' ? JSON_ARRAY
                : c == '"' ? JSON_STRING
                : c == 't' || c == 'f' ? JSON_BOOL
                : c == 'n' ? JSON_NULL
                : c == '-' || (c >= '0' && c <= '9') ? JSON_NUMBER
                                                     : (json_type)-1;
  if ((int)t < 0) {
    char b[32];
    return jfail(p, p->pos, "unexpected %s: expected a value", show_byte(p, b, sizeof b));
  }
  json_value *v = new_value(p, t, p->pos);
  if (!v) return -1;
  *out = v;
  switch (t) {
  case JSON_OBJECT: return parse_container(p, v, 1);
  case JSON_ARRAY: return parse_container(p, v, 0);
  case JSON_STRING: return parse_string(p, &v->str, &v->len);
  case JSON_NUMBER: return parse_number(p, v);
  case JSON_NULL: return parse_literal(p, "null");
  case JSON_BOOL:
    v->boolean = c == 't';
    return parse_literal(p, c == 't' ? "true" : "false");
  }
  return -1;
}

static int parse_document(jparser *p) {
  if (p->len >= 3 && p->s[0] == 0xef && p->s[1] == 0xbb && p->s[2] == 0xbf)
    return jfail(p, 0, "byte order mark before the JSON text");
  json_value *root;
  if (parse_value(p, &root)) return -1;
  skip_ws(p);
  if (p->pos != p->len) {
    char b[32];
    return jfail(p, p->pos, "unexpected %s after the JSON value", show_byte(p, b, sizeof b));
  }
  return 0;
}

json_doc *json_parse(const char *text, size_t len, const json_limits *lim, char *err,
                     size_t err_size) {
  if (err && err_size) err[0] = 0;
  jparser p;
  memset(&p, 0, sizeof p);
  p.s = (const unsigned char *)(text ? text : "");
  p.len = text ? len : 0;
  p.max_depth = lim ? lim->max_depth : JSON_DEFAULT_MAX_DEPTH;
  if (p.max_depth > JSON_MAX_DEPTH_LIMIT) p.max_depth = JSON_MAX_DEPTH_LIMIT;
  p.max_values = lim ? lim->max_values : JSON_DEFAULT_MAX_VALUES;
  p.err = err;
  p.err_size = err_size;
  if (parse_document(&p)) return NULL;

  /* One block: header, values, string bytes. Each part is bounded (values
   * by max_values, strings by the input length) but check anyway. */
  size_t n_values = p.n_values, str_bytes = p.str_bytes;
  size_t head = (sizeof(json_doc) + 15) & ~(size_t)15;
  if (n_values > (SIZE_MAX - head - str_bytes) / sizeof(json_value)) {
    jfail(&p, 0, "document too large");
    return NULL;
  }
  size_t bytes = head + n_values * sizeof(json_value) + str_bytes;
  char *block = malloc(bytes);
  if (!block) {
    jfail(&p, 0, "out of memory (%zu bytes for the document)", bytes);
    return NULL;
  }
  json_doc *doc = (json_doc *)block;
  json_value *values = (json_value *)(block + head);
  p.pos = 0;
  p.depth = 0;
  p.n_values = 0;
  p.str_bytes = 0;
  p.values = values;
  p.strs = block + head + n_values * sizeof(json_value);
  if (parse_document(&p) || p.n_values != n_values || p.str_bytes != str_bytes) {
    /* cannot happen: the same text passed the first pass */
    free(block);
    if (err && err_size && !err[0]) snprintf(err, err_size, "internal error: second pass differs");
    return NULL;
  }
  doc->root = values;
  doc->n_values = n_values;
  doc->bytes = bytes;
  return doc;
}

void json_free(json_doc *doc) { free(doc); }

const json_value *json_get(const json_value *obj, const char *key) {
  if (!obj || obj->type != JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  for (const json_value *m = obj->child; m; m = m->next)
    if (m->key_len == n && memcmp(m->key, key, n) == 0) return m;
  return NULL;
}

size_t json_len(const json_value *v) {
  return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->n : 0;
}

const json_value *json_at(const json_value *v, size_t i) {
  if (!v || (v->type != JSON_ARRAY && v->type != JSON_OBJECT) || i >= v->n) return NULL;
  const json_value *c = v->child;
  while (i--) c = c->next;
  return c;
}

const char *json_type_name(json_type t) {
  switch (t) {
  case JSON_NULL: return "null";
  case JSON_BOOL: return "boolean";
  case JSON_NUMBER: return "number";
  case JSON_STRING: return "string";
  case JSON_ARRAY: return "array";
  case JSON_OBJECT: return "object";
  }
  return "?";
}

static int key_cmp(const void *a, const void *b) {
  const json_value *x = *(const json_value *const *)a, *y = *(const json_value *const *)b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, n);
  if (c) return c;
  if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset; /* document order */
}

int json_dup_key(const json_value *obj, const json_value **dup) {
  *dup = NULL;
  if (!obj || obj->type != JSON_OBJECT || obj->n < 2) return 0;
  const json_value **m = malloc(obj->n * sizeof *m);
  if (!m) return -1;
  size_t k = 0;
  for (const json_value *c = obj->child; c; c = c->next) m[k++] = c;
  qsort(m, k, sizeof *m, key_cmp);
  for (size_t i = 1; i < k; i++)
    if (m[i]->key_len == m[i - 1]->key_len &&
        memcmp(m[i]->key, m[i - 1]->key, m[i]->key_len) == 0 &&
        (!*dup || m[i]->offset < (*dup)->offset))
      *dup = m[i];
  free(m);
  return *dup != NULL;
}

int json_write_string_n(FILE *f, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  fputc('"', f);
  size_t i = 0;
  while (i < n) {
    unsigned char c = u[i];
    if (c == '"' || c == '\\') {
      fputc('\\', f);
      fputc(c, f);
      i++;
    } else if (c < 0x20 || c == 0x7f) {
      switch (c) {
      case '\b': fputs("\\b", f); break;
      case '\f': fputs("\\f", f); break;
      case '\n': fputs("\\n", f); break;
      case '\r': fputs("\\r", f); break;
      case '\t': fputs("\\t", f); break;
      default: fprintf(f, "\\u%04x", c); break;
      }
      i++;
    } else if (c < 0x80) {
      fputc(c, f);
      i++;
    } else {
      size_t k = utf8_seq(u + i, n - i);
      if (k) {
        fwrite(u + i, 1, k, f);
        i += k;
      } else {
        fputs("\\ufffd", f);
        i++;
      }
    }
  }
  fputc('"', f);
  return ferror(f) ? -1 : 0;
}

int json_write_string(FILE *f, const char *s) { return json_write_string_n(f, s, strlen(s)); }
