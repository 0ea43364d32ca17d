/*
 * emit_attention.c: fused attention, FlashAttention style.
 *
 * The group is MatMul(Q, Kt) -> S, an optional Mul or Div of S by a
 * one-element CG_IN, an optional Add of a mask that broadcasts to S,
 * Softmax over the last axis -> P and MatMul(P, V) -> O, with S, the scaled
 * and masked S and P fused. Q is [B..., M, D], Kt [B..., D, N], V [B..., N,
 * Dv] (each a CG_IN or read through a leading Transpose, below); batch dims
 * broadcast as NumPy's matmul does. The scores never reach memory: a CTA
 * takes BM query rows of one batch entry and walks the keys in tiles of BN,
 * keeping per row the running maximum m and sum l of the softmax (online
 * softmax):
 *
 *   s_j = (q . k_j) * scale + mask_j          (the unfused graph's order)
 *   m'  = max(m, max_j s_j),  u = m' (0 when m' = -inf)
 *   p_j = exp(s_j - u),  alpha = exp(m - u)
 *   l   = l * alpha + sum_j p_j,   O = O * alpha + sum_j p_j v_j
 *
 * and stores O / l at the end. Using 0 instead of -inf as the reference keeps
 * a row whose first tiles are all -inf finite (exp(-inf - -inf) would be
 * NaN); a row that is -inf everywhere ends with l = 0 and O = 0, and O / l
 * is NaN, which is what the CPU's softmax of an all -inf row (NaN) followed
 * by the matmul gives. A NaN score makes its row NaN, as on the CPU.
 * Comparisons skip NaN like the CPU's `x > m ? x : m`.
 *
 * Two kernels:
 *
 *   fma   float32 arithmetic for any mix of dtypes: 256 threads as 32 row
 *         groups x 8 lanes; BM = 64 (D, Dv <= 64) or 32 query rows, BN = 32
 *         keys per tile; each thread computes 2 (or 1) rows x 4 scores, the
 *         row statistics go through 3 shuffles within the 8 lanes, P goes
 *         through shared memory and each thread accumulates its rows' O
 *         columns tx, tx + 8, ... in registers.
 *   wmma  Q, Kt and V all float16 (sm_70) or all bfloat16 (sm_80): 4 warps,
 *         BM = 64 (16 rows per warp), BN = 64 (32 when D + Dv > 128); S =
 *         Q Kt and O += P V on tensor cores (m16n16k16, float32
 *         accumulation); each warp's softmax runs on its own 16 rows (2 lanes
 *         per row) between __syncwarp()s; P is rounded to the operand type,
 *         as the unfused graph would store it; O lives in shared memory as
 *         float32 (WMMA hides the fragment layout, so the per-row rescale
 *         goes through shared memory).
 *
 * Both use dynamic shared memory (cg_launch.shared_bytes, up to ~80 KiB for
 * D = Dv = 128; the runtime opts in beyond 48 KiB). Limits: D and Dv at
 * most 128, N at least 1. A Transpose of O that keeps its last axis last
 * may end the group (BERT's [B, H, M, Dv] -> [B, M, H, Dv] before the heads
 * are merged): O is stored in that layout directly.
 *
 * Up to three Transposes may lead the group, each making one of Q, K^T, V
 * from a CG_IN (BERT's heads split from [B, S, H, D]): the operand is read
 * through the permutation, a matrix with its own row, column and batch
 * strides. Staging loops walk the contiguous axis across threads; the wmma
 * kernel keeps an operand that is contiguous along its rows' other axis
 * (K^T from [B, S, H, D] keys) column-major in shared memory, so its tiles
 * still move as 16-byte words and its fragments load col_major.
 *
 * O may be written over Q's memory (check_inplace) when every output
 * element lands on the bytes of the query element of the same index:
 * BERT's O, stored back as [B, S, H, D], over the Q it read as [B, S, H, D].
 * That keeps one tensor of the layer fewer alive at the attention.
 */
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

/* ---- analysis --------------------------------------------------------------- */

