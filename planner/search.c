/*
 * search.c: exact placement by branch and bound over canonical solutions, in
 * the spirit of MiniMalloc (Moffitt, ASPLOS 2023).
 *
 * The decision question is: can these buffers fit under `cap`? Every feasible
 * placement can be pushed down until each buffer rests on 0 or on the top of a
 * temporal neighbour, and such a placement can be built by placing buffers in
 * non-decreasing (offset, preorder index) order, each at its lowest possible
 * offset (the highest top among its placed neighbours). The search enumerates
 * only those canonical sequences, and prunes with:
 *   - dominance: a buffer may not go at or above the lowest top any unplaced
 *     buffer could reach, which would leave a gap that buffer could fill;
 *   - section inference: the time axis is cut into sections (the maximal
 *     cliques of the interval graph); in each, the unplaced sizes must still
 *     fit between the section's floor (raised to the minimum offset of its
 *     unplaced buffers, and to the current offset since offsets only grow)
 *     and the cap;
 *   - dynamic decomposition: when no unplaced buffer spans the boundary
 *     between two sections any more, the two sides are independent problems
 *     and are solved one after the other, each from scratch.
 * Three static preorders (width-area-total, total-area-width,
 * total-width-area) take turns under a node limit that doubles each round,
 * as in MiniMalloc's round robin, so one lucky order rescues the others.
 * The budget is counted in work (entries scanned), so the outcome does not
 * depend on the machine's speed unless the wall-clock deadline cuts the
 * search. Each level keeps its ordering (4 bytes per unplaced buffer of its
 * part) on a stack capped at PLAN_SEARCH_MEM; running out of it, or of
 * memory, makes the search give up like running out of budget: the caller
 * still has its heuristic placement.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "plan_internal.h"

#define PLAN_SEARCH_MEM ((size_t)256 << 20)

/* An ordering entry is a preorder index; its key is the lowest offset its
 * buffer can take now, minoff[pre[pidx]], then the index itself. */

typedef struct sr_part {
  uint32_t s_lo, s_hi; /* sections [s_lo, s_hi) */
  const uint32_t *bufs;
  uint32_t nb;
} sr_part;

/* A stack of memory chunks: each search level takes its ordering from it and
 * gives it back on return. */
typedef struct stk {
  unsigned char **chunk;
  size_t *cap;
  size_t n_chunks, cur, used, total;
} stk;

typedef struct stk_mark {
  size_t cur, used;
} stk_mark;

/* NULL when out of memory or over PLAN_SEARCH_MEM. */
static void *stk_alloc(stk *s, size_t bytes) {
  bytes = (bytes + 15) & ~(size_t)15;
  if (s->n_chunks && s->used + bytes <= s->cap[s->cur]) {
    void *p = s->chunk[s->cur] + s->used;
    s->used += bytes;
    return p;
  }
  size_t next = s->n_chunks ? s->cur + 1 : 0;
  if (next == s->n_chunks) {
    unsigned char **c = realloc(s->chunk, (s->n_chunks + 1) * sizeof *c);
    if (!c) return NULL;
    s->chunk = c;
    size_t *cap = realloc(s->cap, (s->n_chunks + 1) * sizeof *cap);
    if (!cap) return NULL;
    s->cap = cap;
    s->chunk[next] = NULL;
    s->cap[next] = 0;
    s->n_chunks++;
  }
  if (s->cap[next] < bytes) {
    size_t want = next ? 2 * s->cap[next - 1] : 1 << 16;
    if (want < bytes) want = bytes;
    s->total -= s->cap[next];
    free(s->chunk[next]);
    s->cap[next] = 0;
    s->chunk[next] = NULL;
    if (s->total + want > PLAN_SEARCH_MEM) want = bytes;
    if (s->total + want > PLAN_SEARCH_MEM) return NULL;
    s->chunk[next] = malloc(want);
    if (!s->chunk[next]) return NULL;
    s->cap[next] = want;
    s->total += want;
  }
  s->cur = next;
  s->used = bytes;
  return s->chunk[next];
}

static stk_mark stk_get(const stk *s) { return (stk_mark){s->cur, s->used}; }
static void stk_set(stk *s, stk_mark m) {
  s->cur = m.cur;
  s->used = m.used;
}

static void stk_free(stk *s) {
  for (size_t i = 0; i < s->n_chunks; i++) free(s->chunk[i]);
  free(s->chunk);
  free(s->cap);
}

