/*
 * infer.c: shape and dtype inference, attribute checking and resolution.
 *
 * One function per op family, run over the nodes in topological order. Each
 * checks what ONNX requires of its inputs and attributes, computes the output
 * shapes with ONNX's rules exactly (broadcasting, Gemm transposes, Conv and
 * pool padding with auto_pad and ceil_mode, Reshape 0 and -1, negative axes,
 * Slice clamping), and leaves the node's canonical kernel attributes (ia/fa,
 * layout in runtime/rt_ops.h) so that no later phase re-derives them.
 *
 * Dimension symbols (graph_dim.sym) flow through wherever a dimension passes
 * unchanged; a dimension computed from others keeps a symbol only when it
 * equals that symbol exactly (e.g. Flatten's N * 1 * 1).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops.h"
#include "passes.h"

#define ERR(loc, ...) diag_error(g->d, (loc), __VA_ARGS__)
#define DESC graph_node_desc(g, n)

/* --- small helpers --- */

static graph_tensor *input(graph *g, graph_node *n, int i, const char *role) {
  if (i >= n->n_in || !n->in[i])
    ERR(i < n->n_in ? n->in_loc[i] : n->loc, "%s needs its input %d (%s)", DESC, i, role);
  return n->in[i];
}

static graph_tensor *opt_input(graph_node *n, int i) { return i < n->n_in ? n->in[i] : NULL; }

static src_loc in_loc(graph_node *n, int i) { return i < n->n_in ? n->in_loc[i] : n->loc; }

static void check_numel(graph *g, graph_node *n, int i, int rank, const graph_dim *dims) {
  int64_t numel = 1;
  for (int d = 0; d < rank; d++) {
    if (dims[d].v <= 0)
      ERR(n->out_loc[i], "%s: output %d would have dimension %lld at axis %d; empty and "
                         "negative dimensions are not supported", DESC, i, (long long)dims[d].v, d);
    if (dims[d].v > INT64_MAX / 16 / numel)
      ERR(n->out_loc[i], "%s: output %d would have more elements than fit in 64 bits", DESC, i);
    numel *= dims[d].v;
  }
}

static void set_out(graph *g, graph_node *n, int i, int dtype, int rank, const graph_dim *dims) {
  if (rank > RT_MAX_RANK)
    ERR(n->out_loc[i], "%s: output %d would have rank %d; at most %d is supported", DESC, i, rank,
        RT_MAX_RANK);
  check_numel(g, n, i, rank, dims);
  graph_tensor *t = n->out[i];
  if (!t) return;
  t->dtype = dtype;
  t->rank = rank;
  memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
}

static void same_as_input(graph *g, graph_node *n, int out, const graph_tensor *x) {
  set_out(g, n, out, x->dtype, x->rank, x->dims);
}

static void need_float(graph *g, graph_node *n, int i, const graph_tensor *t) {
  if (!rt_dtype_is_float(t->dtype))
    ERR(in_loc(n, i), "%s: input '%s' is %s; this op computes on float32, float16 or bfloat16",
        DESC, t->name, rt_dtype_name(t->dtype));
}

static void same_dtype(graph *g, graph_node *n, int i, const graph_tensor *a, const graph_tensor *b) {
  if (a->dtype != b->dtype)
    ERR(in_loc(n, i), "%s: dtype mismatch: '%s' is %s but '%s' is %s", DESC, b->name,
        rt_dtype_name(b->dtype), a->name, rt_dtype_name(a->dtype));
}

static void need_rank(graph *g, graph_node *n, int i, const graph_tensor *t, int lo, int hi,
                      const char *what) {
  if (t->rank < lo || t->rank > hi)
    ERR(in_loc(n, i), "%s: %s '%s' has shape %s (rank %d); expected %s", DESC,
        i == 0 ? "input" : "operand", t->name, graph_shape_str(g, t), t->rank, what);
}

static int64_t attr_int(graph *g, graph_node *n, const char *name, int64_t def) {
  graph_attr *a = graph_attr_get(n, name);
  (void)g;
  return a ? a->ints[0] : def;
}

static int64_t attr_int_required(graph *g, graph_node *n, const char *name) {
  graph_attr *a = graph_attr_get(n, name);
  if (!a) ERR(n->loc, "%s is missing the required attribute '%s'", DESC, name);
  return a->ints[0];
}

static int64_t attr_flag(graph *g, graph_node *n, const char *name, int64_t def) {
  graph_attr *a = graph_attr_get(n, name);
  if (a && a->ints[0] != 0 && a->ints[0] != 1)
    ERR(a->loc, "%s: attribute '%s' must be 0 or 1, found %lld", DESC, name, (long long)a->ints[0]);
  return a ? a->ints[0] : def;
}

static double attr_float(graph *g, graph_node *n, const char *name, double def) {
  graph_attr *a = graph_attr_get(n, name);
  (void)g;
  return a ? a->floats[0] : def;
}

static const char *attr_str(graph *g, graph_node *n, const char *name, const char *def) {
  graph_attr *a = graph_attr_get(n, name);
  (void)g;
  return a ? a->str : def;
}

static src_loc attr_loc(graph_node *n, const char *name) {
  graph_attr *a = graph_attr_get(n, name);
  return a ? a->loc : n->loc;
}

/* A list attribute of exactly `want` entries (want < 0: any), or NULL. */
static graph_attr *attr_list(graph *g, graph_node *n, const char *name, int want) {
  graph_attr *a = graph_attr_get(n, name);
  if (a && want >= 0 && a->n != want)
    ERR(a->loc, "%s: attribute '%s' must have %d entries, found %d", DESC, name, want, a->n);
  return a;
}

/* Normalise an axis in [-rank, rank) (or [-rank, rank] for insert-like ops). */
static int norm_axis(graph *g, graph_node *n, src_loc loc, int64_t axis, int rank, int inclusive) {
  int64_t hi = inclusive ? rank : rank - 1;
  if (axis < -(int64_t)rank || axis > hi)
    ERR(loc, "%s: axis %lld is out of range for rank %d (expected %d..%lld)", DESC,
        (long long)axis, rank, -rank, (long long)hi);
  return (int)(axis < 0 ? axis + rank : axis);
}