static int same_dims(const cg_tensor *a, const cg_tensor *b) {
  if (a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

/* NumPy batch broadcast of a's and b's leading (rank - 2) dims into out[];
 * returns the batch rank, or -1 when they do not broadcast. */
static int bcast_batch(const cg_tensor *a, const cg_tensor *b, int64_t *out) {
  int na = a->rank - 2, nb = b->rank - 2, n = na > nb ? na : nb;
  for (int d = 0; d < n; d++) {
    int ia = d - (n - na), ib = d - (n - nb);
    int64_t x = ia >= 0 ? a->dims[ia] : 1, y = ib >= 0 ? b->dims[ib] : 1;
    if (x != y && x != 1 && y != 1) return -1;
    out[d] = x == 1 ? y : x;
  }
  return n;
}

/* Operand `i` (0 Q, 1 K^T, 2 V) of the attention, tensor t: a CG_IN read
 * as it is, or the fused result of one of the group's leading Transposes
 * (nodes 0 .. lead - 1) of a CG_IN, read through its permutation. */
static int operand(const cg_group *g, cg_plan *p, int lead, int i, int t, char *why, size_t n) {
  static const char *const names[3] = {"Q", "K^T", "V"};
  const cg_tensor *T = g->tensors;
  p->att_mem[i] = t;
  p->att_ptr[i] = -1;
  if (t >= 0 && T[t].role == CG_IN) return 0;
  for (int j = 0; j < lead && t >= 0; j++) {
    const cg_node *nd = &g->nodes[j];
    if (nd->out[0] != t) continue;
    for (int k = 0; k < i; k++)
      if (p->att_ptr[k] == j) return cg_fail(why, n, "attention: one Transpose feeds two operands");
    p->att_mem[i] = nd->in[0];
    p->att_ptr[i] = j;
    return T[t].role == CG_FUSED ? 0 : cg_fail(why, n, "attention: the transposed %s must be CG_FUSED", names[i]);
  }
  return cg_fail(why, n, "attention: %s must be a CG_IN or a leading Transpose of one", names[i]);
}

/* Element strides of operand i's dims in the memory it is read from: the
 * dense strides of its CG_IN, permuted as its leading Transpose permutes
 * the dims. */
static void operand_strides(const cg_group *g, const cg_plan *p, int i, int t, int64_t *st) {
  const cg_tensor *X = &g->tensors[t];
  int tr = p->att_ptr[i];
  if (tr < 0) {
    cg_dense_strides(X->rank, X->dims, st);
    return;
  }
  const cg_tensor *M = &g->tensors[p->att_mem[i]];
  int64_t ms[CG_MAX_RANK];
  cg_dense_strides(M->rank, M->dims, ms);
  for (int d = 0; d < X->rank; d++) st[d] = ms[g->nodes[tr].ia[d]];
}

/* Element strides of O's dims where they are stored: dense, or through the
 * Transpose that ends the group (each dim of O walks the output with the
 * dense stride of the output dim it moved to). */
static void output_strides(const cg_group *g, const cg_plan *p, int64_t *st) {
  const cg_tensor *O = &g->tensors[p->att_o];
  if (p->att_tr < 0) {
    cg_dense_strides(O->rank, O->dims, st);
    return;
  }
  const cg_tensor *Y = &g->tensors[p->att_out];
  int64_t ys[CG_MAX_RANK];
  cg_dense_strides(Y->rank, Y->dims, ys);
  for (int d = 0; d < Y->rank; d++) st[g->nodes[p->att_tr].ia[d]] = ys[d];
}

/* The one in-place write attention can do: O over Q's memory, each output
 * element on the bytes its query element is read from (same dims, same
 * strides, same dtype). A CTA stages its query rows into shared memory
 * before its first barrier and stores only those rows after it, and no
 * other CTA reads them. */
static int check_inplace(const cg_group *g, const cg_plan *p, char *why, size_t n) {
  if (!g->n_inplace) return 0;
  const cg_tensor *Q = &g->tensors[p->att_q], *O = &g->tensors[p->att_o];
  if (g->n_inplace != 1 || g->inplace[0][0] != p->att_out || g->inplace[0][1] != p->att_mem[0] ||
      p->att_mem[1] == p->att_mem[0] || p->att_mem[2] == p->att_mem[0])
    return cg_fail(why, n, "attention writes in place only its output over Q's memory, read by nothing else");
  int64_t qs[CG_MAX_RANK], os[CG_MAX_RANK];
  operand_strides(g, p, 0, p->att_q, qs);
  output_strides(g, p, os);
  int same = Q->rank == O->rank && Q->dtype == g->tensors[p->att_out].dtype;
  for (int d = 0; same && d < Q->rank; d++) same = Q->dims[d] == O->dims[d] && (Q->dims[d] == 1 || qs[d] == os[d]);
  return same ? 0 : cg_fail(why, n, "attention in place: the output's elements do not land on their queries'");
}

int cg_plan_attention(const cg_group *g, cg_plan *p, char *why, size_t n) {
  const cg_tensor *T = g->tensors;
  p->kind = CG_KIND_ATTENTION;
  p->att_scale = p->att_mask = -1;
  /* up to three Transposes making Q, K^T and V may lead */
  int lead = 0;
  while (lead < g->n_nodes && lead < 3 && g->nodes[lead].op == CG_TRANSPOSE) lead++;
  p->anchor = lead;
  for (int j = 0; j < lead; j++) {
    const cg_node *nd = &g->nodes[j];
    int x = nd->n_in == 1 ? nd->in[0] : -1, y = nd->n_out == 1 ? nd->out[0] : -1;
    if (x < 0 || y < 0 || T[x].role != CG_IN || T[y].role != CG_FUSED || T[x].dtype != T[y].dtype ||
        cg_check_perm(&T[x], &T[y], nd))
      return cg_fail(why, n, "attention: a leading Transpose must permute a CG_IN into a CG_FUSED operand");
  }
  /* a Transpose of O that keeps its last axis last may follow: O is then
   * stored in that layout */
  int nn = g->n_nodes, tr = nn >= lead + 4 && g->nodes[nn - 1].op == CG_TRANSPOSE ? nn - 1 : -1;
  if (tr >= 0) nn--;
  p->att_tr = tr;
  if (nn - lead < 3 || nn - lead > 5)
    return cg_fail(why, n, "MatMul runs through cuBLASLt unless it starts an attention chain "
                           "([Transposes of Q, K^T, V], MatMul, [Mul|Div], [Add], Softmax, MatMul, [Transpose])");
  const cg_node *qk = &g->nodes[lead], *pv = &g->nodes[nn - 1], *sm = &g->nodes[nn - 2];
  if (qk->op != CG_MATMUL || pv->op != CG_MATMUL || sm->op != CG_SOFTMAX || qk->n_in != 2 ||
      pv->n_in != 2 || qk->n_out != 1 || pv->n_out != 1 || sm->n_in < 1 || sm->n_out != 1)
    return cg_fail(why, n, "MatMul runs through cuBLASLt unless it starts an attention chain "
                           "([Transposes of Q, K^T, V], MatMul, [Mul|Div], [Add], Softmax, MatMul, [Transpose])");
  int q = qk->in[0], k = qk->in[1], s = qk->out[0];
  if (q < 0 || k < 0 || s < 0 || T[s].role != CG_FUSED)
    return cg_fail(why, n, "attention: the scores must be CG_FUSED");
  if (operand(g, p, lead, 0, q, why, n) || operand(g, p, lead, 1, k, why, n)) return -1;
  p->att_q = q;
  p->att_k = k;
  p->att_s = s;
  const cg_tensor *Q = &T[q], *K = &T[k], *S = &T[s];
  if (Q->rank < 2 || K->rank < 2) return cg_fail(why, n, "attention: Q and K^T need rank >= 2");
  int64_t sb[CG_MAX_RANK];
  int nsb = bcast_batch(Q, K, sb);
  int64_t M = Q->dims[Q->rank - 2], D = Q->dims[Q->rank - 1], N = K->dims[K->rank - 1];
  if (nsb < 0 || K->dims[K->rank - 2] != D || S->rank != nsb + 2 || S->dims[nsb] != M || S->dims[nsb + 1] != N)
    return cg_fail(why, n, "attention: Q, K^T and the scores' shapes do not match a matmul");
  for (int d = 0; d < nsb; d++)
    if (S->dims[d] != sb[d]) return cg_fail(why, n, "attention: score batch dims do not match");
  int cur = s;
  for (int i = lead + 1; i < nn - 2; i++) {
    const cg_node *nd = &g->nodes[i];
    if (nd->n_in != 2 || nd->n_out != 1 || nd->out[0] < 0 || T[nd->out[0]].role != CG_FUSED ||
        !same_dims(&T[nd->out[0]], S))
      return cg_fail(why, n, "attention: node %d (%s) must make a fused tensor of the scores' shape", i,
                     cg_op_name(nd->op));
    int other = nd->in[0] == cur ? nd->in[1] : nd->in[0];
    if ((nd->in[0] != cur && nd->in[1] != cur) || other < 0 || other == cur || T[other].role != CG_IN ||
        !cg_is_float(T[other].dtype))
      return cg_fail(why, n, "attention: node %d (%s) must combine the scores with a float CG_IN", i,
                     cg_op_name(nd->op));
    if ((nd->op == CG_MUL || nd->op == CG_DIV) && p->att_scale < 0 && p->att_mask < 0) {
      if (cg_numel(&T[other]) != 1 || (nd->op == CG_DIV && nd->in[0] != cur))
        return cg_fail(why, n, "attention: the scale must be one element (and the scores the numerator)");
      p->att_scale = other;
      p->att_div = nd->op == CG_DIV;
    } else if (nd->op == CG_ADD && p->att_mask < 0) {
      int64_t st[CG_MAX_RANK];
      if (cg_bcast_strides(&T[other], S->rank, S->dims, st))
        return cg_fail(why, n, "attention: the mask does not broadcast to the scores");
      p->att_mask = other;
    } else {
      return cg_fail(why, n, "attention: between the matmul and the softmax only a scale (Mul/Div) then a mask (Add)");
    }
    cur = nd->out[0];
  }
  if (sm->in[0] != cur || sm->n_ia < 1 || sm->ia[0] != S->rank - 1 || sm->out[0] < 0 ||
      T[sm->out[0]].role != CG_FUSED || !same_dims(&T[sm->out[0]], S))
    return cg_fail(why, n, "attention: the softmax must be over the scores' last axis, into a fused tensor");
  int v = pv->in[1], o = pv->out[0];
  if (pv->in[0] != sm->out[0] || v < 0 || o < 0 || T[o].role != (tr >= 0 ? CG_FUSED : CG_OUT))
    return cg_fail(why, n, "attention: the second MatMul must read the probabilities and a CG_IN V, and write a "
                           "CG_OUT (fused when a Transpose follows)");
  if (operand(g, p, lead, 2, v, why, n)) return -1;
  /* every leading Transpose makes an operand, read nowhere else (the
   * nodes between the MatMuls only read CG_IN besides the scores) */
  for (int j = 0; j < lead; j++)
    if (p->att_ptr[0] != j && p->att_ptr[1] != j && p->att_ptr[2] != j)
      return cg_fail(why, n, "attention: leading Transpose %d makes none of Q, K^T, V", j);
  const cg_tensor *V = &T[v], *O = &T[o];
  if (V->rank < 2 || V->dims[V->rank - 2] != N) return cg_fail(why, n, "attention: V must be [..., N, Dv]");
  int64_t ob[CG_MAX_RANK];
  int nob = bcast_batch(S, V, ob);
  int64_t Dv = V->dims[V->rank - 1];
  if (nob < 0 || O->rank != nob + 2 || O->dims[nob] != M || O->dims[nob + 1] != Dv)
    return cg_fail(why, n, "attention: the output shape does not match P x V");
  for (int d = 0; d < nob; d++)
    if (O->dims[d] != ob[d]) return cg_fail(why, n, "attention: output batch dims do not match");
  const int ts[4] = {q, k, v, o};
  for (int i = 0; i < 4; i++)
    if (!cg_is_float(T[ts[i]].dtype)) return cg_fail(why, n, "attention: int64 data");
  if (D < 1 || D > 128 || Dv < 1 || Dv > 128)
    return cg_fail(why, n, "attention: head sizes D = %lld, Dv = %lld (1..128 supported)", (long long)D, (long long)Dv);
  if (M < 1 || N < 1) return cg_fail(why, n, "attention: empty query or key axis");
  p->att_v = v;
  p->att_o = o;
  p->att_out = o;
  if (tr >= 0) {
    const cg_node *t = &g->nodes[tr];
    int y = t->n_out >= 1 ? t->out[0] : -1;
    if (t->n_in != 1 || t->in[0] != o || y < 0 || T[y].role != CG_OUT || T[y].rank != O->rank ||
        t->n_ia != O->rank || !cg_is_float(T[y].dtype))
      return cg_fail(why, n, "attention: the Transpose must read O and write a CG_OUT");
    if (cg_check_perm(O, &T[y], t)) return cg_fail(why, n, "attention: bad Transpose perm");
    if (t->ia[O->rank - 1] != O->rank - 1)
      return cg_fail(why, n, "attention: a Transpose after it must keep the last axis last");
    p->att_out = y;
  }
  p->x = q;
  p->y = p->att_out;
  return check_inplace(g, p, why, n);
}

/* ---- generation ---------------------------------------------------------------- */

typedef struct att {
  cg_kernel *k;
  const cg_plan *p;
  int64_t M, N, D, Dv, B;
  int nb;                         /* output batch rank */
  int64_t bd[CG_MAX_RANK];        /* output batch dims */
  /* batch strides (elements) of Q, Kt, V, mask, O over the output batch */
  int64_t bq[CG_MAX_RANK], bk[CG_MAX_RANK], bv[CG_MAX_RANK], bm[CG_MAX_RANK], bo[CG_MAX_RANK];
  int64_t mrow, mcol;             /* mask strides along the score rows and columns */
  int64_t orow;                   /* output stride between rows (Dv, or as transposed) */
  /* Q [M x D], K^T [D x N], V [N x Dv] in memory: the tensor read (p<t>)
   * and each matrix's row and column strides (1 along a dense row, unless
   * a leading Transpose permutes it) */
  int tq, tk, tv;
  int64_t qr, qc, kr, kc, vr, vc;
} att;

/* Strides of X's batch dims (right-aligned) over the output batch, given
 * the strides xs of all its dims; 0 where X has 1 or lacks the dim. */
static void batch_strides(const cg_tensor *X, const int64_t *xs, const att *a, int64_t *st) {
  int nx = X->rank - 2;
  for (int d = a->nb - 1; d >= 0; d--) {
    int i = d - (a->nb - nx);
    int64_t x = i >= 0 ? X->dims[i] : 1;
    st[d] = x == 1 ? 0 : xs[i];
  }
}

/* A staging loop's index pair for element e of a rows x cols tile: the
 * column fastest when the column stride is 1 (or the row stride is not),
 * else the row, so that neighbouring threads read neighbouring addresses. */
static void tile_index(cg_buf *b, const char *r, const char *c, int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                       int indent) {
  if (cs == 1 || rs != 1)
    cg_printf(b, "%*sconst int %s = e / %lld, %s = e %% %lld;\n", indent, "", r, (long long)cols, c, (long long)cols);
  else
    cg_printf(b, "%*sconst int %s = e %% %lld, %s = e / %lld;\n", indent, "", r, (long long)rows, c, (long long)rows);
}

/* " + (it)(idx) * stride" (or " + idx" when the stride is 1). */
static void term(cg_buf *b, const char *it, const char *idx, int64_t stride) {
  if (stride == 1) cg_printf(b, " + %s", idx);
  else cg_printf(b, " + (%s)(%s) * %lld", it, idx, (long long)stride);
}

/* "const <it> name = <offset of batch entry b>;" */
static void emit_batch_off(cg_buf *b, const att *a, const char *it, const char *name, const int64_t *st) {
  cg_printf(b, "    const %s %s = 0", it, name);
  int64_t inner = 1;
  for (int d = a->nb - 1; d >= 0; d--) {
    if (st[d] && a->bd[d] > 1) {
      if (d == 0) cg_printf(b, " + (bb / %lld) * %lld", (long long)inner, (long long)st[d]);
      else cg_printf(b, " + ((bb / %lld) %% %lld) * %lld", (long long)inner, (long long)a->bd[d], (long long)st[d]);
    }
    inner *= a->bd[d];
  }
  cg_printf(b, ";\n");
}

static const char *dtn(const att *a, int t) { return cg_dtname(a->k->g->tensors[t].dtype); }

/* The score of row `row` (absolute), key `col` (absolute) from the raw dot
 * product `dot`, into `dst`: scale, mask, -inf outside the keys. */
static void emit_score(cg_buf *b, const att *a, const char *dst, const char *dot, const char *row, const char *col,
                       const char *row_ok, int indent) {
  const cg_plan *p = a->p;
  const char *it = cg_ityp(a->k);
  cg_printf(b, "%*sfloat %s = %s;\n", indent, "", dst, dot);
  if (p->att_scale >= 0) cg_printf(b, "%*s%s = %s %s scl;\n", indent, "", dst, dst, p->att_div ? "/" : "*");
  if (p->att_mask >= 0) {
    cg_printf(b, "%*sif (%s && %s < %lld) %s = %s + cg_ld_%s(p%d + moff", indent, "", row_ok, col, (long long)a->N, dst,
              dst, dtn(a, p->att_mask), p->att_mask);
    if (a->mrow) cg_printf(b, " + (%s)%s * %lld", it, row, (long long)a->mrow);
    if (a->mcol) cg_printf(b, " + (%s)%s * %lld", it, col, (long long)a->mcol);
    cg_printf(b, ");\n");
  }
  cg_printf(b, "%*sif (%s >= %lld) %s = -CG_INF;\n", indent, "", col, (long long)a->N, dst);
}

/* The tile loop's head, shared by both kernels: batch entry bb, rows m0. */
static void emit_tile_head(cg_buf *b, const att *a, int64_t BM) {
  const char *it = cg_ityp(a->k);
  int64_t MT = (a->M + BM - 1) / BM;
  cg_printf(b, "  for (%s tile = blockIdx.x; tile < %lld; tile += gridDim.x) {\n", it, (long long)(a->B * MT));
  cg_printf(b, "    const %s bb = tile / %lld;\n    const int m0 = (int)(tile %% %lld) * %lld;\n", it, (long long)MT,
            (long long)MT, (long long)BM);
  emit_batch_off(b, a, it, "qoff", a->bq);
  emit_batch_off(b, a, it, "koff", a->bk);
  emit_batch_off(b, a, it, "voff", a->bv);
  emit_batch_off(b, a, it, "ooff", a->bo);
  if (a->p->att_mask >= 0) emit_batch_off(b, a, it, "moff", a->bm);
  cg_printf(b, "    (void)bb;\n");
}

static void emit_scale_load(cg_buf *b, const att *a) {
  if (a->p->att_scale >= 0)
    cg_printf(b, "  const float scl = cg_ld_%s(p%d);\n", dtn(a, a->p->att_scale), a->p->att_scale);
}

/* Offsets of the shared-memory regions, each a multiple of 128 bytes. */
static int64_t carve(int64_t *at, int64_t bytes) {
  int64_t o = *at;
  *at += (bytes + 127) / 128 * 128;
  return o;
}

static void emit_fma(att *a) {
  cg_kernel *k = a->k;
  cg_buf *b = k->b;
  const cg_plan *p = a->p;
  const char *it = cg_ityp(k);
  int64_t BM = a->D <= 64 && a->Dv <= 64 ? 64 : 32, BN = 32, RT = BM / 32, CT = BN / 8;
  /* staging that walks a tile column-wise writes shared memory with a row
   * stride: pad the row by one float so those writes spread over the banks */
  int k_rows = !(a->kc == 1 || a->kr != 1), v_rows = !(a->vc == 1 || a->vr != 1);
  int64_t DV8 = (a->Dv + 7) / 8, LDQ = a->D | 1, LDK = BN + k_rows, LDV = DV8 * 8 + v_rows, LDP = BN + 1;
  int64_t at = 0;
  int64_t oq = carve(&at, BM * LDQ * 4), ok = carve(&at, a->D * LDK * 4), ov = carve(&at, BN * LDV * 4);
  int64_t op = carve(&at, BM * LDP * 4);
  int64_t tiles = a->B * ((a->M + BM - 1) / BM);
  k->launch->block[0] = 256;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 16);
  k->launch->shared_bytes = (uint32_t)at;
  cg_printf(b, "/* attention, fp32 FMA: %lld x [%lld x %lld] . [%lld x %lld] -> softmax -> . [%lld x %lld]%s%s; "
               "%lldx%lld tiles, online softmax */\n",
            (long long)a->B, (long long)a->M, (long long)a->D, (long long)a->D, (long long)a->N, (long long)a->N,
            (long long)a->Dv, p->att_scale >= 0 ? ", scaled" : "", p->att_mask >= 0 ? ", masked" : "", (long long)BM,
            (long long)BN);
  cg_emit_signature_smem(k, 256, at);
  cg_printf(b, "  CG_DYN_SHARED(smem);\n");
  cg_printf(b, "  float *Qs = (float *)(smem + %lld); /* [%lld][%lld] queries */\n", (long long)oq, (long long)BM, (long long)LDQ);
  cg_printf(b, "  float *Ks = (float *)(smem + %lld); /* [%lld][%lld] keys, d-major */\n", (long long)ok, (long long)a->D, (long long)LDK);
  cg_printf(b, "  float *Vs = (float *)(smem + %lld); /* [%lld][%lld] values */\n", (long long)ov, (long long)BN, (long long)LDV);
  cg_printf(b, "  float *Ps = (float *)(smem + %lld); /* [%lld][%lld] probabilities */\n", (long long)op, (long long)BM, (long long)LDP);
  cg_printf(b, "  const int tid = threadIdx.x, tx = tid & 7, ty = tid >> 3;\n");
  emit_scale_load(b, a);
  emit_tile_head(b, a, BM);
  cg_printf(b, "    for (int e = tid; e < %lld; e += 256) {\n", (long long)(BM * a->D));
  tile_index(b, "r", "d", BM, a->D, a->qr, a->qc, 6);
  cg_printf(b, "      Qs[r * %lld + d] = m0 + r < %lld ? cg_ld_%s(p%d + qoff", (long long)LDQ, (long long)a->M,
            dtn(a, a->tq), a->tq);
  term(b, it, "m0 + r", a->qr);
  term(b, it, "d", a->qc);
  cg_printf(b, ") : 0.0f;\n    }\n");
  cg_printf(b, "    float o[%lld][%lld], mr[%lld], lr[%lld];\n", (long long)RT, (long long)DV8, (long long)RT, (long long)RT);
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < %lld; i++) {\n", (long long)RT);
  cg_printf(b, "      mr[i] = -CG_INF;\n      lr[i] = 0.0f;\n");
  cg_printf(b, "      #pragma unroll\n      for (int c = 0; c < %lld; c++) o[i][c] = 0.0f;\n    }\n", (long long)DV8);
  cg_printf(b, "    for (int n0 = 0; n0 < %lld; n0 += %lld) {\n", (long long)a->N, (long long)BN);
  cg_printf(b, "      __syncthreads(); /* the previous tile's Ks, Vs, Ps are consumed (and Qs is written) */\n");
  cg_printf(b, "      for (int e = tid; e < %lld; e += 256) {\n", (long long)(a->D * BN));
  tile_index(b, "d", "c", a->D, BN, a->kr, a->kc, 8);
  cg_printf(b, "        Ks[d * %lld + c] = n0 + c < %lld ? cg_ld_%s(p%d + koff", (long long)LDK, (long long)a->N,
            dtn(a, a->tk), a->tk);
  term(b, it, "d", a->kr);
  term(b, it, "n0 + c", a->kc);
  cg_printf(b, ") : 0.0f;\n      }\n");
  cg_printf(b, "      for (int e = tid; e < %lld; e += 256) {\n", (long long)(BN * DV8 * 8));
  tile_index(b, "j", "c", BN, DV8 * 8, a->vr, a->vc, 8);
  cg_printf(b, "        Vs[j * %lld + c] = n0 + j < %lld && c < %lld ? cg_ld_%s(p%d + voff", (long long)LDV,
            (long long)a->N, (long long)a->Dv, dtn(a, a->tv), a->tv);
  term(b, it, "n0 + j", a->vr);
  term(b, it, "c", a->vc);
  cg_printf(b, ") : 0.0f;\n      }\n      __syncthreads();\n");
  /* scores */
  cg_printf(b, "      float s[%lld][%lld];\n", (long long)RT, (long long)CT);
  cg_printf(b, "      #pragma unroll\n      for (int i = 0; i < %lld; i++)\n        #pragma unroll\n"
               "        for (int j = 0; j < %lld; j++) s[i][j] = 0.0f;\n", (long long)RT, (long long)CT);
  cg_printf(b, "      #pragma unroll 4\n      for (int d = 0; d < %lld; d++) {\n", (long long)a->D);
  cg_printf(b, "        float qv[%lld], kv[%lld];\n", (long long)RT, (long long)CT);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < %lld; i++) qv[i] = Qs[(ty + 32 * i) * %lld + d];\n",
            (long long)RT, (long long)LDQ);
  cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %lld; j++) kv[j] = Ks[d * %lld + tx + 8 * j];\n",
            (long long)CT, (long long)LDK);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < %lld; i++)\n          #pragma unroll\n"
               "          for (int j = 0; j < %lld; j++) s[i][j] = fmaf(qv[i], kv[j], s[i][j]);\n      }\n",
            (long long)RT, (long long)CT);
  /* online softmax per row */
  cg_printf(b, "      #pragma unroll\n      for (int i = 0; i < %lld; i++) {\n", (long long)RT);
  cg_printf(b, "        const int row = m0 + ty + 32 * i;\n        const bool row_ok = row < %lld;\n", (long long)a->M);
  cg_printf(b, "        (void)row_ok;\n        float mt = -CG_INF;\n");
  cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %lld; j++) {\n", (long long)CT);
  cg_printf(b, "          const int col = n0 + tx + 8 * j;\n");
  emit_score(b, a, "sc", "s[i][j]", "row", "col", "row_ok", 10);
  cg_printf(b, "          s[i][j] = sc;\n          mt = sc > mt ? sc : mt;\n        }\n");
  cg_printf(b, "        #pragma unroll\n        for (int w = 1; w < 8; w <<= 1) {\n");
  cg_printf(b, "          const float u = __shfl_xor_sync(CG_FULL, mt, w);\n          mt = u > mt ? u : mt;\n        }\n");
  cg_printf(b, "        const float mn = mt > mr[i] ? mt : mr[i], mu = mn == -CG_INF ? 0.0f : mn;\n");
  cg_printf(b, "        const float alpha = expf(mr[i] - mu);\n        float ps = 0.0f;\n");
  cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %lld; j++) {\n", (long long)CT);
  cg_printf(b, "          const float e = expf(s[i][j] - mu);\n          ps += e;\n");
  cg_printf(b, "          Ps[(ty + 32 * i) * %lld + tx + 8 * j] = e;\n        }\n", (long long)LDP);
  cg_printf(b, "        #pragma unroll\n        for (int w = 1; w < 8; w <<= 1) ps += __shfl_xor_sync(CG_FULL, ps, w);\n");
  cg_printf(b, "        lr[i] = lr[i] * alpha + ps;\n        mr[i] = mn;\n");
  cg_printf(b, "        #pragma unroll\n        for (int c = 0; c < %lld; c++) o[i][c] *= alpha;\n      }\n", (long long)DV8);
  cg_printf(b, "      __syncthreads(); /* Ps complete */\n");
  /* O += P V */
  cg_printf(b, "      #pragma unroll 4\n      for (int j = 0; j < %lld; j++) {\n", (long long)BN);
  cg_printf(b, "        float pv[%lld];\n", (long long)RT);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < %lld; i++) pv[i] = Ps[(ty + 32 * i) * %lld + j];\n",
            (long long)RT, (long long)LDP);
  cg_printf(b, "        #pragma unroll\n        for (int c = 0; c < %lld; c++) {\n", (long long)DV8);
  cg_printf(b, "          const float vv = Vs[j * %lld + tx + 8 * c];\n", (long long)LDV);
  cg_printf(b, "          #pragma unroll\n          for (int i = 0; i < %lld; i++) o[i][c] = fmaf(pv[i], vv, o[i][c]);\n",
            (long long)RT);
  cg_printf(b, "        }\n      }\n    }\n");
  /* store */
  cg_printf(b, "    #pragma unroll\n    for (int i = 0; i < %lld; i++) {\n", (long long)RT);
  cg_printf(b, "      const int row = m0 + ty + 32 * i;\n      const float inv = 1.0f / lr[i];\n");
  cg_printf(b, "      #pragma unroll\n      for (int c = 0; c < %lld; c++)\n", (long long)DV8);
  cg_printf(b, "        if (row < %lld && tx + 8 * c < %lld) cg_st_%s(p%d + ooff + (%s)row * %lld + tx + 8 * c, o[i][c] * inv);\n",
            (long long)a->M, (long long)a->Dv, dtn(a, p->att_out), p->att_out, it, (long long)a->orow);
  cg_printf(b, "    }\n    __syncthreads(); /* Qs is rewritten by the next tile */\n  }\n}\n");
}

