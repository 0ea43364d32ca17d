/*
 * split.c: cutting MatMuls into pieces where that lowers the memory bound.
 * The driver keeps each rewrite only if it does (compile.c).
 *
 * Column pieces. MatMul(A, W) [+ bias] whose result only feeds a Split
 * along its last axis (the fused QKV projection of BERT and GPT-2) keeps
 * the whole result alive next to its pieces while the Split copies them
 * out. One MatMul [+ bias] per piece, each over a column window of W (and
 * of the bias), writes the pieces directly: no copy, and the whole result
 * never exists. The windows become params of their own (fold.c), which
 * the plan stores as values (a seeded weight's recipe no longer serves).
 *
 * Row chunks. MatMul(A, W1) [+ bias] -> activation -> MatMul(., W2) [+ bias], with W1
 * and W2 params, widens each row of A several times (BERT: 768 -> 3072)
 * and narrows it back; the wide intermediate is the largest tensor alive.
 * Rows are independent, so the block is computed in c chunks of rows, each
 * chunk's intermediate c times smaller (the idea of Reformer's chunked
 * feed-forward). The chunks read contiguous slices of A (views: no copy)
 * and write contiguous slices of the result (an elided Concat: no copy), so
 * only the matmuls get smaller. A is seen as a matrix of rows (a Reshape,
 * also a view), and c is the fewest chunks, dividing the rows evenly, that
 * bring the intermediate down to the size of the block's input or output.
 */
#include <string.h>

#include "passes.h"

/* Below this the block is not worth splitting. */
#define SPLIT_MIN_BYTES ((uint64_t)1 << 20)
/* More chunks than this and the matmuls get too small to run well. */
#define SPLIT_MAX_CHUNKS 64
/* Column windows are copied out of their weight. Loaded weights are in
 * memory and in the plan anyway (the windows replace them there); a seeded
 * weight, a few bytes of recipe in the plan, grows it by its size: bound
 * that. */
#define SPLIT_MAX_SEEDED_BYTES ((uint64_t)64 << 20)

typedef struct ffn {
  graph_node *nodes[5]; /* mm1, [add1], act, mm2, [add2] */
  int n;
  graph_tensor *in, *out;
} ffn;

static graph_node **readers_of(graph *g) {
  graph_node **r = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *r);
  int *count = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *count);
  for (int k = 0; k < g->n_nodes; k++)
    for (int i = 0; i < g->nodes[k]->n_in; i++) {
      graph_tensor *t = g->nodes[k]->in[i];
      if (t && count[t->id]++ == 0) r[t->id] = g->nodes[k];
      else if (t) r[t->id] = NULL;
    }
  for (int t = 0; t < g->n_tensors; t++)
    if (g->tensors[t]->is_output) r[t] = NULL;
  return r;
}

static int is_param_matrix(const graph_tensor *w) { return w->kind == GRAPH_PARAM && w->rank == 2; }

static int is_bias_add(const graph_node *n, const graph_tensor *x) {
  if (!n || n->op != RT_OP_ADD) return 0;
  const graph_tensor *b = n->in[0] == x ? n->in[1] : n->in[0];
  return b->kind == GRAPH_PARAM && b->rank == 1 && n->in[0] != n->in[1];
}

static int is_activation(int op) {
  return op == RT_OP_RELU || op == RT_OP_GELU || op == RT_OP_TANH || op == RT_OP_SIGMOID ||
         op == RT_OP_LEAKY_RELU || op == RT_OP_CLIP || op == RT_OP_HARD_SWISH || op == RT_OP_SOFTPLUS;
}

static int match(graph_node **reader, graph_node *mm1, ffn *f) {
  memset(f, 0, sizeof *f);
  if (mm1->op != RT_OP_MATMUL || !is_param_matrix(mm1->in[1]) || mm1->in[0]->rank < 2) return 0;
  f->nodes[f->n++] = mm1;
  graph_tensor *t = mm1->out[0];
  graph_node *n = reader[t->id];
  if (is_bias_add(n, t)) f->nodes[f->n++] = n, t = n->out[0], n = reader[t->id];
  if (!n || !is_activation(n->op)) return 0;
  f->nodes[f->n++] = n, t = n->out[0], n = reader[t->id];
  if (!n || n->op != RT_OP_MATMUL || n->in[0] != t || !is_param_matrix(n->in[1])) return 0;
  f->nodes[f->n++] = n, t = n->out[0], n = reader[t->id];
  if (is_bias_add(n, t)) f->nodes[f->n++] = n, t = n->out[0];
  f->in = mm1->in[0];
  f->out = t;
  return 1;
}