enum { H_WAT, H_TAW, H_TWA, H_COUNT };

struct plan_exact {
  /* the subproblem */
  uint32_t m, S;
  uint64_t *size;
  int64_t *width;
  double *area;
  uint32_t *slo, *shi;           /* sections spanned: [slo, shi) */
  uint32_t *adj_start, *adj;     /* temporal neighbours, local indices */
  uint32_t *sec_start, *sec_buf; /* buffers of each section */
  uint32_t *cuts0;               /* initial cuts (S entries, last unused) */
  uint64_t *total0;
  /* search state */
  uint64_t cap;
  uint64_t *floor_, *total;
  uint64_t *minoff, *sol;
  uint8_t *placed;
  uint32_t *cuts;
  uint32_t *wit;     /* per section: where check() last found a buffer that fits */
  uint32_t tlo, thi; /* sections touched by the last place() */
  uint64_t *tkey;    /* preorder key T, per buffer */
  int heur;
  /* undo logs */
  uint32_t *u_idx;
  uint64_t *u_val;
  size_t u_n, u_cap;
  uint32_t *v_idx;
  uint64_t *v_val;
  size_t v_n, v_cap;
  /* scratch */
  uint32_t *chg, *chg_tmp; /* scratch for the entries that moved */
  uint32_t *mark, gen;     /* mark[b] == gen: b moved since the parent's ordering */
  stk st;
  /* budget */
  int64_t nodes_left, nodes; /* round-robin node limit */
  int64_t work_cap, work;    /* entries scanned: the real budget, close to time */
  double deadline;
};

/* Makes room for `more` entries in an undo log. */
static int log_reserve(uint32_t **idx, uint64_t **val, size_t n, size_t *cap, size_t more) {
  if (n + more <= *cap) return 0;
  size_t c = *cap ? *cap : 1024;
  while (c < n + more) c *= 2;
  uint32_t *ni = realloc(*idx, c * sizeof *ni);
  if (!ni) return -1;
  *idx = ni;
  uint64_t *nv = realloc(*val, c * sizeof *nv);
  if (!nv) return -1;
  *val = nv;
  *cap = c;
  return 0;
}

void plan_exact_free(plan_exact *e) {
  if (!e) return;
  free(e->size);
  free(e->width);
  free(e->area);
  free(e->slo);
  free(e->shi);
  free(e->adj_start);
  free(e->adj);
  free(e->sec_start);
  free(e->sec_buf);
  free(e->cuts0);
  free(e->total0);
  free(e->floor_);
  free(e->total);
  free(e->minoff);
  free(e->sol);
  free(e->placed);
  free(e->cuts);
  free(e->wit);
  free(e->tkey);
  free(e->u_idx);
  free(e->u_val);
  free(e->v_idx);
  free(e->v_val);
  free(e->chg);
  free(e->chg_tmp);
  free(e->mark);
  stk_free(&e->st);
  free(e);
}

typedef struct ev_ctx {
  const int64_t *begin, *end;
} ev_ctx;

/* Events 2*i (begin) and 2*i+1 (end) by time, ends first at equal times. */
static int cmp_ev(const void *ctx, uint32_t x, uint32_t y) {
  const ev_ctx *c = ctx;
  int64_t tx = (x & 1) ? c->end[x >> 1] : c->begin[x >> 1];
  int64_t ty = (y & 1) ? c->end[y >> 1] : c->begin[y >> 1];
  if (tx != ty) return tx < ty ? -1 : 1;
  if ((x & 1) != (y & 1)) return (x & 1) ? -1 : 1;
  return (x > y) - (x < y);
}

static uint32_t local_of(const uint32_t *bufs, uint32_t nb, uint32_t g) {
  uint32_t lo = 0, hi = nb;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (bufs[mid] < g)
      lo = mid + 1;
    else
      hi = mid;
  }
  assert(lo < nb && bufs[lo] == g); /* bufs must be closed under overlap */
  return lo;
}

