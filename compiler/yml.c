/*
 * yml.c: libyaml events -> yml_node tree with source positions.
 *
 * The tree is built by a recursive descent over libyaml's event stream, with
 * a nesting limit so that a hostile file cannot exhaust the stack. Typed
 * scalar views follow the YAML 1.1 resolver that PyYAML uses, so a model
 * means the same thing to dlc and to Python tools (one extension: floats may
 * omit the dot, "1e-5", since people write them so).
 */
#include "yml.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "strmap.h"

enum { MAX_DEPTH = 64 };
#define MAX_FILE_BYTES ((size_t)1 << 30)

typedef struct anchor {
  const char *name;
  yml_node *node;
  struct anchor *next;
} anchor;

typedef struct reader {
  arena *a;
  diag *d;
  const char *file;
  yaml_parser_t parser;
  anchor *anchors;
} reader;

static src_loc mark_loc(reader *r, yaml_mark_t m) {
  return (src_loc){r->file, (int)m.line + 1, (int)m.column + 1};
}

static void next_event(reader *r, yaml_event_t *ev) {
  if (!yaml_parser_parse(&r->parser, ev)) {
    src_loc loc = mark_loc(r, r->parser.problem_mark);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", r->parser.problem ? r->parser.problem : "malformed YAML");
    if (r->parser.context)
      snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (%s at line %d)",
               r->parser.context, (int)r->parser.context_mark.line + 1);
    diag_error(r->d, loc, "YAML syntax: %s", msg);
  }
}

static void remember_anchor(reader *r, const yaml_char_t *name, yml_node *n) {
  if (!name) return;
  anchor *an = arena_alloc(r->a, sizeof *an);
  an->name = arena_strdup(r->a, (const char *)name);
  an->node = n;
  an->next = r->anchors;
  r->anchors = an;
}

/* Growable array of node pointers, kept in the arena (old copies are left
 * behind: documents are small next to the tensors they describe). */
typedef struct vec {
  yml_node **v;
  int n, cap;
} vec;

static void vec_push(arena *a, vec *x, yml_node *n) {
  if (x->n == x->cap) {
    int cap = x->cap ? x->cap * 2 : 8;
    yml_node **v = arena_array(a, (size_t)cap, sizeof *v);
    if (x->n) memcpy(v, x->v, (size_t)x->n * sizeof *v);
    x->v = v;
    x->cap = cap;
  }
  x->v[x->n++] = n;
}

static yml_node *parse_node(reader *r, yaml_event_t *ev, int depth);

