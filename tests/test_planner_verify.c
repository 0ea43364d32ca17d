/*
 * test_planner_verify.c: the independent plan verifier accepts what is
 * valid (disjoint tensors, views, in-place writes, nested concat slices)
 * and names the fault in what is not.
 */
#include <string.h>

#include "tst.h"
#include "verify.h"

#define T(name, off, size, first, last) {name, off, size, first, last, -1, PLAN_ALIAS_NONE}
#define A(name, off, size, first, last, of, kind) {name, off, size, first, last, of, kind}

static int check(const plan_vtensor *t, size_t n, uint64_t slab, char *msg) {
  return plan_verify(t, n, NULL, 0, slab, 256, msg, 512);
}

static void test_valid_plans(void) {
  char msg[512];
  plan_vtensor disjoint[] = {T("a", 0, 1000, 0, 3), T("b", 1024, 512, 1, 2), T("c", 0, 1024, 4, 5)};
  CU_ASSERT_EQUAL(check(disjoint, 3, 2048, msg), 0);
  /* y written over x where x dies; z a reshape view of y; w over z later */
  plan_vtensor inplace[] = {T("x", 0, 256, 0, 2), A("y", 0, 256, 2, 4, 0, PLAN_ALIAS_INPLACE),
                            A("z", 0, 256, 3, 5, 1, PLAN_ALIAS_VIEW), T("q", 256, 256, 0, 9)};
  /* z outlives y: stretch y over z as the compiler does */
  inplace[1].last = 5;
  CU_ASSERT_EQUAL(check(inplace, 4, 512, msg), 0);
  /* a concat container c with two slices written by their producers, and a
   * nested container holding c */
  plan_vtensor concat[] = {T("outer", 0, 600, 0, 9), A("c", 0, 400, 0, 7, 0, PLAN_ALIAS_VIEW),
                           A("s1", 0, 100, 0, 7, 1, PLAN_ALIAS_VIEW),
                           A("s2", 100, 300, 3, 7, 1, PLAN_ALIAS_VIEW),
                           A("s3", 400, 200, 8, 9, 0, PLAN_ALIAS_VIEW)};
  CU_ASSERT_EQUAL(check(concat, 5, 768, msg), 0);
  /* two reshape views of one tensor, alive together */
  plan_vtensor twins[] = {T("x", 0, 512, 0, 4), A("r1", 0, 512, 1, 3, 0, PLAN_ALIAS_VIEW),
                          A("r2", 0, 512, 2, 4, 0, PLAN_ALIAS_VIEW)};
  CU_ASSERT_EQUAL(check(twins, 3, 512, msg), 0);
  /* a write over a slice once the whole container is dead */
  plan_vtensor after[] = {T("c", 0, 400, 0, 5), A("s", 0, 200, 0, 5, 0, PLAN_ALIAS_VIEW),
                          A("y", 0, 200, 5, 8, 1, PLAN_ALIAS_INPLACE)};
  CU_ASSERT_EQUAL(check(after, 3, 512, msg), 0);
}

static void expect_fail(const plan_vtensor *t, size_t n, uint64_t slab, const char *what, int line) {
  char msg[512] = "";
  int rc = check(t, n, slab, msg);
  char note[700];
  snprintf(note, sizeof note, "expected failure containing '%s', got rc %d: %s", what, rc, msg);
  CU_assertImplementation(rc != 0 && strstr(msg, what) != NULL, line, note, __FILE__, "", CU_FALSE);
}
#define EXPECT_FAIL(t, slab, what) expect_fail(t, sizeof(t) / sizeof(t[0]), slab, what, __LINE__)