plan_exact *plan_exact_new(const plan_prob *p, const uint32_t *bufs, uint32_t nb) {
  assert(p->adj_start && nb > 0);
  for (uint32_t i = 1; i < nb; i++) assert(bufs[i - 1] < bufs[i]);
  plan_exact *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  uint32_t m = nb;
  e->m = m;
  e->size = malloc(m * sizeof *e->size);
  e->width = malloc(m * sizeof *e->width);
  e->area = malloc(m * sizeof *e->area);
  e->slo = malloc(m * sizeof *e->slo);
  e->shi = malloc(m * sizeof *e->shi);
  e->adj_start = malloc((m + 1) * sizeof *e->adj_start);
  e->minoff = malloc(m * sizeof *e->minoff);
  e->sol = malloc(m * sizeof *e->sol);
  e->placed = malloc(m);
  e->tkey = malloc(m * sizeof *e->tkey);
  e->chg = malloc(m * sizeof *e->chg);
  e->chg_tmp = malloc(m * sizeof *e->chg_tmp);
  e->mark = calloc(m, sizeof *e->mark);
  int64_t *begin = malloc(m * sizeof *begin), *end = malloc(m * sizeof *end);
  uint32_t *ev = malloc(2 * (size_t)m * sizeof *ev);
  if (!e->size || !e->width || !e->area || !e->slo || !e->shi || !e->adj_start || !e->minoff ||
      !e->sol || !e->placed || !e->tkey || !e->chg || !e->chg_tmp || !e->mark || !begin || !end ||
      !ev)
    goto oom;
  size_t na = 0;
  for (uint32_t i = 0; i < m; i++) {
    uint32_t g = bufs[i];
    e->size[i] = p->size[g];
    begin[i] = p->begin[g];
    end[i] = p->end[g];
    e->width[i] = end[i] - begin[i];
    e->area[i] = (double)e->size[i] * (double)e->width[i];
    e->adj_start[i] = (uint32_t)na;
    na += p->adj_start[g + 1] - p->adj_start[g];
    if (na > UINT32_MAX) goto oom;
  }
  e->adj_start[m] = (uint32_t)na;
  e->adj = malloc((na ? na : 1) * sizeof *e->adj);
  if (!e->adj) goto oom;
  for (uint32_t i = 0; i < m; i++) {
    uint32_t g = bufs[i];
    size_t w = e->adj_start[i];
    for (size_t a = p->adj_start[g]; a < p->adj_start[g + 1]; a++)
      e->adj[w++] = local_of(bufs, nb, p->adj[a]);
  }

  /* Sections: one per maximal clique, emitted at an end that follows a begin. */
  for (uint32_t i = 0; i < 2 * m; i++) ev[i] = i;
  ev_ctx c = {begin, end};
  if (plan_sort(ev, 2 * (size_t)m, cmp_ev, &c)) goto oom;
  uint32_t S = 0;
  int opened = 0;
  for (uint32_t k = 0; k < 2 * m; k++) {
    uint32_t b = ev[k] >> 1;
    if (ev[k] & 1) {
      if (opened) {
        S++;
        opened = 0;
      }
      e->shi[b] = S;
    } else {
      e->slo[b] = S;
      opened = 1;
    }
  }
  e->S = S;
  e->sec_start = calloc((size_t)S + 1, sizeof *e->sec_start);
  e->cuts0 = calloc((size_t)S + 1, sizeof *e->cuts0);
  e->cuts = calloc((size_t)S + 1, sizeof *e->cuts);
  e->wit = malloc((size_t)S * sizeof *e->wit);
  e->total0 = calloc(S, sizeof *e->total0);
  e->floor_ = calloc(S, sizeof *e->floor_);
  e->total = calloc(S, sizeof *e->total);
  if (!e->sec_start || !e->cuts0 || !e->cuts || !e->wit || !e->total0 || !e->floor_ || !e->total)
    goto oom;
  size_t ns = 0;
  int64_t *cd = (int64_t *)begin; /* reuse as a difference array (S <= m) */
  memset(cd, 0, m * sizeof *cd);
  for (uint32_t b = 0; b < m; b++) {
    assert(e->slo[b] < e->shi[b]);
    for (uint32_t s = e->slo[b]; s < e->shi[b]; s++) {
      e->sec_start[s + 1]++;
      e->total0[s] += e->size[b];
    }
    ns += e->shi[b] - e->slo[b];
    if (e->shi[b] - e->slo[b] >= 2) {
      cd[e->slo[b]]++;
      cd[e->shi[b] - 1]--;
    }
  }
  for (uint32_t s = 0; s < S; s++) e->sec_start[s + 1] += e->sec_start[s];
  for (uint32_t s = 0; s < S; s++) e->wit[s] = e->sec_start[s];
  int64_t run = 0;
  for (uint32_t s = 0; s + 1 < S; s++) {
    run += cd[s];
    e->cuts0[s] = (uint32_t)run;
  }
  e->sec_buf = malloc((ns ? ns : 1) * sizeof *e->sec_buf);
  if (!e->sec_buf) goto oom;
  uint32_t *fill = (uint32_t *)ev; /* S + 1 <= 2m entries */
  memcpy(fill, e->sec_start, (size_t)S * sizeof *fill);
  for (uint32_t b = 0; b < m; b++)
    for (uint32_t s = e->slo[b]; s < e->shi[b]; s++) e->sec_buf[fill[s]++] = b;
  free(begin);
  free(end);
  free(ev);
  return e;
oom:
  free(begin);
  free(end);
  free(ev);
  plan_exact_free(e);
  return NULL;
}

