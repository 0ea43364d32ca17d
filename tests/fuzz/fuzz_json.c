/*
 * fuzz_json.c: libFuzzer target for the strict JSON parser and string
 * writer (compiler/io/json.h), which read safetensors headers.
 *
 * The input is parsed as a JSON document (default limits, and tight limits
 * chosen by the input's length so the limit paths are hit too); the tree is
 * walked and checked against what json.h promises (child counts, NUL-
 * terminated strings, finite numbers, json_get and json_at agreeing), and
 * every decoded string is written back with json_write_string_n() and parsed
 * again: it must decode to the same bytes. The raw input is also written as a
 * string: the writer promises valid JSON for any bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Write s[0..n) as a JSON string, parse it back, return the document. */
static json_doc *round_trip(const char *s, size_t n) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) abort();
  if (json_write_string_n(f, s, n) != 0) abort();
  if (fclose(f) != 0) abort();
  char err[256];
  json_doc *d = json_parse(buf, len, NULL, err, sizeof err);
  if (!d || d->root->type != JSON_STRING) {
    fprintf(stderr, "json_write_string_n wrote invalid JSON: %s\n", err);
    abort();
  }
  free(buf);
  return d;
}

static void check_string_round_trip(const char *s, size_t n) {
  json_doc *d = round_trip(s, n);
  if (d->root->len != n || memcmp(d->root->str, s, n) != 0) abort();
  json_free(d);
}

static size_t walk(const json_value *v, int depth) {
  size_t count = 1;
  if (depth > JSON_MAX_DEPTH_LIMIT) abort();
  switch (v->type) {
  case JSON_NULL:
    break;
  case JSON_BOOL:
    if (v->boolean != 0 && v->boolean != 1) abort();
    break;
  case JSON_NUMBER:
    if (!isfinite(v->d) || !v->str || strlen(v->str) != v->len) abort();
    break;
  case JSON_STRING:
    if (!v->str || v->str[v->len] != 0) abort();
    check_string_round_trip(v->str, v->len);
    break;
  case JSON_ARRAY:
  case JSON_OBJECT: {
    size_t n = 0;
    for (const json_value *c = v->child; c; c = c->next) {
      if ((v->type == JSON_OBJECT) != (c->key != NULL)) abort();
      if (c->key) {
        if (c->key[c->key_len] != 0) abort();
        check_string_round_trip(c->key, c->key_len);
        /* json_get finds the first member of that name (C-string keys only) */
        if (strlen(c->key) == c->key_len) {
          const json_value *g = json_get(v, c->key);
          if (!g || g->key_len != c->key_len || memcmp(g->key, c->key, c->key_len) ||
              g->offset > c->offset)
            abort();
        }
      }
      if (n < 4 && json_at(v, n) != c) abort();
      count += walk(c, depth + 1);
      n++;
    }
    if (n != v->n || json_len(v) != n || json_at(v, n) != NULL) abort();
    if (v->type == JSON_OBJECT) {
      const json_value *dup;
      int d = json_dup_key(v, &dup);
      if (d < 0) abort();
      if (d > 0 && (!dup || !dup->key)) abort();
    }
    break;
  }
  default:
    abort();
  }
  return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  char err[256];
  err[0] = 0;
  json_doc *d = json_parse(text, size, NULL, err, sizeof err);
  if (d) {
    if (walk(d->root, 0) != d->n_values) abort();
    json_free(d);
  } else if (!err[0]) {
    abort(); /* an error without a message */
  }
  int line, col;
  json_line_col(text, size, size / 2, &line, &col);
  if (line < 1 || col < 1) abort();

  json_limits tight = {(int)(size % 8), size % 64};
  err[0] = 0;
  d = json_parse(text, size, &tight, err, sizeof err);
  if (d) {
    if (d->n_values > tight.max_values) abort();
    json_free(d);
  }

  /* any bytes: the writer's output is valid JSON (invalid UTF-8 becomes U+FFFD) */
  json_free(round_trip(text, size));
  return 0;
}