/* A VALUE tensor named after base, of the given shape. */
static graph_tensor *new_tensor(graph *g, graph_tensor *base, const char *suffix, int dtype, int rank,
                                const int64_t *dims) {
  const char *name = arena_printf(g->ar, "%s.%s", base->name, suffix);
  for (int k = 1; graph_find(g, name); k++) name = arena_printf(g->ar, "%s.%s.%d", base->name, suffix, k);
  graph_tensor *t = graph_add_tensor(g, name, GRAPH_VALUE, base->loc);
  t->dtype = dtype;
  t->rank = rank;
  for (int d = 0; d < rank; d++) t->dims[d] = (graph_dim){dims[d], -1};
  return t;
}

static graph_node *new_node(graph *g, int op, const char *name, src_loc loc, int n_in, int n_out) {
  graph_node *n = arena_alloc(g->ar, sizeof *n);
  n->op = op;
  n->name = name;
  n->loc = n->op_loc = loc;
  n->index = -1;
  n->n_in = n_in;
  n->n_out = n_out;
  n->in = arena_array(g->ar, (size_t)n_in + 1, sizeof *n->in);
  n->out = arena_array(g->ar, (size_t)n_out + 1, sizeof *n->out);
  n->in_loc = arena_array(g->ar, (size_t)n_in + 1, sizeof *n->in_loc);
  n->out_loc = arena_array(g->ar, (size_t)n_out + 1, sizeof *n->out_loc);
  for (int i = 0; i < n_in; i++) n->in_loc[i] = loc;
  for (int i = 0; i < n_out; i++) n->out_loc[i] = loc;
  return n;
}

/* A node reading `in` and producing `out`, wired up. */
static graph_node *add_node(graph *g, int op, const char *name, src_loc loc, graph_tensor *in,
                            graph_tensor *out) {
  graph_node *n = new_node(g, op, name, loc, 1, 1);
  n->in[0] = in;
  in->n_uses++;
  n->out[0] = out;
  out->producer = n;
  return n;
}

/* The last dimension of a tensor. */
static int64_t cols(const graph_tensor *t) { return t->dims[t->rank - 1].v; }

/* Rewrite one block as c chunks of rows of A seen as a [rows, K] matrix;
 * appends the new nodes to out[] and returns how many. */
static int split_block(graph *g, ffn *f, int64_t rows, int64_t c, graph_node **out) {
  int k = 0;
  graph_tensor *A = f->in, *Y = f->out;
  src_loc loc = f->nodes[0]->loc;
  const char *base = f->nodes[0]->name;
  int64_t len = rows / c;
  /* Matrices of rows: a Reshape of A in, a Reshape to Y's shape out (views) */
  graph_tensor *A2 = A, *Y2 = Y;
  if (A->rank != 2) {
    A2 = new_tensor(g, A, "rows", A->dtype, 2, (int64_t[]){rows, cols(A)});
    out[k++] = add_node(g, RT_OP_RESHAPE, arena_printf(g->ar, "%s.flat", base), loc, A, A2);
    Y2 = new_tensor(g, Y, "rows", Y->dtype, 2, (int64_t[]){rows, cols(Y)});
  }
  graph_node *concat = new_node(g, RT_OP_CONCAT, arena_printf(g->ar, "%s.join", base), loc, (int)c, 1);
  for (int64_t i = 0; i < c; i++) {
    /* rows [i*len, (i+1)*len) of A: a view of its bytes (storage.c) */
    graph_tensor *prev =
        new_tensor(g, A, arena_printf(g->ar, "chunk%lld", (long long)i), A->dtype, 2, (int64_t[]){len, cols(A)});
    graph_node *sl = add_node(g, RT_OP_SLICE, arena_printf(g->ar, "%s.rows%lld", base, (long long)i), loc, A2, prev);
    sl->n_ia = 4;
    sl->ia = arena_array(g->ar, 4, sizeof *sl->ia);
    sl->ia[0] = i * len, sl->ia[1] = 0, sl->ia[2] = 1, sl->ia[3] = 1; /* starts, steps */
    out[k++] = sl;
    for (int j = 0; j < f->n; j++) {
      graph_node *o = f->nodes[j];
      graph_tensor *chained = j == 0 ? A : f->nodes[j - 1]->out[0];
      graph_node *n = new_node(g, o->op, arena_printf(g->ar, "%s.chunk%lld", o->name, (long long)i), o->loc,
                               o->n_in, 1);
      for (int q = 0; q < o->n_in; q++) {
        n->in[q] = o->in[q] == chained ? prev : o->in[q]; /* params stay shared */
        n->in[q]->n_uses++;
      }
      n->ia = o->ia, n->n_ia = o->n_ia, n->fa = o->fa, n->n_fa = o->n_fa;
      graph_tensor *res = o->out[0];
      n->out[0] = new_tensor(g, res, arena_printf(g->ar, "chunk%lld", (long long)i), res->dtype, 2,
                             (int64_t[]){len, cols(res)});
      n->out[0]->producer = n;
      prev = n->out[0];
      out[k++] = n;
    }
    concat->in[i] = prev;
    prev->n_uses++;
  }
  concat->out[0] = Y2;
  Y2->producer = concat;
  concat->n_ia = 1;
  concat->ia = arena_alloc(g->ar, sizeof *concat->ia);
  concat->ia[0] = 0;
  out[k++] = concat;
  if (Y2 != Y) out[k++] = add_node(g, RT_OP_RESHAPE, arena_printf(g->ar, "%s.unflat", base), loc, Y2, Y);
  /* the old block's nodes are gone: their reads of A and the params */
  A->n_uses--;
  for (int j = 0; j < f->n; j++)
    for (int q = 0; q < f->nodes[j]->n_in; q++)
      if (f->nodes[j]->in[q]->kind == GRAPH_PARAM) f->nodes[j]->in[q]->n_uses--;
  return k;
}

