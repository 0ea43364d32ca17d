/*
 * local.c: local search over best-fit orders.
 *
 * A placement is decided by the order handed to the best fit, so the search
 * picks a buffer that reaches the peak (only those can lower it) and either
 * moves it earlier in the order (anywhere before, or to the front) or moves
 * one of its temporal neighbours placed before it to just after it; then it
 * replays the best fit and keeps the new order when it is no worse: a lower
 * peak, or the same peak reached by no more buffers (plateau moves let it
 * drift out of a local optimum). A fixed-seed generator and a budget counted
 * in work, not time, keep it deterministic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

static uint64_t rng_next(uint64_t *s) {
  /* xorshift64* */
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static size_t count_at_peak(const plan_prob *p, const uint64_t *off, uint64_t peak,
                            uint32_t *crit) {
  size_t k = 0;
  for (size_t i = 0; i < p->n; i++)
    if (off[i] + p->size[i] == peak) crit[k++] = (uint32_t)i;
  return k;
}

int plan_local_search(const plan_prob *p, plan_fit *f, uint32_t *ord, uint64_t *off, uint64_t *peak,
                      uint64_t work, double deadline, int verbose) {
  size_t n = p->n;
  if (n < 2 || *peak <= p->lb) return 0;
  uint32_t *cand = malloc(n * sizeof *cand), *crit = malloc(n * sizeof *crit);
  uint32_t *pos = malloc(n * sizeof *pos);
  uint64_t *coff = malloc(n * sizeof *coff);
  if (!cand || !crit || !pos || !coff) {
    free(cand);
    free(crit);
    free(pos);
    free(coff);
    return -1;
  }
  uint64_t cost = (uint64_t)n + p->n_adj, spent = 0, seed = 0x9E3779B97F4A7C15ULL;
  size_t ncrit = count_at_peak(p, off, *peak, crit);
  uint64_t start = *peak;
  size_t iters = 0, accepted = 0;
  while (*peak > p->lb && spent + cost <= work) {
    if (deadline > 0 && (iters & 15) == 0 && plan_now() > deadline) break;
    iters++;
    spent += cost;
    for (size_t q = 0; q < n; q++) pos[ord[q]] = (uint32_t)q;
    uint32_t x = crit[rng_next(&seed) % ncrit];
    size_t from = pos[x], to;
    uint64_t kind = rng_next(&seed) % 4;
    if (kind == 3) {
      /* an earlier temporal neighbour of x goes just after it */
      size_t deg = p->adj_start[x + 1] - p->adj_start[x];
      if (deg == 0) continue;
      uint32_t y = p->adj[p->adj_start[x] + rng_next(&seed) % deg];
      if (pos[y] > from) continue;
      x = y;
      to = from;
      from = pos[y];
    } else {
      if (from == 0) continue;
      to = kind == 2 ? 0 : rng_next(&seed) % from; /* to the front, or anywhere before */
    }
    /* cand = ord with x moved from `from` to `to` */
    if (to < from) {
      memcpy(cand, ord, to * sizeof *cand);
      cand[to] = x;
      memcpy(cand + to + 1, ord + to, (from - to) * sizeof *cand);
      memcpy(cand + from + 1, ord + from + 1, (n - from - 1) * sizeof *cand);
    } else {
      memcpy(cand, ord, from * sizeof *cand);
      memcpy(cand + from, ord + from + 1, (to - from) * sizeof *cand);
      cand[to] = x;
      memcpy(cand + to + 1, ord + to + 1, (n - to - 1) * sizeof *cand);
    }
    uint64_t pk = plan_bestfit(p, f, cand, n, coff);
    if (pk > *peak) continue;
    size_t nc = count_at_peak(p, coff, pk, pos); /* pos is rebuilt next round */
    if (pk == *peak && nc > ncrit) continue;
    memcpy(ord, cand, n * sizeof *ord);
    memcpy(off, coff, n * sizeof *off);
    memcpy(crit, pos, nc * sizeof *crit);
    ncrit = nc;
    *peak = pk;
    accepted++;
  }
  if (verbose)
    fprintf(stderr, "plan: local search: %zu moves, %zu kept, peak %llu -> %llu units\n", iters,
            accepted, (unsigned long long)start, (unsigned long long)*peak);
  free(cand);
  free(crit);
  free(pos);
  free(coff);
  return 0;
}