static void set_ia(graph *g, graph_node *n, const int64_t *v, int count) {
  n->ia = arena_array(g->ar, (size_t)count + 1, sizeof *n->ia);
  memcpy(n->ia, v, (size_t)count * sizeof *v);
  n->n_ia = count;
}

static void set_fa(graph *g, graph_node *n, const float *v, int count) {
  n->fa = arena_array(g->ar, (size_t)count + 1, sizeof *n->fa);
  memcpy(n->fa, v, (size_t)count * sizeof *v);
  n->n_fa = count;
}

/* The product of dims[from..to) as one dimension, keeping a symbol only when
 * the product is exactly that symbol (every other factor is 1). */
static graph_dim dim_product(const graph_dim *dims, int from, int to) {
  graph_dim r = {1, -1};
  int syms = 0, sym = -1;
  for (int i = from; i < to; i++) {
    r.v *= dims[i].v;
    if (dims[i].v != 1 || dims[i].sym >= 0) {
      if (dims[i].sym >= 0) sym = dims[i].sym, syms++;
      else syms += 2; /* a plain factor > 1 */
    }
  }
  if (syms == 1) r.sym = sym;
  return r;
}

/* --- elementwise --- */

static void infer_unary(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "X");
  need_float(g, n, 0, x);
  float fa[2];
  switch (n->op) {
  case RT_OP_LEAKY_RELU:
    fa[0] = (float)attr_float(g, n, "alpha", 0.01);
    set_fa(g, n, fa, 1);
    break;
  case RT_OP_HARD_SIGMOID:
    fa[0] = (float)attr_float(g, n, "alpha", 0.2);
    fa[1] = (float)attr_float(g, n, "beta", 0.5);
    set_fa(g, n, fa, 2);
    break;
  case RT_OP_CLIP:
    fa[0] = (float)attr_float(g, n, "min", -INFINITY);
    fa[1] = (float)attr_float(g, n, "max", INFINITY);
    set_fa(g, n, fa, 2);
    break;
  case RT_OP_GELU: {
    const char *ap = attr_str(g, n, "approximate", "none");
    int64_t mode = !strcmp(ap, "tanh") ? 1 : 0;
    if (strcmp(ap, "none") != 0 && !mode)
      ERR(attr_loc(n, "approximate"), "%s: approximate must be 'none' or 'tanh', found '%s'", DESC, ap);
    set_ia(g, n, &mode, 1);
    break;
  }
  default:
    break;
  }
  same_as_input(g, n, 0, x);
}

static void infer_identity(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "input");
  if (n->op == RT_OP_DROPOUT) {
    if (n->n_out > 1 && n->out[1])
      ERR(n->out_loc[1], "%s: the mask output is not supported (inference only, no bool dtype)", DESC);
    graph_tensor *mode = opt_input(n, 2);
    if (mode && (mode->kind != GRAPH_PARAM || mode->init != GRAPH_INIT_ZEROS))
      ERR(in_loc(n, 2), "%s: training_mode must be a zeros param: dlc runs inference only", DESC);
  }
  same_as_input(g, n, 0, x);
}

/* NumPy multidirectional broadcasting of two shapes into out. */
static int broadcast(graph *g, graph_node *n, int i, const graph_tensor *a, int ra,
                     const graph_dim *da, const graph_tensor *b, graph_dim *out) {
  int rb = b->rank, r = ra > rb ? ra : rb;
  for (int k = 0; k < r; k++) {
    int ia = k - (r - ra), ib = k - (r - rb);
    graph_dim x = ia >= 0 ? da[ia] : (graph_dim){1, -1};
    graph_dim y = ib >= 0 ? b->dims[ib] : (graph_dim){1, -1};
    if (x.v == y.v) out[k] = x.sym >= 0 ? x : y;
    else if (x.v == 1) out[k] = y;
    else if (y.v == 1) out[k] = x;
    else
      ERR(in_loc(n, i), "%s: shapes %s and %s ('%s') cannot be broadcast together (axis %d: %lld vs %lld)",
          DESC, graph_dims_str(g, ra, da), graph_shape_str(g, b), b->name, k, (long long)x.v,
          (long long)y.v);
  }
  (void)a;
  return r;
}

static void infer_broadcast(graph *g, graph_node *n) {
  graph_tensor *a = input(g, n, 0, "A");
  need_float(g, n, 0, a);
  graph_dim dims[RT_MAX_RANK * 2];
  int rank = a->rank;
  memcpy(dims, a->dims, (size_t)rank * sizeof *dims);
  for (int i = 1; i < n->n_in; i++) {
    graph_tensor *b = input(g, n, i, "operand");
    same_dtype(g, n, i, a, b);
    graph_dim tmp[RT_MAX_RANK];
    rank = broadcast(g, n, i, a, rank, dims, b, tmp);
    memcpy(dims, tmp, (size_t)rank * sizeof *tmp);
  }
  set_out(g, n, 0, a->dtype, rank, dims);
}

/* --- linear algebra --- */

static void infer_matmul(graph *g, graph_node *n) {
  graph_tensor *a = input(g, n, 0, "A"), *b = input(g, n, 1, "B");
  need_float(g, n, 0, a);
  same_dtype(g, n, 1, a, b);
  if (a->rank < 1 || b->rank < 1) ERR(n->loc, "%s: MatMul operands must have rank >= 1", DESC);
  /* Promote 1-D operands as NumPy does, broadcast the batch dims. */
  graph_dim da[RT_MAX_RANK + 1], db[RT_MAX_RANK + 1];
  int ra = a->rank, rb = b->rank;
  memcpy(da, a->dims, (size_t)ra * sizeof *da);
  memcpy(db, b->dims, (size_t)rb * sizeof *db);
  if (ra == 1) da[1] = da[0], da[0] = (graph_dim){1, -1}, ra = 2;
  if (rb == 1) db[1] = (graph_dim){1, -1}, rb = 2;
  graph_dim k1 = da[ra - 1], k2 = db[rb - 2];
  if (k1.v != k2.v)
    ERR(in_loc(n, 1), "%s: inner dimensions differ: '%s' %s has K=%lld but '%s' %s has K=%lld",
        DESC, a->name, graph_shape_str(g, a), (long long)k1.v, b->name, graph_shape_str(g, b),
        (long long)k2.v);
  int rbatch = (ra > rb ? ra : rb) - 2;
  graph_dim out[RT_MAX_RANK + 2];
  for (int k = 0; k < rbatch; k++) {
    int ia = k - (rbatch - (ra - 2)), ib = k - (rbatch - (rb - 2));
    graph_dim x = ia >= 0 ? da[ia] : (graph_dim){1, -1};
    graph_dim y = ib >= 0 ? db[ib] : (graph_dim){1, -1};
    if (x.v == y.v) out[k] = x.sym >= 0 ? x : y;
    else if (x.v == 1) out[k] = y;
    else if (y.v == 1) out[k] = x;
    else
      ERR(in_loc(n, 1), "%s: batch dimensions of %s and %s cannot be broadcast (%lld vs %lld)",
          DESC, graph_shape_str(g, a), graph_shape_str(g, b), (long long)x.v, (long long)y.v);
  }
  int r = rbatch;
  if (a->rank > 1) out[r++] = da[ra - 2];
  if (b->rank > 1) out[r++] = db[rb - 1];
  set_out(g, n, 0, a->dtype, r, out);
}