/* Parses the node whose first event is ev (consumed). */
static yml_node *parse_node(reader *r, yaml_event_t *ev, int depth) {
  src_loc loc = mark_loc(r, ev->start_mark);
  if (depth > MAX_DEPTH) {
    yaml_event_delete(ev);
    diag_error(r->d, loc, "YAML nesting deeper than %d levels", MAX_DEPTH);
  }
  yml_node *n;
  switch (ev->type) {
  case YAML_ALIAS_EVENT: {
    const char *name = arena_strdup(r->a, (const char *)ev->data.alias.anchor);
    yaml_event_delete(ev);
    for (anchor *an = r->anchors; an; an = an->next)
      if (strcmp(an->name, name) == 0) return an->node;
    diag_error(r->d, loc, "YAML alias *%s refers to no anchor", name);
  }
  case YAML_SCALAR_EVENT: {
    n = arena_alloc(r->a, sizeof *n);
    n->kind = YML_SCALAR;
    n->loc = loc;
    n->str = arena_strndup(r->a, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    n->len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               (!tag || strcmp(tag, YAML_STR_TAG) != 0);
    remember_anchor(r, ev->data.scalar.anchor, n);
    yaml_event_delete(ev);
    return n;
  }
  case YAML_SEQUENCE_START_EVENT: {
    n = arena_alloc(r->a, sizeof *n);
    n->kind = YML_SEQ;
    n->loc = loc;
    remember_anchor(r, ev->data.sequence_start.anchor, n);
    yaml_event_delete(ev);
    vec items = {0};
    for (;;) {
      yaml_event_t e;
      next_event(r, &e);
      if (e.type == YAML_SEQUENCE_END_EVENT) {
        yaml_event_delete(&e);
        break;
      }
      vec_push(r->a, &items, parse_node(r, &e, depth + 1));
    }
    n->items = items.v;
    n->n = items.n;
    return n;
  }
  case YAML_MAPPING_START_EVENT: {
    n = arena_alloc(r->a, sizeof *n);
    n->kind = YML_MAP;
    n->loc = loc;
    remember_anchor(r, ev->data.mapping_start.anchor, n);
    yaml_event_delete(ev);
    vec keys = {0}, vals = {0};
    strmap seen;
    strmap_init(&seen, r->a);
    for (;;) {
      yaml_event_t e;
      next_event(r, &e);
      if (e.type == YAML_MAPPING_END_EVENT) {
        yaml_event_delete(&e);
        break;
      }
      yml_node *k = parse_node(r, &e, depth + 1);
      if (k->kind != YML_SCALAR)
        diag_error(r->d, k->loc, "mapping keys must be plain strings, not %s",
                   k->kind == YML_SEQ ? "a list" : "a mapping");
      yml_node *first = strmap_put(&seen, k->str, k);
      if (first)
        diag_error(r->d, k->loc, "duplicate key '%s' (first at %s)", k->str,
                   diag_where(first->loc));
      yaml_event_t ve;
      next_event(r, &ve);
      vec_push(r->a, &keys, k);
      vec_push(r->a, &vals, parse_node(r, &ve, depth + 1));
    }
    n->keys = keys.v;
    n->items = vals.v;
    n->n = keys.n;
    return n;
  }
  default:
    yaml_event_delete(ev);
    diag_error(r->d, loc, "unexpected YAML event");
  }
}

/* The parser is released on every path: errors from deep inside come back
 * through a local setjmp, which frees it and passes the error on. */
yml_node *yml_load_string(arena *a, diag *d, const char *file, const char *text, size_t len) {
  static reader r; /* static: survives the longjmp without volatile games */
  memset(&r, 0, sizeof r);
  r.a = a;
  r.d = d;
  r.file = file;
  if (!yaml_parser_initialize(&r.parser)) diag_error(d, (src_loc){file, 0, 0}, "libyaml: out of memory");
  jmp_buf outer;
  memcpy(outer, d->jmp, sizeof outer);
  if (setjmp(d->jmp)) {
    yaml_parser_delete(&r.parser);
    memcpy(d->jmp, outer, sizeof outer);
    longjmp(d->jmp, 1);
  }
  yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
  yaml_event_t ev;
  next_event(&r, &ev); /* stream start */
  yaml_event_delete(&ev);
  next_event(&r, &ev);
  if (ev.type == YAML_STREAM_END_EVENT) {
    yaml_event_delete(&ev);
    diag_error(d, (src_loc){file, 1, 1},
               "empty model: expected a mapping with name, inputs, nodes and outputs");
  }
  yaml_event_delete(&ev); /* document start */
  next_event(&r, &ev);
  yml_node *root = parse_node(&r, &ev, 0);
  next_event(&r, &ev); /* document end */
  yaml_event_delete(&ev);
  next_event(&r, &ev);
  int more = ev.type != YAML_STREAM_END_EVENT;
  src_loc at = mark_loc(&r, ev.start_mark);
  yaml_event_delete(&ev);
  if (more) diag_error(d, at, "a model file holds one YAML document, found a second");
  yaml_parser_delete(&r.parser);
  memcpy(d->jmp, outer, sizeof outer);
  if (root->kind != YML_MAP)
    diag_error(d, root->loc, "expected a mapping with name, inputs, nodes and outputs, found %s",
               yml_describe(a, root));
  return root;
}

yml_node *yml_load_file(arena *a, diag *d, const char *path) {
  src_loc loc = {path, 0, 0};
  FILE *f = fopen(path, "rb");
  if (!f) diag_error(d, loc, "cannot open model: %s", strerror(errno));
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      fclose(f);
      diag_error(d, loc, "out of memory reading the model");
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
    if (len == cap) {
      if (cap >= MAX_FILE_BYTES) {
        free(buf);
        fclose(f);
        diag_error(d, loc, "model file larger than 1 GiB");
      }
      cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) free(buf);
      buf = nb;
    }
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    diag_error(d, loc, "cannot read model: %s", strerror(errno));
  }
  /* Keep the text in the arena so the buffer is freed even if parsing fails. */
  char *text = arena_strndup(a, buf, len);
  free(buf);
  return yml_load_string(a, d, path, text, len);
}

yml_node *yml_key(const yml_node *map, const char *key) {
  if (!map || map->kind != YML_MAP) return NULL;
  for (int i = 0; i < map->n; i++)
    if (strcmp(map->keys[i]->str, key) == 0) return map->keys[i];
  return NULL;
}

