/*
 * verify.c: plan_verify(), the independent check of a memory plan.
 *
 * It shares no code with the placement files on purpose (its own sorting,
 * its own interval structure), so a planner bug cannot hide itself.
 *
 * The tensors are checked one by one (inside the slab, aligned, alias links
 * that point somewhere, views inside their parents), the alias links for
 * cycles, then the tensors in pairs by a sweep over the steps: when a
 * tensor's first step comes, it is compared with every live tensor whose
 * bytes meet its own, found in an interval treap keyed by offset (with the
 * largest end of each subtree), then inserted; tensors leave the treap after
 * their last step. Every pair alive together is met once, when the later one
 * starts, and a valid plan only meets its own alias relatives, so the sweep
 * costs O(n log n). Last, every step's reads and writes are checked against
 * the lifetimes.
 *
 * Two tensors that meet are related when their alias chains (alias_of,
 * followed to the end) share a tensor. The path between them through the
 * first shared one decides: views only, and they may share bytes at any step
 * (a view and its parent, two windows on one container); an in-place link on
 * it, and they may share one step at most (the write over what dies there).
 */
#include "verify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vmsg(char *msg, size_t msg_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void vmsg(char *msg, size_t msg_size, const char *fmt, ...) {
  if (!msg || msg_size == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, msg_size, fmt, ap);
  va_end(ap);
}

static const char *nm(const plan_vtensor *t) { return t->name ? t->name : "(unnamed)"; }

static uint64_t end_of(const plan_vtensor *t) { return t->offset + t->size; }

/* ---- an interval treap over tensor indices ------------------------------- */

typedef struct vtreap {
  const plan_vtensor *t;
  uint32_t *left, *right, *prio;
  uint64_t *maxend;
  uint32_t root;
} vtreap;

#define NIL UINT32_MAX

static uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/* Tensors ordered by (offset, index). */
static int key_less(const vtreap *tr, uint32_t a, uint32_t b) {
  uint64_t oa = tr->t[a].offset, ob = tr->t[b].offset;
  return oa < ob || (oa == ob && a < b);
}

static void pull(vtreap *tr, uint32_t x) {
  uint64_t m = end_of(&tr->t[x]);
  if (tr->left[x] != NIL && tr->maxend[tr->left[x]] > m) m = tr->maxend[tr->left[x]];
  if (tr->right[x] != NIL && tr->maxend[tr->right[x]] > m) m = tr->maxend[tr->right[x]];
  tr->maxend[x] = m;
}

/* Splits the subtree at x into keys before k and keys from k on. */
static void split(vtreap *tr, uint32_t x, uint32_t k, uint32_t *l, uint32_t *r) {
  if (x == NIL) {
    *l = *r = NIL;
    return;
  }
  if (key_less(tr, x, k)) {
    split(tr, tr->right[x], k, &tr->right[x], r);
    *l = x;
  } else {
    split(tr, tr->left[x], k, l, &tr->left[x]);
    *r = x;
  }
  pull(tr, x);
}

static uint32_t merge(vtreap *tr, uint32_t a, uint32_t b) {
  if (a == NIL) return b;
  if (b == NIL) return a;
  if (tr->prio[a] > tr->prio[b]) {
    tr->right[a] = merge(tr, tr->right[a], b);
    pull(tr, a);
    return a;
  }
  tr->left[b] = merge(tr, a, tr->left[b]);
  pull(tr, b);
  return b;
}

static void treap_insert(vtreap *tr, uint32_t x) {
  tr->left[x] = tr->right[x] = NIL;
  tr->maxend[x] = end_of(&tr->t[x]);
  uint32_t l, r;
  split(tr, tr->root, x, &l, &r);
  tr->root = merge(tr, merge(tr, l, x), r);
}

static uint32_t erase_rec(vtreap *tr, uint32_t node, uint32_t x) {
  if (node == NIL) return NIL; /* not present: cannot happen */
  if (node == x) return merge(tr, tr->left[x], tr->right[x]);
  if (key_less(tr, x, node))
    tr->left[node] = erase_rec(tr, tr->left[node], x);
  else
    tr->right[node] = erase_rec(tr, tr->right[node], x);
  pull(tr, node);
  return node;
}

