/*
 * test_safetensors.c: the safetensors reader on a file from the reference
 * writer (F32, F16, BF16, I64, a scalar, an empty tensor, metadata, a name
 * with '/' and ':', an F64 tensor it must refuse by name), on unaligned data,
 * and on crafted files that each break one rule the reference reader checks
 * (the message must say which rule and name the file and tensor). Header
 * cases that need no file go through st_parse_header in memory.
 *
 * Fixtures: tests/fixtures/safetensors/, made by
 * tests/fixtures/gen_safetensors_fixtures.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"
#include "tst.h"

#define ASSERT_HAS(hay, needle)                                                \
  do {                                                                         \
    if (!strstr((hay), (needle)))                                              \
      fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", (hay), (needle));   \
    CU_ASSERT_PTR_NOT_NULL(strstr((hay), (needle)));                           \
  } while (0)

static const char *fixture(const char *name) {
  static char buf[4][1024];
  static int slot;
  char *b = buf[slot++ % 4];
  snprintf(b, 1024, "%s", tst_src("tests/fixtures/safetensors/"));
  strncat(b, name, 1023 - strlen(b));
  return b;
}

static void check_shape(const st_entry *e, int rank, const int64_t *dims) {
  CU_ASSERT_EQUAL(e->rank, rank);
  for (int i = 0; i < rank && i < e->rank; i++) CU_ASSERT_EQUAL(e->dims[i], dims[i]);
}

static void test_good_file(void) {
  st_file f;
  char err[512] = "";
  int rc = st_open(fixture("good.safetensors"), &f, err, sizeof err);
  if (rc) fprintf(stderr, "\n  %s\n", err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(f.n_entries, 8);
  CU_ASSERT_EQUAL(f.data_start % 8, 0); /* the reference pads the header to 8 */
  CU_ASSERT_EQUAL(f.data_start + f.data_size, f.file_size);
  CU_ASSERT_EQUAL(f.n_meta, 2);
  CU_ASSERT_STRING_EQUAL(st_meta_get(&f, "format"), "np");
  CU_ASSERT_STRING_EQUAL(st_meta_get(&f, "note"), "dlc test \xc3\xa9");
  CU_ASSERT_PTR_NULL(st_meta_get(&f, "nope"));
  /* entries are in offset order and tile the data */
  uint64_t at = 0;
  for (size_t i = 0; i < f.n_entries; i++) {
    CU_ASSERT_EQUAL(f.entries[i].begin, at);
    at = f.entries[i].end;
  }
  CU_ASSERT_EQUAL(at, f.data_size);

  const st_entry *w = st_find(&f, "w32");
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  CU_ASSERT_EQUAL(w->dtype, RT_F32);
  CU_ASSERT_STRING_EQUAL(w->st_dtype, "F32");
  check_shape(w, 2, (int64_t[]){2, 3});
  CU_ASSERT_EQUAL(w->end - w->begin, 24);
  float wv[6], ww[6] = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f};
  CU_ASSERT_EQUAL(st_read(&f, w, wv, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(wv, ww, sizeof ww), 0);

  const st_entry *h = st_find(&f, "h16");
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  CU_ASSERT_EQUAL(h->dtype, RT_F16);
  uint16_t hv[4];
  float hw[4] = {0.5f, -1.0f, 2.0f, 65504.0f};
  CU_ASSERT_EQUAL(st_read(&f, h, hv, err, sizeof err), 0);
  for (int i = 0; i < 4; i++) CU_ASSERT_EQUAL(rt_f16_to_f32(hv[i]), hw[i]);

  const st_entry *b = st_find(&f, "b16");
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(b->dtype, RT_BF16);
  uint16_t bv[3];
  float bw[3] = {1.5f, -2.0f, 3.0e38f};
  CU_ASSERT_EQUAL(st_read(&f, b, bv, err, sizeof err), 0);
  for (int i = 0; i < 3; i++) CU_ASSERT_EQUAL(bv[i], rt_f32_to_bf16(bw[i]));

  const st_entry *ix = st_find(&f, "idx");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ix);
  CU_ASSERT_EQUAL(ix->dtype, RT_I64);
  int64_t iv[4], iw[4] = {1, -2, (int64_t)1 << 40, 0};
  CU_ASSERT_EQUAL(st_read(&f, ix, iv, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(iv, iw, sizeof iw), 0);

  const st_entry *nb = st_find(&f, "enc/layer:0.bias");
  CU_ASSERT_PTR_NOT_NULL_FATAL(nb);
  float nv[2];
  CU_ASSERT_EQUAL(st_read(&f, nb, nv, err, sizeof err), 0);
  CU_ASSERT(nv[0] == 7.0f && nv[1] == 8.0f);

  const st_entry *s = st_find(&f, "s");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_EQUAL(s->rank, 0);
  float sv = 0;
  CU_ASSERT_EQUAL(st_read(&f, s, &sv, err, sizeof err), 0);
  CU_ASSERT_EQUAL(sv, 0.25f);

  const st_entry *z = st_find(&f, "z");
  CU_ASSERT_PTR_NOT_NULL_FATAL(z);
  check_shape(z, 2, (int64_t[]){0, 4});
  CU_ASSERT_EQUAL(z->begin, z->end);
  CU_ASSERT_EQUAL(st_read(&f, z, &sv, err, sizeof err), 0);

  /* a known dtype dlc does not support: in the file, refused on read */
  const st_entry *d = st_find(&f, "f64");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_EQUAL(d->dtype, -1);
  CU_ASSERT_STRING_EQUAL(d->st_dtype, "F64");
  double dv[2];
  CU_ASSERT_EQUAL(st_read(&f, d, dv, err, sizeof err), -1);
  ASSERT_HAS(err, "good.safetensors: tensor 'f64' has dtype F64, which dlc does not support");

  CU_ASSERT_PTR_NULL(st_find(&f, "missing"));
  CU_ASSERT_PTR_NULL(st_find(&f, "w3"));
  CU_ASSERT_PTR_NULL(st_find(&f, "__metadata__"));
  st_entry fake = *w;
  CU_ASSERT_EQUAL(st_read(&f, &fake, wv, err, sizeof err), -1); /* not from this file */
  st_close(&f);
  CU_ASSERT_EQUAL(f.fd, -1);
  st_close(&f); /* twice is harmless */
}

