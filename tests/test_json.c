/*
 * test_json.c: the strict JSON parser on valid documents (values, escapes,
 * numbers, order, lookups, one-block layout), on every class of error with
 * its position, on limits (depth, value count), and the string writer's
 * escaping, checked by parsing its output back.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tst.h"

#define ASSERT_HAS(hay, needle)                                                \
  do {                                                                         \
    if (!strstr((hay), (needle)))                                              \
      fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", (hay), (needle));   \
    CU_ASSERT_PTR_NOT_NULL(strstr((hay), (needle)));                           \
  } while (0)

static json_doc *parse(const char *s) {
  char err[256] = "";
  json_doc *d = json_parse(s, strlen(s), NULL, err, sizeof err);
  if (!d) fprintf(stderr, "\n  %s: %s\n", s, err);
  return d;
}

/* Every pointer of the tree lies inside the document's block. */
static int inside(const json_doc *d, const void *p) {
  return (const char *)p >= (const char *)d && (const char *)p < (const char *)d + d->bytes;
}
static int tree_in_block(const json_doc *d, const json_value *v) {
  if (!inside(d, v)) return 0;
  if ((v->type == JSON_STRING || v->type == JSON_NUMBER) && !inside(d, v->str)) return 0;
  if (v->key && !inside(d, v->key)) return 0;
  for (const json_value *c = v->child; c; c = c->next)
    if (!tree_in_block(d, c)) return 0;
  return 1;
}