/* Calls fn on each tensor in the subtree whose bytes meet [lo, hi), in
 * offset order, until fn returns nonzero (which is returned). */
typedef int (*visit_fn)(void *ctx, uint32_t other);
static int query(vtreap *tr, uint32_t x, uint64_t lo, uint64_t hi, visit_fn fn, void *ctx) {
  while (x != NIL && tr->maxend[x] > lo) {
    int r = query(tr, tr->left[x], lo, hi, fn, ctx);
    if (r) return r;
    const plan_vtensor *v = &tr->t[x];
    if (v->offset >= hi) return 0; /* everything further right starts later */
    if (end_of(v) > lo && (r = fn(ctx, x))) return r;
    x = tr->right[x];
  }
  return 0;
}

/* ---- the checks ----------------------------------------------------------- */

typedef struct vctx {
  const plan_vtensor *t;
  size_t n;
  char *msg;
  size_t msg_size;
  uint32_t cur;   /* the tensor being inserted */
  uint32_t *pos;  /* position of a tensor in cur's alias chain, valid when */
  uint32_t *seen; /* seen[x] == stamp */
  uint8_t *inpl;  /* per position: an in-place link between cur and there */
  uint32_t stamp;
} vctx;

/* Follows x's alias chain marking each tensor with its position and whether
 * an in-place link lies between x and it. */
static void mark_chain(vctx *c, uint32_t x) {
  const plan_vtensor *t = c->t;
  if (++c->stamp == 0) { /* wrapped */
    memset(c->seen, 0, c->n * sizeof *c->seen);
    c->stamp = 1;
  }
  uint32_t k = 0;
  uint8_t in = 0;
  for (;;) {
    c->seen[x] = c->stamp;
    c->pos[x] = k;
    c->inpl[k++] = in;
    if (t[x].alias_of < 0) break;
    in |= t[x].alias_kind == PLAN_ALIAS_INPLACE;
    x = (uint32_t)t[x].alias_of;
  }
}

/* May cur (its chain marked) and y share bytes over their common steps?
 * Sets *one when only a single common step is allowed. */
static int related(vctx *c, uint32_t y, int *one) {
  const plan_vtensor *t = c->t;
  uint8_t in = 0;
  for (;;) {
    if (c->seen[y] == c->stamp) {
      *one = in || c->inpl[c->pos[y]];
      return 1;
    }
    if (t[y].alias_of < 0) return 0;
    in |= t[y].alias_kind == PLAN_ALIAS_INPLACE;
    y = (uint32_t)t[y].alias_of;
  }
}

/* cur starts now; other is alive and their bytes meet. */
static int meet(void *vc, uint32_t other) {
  vctx *c = vc;
  const plan_vtensor *t = c->t;
  uint32_t x = c->cur < other ? c->cur : other, y = c->cur < other ? other : c->cur;
  const plan_vtensor *a = &t[x], *b = &t[y];
  int64_t step = a->first > b->first ? a->first : b->first;
  int64_t until = a->last < b->last ? a->last : b->last;
  int one = 0;
  if (related(c, other, &one) && (!one || step == until)) return 0;
  uint64_t lo = a->offset > b->offset ? a->offset : b->offset;
  uint64_t hi = end_of(a) < end_of(b) ? end_of(a) : end_of(b);
  vmsg(c->msg, c->msg_size,
       "tensors '%s' [%" PRIu64 ", %" PRIu64 ") steps %" PRId64 "..%" PRId64 " and '%s' [%" PRIu64
       ", %" PRIu64 ") steps %" PRId64 "..%" PRId64 " share bytes [%" PRIu64 ", %" PRIu64
       ") at step %" PRId64 "%s",
       nm(a), a->offset, end_of(a), a->first, a->last, nm(b), b->offset, end_of(b), b->first,
       b->last, lo, hi, step,
       one ? " (related through an in-place write, they may share one step only)" : "");
  return 1;
}

typedef struct vkey {
  int64_t step;
  uint32_t idx;
} vkey;

