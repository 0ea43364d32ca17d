/*
 * test_npy.c: the .npy reader against files numpy wrote (every header
 * version, scalar to 4-D, each supported dtype), the files and headers it
 * must refuse with a useful message, partial row reads, the writer's
 * byte-for-byte agreement with np.save, its all-or-nothing commit and abort,
 * and the tensor-name to file-name mapping.
 *
 * Fixtures: tests/fixtures/npy/, made by tests/fixtures/gen_npy_fixtures.py.
 */
#define _FILE_OFFSET_BITS 64 /* the sparse-file test seeks past 4 GiB */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "tst.h"

static const char *fixture(const char *name) {
  static char buf[4][1024];
  static int slot;
  char *b = buf[slot++ % 4];
  snprintf(b, 1024, "%s", tst_src("tests/fixtures/npy/"));
  strncat(b, name, 1023 - strlen(b));
  return b;
}

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

static void write_all(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* Entries in dir other than . and .. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

#define ASSERT_HAS(hay, needle)                                                \
  do {                                                                         \
    if (!strstr((hay), (needle)))                                              \
      fprintf(stderr, "\n  message \"%s\" lacks \"%s\"\n", (hay), (needle));   \
    CU_ASSERT_PTR_NOT_NULL(strstr((hay), (needle)));                           \
  } while (0)

/* ---- good files ---- */

static void check_f32_2x3(const char *name, int version) {
  rt_npy_reader r;
  char err[512] = "";
  int rc = rt_npy_open(fixture(name), &r, err, sizeof err);
  if (rc) fprintf(stderr, "\n  %s\n", err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(r.info.version_major, version);
  CU_ASSERT_EQUAL(r.info.dtype, RT_F32);
  CU_ASSERT_EQUAL(r.info.rank, 2);
  CU_ASSERT_EQUAL(r.info.dims[0], 2);
  CU_ASSERT_EQUAL(r.info.dims[1], 3);
  CU_ASSERT_EQUAL(r.info.data_bytes, 24);
  CU_ASSERT_EQUAL(r.info.data_offset, 128);
  CU_ASSERT_EQUAL(r.n_rows, 2);
  CU_ASSERT_EQUAL(r.row_bytes, 12);
  ASSERT_HAS(r.info.descr, "'<f4' (float32)");
  float got[6], want[6] = {-1, -0.5f, 0, 0.5f, 1, 1.5f};
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, 2, got, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(got, want, sizeof want), 0);
  rt_npy_close(&r);
  CU_ASSERT_EQUAL(r.fd, -1);
}

static void test_versions(void) {
  check_f32_2x3("v1_f32_2x3.npy", 1);
  check_f32_2x3("v2_f32_2x3.npy", 2);
  check_f32_2x3("v3_f32_2x3.npy", 3);
}

static void test_scalar(void) {
  rt_npy_reader r;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(fixture("scalar_f32.npy"), &r, err, sizeof err), 0);
  CU_ASSERT_EQUAL(r.info.rank, 0);
  CU_ASSERT_EQUAL(r.info.data_bytes, 4);
  CU_ASSERT_EQUAL(r.n_rows, 1);
  float v = 0;
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, 1, &v, err, sizeof err), 0);
  CU_ASSERT_EQUAL(v, 3.25f);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 1, 1, &v, err, sizeof err), -1);
  rt_npy_close(&r);
}

static void test_int64(void) {
  rt_npy_reader r;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(fixture("vec_i64.npy"), &r, err, sizeof err), 0);
  CU_ASSERT_EQUAL(r.info.dtype, RT_I64);
  CU_ASSERT_EQUAL(r.info.rank, 1);
  CU_ASSERT_EQUAL(r.info.dims[0], 5);
  int64_t v[5], want[5] = {-3, 0, (int64_t)1 << 40, -((int64_t)1 << 62), 7};
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, 5, v, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(v, want, sizeof want), 0);
  rt_npy_close(&r);
}

static void test_f16_4d(void) {
  rt_npy_reader r;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(fixture("f16_2x3x1x2.npy"), &r, err, sizeof err), 0);
  CU_ASSERT_EQUAL(r.info.dtype, RT_F16);
  CU_ASSERT_EQUAL(r.info.rank, 4);
  int64_t dims[4] = {2, 3, 1, 2};
  CU_ASSERT_EQUAL(memcmp(r.info.dims, dims, sizeof dims), 0);
  CU_ASSERT_EQUAL(r.row_bytes, 12);
  uint16_t h[12];
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, 2, h, err, sizeof err), 0);
  for (int k = 0; k < 12; k++) CU_ASSERT_EQUAL(rt_f16_to_f32(h[k]), k / 8.0f - 1);
  rt_npy_close(&r);
}