static void infer_gemm(graph *g, graph_node *n) {
  graph_tensor *a = input(g, n, 0, "A"), *b = input(g, n, 1, "B"), *c = opt_input(n, 2);
  need_float(g, n, 0, a);
  same_dtype(g, n, 1, a, b);
  need_rank(g, n, 0, a, 2, 2, "a matrix (rank 2)");
  need_rank(g, n, 1, b, 2, 2, "a matrix (rank 2)");
  int64_t ta = attr_flag(g, n, "transA", 0), tb = attr_flag(g, n, "transB", 0);
  graph_dim m = a->dims[ta ? 1 : 0], ka = a->dims[ta ? 0 : 1];
  graph_dim kb = b->dims[tb ? 1 : 0], nn = b->dims[tb ? 0 : 1];
  if (ka.v != kb.v)
    ERR(in_loc(n, 1), "%s: inner dimensions differ: A %s%s gives K=%lld, B %s%s gives K=%lld", DESC,
        graph_shape_str(g, a), ta ? " (transA)" : "", (long long)ka.v, graph_shape_str(g, b),
        tb ? " (transB)" : "", (long long)kb.v);
  if (c) {
    same_dtype(g, n, 2, a, c);
    /* C broadcasts unidirectionally to (M, N). */
    int ok = c->rank <= 2;
    if (ok && c->rank >= 1) ok = c->dims[c->rank - 1].v == nn.v || c->dims[c->rank - 1].v == 1;
    if (ok && c->rank == 2) ok = c->dims[0].v == m.v || c->dims[0].v == 1;
    if (!ok)
      ERR(in_loc(n, 2), "%s: C '%s' has shape %s, which does not broadcast to (M, N) = (%lld, %lld)",
          DESC, c->name, graph_shape_str(g, c), (long long)m.v, (long long)nn.v);
  }
  int64_t ia[2] = {ta, tb};
  float fa[2] = {(float)attr_float(g, n, "alpha", 1.0), (float)attr_float(g, n, "beta", 1.0)};
  set_ia(g, n, ia, 2);
  set_fa(g, n, fa, 2);
  graph_dim out[2] = {m, nn};
  set_out(g, n, 0, a->dtype, 2, out);
}

/* --- convolution and pooling --- */

typedef struct window {
  int64_t k[2], s[2], d[2], pb[2], pe[2];
} window;

/* Reads strides, dilations, pads and auto_pad, and computes the output size
 * of each of the two spatial axes with ONNX's rules. */
static void spatial_window(graph *g, graph_node *n, const graph_tensor *x, window *w,
                           graph_dim *out_hw, int ceil_mode) {
  graph_attr *s = attr_list(g, n, "strides", 2), *d = attr_list(g, n, "dilations", 2),
             *p = attr_list(g, n, "pads", 4);
  const char *auto_pad = attr_str(g, n, "auto_pad", "NOTSET");
  int mode = !strcmp(auto_pad, "NOTSET") ? 0 : !strcmp(auto_pad, "VALID") ? 1
             : !strcmp(auto_pad, "SAME_UPPER") ? 2 : !strcmp(auto_pad, "SAME_LOWER") ? 3 : -1;
  if (mode < 0)
    ERR(attr_loc(n, "auto_pad"), "%s: auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, found '%s'",
        DESC, auto_pad);
  if (mode && p)
    ERR(p->loc, "%s: pads cannot be given together with auto_pad %s", DESC, auto_pad);
  for (int i = 0; i < 2; i++) {
    w->s[i] = s ? s->ints[i] : 1;
    w->d[i] = d ? d->ints[i] : 1;
    w->pb[i] = p ? p->ints[i] : 0;
    w->pe[i] = p ? p->ints[i + 2] : 0;
    if (w->s[i] <= 0) ERR(s->loc, "%s: strides must be positive", DESC);
    if (w->d[i] <= 0) ERR(d->loc, "%s: dilations must be positive", DESC);
    if (w->pb[i] < 0 || w->pe[i] < 0) ERR(p->loc, "%s: pads must not be negative", DESC);
    if (w->k[i] <= 0) ERR(attr_loc(n, "kernel_shape"), "%s: kernel_shape must be positive", DESC);
    int64_t in = x->dims[2 + i].v, span = (w->k[i] - 1) * w->d[i] + 1, o;
    if (mode == 0) {
      int64_t room = in + w->pb[i] + w->pe[i] - span;
      if (room < 0)
        ERR(n->loc, "%s: the window (%lld with dilation) is larger than the padded input (%lld) on "
                    "spatial axis %d of %s", DESC, (long long)span,
            (long long)(in + w->pb[i] + w->pe[i]), i, graph_shape_str(g, x));
      o = (ceil_mode ? (room + w->s[i] - 1) / w->s[i] : room / w->s[i]) + 1;
      /* A window that would start in the end padding is dropped. */
      if (ceil_mode && (o - 1) * w->s[i] >= in + w->pb[i]) o--;
    } else if (mode == 1) {
      if (in < span)
        ERR(n->loc, "%s: the window (%lld) is larger than the input (%lld) with auto_pad VALID",
            DESC, (long long)span, (long long)in);
      o = (in - span) / w->s[i] + 1;
    } else {
      o = (in + w->s[i] - 1) / w->s[i];
      int64_t total = (o - 1) * w->s[i] + span - in;
      if (total < 0) total = 0;
      w->pb[i] = mode == 2 ? total / 2 : total - total / 2;
      w->pe[i] = total - w->pb[i];
    }
    out_hw[i] = (graph_dim){o, -1};
  }
}

