/*
 * test_planner.c: placement on bare intervals. Greedy-by-size and plan_place
 * on problems with a known optimum (hand-made, a 9-buffer instance whose
 * optimum exceeds the lower bound, perfect packings cut from a rectangle),
 * alignment, zero sizes, bad input, determinism, the fallback for huge
 * overlap counts, the synthetic chain at 100k buffers, and the internal
 * exact and local searches. Every placement goes through plan_verify.
 */
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"
#include "planner.h"
#include "synth.h"
#include "tst.h"
#include "verify.h"

/* 0 when the placement is valid for a slab of `slab` bytes. */
static int verify_bufs(const plan_buf *b, size_t n, uint64_t slab, uint64_t alignment, char *msg,
                       size_t msg_size) {
  plan_vtensor *t = calloc(n ? n : 1, sizeof *t);
  if (!t) return -1;
  for (size_t i = 0; i < n; i++)
    t[i] =
        (plan_vtensor){"b", b[i].offset, b[i].size, b[i].begin, b[i].end - 1, -1, PLAN_ALIAS_NONE};
  int rc = plan_verify(t, n, NULL, 0, slab, alignment, msg, msg_size);
  free(t);
  return rc;
}

/* Asserts the placement is valid, aligned, and that res agrees with it. */
static void check_plan(const plan_buf *b, size_t n, const plan_result *res, uint64_t alignment,
                       int line) {
  char msg[512] = "";
  int ok = verify_bufs(b, n, res->peak, alignment, msg, sizeof msg) == 0;
  uint64_t top = 0;
  for (size_t i = 0; i < n; i++) {
    if (b[i].size == 0) {
      ok = ok && b[i].offset == 0;
      continue;
    }
    uint64_t a = (b[i].size + alignment - 1) / alignment * alignment;
    if (b[i].offset + a > top) top = b[i].offset + a;
    ok = ok && b[i].offset % alignment == 0;
  }
  ok = ok && top == res->peak && res->peak >= res->lower_bound;
  ok = ok && res->lower_bound == plan_lower_bound(b, n, alignment);
  char note[700];
  snprintf(note, sizeof note, "plan invalid (%s): peak %llu, top %llu, lb %llu: %s", res->method,
           (unsigned long long)res->peak, (unsigned long long)top,
           (unsigned long long)res->lower_bound, msg);
  CU_assertImplementation(ok, line, note, __FILE__, "", CU_FALSE);
}
#define CHECK_PLAN(b, n, res, al) check_plan((b), (n), (res), (al), __LINE__)

typedef int (*place_fn)(plan_buf *, size_t, const plan_opts *, plan_result *, char *, size_t);

/* Places a copy of b and returns its peak (UINT64_MAX on error). */
static uint64_t place_copy(place_fn fn, const plan_buf *b, size_t n, uint64_t alignment,
                           plan_buf *out, plan_result *res) {
  memcpy(out, b, n * sizeof *b);
  plan_opts o = {alignment, 0, 0};
  char err[256];
  if (fn(out, n, &o, res, err, sizeof err)) return UINT64_MAX;
  check_plan(out, n, res, alignment, __LINE__);
  return res->peak;
}

/* A perfect packing: the rectangle [0, steps) x [0, height units) cut
 * recursively into n pieces, each a buffer. Every step is fully covered, so
 * the lower bound and the optimum are both height * unit. */
static void sliced(plan_buf *b, size_t n, int64_t steps, uint64_t height, uint64_t unit,
                   uint64_t seed) {
  uint64_t *m0 = malloc(n * sizeof *m0), *m1 = malloc(n * sizeof *m1);
  size_t k = 1;
  b[0] = (plan_buf){0, 0, steps, 0};
  m0[0] = 0;
  m1[0] = height;
  uint64_t s = seed * 2654435761u + 1;
  while (k < n) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    size_t i = (s >> 33) % k; /* a random piece that can still be cut */
    int64_t len = b[i].end - b[i].begin;
    uint64_t h = m1[i] - m0[i];
    if (len < 2 && h < 2) continue;
    int in_time = h < 2 || (len >= 2 && ((s >> 20) & 1));
    if (in_time) {
      int64_t cut = b[i].begin + 1 + (int64_t)((s >> 40) % (uint64_t)(len - 1));
      b[k] = (plan_buf){0, cut, b[i].end, 0};
      m0[k] = m0[i];
      m1[k] = m1[i];
      b[i].end = cut;
    } else {
      uint64_t cut = m0[i] + 1 + (s >> 40) % (h - 1);
      b[k] = b[i];
      m0[k] = cut;
      m1[k] = m1[i];
      m1[i] = cut;
    }
    k++;
  }
  for (size_t i = 0; i < n; i++) b[i].size = (m1[i] - m0[i]) * unit;
  free(m0);
  free(m1);
}