static void test_bf16(void) {
  rt_npy_reader r;
  char err[512];
  int rc = rt_npy_open(fixture("bf16_5.npy"), &r, err, sizeof err);
  if (rc) fprintf(stderr, "\n  %s\n", err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(r.info.dtype, RT_BF16);
  ASSERT_HAS(r.info.descr, "'<V2' (bfloat16)");
  uint16_t h[5];
  float want[5] = {1.5f, -2.0f, 0.15625f, 256.0f, -0.0f};
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, 5, h, err, sizeof err), 0);
  for (int k = 0; k < 5; k++) CU_ASSERT_EQUAL(h[k], rt_f32_to_bf16(want[k]));
  CU_ASSERT_EQUAL(h[4], 0x8000);
  rt_npy_close(&r);
}

static void test_partial_rows(void) {
  rt_npy_reader r;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(fixture("v1_f32_2x3.npy"), &r, err, sizeof err), 0);
  float row[3] = {9, 9, 9}, want[3] = {0.5f, 1, 1.5f};
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 1, 1, row, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(row, want, sizeof want), 0);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 2, 0, row, err, sizeof err), 0); /* empty range at the end */
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 1, 2, row, err, sizeof err), -1);
  ASSERT_HAS(err, "v1_f32_2x3.npy: rows [1, 3) out of range (the file has 2 rows)");
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, -1, 1, row, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, -1, row, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, INT64_MAX, INT64_MAX, row, err, sizeof err), -1);
  rt_npy_close(&r);

  CU_ASSERT_EQUAL_FATAL(rt_npy_open(fixture("empty_0x3_f32.npy"), &r, err, sizeof err), 0);
  CU_ASSERT_EQUAL(r.n_rows, 0);
  CU_ASSERT_EQUAL(r.info.data_bytes, 0);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, 0, row, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, 1, row, err, sizeof err), -1);
  rt_npy_close(&r);
}

/* ---- refused files ---- */

static void expect_open_fails(const char *path, const char *what) {
  rt_npy_reader r;
  char err[512] = "";
  CU_ASSERT_EQUAL(rt_npy_open(path, &r, err, sizeof err), -1);
  CU_ASSERT_EQUAL(r.fd, -1);
  ASSERT_HAS(err, path); /* errors name the file */
  ASSERT_HAS(err, what);
}

static void test_refused_files(void) {
  expect_open_fails(fixture("fortran_f32.npy"),
                    "Fortran order not supported; save with np.ascontiguousarray");
  expect_open_fails(fixture("be_f32.npy"), "big-endian dtype '>f4' (float32)");
  expect_open_fails(fixture("be_f32.npy"), "a.astype('<f4')");
  expect_open_fails(fixture("f64.npy"), "unsupported dtype '<f8' (float64)");
  expect_open_fails(fixture("structured.npy"), "[('a', '<f4'), ('b', '<i4')] (structured)");
  expect_open_fails(fixture("object.npy"), "unsupported dtype '|O' (object)");
  expect_open_fails(fixture("truncated.npy"),
                    "truncated: header says 24 bytes of data, file has 19");
  expect_open_fails(fixture("trailing.npy"), "3 unexpected bytes after the data");
  expect_open_fails(fixture("no_such_file.npy"), "cannot open");
  expect_open_fails(tst_src("tests/fixtures/npy"), "not a regular file");
}

/* ---- crafted headers (in memory) ---- */

/* A file prefix with the given version and dict, padded like numpy's. */
static size_t make_npy(unsigned char *buf, int major, const char *dict) {
  size_t prefix = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t hlen = dl + 1;
  hlen += 64 - (prefix + hlen) % 64;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)major;
  buf[7] = 0;
  buf[8] = (unsigned char)(hlen & 0xff);
  buf[9] = (unsigned char)(hlen >> 8);
  if (major > 1) buf[10] = buf[11] = 0;
  memcpy(buf + prefix, dict, dl);
  memset(buf + prefix + dl, ' ', hlen - dl);
  buf[prefix + hlen - 1] = '\n';
  return prefix + hlen;
}