static int cmp_vkey(const void *p, const void *q) {
  const vkey *a = p, *b = q;
  if (a->step != b->step) return a->step < b->step ? -1 : 1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

static int check_one(const plan_vtensor *t, size_t n, size_t i, uint64_t slab, uint64_t alignment,
                     char *msg, size_t msg_size) {
  const plan_vtensor *x = &t[i];
  if (x->first > x->last) {
    vmsg(msg, msg_size, "tensor '%s': first step %" PRId64 " is after its last step %" PRId64,
         nm(x), x->first, x->last);
    return -1;
  }
  if (x->size > slab || x->offset > slab - x->size) {
    vmsg(msg, msg_size,
         "'%s' [%" PRIu64 ", %" PRIu64 ") lies outside the slab of %" PRIu64 " bytes", nm(x),
         x->offset, x->offset + x->size, slab);
    return -1;
  }
  if (x->alias_of == -1) {
    if (x->alias_kind != PLAN_ALIAS_NONE) {
      vmsg(msg, msg_size, "tensor '%s' has alias kind %d but aliases no tensor", nm(x),
           x->alias_kind);
      return -1;
    }
    if (alignment > 1 && x->offset % alignment != 0) {
      vmsg(msg, msg_size, "'%s' at offset %" PRIu64 " is not aligned to %" PRIu64, nm(x), x->offset,
           alignment);
      return -1;
    }
    return 0;
  }
  if (x->alias_kind != PLAN_ALIAS_INPLACE && x->alias_kind != PLAN_ALIAS_VIEW) {
    vmsg(msg, msg_size, "tensor '%s' aliases tensor %" PRId64 " with alias kind %d (%s)", nm(x),
         x->alias_of, x->alias_kind, x->alias_kind == PLAN_ALIAS_NONE ? "none" : "unknown");
    return -1;
  }
  if (x->alias_of < 0 || (uint64_t)x->alias_of >= n) {
    vmsg(msg, msg_size, "tensor '%s' aliases tensor %" PRId64 ", which does not exist", nm(x),
         x->alias_of);
    return -1;
  }
  const plan_vtensor *p = &t[x->alias_of];
  if (x->alias_kind != PLAN_ALIAS_VIEW) return 0;
  if (x->offset < p->offset || end_of(x) > end_of(p)) {
    vmsg(msg, msg_size,
         "view '%s' [%" PRIu64 ", %" PRIu64 ") is not inside '%s' [%" PRIu64 ", %" PRIu64 ")",
         nm(x), x->offset, end_of(x), nm(p), p->offset, end_of(p));
    return -1;
  }
  if (x->first < p->first || x->last > p->last) {
    vmsg(msg, msg_size,
         "view '%s' (steps %" PRId64 "..%" PRId64 ") %s '%s' (steps %" PRId64 "..%" PRId64 ")",
         nm(x), x->first, x->last, x->last > p->last ? "outlives" : "starts before", nm(p),
         p->first, p->last);
    return -1;
  }
  return 0;
}

/* Alias chains must end. state: 0 unseen, 1 on the chain being walked, 2
 * known to end. */
static int check_cycles(const plan_vtensor *t, size_t n, uint8_t *state, char *msg,
                        size_t msg_size) {
  for (size_t i = 0; i < n; i++) {
    size_t x = i;
    while (state[x] == 0 && t[x].alias_of >= 0) {
      state[x] = 1;
      x = (size_t)t[x].alias_of;
    }
    if (state[x] == 1) {
      vmsg(msg, msg_size, "the alias links through '%s' and '%s' form a cycle", nm(&t[x]),
           nm(&t[t[x].alias_of]));
      return -1;
    }
    for (x = i; state[x] == 1; x = (size_t)t[x].alias_of) state[x] = 2;
    state[x] = 2;
  }
  return 0;
}

static int check_steps(const plan_vtensor *t, size_t n, const plan_vstep *steps, size_t n_steps,
                       char *msg, size_t msg_size) {
  for (size_t s = 0; s < n_steps; s++) {
    const plan_vstep *st = &steps[s];
    const char *kn = st->name ? st->name : "unnamed";
    for (int w = 0; w < 2; w++) {
      const int64_t *ix = w ? st->writes : st->reads;
      size_t k = w ? st->n_writes : st->n_reads;
      const char *verb = w ? "writes" : "reads";
      if (k && !ix) {
        vmsg(msg, msg_size, "step %zu (%s) %s %zu tensors but gives no list", s, kn, verb, k);
        return -1;
      }
      for (size_t j = 0; j < k; j++) {
        if (ix[j] < 0 || (uint64_t)ix[j] >= n) {
          vmsg(msg, msg_size, "step %zu (%s) %s tensor %" PRId64 ", which does not exist", s, kn,
               verb, ix[j]);
          return -1;
        }
        const plan_vtensor *x = &t[ix[j]];
        if ((int64_t)s < x->first || (int64_t)s > x->last) {
          vmsg(msg, msg_size, "step %zu (%s) %s '%s' outside its lifetime %" PRId64 "..%" PRId64, s,
               kn, verb, nm(x), x->first, x->last);
          return -1;
        }
      }
    }
  }
  return 0;
}

int plan_verify(const plan_vtensor *t, size_t n, const plan_vstep *steps, size_t n_steps,
                uint64_t slab_bytes, uint64_t alignment, char *msg, size_t msg_size) {
  if (msg && msg_size) msg[0] = '\0';
  if ((n && !t) || (n_steps && !steps)) {
    vmsg(msg, msg_size, "no tensor or step array");
    return -1;
  }
  if (n >= UINT32_MAX) {
    vmsg(msg, msg_size, "%zu tensors: too many to check", n);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    if (check_one(t, n, i, slab_bytes, alignment, msg, msg_size)) return -1;

  int rc = -1;
  size_t cnt = n ? n : 1;
  vkey *byfirst = malloc(cnt * sizeof *byfirst), *bylast = malloc(cnt * sizeof *bylast);
  vtreap tr = {t,
               malloc(cnt * sizeof(uint32_t)),
               malloc(cnt * sizeof(uint32_t)),
               malloc(cnt * sizeof(uint32_t)),
               malloc(cnt * sizeof(uint64_t)),
               NIL};
  vctx c = {t,
            n,
            msg,
            msg_size,
            0,
            malloc(cnt * sizeof(uint32_t)),
            calloc(cnt, sizeof(uint32_t)),
            malloc(cnt + 1),
            0};
  uint8_t *state = calloc(cnt, 1);
  if (!byfirst || !bylast || !tr.left || !tr.right || !tr.prio || !tr.maxend || !c.pos || !c.seen ||
      !c.inpl || !state) {
    vmsg(msg, msg_size, "out of memory checking %zu tensors", n);
    goto done;
  }
  if (check_cycles(t, n, state, msg, msg_size)) goto done;

  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i].size == 0) continue; /* no bytes, nothing to share */
    byfirst[m] = (vkey){t[i].first, (uint32_t)i};
    bylast[m] = (vkey){t[i].last, (uint32_t)i};
    tr.prio[i] = hash32((uint32_t)i);
    m++;
  }
  qsort(byfirst, m, sizeof *byfirst, cmp_vkey);
  qsort(bylast, m, sizeof *bylast, cmp_vkey);
  size_t il = 0;
  for (size_t k = 0; k < m; k++) {
    uint32_t x = byfirst[k].idx;
    while (il < m && bylast[il].step < t[x].first) {
      tr.root = erase_rec(&tr, tr.root, bylast[il].idx);
      il++;
    }
    c.cur = x;
    mark_chain(&c, x);
    if (query(&tr, tr.root, t[x].offset, end_of(&t[x]), meet, &c)) goto done;
    treap_insert(&tr, x);
  }
  if (check_steps(t, n, steps, n_steps, msg, msg_size)) goto done;
  rc = 0;
done:
  free(byfirst);
  free(bylast);
  free(tr.left);
  free(tr.right);
  free(tr.prio);
  free(tr.maxend);
  free(c.pos);
  free(c.seen);
  free(c.inpl);
  free(state);
  return rc;
}
