/*
 * fuse.c: grouping ops into kernels.
 *
 * The rules follow TVM's op classes. Ops are elementwise (unary, broadcast
 * binary, BatchNormalization), reductions (Softmax, LogSoftmax,
 * LayerNormalization, ReduceX, pooling, LRN), out-elementwise-fusable
 * (Conv, MatMul, Gemm) or injective (Transpose, Concat, Split, Slice, Pad,
 * Gather). Walking the kernel order:
 *
 *   epilogue   an elementwise op whose main operand (the one with the
 *              output's shape) is the last result of a group, read by
 *              nothing else and not a model output, joins that group:
 *              chains of elementwise ops, a Conv's bias/activation/residual
 *              add, a reduction's elementwise tail;
 *   prologue   a Conv or reduction whose input is the last result of a
 *              purely elementwise group, read by nothing else, absorbs it
 *              (Conv only what codegen can apply on load: a per-channel
 *              affine and an activation);
 *   consumer   a reduction or Transpose reading a group's last result alone
 *              (a pooling or LRN after a Conv) joins if codegen can generate
 *              the whole (a Concat is better elided: storage.c);
 *   GEMM       MatMul and Gemm run through cuBLASLt, whose epilogues take a
 *              per-column bias, then Relu or the tanh Gelu; nothing else
 *              joins them;
 *   attention  MatMul(Q, K^T), an optional scale (Mul or Div by a scalar)
 *              and additive mask, Softmax over the last axis and MatMul(P,
 *              V) become one kernel, as FlashAttention computes it: the
 *              score matrix, batch x heads x seq x seq, never reaches memory.
 *
 * codegen (cg_supported) has the last word on every other group. A group's
 * nodes end up consecutive, at the place of its last node (moving a node
 * later is safe: its results are read only inside the group). Results read
 * only inside their group are marked fused: they never touch device memory,
 * which lowers the memory bound.
 */
#include <string.h>

#include "kernel_ir.h"
#include "passes.h"

typedef enum { K_VIEW, K_EW, K_REDUCE, K_CONV, K_GEMM, K_INJECTIVE, K_ATTENTION } kind;

/* A kernel of more ops gains nothing measurable and each codegen check
 * costs time in proportion to the group: keep checks (and kernels) small. */
enum { MAX_GROUP = 32 };

static kind classify(const graph_node *n) {
  int op = n->op;
  if (op == RT_OP_IDENTITY || op == RT_OP_DROPOUT || op == RT_OP_RESHAPE || op == RT_OP_FLATTEN ||
      op == RT_OP_SQUEEZE || op == RT_OP_UNSQUEEZE)
    return K_VIEW;
  if ((op >= RT_OP_ABS && op <= RT_OP_SOFTPLUS) || (op >= RT_OP_ADD && op <= RT_OP_SUM) ||
      op == RT_OP_BATCH_NORM)
    return K_EW;
  if (op == RT_OP_CONV) return K_CONV;
  if (op == RT_OP_MATMUL || op == RT_OP_GEMM) return K_GEMM;
  if (op == RT_OP_SOFTMAX || op == RT_OP_LOG_SOFTMAX || op == RT_OP_LAYER_NORM ||
      op == RT_OP_REDUCE_MEAN || op == RT_OP_REDUCE_SUM || op == RT_OP_REDUCE_MAX ||
      op == RT_OP_GLOBAL_AVERAGE_POOL || op == RT_OP_GLOBAL_MAX_POOL || op == RT_OP_MAX_POOL ||
      op == RT_OP_AVERAGE_POOL || op == RT_OP_LRN)
    return n->n_ia == 1 && op >= RT_OP_REDUCE_MEAN && op <= RT_OP_REDUCE_MAX ? K_VIEW : K_REDUCE;
  return K_INJECTIVE;
}

typedef struct group {
  graph_node **nodes;
  int n, cap;
  kind anchor;       /* the group's kind: its first non-elementwise op, else K_EW */
  graph_tensor *tail; /* the last result */
  int gemm_stage;    /* GEMM epilogue so far: 0 none, 1 bias, 2 activation */
} group;

typedef struct fuser {
  graph *g;
  int *readers;      /* tensor id -> number of node inputs reading it */
  graph_node **sole; /* tensor id -> its one reader (readers == 1), else NULL */
  group *groups;
  int n_groups;
  int *group_of_tail; /* tensor id -> group whose tail it is, or -1 */
} fuser;

