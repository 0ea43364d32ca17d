/*
 * test_planner_vsweep.c: plan_verify's sweep (an interval treap over live
 * tensors) against a brute-force check of every pair written here from the
 * rules in verify.h, on thousands of random plans with views and in-place
 * aliases, valid and not. The two must agree on every plan.
 */
#include <stdlib.h>
#include <string.h>

#include "tst.h"
#include "verify.h"

static uint64_t rnd(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

/* First tensor on both alias chains; *inplace: an in-place link on the
 * path between them through it. -1 when unrelated. */
static long common(const plan_vtensor *t, size_t i, size_t j, int *inplace) {
  int fi = 0;
  for (size_t a = i;; a = (size_t)t[a].alias_of) {
    int fj = 0;
    for (size_t b = j;; b = (size_t)t[b].alias_of) {
      if (a == b) {
        *inplace = fi || fj;
        return (long)a;
      }
      if (t[b].alias_of < 0) break;
      fj |= t[b].alias_kind == PLAN_ALIAS_INPLACE;
    }
    if (t[a].alias_of < 0) return -1;
    fi |= t[a].alias_kind == PLAN_ALIAS_INPLACE;
  }
}

static int reference_ok(const plan_vtensor *t, size_t n, uint64_t slab, uint64_t al) {
  for (size_t i = 0; i < n; i++) {
    const plan_vtensor *x = &t[i];
    if (x->first > x->last || x->size > slab || x->offset > slab - x->size) return 0;
    if (x->alias_of < 0) {
      if (x->alias_kind != PLAN_ALIAS_NONE || (al > 1 && x->offset % al)) return 0;
      continue;
    }
    const plan_vtensor *p = &t[x->alias_of];
    if (x->alias_kind == PLAN_ALIAS_VIEW &&
        (x->offset < p->offset || x->offset + x->size > p->offset + p->size ||
         x->first < p->first || x->last > p->last))
      return 0;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      const plan_vtensor *a = &t[i], *b = &t[j];
      if (!a->size || !b->size) continue;
      int64_t f = a->first > b->first ? a->first : b->first;
      int64_t l = a->last < b->last ? a->last : b->last;
      if (f > l) continue;
      if (a->offset >= b->offset + b->size || b->offset >= a->offset + a->size) continue;
      int inplace = 0;
      if (common(t, i, j, &inplace) >= 0 && (!inplace || f == l)) continue;
      return 0;
    }
  return 1;
}

/* A random plan: free tensors, views (mostly inside their parents) and
 * in-place writes (mostly over what dies at their first step). Alias links
 * point to earlier tensors, so they form no cycle. */
static void random_plan(plan_vtensor *t, size_t n, uint64_t slab, int64_t steps, uint64_t *s) {
  for (size_t i = 0; i < n; i++) {
    plan_vtensor *x = &t[i];
    x->name = "t";
    x->alias_of = -1;
    x->alias_kind = PLAN_ALIAS_NONE;
    x->size = rnd(s) % 10 == 0 ? 0 : 1 + rnd(s) % (slab / 4);
    x->offset = rnd(s) % (slab - x->size + 1);
    if (rnd(s) % 8) x->offset &= ~(uint64_t)3;
    x->first = (int64_t)(rnd(s) % (uint64_t)steps);
    x->last = x->first + (int64_t)(rnd(s) % 4);
    if (i == 0 || rnd(s) % 3) continue;
    size_t pi = rnd(s) % i;
    const plan_vtensor *p = &t[pi];
    x->alias_of = (int64_t)pi;
    if (rnd(s) % 3) {
      x->alias_kind = PLAN_ALIAS_VIEW;
      if (rnd(s) % 5 && p->size) {
        x->size = 1 + rnd(s) % p->size;
        x->offset = p->offset + rnd(s) % (p->size - x->size + 1);
        x->first = p->first + (int64_t)(rnd(s) % (uint64_t)(p->last - p->first + 1));
        x->last = x->first + (int64_t)(rnd(s) % (uint64_t)(p->last - x->first + 1));
      }
    } else {
      x->alias_kind = PLAN_ALIAS_INPLACE;
      if (rnd(s) % 4) {
        x->offset = p->offset;
        x->size = p->size;
        x->first = p->last + (rnd(s) % 4 == 0 ? -1 : 0);
        if (x->first > x->last) x->last = x->first;
      }
    }
  }
}

static void test_random_plans(void) {
  enum { N = 14 };
  plan_vtensor t[N];
  uint64_t s = 42;
  int valid = 0, invalid = 0, mismatches = 0;
  char msg[512];
  for (int trial = 0; trial < 30000; trial++) {
    size_t n = 2 + rnd(&s) % (N - 1);
    uint64_t al = trial % 2 ? 4 : 1;
    random_plan(t, n, 64, 10, &s);
    int want = reference_ok(t, n, 64, al);
    int got = plan_verify(t, n, NULL, 0, 64, al, msg, sizeof msg) == 0;
    if (got != want && mismatches++ < 3) {
      char note[700];
      snprintf(note, sizeof note, "trial %d: reference says %s, plan_verify: %s", trial,
               want ? "valid" : "invalid", got ? "valid" : msg);
      CU_assertImplementation(CU_FALSE, __LINE__, note, __FILE__, "", CU_FALSE);
    }
    valid += want;
    invalid += !want;
  }
  CU_ASSERT_EQUAL(mismatches, 0);
  CU_ASSERT(valid > 1000 && invalid > 1000); /* both kinds really exercised */
}

/* Larger plans, where the treap holds many live tensors at once. */
static void test_random_large(void) {
  enum { N = 400 };
  static plan_vtensor t[N];
  uint64_t s = 7;
  int valid = 0;
  char msg[512];
  for (int trial = 0; trial < 60; trial++) {
    random_plan(t, N, 1 << 16, 300, &s);
    if (trial % 2 == 0) {
      /* valid by construction: every free tensor in a slot of its own,
       * views nested in their parents, one in-place write per parent, where
       * it dies */
      static uint8_t has_inplace[N];
      memset(has_inplace, 0, sizeof has_inplace);
      for (size_t i = 0; i < N; i++) {
        plan_vtensor *x = &t[i];
        if (x->alias_of < 0) {
          x->offset = i * 128;
          x->size %= 128;
          continue;
        }
        const plan_vtensor *p = &t[x->alias_of];
        if (x->alias_kind == PLAN_ALIAS_INPLACE && !has_inplace[x->alias_of]) {
          has_inplace[x->alias_of] = 1;
          x->first = p->last;
          if (x->last < x->first) x->last = x->first;
        } else {
          x->alias_kind = PLAN_ALIAS_VIEW;
          if (x->first < p->first || x->first > p->last) x->first = p->first;
          if (x->last < x->first || x->last > p->last) x->last = p->last;
        }
        x->offset = p->offset;
        x->size = x->size < p->size ? x->size : p->size;
      }
    }
    int want = reference_ok(t, N, 1 << 16, 1);
    int got = plan_verify(t, N, NULL, 0, 1 << 16, 1, msg, sizeof msg) == 0;
    CU_ASSERT_EQUAL(got, want);
    valid += want;
  }
  CU_ASSERT(valid > 0);
}

/* Messages of the faults the brute force cannot name. */
static void test_messages(void) {
  char msg[512];
  plan_vtensor neg[] = {{"a", 0, 8, 3, 2, -1, PLAN_ALIAS_NONE}};
  CU_ASSERT_EQUAL(plan_verify(neg, 1, NULL, 0, 64, 1, msg, sizeof msg), -1);
  CU_ASSERT_STRING_EQUAL(msg, "tensor 'a': first step 3 is after its last step 2");
  plan_vtensor ghost[] = {{"a", 0, 8, 0, 2, 5, PLAN_ALIAS_VIEW}};
  CU_ASSERT_EQUAL(plan_verify(ghost, 1, NULL, 0, 64, 1, msg, sizeof msg), -1);
  CU_ASSERT_STRING_EQUAL(msg, "tensor 'a' aliases tensor 5, which does not exist");
  plan_vtensor early[] = {{"c", 0, 8, 2, 5, -1, 0}, {"s", 0, 4, 1, 5, 0, PLAN_ALIAS_VIEW}};
  CU_ASSERT_EQUAL(plan_verify(early, 2, NULL, 0, 64, 1, msg, sizeof msg), -1);
  CU_ASSERT_STRING_EQUAL(msg, "view 's' (steps 1..5) starts before 'c' (steps 2..5)");
  plan_vtensor loop[] = {{"a", 0, 8, 0, 1, 1, PLAN_ALIAS_INPLACE},
                         {"b", 0, 8, 1, 2, 0, PLAN_ALIAS_INPLACE}};
  CU_ASSERT_EQUAL(plan_verify(loop, 2, NULL, 0, 64, 1, msg, sizeof msg), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "form a cycle"));
  /* a zero-byte tensor anywhere inside the slab shares nothing */
  plan_vtensor empty[] = {{"a", 0, 64, 0, 9, -1, 0}, {"e", 64, 0, 0, 9, -1, 0}};
  CU_ASSERT_EQUAL(plan_verify(empty, 2, NULL, 0, 64, 1, msg, sizeof msg), 0);
  /* a step writing an unlisted tensor list */
  plan_vstep st[] = {{"k", NULL, 2, NULL, 0}};
  CU_ASSERT_EQUAL(plan_verify(empty, 2, st, 1, 64, 1, msg, sizeof msg), -1);
  CU_ASSERT_STRING_EQUAL(msg, "step 0 (k) reads 2 tensors but gives no list");
}

TST_SUITE(planner_vsweep, TST(test_random_plans), TST(test_random_large), TST(test_messages))
