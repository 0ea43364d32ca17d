/*
 * elementwise.c: the unary activations and the broadcasting binary ops (Add,
 * Sub, Mul, Div, Pow, Max, Min) with the variadic Sum, Max and Min.
 *
 * Binary ops follow NumPy broadcasting. Before looping, the shapes are
 * coalesced: size-1 output dims are dropped and neighbouring dims that are
 * contiguous in every operand merge. The common cases (same shape, a scalar,
 * a per-channel or per-row operand) then become rows whose operands have an
 * inner stride of 1 or 0, and each op is written once per stride kind as a
 * plain loop the compiler vectorises. Rows (or pieces of one long row) are
 * spread over the thread pool.
 *
 * In-place: an output may be the memory of a full-shape input. Every output
 * element reads only its own position of such an input before writing it, so
 * one- and two-input ops need no care; three or more inputs are combined a
 * tile at a time in a stack buffer (run_staged), which reads every operand
 * before the output is written.
 */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "kernels_internal.h"

/* Elements per task chunk: large enough to amortise a pool hand-off. */
#define EW_GRAIN 16384
/* Transcendental ops cost ~10x a load/store per element: smaller chunks. */
#define EW_GRAIN_SLOW 4096

/* ---- unary ---------------------------------------------------------------- */

typedef struct {
  int op;
  const float *x;
  float *y;
  float p0, p1; /* alpha / min / approximate, beta / max */
} unary_job;

static inline float sigmoidf_(float x) {
  /* exp of a non-positive number never overflows; for x < 0 the result is
   * e/(1+e) rather than 1/(1+exp(-x)), which keeps tiny results exact. */
  float e = expf(-fabsf(x));
  float r = 1.0f / (1.0f + e);
  return x >= 0 ? r : e * r;
}