static void test_unaligned(void) {
  st_file f;
  char err[512] = "";
  CU_ASSERT_EQUAL_FATAL(st_open(fixture("unaligned.safetensors"), &f, err, sizeof err), 0);
  const st_entry *b = st_find(&f, "b");
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(b->begin, 2);
  CU_ASSERT_NOT_EQUAL((f.data_start + b->begin) % 4, 0); /* really unaligned in the file */
  unsigned char raw[9];
  float v[2];
  CU_ASSERT_EQUAL(st_read(&f, b, raw + 1, err, sizeof err), 0); /* unaligned destination too */
  memcpy(v, raw + 1, 8);
  CU_ASSERT(v[0] == 1.25f && v[1] == -3.5f);
  uint16_t a;
  CU_ASSERT_EQUAL(st_read(&f, st_find(&f, "a"), &a, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_f16_to_f32(a), 0.75f);
  st_close(&f);
}

static void expect_open_fails(const char *name, const char *what) {
  st_file f;
  char err[512] = "";
  const char *path = fixture(name);
  CU_ASSERT_EQUAL(st_open(path, &f, err, sizeof err), -1);
  CU_ASSERT_EQUAL(f.fd, -1);
  CU_ASSERT_PTR_NULL(f.doc);
  ASSERT_HAS(err, path);
  ASSERT_HAS(err, what);
}

static void test_bad_files(void) {
  expect_open_fails("truncated.safetensors",
                    "tensor 'b16': data_offsets [84, 90] run past the end of the data section (88 "
                    "bytes; is the file truncated?)");
  expect_open_fails("trailing.safetensors", "4 bytes of data after the last tensor");
  expect_open_fails("header_past_end.safetensors",
                    "header length 1000 runs past the end of the file (66 bytes)");
  expect_open_fails("huge_header.safetensors",
                    "header length 9223372036854775813 exceeds the limit of 100000000 bytes");
  expect_open_fails("overlap.safetensors",
                    "tensor 'b': data_offsets [8, 16] overlap tensor 'a' [0, 12]");
  expect_open_fails(
      "gap.safetensors",
      "tensor 'b': data_offsets [12, 16] leave a gap: data bytes [8, 12) belong to no tensor");
  expect_open_fails(
      "out_of_range.safetensors",
      "tensor 'b': data_offsets [1152921504606846976, 1152921504606846984] run past the end");
  expect_open_fails("size_mismatch.safetensors",
                    "tensor 'a': data_offsets [0, 16] hold 16 bytes, but F32 [2, 3] needs 24");
  expect_open_fails("not_object.safetensors", "the header must be a JSON object, found array");
  expect_open_fails("bad_dtype.safetensors", "tensor 'a': unknown dtype 'F33'");
  expect_open_fails("duplicate.safetensors", "duplicate tensor name 'a'");

  st_file f;
  char err[512];
  CU_ASSERT_EQUAL(st_open(fixture("no_such.safetensors"), &f, err, sizeof err), -1);
  ASSERT_HAS(err, "cannot open");
  CU_ASSERT_EQUAL(st_open(tst_src("tests/fixtures"), &f, err, sizeof err), -1);
  ASSERT_HAS(err, "not a regular file");
  CU_ASSERT_EQUAL(st_open(fixture("../npy/v1_f32_2x3.npy"), &f, err, sizeof err), -1);
  ASSERT_HAS(err, "exceeds the limit"); /* the npy magic read as a length */
}

/* ---- in memory ---- */

/* A file image: length, header text, then data_bytes bytes of data. */
static unsigned char *image_n(const char *header, size_t n, size_t data_bytes, size_t *len) {
  *len = 8 + n + data_bytes;
  unsigned char *b = calloc(*len, 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
  memcpy(b + 8, header, n);
  return b;
}

static unsigned char *image(const char *header, size_t data_bytes, size_t *len) {
  return image_n(header, strlen(header), data_bytes, len);
}

static int parse_mem(const char *header, size_t data_bytes, char *err, size_t err_size) {
  size_t len;
  unsigned char *b = image(header, data_bytes, &len);
  st_file f;
  int rc = st_parse_header("mem.safetensors", b, len, len, &f, err, err_size);
  st_close(&f);
  free(b);
  return rc;
}

static void mem_bad(const char *header, size_t data_bytes, const char *what) {
  char err[512] = "";
  CU_ASSERT_EQUAL(parse_mem(header, data_bytes, err, sizeof err), -1);
  if (!strstr(err, what)) fprintf(stderr, "\n  header %s", header);
  ASSERT_HAS(err, "mem.safetensors: ");
  ASSERT_HAS(err, what);
}

static void mem_ok(const char *header, size_t data_bytes) {
  char err[512] = "";
  int rc = parse_mem(header, data_bytes, err, sizeof err);
  if (rc) fprintf(stderr, "\n  %s\n", err);
  CU_ASSERT_EQUAL(rc, 0);
}

#define T(name, dt, shape, b, e) \
  "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_header_rules(void) {
  mem_ok("{}", 0);
  mem_ok("{}      ", 0); /* the reference pads with spaces */
  mem_ok("{\"__metadata__\":null," T("a", "F32", "[2]", 0, 8) "}", 8);
  mem_ok("{" T("b", "I64", "[1]", 8, 16) "," T("a", "F32", "[2]", 0, 8) "}", 16); /* any order */
  mem_ok("{" T("a", "F4", "[4]", 0, 2) "}", 2); /* 4-bit packed */
  mem_ok("{" T("e", "F32", "[0]", 0, 0) "," T("a", "U8", "[3]", 0, 3) ","
         T("f", "BOOL", "[]", 3, 4) "}", 4);

  mem_bad("{}", 4, "4 bytes of data after the last tensor");
  mem_bad("{\"a\": }", 0, "invalid header JSON at line 1, column 7 (byte 6)");
  mem_bad("{\"__metadata__\":{\"k\":1}}", 0,
          "\"__metadata__\" value of 'k' must be a string, found number");
  mem_bad("{\"__metadata__\":[]}", 0, "\"__metadata__\" must be an object, found array");
  mem_bad("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "\"__metadata__\": duplicate key 'k'");
  mem_bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate tensor name '__metadata__'");
  mem_bad("{\"a\":[1]}", 0, "tensor 'a': expected an object, found array");
  mem_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a': missing \"data_offsets\"");
  mem_bad("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
          "tensor 'a': duplicate field 'dtype'");
  mem_bad("{" T("a", "f32", "[1]", 0, 4) "}", 4, "unknown dtype 'f32'");
  mem_bad("{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
          "\"dtype\" must be a string");
  mem_bad("{" T("a", "F32", "[-1]", 0, 4) "}", 4, "shape[0] is not a non-negative integer (-1)");
  mem_bad("{" T("a", "F32", "[2.0]", 0, 8) "}", 8, "shape[0] is not a non-negative integer (2.0)");
  mem_bad("{" T("a", "F32", "[\"2\"]", 0, 8) "}", 8,
          "shape[0] is not a non-negative integer (string)");
  mem_bad("{" T("a", "F32", "2", 0, 8) "}", 8, "\"shape\" must be an array");
  mem_bad("{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "rank 9 exceeds the maximum of 8");
  mem_bad("{" T("a", "F32", "[4294967296,4294967296]", 0, 8) "}", 8, "shape too large");
  mem_bad("{" T("a", "F32", "[99999999999999999999]", 0, 8) "}", 8,
          "shape[0] is not a non-negative integer");
  mem_bad("{" T("a", "F4", "[3]", 0, 2) "}", 2, "F4 shape does not fill whole bytes");
  mem_bad("{" T("a", "F32", "[0]", 4, 0) "}", 4, "data_offsets [4, 0]: BEGIN is after END");
  mem_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
          "must be [BEGIN, END]");
  mem_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4,
          "must be [BEGIN, END]");
  mem_bad("{" T("a", "F32", "[1]", 4, 8) "}", 8, "data bytes [0, 4) belong to no tensor");
  mem_bad("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[2]", 0, 8) "}", 16, "overlap tensor");
  mem_bad("{" T("a", "F32", "[2]", 0, 8) "," T("b", "F32", "[0]", 4, 4) "}", 8,
          "tensor 'b': data_offsets [4, 4] overlap tensor 'a' [0, 8]");

  /* NUL padding is not JSON (the reference pads with spaces) */
  char err[512];
  st_file f;
  size_t len;
  unsigned char *b = image_n("{}\0\0\0\0\0\0", 8, 0, &len);
  CU_ASSERT_EQUAL(st_parse_header("m", b, len, len, &f, err, sizeof err), -1);
  ASSERT_HAS(err, "m: invalid header JSON at line 1, column 3 (byte 2): unexpected byte 0x00");
  free(b);

  /* framing, before any JSON */
  unsigned char small[8] = {0};
  CU_ASSERT_EQUAL(st_parse_header("m", small, 7, 7, &f, err, sizeof err), -1);
  ASSERT_HAS(err, "m: too small for a safetensors file (7 bytes)");
  b = image("{}", 0, &len);
  CU_ASSERT_EQUAL(st_parse_header("m", b, 9, len, &f, err, sizeof err), -1);
  ASSERT_HAS(err, "m: header needs 10 bytes, only 9 available");
  b[0] = 0x01, b[3] = 0x10; /* 0x10000001 > ST_MAX_HEADER */
  CU_ASSERT_EQUAL(st_parse_header("m", b, len, len, &f, err, sizeof err), -1);
  ASSERT_HAS(err, "header length 268435457 exceeds the limit of 100000000 bytes");
  free(b);

  /* names in messages are escaped and cut */
  char big[400];
  snprintf(big, sizeof big,
           "{\"bad\\u0001name%0200d\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", 0);
  CU_ASSERT_EQUAL(parse_mem(big, 0, err, sizeof err), -1);
  ASSERT_HAS(err, "tensor 'bad\\x01name000");
  ASSERT_HAS(err, "...'");
  CU_ASSERT(strlen(err) < 200);

  /* an in-memory header has no file to read from */
  b = image("{" T("a", "F32", "[1]", 0, 4) "}", 4, &len);
  CU_ASSERT_EQUAL_FATAL(st_parse_header("m", b, len, len, &f, err, sizeof err), 0);
  float v;
  CU_ASSERT_EQUAL(st_read(&f, st_find(&f, "a"), &v, err, sizeof err), -1);
  ASSERT_HAS(err, "no file open");
  st_close(&f);
  free(b);
}