/* Guaranteed alignment of a tensor's base in bytes. */
static uint32_t align_of(const cg_tensor *T) {
  uint32_t x = T->align ? T->align & -T->align : 0, es = (uint32_t)cg_dtype_size(T->dtype);
  return x < es ? es : x;
}

/* Stage a rows x cols tile of 16-bit values into shared memory:
 * dst[r * ld + c] = src[off + (r0 + r) * rs + (c0 + c) * cs] where r0 + r <
 * rmax and c0 + c < cmax, else 0. With vec (cs 1; cols, ld, rs, cmax and
 * every offset multiples of 8, the base 16-aligned), 8 values move as one
 * 16-byte word; else one by one, through float (exact for the 16-bit
 * dtype), in the order tile_index picks. */
static void emit_stage16(cg_buf *b, const att *a, int vec, const char *dst, int64_t ld, int64_t rows, int64_t cols,
                         int t, const char *off, const char *r0, int64_t rmax, int64_t rs, const char *c0,
                         int64_t cmax, int64_t cs, const char *cvt) {
  const char *it = cg_ityp(a->k);
  if (vec) {
    int64_t c8 = cols / 8;
    cg_printf(b, "      for (int e = tid; e < %lld; e += 128) {\n", (long long)(rows * c8));
    cg_printf(b, "        const int r = e / %lld, c = (e %% %lld) * 8;\n", (long long)c8, (long long)c8);
    cg_printf(b, "        *(uint4 *)(%s + r * %lld + c) = %s + r < %lld && %s + c < %lld ? "
                 "*(const uint4 *)(p%d + %s + (%s)(%s + r) * %lld + %s + c) : make_uint4(0u, 0u, 0u, 0u);\n",
              dst, (long long)ld, r0, (long long)rmax, c0, (long long)cmax, t, off, it, r0, (long long)rs, c0);
    cg_printf(b, "      }\n");
    return;
  }
  cg_printf(b, "      for (int e = tid; e < %lld; e += 128) {\n", (long long)(rows * cols));
  tile_index(b, "r", "c", rows, cols, rs, cs, 8);
  cg_printf(b, "        %s[r * %lld + c] = %s(%s + r < %lld && %s + c < %lld ? cg_ld_%s(p%d + %s", dst, (long long)ld, cvt,
            r0, (long long)rmax, c0, (long long)cmax, dtn(a, t), t, off);
  char ri[64], ci[64];
  snprintf(ri, sizeof ri, "%s + r", r0);
  snprintf(ci, sizeof ci, "%s + c", c0);
  term(b, it, ri, rs);
  term(b, it, ci, cs);
  cg_printf(b, ") : 0.0f);\n      }\n");
}