static void window_ia(const window *w, int64_t *ia) {
  ia[0] = w->k[0], ia[1] = w->k[1], ia[2] = w->s[0], ia[3] = w->s[1];
  ia[4] = w->d[0], ia[5] = w->d[1];
  ia[6] = w->pb[0], ia[7] = w->pb[1], ia[8] = w->pe[0], ia[9] = w->pe[1];
}

static void infer_conv(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "X"), *w = input(g, n, 1, "W"), *b = opt_input(n, 2);
  need_float(g, n, 0, x);
  same_dtype(g, n, 1, x, w);
  need_rank(g, n, 0, x, 4, 4, "N x C x H x W (2-D convolution)");
  need_rank(g, n, 1, w, 4, 4, "M x C/group x kH x kW");
  int64_t group = attr_int(g, n, "group", 1);
  int64_t c = x->dims[1].v, m = w->dims[0].v;
  if (group <= 0 || c % group || m % group)
    ERR(attr_loc(n, "group"), "%s: group %lld must divide the input channels (%lld) and the output "
                              "channels (%lld)", DESC, (long long)group, (long long)c, (long long)m);
  if (w->dims[1].v != c / group)
    ERR(in_loc(n, 1), "%s: W '%s' has shape %s but X %s with group %lld needs %lld input channels "
                      "per group", DESC, w->name, graph_shape_str(g, w), graph_shape_str(g, x),
        (long long)group, (long long)(c / group));
  if (b) {
    same_dtype(g, n, 2, x, b);
    if (b->rank != 1 || b->dims[0].v != m)
      ERR(in_loc(n, 2), "%s: bias '%s' has shape %s; expected [%lld]", DESC, b->name,
          graph_shape_str(g, b), (long long)m);
  }
  window win;
  win.k[0] = w->dims[2].v, win.k[1] = w->dims[3].v;
  graph_attr *ks = attr_list(g, n, "kernel_shape", 2);
  if (ks && (ks->ints[0] != win.k[0] || ks->ints[1] != win.k[1]))
    ERR(ks->loc, "%s: kernel_shape [%lld, %lld] does not match W %s", DESC, (long long)ks->ints[0],
        (long long)ks->ints[1], graph_shape_str(g, w));
  graph_dim out[4] = {x->dims[0], w->dims[0]};
  out[1].sym = -1;
  spatial_window(g, n, x, &win, out + 2, 0);
  int64_t ia[11];
  ia[0] = group;
  window_ia(&win, ia + 1);
  set_ia(g, n, ia, 11);
  set_out(g, n, 0, x->dtype, 4, out);
}

static void infer_pool(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "X");
  need_float(g, n, 0, x);
  need_rank(g, n, 0, x, 4, 4, "N x C x H x W (2-D pooling)");
  graph_attr *ks = attr_list(g, n, "kernel_shape", 2);
  if (!ks) ERR(n->loc, "%s is missing the required attribute 'kernel_shape'", DESC);
  window win;
  win.k[0] = ks->ints[0], win.k[1] = ks->ints[1];
  int64_t ceil_mode = attr_flag(g, n, "ceil_mode", 0);
  graph_dim out[4] = {x->dims[0], x->dims[1]};
  spatial_window(g, n, x, &win, out + 2, (int)ceil_mode);
  int64_t ia[11];
  window_ia(&win, ia);
  ia[10] = n->op == RT_OP_AVERAGE_POOL ? attr_flag(g, n, "count_include_pad", 0) : 0;
  if (n->op == RT_OP_MAX_POOL) {
    attr_flag(g, n, "storage_order", 0); /* only shapes the Indices output */
    if (n->n_out > 1 && n->out[1])
      ERR(n->out_loc[1], "%s: the Indices output of MaxPool is not supported", DESC);
  }
  set_ia(g, n, ia, 11);
  set_out(g, n, 0, x->dtype, 4, out);
}

static void infer_global_pool(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "X");
  need_float(g, n, 0, x);
  need_rank(g, n, 0, x, 3, RT_MAX_RANK, "N x C x spatial... (rank >= 3)");
  graph_dim out[RT_MAX_RANK];
  memcpy(out, x->dims, sizeof out);
  for (int i = 2; i < x->rank; i++) out[i] = (graph_dim){1, -1};
  set_out(g, n, 0, x->dtype, x->rank, out);
}

static void infer_lrn(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "X");
  need_float(g, n, 0, x);
  need_rank(g, n, 0, x, 3, RT_MAX_RANK, "N x C x spatial... (rank >= 3)");
  int64_t size = attr_int_required(g, n, "size");
  if (size <= 0) ERR(attr_loc(n, "size"), "%s: size must be positive", DESC);
  float fa[3] = {(float)attr_float(g, n, "alpha", 1e-4), (float)attr_float(g, n, "beta", 0.75),
                 (float)attr_float(g, n, "bias", 1.0)};
  set_ia(g, n, &size, 1);
  set_fa(g, n, fa, 3);
  same_as_input(g, n, 0, x);
}

/* --- normalization --- */

static void need_vector(graph *g, graph_node *n, int i, const graph_tensor *x, int64_t len,
                        const char *role) {
  graph_tensor *t = input(g, n, i, role);
  same_dtype(g, n, i, x, t);
  if (t->rank != 1 || t->dims[0].v != len)
    ERR(in_loc(n, i), "%s: %s '%s' has shape %s; expected [%lld] (the channels of %s)", DESC, role,
        t->name, graph_shape_str(g, t), (long long)len, graph_shape_str(g, x));
}

static void infer_batch_norm(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "X");
  need_float(g, n, 0, x);
  need_rank(g, n, 0, x, 2, RT_MAX_RANK, "N x C x ... (rank >= 2)");
  if (attr_flag(g, n, "training_mode", 0))
    ERR(attr_loc(n, "training_mode"), "%s: training_mode 1 is not supported: dlc runs inference", DESC);
  if (n->n_out > 1)
    ERR(n->out_loc[1], "%s: running mean and variance outputs exist only in training mode", DESC);
  int64_t c = x->dims[1].v;
  need_vector(g, n, 1, x, c, "scale");
  need_vector(g, n, 2, x, c, "B");
  need_vector(g, n, 3, x, c, "input_mean");
  need_vector(g, n, 4, x, c, "input_var");
  float eps = (float)attr_float(g, n, "epsilon", 1e-5);
  set_fa(g, n, &eps, 1);
  same_as_input(g, n, 0, x);
}