static inline float softplusf_(float x) {
  /* log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow for large x,
   * no loss of the tiny result for very negative x. */
  return (x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

static void unary_task(void *v, int64_t b, int64_t e, int thread) {
  (void)thread;
  const unary_job *j = v;
  const float *x = j->x;
  float *y = j->y;
  const float p0 = j->p0, p1 = j->p1;
  switch (j->op) {
  case RT_OP_ABS:
    for (int64_t i = b; i < e; i++) y[i] = fabsf(x[i]);
    break;
  case RT_OP_NEG:
    for (int64_t i = b; i < e; i++) y[i] = -x[i];
    break;
  case RT_OP_RELU: /* x < 0 ? 0 : x keeps NaN, as max(x, 0) does in NumPy */
    for (int64_t i = b; i < e; i++) y[i] = x[i] < 0 ? 0.0f : x[i];
    break;
  case RT_OP_LEAKY_RELU:
    for (int64_t i = b; i < e; i++) y[i] = x[i] < 0 ? p0 * x[i] : x[i];
    break;
  case RT_OP_SIGMOID:
    for (int64_t i = b; i < e; i++) y[i] = sigmoidf_(x[i]);
    break;
  case RT_OP_TANH:
    for (int64_t i = b; i < e; i++) y[i] = tanhf(x[i]);
    break;
  case RT_OP_GELU:
    if (p0 != 0) { /* tanh approximation */
      const float k = 0.7978845608028654f; /* sqrt(2/pi) */
      for (int64_t i = b; i < e; i++) {
        float t = x[i];
        y[i] = 0.5f * t * (1.0f + tanhf(k * (t + 0.044715f * t * t * t)));
      }
    } else {
      const float r = 0.7071067811865476f; /* 1/sqrt(2) */
      for (int64_t i = b; i < e; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * r));
    }
    break;
  case RT_OP_ERF:
    for (int64_t i = b; i < e; i++) y[i] = erff(x[i]);
    break;
  case RT_OP_EXP:
    for (int64_t i = b; i < e; i++) y[i] = expf(x[i]);
    break;
  case RT_OP_LOG:
    for (int64_t i = b; i < e; i++) y[i] = logf(x[i]);
    break;
  case RT_OP_SQRT:
    for (int64_t i = b; i < e; i++) y[i] = sqrtf(x[i]);
    break;
  case RT_OP_RECIPROCAL:
    for (int64_t i = b; i < e; i++) y[i] = 1.0f / x[i];
    break;
  case RT_OP_CLIP: /* NaN passes through, as in np.clip */
    for (int64_t i = b; i < e; i++) {
      float t = x[i];
      t = t < p0 ? p0 : t;
      y[i] = t > p1 ? p1 : t;
    }
    break;
  case RT_OP_HARD_SIGMOID:
    for (int64_t i = b; i < e; i++) {
      float t = p0 * x[i] + p1;
      t = t < 0 ? 0.0f : t;
      y[i] = t > 1 ? 1.0f : t;
    }
    break;
  case RT_OP_HARD_SWISH:
    for (int64_t i = b; i < e; i++) {
      float t = x[i] * (1.0f / 6.0f) + 0.5f;
      t = t < 0 ? 0.0f : t;
      y[i] = x[i] * (t > 1 ? 1.0f : t);
    }
    break;
  case RT_OP_SOFTPLUS:
    for (int64_t i = b; i < e; i++) y[i] = softplusf_(x[i]);
    break;
  default:
    assert(!"unary_task: not a unary op");
  }
}

int rt_k_unary(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_in >= 1 && a->n_out >= 1);
  const rt_view *x = &a->in[0], *y = &a->out[0];
  assert(x->dtype == RT_F32 && y->dtype == RT_F32);
  int64_t n = rt_numel(y->rank, y->dims);
  assert(rt_numel(x->rank, x->dims) == n);
  unary_job j = {a->op, x->data, y->data, 0, 0};
  int64_t grain = EW_GRAIN_SLOW;
  switch (a->op) {
  case RT_OP_LEAKY_RELU:
    assert(a->n_fa >= 1);
    j.p0 = a->fa[0];
    grain = EW_GRAIN;
    break;
  case RT_OP_CLIP:
  case RT_OP_HARD_SIGMOID:
    assert(a->n_fa >= 2);
    j.p0 = a->fa[0];
    j.p1 = a->fa[1];
    grain = EW_GRAIN;
    break;
  case RT_OP_GELU:
    assert(a->n_ia >= 1);
    j.p0 = (float)a->ia[0];
    break;
  case RT_OP_ABS: case RT_OP_NEG: case RT_OP_RELU: case RT_OP_RECIPROCAL:
  case RT_OP_SQRT: case RT_OP_HARD_SWISH:
    grain = EW_GRAIN;
    break;
  default:
    break;
  }
  rt_pool_run(ctx->pool, n, grain, unary_task, &j);
  return 0;
}

/* ---- binary --------------------------------------------------------------- */

/* Stride kinds of a row: operand a and b either walk (1) or stay (0). */
enum { K_VV, K_VS, K_SV, K_SS };

typedef void (*bin_row_fn)(float *y, const float *a, const float *b, int64_t n, int kind);

/* One row of y = f(u, v) for each stride kind. The broadcast operand is read
 * once before the loop; it never aliases y (only full-shape inputs can). */
#define BIN_ROW(NAME, EXPR)                                                    \
  static void NAME(float *y, const float *a, const float *b, int64_t n,       \
                   int kind) {                                                 \
    switch (kind) {                                                            \
    case K_VV:                                                                 \
      for (int64_t i = 0; i < n; i++) {                                        \
        float u = a[i], v = b[i];                                              \
        y[i] = (EXPR);                                                         \
      }                                                                        \
      break;                                                                   \
    case K_VS: {                                                               \
      const float v = b[0];                                                    \
      for (int64_t i = 0; i < n; i++) {                                        \
        float u = a[i];                                                        \
        y[i] = (EXPR);                                                         \
      }                                                                        \
    } break;                                                                   \
    case K_SV: {                                                               \
      const float u = a[0];                                                    \
      for (int64_t i = 0; i < n; i++) {                                        \
        float v = b[i];                                                        \
        y[i] = (EXPR);                                                         \
      }                                                                        \
    } break;                                                                   \
    default: {                                                                 \
      const float u = a[0], v = b[0], r = (EXPR);                              \
      for (int64_t i = 0; i < n; i++) y[i] = r;                                \
    }                                                                          \
    }                                                                          \
  }