static int same_shape(const graph_tensor *a, const graph_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i].v != b->dims[i].v) return 0;
  return 1;
}

static void push(fuser *f, group *gr, graph_node *n) {
  if (gr->n == gr->cap) {
    int cap = gr->cap ? gr->cap * 2 : 4;
    graph_node **v = arena_array(f->g->ar, (size_t)cap, sizeof *v);
    if (gr->n) memcpy(v, gr->nodes, (size_t)gr->n * sizeof *v);
    gr->nodes = v;
    gr->cap = cap;
  }
  gr->nodes[gr->n++] = n;
}

/* Would codegen generate gr's nodes plus n (n may be NULL)? The tensors
 * read only inside are marked fused for the question, then unmarked. */
static int codegen_ok(group *gr, graph_node *extra, int prepend) {
  /* a probe's IR is thrown away: keep it out of the compile's arena */
  arena scratch = {0};
  int n = gr->n + (extra != NULL);
  graph_node **v = arena_array(&scratch, (size_t)n + 1, sizeof *v);
  int k = 0;
  if (extra && prepend) v[k++] = extra;
  for (int i = 0; i < gr->n; i++) v[k++] = gr->nodes[i];
  if (extra && !prepend) v[k++] = extra;
  /* results of all but the last node are read only inside (by construction) */
  for (int i = 0; i + 1 < n; i++) v[i]->out[0]->fused = true;
  kernel_ir ir;
  int ok = kernel_ir_build(&scratch, v, n, NULL, &ir) == 0;
  char why[256];
  if (ok) {
    ir.group.name = "probe";
    ok = cg_supported(&ir.group, why, sizeof why);
  }
  for (int i = 0; i + 1 < n; i++) v[i]->out[0]->fused = false;
  arena_free(&scratch);
  return ok;
}

/* Can cuBLASLt's epilogue take n after the GEMM group gr? */
static int gemm_epilogue(fuser *f, group *gr, graph_node *n, graph_tensor *main_in) {
  (void)f;
  if (gr->anchor != K_GEMM || main_in != gr->tail) return 0;
  graph_tensor *y = gr->tail;
  int64_t cols = y->dims[y->rank - 1].v;
  if (n->op == RT_OP_ADD && gr->gemm_stage == 0) {
    graph_tensor *b = n->in[0] == main_in ? n->in[1] : n->in[0];
    int per_col = b->kind == GRAPH_PARAM && b->dtype == y->dtype && graph_tensor_numel(b) == cols &&
                  b->dims[b->rank - 1].v == cols;
    if (!per_col || n->in[0] == n->in[1]) return 0;
    /* a Gemm with its own C has no room for another bias */
    if (gr->nodes[0]->op == RT_OP_GEMM && gr->nodes[0]->n_in > 2 && gr->nodes[0]->in[2]) return 0;
    gr->gemm_stage = 1;
    return 1;
  }
  if (gr->gemm_stage < 2 && (n->op == RT_OP_RELU || (n->op == RT_OP_GELU && n->ia[0] == 1))) {
    gr->gemm_stage = 2;
    return 1;
  }
  return 0;
}

/* The next node of an attention chain: the sole reader of t, if it is not
 * a model output and is not grouped yet. */
static graph_node *next_of(fuser *f, graph_tensor *t) {
  if (!t || t->is_output || f->readers[t->id] != 1) return NULL;
  graph_node *m = f->sole[t->id];
  return m && m->group < 0 ? m : NULL;
}

/* MatMul -> [Mul|Div scalar] -> [Add mask] -> Softmax(last axis) -> MatMul
 * starting at n; the nodes go to chain, their count is returned (0: no). */
static int match_attention(fuser *f, graph_node *n, graph_node **chain) {
  if (n->op != RT_OP_MATMUL || !n->out[0] || n->out[0]->rank < 2) return 0;
  int len = 0;
  chain[len++] = n;
  graph_tensor *t = n->out[0];
  graph_node *m = next_of(f, t);
  if (m && (m->op == RT_OP_MUL || m->op == RT_OP_DIV)) {
    graph_tensor *c = m->in[0] == t ? m->in[1] : m->in[0];
    if (c->kind != GRAPH_PARAM || graph_tensor_numel(c) != 1 || (m->op == RT_OP_DIV && m->in[0] != t) ||
        !same_shape(m->out[0], t))
      return 0;
    chain[len++] = m;
    t = m->out[0];
    m = next_of(f, t);
  }
  if (m && m->op == RT_OP_ADD) {
    graph_tensor *mask = m->in[0] == t ? m->in[1] : m->in[0];
    if (mask == t || !same_shape(m->out[0], t)) return 0;
    chain[len++] = m;
    t = m->out[0];
    m = next_of(f, t);
  }
  if (!m || m->op != RT_OP_SOFTMAX || m->ia[0] != t->rank - 1) return 0;
  chain[len++] = m;
  t = m->out[0];
  m = next_of(f, t);
  if (!m || m->op != RT_OP_MATMUL || m->in[0] != t) return 0;
  chain[len++] = m;
  return len;
}

