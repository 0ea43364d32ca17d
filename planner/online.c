/*
 * online.c: the fallback placement for problems whose overlap lists would
 * not fit in memory (far more than PLAN_MAX_ADJ pairs, e.g. tens of thousands
 * of buffers all alive at once).
 *
 * It replays the lifetimes in time order like a runtime allocator: ends free
 * their bytes (coalescing holes, lowering the top when the topmost block
 * goes), begins take the smallest hole that fits (biggest buffers first among
 * those beginning together) or the top. Memory is O(n), time O(n log n + n h)
 * for at most h holes; the result is valid but not as tight as the best fit
 * over all neighbours.
 */
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

typedef struct hole {
  uint64_t lo, hi;
} hole;

typedef struct holes {
  hole *h;
  size_t n, cap;
  uint64_t top;
} holes;

/* Index of the first hole with lo >= x. */
static size_t first_at(const holes *hs, uint64_t x) {
  size_t lo = 0, hi = hs->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (hs->h[mid].lo < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int release(holes *hs, uint64_t lo, uint64_t hi) {
  size_t k = first_at(hs, lo);
  int merge_prev = k > 0 && hs->h[k - 1].hi == lo;
  int merge_next = k < hs->n && hs->h[k].lo == hi;
  if (merge_prev && merge_next) {
    hs->h[k - 1].hi = hs->h[k].hi;
    memmove(&hs->h[k], &hs->h[k + 1], (hs->n - k - 1) * sizeof *hs->h);
    hs->n--;
  } else if (merge_prev) {
    hs->h[k - 1].hi = hi;
  } else if (merge_next) {
    hs->h[k].lo = lo;
  } else {
    if (hs->n == hs->cap) {
      size_t cap = hs->cap ? 2 * hs->cap : 64;
      hole *h = realloc(hs->h, cap * sizeof *h);
      if (!h) return -1;
      hs->h = h;
      hs->cap = cap;
    }
    memmove(&hs->h[k + 1], &hs->h[k], (hs->n - k) * sizeof *hs->h);
    hs->h[k] = (hole){lo, hi};
    hs->n++;
  }
  /* the topmost hole goes back to the top */
  if (hs->n && hs->h[hs->n - 1].hi == hs->top) {
    hs->top = hs->h[hs->n - 1].lo;
    hs->n--;
  }
  return 0;
}

static uint64_t take(holes *hs, uint64_t size) {
  size_t best = SIZE_MAX;
  for (size_t k = 0; k < hs->n; k++) {
    uint64_t g = hs->h[k].hi - hs->h[k].lo;
    if (g >= size && (best == SIZE_MAX || g < hs->h[best].hi - hs->h[best].lo)) best = k;
  }
  if (best == SIZE_MAX) {
    uint64_t o = hs->top;
    hs->top += size;
    return o;
  }
  uint64_t o = hs->h[best].lo;
  hs->h[best].lo += size;
  if (hs->h[best].lo == hs->h[best].hi) {
    memmove(&hs->h[best], &hs->h[best + 1], (hs->n - best - 1) * sizeof *hs->h);
    hs->n--;
  }
  return o;
}

/* Events 2*i (begin) and 2*i+1 (end): by time, ends first, big begins first. */
static int cmp_ev(const void *ctx, uint32_t x, uint32_t y) {
  const plan_prob *p = ctx;
  uint32_t i = x >> 1, j = y >> 1;
  int64_t tx = (x & 1) ? p->end[i] : p->begin[i];
  int64_t ty = (y & 1) ? p->end[j] : p->begin[j];
  if (tx != ty) return tx < ty ? -1 : 1;
  if ((x & 1) != (y & 1)) return (x & 1) ? -1 : 1;
  if (!(x & 1) && p->size[i] != p->size[j]) return p->size[i] > p->size[j] ? -1 : 1;
  return (x > y) - (x < y);
}

int plan_online(const plan_prob *p, uint64_t *off, uint64_t *peak) {
  size_t n = p->n;
  *peak = 0;
  if (n == 0) return 0;
  uint32_t *ev = malloc(2 * n * sizeof *ev);
  if (!ev) return -1;
  for (size_t i = 0; i < 2 * n; i++) ev[i] = (uint32_t)i;
  if (plan_sort(ev, 2 * n, cmp_ev, p)) {
    free(ev);
    return -1;
  }
  holes hs = {0};
  int rc = 0;
  for (size_t k = 0; k < 2 * n && rc == 0; k++) {
    uint32_t i = ev[k] >> 1;
    if (ev[k] & 1) {
      rc = release(&hs, off[i], off[i] + p->size[i]);
    } else {
      off[i] = take(&hs, p->size[i]);
      if (hs.top > *peak) *peak = hs.top;
    }
  }
  free(hs.h);
  free(ev);
  return rc;
}