static void test_empty_and_zero_sizes(void) {
  plan_result res;
  char err[256];
  plan_opts o = {64, 0, 0};
  CU_ASSERT_EQUAL(plan_place(NULL, 0, &o, &res, err, sizeof err), 0);
  CU_ASSERT_EQUAL(res.peak, 0);
  CU_ASSERT_EQUAL(res.lower_bound, 0);
  CU_ASSERT(res.optimal);
  plan_buf b[] = {{0, 0, 5, 77}, {100, 1, 3, 0}, {0, 2, 4, 99}, {50, 2, 6, 0}};
  CU_ASSERT_EQUAL(plan_place(b, 4, &o, &res, err, sizeof err), 0);
  CU_ASSERT_EQUAL(b[0].offset, 0);
  CU_ASSERT_EQUAL(b[2].offset, 0);
  CU_ASSERT_EQUAL(res.lower_bound, 192); /* 128 + 64 at step 2 */
  CU_ASSERT_EQUAL(res.peak, 192);
  CHECK_PLAN(b, 4, &res, 64);
}

static void test_bad_input(void) {
  plan_result res;
  char err[256] = "";
  plan_opts o = {1, 0, 0};
  plan_buf inverted[] = {{8, 0, 2, 0}, {8, 5, 5, 0}};
  CU_ASSERT_EQUAL(plan_place(inverted, 2, &o, &res, err, sizeof err), -1);
  CU_ASSERT_STRING_EQUAL(err, "buffer 1: begin 5 is not before end 5");
  CU_ASSERT_EQUAL(plan_place_greedy_size(inverted, 2, &o, &res, err, sizeof err), -1);
  plan_opts odd = {24, 0, 0};
  plan_buf one[] = {{8, 0, 2, 0}};
  CU_ASSERT_EQUAL(plan_place(one, 1, &odd, &res, err, sizeof err), -1);
  CU_ASSERT_STRING_EQUAL(err, "alignment 24 is not a power of two");
  plan_opts big = {1024, 0, 0};
  plan_buf huge[] = {{UINT64_MAX - 5, 0, 2, 0}};
  CU_ASSERT_EQUAL(plan_place(huge, 1, &big, &res, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "overflows 64 bits"));
  plan_buf sum[] = {{UINT64_MAX / 2 + 1, 0, 2, 0}, {UINT64_MAX / 2 + 1, 1, 3, 0}};
  CU_ASSERT_EQUAL(plan_place(sum, 2, &o, &res, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "more than 2^64 bytes"));
}

static void test_lower_bound(void) {
  plan_buf b[] = {{10, 0, 2, 0}, {20, 1, 3, 0}, {30, 2, 4, 0}, {0, 0, 4, 0}};
  CU_ASSERT_EQUAL(plan_lower_bound(b, 4, 1), 50);  /* step 2: 20 + 30; 10 ended */
  CU_ASSERT_EQUAL(plan_lower_bound(b, 4, 16), 64); /* 32 + 32 */
  CU_ASSERT_EQUAL(plan_lower_bound(b, 1, 1), 10);
  CU_ASSERT_EQUAL(plan_lower_bound(NULL, 0, 1), 0);
}

/* /work/shared/bench/dsa/example.12.csv, inlined: the optimum is 12. */
static void test_example12(void) {
  plan_buf b[] = {{4, 0, 3, 0}, {4, 3, 9, 0}, {4, 0, 9, 0}, {4, 9, 21, 0}, {4, 0, 21, 0}};
  plan_buf out[5];
  plan_result res;
  CU_ASSERT_EQUAL(place_copy(plan_place_greedy_size, b, 5, 1, out, &res), 12);
  CU_ASSERT_EQUAL(place_copy(plan_place, b, 5, 1, out, &res), 12);
  CU_ASSERT(res.optimal);
  CU_ASSERT_EQUAL(res.lower_bound, 12);
}