static int parse_dict(int major, const char *dict, rt_npy_info *info, char *err, size_t n) {
  unsigned char buf[1024];
  size_t len = make_npy(buf, major, dict);
  return rt_npy_parse_header(buf, len, info, err, n);
}

static void expect_header_ok(int major, const char *dict, int rank, int64_t d0) {
  rt_npy_info info;
  char err[512] = "";
  int rc = parse_dict(major, dict, &info, err, sizeof err);
  if (rc) fprintf(stderr, "\n  %s: %s\n", dict, err);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(info.rank, rank);
  if (rank > 0) CU_ASSERT_EQUAL(info.dims[0], d0);
}

static void expect_header_bad(int major, const char *dict, const char *what) {
  rt_npy_info info;
  char err[512] = "";
  CU_ASSERT_EQUAL(parse_dict(major, dict, &info, err, sizeof err), -1);
  if (!strstr(err, what)) fprintf(stderr, "\n  for %s\n", dict);
  ASSERT_HAS(err, what);
}

static void test_header_syntax(void) {
  /* what other writers emit: any key order, double quotes, no trailing
   * comma, odd spacing and newlines */
  expect_header_ok(1, "{\"shape\": (7,), \"descr\": \"<f4\", \"fortran_order\": False}", 1, 7);
  expect_header_ok(1, "{ 'fortran_order':False,'shape':(2,3,),\n'descr':'<i8' ,}", 2, 2);
  expect_header_ok(3, "{'descr': '<f2', 'fortran_order': False, 'shape': (), }", 0, 0);
  expect_header_ok(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 2, 2);
  expect_header_bad(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }",
                    "expected ',' or ')'");

  expect_header_bad(1, "{'descr' '<f4', 'fortran_order': False, 'shape': (3,), }",
                    "expected ':' after a key");
  expect_header_bad(1, "{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }",
                    "expected ',' or '}'");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)",
                    "expected ',' or '}'");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }",
                    "'shape' must be a tuple: write (N,)");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }",
                    "'shape' must be a tuple of ints");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3.5,), }",
                    "expected ',' or ')'");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }",
                    "'fortran_order' must be True or False");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (3,), }",
                    "'fortran_order' must be True or False");
  expect_header_bad(1, "{'descr': '<f4', 'shape': (3,), }", "no 'fortran_order' key");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}",
                    "unexpected key");
  expect_header_bad(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}",
                    "duplicate key");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x",
                    "unexpected text after the dict");
  expect_header_bad(1, "['descr', '<f4']", "expected '{'");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (03,), }",
                    "leading zero");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -2), }",
                    "negative dimension -2 in 'shape'");
  expect_header_bad(1,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                    "integer too large");
  expect_header_bad(1,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }",
                    "shape too large");
  /* a zero dimension must not hide an overflowing row size */
  expect_header_bad(1,
                    "{'descr': '<f4', 'fortran_order': False, "
                    "'shape': (0, 4294967296, 4294967296), }",
                    "shape too large");
  expect_header_bad(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
                    "more than 8 dimensions");
  expect_header_bad(1, "{'descr': '|f4', 'fortran_order': False, 'shape': (3,), }",
                    "'|' (no byte order) is only valid for 1-byte types");
  expect_header_bad(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
                    "unsupported dtype '|u1' (uint8)");
  expect_header_bad(1, "{'descr': '>V2', 'fortran_order': False, 'shape': (3,), }", "big-endian");
  expect_header_bad(1, "{'descr': '|V2', 'fortran_order': False, 'shape': (3,), }",
                    "'|V2' (void)");
  expect_header_bad(1, "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (3,), }",
                    "'<M8[ns]' (datetime64)");

  /* an exact numpy header parses, with its 64-byte-aligned data offset */
  rt_npy_info info;
  char err[512];
  CU_ASSERT_EQUAL(parse_dict(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 4), }",
                             &info, err, sizeof err), 0);
  CU_ASSERT_EQUAL(info.version_major, 2);
  CU_ASSERT_EQUAL(info.data_offset, 128);
  CU_ASSERT_EQUAL(info.data_bytes, 80);
}

