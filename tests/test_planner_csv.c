/*
 * test_planner_csv.c: the buffer-list CSV. A round trip keeps ids and every
 * number (up to the 64-bit limits); each malformed input is refused with its
 * file, line and reason, and leaves the result empty; the writer replaces a
 * file whole.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "tst.h"

static const char *write_file(const char *dir, const char *name, const char *text, size_t len) {
  static char path[8][600];
  static int slot;
  char *p = path[slot++ % 8];
  snprintf(p, 600, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fwrite(text, 1, len, f);
  fclose(f);
  return p;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_round_trip(void) {
  const char *dir = tst_tmpdir();
  const char *text = "id,lower,upper,size\n"
                     "x,0,3,4\n"
                     "17,2,9223372036854775807,18446744073709551615\n"
                     "a b,5,6,0\n";
  const char *in = write_file(dir, "in.csv", text, strlen(text));
  plan_csv c;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(plan_csv_read(in, &c, err, sizeof err), 0);
  CU_ASSERT_EQUAL(c.n, 3);
  CU_ASSERT_FALSE(c.has_offset);
  CU_ASSERT_STRING_EQUAL(c.ids[0], "x");
  CU_ASSERT_STRING_EQUAL(c.ids[1], "17");
  CU_ASSERT_STRING_EQUAL(c.ids[2], "a b");
  CU_ASSERT_EQUAL(c.bufs[1].begin, 2);
  CU_ASSERT_EQUAL(c.bufs[1].end, INT64_MAX);
  CU_ASSERT_EQUAL(c.bufs[1].size, UINT64_MAX);
  CU_ASSERT_EQUAL(c.bufs[2].size, 0);
  c.bufs[0].offset = 12;
  c.bufs[1].offset = UINT64_MAX;
  char out[600];
  snprintf(out, sizeof out, "%s/out.csv", dir);
  CU_ASSERT_EQUAL(plan_csv_write(out, &c, err, sizeof err), 0);
  char *got = slurp(out);
  CU_ASSERT_STRING_EQUAL(got, "id,lower,upper,size,offset\n"
                              "x,0,3,4,12\n"
                              "17,2,9223372036854775807,18446744073709551615,18446744073709551615\n"
                              "a b,5,6,0,0\n");
  free(got);
  plan_csv back;
  CU_ASSERT_EQUAL_FATAL(plan_csv_read(out, &back, err, sizeof err), 0);
  CU_ASSERT(back.has_offset);
  CU_ASSERT_EQUAL(back.n, 3);
  for (size_t i = 0; i < 3 && back.n == 3; i++) {
    CU_ASSERT_STRING_EQUAL(back.ids[i], c.ids[i]);
    CU_ASSERT_EQUAL(memcmp(&back.bufs[i], &c.bufs[i], sizeof c.bufs[i]), 0);
  }
  plan_csv_free(&back);
  plan_csv_free(&c);
  /* CRLF line ends, a byte-order mark, trailing blank lines, no final newline */
  const char *dos = "\xEF\xBB\xBFid,lower,upper,size\r\nb1,0,3,4\r\nb2,3,9,4";
  CU_ASSERT_EQUAL(plan_csv_read(write_file(dir, "dos.csv", dos, strlen(dos)), &c, err, sizeof err),
                  0);
  CU_ASSERT_EQUAL(c.n, 2);
  CU_ASSERT_STRING_EQUAL(c.ids[1], "b2");
  CU_ASSERT_EQUAL(c.bufs[1].end, 9);
  plan_csv_free(&c);
  const char *trail = "id,lower,upper,size\nb1,0,3,4\n\n\n";
  CU_ASSERT_EQUAL(
      plan_csv_read(write_file(dir, "t.csv", trail, strlen(trail)), &c, err, sizeof err), 0);
  CU_ASSERT_EQUAL(c.n, 1);
  plan_csv_free(&c);
  const char *header_only = "id,lower,upper,size\n";
  CU_ASSERT_EQUAL(plan_csv_read(write_file(dir, "h.csv", header_only, strlen(header_only)), &c, err,
                                sizeof err),
                  0);
  CU_ASSERT_EQUAL(c.n, 0);
  plan_csv_free(&c);
  tst_rmtree(dir);
}