static void test_valid_document(void) {
  const char *text = " {\"name\": \"mlp\", \"dims\": {\"N\": 64}, \"ok\": true, \"no\": false,\n"
                     "  \"nothing\": null, \"list\": [1, -2.5, \"x\", [], {}], \"e\": \"\"} \n";
  json_doc *d = parse(text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  const json_value *r = d->root;
  CU_ASSERT_EQUAL(r->type, JSON_OBJECT);
  CU_ASSERT_EQUAL(json_len(r), 7);
  CU_ASSERT_EQUAL(d->n_values, 14);
  CU_ASSERT(tree_in_block(d, r));
  /* members in document order */
  const char *order[] = {"name", "dims", "ok", "no", "nothing", "list", "e"};
  for (size_t i = 0; i < 7; i++) CU_ASSERT_STRING_EQUAL(json_at(r, i)->key, order[i]);
  CU_ASSERT_PTR_NULL(json_at(r, 7));
  CU_ASSERT_STRING_EQUAL(json_get(r, "name")->str, "mlp");
  CU_ASSERT_EQUAL(json_get(r, "name")->offset, 10);
  CU_ASSERT_EQUAL(json_get(r, "name")->key_offset, 2);
  CU_ASSERT_EQUAL(json_get(json_get(r, "dims"), "N")->i, 64);
  CU_ASSERT_EQUAL(json_get(r, "ok")->type, JSON_BOOL);
  CU_ASSERT_EQUAL(json_get(r, "ok")->boolean, 1);
  CU_ASSERT_EQUAL(json_get(r, "no")->boolean, 0);
  CU_ASSERT_EQUAL(json_get(r, "nothing")->type, JSON_NULL);
  CU_ASSERT_PTR_NULL(json_get(r, "missing"));
  CU_ASSERT_PTR_NULL(json_get(r, "nam"));
  CU_ASSERT_PTR_NULL(json_get(json_get(r, "list"), "x")); /* not an object */
  const json_value *l = json_get(r, "list");
  CU_ASSERT_EQUAL(l->type, JSON_ARRAY);
  CU_ASSERT_EQUAL(json_len(l), 5);
  CU_ASSERT_EQUAL(json_at(l, 0)->i, 1);
  CU_ASSERT_EQUAL(json_at(l, 1)->d, -2.5);
  CU_ASSERT_EQUAL(json_at(l, 1)->is_int, 0);
  CU_ASSERT_STRING_EQUAL(json_at(l, 1)->str, "-2.5");
  CU_ASSERT_STRING_EQUAL(json_at(l, 2)->str, "x");
  CU_ASSERT_EQUAL(json_at(l, 3)->type, JSON_ARRAY);
  CU_ASSERT_EQUAL(json_len(json_at(l, 3)), 0);
  CU_ASSERT_PTR_NULL(json_at(l, 3)->child);
  CU_ASSERT_EQUAL(json_at(l, 4)->type, JSON_OBJECT);
  CU_ASSERT_EQUAL(json_get(r, "e")->len, 0);
  CU_ASSERT_STRING_EQUAL(json_get(r, "e")->str, "");
  CU_ASSERT_STRING_EQUAL(json_type_name(l->type), "array");
  json_free(d);

  /* any value at the top level */
  d = parse("42");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_EQUAL(d->root->i, 42);
  json_free(d);
  d = parse("\t\"s\"\r\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_STRING_EQUAL(d->root->str, "s");
  json_free(d);
}

static void test_numbers(void) {
  json_doc *d = parse("[0, -0, 12, -9223372036854775808, 9223372036854775807, "
                      "9223372036854775808, -9223372036854775809, 1.5e3, 1E-2, -0.0, "
                      "123456789012345678901234567890, 1e-400, 2.5E+2]");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  const json_value *a = d->root;
  const json_value *v[13];
  for (int i = 0; i < 13; i++) v[i] = json_at(a, (size_t)i);
  CU_ASSERT(v[0]->is_int && !v[0]->overflow && v[0]->i == 0);
  CU_ASSERT(v[1]->is_int && v[1]->i == 0 && signbit(v[1]->d));
  CU_ASSERT_EQUAL(v[2]->i, 12);
  CU_ASSERT(v[3]->is_int && !v[3]->overflow && v[3]->i == INT64_MIN);
  CU_ASSERT(v[4]->is_int && !v[4]->overflow && v[4]->i == INT64_MAX);
  CU_ASSERT(v[5]->is_int && v[5]->overflow && v[5]->i == INT64_MAX);
  CU_ASSERT_EQUAL(v[5]->d, 9223372036854775808.0);
  CU_ASSERT(v[6]->overflow && v[6]->i == INT64_MIN);
  CU_ASSERT(!v[7]->is_int && v[7]->d == 1500.0);
  CU_ASSERT(!v[8]->is_int && v[8]->d == 0.01);
  CU_ASSERT(!v[9]->is_int && v[9]->d == 0.0 && signbit(v[9]->d));
  CU_ASSERT(v[10]->overflow && fabs(v[10]->d - 1.2345678901234568e29) < 1e14);
  CU_ASSERT_STRING_EQUAL(v[10]->str, "123456789012345678901234567890"); /* text kept */
  CU_ASSERT(v[11]->d >= 0 && v[11]->d < 1e-300);                         /* underflow is fine */
  CU_ASSERT_EQUAL(v[12]->d, 250.0);
  json_free(d);

  /* a long number goes through the heap copy */
  char big[400] = "0.";
  memset(big + 2, '0', 300);
  strcpy(big + 302, "15");
  d = parse(big);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT(d->root->d > 1.49e-301 && d->root->d < 1.51e-301);
  CU_ASSERT_EQUAL(d->root->len, 304);
  json_free(d);
}

static void test_strings(void) {
  json_doc *d = parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u00e9\\u20AC\", \"\\ud83d\\ude00\","
                      " \"a\\u0000b\", \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  const json_value *a = d->root;
  CU_ASSERT_STRING_EQUAL(json_at(a, 0)->str, "\"\\/\b\f\n\r\t");
  CU_ASSERT_EQUAL(json_at(a, 0)->len, 8);
  CU_ASSERT_STRING_EQUAL(json_at(a, 1)->str, "\xc3\xa9\xe2\x82\xac");
  CU_ASSERT_STRING_EQUAL(json_at(a, 2)->str, "\xf0\x9f\x98\x80");
  CU_ASSERT_EQUAL(json_at(a, 3)->len, 3);
  CU_ASSERT_EQUAL(memcmp(json_at(a, 3)->str, "a\0b", 4), 0);
  CU_ASSERT_STRING_EQUAL(json_at(a, 4)->str, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  json_free(d);
}

/* Parse must fail with a message containing what (and the position when
 * given). */
static void bad_n(const char *text, size_t len, const char *what) {
  char err[256] = "";
  json_doc *d = json_parse(text, len, NULL, err, sizeof err);
  CU_ASSERT_PTR_NULL(d);
  json_free(d);
  if (!strstr(err, what)) fprintf(stderr, "\n  input: %.60s", text);
  ASSERT_HAS(err, what);
}
static void bad(const char *text, const char *what) { bad_n(text, strlen(text), what); }

static void test_errors_truncated(void) {
  bad("", "line 1, column 1 (byte 0): unexpected end of input: expected a value");
  bad("   ", "(byte 3): unexpected end of input");
  bad("[1, 2", "(byte 5): unexpected end of input: unclosed array");
  bad("{\"a\": 1", "unclosed object");
  bad("{\"a\":", "unexpected end of input: expected a value");
  bad("{\"a\"", "expected ':' after a key, found end of input");
  bad("\"abc", "(byte 0): unterminated string");
  bad("\"abc\\", "unterminated string");
  bad("\"\\u12", "truncated \\u escape");
  bad("tru", "invalid literal (expected true)");
  bad("nul", "invalid literal (expected null)");
  bad("-", "expected a digit in a number");
}

static void test_errors_syntax(void) {
  bad("{\n  \"a\": tru\n}", "line 2, column 8 (byte 9): invalid literal");
  bad("[1,]", "(byte 3): trailing comma");
  bad("{\"a\": 1,}", "trailing comma");
  bad("{1: 2}", "expected a string key, found character '1'");
  bad("{'a': 2}", "expected a string key, found character '''");
  bad("[1 2]", "expected ',' or ']', found character '2'");
  bad("{\"a\" 1}", "expected ':' after a key");
  bad("[True]", "unexpected character 'T': expected a value");
  bad("nan", "invalid literal (expected null)");
  bad("[+1]", "unexpected character '+'");
  bad("[.5]", "unexpected character '.'");
  bad("[1.]", "expected a digit after '.'");
  bad("[1e]", "expected a digit in the exponent");
  bad("[1e+]", "expected a digit in the exponent");
  bad("[-a]", "expected a digit in a number");
  bad("\xef\xbb\xbf{}", "byte order mark");
}

static void test_errors_leading_zero(void) {
  bad("01", "(byte 0): number with a leading zero");
  bad("[-01]", "(byte 1): number with a leading zero");
  bad("00", "leading zero");
  json_doc *d = parse("[0.5, -0.25, 0e1]"); /* a single zero before '.', 'e' is fine */
  CU_ASSERT_PTR_NOT_NULL(d);
  json_free(d);
}

static void test_errors_escapes(void) {
  bad("\"\\x\"", "(byte 1): invalid escape '\\x'");
  bad("\"\\'\"", "invalid escape '\\''");
  bad("\"\\u12G4\"", "(byte 5): invalid hex digit in \\u escape");
  bad("\"\\ud800\"", "high surrogate \\ud800 not followed by a low surrogate");
  bad("\"\\ud800\\u0041\"", "high surrogate \\ud800 not followed by a low surrogate");
  bad("\"\\ud800\\ud800\"", "not followed by a low surrogate");
  bad("\"\\udc00\"", "unpaired low surrogate \\udc00");
  bad_n("\"\\\0\"", 4, "invalid escape (backslash before byte 0x00)");
}

static void test_errors_control_and_utf8(void) {
  bad("\"a\tb\"", "(byte 2): control character 0x09 in a string");
  bad("\"a\nb\"", "control character 0x0a");
  bad_n("\"a\0b\"", 5, "control character 0x00");
  bad("\"\x1f\"", "control character 0x1f");
  bad("\"\xc3\x28\"", "(byte 1): invalid UTF-8 in a string");
  bad("\"\xc0\xaf\"", "invalid UTF-8");          /* overlong '/' */
  bad("\"\xe0\x80\xaf\"", "invalid UTF-8");      /* overlong */
  bad("\"\xed\xa0\x80\"", "invalid UTF-8");      /* encoded surrogate */
  bad("\"\xf4\x90\x80\x80\"", "invalid UTF-8");  /* past U+10FFFF */
  bad("\"\xe2\x82\"", "invalid UTF-8");          /* cut short */
  bad("[\xc3\xa9]", "unexpected byte 0xc3");
  bad_n("\0", 1, "unexpected byte 0x00");
}

static void test_errors_trailing(void) {
  bad("{} x", "(byte 3): unexpected character 'x' after the JSON value");
  bad("1 2", "after the JSON value");
  bad("[1]]", "after the JSON value");
  bad_n("{}\0", 3, "unexpected byte 0x00 after the JSON value");
  bad("\"a\" \"b\"", "after the JSON value");
}

static void test_errors_huge_numbers(void) {
  bad("1e400", "(byte 0): number out of range");
  bad("[-1.5e99999]", "(byte 1): number out of range");
  char *digits = malloc(10002);
  memset(digits, '9', 10001);
  digits[10001] = 0;
  bad(digits, "number out of range"); /* 10^10001 is no double */
  free(digits);
}

static void test_depth_and_count_limits(void) {
  char buf[300];
  /* 64 levels: fine; 65: refused */
  memset(buf, '[', 64);
  memset(buf + 64, ']', 64);
  json_doc *d = json_parse(buf, 128, NULL, NULL, 0);
  CU_ASSERT_PTR_NOT_NULL(d);
  json_free(d);
  memset(buf, '[', 65);
  memset(buf + 65, ']', 65);
  bad_n(buf, 130, "(byte 64): nesting deeper than 64 levels");
  /* a depth bomb is refused at the limit, without deep recursion */
  size_t n = 1 << 20;
  char *bomb = malloc(n);
  memset(bomb, '[', n);
  bad_n(bomb, n, "nesting deeper than 64 levels");
  for (size_t i = 0; i < n; i += 2) bomb[i] = '{', bomb[i + 1] = i + 2 < n ? ' ' : '}';
  bad_n(bomb, n, "expected a string key"); /* "{ {": the key is missing first */
  free(bomb);

  char err[256] = "";
  json_limits lim = {2, 100};
  d = json_parse("[[1]]", 5, &lim, err, sizeof err);
  CU_ASSERT_PTR_NOT_NULL(d);
  json_free(d);
  CU_ASSERT_PTR_NULL(json_parse("[[[1]]]", 7, &lim, err, sizeof err));
  ASSERT_HAS(err, "nesting deeper than 2 levels");
  lim.max_depth = 64;
  lim.max_values = 3;
  d = json_parse("[1,2]", 5, &lim, err, sizeof err);
  CU_ASSERT_PTR_NOT_NULL(d);
  CU_ASSERT_EQUAL(d->n_values, 3);
  json_free(d);
  CU_ASSERT_PTR_NULL(json_parse("[1,2,3]", 7, &lim, err, sizeof err));
  ASSERT_HAS(err, "(byte 5): more than 3 values");
}

static void test_duplicate_keys(void) {
  json_doc *d = parse("{\"a\": 1, \"b\": 2, \"c\": 0, \"b\": 4, \"a\": 3}");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  const json_value *dup = NULL;
  CU_ASSERT_EQUAL(json_dup_key(d->root, &dup), 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(dup);
  CU_ASSERT_STRING_EQUAL(dup->key, "b"); /* the earliest repeat in document order */
  CU_ASSERT_EQUAL(dup->i, 4);
  CU_ASSERT_EQUAL(json_get(d->root, "a")->i, 1); /* lookup finds the first */
  json_free(d);

  d = parse("{\"a\\u0000b\": 1, \"a\": 2, \"ab\": 3, \"\": 4}");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_EQUAL(json_dup_key(d->root, &dup), 0);
  CU_ASSERT_PTR_NULL(dup);
  CU_ASSERT_EQUAL(json_get(d->root, "a")->i, 2); /* the NUL-containing key is different */
  CU_ASSERT_EQUAL(json_get(d->root, "")->i, 4);
  json_free(d);

  d = parse("[1, 1]");
  CU_ASSERT_EQUAL(json_dup_key(d->root, &dup), 0); /* not an object */
  json_free(d);
}

static void test_prefixes_and_mutations(void) {
  const char *text = "{\"t\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
                     " \"s\": \"\\u00e9\\ud83d\\ude00\", \"x\": [true, false, null, -1.5e-3]}";
  size_t len = strlen(text);
  for (size_t n = 0; n < len; n++) {
    json_doc *d = json_parse(text, n, NULL, NULL, 0);
    CU_ASSERT_PTR_NULL(d);
    json_free(d);
  }
  char *buf = malloc(len);
  uint64_t s = 99;
  int ok = 0;
  for (int it = 0; it < 20000; it++) {
    memcpy(buf, text, len);
    for (int j = 0; j <= it % 3; j++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      buf[(s >> 8) % len] = (char)(s >> 32);
    }
    char err[128];
    json_doc *d = json_parse(buf, len, NULL, err, sizeof err);
    if (d) {
      ok++;
      CU_ASSERT(tree_in_block(d, d->root));
      json_free(d);
    } else {
      CU_ASSERT_PTR_NOT_NULL(strstr(err, "line "));
    }
  }
  CU_ASSERT(ok > 0);
  free(buf);
}

/* ---- writer ---- */

static char *write_to_string(const char *s, size_t n, int with_len) {
  char *out = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&out, &size);
  CU_ASSERT_EQUAL(with_len ? json_write_string_n(f, s, n) : json_write_string(f, s), 0);
  fclose(f);
  return out;
}

static void test_writer(void) {
  char *out = write_to_string("a\"b\\c\n\x01\x7f/\xc3\xa9", 0, 0);
  CU_ASSERT_STRING_EQUAL(out, "\"a\\\"b\\\\c\\n\\u0001\\u007f/\xc3\xa9\"");
  free(out);
  out = write_to_string("bad \xff\xc3 end", 0, 0);
  CU_ASSERT_STRING_EQUAL(out, "\"bad \\ufffd\\ufffd end\"");
  free(out);

  /* every byte 1..255 and a NUL, through the writer and back */
  char all[257];
  for (int i = 0; i < 256; i++) all[i] = (char)i;
  all[256] = 0;
  out = write_to_string(all, 256, 1);
  json_doc *d = parse(out);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_EQUAL(d->root->type, JSON_STRING);
  /* ASCII comes back unchanged; each of the 128 lone high bytes is U+FFFD */
  CU_ASSERT_EQUAL(d->root->len, 128 + 128 * 3);
  CU_ASSERT_EQUAL(memcmp(d->root->str, all, 128), 0);
  for (int i = 0; i < 128; i++)
    CU_ASSERT_EQUAL(memcmp(d->root->str + 128 + 3 * i, "\xef\xbf\xbd", 3), 0);
  json_free(d);
  free(out);

  const char *samples[] = {"", "plain", "tab\there", "quote\"s", "back\\slash",
                           "\xe2\x82\xac \xf0\x9f\x98\x80 caf\xc3\xa9", "enc/layer:0", "\x1b[0m"};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    out = write_to_string(samples[i], 0, 0);
    d = parse(out);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_EQUAL(d->root->len, strlen(samples[i]));
    CU_ASSERT_STRING_EQUAL(d->root->str, samples[i]);
    json_free(d);
    free(out);
  }

  FILE *ro = fopen("/dev/null", "r"); /* writing to a read-only stream fails */
  CU_ASSERT_PTR_NOT_NULL_FATAL(ro);
  CU_ASSERT_EQUAL(json_write_string(ro, "x"), -1);
  fclose(ro);
}

static void test_line_col(void) {
  int line, col;
  const char *t = "ab\ncd\n\nef";
  json_line_col(t, strlen(t), 0, &line, &col);
  CU_ASSERT(line == 1 && col == 1);
  json_line_col(t, strlen(t), 4, &line, &col);
  CU_ASSERT(line == 2 && col == 2);
  json_line_col(t, strlen(t), 7, &line, &col);
  CU_ASSERT(line == 4 && col == 1);
  json_line_col(t, strlen(t), 1000, &line, &col); /* clamped to the end */
  CU_ASSERT(line == 4 && col == 3);
}

TST_SUITE(json, TST(test_valid_document), TST(test_numbers), TST(test_strings),
          TST(test_errors_truncated), TST(test_errors_syntax), TST(test_errors_leading_zero),
          TST(test_errors_escapes), TST(test_errors_control_and_utf8), TST(test_errors_trailing),
          TST(test_errors_huge_numbers), TST(test_depth_and_count_limits),
          TST(test_duplicate_keys), TST(test_prefixes_and_mutations), TST(test_writer),
          TST(test_line_col))