/* ---- the search ---------------------------------------------------------- */

static int sr_search(plan_exact *e, const sr_part *pt, const uint32_t *pre, const uint32_t *orig,
                     uint32_t norig, uint64_t min_off, uint32_t min_pidx, size_t u_from);

/* (minoff, pidx) order of two entries. */
static int ent_less(const plan_exact *e, const uint32_t *pre, uint32_t a, uint32_t b) {
  uint64_t oa = e->minoff[pre[a]], ob = e->minoff[pre[b]];
  return oa < ob || (oa == ob && a < b);
}

static void sort_ents(const plan_exact *e, const uint32_t *pre, uint32_t *a, uint32_t *tmp,
                      uint32_t n) {
  if (n <= 24) {
    for (uint32_t i = 1; i < n; i++) {
      uint32_t x = a[i], j = i;
      while (j > 0 && ent_less(e, pre, x, a[j - 1])) {
        a[j] = a[j - 1];
        j--;
      }
      a[j] = x;
    }
    return;
  }
  uint32_t h = n / 2;
  sort_ents(e, pre, a, tmp, h);
  sort_ents(e, pre, a + h, tmp, n - h);
  memcpy(tmp, a, h * sizeof *a);
  uint32_t i = 0, j = h, k = 0;
  while (i < h && j < n) a[k++] = ent_less(e, pre, a[j], tmp[i]) ? a[j++] : tmp[i++];
  while (i < h) a[k++] = tmp[i++];
}

/* Places local buffer b at off: raises the minimum offsets of its unplaced
 * neighbours, and the floors of its sections to its top. Every change is
 * logged for unplace(). A placed buffer's minimum offset becomes UINT64_MAX,
 * so check() needs no separate test for it. The sections whose state moved
 * are those of b and of the neighbours that moved; all of these overlap b,
 * so they form one range, kept in [tlo, thi) for check(). */
static int place(plan_exact *e, uint32_t b, uint64_t off) {
  uint64_t h = off + e->size[b];
  uint32_t a0 = e->adj_start[b], a1 = e->adj_start[b + 1], s0 = e->slo[b], s1 = e->shi[b];
  if (log_reserve(&e->u_idx, &e->u_val, e->u_n, &e->u_cap, (size_t)(a1 - a0) + 1) ||
      log_reserve(&e->v_idx, &e->v_val, e->v_n, &e->v_cap, s1 - s0))
    return -1;
  e->work += (a1 - a0) + (s1 - s0);
  e->placed[b] = 1;
  e->sol[b] = off;
  size_t un = e->u_n;
  e->u_idx[un] = b;
  e->u_val[un++] = e->minoff[b];
  e->minoff[b] = UINT64_MAX;
  uint32_t tlo = s0, thi = s1;
  for (uint32_t a = a0; a < a1; a++) {
    uint32_t x = e->adj[a];
    if (e->minoff[x] >= h) continue; /* placed, or already high enough */
    e->u_idx[un] = x;
    e->u_val[un++] = e->minoff[x];
    e->minoff[x] = h;
    if (e->slo[x] < tlo) tlo = e->slo[x];
    if (e->shi[x] > thi) thi = e->shi[x];
  }
  e->u_n = un;
  e->tlo = tlo;
  e->thi = thi;
  size_t vn = e->v_n;
  for (uint32_t s = s0; s < s1; s++) {
    e->v_idx[vn] = s;
    e->v_val[vn++] = e->floor_[s];
    e->floor_[s] = h;
    e->total[s] -= e->size[b];
  }
  e->v_n = vn;
  return 0;
}