/* Byte flips over a good file image: parse answers 0 or -1, never crashes,
 * and what it accepts tiles its data. Run under -DDLC_SANITIZE for reads
 * out of bounds. */
static void test_mutations(void) {
  size_t len;
  unsigned char *good = image("{\"__metadata__\":{\"k\":\"v\"}," T("a", "F16", "[2,1]", 0, 4) ","
                              T("b", "I64", "[1]", 4, 12) "}", 12, &len);
  unsigned char *b = malloc(len);
  uint64_t s = 7;
  int ok = 0;
  for (int it = 0; it < 20000; it++) {
    memcpy(b, good, len);
    for (int j = 0; j <= it % 3; j++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      b[(s >> 8) % len] = (unsigned char)(s >> 32);
    }
    st_file f;
    char err[256];
    int rc = st_parse_header("m", b, len, len, &f, err, sizeof err);
    CU_ASSERT(rc == 0 || rc == -1);
    if (rc == 0) {
      ok++;
      uint64_t at = 0;
      for (size_t i = 0; i < f.n_entries; i++) {
        CU_ASSERT_EQUAL(f.entries[i].begin, at);
        at = f.entries[i].end;
      }
      CU_ASSERT_EQUAL(at, f.data_size);
    }
    st_close(&f);
  }
  CU_ASSERT(ok > 0);
  free(b);
  free(good);
}

TST_SUITE(safetensors, TST(test_good_file), TST(test_unaligned), TST(test_bad_files),
          TST(test_header_rules), TST(test_mutations))