/* Whether operand tiles may move as 16-byte words: the staged rows are
 * contiguous (cs 1), every row and batch offset a multiple of 8 values,
 * the 8-value words never straddle the end of a row, the base 16-aligned. */
static int vec16(const att *a, int t, int64_t rs, int64_t cs, int64_t cmax, const int64_t *bst) {
  if (cs != 1 || rs % 8 || cmax % 8 || align_of(&a->k->g->tensors[t]) < 16) return 0;
  for (int d = 0; d < a->nb; d++)
    if (bst[d] % 8) return 0;
  return 1;
}

static void emit_wmma(att *a) {
  cg_kernel *k = a->k;
  cg_buf *b = k->b;
  const cg_plan *p = a->p;
  const char *it = cg_ityp(k);
  cg_dtype dt = k->g->tensors[p->att_q].dtype;
  const char *st = dt == CG_F16 ? "__half" : "__nv_bfloat16";
  const char *cvt = dt == CG_F16 ? "__float2half_rn" : "__float2bfloat16_rn";
  int64_t DP = (a->D + 15) / 16 * 16, DVP = (a->Dv + 15) / 16 * 16;
  int64_t BM = 64, BN = DP + DVP <= 128 ? 64 : 32;
  /* an operand whose rows are contiguous in memory only along the other
   * axis (K^T read from BERT's [B, S, H, D] keys) is staged column-major:
   * the 16-byte words then follow memory, the fragments load col_major */
  int qcm = a->qr == 1 && a->qc != 1, kcm = a->kr == 1 && a->kc != 1, vcm = a->vr == 1 && a->vc != 1;
  int64_t LDQ = qcm ? BM + 8 : DP + 8, LDK = kcm ? DP + 8 : BN + 8, LDV = vcm ? BN + 8 : DVP + 8;
  int64_t LDS = BN + 4, LDO = DVP + 4, LDP = BN + 8;
  int64_t at = 0;
  int64_t oq = carve(&at, (qcm ? DP : BM) * LDQ * 2), ok = carve(&at, (kcm ? BN : DP) * LDK * 2);
  int64_t ov = carve(&at, (vcm ? DVP : BN) * LDV * 2);
  int64_t os = carve(&at, BM * LDS * 4), oo = carve(&at, BM * LDO * 4);
  int64_t tiles = a->B * ((a->M + BM - 1) / BM);
  k->uses_wmma = 1;
  k->launch->block[0] = 128;
  k->launch->grid[0] = cg_grid_for(k, tiles, 1, 16);
  k->launch->shared_bytes = (uint32_t)at;
  cg_printf(b, "/* attention on tensor cores (%s, m16n16k16, fp32 accumulate): %lld x [%lld x %lld] . [%lld x %lld] -> "
               "softmax -> . [%lld x %lld]%s%s; %lldx%lld tiles, online softmax */\n",
            dt == CG_F16 ? "f16" : "bf16", (long long)a->B, (long long)a->M, (long long)a->D, (long long)a->D,
            (long long)a->N, (long long)a->N, (long long)a->Dv, p->att_scale >= 0 ? ", scaled" : "",
            p->att_mask >= 0 ? ", masked" : "", (long long)BM, (long long)BN);
  cg_emit_signature_smem(k, 128, at);
  cg_printf(b, "  using namespace nvcuda;\n  CG_DYN_SHARED(smem);\n");
  cg_printf(b, "  %s *Qs = (%s *)(smem + %lld); /* [%lld][%lld] queries%s */\n", st, st, (long long)oq,
            (long long)(qcm ? DP : BM), (long long)LDQ, qcm ? ", d-major" : "");
  cg_printf(b, "  %s *Ks = (%s *)(smem + %lld); /* [%lld][%lld] keys, %s-major */\n", st, st, (long long)ok,
            (long long)(kcm ? BN : DP), (long long)LDK, kcm ? "key" : "d");
  cg_printf(b, "  %s *Vs = (%s *)(smem + %lld); /* [%lld][%lld] values%s */\n", st, st, (long long)ov,
            (long long)(vcm ? DVP : BN), (long long)LDV, vcm ? ", column-major" : "");
  cg_printf(b, "  float *Ss = (float *)(smem + %lld); /* [%lld][%lld] scores; each warp's P over its rows */\n",
            (long long)os, (long long)BM, (long long)LDS);
  cg_printf(b, "  float *Os = (float *)(smem + %lld); /* [%lld][%lld] output accumulator */\n", (long long)oo,
            (long long)BM, (long long)LDO);
  cg_printf(b, "  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;\n");
  cg_printf(b, "  const int lr_ = warp * 16 + (lane >> 1), hf = lane & 1; /* the row and half row this lane treats */\n");
  cg_printf(b, "  %s *Pw = (%s *)(Ss + warp * %lld); /* [16][%lld] */\n", st, st, (long long)(16 * LDS), (long long)LDP);
  emit_scale_load(b, a);
  emit_tile_head(b, a, BM);
  cg_printf(b, "    {\n");
  if (qcm)
    emit_stage16(b, a, vec16(a, a->tq, a->qc, a->qr, a->M, a->bq), "Qs", LDQ, DP, BM, a->tq, "qoff", "0", a->D, a->qc,
                 "m0", a->M, a->qr, cvt);
  else
    emit_stage16(b, a, vec16(a, a->tq, a->qr, a->qc, a->D, a->bq), "Qs", LDQ, BM, DP, a->tq, "qoff", "m0", a->M, a->qr,
                 "0", a->D, a->qc, cvt);
  cg_printf(b, "    }\n");
  cg_printf(b, "    for (int e = tid; e < %lld; e += 128) Os[e] = 0.0f;\n", (long long)(BM * LDO));
  cg_printf(b, "    const int row = m0 + lr_;\n    const bool row_ok = row < %lld;\n", (long long)a->M);
  cg_printf(b, "    (void)row_ok;\n    float mr = -CG_INF, lr = 0.0f;\n");
  cg_printf(b, "    for (int n0 = 0; n0 < %lld; n0 += %lld) {\n", (long long)a->N, (long long)BN);
  cg_printf(b, "      __syncthreads(); /* the previous tile's Ks, Vs are consumed (and Qs, Os are written) */\n");
  if (kcm)
    emit_stage16(b, a, vec16(a, a->tk, a->kc, a->kr, a->D, a->bk), "Ks", LDK, BN, DP, a->tk, "koff", "n0", a->N, a->kc,
                 "0", a->D, a->kr, cvt);
  else
    emit_stage16(b, a, vec16(a, a->tk, a->kr, a->kc, a->N, a->bk), "Ks", LDK, DP, BN, a->tk, "koff", "0", a->D, a->kr,
                 "n0", a->N, a->kc, cvt);
  if (vcm)
    emit_stage16(b, a, vec16(a, a->tv, a->vc, a->vr, a->N, a->bv), "Vs", LDV, DVP, BN, a->tv, "voff", "0", a->Dv, a->vc,
                 "n0", a->N, a->vr, cvt);
  else
    emit_stage16(b, a, vec16(a, a->tv, a->vr, a->vc, a->Dv, a->bv), "Vs", LDV, BN, DVP, a->tv, "voff", "n0", a->N, a->vr,
                 "0", a->Dv, a->vc, cvt);
  cg_printf(b, "      __syncthreads();\n");
  /* S = Q Kt over this warp's rows */
  cg_printf(b, "      {\n        wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf[%lld];\n", (long long)(BN / 16));
  cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %lld; j++) wmma::fill_fragment(sf[j], 0.0f);\n",
            (long long)(BN / 16));
  cg_printf(b, "        #pragma unroll\n        for (int kk = 0; kk < %lld; kk += 16) {\n", (long long)DP);
  cg_printf(b, "          wmma::fragment<wmma::matrix_a, 16, 16, 16, %s, wmma::%s> fa;\n", st, qcm ? "col_major" : "row_major");
  if (qcm) cg_printf(b, "          wmma::load_matrix_sync(fa, Qs + kk * %lld + warp * 16, %lld);\n", (long long)LDQ, (long long)LDQ);
  else cg_printf(b, "          wmma::load_matrix_sync(fa, Qs + warp * %lld + kk, %lld);\n", (long long)(16 * LDQ), (long long)LDQ);
  cg_printf(b, "          #pragma unroll\n          for (int j = 0; j < %lld; j++) {\n", (long long)(BN / 16));
  cg_printf(b, "            wmma::fragment<wmma::matrix_b, 16, 16, 16, %s, wmma::%s> fb;\n", st, kcm ? "col_major" : "row_major");
  if (kcm) cg_printf(b, "            wmma::load_matrix_sync(fb, Ks + j * %lld + kk, %lld);\n", (long long)(16 * LDK), (long long)LDK);
  else cg_printf(b, "            wmma::load_matrix_sync(fb, Ks + kk * %lld + j * 16, %lld);\n", (long long)LDK, (long long)LDK);
  cg_printf(b, "            wmma::mma_sync(sf[j], fa, fb, sf[j]);\n          }\n        }\n");
  cg_printf(b, "        #pragma unroll\n        for (int j = 0; j < %lld; j++)\n", (long long)(BN / 16));
  cg_printf(b, "          wmma::store_matrix_sync(Ss + warp * %lld + j * 16, sf[j], %lld, wmma::mem_row_major);\n",
            (long long)(16 * LDS), (long long)LDS);
  cg_printf(b, "      }\n      __syncwarp();\n");
  /* online softmax: two lanes per row */
  int64_t H = BN / 2, HO = DVP / 2;
  cg_printf(b, "      {\n        float sv[%lld], mt = -CG_INF;\n", (long long)H);
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < %lld; i++) {\n", (long long)H);
  cg_printf(b, "          const int col = n0 + hf * %lld + i;\n", (long long)H);
  char sref[96];
  snprintf(sref, sizeof sref, "Ss[lr_ * %lld + hf * %lld + i]", (long long)LDS, (long long)H);
  emit_score(b, a, "sc", sref, "row", "col", "row_ok", 10);
  cg_printf(b, "          sv[i] = sc;\n          mt = sc > mt ? sc : mt;\n        }\n");
  cg_printf(b, "        {\n          const float u = __shfl_xor_sync(CG_FULL, mt, 1);\n          mt = u > mt ? u : mt;\n        }\n");
  cg_printf(b, "        const float mn = mt > mr ? mt : mr, mu = mn == -CG_INF ? 0.0f : mn;\n");
  cg_printf(b, "        const float alpha = expf(mr - mu);\n        float ps = 0.0f;\n");
  cg_printf(b, "        __syncwarp(); /* every lane has read its scores: P may overwrite them */\n");
  cg_printf(b, "        #pragma unroll\n        for (int i = 0; i < %lld; i++) {\n", (long long)H);
  cg_printf(b, "          const float e = expf(sv[i] - mu);\n          ps += e;\n");
  cg_printf(b, "          Pw[(lane >> 1) * %lld + hf * %lld + i] = %s(e);\n        }\n", (long long)LDP, (long long)H, cvt);
  cg_printf(b, "        ps += __shfl_xor_sync(CG_FULL, ps, 1);\n");
  cg_printf(b, "        lr = lr * alpha + ps;\n        mr = mn;\n");
  cg_printf(b, "        #pragma unroll\n        for (int c = 0; c < %lld; c++) Os[lr_ * %lld + hf * %lld + c] *= alpha;\n",
            (long long)HO, (long long)LDO, (long long)HO);
  cg_printf(b, "      }\n      __syncwarp();\n");
  /* O += P V */
  cg_printf(b, "      #pragma unroll\n      for (int jf = 0; jf < %lld; jf++) {\n", (long long)(DVP / 16));
  cg_printf(b, "        wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;\n");
  cg_printf(b, "        wmma::load_matrix_sync(of, Os + warp * %lld + jf * 16, %lld, wmma::mem_row_major);\n",
            (long long)(16 * LDO), (long long)LDO);
  cg_printf(b, "        #pragma unroll\n        for (int kk = 0; kk < %lld; kk += 16) {\n", (long long)BN);
  cg_printf(b, "          wmma::fragment<wmma::matrix_a, 16, 16, 16, %s, wmma::row_major> fa;\n", st);
  cg_printf(b, "          wmma::fragment<wmma::matrix_b, 16, 16, 16, %s, wmma::%s> fb;\n", st, vcm ? "col_major" : "row_major");
  cg_printf(b, "          wmma::load_matrix_sync(fa, Pw + kk, %lld);\n", (long long)LDP);
  if (vcm) cg_printf(b, "          wmma::load_matrix_sync(fb, Vs + jf * %lld + kk, %lld);\n", (long long)(16 * LDV), (long long)LDV);
  else cg_printf(b, "          wmma::load_matrix_sync(fb, Vs + kk * %lld + jf * 16, %lld);\n", (long long)LDV, (long long)LDV);
  cg_printf(b, "          wmma::mma_sync(of, fa, fb, of);\n        }\n");
  cg_printf(b, "        wmma::store_matrix_sync(Os + warp * %lld + jf * 16, of, %lld, wmma::mem_row_major);\n",
            (long long)(16 * LDO), (long long)LDO);
  cg_printf(b, "      }\n      __syncwarp();\n    }\n");
  /* store O / l */
  cg_printf(b, "    {\n      const float inv = 1.0f / lr;\n");
  cg_printf(b, "      #pragma unroll\n      for (int c = 0; c < %lld; c++) {\n", (long long)HO);
  cg_printf(b, "        const int cc = hf * %lld + c;\n", (long long)HO);
  cg_printf(b, "        if (row_ok && cc < %lld) cg_st_%s(p%d + ooff + (%s)row * %lld + cc, Os[lr_ * %lld + cc] * inv);\n",
            (long long)a->Dv, dtn(a, p->att_out), p->att_out, it, (long long)a->orow, (long long)LDO);
  cg_printf(b, "      }\n    }\n    __syncthreads(); /* Qs and Os are rewritten by the next tile */\n  }\n}\n");
}

