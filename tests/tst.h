/*
 * tst.h: a thin layer over CUnit.
 *
 * Each test file declares its suite with TST_SUITE(); a constructor adds it
 * to a list that tst_main.c registers with CUnit, so a test executable is
 * just the files that make it up. Helpers for comparing float arrays with a
 * tolerance and for temporary directories live here too.
 */
#ifndef TST_H
#define TST_H

#include <CUnit/CUnit.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

void tst_add_suite(const char *name, CU_TestInfo *tests);

#define TST_SUITE(name, ...)                                                   \
  static CU_TestInfo name##_tests_[] = {__VA_ARGS__, CU_TEST_INFO_NULL};       \
  __attribute__((constructor)) static void name##_register_(void) {            \
    tst_add_suite(#name, name##_tests_);                                       \
  }
#define TST(fn) {#fn, fn}

/* Max over i of |got[i]-want[i]| / (atol + rtol*|want[i]|); <= 1 passes.
 * NaN in got where want is not NaN (or the reverse) gives INFINITY. */
double tst_err(const float *got, const float *want, size_t n, double atol, double rtol);

/* Assert got ~ want elementwise; prints the first bad index on failure. */
#define TST_ASSERT_CLOSE(got, want, n, atol, rtol)                             \
  tst_assert_close_((got), (want), (n), (atol), (rtol), __FILE__, __LINE__)
void tst_assert_close_(const float *got, const float *want, size_t n, double atol,
                       double rtol, const char *file, int line);

/* A fresh empty directory under $TMPDIR (removed, with its files, by
 * tst_rmtree). Returns a static buffer per call slot (up to 8 live). */
const char *tst_tmpdir(void);
void tst_rmtree(const char *path);

/* Deterministic pseudo-random floats in [lo, hi). */
void tst_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* Path to a file in the source tree (DLC_SOURCE_DIR/rel), static buffer slot. */
const char *tst_src(const char *rel);

#endif