static void test_alignment(void) {
  /* aligned to 4: 4, 8, 4, all alive at step 1 */
  plan_buf b[] = {{3, 0, 2, 0}, {5, 1, 3, 0}, {1, 0, 3, 0}, {7, 3, 4, 0}};
  plan_buf out[4];
  plan_result res;
  CU_ASSERT_EQUAL(place_copy(plan_place, b, 4, 4, out, &res), 16);
  CU_ASSERT_EQUAL(res.lower_bound, 16);
  CU_ASSERT_EQUAL(out[3].offset, 0); /* alone at step 3 */
  CU_ASSERT_EQUAL(place_copy(plan_place_greedy_size, b, 4, 4, out, &res), 16);
  /* large alignment, one unit per buffer */
  CU_ASSERT_EQUAL(place_copy(plan_place, b, 4, 4096, out, &res), 3 * 4096);
}

/* Optimum 20 over a lower bound of 19, found by an exhaustive search over
 * every integer offset (outside this project). */
static const plan_buf gap9[] = {{3, 5, 10, 0}, {4, 1, 2, 0}, {9, 0, 3, 0},
                                {2, 4, 6, 0},  {8, 5, 8, 0}, {4, 2, 5, 0},
                                {9, 0, 1, 0},  {6, 2, 6, 0}, {8, 6, 9, 0}};

static void test_optimum_above_bound(void) {
  plan_buf out[9];
  plan_result res;
  CU_ASSERT_EQUAL(place_copy(plan_place, gap9, 9, 1, out, &res), 20);
  CU_ASSERT_EQUAL(res.lower_bound, 19);
  CU_ASSERT(res.optimal); /* 19 was refuted by the search */
  CU_ASSERT(place_copy(plan_place_greedy_size, gap9, 9, 1, out, &res) >= 20);
}

/* Two independent components: gap9 (optimum 20, bound 19) and, later in
 * time, a perfect packing of height 19 that the baseline does not find. The
 * search must refute 19 on the first and still pack the second. */
static void test_components(void) {
  enum { M = 40 };
  plan_buf b[9 + M], out[9 + M];
  memcpy(b, gap9, sizeof gap9);
  sliced(b + 9, M, 300, 19, 1, 4);
  for (size_t i = 9; i < 9 + M; i++) {
    b[i].begin += 100;
    b[i].end += 100;
  }
  plan_result res, g;
  uint64_t greedy = place_copy(plan_place_greedy_size, b + 9, M, 1, out, &g);
  CU_ASSERT(greedy > 20); /* the second component alone beats the baseline */
  CU_ASSERT_EQUAL(place_copy(plan_place, b, 9 + M, 1, out, &res), 20);
  CU_ASSERT_EQUAL(res.lower_bound, 19);
  CU_ASSERT(res.optimal);
}

static void test_perfect_packings(void) {
  enum { N = 120 };
  plan_buf b[N], out[N];
  int greedy_worse = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    size_t n = 30 + (size_t)seed * 11;
    sliced(b, n, 1000, 256, 1024, seed);
    plan_result res, g;
    uint64_t ours = place_copy(plan_place, b, n, 1024, out, &res);
    CU_ASSERT_EQUAL(res.lower_bound, 256 * 1024);
    CU_ASSERT_EQUAL(ours, 256 * 1024);
    CU_ASSERT(res.optimal);
    uint64_t greedy = place_copy(plan_place_greedy_size, b, n, 1024, out, &g);
    CU_ASSERT(greedy >= ours && greedy != UINT64_MAX);
    greedy_worse += greedy > ours;
  }
  CU_ASSERT(greedy_worse >= 4); /* the baseline really is beaten */
}