static void test_header_framing(void) {
  unsigned char buf[1024];
  rt_npy_info info;
  char err[512];
  size_t len = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");

  /* every strict prefix of a good header is an error, never a crash */
  for (size_t n = 0; n < len; n++)
    CU_ASSERT_EQUAL(rt_npy_parse_header(buf, n, &info, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_parse_header(buf, len, &info, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_parse_header(buf, 20, &info, err, sizeof err), -1);
  CU_ASSERT_EQUAL(len, 128);
  ASSERT_HAS(err, "truncated .npy header: it needs 128 bytes, only 20 available");

  unsigned char bad[1024];
  memcpy(bad, buf, len);
  bad[5] = 'Z';
  CU_ASSERT_EQUAL(rt_npy_parse_header(bad, len, &info, err, sizeof err), -1);
  ASSERT_HAS(err, "not a .npy file");

  memcpy(bad, buf, len);
  bad[6] = 4;
  CU_ASSERT_EQUAL(rt_npy_parse_header(bad, len, &info, err, sizeof err), -1);
  ASSERT_HAS(err, "unsupported .npy format version 4.0");
  bad[6] = 1;
  bad[7] = 1;
  CU_ASSERT_EQUAL(rt_npy_parse_header(bad, len, &info, err, sizeof err), -1);
  ASSERT_HAS(err, "version 1.1");

  /* absurd lengths are refused before anything is read or allocated */
  len = make_npy(bad, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
  bad[8] = 0xff, bad[9] = 0xff, bad[10] = 0xff, bad[11] = 0x7f;
  CU_ASSERT_EQUAL(rt_npy_parse_header(bad, len, &info, err, sizeof err), -1);
  ASSERT_HAS(err, "header length 2147483647 exceeds the limit of 65536 bytes");
  bad[8] = 0xff, bad[9] = 0xff, bad[10] = 0, bad[11] = 0; /* within the limit, past the end */
  CU_ASSERT_EQUAL(rt_npy_parse_header(bad, len, &info, err, sizeof err), -1);
  ASSERT_HAS(err, "truncated .npy header");

  memcpy(bad, buf, 128);
  bad[30] = 0; /* NUL inside the dict */
  CU_ASSERT_EQUAL(rt_npy_parse_header(bad, 128, &info, err, sizeof err), -1);
  ASSERT_HAS(err, "NUL byte in header");
}

/* Random byte flips in a good header: the parser answers 0 or -1, and
 * whatever it accepts is self-consistent. Run under -DDLC_SANITIZE to catch
 * out-of-bounds reads. */
static void test_header_mutations(void) {
  unsigned char good[1024], buf[1024];
  size_t len = make_npy(good, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }");
  uint64_t s = 12345;
  int accepted = 0;
  for (int it = 0; it < 20000; it++) {
    memcpy(buf, good, len);
    int flips = 1 + it % 4;
    for (int j = 0; j < flips; j++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      buf[(s >> 8) % len] = (unsigned char)(s >> 32);
    }
    rt_npy_info info;
    char err[256];
    int rc = rt_npy_parse_header(buf, len, &info, err, sizeof err);
    CU_ASSERT(rc == 0 || rc == -1);
    if (rc == 0) {
      accepted++;
      uint64_t n = rt_dtype_size(info.dtype);
      for (int i = 0; i < info.rank; i++) n *= (uint64_t)info.dims[i];
      CU_ASSERT_EQUAL(n, info.data_bytes);
      CU_ASSERT(info.data_offset <= len);
    }
  }
  CU_ASSERT(accepted > 0); /* flips in the padding are harmless */
}

static void test_bad_header_file_named(void) {
  const char *dir = tst_tmpdir();
  char path[1024];
  snprintf(path, sizeof path, "%s/bad.npy", dir);
  unsigned char buf[1024];
  size_t len = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }");
  write_all(path, buf, len);
  expect_open_fails(path, "negative dimension -3");
  write_all(path, "\x93NUMPY\x01", 7);
  expect_open_fails(path, "truncated .npy header: only 7 bytes");
  write_all(path, "", 0);
  expect_open_fails(path, "truncated .npy header: only 0 bytes");
  write_all(path, "PK\x03\x04 zip", 8);
  expect_open_fails(path, "not a .npy file");
  tst_rmtree(dir);
}

/* A sparse file of 4 GiB + 32 bytes of data: offsets past 2^32 work, and
 * opening it reads only the header. */
static void test_large_sparse_file(void) {
  const char *dir = tst_tmpdir();
  char path[1024], dict[160];
  snprintf(path, sizeof path, "%s/big.npy", dir);
  int64_t rows = ((int64_t)1 << 28) + 2; /* 16-byte rows */
  snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, 4), }",
           (long long)rows);
  unsigned char head[1024];
  size_t hl = make_npy(head, 1, dict);
  uint64_t total = hl + (uint64_t)rows * 16;
  float marker[4] = {1, 2, 3, 4}, mid[4] = {-7, 8, -9, 10};
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CU_ASSERT_FATAL(fd >= 0);
  int made = write(fd, head, hl) == (ssize_t)hl &&
             pwrite(fd, mid, 16, (off_t)(hl + ((uint64_t)1 << 28) * 16 - 16)) == 16 &&
             pwrite(fd, marker, 16, (off_t)(total - 16)) == 16;
  close(fd);
  if (!made) { /* a file system without 4 GiB files: nothing to test here */
    fprintf(stderr, "\n  skipped: cannot make a sparse 4 GiB file in %s: %s\n", dir,
            strerror(errno));
    tst_rmtree(dir);
    return;
  }
  rt_npy_reader r;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(path, &r, err, sizeof err), 0);
  CU_ASSERT_EQUAL(r.n_rows, rows);
  CU_ASSERT_EQUAL(r.info.data_bytes, (uint64_t)rows * 16);
  float got[12] = {0};
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, rows - 1, 1, got, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(got, marker, 16), 0);
  /* the row ending at data byte 2^32, a hole, the last row */
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, ((int64_t)1 << 28) - 1, 3, got, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(got, mid, 16), 0);
  CU_ASSERT(got[4] == 0 && got[5] == 0 && got[6] == 0 && got[7] == 0);
  CU_ASSERT_EQUAL(memcmp(got + 8, marker, 16), 0);
  rt_npy_close(&r);
  tst_rmtree(dir);
}