static void test_faults(void) {
  plan_vtensor overlap[] = {T("a", 0, 1000, 0, 3), T("b", 768, 512, 3, 4)};
  EXPECT_FAIL(overlap, 2048, "tensors 'a' [0, 1000) steps 0..3 and 'b' [768, 1280) steps 3..4 share bytes [768, 1000) at step 3");
  plan_vtensor outside[] = {T("a", 0, 1000, 0, 3), T("b", 1024, 1100, 1, 2)};
  EXPECT_FAIL(outside, 2048, "'b' [1024, 2124) lies outside the slab of 2048 bytes");
  plan_vtensor misaligned[] = {T("a", 100, 10, 0, 0)};
  EXPECT_FAIL(misaligned, 2048, "'a' at offset 100 is not aligned to 256");
  /* in place, but x is still read a step after y is written */
  plan_vtensor early[] = {T("x", 0, 256, 0, 3), A("y", 0, 256, 2, 4, 0, PLAN_ALIAS_INPLACE)};
  EXPECT_FAIL(early, 512, "share bytes [0, 256) at step 2");
  /* a write over a reshape view while its parent w is still alive */
  plan_vtensor parent_alive[] = {T("w", 0, 256, 0, 6), A("v", 0, 256, 1, 3, 0, PLAN_ALIAS_VIEW),
                                 A("y", 0, 256, 3, 5, 1, PLAN_ALIAS_INPLACE)};
  EXPECT_FAIL(parent_alive, 512, "'w' [0, 256) steps 0..6 and 'y'");
  plan_vtensor view_out[] = {T("c", 0, 300, 0, 5), A("s", 200, 200, 0, 5, 0, PLAN_ALIAS_VIEW)};
  EXPECT_FAIL(view_out, 512, "view 's' [200, 400) is not inside 'c' [0, 300)");
  plan_vtensor view_late[] = {T("c", 0, 300, 0, 5), A("s", 0, 100, 0, 6, 0, PLAN_ALIAS_VIEW)};
  EXPECT_FAIL(view_late, 512, "view 's' (steps 0..6) outlives 'c' (steps 0..5)");
  /* sibling slices of one container must not overlap */
  plan_vtensor siblings[] = {T("c", 0, 400, 0, 5), A("s1", 0, 200, 0, 5, 0, PLAN_ALIAS_VIEW),
                             A("s2", 100, 200, 1, 5, 0, PLAN_ALIAS_INPLACE)};
  EXPECT_FAIL(siblings, 512, "share bytes");
  plan_vtensor cycle[] = {A("a", 0, 256, 0, 1, 1, PLAN_ALIAS_VIEW), A("b", 0, 256, 0, 1, 0, PLAN_ALIAS_VIEW)};
  EXPECT_FAIL(cycle, 512, "form a cycle");
  plan_vtensor bad_kind[] = {A("a", 0, 256, 0, 1, 0, 7)};
  EXPECT_FAIL(bad_kind, 512, "aliases tensor 0");
}

static void test_step_uses(void) {
  plan_vtensor t[] = {T("a", 0, 256, 0, 1), T("b", 256, 256, 1, 2)};
  int64_t reads1[] = {0}, writes1[] = {1}, reads2[] = {0};
  plan_vstep ok[] = {{"k0", NULL, 0, (int64_t[]){0}, 1}, {"k1", reads1, 1, writes1, 1}};
  char msg[512];
  CU_ASSERT_EQUAL(plan_verify(t, 2, ok, 2, 512, 256, msg, sizeof msg), 0);
  plan_vstep late[] = {{"k0", NULL, 0, (int64_t[]){0}, 1}, {"k1", reads1, 1, writes1, 1},
                       {"k2", reads2, 1, NULL, 0}};
  CU_ASSERT_NOT_EQUAL(plan_verify(t, 2, late, 3, 512, 256, msg, sizeof msg), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "step 2 (k2) reads 'a' outside its lifetime 0..1"));
  int64_t ghost[] = {9};
  plan_vstep missing[] = {{"k0", ghost, 1, NULL, 0}};
  CU_ASSERT_NOT_EQUAL(plan_verify(t, 2, missing, 1, 512, 256, msg, sizeof msg), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "tensor 9, which does not exist"));
}

/* Many tensors: a chain where each lives two steps, packed in two slots. */
static void test_scale(void) {
  enum { N = 100000 };
  static plan_vtensor t[N];
  char names[8] = "t";
  for (int i = 0; i < N; i++) t[i] = (plan_vtensor)T(names, (uint64_t)(i % 2) * 1024, 1000, i, i + 1);
  char msg[512];
  CU_ASSERT_EQUAL(plan_verify(t, N, NULL, 0, 2048, 256, msg, sizeof msg), 0);
  t[N / 2].offset = 1024 * ((N / 2 + 1) % 2); /* now on top of its neighbour */
  CU_ASSERT_NOT_EQUAL(plan_verify(t, N, NULL, 0, 2048, 256, msg, sizeof msg), 0);
}

TST_SUITE(planner_verify, TST(test_valid_plans), TST(test_faults), TST(test_step_uses), TST(test_scale))
