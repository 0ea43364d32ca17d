/*
 * bestfit.c: best-fit placement in a given order.
 *
 * Each buffer looks only at its already placed temporal neighbours (the CSR
 * lists of plan_prob), sorts their address ranges, and takes the smallest
 * gap that holds it, the lowest of equal gaps, or else the address just above
 * all of them. This is the placement step of greedy-by-size (TFLite GPU, TVM
 * USMP) and of every ordering heuristic and local-search move here.
 */
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

int plan_fit_init(plan_fit *f, const plan_prob *p) {
  f->placed = calloc(p->n ? p->n : 1, 1);
  f->iv = malloc((2 * p->max_deg + 2) * sizeof *f->iv);
  if (!f->placed || !f->iv) {
    plan_fit_free(f);
    return -1;
  }
  return 0;
}

void plan_fit_free(plan_fit *f) {
  free(f->placed);
  free(f->iv);
  f->placed = NULL;
  f->iv = NULL;
}

static int cmp_iv(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Sorts k (offset, top) pairs by offset. */
static void sort_iv(uint64_t *iv, size_t k) {
  if (k > 24) {
    qsort(iv, k, 2 * sizeof *iv, cmp_iv);
    return;
  }
  for (size_t i = 1; i < k; i++) {
    uint64_t o = iv[2 * i], t = iv[2 * i + 1];
    size_t j = i;
    while (j > 0 && iv[2 * (j - 1)] > o) {
      iv[2 * j] = iv[2 * (j - 1)];
      iv[2 * j + 1] = iv[2 * (j - 1) + 1];
      j--;
    }
    iv[2 * j] = o;
    iv[2 * j + 1] = t;
  }
}

uint64_t plan_bestfit(const plan_prob *p, plan_fit *f, const uint32_t *ord, size_t m,
                      uint64_t *off) {
  memset(f->placed, 0, p->n);
  uint64_t peak = 0;
  for (size_t q = 0; q < m; q++) {
    uint32_t i = ord[q];
    uint64_t size = p->size[i];
    size_t k = 0;
    for (size_t a = p->adj_start[i]; a < p->adj_start[i + 1]; a++) {
      uint32_t j = p->adj[a];
      if (!f->placed[j]) continue;
      f->iv[2 * k] = off[j];
      f->iv[2 * k + 1] = off[j] + p->size[j];
      k++;
    }
    sort_iv(f->iv, k);
    uint64_t cur = 0, best = 0, best_gap = UINT64_MAX;
    for (size_t a = 0; a < k; a++) {
      uint64_t o = f->iv[2 * a], t = f->iv[2 * a + 1];
      if (o > cur) {
        uint64_t gap = o - cur;
        if (gap >= size && gap < best_gap) {
          best_gap = gap;
          best = cur;
        }
      }
      if (t > cur) cur = t;
    }
    off[i] = best_gap != UINT64_MAX ? best : cur;
    f->placed[i] = 1;
    if (off[i] + size > peak) peak = off[i] + size;
  }
  return peak;
}