/* ---- writer ---- */

static void test_writer_matches_numpy(void) {
  /* the writer's bytes equal np.save's for the same array */
  const char *dir = tst_tmpdir();
  rt_npy_writer w;
  char err[512] = "";
  int64_t dims[2] = {2, 3};
  float data[6] = {-1, -0.5f, 0, 0.5f, 1, 1.5f};
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, "a.npy", RT_F32, 2, dims, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, data, 12, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, data + 3, 12, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_commit(&w, err, sizeof err), 0);
  char path[1024];
  snprintf(path, sizeof path, "%s/a.npy", dir);
  size_t n1, n2;
  unsigned char *mine = read_all(path, &n1), *theirs = read_all(fixture("v1_f32_2x3.npy"), &n2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(mine);
  CU_ASSERT_PTR_NOT_NULL_FATAL(theirs);
  CU_ASSERT_EQUAL(n1, n2);
  CU_ASSERT(n1 == n2 && memcmp(mine, theirs, n1) == 0);
  free(mine);
  free(theirs);

  int64_t d4[4] = {2, 3, 1, 2};
  uint16_t h[12];
  for (int k = 0; k < 12; k++) h[k] = rt_f32_to_f16(k / 8.0f - 1);
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, "h.npy", RT_F16, 4, d4, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, h, sizeof h, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_commit(&w, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s/h.npy", dir);
  mine = read_all(path, &n1);
  theirs = read_all(fixture("f16_2x3x1x2.npy"), &n2);
  CU_ASSERT(mine && theirs && n1 == n2 && memcmp(mine, theirs, n1) == 0);
  free(mine);
  free(theirs);
  CU_ASSERT_EQUAL(count_entries(dir), 2); /* no temporaries left */
  tst_rmtree(dir);
}

static void roundtrip(const char *dir, rt_dtype dt, int rank, const int64_t *dims) {
  size_t es = rt_dtype_size(dt), n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
  unsigned char *data = malloc(n * es + 1), *back = malloc(n * es + 1);
  for (size_t i = 0; i < n * es; i++) data[i] = (unsigned char)(i * 37 + 11);
  rt_npy_writer w;
  char err[512] = "";
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, "rt.npy", dt, rank, dims, err, sizeof err), 0);
  /* written in uneven pieces */
  size_t done = 0, piece = 1;
  while (done < n * es) {
    size_t k = piece < n * es - done ? piece : n * es - done;
    CU_ASSERT_EQUAL(rt_npy_writer_write(&w, data + done, k, err, sizeof err), 0);
    done += k;
    piece = piece * 3 + 1;
  }
  int rc = rt_npy_writer_commit(&w, err, sizeof err);
  if (rc) fprintf(stderr, "\n  %s\n", err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  char path[1024];
  snprintf(path, sizeof path, "%s/rt.npy", dir);
  rt_npy_reader r;
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(path, &r, err, sizeof err), 0);
  CU_ASSERT_EQUAL(r.info.dtype, dt);
  CU_ASSERT_EQUAL(r.info.rank, rank);
  CU_ASSERT_EQUAL(r.info.data_offset % 64, 0);
  if (rank > 0) CU_ASSERT_EQUAL(memcmp(r.info.dims, dims, (size_t)rank * sizeof *dims), 0);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&r, 0, r.n_rows, back, err, sizeof err), 0);
  CU_ASSERT_EQUAL(memcmp(data, back, n * es), 0);
  /* the last row alone */
  if (r.n_rows > 1) {
    CU_ASSERT_EQUAL(rt_npy_read_rows(&r, r.n_rows - 1, 1, back, err, sizeof err), 0);
    CU_ASSERT_EQUAL(memcmp(data + (size_t)(r.n_rows - 1) * r.row_bytes, back, r.row_bytes), 0);
  }
  rt_npy_close(&r);
  free(data);
  free(back);
}

