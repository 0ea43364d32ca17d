/*
 * lower_bound.c: plan_lower_bound(), the largest total aligned size alive at
 * one step. A sweep over the begins and ends in time order (ends first at
 * equal times, lifetimes being half-open): no placement can use less.
 */
#include <stdlib.h>

#include "plan_internal.h"

typedef struct lb_ctx {
  const plan_buf *b;
} lb_ctx;

/* Events are 2*i (begin of i) and 2*i+1 (end of i). */
static int64_t ev_time(const plan_buf *b, uint32_t e) {
  return (e & 1) ? b[e >> 1].end : b[e >> 1].begin;
}

static int cmp_ev(const void *ctx, uint32_t x, uint32_t y) {
  const plan_buf *b = ((const lb_ctx *)ctx)->b;
  int64_t tx = ev_time(b, x), ty = ev_time(b, y);
  if (tx != ty) return tx < ty ? -1 : 1;
  int ex = (int)(x & 1), ey = (int)(y & 1);
  if (ex != ey) return ey - ex; /* ends (1) before begins (0) */
  return (x > y) - (x < y);
}

static uint64_t aligned(uint64_t size, uint64_t alignment) {
  if (alignment <= 1) return size;
  uint64_t r = size % alignment;
  if (r == 0) return size;
  return size > UINT64_MAX - (alignment - r) ? UINT64_MAX : size + (alignment - r);
}

/* Returns 0 (a trivially true bound) when out of memory. Buffers with
 * begin >= end are alive nowhere and ignored. The sum saturates at 2^64-1. */
uint64_t plan_lower_bound(const plan_buf *bufs, size_t n, uint64_t alignment) {
  if (n == 0 || !bufs || n > (size_t)UINT32_MAX / 2) return 0;
  uint32_t *ev = malloc(2 * n * sizeof *ev);
  if (!ev) return 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (bufs[i].size == 0 || bufs[i].begin >= bufs[i].end) continue;
    ev[m++] = (uint32_t)(2 * i);
    ev[m++] = (uint32_t)(2 * i + 1);
  }
  lb_ctx c = {bufs};
  if (plan_sort(ev, m, cmp_ev, &c)) {
    free(ev);
    return 0;
  }
  /* The running sum is exact modulo 2^64; a wrap on an addition means the
   * true total passed 2^64, and the bound saturates. */
  uint64_t live = 0, best = 0;
  for (size_t k = 0; k < m; k++) {
    uint64_t s = aligned(bufs[ev[k] >> 1].size, alignment);
    if (ev[k] & 1) {
      live -= s;
      continue;
    }
    live += s;
    if (live < s) best = UINT64_MAX;
    if (live > best) best = live;
  }
  free(ev);
  return best;
}