static void unplace(plan_exact *e, uint32_t b, size_t u_mark, size_t v_mark) {
  while (e->v_n > v_mark) {
    e->v_n--;
    e->floor_[e->v_idx[e->v_n]] = e->v_val[e->v_n];
  }
  for (uint32_t s = e->slo[b]; s < e->shi[b]; s++) e->total[s] += e->size[b];
  while (e->u_n > u_mark) {
    e->u_n--;
    e->minoff[e->u_idx[e->u_n]] = e->u_val[e->u_n];
  }
  e->placed[b] = 0;
}

/* Section inference: in every section of the part, what is left must fit
 * between the floor and the cap. The floor is the top of the last buffer
 * placed there, raised to the current offset (offsets only grow) and to the
 * lowest minimum offset of the unplaced buffers there. That last term is
 * needed only when the others pass, and only to know whether some unplaced
 * buffer can still start at or below cap - total, so its scan stops at the
 * first one that can. (MiniMalloc keeps these floors up to date after every
 * placement instead; minimum offsets only grow down a branch, so computing
 * them here prunes at least as much, for far less work.) */
static int check_range(plan_exact *e, uint32_t lo, uint32_t hi, uint64_t off) {
  e->work += hi - lo;
  for (uint32_t s = lo; s < hi; s++) {
    uint64_t f = e->floor_[s] > off ? e->floor_[s] : off, t = e->total[s];
    if (f + t > e->cap) return 0;
    if (t == 0) continue;
    uint64_t slack = e->cap - t;
    /* start from the buffer that passed last time (a hint, not state):
     * it usually still does */
    uint32_t q0 = e->sec_start[s], qe = e->sec_start[s + 1], w = e->wit[s], q = w;
    while (e->minoff[e->sec_buf[q]] > slack) {
      if (++q == qe) q = q0;
      if (q == w) return 0;
    }
    e->wit[s] = q;
  }
  return 1;
}

/* The parent passed the check with a lower offset; since then only the
 * sections in [tlo, thi) changed, and elsewhere only the raised offset can
 * fail a section, which max_t (the largest total in the part when the node
 * began; totals only fall) rules out when off + max_t fits. */
static int check(plan_exact *e, const sr_part *pt, uint64_t off, uint64_t max_t) {
  if (off + max_t > e->cap) return check_range(e, pt->s_lo, pt->s_hi, off);
  uint32_t lo = e->tlo > pt->s_lo ? e->tlo : pt->s_lo, hi = e->thi < pt->s_hi ? e->thi : pt->s_hi;
  return check_range(e, lo, hi, off);
}

typedef struct pre_ctx {
  const plan_exact *e;
} pre_ctx;

#define DESC(x, y)                                                                                 \
  do {                                                                                             \
    if ((x) != (y)) return (x) > (y) ? -1 : 1;                                                     \
  } while (0)

static int cmp_pre(const void *ctx, uint32_t a, uint32_t b) {
  const plan_exact *e = ((const pre_ctx *)ctx)->e;
  switch (e->heur) {
  case H_WAT:
    DESC(e->width[a], e->width[b]);
    DESC(e->area[a], e->area[b]);
    DESC(e->tkey[a], e->tkey[b]);
    break;
  case H_TAW:
    DESC(e->tkey[a], e->tkey[b]);
    DESC(e->area[a], e->area[b]);
    DESC(e->width[a], e->width[b]);
    break;
  default:
    DESC(e->tkey[a], e->tkey[b]);
    DESC(e->width[a], e->width[b]);
    DESC(e->area[a], e->area[b]);
    break;
  }
  return (a > b) - (a < b);
}

/* Solves one part from scratch: a fresh preorder of its unplaced buffers
 * (the T key uses the sections' current totals), then the search. */