int cg_emit_attention(cg_kernel *k, char *err, size_t err_size) {
  (void)err;
  (void)err_size;
  const cg_plan *p = k->plan;
  const cg_tensor *T = k->g->tensors;
  att a;
  memset(&a, 0, sizeof a);
  a.k = k;
  a.p = p;
  const cg_tensor *Q = &T[p->att_q], *K = &T[p->att_k], *V = &T[p->att_v], *O = &T[p->att_o];
  a.M = Q->dims[Q->rank - 2];
  a.D = Q->dims[Q->rank - 1];
  a.N = K->dims[K->rank - 1];
  a.Dv = V->dims[V->rank - 1];
  a.nb = O->rank - 2;
  a.B = 1;
  for (int d = 0; d < a.nb; d++) {
    a.bd[d] = O->dims[d];
    a.B *= O->dims[d];
  }
  int64_t qs[CG_MAX_RANK], ks[CG_MAX_RANK], vs[CG_MAX_RANK], os_[CG_MAX_RANK];
  a.tq = p->att_mem[0], a.tk = p->att_mem[1], a.tv = p->att_mem[2];
  operand_strides(k->g, p, 0, p->att_q, qs);
  operand_strides(k->g, p, 1, p->att_k, ks);
  operand_strides(k->g, p, 2, p->att_v, vs);
  output_strides(k->g, p, os_);
  a.qr = qs[Q->rank - 2], a.qc = qs[Q->rank - 1];
  a.kr = ks[K->rank - 2], a.kc = ks[K->rank - 1];
  a.vr = vs[V->rank - 2], a.vc = vs[V->rank - 1];
  batch_strides(Q, qs, &a, a.bq);
  batch_strides(K, ks, &a, a.bk);
  batch_strides(V, vs, &a, a.bv);
  batch_strides(O, os_, &a, a.bo);
  a.orow = os_[a.nb]; /* Dv, or as transposed (the last axis stays last) */
  if (p->att_mask >= 0) {
    /* the mask broadcasts to the scores, whose batch broadcasts to O's */
    int64_t sd[CG_MAX_RANK], st[CG_MAX_RANK];
    for (int d = 0; d < a.nb; d++) sd[d] = a.bd[d];
    sd[a.nb] = a.M;
    sd[a.nb + 1] = a.N;
    cg_bcast_strides(&T[p->att_mask], a.nb + 2, sd, st);
    for (int d = 0; d < a.nb; d++) a.bm[d] = st[d];
    a.mrow = st[a.nb];
    a.mcol = st[a.nb + 1];
  }
  cg_dtype qd = Q->dtype;
  int tc = qd == K->dtype && qd == V->dtype && ((qd == CG_F16 && k->arch >= 70) || (qd == CG_BF16 && k->arch >= 80));
  if (tc) emit_wmma(&a);
  else emit_fma(&a);
  return 0;
}