static void infer_layer_norm(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "X");
  need_float(g, n, 0, x);
  need_rank(g, n, 0, x, 1, RT_MAX_RANK, "rank >= 1");
  int axis = norm_axis(g, n, attr_loc(n, "axis"), attr_int(g, n, "axis", -1), x->rank, 0);
  if (attr_int(g, n, "stash_type", 1) != 1)
    ERR(attr_loc(n, "stash_type"), "%s: only stash_type 1 (float32 statistics) is supported", DESC);
  /* Scale and B cover the normalized axes exactly (leading 1s allowed). */
  for (int i = 1; i < n->n_in; i++) {
    graph_tensor *t = opt_input(n, i);
    if (!t) {
      if (i == 1) input(g, n, 1, "Scale");
      continue;
    }
    same_dtype(g, n, i, x, t);
    int ok = 1, lead = t->rank - (x->rank - axis);
    for (int k = 0; k < t->rank && ok; k++) {
      if (k < lead) ok = t->dims[k].v == 1;
      else ok = t->dims[k].v == x->dims[axis + k - lead].v;
    }
    if (!ok || graph_tensor_numel(t) != dim_product(x->dims, axis, x->rank).v)
      ERR(in_loc(n, i), "%s: %s '%s' has shape %s; expected the normalized shape %s", DESC,
          i == 1 ? "Scale" : "B", t->name, graph_shape_str(g, t),
          graph_dims_str(g, x->rank - axis, x->dims + axis));
  }
  int64_t ia = axis;
  float eps = (float)attr_float(g, n, "epsilon", 1e-5);
  set_ia(g, n, &ia, 1);
  set_fa(g, n, &eps, 1);
  same_as_input(g, n, 0, x);
  graph_dim stat[RT_MAX_RANK];
  memcpy(stat, x->dims, sizeof stat);
  for (int k = axis; k < x->rank; k++) stat[k] = (graph_dim){1, -1};
  for (int i = 1; i < n->n_out; i++) set_out(g, n, i, RT_F32, x->rank, stat);
}

static void infer_softmax(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "input");
  need_float(g, n, 0, x);
  need_rank(g, n, 0, x, 1, RT_MAX_RANK, "rank >= 1");
  int64_t axis = norm_axis(g, n, attr_loc(n, "axis"), attr_int(g, n, "axis", -1), x->rank, 0);
  set_ia(g, n, &axis, 1);
  same_as_input(g, n, 0, x);
}

/* --- reductions --- */

/* Reads an axes list into a 0/1 mask over rank axes; false when absent. */
static int read_axes(graph *g, graph_node *n, int rank, int inclusive, int *mask, int *count) {
  graph_attr *a = graph_attr_get(n, "axes");
  memset(mask, 0, sizeof(int) * (RT_MAX_RANK * 2));
  *count = 0;
  if (!a) return 0;
  for (int i = 0; i < a->n; i++) {
    int ax = norm_axis(g, n, a->loc, a->ints[i], rank, inclusive);
    if (mask[ax]) ERR(a->loc, "%s: axis %lld is listed twice in axes", DESC, (long long)a->ints[i]);
    mask[ax] = 1;
    (*count)++;
  }
  return 1;
}

static void infer_reduce(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data");
  need_float(g, n, 0, x);
  int64_t keep = attr_flag(g, n, "keepdims", 1), noop = attr_flag(g, n, "noop_with_empty_axes", 0);
  int mask[RT_MAX_RANK * 2], count;
  read_axes(g, n, x->rank, 0, mask, &count);
  if (count == 0) {
    if (noop) { /* the identity: lowered to a copy */
      set_ia(g, n, &keep, 1);
      same_as_input(g, n, 0, x);
      return;
    }
    for (int i = 0; i < x->rank; i++) mask[i] = 1;
    count = x->rank;
  }
  int64_t ia[RT_MAX_RANK + 1];
  int nia = 0;
  ia[nia++] = keep;
  graph_dim out[RT_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x->rank; i++) {
    if (mask[i]) {
      ia[nia++] = i;
      if (keep) out[r++] = (graph_dim){1, -1};
    } else {
      out[r++] = x->dims[i];
    }
  }
  if (x->rank == 0) { /* a scalar reduces to itself */
    set_ia(g, n, &keep, 1);
    same_as_input(g, n, 0, x);
    return;
  }
  set_ia(g, n, ia, nia);
  set_out(g, n, 0, x->dtype, r, out);
}

/* --- layout --- */

static void infer_reshape(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data");
  graph_attr *s = graph_attr_get(n, "shape");
  if (!s) ERR(n->loc, "%s is missing the required attribute 'shape'", DESC);
  int64_t allowzero = attr_flag(g, n, "allowzero", 0);
  if (s->n > RT_MAX_RANK)
    ERR(s->loc, "%s: shape has %d entries; at most %d dimensions are supported", DESC, s->n, RT_MAX_RANK);
  graph_dim out[RT_MAX_RANK];
  int infer_at = -1, copied_sym = 0;
  int64_t known = 1;
  for (int i = 0; i < s->n; i++) {
    int64_t v = s->ints[i];
    if (v == -1) {
      if (infer_at >= 0) ERR(s->loc, "%s: shape has more than one -1", DESC);
      infer_at = i;
      out[i] = (graph_dim){-1, -1}; /* printed as -1 until inferred */
      continue;
    }
    if (v == 0 && !allowzero) {
      if (i >= x->rank)
        ERR(s->loc, "%s: shape entry %d is 0 (copy the input dimension) but the input %s has rank %d",
            DESC, i, graph_shape_str(g, x), x->rank);
      out[i] = x->dims[i];
      if (out[i].sym >= 0) copied_sym = 1;
    } else if (v <= 0) {
      ERR(s->loc, "%s: shape entry %d is %lld; expected a positive size, 0 (copy) or -1 (infer)",
          DESC, i, (long long)v);
    } else {
      out[i] = (graph_dim){v, -1};
    }
    known *= out[i].v;
  }
  int64_t total = graph_tensor_numel(x);
  if (infer_at >= 0) {
    if (known == 0 || total % known)
      ERR(s->loc, "%s: cannot reshape %s (%lld elements) to %s: -1 cannot be inferred", DESC,
          graph_shape_str(g, x), (long long)total, graph_dims_str(g, s->n, out));
    out[infer_at] = (graph_dim){total / known, -1};
    /* Keep the symbol when the inferred size is exactly it (see file comment). */
    if (!copied_sym) {
      int sym = -1, nsym = 0;
      int64_t rest = 1;
      for (int i = 0; i < x->rank; i++) {
        if (x->dims[i].sym >= 0 && nsym == 0) sym = x->dims[i].sym, nsym = 1;
        else rest *= x->dims[i].v;
      }
      if (nsym && rest == known) out[infer_at].sym = sym;
    }
  } else if (known != total) {
    ERR(s->loc, "%s: cannot reshape %s (%lld elements) to %s (%lld elements)", DESC,
        graph_shape_str(g, x), (long long)total, graph_dims_str(g, s->n, out), (long long)known);
  }
  set_out(g, n, 0, x->dtype, s->n, out);
}