static int sr_subsolve(plan_exact *e, const sr_part *pt) {
  stk_mark mk = stk_get(&e->st);
  uint32_t *pre = stk_alloc(&e->st, pt->nb * sizeof *pre);
  uint32_t *ord = stk_alloc(&e->st, pt->nb * sizeof *ord);
  if (!pre || !ord) return PLAN_SR_ABORT;
  for (uint32_t i = 0; i < pt->nb; i++) {
    uint32_t b = pt->bufs[i];
    uint64_t t = 0;
    for (uint32_t s = e->slo[b]; s < e->shi[b]; s++)
      if (e->total[s] > t) t = e->total[s];
    e->tkey[b] = t;
    pre[i] = b;
  }
  e->work += pt->nb;
  pre_ctx c = {e};
  if (plan_sort(pre, pt->nb, cmp_pre, &c)) return PLAN_SR_ABORT;
  for (uint32_t i = 0; i < pt->nb; i++) ord[i] = i;
  sort_ents(e, pre, ord, e->chg_tmp, pt->nb);
  int r = sr_search(e, pt, pre, ord, pt->nb, 0, 0, e->u_n);
  stk_set(&e->st, mk);
  return r;
}

/* After b went down: when b was the last buffer spanning some section
 * boundaries, the part splits there and the pieces are solved one by one;
 * otherwise the search goes on in the same part. */
static int sr_decompose(plan_exact *e, const sr_part *pt, const uint32_t *pre, const uint32_t *ord,
                        uint32_t nord, uint64_t off, uint32_t pidx, uint32_t b, size_t u_from) {
  stk_mark mk = stk_get(&e->st);
  uint32_t ncut = 0;
  for (uint32_t s = e->slo[b]; s + 1 < e->shi[b]; s++)
    if (--e->cuts[s] == 0) ncut++;
  int r;
  if (ncut == 0) {
    r = sr_search(e, pt, pre, ord, nord, off, pidx, u_from);
  } else {
    uint32_t *cp = stk_alloc(&e->st, (ncut + 2) * sizeof *cp);
    uint32_t *sub = stk_alloc(&e->st, pt->nb * sizeof *sub);
    if (!cp || !sub) {
      r = PLAN_SR_ABORT;
      goto restore;
    }
    uint32_t k = 0;
    cp[k++] = pt->s_lo;
    for (uint32_t s = e->slo[b]; s + 1 < e->shi[b]; s++)
      if (e->cuts[s] == 0) cp[k++] = s + 1;
    cp[k++] = pt->s_hi;
    r = PLAN_SR_FOUND;
    e->work += pt->nb;
    for (uint32_t c = 1; c < k && r == PLAN_SR_FOUND; c++) {
      uint32_t lo = cp[c - 1], hi = cp[c], nsub = 0;
      for (uint32_t i = 0; i < pt->nb; i++) {
        uint32_t x = pt->bufs[i];
        if (!e->placed[x] && e->shi[x] > lo && e->slo[x] < hi) sub[nsub++] = x;
      }
      if (nsub == 0) continue;
      sr_part sp = {lo, hi, sub, nsub};
      r = sr_subsolve(e, &sp);
    }
  }
restore:
  for (uint32_t s = e->slo[b]; s + 1 < e->shi[b]; s++) e->cuts[s]++;
  stk_set(&e->st, mk);
  return r;
}

/* One node: orders the unplaced buffers of the part by lowest offset, and
 * tries each canonical, non-dominated one at that offset. orig is the
 * parent's ordering; the buffers logged in the undo log from u_from on are
 * the ones that moved since. */