static uint64_t rnd(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

/* plan_place runs the baseline's order among its heuristics, so it is never
 * worse than greedy by size, whatever the problem. */
static void test_never_worse_than_greedy(void) {
  enum { N = 300 };
  plan_buf b[N], out[N];
  uint64_t s = 7;
  for (int trial = 0; trial < 40; trial++) {
    size_t n = 2 + rnd(&s) % (N - 2);
    int64_t span = 1 + (int64_t)(rnd(&s) % 200);
    for (size_t i = 0; i < n; i++) {
      int64_t begin = (int64_t)(rnd(&s) % (uint64_t)span);
      int64_t len = 1 + (int64_t)(rnd(&s) % (trial % 4 == 0 ? 100 : 10));
      uint64_t size = rnd(&s) % 4 == 0 ? 0 : 1 + rnd(&s) % 5000;
      b[i] = (plan_buf){size, begin, begin + len, 0};
    }
    uint64_t alignment = (uint64_t)1 << (trial % 8);
    plan_result r1, r2;
    uint64_t g = place_copy(plan_place_greedy_size, b, n, alignment, out, &r1);
    uint64_t p = place_copy(plan_place, b, n, alignment, out, &r2);
    CU_ASSERT(p <= g);
    CU_ASSERT(p >= r2.lower_bound);
  }
}

static void test_deterministic(void) {
  enum { N = 10000 };
  plan_buf *b = malloc(N * sizeof *b), *o1 = malloc(N * sizeof *b), *o2 = malloc(N * sizeof *b);
  plan_synth_chain(b, N, 3);
  plan_result r1, r2;
  place_copy(plan_place, b, N, 256, o1, &r1);
  place_copy(plan_place, b, N, 256, o2, &r2);
  CU_ASSERT_EQUAL(memcmp(o1, o2, N * sizeof *o1), 0);
  CU_ASSERT_EQUAL(r1.peak, r2.peak);
  CU_ASSERT_STRING_EQUAL(r1.method, r2.method);
  /* the same on the hard gap instance, whose search runs to the end */
  plan_buf a1[9], a2[9];
  place_copy(plan_place, gap9, 9, 1, a1, &r1);
  place_copy(plan_place, gap9, 9, 1, a2, &r2);
  CU_ASSERT_EQUAL(memcmp(a1, a2, sizeof a1), 0);
  free(b);
  free(o1);
  free(o2);
}

/* 6000 buffers all alive at once: 36M overlap entries, past PLAN_MAX_ADJ. */
static void test_too_many_overlaps(void) {
  enum { N = 6000 };
  plan_buf *b = malloc(N * sizeof *b), *out = malloc(N * sizeof *b);
  uint64_t sum = 0;
  for (size_t i = 0; i < N; i++) {
    b[i] = (plan_buf){64 * (1 + i % 5), (int64_t)(i % 7), 100, 0};
    sum += b[i].size;
  }
  plan_result res;
  CU_ASSERT_EQUAL(place_copy(plan_place, b, N, 64, out, &res), sum);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.method, "online"));
  CU_ASSERT_EQUAL(place_copy(plan_place_greedy_size, b, N, 64, out, &res), sum);
  free(b);
  free(out);
}

static void test_chain_100k(void) {
  enum { N = 100000 };
  plan_buf *b = malloc(N * sizeof *b), *out = malloc(N * sizeof *b);
  plan_synth_chain(b, N, 1);
  plan_result res, g;
  uint64_t greedy = place_copy(plan_place_greedy_size, b, N, 256, out, &g);
  uint64_t ours = place_copy(plan_place, b, N, 256, out, &res);
  CU_ASSERT(ours <= greedy);
  CU_ASSERT_EQUAL(ours, res.lower_bound); /* the search closes this one */
  CU_ASSERT(greedy > res.lower_bound);
  free(b);
  free(out);
}