BIN_ROW(row_add, u + v)
BIN_ROW(row_sub, u - v)
BIN_ROW(row_mul, u * v)
BIN_ROW(row_div, u / v)
/* NaN in either operand gives NaN, as np.maximum / np.minimum do. */
BIN_ROW(row_max, (u > v || u != u) ? u : v)
BIN_ROW(row_min, (u < v || u != u) ? u : v)
BIN_ROW(row_pow_generic, powf(u, v))

static void row_pow(float *y, const float *a, const float *b, int64_t n, int kind) {
  /* x^2 (variance, squared error) is the common case: x*x is what the
   * correctly rounded powf returns too. */
  if (kind == K_VS && b[0] == 2.0f) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * a[i];
    return;
  }
  row_pow_generic(y, a, b, n, kind);
}

static bin_row_fn row_fn_of(int op) {
  switch (op) {
  case RT_OP_ADD: case RT_OP_SUM: return row_add;
  case RT_OP_SUB: return row_sub;
  case RT_OP_MUL: return row_mul;
  case RT_OP_DIV: return row_div;
  case RT_OP_POW: return row_pow;
  case RT_OP_MAX: return row_max;
  case RT_OP_MIN: return row_min;
  default: assert(!"row_fn_of: not a binary op"); return NULL;
  }
}

/* A broadcast problem after coalescing: y (dense) has dims; a and b are read
 * with element strides sa, sb (0 on broadcast dims). */
typedef struct {
  int rank; /* >= 1 */
  int64_t dims[RT_MAX_RANK];
  int64_t sa[RT_MAX_RANK], sb[RT_MAX_RANK];
} bshape;

/* Element strides of `in` broadcast to `out`'s shape (0 where it repeats). */
static void bcast_strides(const rt_view *out, const rt_view *in, int64_t *st) {
  int off = out->rank - in->rank;
  assert(off >= 0);
  int64_t s = 1;
  for (int d = out->rank - 1; d >= 0; d--) {
    int k = d - off;
    if (k < 0 || in->dims[k] == 1) {
      st[d] = 0;
    } else {
      assert(in->dims[k] == out->dims[d]);
      st[d] = s;
      s *= in->dims[k];
    }
  }
}

static void coalesce(bshape *c, const rt_view *out, const rt_view *va, const rt_view *vb) {
  int64_t sa[RT_MAX_RANK], sb[RT_MAX_RANK];
  bcast_strides(out, va, sa);
  bcast_strides(out, vb, sb);
  int r = 0;
  for (int d = 0; d < out->rank; d++) {
    int64_t n = out->dims[d];
    if (n == 1) continue;
    if (r > 0 && c->sa[r - 1] == sa[d] * n && c->sb[r - 1] == sb[d] * n) {
      c->dims[r - 1] *= n;
      c->sa[r - 1] = sa[d];
      c->sb[r - 1] = sb[d];
    } else {
      c->dims[r] = n;
      c->sa[r] = sa[d];
      c->sb[r] = sb[d];
      r++;
    }
  }
  if (r == 0) { /* one element */
    c->dims[0] = 1;
    c->sa[0] = c->sb[0] = 0;
    r = 1;
  }
  c->rank = r;
}

typedef struct {
  bshape c;
  bin_row_fn fn;
  int kind;
  int64_t nch, chunk; /* a row is cut into nch pieces of `chunk` elements */
  const float *a, *b;
  float *y;
} bin_job;

/* Work units are (row, piece) pairs in row-major order; the operand offsets of
 * the first row come from its index, the next rows from an odometer. */