static void test_malformed(void) {
  static const struct {
    const char *text;
    const char *want; /* the message after "PATH" */
  } cases[] = {
      {"", ": empty file (expected the header 'id,lower,upper,size')"},
      {"id,lower,upper\nx,0,1\n",
       ":1: expected the header 'id,lower,upper,size' (or 'id,lower,upper,size,offset'), found "
       "'id,lower,upper'"},
      {"id,lower,upper,size\nx,0,1,4\ny,0,1\n",
       ":3: expected 4 fields (id,lower,upper,size), found 3"},
      {"id,lower,upper,size\nx,0,1,4,5\n", ":2: expected 4 fields (id,lower,upper,size), found 5"},
      {"id,lower,upper,size,offset\nx,0,1,4\n",
       ":2: expected 5 fields (id,lower,upper,size,offset), found 4"},
      {"id,lower,upper,size\nx,-1,1,4\n", ":2: lower '-1' is not a non-negative integer"},
      {"id,lower,upper,size\nx,0,1, 4\n", ":2: size ' 4' is not a non-negative integer"},
      {"id,lower,upper,size\nx,0,1,\n", ":2: size '' is not a non-negative integer"},
      {"id,lower,upper,size\nx,0,1,4k\n", ":2: size '4k' is not a non-negative integer"},
      {"id,lower,upper,size\nx,0,9223372036854775808,4\n",
       ":2: upper 9223372036854775808 is too large (at most 9223372036854775807)"},
      {"id,lower,upper,size\nx,0,1,18446744073709551616\n",
       ":2: size 18446744073709551616 is too large (at most 18446744073709551615)"},
      {"id,lower,upper,size\nx,5,5,4\n", ":2: buffer x: lower 5 is not below upper 5"},
      {"id,lower,upper,size\nx,0,1,4\n,0,1,4\n", ":3: empty id"},
      {"id,lower,upper,size\n\"x\",0,1,4\n",
       ":2: id \"x\" contains a quote (quoted fields are not supported)"},
      {"id,lower,upper,size\nb1,0,1,4\nb2,0,1,4\nb1,3,4,4\n",
       ":4: duplicate id b1 (first on line 2)"},
      {"id,lower,upper,size\nb1,0,1,4\n\nb2,0,1,4\n", ":3: blank line inside the data"},
      {"id,lower,upper,size,offset\nx,0,1,4,-2\n", ":2: offset '-2' is not a non-negative integer"},
  };
  const char *dir = tst_tmpdir();
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const char *path = write_file(dir, "bad.csv", cases[k].text, strlen(cases[k].text));
    plan_csv c;
    char err[512] = "", want[700];
    snprintf(want, sizeof want, "%s%s", path, cases[k].want);
    CU_ASSERT_EQUAL(plan_csv_read(path, &c, err, sizeof err), -1);
    char note[1400];
    snprintf(note, sizeof note, "case %zu: got '%s', want '%s'", k, err, want);
    CU_assertImplementation(strcmp(err, want) == 0, __LINE__, note, __FILE__, "", CU_FALSE);
    CU_ASSERT(c.n == 0 && c.ids == NULL && c.bufs == NULL);
  }
  /* a line over the limit, and a NUL byte */
  char *longl = malloc(PLAN_CSV_MAX_LINE + 100);
  int k = snprintf(longl, 100, "id,lower,upper,size\nx,0,1,");
  memset(longl + k, '7', PLAN_CSV_MAX_LINE);
  longl[k + PLAN_CSV_MAX_LINE] = '\n';
  const char *path = write_file(dir, "long.csv", longl, (size_t)k + PLAN_CSV_MAX_LINE + 1);
  plan_csv c;
  char err[512], want[700];
  CU_ASSERT_EQUAL(plan_csv_read(path, &c, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s:2: line longer than %d bytes", path, PLAN_CSV_MAX_LINE);
  CU_ASSERT_STRING_EQUAL(err, want);
  free(longl);
  path = write_file(dir, "nul.csv", "id,lower,upper,size\nx\0,0,1,4\n", 29);
  CU_ASSERT_EQUAL(plan_csv_read(path, &c, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s:2: NUL byte in the line", path);
  CU_ASSERT_STRING_EQUAL(err, want);
  /* missing file */
  snprintf(want, sizeof want, "%s/none.csv", dir);
  CU_ASSERT_EQUAL(plan_csv_read(want, &c, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "none.csv: No such file or directory"));
  tst_rmtree(dir);
}

static void test_write_errors(void) {
  const char *dir = tst_tmpdir();
  char *ids[] = {"a"};
  plan_buf b[] = {{4, 0, 1, 8}};
  plan_csv c = {1, ids, b, 1};
  char path[600], err[512];
  snprintf(path, sizeof path, "%s/missing/out.csv", dir);
  CU_ASSERT_EQUAL(plan_csv_write(path, &c, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot create a temporary file"));
  /* an existing file is replaced whole, and no temporary file stays */
  snprintf(path, sizeof path, "%s/out.csv", dir);
  write_file(dir, "out.csv", "old", 3);
  CU_ASSERT_EQUAL(plan_csv_write(path, &c, err, sizeof err), 0);
  char *got = slurp(path);
  CU_ASSERT_STRING_EQUAL(got, "id,lower,upper,size,offset\na,0,1,4,8\n");
  free(got);
  int files = 0;
  DIR *d = opendir(dir);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
  closedir(d);
  CU_ASSERT_EQUAL(files, 1);
  tst_rmtree(dir);
}

TST_SUITE(planner_csv, TST(test_round_trip), TST(test_malformed), TST(test_write_errors))