/* The decision search alone: refutes 19 and finds 20 on the gap instance. */
static void test_exact_decide(void) {
  plan_prob p;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(plan_prob_init(&p, gap9, 9, 1, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p.adj_start);
  uint32_t all[9];
  for (uint32_t i = 0; i < 9; i++) all[i] = i;
  plan_exact *e = plan_exact_new(&p, all, 9);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  uint64_t off[9];
  int64_t work = 0;
  CU_ASSERT_EQUAL(plan_exact_decide(e, 19, 1000000, 0, off, &work), PLAN_SR_NONE);
  CU_ASSERT(work > 0);
  CU_ASSERT_EQUAL(plan_exact_decide(e, 20, 1000000, 0, off, &work), PLAN_SR_FOUND);
  CU_ASSERT_EQUAL(plan_exact_decide(e, 18, 1000000, 0, off, &work), PLAN_SR_NONE);
  /* a budget of one unit gives up instead of answering */
  CU_ASSERT_EQUAL(plan_exact_decide(e, 19, 1, 0, off, NULL), PLAN_SR_ABORT);
  CU_ASSERT_EQUAL(plan_exact_decide(e, 20, 1000000, 0, off, NULL), PLAN_SR_FOUND);
  plan_buf b[9];
  memcpy(b, gap9, sizeof b);
  plan_prob_store(&p, off, b, 9);
  CU_ASSERT_EQUAL(verify_bufs(b, 9, 20, 1, err, sizeof err), 0);
  plan_exact_free(e);
  plan_prob_free(&p);
}

/* The local search alone, from the worst order: smallest first. */
static void test_local_search(void) {
  enum { N = 60 };
  plan_buf b[N];
  sliced(b, N, 500, 64, 1, 11);
  plan_prob p;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(plan_prob_init(&p, b, N, 1, err, sizeof err), 0);
  plan_fit f;
  CU_ASSERT_EQUAL_FATAL(plan_fit_init(&f, &p), 0);
  uint32_t ord[N], ord2[N];
  uint64_t off[N], off2[N];
  for (uint32_t i = 0; i < N; i++) ord[i] = i;
  for (uint32_t i = 1; i < N; i++) /* insertion sort, smallest size first */
    for (uint32_t j = i; j > 0 && p.size[ord[j]] < p.size[ord[j - 1]]; j--) {
      uint32_t t = ord[j];
      ord[j] = ord[j - 1];
      ord[j - 1] = t;
    }
  memcpy(ord2, ord, sizeof ord);
  uint64_t start = plan_bestfit(&p, &f, ord, N, off), peak = start, peak2 = start;
  CU_ASSERT(start > p.lb);
  CU_ASSERT_EQUAL(plan_local_search(&p, &f, ord, off, &peak, 20000000, 0, 0), 0);
  CU_ASSERT(peak < start);
  CU_ASSERT(peak >= p.lb);
  CU_ASSERT_EQUAL(plan_peak(&p, off), peak);
  CU_ASSERT_EQUAL(plan_bestfit(&p, &f, ord, N, off2), peak); /* the order reproduces it */
  plan_prob_store(&p, off, b, N);
  CU_ASSERT_EQUAL(verify_bufs(b, N, peak * p.unit, 1, err, sizeof err), 0);
  /* deterministic */
  plan_bestfit(&p, &f, ord2, N, off2);
  CU_ASSERT_EQUAL(plan_local_search(&p, &f, ord2, off2, &peak2, 20000000, 0, 0), 0);
  CU_ASSERT_EQUAL(peak2, peak);
  CU_ASSERT_EQUAL(memcmp(off, off2, sizeof off), 0);
  plan_fit_free(&f);
  plan_prob_free(&p);
}

/* Every heuristic order gives a valid placement. */
static void test_orders(void) {
  enum { N = 200 };
  plan_buf b[N];
  plan_synth_chain(b, N, 5);
  plan_prob p;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(plan_prob_init(&p, b, N, 256, err, sizeof err), 0);
  plan_fit f;
  plan_keys k;
  CU_ASSERT_EQUAL_FATAL(plan_fit_init(&f, &p), 0);
  CU_ASSERT_EQUAL_FATAL(plan_keys_init(&k, &p), 0);
  uint32_t ord[N];
  uint64_t off[N];
  for (int kind = 0; kind < PLAN_ORD_COUNT; kind++) {
    CU_ASSERT_EQUAL(plan_order_make(&p, &k, kind, ord), 0);
    uint64_t pk = plan_bestfit(&p, &f, ord, p.n, off);
    CU_ASSERT(pk >= p.lb);
    plan_prob_store(&p, off, b, N);
    CU_ASSERT_EQUAL(verify_bufs(b, N, pk * p.unit, 256, err, sizeof err), 0);
  }
  plan_keys_free(&k);
  plan_fit_free(&f);
  plan_prob_free(&p);
}

TST_SUITE(planner_place, TST(test_empty_and_zero_sizes), TST(test_bad_input), TST(test_lower_bound),
          TST(test_example12), TST(test_alignment), TST(test_optimum_above_bound),
          TST(test_components), TST(test_perfect_packings), TST(test_never_worse_than_greedy),
          TST(test_deterministic), TST(test_too_many_overlaps), TST(test_chain_100k),
          TST(test_exact_decide), TST(test_local_search), TST(test_orders))