static void infer_flatten(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "input");
  int axis = norm_axis(g, n, attr_loc(n, "axis"), attr_int(g, n, "axis", 1), x->rank, 1);
  graph_dim out[2] = {dim_product(x->dims, 0, axis), dim_product(x->dims, axis, x->rank)};
  set_out(g, n, 0, x->dtype, 2, out);
}

static void infer_transpose(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data");
  graph_attr *p = attr_list(g, n, "perm", x->rank);
  int64_t perm[RT_MAX_RANK];
  int seen[RT_MAX_RANK] = {0};
  graph_dim out[RT_MAX_RANK];
  for (int i = 0; i < x->rank; i++) {
    perm[i] = p ? p->ints[i] : x->rank - 1 - i;
    if (perm[i] < 0 || perm[i] >= x->rank || seen[perm[i]])
      ERR(p->loc, "%s: perm must be a permutation of 0..%d", DESC, x->rank - 1);
    seen[perm[i]] = 1;
    out[i] = x->dims[perm[i]];
  }
  set_ia(g, n, perm, x->rank);
  set_out(g, n, 0, x->dtype, x->rank, out);
}

static void infer_concat(graph *g, graph_node *n) {
  graph_tensor *a = input(g, n, 0, "input");
  graph_attr *ax = graph_attr_get(n, "axis");
  if (!ax) ERR(n->loc, "%s is missing the required attribute 'axis'", DESC);
  if (a->rank == 0) ERR(in_loc(n, 0), "%s: cannot concatenate scalars", DESC);
  int axis = norm_axis(g, n, ax->loc, ax->ints[0], a->rank, 0);
  graph_dim out[RT_MAX_RANK];
  memcpy(out, a->dims, sizeof out);
  for (int i = 1; i < n->n_in; i++) {
    graph_tensor *b = input(g, n, i, "input");
    same_dtype(g, n, i, a, b);
    int ok = b->rank == a->rank;
    for (int k = 0; k < a->rank && ok; k++) ok = k == axis || b->dims[k].v == a->dims[k].v;
    if (!ok)
      ERR(in_loc(n, i), "%s: '%s' has shape %s but '%s' has shape %s; they must match except on "
                        "axis %d", DESC, b->name, graph_shape_str(g, b), a->name,
          graph_shape_str(g, a), axis);
    out[axis].v += b->dims[axis].v;
    out[axis].sym = -1;
  }
  int64_t ia = axis;
  set_ia(g, n, &ia, 1);
  set_out(g, n, 0, a->dtype, a->rank, out);
}

static void infer_split(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "input");
  if (x->rank == 0) ERR(in_loc(n, 0), "%s: cannot split a scalar", DESC);
  int axis = norm_axis(g, n, attr_loc(n, "axis"), attr_int(g, n, "axis", 0), x->rank, 0);
  int64_t dim = x->dims[axis].v;
  graph_attr *sp = attr_list(g, n, "split", n->n_out);
  graph_attr *no = graph_attr_get(n, "num_outputs");
  if (sp && no) ERR(no->loc, "%s: give either split or num_outputs, not both", DESC);
  if (no && no->ints[0] != n->n_out)
    ERR(no->loc, "%s: num_outputs is %lld but the node has %d outputs", DESC,
        (long long)no->ints[0], n->n_out);
  int64_t sum = 0, chunk = (dim + n->n_out - 1) / n->n_out;
  for (int i = 0; i < n->n_out; i++) {
    int64_t len = sp ? sp->ints[i] : (i + 1 < n->n_out ? chunk : dim - chunk * (n->n_out - 1));
    if (len <= 0)
      ERR(sp ? sp->loc : n->loc, "%s: output %d would be empty (size %lld on axis %d of %s)", DESC,
          i, (long long)len, axis, graph_shape_str(g, x));
    sum += len;
    graph_dim out[RT_MAX_RANK];
    memcpy(out, x->dims, sizeof out);
    out[axis] = (graph_dim){len, len == dim ? x->dims[axis].sym : -1};
    set_out(g, n, i, x->dtype, x->rank, out);
  }
  if (sum != dim)
    ERR(sp ? sp->loc : n->loc, "%s: split sizes add up to %lld but axis %d of %s has %lld", DESC,
        (long long)sum, axis, graph_shape_str(g, x), (long long)dim);
  int64_t ia = axis;
  set_ia(g, n, &ia, 1);
  for (int i = 0; i < n->n_out; i++)
    if (!n->out[i]) ERR(n->out_loc[i], "%s: every output of Split must be named", DESC);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static void infer_slice(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data");
  graph_attr *st = graph_attr_get(n, "starts"), *en = graph_attr_get(n, "ends");
  if (!st || !en) ERR(n->loc, "%s is missing the required attribute '%s'", DESC, st ? "ends" : "starts");
  if (en->n != st->n) ERR(en->loc, "%s: ends has %d entries but starts has %d", DESC, en->n, st->n);
  graph_attr *ax = attr_list(g, n, "axes", st->n), *sp = attr_list(g, n, "steps", st->n);
  int64_t start[RT_MAX_RANK], step[RT_MAX_RANK];
  graph_dim out[RT_MAX_RANK];
  int seen[RT_MAX_RANK] = {0};
  for (int d = 0; d < x->rank; d++) start[d] = 0, step[d] = 1, out[d] = x->dims[d];
  if (st->n > x->rank) ERR(st->loc, "%s: %d starts for an input of rank %d", DESC, st->n, x->rank);
  for (int i = 0; i < st->n; i++) {
    int d = ax ? norm_axis(g, n, ax->loc, ax->ints[i], x->rank, 0) : i;
    if (seen[d]) ERR(ax->loc, "%s: axis %d is sliced twice", DESC, d);
    seen[d] = 1;
    int64_t dim = x->dims[d].v, s = st->ints[i], e = en->ints[i], k = sp ? sp->ints[i] : 1;
    if (k == 0) ERR(sp->loc, "%s: steps must not be 0", DESC);
    /* ONNX: negatives count from the end, then clamp by the step's sign.
     * Clamping first to +-2*dim keeps huge values (INT64_MAX) from overflowing. */
    s = clamp64(s, -2 * dim, 2 * dim);
    e = clamp64(e, -2 * dim, 2 * dim);
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    int64_t count;
    if (k > 0) {
      s = clamp64(s, 0, dim);
      e = clamp64(e, 0, dim);
      count = e > s ? (e - s + k - 1) / k : 0;
    } else {
      s = clamp64(s, 0, dim - 1);
      e = clamp64(e, -1, dim - 1);
      count = s > e ? (s - e + (-k) - 1) / (-k) : 0;
    }
    if (count == 0)
      ERR(st->loc, "%s: the slice of axis %d (size %lld) from %lld to %lld step %lld is empty; empty "
                   "tensors are not supported", DESC, d, (long long)dim, (long long)st->ints[i],
          (long long)en->ints[i], (long long)k);
    start[d] = s;
    step[d] = k;
    out[d] = (graph_dim){count, count == dim && k == 1 ? x->dims[d].sym : -1};
  }
  int64_t ia[2 * RT_MAX_RANK];
  memcpy(ia, start, (size_t)x->rank * sizeof *ia);
  memcpy(ia + x->rank, step, (size_t)x->rank * sizeof *ia);
  set_ia(g, n, ia, 2 * x->rank);
  set_out(g, n, 0, x->dtype, x->rank, out);
}

