/*
 * plan_internal.h: what the placement files share (never the verifier, which
 * is kept apart on purpose).
 *
 * A problem is normalized once by plan_prob_init(): zero-sized buffers are
 * dropped, sizes are rounded up to the alignment and then counted in units of
 * the gcd of the aligned sizes (every offset a best fit or a canonical search
 * builds is a sum of sizes, so it stays a multiple of the unit, hence
 * aligned), and the temporal overlaps are listed once in CSR form so every
 * placement pass walks only real conflicts (O(n log n + pairs), never all
 * pairs of buffers).
 */
#ifndef PLAN_INTERNAL_H
#define PLAN_INTERNAL_H

#include <stdarg.h>

#include "planner.h"

/* More overlap entries than this (128 MiB of indices): no CSR, the online
 * allocator in online.c places the problem instead. */
#define PLAN_MAX_ADJ ((size_t)32 << 20)

typedef struct plan_prob {
  size_t n;             /* buffers with a nonzero size */
  uint32_t *orig;       /* their index in the caller's array */
  uint64_t *size;       /* in units */
  int64_t *begin, *end; /* lifetime [begin, end) */
  uint64_t unit;        /* bytes per unit: a multiple of the alignment */
  uint64_t total;       /* sum of the sizes (units): bounds every offset */
  uint64_t lb;          /* lower bound (units) */
  size_t *adj_start;    /* n + 1 entries; NULL when there are too many pairs */
  uint32_t *adj;        /* neighbours of i: adj[adj_start[i] .. adj_start[i+1]) */
  size_t n_adj;         /* directed entries: twice the overlapping pairs */
  size_t max_deg;
} plan_prob;

int plan_prob_init(plan_prob *p, const plan_buf *bufs, size_t n, uint64_t alignment, char *err,
                   size_t err_size);
void plan_prob_free(plan_prob *p);
/* Writes offsets (units, one per problem buffer) back as bytes; zero-sized
 * buffers get 0. */
void plan_prob_store(const plan_prob *p, const uint64_t *off, plan_buf *bufs, size_t n);

/* Error message helper: snprintf into err when err is not NULL. */
void plan_errf(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
double plan_now(void);

/* Stable merge sort of indices with a context comparator (<0, 0, >0).
 * -1 when out of memory. */
typedef int (*plan_cmp_fn)(const void *ctx, uint32_t a, uint32_t b);
int plan_sort(uint32_t *a, size_t n, plan_cmp_fn cmp, const void *ctx);

/* Best fit in a given order (bestfit.c). */
typedef struct plan_fit {
  uint8_t *placed;
  uint64_t *iv; /* (offset, top) pairs of placed neighbours */
} plan_fit;
int plan_fit_init(plan_fit *f, const plan_prob *p);
void plan_fit_free(plan_fit *f);
/* Places the buffers ord[0..m) one after another, each into the smallest
 * gap between the placed buffers that overlap it in time (lowest such gap
 * on ties), or on top of them; the others are ignored. off[] in units.
 * Returns the peak of the placed buffers. */
uint64_t plan_bestfit(const plan_prob *p, plan_fit *f, const uint32_t *ord, size_t m,
                      uint64_t *off);

/* Peak (units) of a full assignment. */
uint64_t plan_peak(const plan_prob *p, const uint64_t *off);

/* Orderings for the best fit (order.c). */
enum {
  PLAN_ORD_SIZE,      /* size, as greedy.c: plan_place is never worse */
  PLAN_ORD_LENGTH,    /* lifetime, then size */
  PLAN_ORD_AREA,      /* size x lifetime */
  PLAN_ORD_DEGREE,    /* number of conflicts */
  PLAN_ORD_CONFLICT,  /* total size of the conflicts */
  PLAN_ORD_PRESSURE,  /* busiest step first: live total at the busiest step it spans */
  PLAN_ORD_PRESS_LEN, /* busiest step, then lifetime */
  PLAN_ORD_BEGIN,     /* chronological, big first among equals */
  PLAN_ORD_COUNT
};
extern const char *const plan_order_names[PLAN_ORD_COUNT];
typedef struct plan_keys {
  uint64_t *len;      /* end - begin */
  double *area;       /* size x len */
  uint64_t *conflict; /* summed size of the neighbours (saturating) */
  uint64_t *pressure; /* max live total over the lifetime */
} plan_keys;
int plan_keys_init(plan_keys *k, const plan_prob *p);
void plan_keys_free(plan_keys *k);
int plan_order_make(const plan_prob *p, const plan_keys *k, int kind, uint32_t *ord);

/* Online allocator in time order, O(n log n): the fallback when the overlap
 * list would be too large (online.c). Returns the peak (units). */
int plan_online(const plan_prob *p, uint64_t *off, uint64_t *peak);

/* Local search over best-fit orders (local.c). Improves ord/off/peak in
 * place; stops at the lower bound, after `work` units of work (about one per
 * overlap entry walked), or at the deadline (0: none). Returns 0, or -1 when
 * out of memory. */
int plan_local_search(const plan_prob *p, plan_fit *f, uint32_t *ord, uint64_t *off, uint64_t *peak,
                      uint64_t work, double deadline, int verbose);

/* Exact search in the spirit of MiniMalloc (search.c), on a subset of the
 * buffers: ascending indices, closed under overlap (whole temporal
 * components). NULL when out of memory. */
enum { PLAN_SR_FOUND = 0, PLAN_SR_NONE = 1, PLAN_SR_ABORT = 2 };
typedef struct plan_exact plan_exact;
plan_exact *plan_exact_new(const plan_prob *p, const uint32_t *bufs, uint32_t nb);
/* Decision: is there a placement of the subset with peak <= cap (units)?
 * FOUND fills off[i] for bufs[i]; NONE is a proof that there is none;
 * ABORT: the search gave up (out of budget, time, or memory). Spends about
 * work_budget units of work at most (entries scanned; the amount spent is
 * added to *work) and stops at the deadline (0: none). */
int plan_exact_decide(plan_exact *e, uint64_t cap, int64_t work_budget, double deadline,
                      uint64_t *off, int64_t *work);
void plan_exact_free(plan_exact *e);

/* Minimization driver over the temporal components (exact.c): improves off
 * and peak using plan_exact_decide; sets *proven when the result is proven
 * optimal. Returns 0, or -1 when out of memory. */
int plan_exact_minimize(const plan_prob *p, uint64_t *off, uint64_t *peak, int64_t work_budget,
                        double deadline, int verbose, int *proven, int64_t *work_used);

#endif
