/*
 * tst_main.c: the main() of every test executable, and tst.h's helpers.
 *
 * Usage: test_X [SUITE [TEST]] runs all suites, one suite or one test.
 */
#include "tst.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SUITES 64
static struct {
  const char *name;
  CU_TestInfo *tests;
} suites[MAX_SUITES];
static int n_suites;

void tst_add_suite(const char *name, CU_TestInfo *tests) {
  if (n_suites == MAX_SUITES) {
    fprintf(stderr, "tst: more than %d suites\n", MAX_SUITES);
    abort();
  }
  suites[n_suites].name = name;
  suites[n_suites].tests = tests;
  n_suites++;
}

double tst_err(const float *got, const float *want, size_t n, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double g = got[i], w = want[i];
    if (isnan(g) || isnan(w)) {
      if (isnan(g) != isnan(w)) return INFINITY;
      continue;
    }
    if (isinf(g) || isinf(w)) {
      if (g != w) return INFINITY;
      continue;
    }
    double e = fabs(g - w) / (atol + rtol * fabs(w));
    if (e > worst) worst = e;
  }
  return worst;
}

void tst_assert_close_(const float *got, const float *want, size_t n, double atol,
                       double rtol, const char *file, int line) {
  for (size_t i = 0; i < n; i++) {
    if (tst_err(got + i, want + i, 1, atol, rtol) > 1) {
      char msg[256];
      snprintf(msg, sizeof msg, "element %zu of %zu: got %.9g, want %.9g (atol %g rtol %g)",
               i, n, got[i], want[i], atol, rtol);
      CU_assertImplementation(CU_FALSE, line, msg, file, "", CU_FALSE);
      return;
    }
  }
  CU_assertImplementation(CU_TRUE, line, "close", file, "", CU_FALSE);
}

const char *tst_tmpdir(void) {
  static char bufs[8][512];
  static int slot;
  char *b = bufs[slot++ % 8];
  const char *base = getenv("TMPDIR");
  snprintf(b, 512, "%s/dlc-test-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(b)) {
    perror("mkdtemp");
    abort();
  }
  return b;
}

void tst_rmtree(const char *path) {
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      char sub[1024];
      snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
      struct stat st;
      if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
        tst_rmtree(sub);
      else
        unlink(sub);
    }
    closedir(d);
  }
  rmdir(path);
}

void tst_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
  }
}

const char *tst_src(const char *rel) {
  static char bufs[8][1024];
  static int slot;
  char *b = bufs[slot++ % 8];
  snprintf(b, 1024, "%s/%s", DLC_SOURCE_DIR, rel);
  return b;
}

int main(int argc, char **argv) {
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  for (int i = 0; i < n_suites; i++) {
    if (argc > 1 && strcmp(argv[1], suites[i].name) != 0) continue;
    CU_pSuite s = CU_add_suite(suites[i].name, NULL, NULL);
    for (CU_TestInfo *t = suites[i].tests; t->pName; t++)
      if (argc <= 2 || strcmp(argv[2], t->pName) == 0) CU_add_test(s, t->pName, t->pTestFunc);
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  unsigned ran = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (ran == 0) {
    fprintf(stderr, "no tests ran\n");
    return 1;
  }
  return failed ? 1 : 0;
}