void graph_fuse(graph *g, int enable) {
  fuser f = {g, arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof(int)),
             arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof(graph_node *)),
             arena_array(g->ar, (size_t)g->n_nodes + 1, sizeof(group)), 0,
             arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof(int))};
  for (int t = 0; t < g->n_tensors; t++) {
    g->tensors[t]->fused = false;
    f.group_of_tail[t] = -1;
  }
  for (int k = 0; k < g->n_nodes; k++) {
    g->nodes[k]->group = -1;
    for (int i = 0; i < g->nodes[k]->n_in; i++)
      if (g->nodes[k]->in[i]) {
        f.readers[g->nodes[k]->in[i]->id]++;
        f.sole[g->nodes[k]->in[i]->id] = g->nodes[k];
      }
  }

  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    if (n->group >= 0) continue; /* taken by an attention chain met earlier */
    kind kd = classify(n);
    int joined = -1;
    if (!enable) kd = K_VIEW; /* nothing joins anything */
    graph_node *chain[12];
    int len = kd == K_GEMM ? match_attention(&f, n, chain + 3) : 0;
    if (len) {
      /* Q, K^T and V often come from Transposes that only feed this
       * attention: reading them through the permutation saves 3 kernels */
      graph_node *mm2 = chain[3 + len - 1];
      graph_tensor *qkv[3] = {n->in[0], n->in[1], mm2->in[1]};
      int pre = 0;
      for (int i = 0; i < 3; i++) {
        /* each Transpose was met first and is a kernel of its own so far */
        graph_node *p = qkv[i]->producer;
        if (p && p->op == RT_OP_TRANSPOSE && p->group >= 0 && f.groups[p->group].n == 1 &&
            f.readers[qkv[i]->id] == 1 && !qkv[i]->is_output) {
          chain[3 - pre - 1] = p;
          pre++;
        }
      }
      graph_node **c = chain + 3 - pre;
      group with = {c + 1, len + pre - 1, len + pre - 1, K_ATTENTION, NULL, 0};
      group without = {chain + 4, len - 1, len - 1, K_ATTENTION, NULL, 0};
      if (pre && codegen_ok(&with, c[0], 1)) {
        for (int i = 0; i < pre; i++) { /* their own kernels are gone */
          f.groups[c[i]->group].n = 0;
          f.group_of_tail[c[i]->out[0]->id] = -1;
        }
        len += pre;
      } else if (codegen_ok(&without, chain[3], 1)) {
        c = chain + 3;
      } else {
        c = NULL;
      }
      if (c) {
        memmove(chain, c, (size_t)len * sizeof *chain);
        group *gr = &f.groups[f.n_groups];
        memset(gr, 0, sizeof *gr);
        for (int i = 0; i < len; i++) {
          push(&f, gr, chain[i]);
          chain[i]->group = f.n_groups;
        }
        gr->anchor = K_ATTENTION;
        gr->tail = chain[len - 1]->out[0];
        f.group_of_tail[gr->tail->id] = f.n_groups++;
        continue;
      }
    }
    /* epilogue: n's main operand ends a group and has no other reader */
    if (kd == K_EW && n->n_out == 1 && n->out[0]) {
      /* a one-input Sum is precision.c's cast: it stores the group's result
       * in another dtype (an fp16 plan's float32 output) */
      int cast = n->op == RT_OP_SUM && n->n_in == 1;
      for (int i = 0; i < n->n_in && joined < 0; i++) {
        graph_tensor *t = n->in[i];
        if (!t || f.group_of_tail[t->id] < 0 || f.readers[t->id] != 1 || t->is_output ||
            !same_shape(t, n->out[0]) || (t->dtype != n->out[0]->dtype && !cast))
          continue;
        group *gr = &f.groups[f.group_of_tail[t->id]];
        if (gr->anchor == K_VIEW || gr->anchor == K_INJECTIVE || gr->n >= MAX_GROUP) continue;
        int ok = gr->anchor == K_GEMM ? gemm_epilogue(&f, gr, n, t) : codegen_ok(gr, n, 0);
        if (!ok) continue;
        f.group_of_tail[t->id] = -1;
        push(&f, gr, n);
        gr->tail = n->out[0];
        joined = (int)(gr - f.groups);
      }
    }
    /* any other consumer of a group's result (a pooling after a Conv, a
     * reduction after a reduction) joins when codegen can generate it */
    if (joined < 0 && (kd == K_REDUCE || n->op == RT_OP_TRANSPOSE) && n->n_in >= 1 && n->in[0]) {
      graph_tensor *x = n->in[0];
      /* a Transpose may reach the group through one view (ShuffleNet's
       * channel shuffle: Reshape, Transpose after a Conv): the kernel then
       * stores its result in the permuted order */
      graph_node *view = NULL;
      if (f.group_of_tail[x->id] < 0 && n->op == RT_OP_TRANSPOSE && x->producer &&
          classify(x->producer) == K_VIEW && f.readers[x->id] == 1 && !x->is_output &&
          x->producer->in[0] && f.groups[x->producer->group].n == 1) {
        view = x->producer;
        x = view->in[0];
      }
      int gi = f.group_of_tail[x->id];
      /* an elementwise group takes a Transpose (a permuted store), not a
       * reduction: that is the prologue rule's case, the other way round */
      if (gi >= 0 && f.readers[x->id] == 1 && !x->is_output &&
          (f.groups[gi].anchor != K_EW || n->op == RT_OP_TRANSPOSE) &&
          f.groups[gi].n + 1 + (view != NULL) <= MAX_GROUP &&
          f.groups[gi].anchor != K_GEMM && f.groups[gi].anchor != K_VIEW) {
        group *gr = &f.groups[gi];
        int ok;
        if (view) { /* probe with the view in: group + view + n */
          push(&f, gr, view);
          ok = codegen_ok(gr, n, 0);
          gr->n--;
        } else {
          ok = codegen_ok(gr, n, 0);
        }
        if (ok) {
          f.group_of_tail[x->id] = -1;
          if (view) {
            f.groups[view->group].n = 0; /* its own group is gone */
            view->group = gi;
            push(&f, gr, view);
          }
          push(&f, gr, n);
          gr->tail = n->out[0];
          joined = gi;
        }
      }
    }
    /* prologue: a Conv or reduction swallowing the elementwise group before it */
    if (joined < 0 && (kd == K_CONV || kd == K_REDUCE) && n->in[0]) {
      graph_tensor *x = n->in[0];
      int gi = f.group_of_tail[x->id];
      if (gi >= 0 && f.readers[x->id] == 1 && !x->is_output && f.groups[gi].anchor == K_EW &&
          f.groups[gi].n < MAX_GROUP &&
          codegen_ok(&f.groups[gi], n, 0)) {
        group *gr = &f.groups[gi];
        f.group_of_tail[x->id] = -1;
        push(&f, gr, n);
        gr->anchor = kd;
        gr->tail = n->out[0];
        joined = gi;
      }
    }
    if (joined < 0) {
      group *gr = &f.groups[f.n_groups];
      memset(gr, 0, sizeof *gr);
      push(&f, gr, n);
      gr->anchor = kd;
      gr->tail = n->n_out ? n->out[0] : NULL;
      joined = f.n_groups++;
    }
    if (f.groups[joined].tail && f.groups[joined].anchor != K_VIEW)
      f.group_of_tail[f.groups[joined].tail->id] = joined;
    n->group = joined;
  }

  /* Lay each group out consecutively where its last node was. */
  int *last = arena_array(g->ar, (size_t)f.n_groups + 1, sizeof *last);
  for (int k = 0; k < g->n_nodes; k++) last[g->nodes[k]->group] = k;
  graph_node **order = arena_array(g->ar, (size_t)g->n_nodes + 1, sizeof *order);
  int at = 0;
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    if (last[n->group] != k) continue;
    group *gr = &f.groups[n->group];
    for (int i = 0; i < gr->n; i++) {
      order[at++] = gr->nodes[i];
      if (i + 1 < gr->n) gr->nodes[i]->out[0]->fused = true;
    }
  }
  memcpy(g->nodes, order, (size_t)g->n_nodes * sizeof *order);
}