/* Chunks for the block starting at n (0: leave it). */
static int64_t chunks_for(graph_node **reader, graph_node *n, ffn *f, int64_t *rows) {
  if (!match(reader, n, f)) return 0;
  uint64_t in_bytes = graph_tensor_bytes(f->in), out_bytes = graph_tensor_bytes(f->out);
  uint64_t mid_bytes = graph_tensor_bytes(n->out[0]);
  uint64_t edge = in_bytes > out_bytes ? in_bytes : out_bytes;
  if (mid_bytes < SPLIT_MIN_BYTES || mid_bytes <= 2 * edge) return 0;
  *rows = graph_tensor_numel(f->in) / cols(f->in);
  /* the fewest chunks that bring the intermediate down to the edge */
  for (int64_t c = 2; c <= *rows && c <= SPLIT_MAX_CHUNKS; c++)
    if (*rows % c == 0 && mid_bytes / (uint64_t)c <= edge) return c;
  return 0;
}

int graph_split_ffn(graph *g) {
  graph_node **reader = readers_of(g);
  int n_nodes = g->n_nodes, blocks = 0;
  int64_t *chunks = arena_array(g->ar, (size_t)n_nodes + 1, sizeof *chunks);
  size_t extra = 0;
  for (int k = 0; k < n_nodes; k++) {
    ffn f;
    int64_t rows;
    g->nodes[k]->pos = k;
    chunks[k] = chunks_for(reader, g->nodes[k], &f, &rows);
    if (chunks[k]) blocks++, extra += (size_t)chunks[k] * (size_t)(f.n + 1) + 4;
  }
  if (!blocks) return 0;
  graph_node **out = arena_array(g->ar, (size_t)n_nodes + extra, sizeof *out);
  char *gone = arena_alloc(g->ar, (size_t)n_nodes + 1);
  int at = 0;
  for (int k = 0; k < n_nodes; k++) {
    if (gone[k]) continue;
    ffn f;
    int64_t rows;
    if (!chunks[k] || chunks_for(reader, g->nodes[k], &f, &rows) != chunks[k]) {
      out[at++] = g->nodes[k];
      continue;
    }
    /* the block's other nodes come later in order: skip them there */
    for (int j = 1; j < f.n; j++) gone[f.nodes[j]->pos] = 1;
    at += split_block(g, &f, rows, chunks[k], out + at);
  }
  g->nodes = out;
  g->n_nodes = at;
  return blocks;
}

/* ---- column pieces ---------------------------------------------------------- */

typedef struct pieces {
  graph_node *mm, *add, *split; /* add: the bias Add, or NULL */
} pieces;