static void test_roundtrip(void) {
  const char *dir = tst_tmpdir();
  int64_t d1[1] = {1000}, d2[2] = {17, 5}, d4[4] = {3, 1, 4, 2},
          d8[8] = {2, 1, 2, 1, 3, 1, 1, 2}, d0[2] = {0, 9};
  roundtrip(dir, RT_F32, 0, NULL);
  roundtrip(dir, RT_F32, 1, d1);
  roundtrip(dir, RT_F16, 2, d2);
  roundtrip(dir, RT_BF16, 4, d4);
  roundtrip(dir, RT_I64, 8, d8);
  roundtrip(dir, RT_F32, 2, d0);
  roundtrip(dir, RT_I64, 1, d1); /* replaces the existing rt.npy */
  CU_ASSERT_EQUAL(count_entries(dir), 1);
  tst_rmtree(dir);
}

static void test_writer_misuse(void) {
  const char *dir = tst_tmpdir();
  rt_npy_writer w;
  char err[512] = "";
  int64_t dims[1] = {4};
  float v[5] = {1, 2, 3, 4, 5};

  /* short: commit refuses and removes the temporary */
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, "y.npy", RT_F32, 1, dims, err, sizeof err), 0);
  CU_ASSERT_EQUAL(count_entries(dir), 1); /* the temporary */
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, v, 12, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_commit(&w, err, sizeof err), -1);
  ASSERT_HAS(err, "y.npy: only 12 of the 16 declared data bytes were written");
  CU_ASSERT_EQUAL(count_entries(dir), 0);
  rt_npy_writer_abort(&w); /* harmless after a failed commit */

  /* too long: the write fails, so does the commit, nothing is left */
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, "y.npy", RT_F32, 1, dims, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, v, 20, err, sizeof err), -1);
  ASSERT_HAS(err, "would exceed the 16 declared");
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, v, 4, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_writer_commit(&w, err, sizeof err), -1);
  CU_ASSERT_EQUAL(count_entries(dir), 0);

  /* abort leaves nothing, and never touches an existing output */
  char path[1024];
  snprintf(path, sizeof path, "%s/y.npy", dir);
  write_all(path, "old", 3);
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, "y.npy", RT_F32, 1, dims, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, v, 16, err, sizeof err), 0);
  rt_npy_writer_abort(&w);
  rt_npy_writer_abort(&w);
  CU_ASSERT_EQUAL(count_entries(dir), 1);
  size_t n;
  unsigned char *old = read_all(path, &n);
  CU_ASSERT(old && n == 3 && memcmp(old, "old", 3) == 0);
  free(old);
  unlink(path);

  /* bad arguments are refused before anything is created */
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, dir, "a/b.npy", RT_F32, 1, dims, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, dir, "..", RT_F32, 1, dims, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, dir, "", RT_F32, 1, dims, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, dir, "z.npy", (rt_dtype)7, 1, dims, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, dir, "z.npy", RT_F32, 9, dims, err, sizeof err), -1);
  int64_t neg[1] = {-1}, huge[2] = {INT64_MAX / 2, 3};
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, dir, "z.npy", RT_F32, 1, neg, err, sizeof err), -1);
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, dir, "z.npy", RT_F32, 2, huge, err, sizeof err), -1);
  ASSERT_HAS(err, "shape too large");
  CU_ASSERT_EQUAL(count_entries(dir), 0);

  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, "", "z.npy", RT_F32, 1, dims, err, sizeof err), -1);
  ASSERT_HAS(err, "empty output directory name");
  char missing[1024];
  snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
  CU_ASSERT_EQUAL(rt_npy_writer_open(&w, missing, "z.npy", RT_F32, 1, dims, err, sizeof err), -1);
  ASSERT_HAS(err, "cannot create a temporary file");
  ASSERT_HAS(err, strerror(ENOENT));
  tst_rmtree(dir);
}

