/*
 * problem.c: validation and normalization of a placement problem.
 *
 * One sweep over the lifetimes sorted by begin gives the lower bound and the
 * overlap lists: when a buffer begins, the buffers still alive are exactly its
 * earlier-starting neighbours (lifetimes are half-open, so one ending at t
 * does not meet one beginning at t). A first pass only counts, so the lists
 * are allocated once and a problem with too many pairs is detected before any
 * memory is spent on it.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

static uint64_t gcd64(uint64_t a, uint64_t b) {
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static int cmp_begin(const void *ctx, uint32_t a, uint32_t b) {
  const plan_prob *p = ctx;
  if (p->begin[a] != p->begin[b]) return p->begin[a] < p->begin[b] ? -1 : 1;
  return (a > b) - (a < b);
}

static int cmp_end(const void *ctx, uint32_t a, uint32_t b) {
  const plan_prob *p = ctx;
  if (p->end[a] != p->end[b]) return p->end[a] < p->end[b] ? -1 : 1;
  return (a > b) - (a < b);
}

/* First position in the sorted array v[0..n) holding a value >= x. */
static size_t lower_pos(const int64_t *v, size_t n, int64_t x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (v[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void plan_prob_free(plan_prob *p) {
  free(p->orig);
  free(p->size);
  free(p->begin);
  free(p->end);
  free(p->adj_start);
  free(p->adj);
  memset(p, 0, sizeof *p);
}

/* The sweep: lower bound, and the overlap lists when fill is set (the
 * degrees in adj_start must then be prefix sums already). Returns the number
 * of directed overlap entries, saturated at PLAN_MAX_ADJ + 1. */
static size_t sweep(plan_prob *p, const uint32_t *ob, const uint32_t *oe, const int64_t *bb,
                    uint32_t *act, uint32_t *pos, size_t *fill) {
  size_t m = p->n, ie = 0, nact = 0, nadj = 0;
  uint64_t live = 0, lb = 0;
  for (size_t k = 0; k < m; k++) {
    uint32_t i = ob[k];
    while (ie < m && p->end[oe[ie]] <= p->begin[i]) {
      uint32_t j = oe[ie++];
      uint32_t pj = pos[j];
      act[pj] = act[--nact];
      pos[act[pj]] = pj;
      live -= p->size[j];
    }
    if (fill) {
      for (size_t a = 0; a < nact; a++) {
        uint32_t j = act[a];
        p->adj[fill[i]++] = j;
        p->adj[fill[j]++] = i;
      }
    } else if (nadj <= PLAN_MAX_ADJ) {
      /* Earlier neighbours are alive now; later ones begin before i ends. */
      size_t later = lower_pos(bb, m, p->end[i]) - k - 1;
      p->adj_start[i] = nact + later;
      nadj += nact + later;
    }
    pos[i] = (uint32_t)nact;
    act[nact++] = i;
    live += p->size[i];
    if (live > lb) lb = live;
  }
  p->lb = lb;
  return nadj;
}

int plan_prob_init(plan_prob *p, const plan_buf *bufs, size_t n, uint64_t alignment, char *err,
                   size_t err_size) {
  memset(p, 0, sizeof *p);
  if (alignment == 0 || (alignment & (alignment - 1))) {
    plan_errf(err, err_size, "alignment %" PRIu64 " is not a power of two", alignment);
    return -1;
  }
  if (n > (size_t)UINT32_MAX - 1) {
    plan_errf(err, err_size, "%zu buffers: at most %" PRIu32 " are supported", n, UINT32_MAX - 1);
    return -1;
  }
  if (n && !bufs) {
    plan_errf(err, err_size, "no buffer array for %zu buffers", n);
    return -1;
  }
  size_t m = 0;
  uint64_t g = 0, total = 0;
  for (size_t i = 0; i < n; i++) {
    const plan_buf *b = &bufs[i];
    if (b->begin >= b->end) {
      plan_errf(err, err_size, "buffer %zu: begin %" PRId64 " is not before end %" PRId64, i,
                b->begin, b->end);
      return -1;
    }
    if (b->size == 0) continue;
    uint64_t units = b->size / alignment + (b->size % alignment != 0);
    if (units > UINT64_MAX / alignment) {
      plan_errf(err, err_size,
                "buffer %zu: size %" PRIu64 " overflows 64 bits when rounded up to %" PRIu64, i,
                b->size, alignment);
      return -1;
    }
    uint64_t bytes = units * alignment;
    if (total > UINT64_MAX - bytes) {
      plan_errf(err, err_size, "the buffers add up to more than 2^64 bytes (at buffer %zu)", i);
      return -1;
    }
    total += bytes;
    g = gcd64(g, bytes);
    m++;
  }
  p->n = m;
  p->unit = g ? g : alignment;
  if (m == 0) return 0;
  p->orig = malloc(m * sizeof *p->orig);
  p->size = malloc(m * sizeof *p->size);
  p->begin = malloc(m * sizeof *p->begin);
  p->end = malloc(m * sizeof *p->end);
  p->adj_start = malloc((m + 1) * sizeof *p->adj_start);
  uint32_t *ob = malloc(m * sizeof *ob), *oe = malloc(m * sizeof *oe);
  uint32_t *act = malloc(m * sizeof *act), *pos = malloc(m * sizeof *pos);
  int64_t *bb = malloc(m * sizeof *bb);
  size_t *fill = NULL;
  if (!p->orig || !p->size || !p->begin || !p->end || !p->adj_start || !ob || !oe || !act || !pos ||
      !bb)
    goto oom;
  for (size_t i = 0, k = 0; i < n; i++) {
    if (bufs[i].size == 0) continue;
    uint64_t units = bufs[i].size / alignment + (bufs[i].size % alignment != 0);
    p->orig[k] = (uint32_t)i;
    p->size[k] = units * alignment / g;
    p->begin[k] = bufs[i].begin;
    p->end[k] = bufs[i].end;
    ob[k] = oe[k] = (uint32_t)k;
    k++;
  }
  p->total = total / g;
  if (plan_sort(ob, m, cmp_begin, p) || plan_sort(oe, m, cmp_end, p)) goto oom;
  for (size_t k = 0; k < m; k++) bb[k] = p->begin[ob[k]];

  size_t nadj = sweep(p, ob, oe, bb, act, pos, NULL);
  if (nadj <= PLAN_MAX_ADJ) {
    /* degrees -> prefix sums; the second sweep fills the lists */
    size_t s = 0;
    for (size_t i = 0; i < m; i++) {
      size_t d = p->adj_start[i];
      if (d > p->max_deg) p->max_deg = d;
      p->adj_start[i] = s;
      s += d;
    }
    p->adj_start[m] = s;
    p->n_adj = s;
    p->adj = malloc((s ? s : 1) * sizeof *p->adj);
    fill = malloc(m * sizeof *fill);
    if (!p->adj || !fill) goto oom;
    memcpy(fill, p->adj_start, m * sizeof *fill);
    sweep(p, ob, oe, bb, act, pos, fill);
    for (size_t i = 0; i < m; i++) assert(fill[i] == p->adj_start[i + 1]);
  } else {
    free(p->adj_start);
    p->adj_start = NULL;
    p->n_adj = nadj;
  }
  free(ob);
  free(oe);
  free(act);
  free(pos);
  free(bb);
  free(fill);
  return 0;
oom:
  free(ob);
  free(oe);
  free(act);
  free(pos);
  free(bb);
  free(fill);
  plan_prob_free(p);
  plan_errf(err, err_size, "out of memory for %zu buffers", n);
  return -1;
}

void plan_prob_store(const plan_prob *p, const uint64_t *off, plan_buf *bufs, size_t n) {
  for (size_t i = 0; i < n; i++) bufs[i].offset = 0;
  for (size_t k = 0; k < p->n; k++) bufs[p->orig[k]].offset = off[k] * p->unit;
}

uint64_t plan_peak(const plan_prob *p, const uint64_t *off) {
  uint64_t peak = 0;
  for (size_t i = 0; i < p->n; i++)
    if (off[i] + p->size[i] > peak) peak = off[i] + p->size[i];
  return peak;
}