static void infer_squeeze(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data");
  int mask[RT_MAX_RANK * 2], count;
  int given = read_axes(g, n, x->rank, 0, mask, &count);
  graph_dim out[RT_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x->rank; i++) {
    if (given && mask[i] && x->dims[i].v != 1)
      ERR(attr_loc(n, "axes"), "%s: cannot squeeze axis %d of %s: its size is %lld, not 1", DESC, i,
          graph_shape_str(g, x), (long long)x->dims[i].v);
    if (given ? !mask[i] : x->dims[i].v != 1) out[r++] = x->dims[i];
  }
  set_out(g, n, 0, x->dtype, r, out);
}

static void infer_unsqueeze(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data");
  graph_attr *a = graph_attr_get(n, "axes");
  if (!a) ERR(n->loc, "%s is missing the required attribute 'axes'", DESC);
  int rank = x->rank + a->n;
  if (rank > RT_MAX_RANK)
    ERR(a->loc, "%s: the result would have rank %d; at most %d is supported", DESC, rank, RT_MAX_RANK);
  int mask[RT_MAX_RANK * 2], count;
  read_axes(g, n, rank, 0, mask, &count);
  graph_dim out[RT_MAX_RANK];
  for (int i = 0, j = 0; i < rank; i++) out[i] = mask[i] ? (graph_dim){1, -1} : x->dims[j++];
  set_out(g, n, 0, x->dtype, rank, out);
}

static void infer_pad(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data");
  const char *mode = attr_str(g, n, "mode", "constant");
  if (strcmp(mode, "constant") != 0)
    ERR(attr_loc(n, "mode"), "%s: Pad mode '%s' is not supported (constant only)", DESC, mode);
  graph_attr *p = attr_list(g, n, "pads", 2 * x->rank);
  if (!p) ERR(n->loc, "%s is missing the required attribute 'pads'", DESC);
  graph_dim out[RT_MAX_RANK];
  for (int i = 0; i < x->rank; i++) {
    int64_t b = p->ints[i], e = p->ints[i + x->rank];
    out[i] = (graph_dim){x->dims[i].v + b + e, b == 0 && e == 0 ? x->dims[i].sym : -1};
    if (out[i].v <= 0)
      ERR(p->loc, "%s: pads %lld and %lld leave axis %d of %s empty", DESC, (long long)b,
          (long long)e, i, graph_shape_str(g, x));
  }
  float value = (float)attr_float(g, n, "value", 0.0);
  set_ia(g, n, p->ints, 2 * x->rank);
  set_fa(g, n, &value, 1);
  set_out(g, n, 0, x->dtype, x->rank, out);
}

static void infer_gather(graph *g, graph_node *n) {
  graph_tensor *x = input(g, n, 0, "data"), *idx = input(g, n, 1, "indices");
  if (idx->dtype != RT_I64)
    ERR(in_loc(n, 1), "%s: indices '%s' must be int64, found %s", DESC, idx->name,
        rt_dtype_name(idx->dtype));
  if (x->rank == 0) ERR(in_loc(n, 0), "%s: cannot gather from a scalar", DESC);
  int axis = norm_axis(g, n, attr_loc(n, "axis"), attr_int(g, n, "axis", 0), x->rank, 0);
  graph_dim out[RT_MAX_RANK * 2];
  int r = 0;
  for (int i = 0; i < axis; i++) out[r++] = x->dims[i];
  for (int i = 0; i < idx->rank; i++) out[r++] = idx->dims[i];
  for (int i = axis + 1; i < x->rank; i++) out[r++] = x->dims[i];
  int64_t ia = axis;
  set_ia(g, n, &ia, 1);
  set_out(g, n, 0, x->dtype, r, out);
}

/* --- the schema table --- */