yml_node *yml_get(const yml_node *map, const char *key) {
  if (!map || map->kind != YML_MAP) return NULL;
  for (int i = 0; i < map->n; i++)
    if (strcmp(map->keys[i]->str, key) == 0) return map->items[i];
  return NULL;
}

bool yml_is_null(const yml_node *n) {
  if (!n || n->kind != YML_SCALAR || !n->plain) return false;
  return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
         !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

/* Copy s without '_' (YAML 1.1 digit separators) into buf; false if too long. */
static bool strip_underscores(const char *s, char *buf, size_t size) {
  size_t j = 0;
  for (; *s; s++) {
    if (*s == '_') continue;
    if (j + 1 >= size) return false;
    buf[j++] = *s;
  }
  buf[j] = 0;
  return true;
}

bool yml_as_int(const yml_node *n, int64_t *out) {
  if (!n || n->kind != YML_SCALAR || !n->plain || n->len == 0) return false;
  char buf[80];
  if (!strip_underscores(n->str, buf, sizeof buf)) return false;
  const char *p = buf;
  int neg = 0;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  int base = 10;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
  else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) base = 2, p += 2;
  else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) base = 8, p += 2;
  else if (p[0] == '0' && p[1]) base = 8, p += 1; /* YAML 1.1: 017 is octal */
  if (!*p) return false;
  uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; *p; p++) {
    int dgt;
    if (*p >= '0' && *p <= '9') dgt = *p - '0';
    else if (*p >= 'a' && *p <= 'f') dgt = *p - 'a' + 10;
    else if (*p >= 'A' && *p <= 'F') dgt = *p - 'A' + 10;
    else return false;
    if (dgt >= base) return false;
    if (v > (limit - (uint64_t)dgt) / (uint64_t)base) return false; /* overflow */
    v = v * (uint64_t)base + (uint64_t)dgt;
  }
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return true;
}

bool yml_as_float(const yml_node *n, double *out) {
  int64_t i;
  if (yml_as_int(n, &i)) {
    *out = (double)i;
    return true;
  }
  if (!n || n->kind != YML_SCALAR || !n->plain || n->len == 0) return false;
  const char *s = n->str;
  const char *t = s + (*s == '+' || *s == '-');
  if (!strcmp(t, ".inf") || !strcmp(t, ".Inf") || !strcmp(t, ".INF")) {
    *out = *s == '-' ? -INFINITY : INFINITY;
    return true;
  }
  if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) {
    *out = NAN;
    return true;
  }
  char buf[128];
  if (!strip_underscores(s, buf, sizeof buf)) return false;
  /* Digits, at most one dot, an optional exponent: nothing strtod would
   * take beyond that (hex floats, "inf", "nan" spelled other ways). */
  const char *p = buf + (*buf == '+' || *buf == '-');
  int digits = 0, dots = 0;
  for (; *p && *p != 'e' && *p != 'E'; p++) {
    if (*p == '.') dots++;
    else if (*p >= '0' && *p <= '9') digits++;
    else return false;
  }
  if (!digits || dots > 1) return false;
  if (*p) {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!*p) return false;
    for (; *p; p++)
      if (*p < '0' || *p > '9') return false;
  }
  errno = 0;
  char *end;
  double v = strtod(buf, &end);
  if (*end) return false;
  *out = v;
  return true;
}

bool yml_as_bool(const yml_node *n, bool *out) {
  if (!n || n->kind != YML_SCALAR || !n->plain) return false;
  static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (!strcmp(n->str, yes[i])) return *out = true, true;
    if (!strcmp(n->str, no[i])) return *out = false, true;
  }
  return false;
}

const char *yml_describe(arena *a, const yml_node *n) {
  if (!n) return "nothing";
  if (n->kind == YML_SEQ) return "a list";
  if (n->kind == YML_MAP) return "a mapping";
  if (yml_is_null(n)) return "null";
  int64_t i;
  double f;
  bool b;
  if (yml_as_int(n, &i)) return arena_printf(a, "the integer %s", n->str);
  if (yml_as_float(n, &f)) return arena_printf(a, "the number %s", n->str);
  if (yml_as_bool(n, &b)) return arena_printf(a, "the boolean %s", n->str);
  if (n->len > 40) return arena_printf(a, "the string '%.37s...'", n->str);
  return arena_printf(a, "the string '%s'", n->str);
}