static int match_pieces(graph_node **reader, graph_node *mm, pieces *p) {
  memset(p, 0, sizeof *p);
  if (mm->op != RT_OP_MATMUL || !is_param_matrix(mm->in[1]) || mm->in[0] == mm->in[1] ||
      !rt_dtype_is_float(mm->in[1]->dtype) ||
      (!mm->in[1]->data && graph_tensor_bytes(mm->in[1]) > SPLIT_MAX_SEEDED_BYTES))
    return 0;
  graph_tensor *t = mm->out[0];
  graph_node *n = reader[t->id];
  p->mm = mm;
  if (is_bias_add(n, t)) {
    const graph_tensor *b = n->in[0] == t ? n->in[1] : n->in[0];
    if (!rt_dtype_is_float(b->dtype) || b->dims[0].v != cols(t)) return 0;
    p->add = n;
    t = n->out[0];
    n = reader[t->id];
  }
  if (!n || n->op != RT_OP_SPLIT || n->ia[0] != t->rank - 1 || n->n_out < 2) return 0;
  p->split = n;
  return 1;
}

/* One MatMul [+ Add] per piece, appended to out[]; returns how many nodes. */
static int cut_columns(graph *g, const pieces *p, graph_node **out) {
  graph_node *mm = p->mm, *sp = p->split;
  graph_tensor *A = mm->in[0], *W = mm->in[1];
  graph_tensor *b = p->add ? (p->add->in[0] == mm->out[0] ? p->add->in[1] : p->add->in[0]) : NULL;
  int k = 0;
  int64_t at = 0;
  for (int i = 0; i < sp->n_out; i++) {
    graph_tensor *y = sp->out[i];
    int64_t len = cols(y);
    if (!y->n_uses && !y->is_output) { /* a piece nobody reads is not computed */
      y->producer = NULL;
      at += len;
      continue;
    }
    graph_node *m = new_node(g, RT_OP_MATMUL, arena_printf(g->ar, "%s.cols%d", mm->name, i), mm->loc, 2, 1);
    m->in[0] = A;
    m->in[1] = graph_param_columns(g, W, at, len);
    A->n_uses++;
    m->in[1]->n_uses++;
    out[k++] = m;
    if (b) {
      int64_t dims[RT_MAX_RANK];
      for (int d = 0; d < y->rank; d++) dims[d] = y->dims[d].v;
      m->out[0] = new_tensor(g, y, "mm", y->dtype, y->rank, dims);
      memcpy(m->out[0]->dims, y->dims, (size_t)y->rank * sizeof *y->dims); /* with y's batch symbol */
      m->out[0]->producer = m;
      graph_node *add = new_node(g, RT_OP_ADD, arena_printf(g->ar, "%s.cols%d", p->add->name, i), p->add->loc, 2, 1);
      add->in[0] = m->out[0];
      add->in[1] = graph_param_columns(g, b, at, len);
      add->in[0]->n_uses++;
      add->in[1]->n_uses++;
      add->out[0] = y;
      y->producer = add;
      out[k++] = add;
    } else {
      m->out[0] = y;
      y->producer = m;
    }
    at += len;
  }
  /* the old MatMul, Add and Split are gone, with their reads */
  A->n_uses--;
  W->n_uses--;
  if (b) b->n_uses--;
  return k;
}

int graph_split_columns(graph *g) {
  graph_node **reader = readers_of(g);
  int n_nodes = g->n_nodes, cut = 0;
  size_t extra = 0;
  for (int k = 0; k < n_nodes; k++) {
    pieces p;
    g->nodes[k]->pos = k;
    if (match_pieces(reader, g->nodes[k], &p)) cut++, extra += (size_t)p.split->n_out * 2;
  }
  if (!cut) return 0;
  graph_node **out = arena_array(g->ar, (size_t)n_nodes + extra + 1, sizeof *out);
  char *gone = arena_alloc(g->ar, (size_t)n_nodes + 1);
  int at = 0;
  /* the pieces take the Split's place: A is ready there, and every reader
   * of a piece comes after it */
  pieces *at_split = arena_array(g->ar, (size_t)n_nodes + 1, sizeof *at_split);
  for (int k = 0; k < n_nodes; k++) {
    pieces p;
    if (!match_pieces(reader, g->nodes[k], &p)) continue;
    gone[k] = 1;
    if (p.add) gone[p.add->pos] = 1;
    at_split[p.split->pos] = p;
  }
  for (int k = 0; k < n_nodes; k++) {
    if (at_split[k].mm) at += cut_columns(g, &at_split[k], out + at);
    else if (!gone[k]) out[at++] = g->nodes[k];
  }
  g->nodes = out;
  g->n_nodes = at;
  return cut;
}