static const op_schema schemas[RT_OP_COUNT] = {
    [RT_OP_ABS] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_NEG] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_RELU] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_LEAKY_RELU] = {1, 1, 1, 1, "alpha:f", infer_unary},
    [RT_OP_SIGMOID] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_TANH] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_GELU] = {1, 1, 1, 1, "approximate:s", infer_unary},
    [RT_OP_ERF] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_EXP] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_LOG] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_SQRT] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_RECIPROCAL] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_CLIP] = {1, 1, 1, 1, "min:f max:f", infer_unary},
    [RT_OP_HARD_SIGMOID] = {1, 1, 1, 1, "alpha:f beta:f", infer_unary},
    [RT_OP_HARD_SWISH] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_SOFTPLUS] = {1, 1, 1, 1, "", infer_unary},
    [RT_OP_IDENTITY] = {1, 1, 1, 1, "", infer_identity},
    [RT_OP_DROPOUT] = {1, 3, 1, 2, "seed:i", infer_identity},
    [RT_OP_ADD] = {2, 2, 1, 1, "", infer_broadcast},
    [RT_OP_SUB] = {2, 2, 1, 1, "", infer_broadcast},
    [RT_OP_MUL] = {2, 2, 1, 1, "", infer_broadcast},
    [RT_OP_DIV] = {2, 2, 1, 1, "", infer_broadcast},
    [RT_OP_POW] = {2, 2, 1, 1, "", infer_broadcast},
    [RT_OP_MAX] = {1, -1, 1, 1, "", infer_broadcast},
    [RT_OP_MIN] = {1, -1, 1, 1, "", infer_broadcast},
    [RT_OP_SUM] = {1, -1, 1, 1, "", infer_broadcast},
    [RT_OP_MATMUL] = {2, 2, 1, 1, "", infer_matmul},
    [RT_OP_GEMM] = {2, 3, 1, 1, "alpha:f beta:f transA:i transB:i", infer_gemm},
    [RT_OP_CONV] = {2, 3, 1, 1, "auto_pad:s dilations:is group:i kernel_shape:is pads:is strides:is",
                    infer_conv},
    [RT_OP_MAX_POOL] = {1, 1, 1, 2,
                        "auto_pad:s ceil_mode:i dilations:is kernel_shape:is pads:is "
                        "storage_order:i strides:is",
                        infer_pool},
    [RT_OP_AVERAGE_POOL] = {1, 1, 1, 1,
                            "auto_pad:s ceil_mode:i count_include_pad:i dilations:is "
                            "kernel_shape:is pads:is strides:is",
                            infer_pool},
    [RT_OP_GLOBAL_AVERAGE_POOL] = {1, 1, 1, 1, "", infer_global_pool},
    [RT_OP_GLOBAL_MAX_POOL] = {1, 1, 1, 1, "", infer_global_pool},
    [RT_OP_LRN] = {1, 1, 1, 1, "alpha:f beta:f bias:f size:i", infer_lrn},
    [RT_OP_BATCH_NORM] = {5, 5, 1, 3, "epsilon:f momentum:f training_mode:i", infer_batch_norm},
    [RT_OP_LAYER_NORM] = {2, 3, 1, 3, "axis:i epsilon:f stash_type:i", infer_layer_norm},
    [RT_OP_SOFTMAX] = {1, 1, 1, 1, "axis:i", infer_softmax},
    [RT_OP_LOG_SOFTMAX] = {1, 1, 1, 1, "axis:i", infer_softmax},
    [RT_OP_REDUCE_MEAN] = {1, 1, 1, 1, "axes:is keepdims:i noop_with_empty_axes:i", infer_reduce},
    [RT_OP_REDUCE_SUM] = {1, 1, 1, 1, "axes:is keepdims:i noop_with_empty_axes:i", infer_reduce},
    [RT_OP_REDUCE_MAX] = {1, 1, 1, 1, "axes:is keepdims:i noop_with_empty_axes:i", infer_reduce},
    [RT_OP_RESHAPE] = {1, 1, 1, 1, "shape:is allowzero:i", infer_reshape},
    [RT_OP_FLATTEN] = {1, 1, 1, 1, "axis:i", infer_flatten},
    [RT_OP_TRANSPOSE] = {1, 1, 1, 1, "perm:is", infer_transpose},
    [RT_OP_CONCAT] = {1, -1, 1, 1, "axis:i", infer_concat},
    [RT_OP_SPLIT] = {1, 1, 1, RT_MAX_RANK * 64, "axis:i split:is num_outputs:i", infer_split},
    [RT_OP_SLICE] = {1, 1, 1, 1, "starts:is ends:is axes:is steps:is", infer_slice},
    [RT_OP_SQUEEZE] = {1, 1, 1, 1, "axes:is", infer_squeeze},
    [RT_OP_UNSQUEEZE] = {1, 1, 1, 1, "axes:is", infer_unsqueeze},
    [RT_OP_PAD] = {1, 1, 1, 1, "pads:is value:f mode:s", infer_pad},
    [RT_OP_GATHER] = {2, 2, 1, 1, "axis:i", infer_gather},
};

const op_schema *op_schema_get(int op) {
  return op >= 0 && op < RT_OP_COUNT && schemas[op].infer ? &schemas[op] : NULL;
}

const char *op_attr_type(int op, const char *name, char *buf, size_t size) {
  const op_schema *s = op_schema_get(op);
  size_t len = strlen(name);
  for (const char *p = s ? s->attrs : ""; *p;) {
    const char *colon = strchr(p, ':'), *end = strchr(p, ' ');
    if (!end) end = p + strlen(p);
    if ((size_t)(colon - p) == len && strncmp(p, name, len) == 0) {
      snprintf(buf, size, "%.*s", (int)(end - colon - 1), colon + 1);
      return buf;
    }
    p = *end ? end + 1 : end;
  }
  return NULL;
}

void graph_infer(graph *g) {
  /* Inputs decide the batch dimension: their symbolic first dimension. */
  for (int i = 0; i < g->n_inputs; i++) {
    graph_tensor *t = g->inputs[i];
    if (t->rank == 0 || t->dims[0].sym < 0) continue;
    if (g->batch_sym >= 0 && g->batch_sym != t->dims[0].sym)
      ERR(t->loc, "input '%s' is batched along '%s' but an earlier input along '%s'; a data "
                  "directory is streamed along one symbolic dimension",
          t->name, g->dims[t->dims[0].sym].name, g->dims[g->batch_sym].name);
    g->batch_sym = t->dims[0].sym;
  }
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    op_schema_get(n->op)->infer(g, n);
  }
}