/* A failing disk: RLIMIT_FSIZE makes write() fail with EFBIG past a size,
 * as ENOSPC would on a full disk. The error names the cause; after abort the
 * directory is empty. */
static void test_writer_disk_full(void) {
  const char *dir = tst_tmpdir();
  struct rlimit old;
  CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  struct rlimit lim = old;
  lim.rlim_cur = 8192;
  CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &lim), 0);

  rt_npy_writer w;
  char err[512] = "";
  int64_t dims[1] = {1 << 18};
  float *big = calloc((size_t)1 << 18, sizeof *big);
  int rc = rt_npy_writer_open(&w, dir, "full.npy", RT_F32, 1, dims, err, sizeof err);
  int wrc = -1, crc = -1;
  if (rc == 0) {
    wrc = rt_npy_writer_write(&w, big, (size_t)1 << 20, err, sizeof err);
    if (wrc == 0) crc = rt_npy_writer_commit(&w, err, sizeof err);
    rt_npy_writer_abort(&w);
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(wrc == -1 || crc == -1); /* the failure surfaces at write or at flush */
  ASSERT_HAS(err, "full.npy: write failed: ");
  ASSERT_HAS(err, strerror(EFBIG));
  CU_ASSERT_EQUAL(count_entries(dir), 0);
  free(big);
  tst_rmtree(dir);
}

static void test_filename(void) {
  char buf[300];
  CU_ASSERT_EQUAL(rt_npy_filename("x", buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "x.npy");
  CU_ASSERT_EQUAL(rt_npy_filename("enc/layer:0/out", buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "enc_layer_0_out.npy");
  CU_ASSERT_EQUAL(rt_npy_filename("/", buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "_.npy");
  CU_ASSERT_EQUAL(rt_npy_filename("fc1.weight", buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "fc1.weight.npy");
  CU_ASSERT_EQUAL(rt_npy_filename("", buf, sizeof buf), -1);
  CU_ASSERT_EQUAL(rt_npy_filename(".", buf, sizeof buf), -1);
  CU_ASSERT_EQUAL(rt_npy_filename("..", buf, sizeof buf), -1);
  CU_ASSERT_EQUAL(rt_npy_filename("abc", buf, 7), -1); /* "abc.npy" needs 7 + NUL */
  CU_ASSERT_EQUAL(rt_npy_filename("abc", buf, 8), 0);
  char name[300];
  memset(name, 'a', 251);
  name[251] = 0;
  CU_ASSERT_EQUAL(rt_npy_filename(name, buf, sizeof buf), 0); /* 255 bytes */
  CU_ASSERT_EQUAL(strlen(buf), 255);
  name[251] = 'a';
  name[252] = 0;
  CU_ASSERT_EQUAL(rt_npy_filename(name, buf, sizeof buf), -1);
}

TST_SUITE(npy, TST(test_versions), TST(test_scalar), TST(test_int64), TST(test_f16_4d),
          TST(test_bf16), TST(test_partial_rows), TST(test_refused_files),
          TST(test_header_syntax), TST(test_header_framing), TST(test_header_mutations),
          TST(test_bad_header_file_named), TST(test_large_sparse_file),
          TST(test_writer_matches_numpy), TST(test_roundtrip),
          TST(test_writer_misuse), TST(test_writer_disk_full), TST(test_filename))
