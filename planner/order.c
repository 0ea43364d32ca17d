/*
 * order.c: the orders in which the heuristics hand buffers to the best fit.
 *
 * Different problems favour different orders (big first, long first, the
 * busiest step first...), and each costs one best-fit pass, so plan_place()
 * tries them all and keeps the best. Ties fall back to the next key and then
 * to the buffer index, so every order is deterministic.
 *
 * The pressure of a buffer is the live total at the busiest step of its
 * lifetime: buffers around the peak step decide the peak, so placing them
 * first lets the others fill the gaps around them.
 */
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

const char *const plan_order_names[PLAN_ORD_COUNT] = {
    "size",     "lifetime",          "area",         "degree", "conflict",
    "pressure", "pressure+lifetime", "chronological"};

void plan_keys_free(plan_keys *k) {
  free(k->len);
  free(k->area);
  free(k->conflict);
  free(k->pressure);
  memset(k, 0, sizeof *k);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static size_t find_time(const int64_t *t, size_t nt, int64_t x) {
  size_t lo = 0, hi = nt;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Pressure: live totals per elementary time segment, then a range maximum
 * per buffer with an iterative segment tree. */
static int pressure(const plan_prob *p, uint64_t *out) {
  size_t n = p->n, nt = 0;
  int64_t *t = malloc(2 * n * sizeof *t);
  if (!t) return -1;
  for (size_t i = 0; i < n; i++) {
    t[nt++] = p->begin[i];
    t[nt++] = p->end[i];
  }
  qsort(t, nt, sizeof *t, cmp_i64);
  size_t u = 0;
  for (size_t i = 0; i < nt; i++)
    if (u == 0 || t[u - 1] != t[i]) t[u++] = t[i];
  nt = u;
  size_t leaves = 1;
  while (leaves < nt) leaves *= 2;
  uint64_t *tree = calloc(2 * leaves, sizeof *tree);
  if (!tree) {
    free(t);
    return -1;
  }
  /* difference array in the leaves, then prefix sums */
  for (size_t i = 0; i < n; i++) {
    tree[leaves + find_time(t, nt, p->begin[i])] += p->size[i];
    tree[leaves + find_time(t, nt, p->end[i])] -= p->size[i];
  }
  for (size_t s = 1; s < nt; s++) tree[leaves + s] += tree[leaves + s - 1];
  for (size_t s = leaves - 1; s >= 1; s--)
    tree[s] = tree[2 * s] > tree[2 * s + 1] ? tree[2 * s] : tree[2 * s + 1];
  for (size_t i = 0; i < n; i++) {
    size_t lo = find_time(t, nt, p->begin[i]) + leaves;
    size_t hi = find_time(t, nt, p->end[i]) + leaves; /* exclusive */
    uint64_t best = 0;
    while (lo < hi) {
      if (lo & 1) {
        if (tree[lo] > best) best = tree[lo];
        lo++;
      }
      if (hi & 1) {
        hi--;
        if (tree[hi] > best) best = tree[hi];
      }
      lo /= 2;
      hi /= 2;
    }
    out[i] = best;
  }
  free(tree);
  free(t);
  return 0;
}

int plan_keys_init(plan_keys *k, const plan_prob *p) {
  memset(k, 0, sizeof *k);
  size_t n = p->n ? p->n : 1;
  k->len = malloc(n * sizeof *k->len);
  k->area = malloc(n * sizeof *k->area);
  k->conflict = malloc(n * sizeof *k->conflict);
  k->pressure = malloc(n * sizeof *k->pressure);
  if (!k->len || !k->area || !k->conflict || !k->pressure) goto oom;
  for (size_t i = 0; i < p->n; i++) {
    k->len[i] = (uint64_t)p->end[i] - (uint64_t)p->begin[i];
    k->area[i] = (double)p->size[i] * (double)k->len[i];
    uint64_t c = 0;
    if (p->adj_start)
      for (size_t a = p->adj_start[i]; a < p->adj_start[i + 1]; a++) {
        uint64_t s = p->size[p->adj[a]];
        c = c > UINT64_MAX - s ? UINT64_MAX : c + s;
      }
    k->conflict[i] = c;
  }
  if (pressure(p, k->pressure)) goto oom;
  return 0;
oom:
  plan_keys_free(k);
  return -1;
}

typedef struct ord_ctx {
  const plan_prob *p;
  const plan_keys *k;
  int kind;
} ord_ctx;

#define DESC(x, y)                                                                                 \
  do {                                                                                             \
    if ((x) != (y)) return (x) > (y) ? -1 : 1;                                                     \
  } while (0)

static int cmp_ord(const void *ctx, uint32_t a, uint32_t b) {
  const ord_ctx *c = ctx;
  const plan_prob *p = c->p;
  const plan_keys *k = c->k;
  switch (c->kind) {
  case PLAN_ORD_SIZE: /* exactly the greedy-by-size baseline: never worse than it */
    DESC(p->size[a], p->size[b]);
    break;
  case PLAN_ORD_LENGTH:
    DESC(k->len[a], k->len[b]);
    DESC(p->size[a], p->size[b]);
    break;
  case PLAN_ORD_AREA:
    DESC(k->area[a], k->area[b]);
    DESC(p->size[a], p->size[b]);
    break;
  case PLAN_ORD_DEGREE: {
    size_t da = p->adj_start[a + 1] - p->adj_start[a];
    size_t db = p->adj_start[b + 1] - p->adj_start[b];
    DESC(da, db);
    DESC(p->size[a], p->size[b]);
    break;
  }
  case PLAN_ORD_CONFLICT:
    DESC(k->conflict[a], k->conflict[b]);
    DESC(p->size[a], p->size[b]);
    break;
  case PLAN_ORD_PRESSURE:
    DESC(k->pressure[a], k->pressure[b]);
    DESC(p->size[a], p->size[b]);
    DESC(k->len[a], k->len[b]);
    break;
  case PLAN_ORD_PRESS_LEN:
    DESC(k->pressure[a], k->pressure[b]);
    DESC(k->len[a], k->len[b]);
    DESC(k->area[a], k->area[b]);
    break;
  case PLAN_ORD_BEGIN:
    if (p->begin[a] != p->begin[b]) return p->begin[a] < p->begin[b] ? -1 : 1;
    DESC(p->size[a], p->size[b]);
    break;
  }
  return (a > b) - (a < b);
}

int plan_order_make(const plan_prob *p, const plan_keys *k, int kind, uint32_t *ord) {
  for (size_t i = 0; i < p->n; i++) ord[i] = (uint32_t)i;
  ord_ctx c = {p, k, kind};
  return plan_sort(ord, p->n, cmp_ord, &c);
}