static int sr_search(plan_exact *e, const sr_part *pt, const uint32_t *pre, const uint32_t *orig,
                     uint32_t norig, uint64_t min_off, uint32_t min_pidx, size_t u_from) {
  if (e->nodes_left <= 0 || e->work >= e->work_cap) return PLAN_SR_ABORT;
  e->nodes_left--;
  e->nodes++;
  e->work += norig;
  if (e->deadline > 0 && (e->nodes & 1023) == 0 && plan_now() > e->deadline) {
    e->work_cap = 0;
    return PLAN_SR_ABORT;
  }
  /* Entries that did not move stay sorted; the few that moved are sorted
   * apart and merged back in. */
  stk_mark mk = stk_get(&e->st);
  uint32_t *ord = stk_alloc(&e->st, (norig ? norig : 1) * sizeof *ord);
  if (!ord) return PLAN_SR_ABORT;
  if (++e->gen == 0) { /* wrapped: clear the marks */
    memset(e->mark, 0, e->m * sizeof *e->mark);
    e->gen = 1;
  }
  for (size_t q = u_from; q < e->u_n; q++) e->mark[e->u_idx[q]] = e->gen;
  uint32_t k = 0, c = 0;
  for (uint32_t i = 0; i < norig; i++) {
    uint32_t b = pre[orig[i]];
    if (e->placed[b]) continue;
    if (e->mark[b] == e->gen)
      e->chg[c++] = orig[i];
    else
      ord[k++] = orig[i];
  }
  uint32_t n = k + c;
  if (n == 0) {
    stk_set(&e->st, mk);
    return PLAN_SR_FOUND;
  }
  if (c) {
    sort_ents(e, pre, e->chg, e->chg_tmp, c);
    uint32_t i = k, j = c, w = n;
    while (j > 0) {
      if (i > 0 && ent_less(e, pre, e->chg[j - 1], ord[i - 1]))
        ord[--w] = ord[--i];
      else
        ord[--w] = e->chg[--j];
    }
  }
  uint64_t min_h = UINT64_MAX;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t b = pre[ord[i]];
    uint64_t h = e->minoff[b] + e->size[b];
    if (h < min_h) min_h = h;
  }
  uint64_t max_t = 0;
  for (uint32_t s = pt->s_lo; s < pt->s_hi; s++)
    if (e->total[s] > max_t) max_t = e->total[s];
  e->work += pt->s_hi - pt->s_lo;
  int r = PLAN_SR_NONE;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t pidx = ord[i], b = pre[pidx];
    uint64_t off = e->minoff[b];
    if (off < min_off || (off == min_off && pidx < min_pidx)) continue; /* not canonical */
    if (off >= min_h) break; /* would leave a gap some buffer could fill */
    size_t u_mark = e->u_n, v_mark = e->v_n;
    int rr = PLAN_SR_NONE;
    if (place(e, b, off))
      rr = PLAN_SR_ABORT; /* out of memory for the undo logs */
    else if (check(e, pt, off, max_t))
      rr = sr_decompose(e, pt, pre, ord, n, off, pidx, b, u_mark);
    unplace(e, b, u_mark, v_mark);
    if (rr != PLAN_SR_NONE) {
      r = rr;
      break;
    }
  }
  stk_set(&e->st, mk);
  return r;
}

/* Solves every independent part of the subproblem. */
static int sr_solve_all(plan_exact *e) {
  uint32_t *bufs = malloc(e->m * sizeof *bufs);
  if (!bufs) return PLAN_SR_ABORT;
  int r = PLAN_SR_FOUND;
  uint32_t lo = 0;
  for (uint32_t s = 0; s < e->S && r == PLAN_SR_FOUND; s++) {
    if (s + 1 < e->S && e->cuts[s] != 0) continue;
    uint32_t hi = s + 1, nb = 0;
    for (uint32_t b = 0; b < e->m; b++)
      if (e->slo[b] >= lo && e->slo[b] < hi) bufs[nb++] = b;
    if (nb) {
      sr_part pt = {lo, hi, bufs, nb};
      r = sr_subsolve(e, &pt);
    }
    lo = hi;
  }
  free(bufs);
  return r;
}

static void reset(plan_exact *e) {
  memcpy(e->total, e->total0, e->S * sizeof *e->total);
  memset(e->floor_, 0, e->S * sizeof *e->floor_);
  memcpy(e->cuts, e->cuts0, ((size_t)e->S + 1) * sizeof *e->cuts);
  memset(e->minoff, 0, e->m * sizeof *e->minoff);
  memset(e->placed, 0, e->m);
  e->u_n = e->v_n = 0;
}

int plan_exact_decide(plan_exact *e, uint64_t cap, int64_t work_budget, double deadline,
                      uint64_t *off, int64_t *work) {
  e->cap = cap;
  e->deadline = deadline;
  reset(e);
  for (uint32_t s = 0; s < e->S; s++)
    if (e->total0[s] > cap) return PLAN_SR_NONE; /* below the lower bound */
  e->work = 0;
  e->work_cap = work_budget;
  int64_t limit = e->m;
  int r = PLAN_SR_ABORT;
  while (e->work < e->work_cap) {
    limit = limit > INT64_MAX / 2 ? INT64_MAX : 2 * limit;
    for (int h = 0; h < H_COUNT && e->work < e->work_cap; h++) {
      e->heur = h;
      e->nodes_left = limit;
      e->nodes = 0;
      r = sr_solve_all(e);
      if (r != PLAN_SR_ABORT) goto done;
    }
  }
  r = PLAN_SR_ABORT;
done:
  if (work) *work += e->work;
  if (r == PLAN_SR_FOUND) memcpy(off, e->sol, e->m * sizeof *off);
  return r;
}