static void bin_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const bin_job *j = v;
  const bshape *c = &j->c;
  const int r = c->rank;
  const int64_t L = c->dims[r - 1], nch = j->nch;
  const int walk_a = c->sa[r - 1] != 0, walk_b = c->sb[r - 1] != 0;
  int64_t idx[RT_MAX_RANK];
  int64_t row = u0 / nch, t = row, oa = 0, ob = 0;
  for (int d = r - 2; d >= 0; d--) {
    idx[d] = t % c->dims[d];
    t /= c->dims[d];
    oa += idx[d] * c->sa[d];
    ob += idx[d] * c->sb[d];
  }
  for (int64_t u = u0; u < u1;) {
    int64_t c0 = u % nch, c1 = c0 + (u1 - u) < nch ? c0 + (u1 - u) : nch;
    int64_t i0 = c0 * j->chunk, i1 = c1 * j->chunk < L ? c1 * j->chunk : L;
    j->fn(j->y + row * L + i0, j->a + oa + (walk_a ? i0 : 0), j->b + ob + (walk_b ? i0 : 0),
          i1 - i0, j->kind);
    u += c1 - c0;
    if (c1 < nch) break; /* range ended inside this row */
    row++;
    for (int d = r - 2; d >= 0; d--) {
      oa += c->sa[d];
      ob += c->sb[d];
      if (++idx[d] < c->dims[d]) break;
      oa -= c->sa[d] * c->dims[d];
      ob -= c->sb[d] * c->dims[d];
      idx[d] = 0;
    }
  }
}

/* y = op(a, b) with a and b broadcast to y's shape. */
static void run_binary(rt_pool *pool, int op, const rt_view *y, const rt_view *va,
                       const rt_view *vb) {
  assert(va->dtype == RT_F32 && vb->dtype == RT_F32 && y->dtype == RT_F32);
  bin_job j;
  coalesce(&j.c, y, va, vb);
  const int r = j.c.rank;
  const int64_t L = j.c.dims[r - 1];
  j.fn = row_fn_of(op);
  j.kind = j.c.sa[r - 1] ? (j.c.sb[r - 1] ? K_VV : K_VS) : (j.c.sb[r - 1] ? K_SV : K_SS);
  j.chunk = L < EW_GRAIN ? L : EW_GRAIN;
  j.nch = (L + j.chunk - 1) / j.chunk;
  j.a = va->data;
  j.b = vb->data;
  j.y = y->data;
  int64_t rows = 1;
  for (int d = 0; d < r - 1; d++) rows *= j.c.dims[d];
  int64_t grain = (op == RT_OP_POW ? EW_GRAIN_SLOW : EW_GRAIN) / j.chunk;
  rt_pool_run(pool, rows * j.nch, grain < 1 ? 1 : grain, bin_task, &j);
}

/* ---- variadic Sum, Max, Min with three or more inputs ---------------------- */

/* Operands of one staged pass: the output is computed a tile at a time in a
 * stack buffer from all operands, then stored, so y may be the memory of any
 * of them (the same tensor may even appear several times). */
#define VAR_OPS 32
#define VAR_TILE 1024

typedef struct {
  int rank, n_ops;
  int64_t dims[RT_MAX_RANK];
  int64_t st[VAR_OPS][RT_MAX_RANK];
  const float *x[VAR_OPS];
  float *y;
  bin_row_fn fn;
  int64_t nch; /* tiles per row */
} var_job;

static void var_task(void *v, int64_t u0, int64_t u1, int thread) {
  (void)thread;
  const var_job *j = v;
  const int r = j->rank;
  const int64_t L = j->dims[r - 1];
  float tmp[VAR_TILE];
  for (int64_t u = u0; u < u1; u++) {
    int64_t row = u / j->nch, i0 = (u % j->nch) * VAR_TILE;
    int64_t n = L - i0 < VAR_TILE ? L - i0 : VAR_TILE;
    int64_t idx[RT_MAX_RANK], t = row;
    for (int d = r - 2; d >= 0; d--) {
      idx[d] = t % j->dims[d];
      t /= j->dims[d];
    }
    for (int k = 0; k < j->n_ops; k++) {
      int64_t off = 0;
      for (int d = 0; d < r - 1; d++) off += idx[d] * j->st[k][d];
      const int walk = j->st[k][r - 1] != 0;
      const float *x = j->x[k] + off + (walk ? i0 : 0);
      if (k == 0) {
        if (walk) memcpy(tmp, x, (size_t)n * sizeof(float));
        else for (int64_t i = 0; i < n; i++) tmp[i] = x[0];
      } else {
        j->fn(tmp, tmp, x, n, walk ? K_VV : K_VS);
      }
    }
    memcpy(j->y + row * L + i0, tmp, (size_t)n * sizeof(float));
  }
}

