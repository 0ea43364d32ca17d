/*
 * test_pool.c: the thread pool covers every index exactly once, gives each
 * concurrent chunk its own thread slot, and runs serially when asked.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "rt_pool.h"
#include "tst.h"

typedef struct {
  atomic_int *hits;
  atomic_int *in_slot;
  atomic_int slot_clash;
  int n_slots;
} cover_arg;

static void cover(void *v, int64_t begin, int64_t end, int thread) {
  cover_arg *c = v;
  if (thread < 0 || thread >= c->n_slots || atomic_fetch_add(&c->in_slot[thread], 1) != 0)
    atomic_store(&c->slot_clash, 1);
  for (int64_t i = begin; i < end; i++) atomic_fetch_add(&c->hits[i], 1);
  if (thread >= 0 && thread < c->n_slots) atomic_fetch_sub(&c->in_slot[thread], 1);
}

static void run_cover(rt_pool *pool, int64_t n, int64_t grain) {
  cover_arg c;
  c.hits = calloc((size_t)n + 1, sizeof *c.hits);
  c.n_slots = rt_pool_size(pool);
  c.in_slot = calloc((size_t)c.n_slots, sizeof *c.in_slot);
  atomic_init(&c.slot_clash, 0);
  rt_pool_run(pool, n, grain, cover, &c);
  int bad = 0;
  for (int64_t i = 0; i < n; i++) bad += atomic_load(&c.hits[i]) != 1;
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(atomic_load(&c.slot_clash), 0);
  free(c.hits);
  free(c.in_slot);
}

static void test_covers_range(void) {
  rt_pool *pool = rt_pool_create(4);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
  CU_ASSERT_EQUAL(rt_pool_size(pool), 4);
  for (int rep = 0; rep < 50; rep++) run_cover(pool, 1000 + rep * 37, 1 + rep % 7);
  run_cover(pool, 1, 1);
  run_cover(pool, 3, 100);
  rt_pool_run(pool, 0, 1, cover, NULL); /* empty range: fn never called */
  rt_pool_destroy(pool);
}

static void test_serial(void) {
  run_cover(NULL, 777, 1);
  rt_pool *one = rt_pool_create(1);
  CU_ASSERT_EQUAL(rt_pool_size(one), 1);
  run_cover(one, 777, 1);
  rt_pool_destroy(one);
  CU_ASSERT_EQUAL(rt_pool_size(NULL), 1);
}

TST_SUITE(pool, TST(test_covers_range), TST(test_serial))