/* y = op(x[0], ..., x[m-1]), all broadcast to y; m <= VAR_OPS. Dims merge
 * where every operand is contiguous across them. */
static void run_staged(rt_pool *pool, int op, const rt_view *y, const rt_view *const *xs, int m) {
  assert(m >= 1 && m <= VAR_OPS);
  var_job j;
  int64_t st[VAR_OPS][RT_MAX_RANK];
  for (int k = 0; k < m; k++) {
    assert(xs[k]->dtype == RT_F32);
    bcast_strides(y, xs[k], st[k]);
    j.x[k] = xs[k]->data;
  }
  int r = 0;
  for (int d = 0; d < y->rank; d++) {
    int64_t n = y->dims[d];
    if (n == 1) continue;
    int merge = r > 0;
    for (int k = 0; k < m && merge; k++) merge = j.st[k][r - 1] == st[k][d] * n;
    if (merge) {
      j.dims[r - 1] *= n;
      for (int k = 0; k < m; k++) j.st[k][r - 1] = st[k][d];
    } else {
      j.dims[r] = n;
      for (int k = 0; k < m; k++) j.st[k][r] = st[k][d];
      r++;
    }
  }
  if (r == 0) {
    j.dims[0] = 1;
    for (int k = 0; k < m; k++) j.st[k][0] = 0;
    r = 1;
  }
  j.rank = r;
  j.n_ops = m;
  j.y = y->data;
  j.fn = row_fn_of(op);
  const int64_t L = j.dims[r - 1];
  j.nch = (L + VAR_TILE - 1) / VAR_TILE;
  int64_t rows = 1;
  for (int d = 0; d < r - 1; d++) rows *= j.dims[d];
  int64_t per_unit = L < VAR_TILE ? L : VAR_TILE;
  int64_t grain = EW_GRAIN / (per_unit * m);
  rt_pool_run(pool, rows * j.nch, grain < 1 ? 1 : grain, var_task, &j);
}

/* Sum, Max, Min over n inputs. Two inputs take the plain binary path. More go
 * through staged passes of up to VAR_OPS operands; later passes take y itself
 * as their first operand. Inputs that are y's memory go in the first pass,
 * before y is written; the ops are commutative, so the order is free. */
static void run_variadic(rt_pool *pool, const rt_kargs *a) {
  const rt_view *y = &a->out[0];
  const int n = a->n_in;
  assert(n >= 1);
  if (n == 1) {
    const rt_view *x = &a->in[0];
    int64_t cnt = rt_numel(y->rank, y->dims);
    assert(rt_numel(x->rank, x->dims) == cnt);
    if (x->data != y->data) memmove(y->data, x->data, (size_t)cnt * sizeof(float));
    return;
  }
  if (n == 2) {
    run_binary(pool, a->op, y, &a->in[0], &a->in[1]);
    return;
  }
  const rt_view *ops[VAR_OPS];
  int m = 0, next = 0;
  for (int k = 0; k < n; k++) /* y's memory first ... */
    if (a->in[k].data == y->data) {
      assert(m < VAR_OPS);
      ops[m++] = &a->in[k];
    }
  for (; next < n && m < VAR_OPS; next++) /* ... then the others in order */
    if (a->in[next].data != y->data) ops[m++] = &a->in[next];
  run_staged(pool, a->op, y, ops, m);
  while (next < n) {
    m = 0;
    ops[m++] = y;
    for (; next < n && m < VAR_OPS; next++)
      if (a->in[next].data != y->data) ops[m++] = &a->in[next];
    run_staged(pool, a->op, y, ops, m);
  }
}

int rt_k_binary(const rt_kctx *ctx, const rt_kargs *a) {
  assert(a->n_out >= 1);
  const rt_view *y = &a->out[0];
  if (rt_numel(y->rank, y->dims) == 0) return 0;
  switch (a->op) {
  case RT_OP_SUM: case RT_OP_MAX: case RT_OP_MIN:
    run_variadic(ctx->pool, a);
    break;
  default:
    assert(a->n_in == 2);
    run_binary(ctx->pool, a->op, y, &a->in[0], &a->in[1]);
  }
  return 0;
}
