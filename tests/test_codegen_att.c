/*
 * test_codegen_att.c: fused attention (MatMul, [scale], [mask], Softmax,
 * MatMul) through the shim against the CPU kernels run node by node: both
 * kernels (float32 FMA, and float16 / bfloat16 tensor cores), with and
 * without a scale (Mul, and Div) and a mask (causal with -inf, padding with
 * -1e9), sequence lengths that are not multiples of the tiles, head sizes
 * that are not multiples of 16 and up to 128, batch dims broadcast on
 * either side (a shared K, a shared V, a V with more batch than the
 * scores), mixed dtypes, and rows masked with -inf everywhere (NaN, as the
 * CPU's softmax gives) or only over their first key tiles (finite). Q, K^T
 * and V read through leading Transposes: BERT's layout scaled down (37
 * tokens, 3 heads) in float32 and float16, 16-byte aligned or not; every
 * subset of the three in both kernels at odd sizes; Q and V contiguous along
 * the other axis (column-major tiles); a key matrix shared by every batch
 * entry; the output written over Q (BERT's layout, both kernels) and what
 * codegen refuses to write in place.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_codegen.h"
#include "tst.h"

/* Tensors of one attention case; scale / mask dims NULL when absent. */
typedef struct att_spec {
  const char *name;
  cg_dtype qd, kd, vd, od, md;
  const int64_t *q, *k, *v, *s, *o, *mask;
  int rq, rk, rv, rs, ro, rm;
  int scale;      /* 0 none, 1 Mul, 2 Div */
  float scale_v;
  const float *mask_v; /* exact mask values, or NULL for random */
  const int64_t *perm, *y; /* a Transpose of O into y (NULL: none) */
  /* Q, K^T, V read through a leading Transpose of these perms (NULL: none)
   * from tensors of the permuted shapes; rev: the Transposes in the order
   * V, K^T, Q (as fusion lists them) */
  const int64_t *pq, *pk, *pv;
  int rev;
  uint32_t mem_align; /* the transposed tensors' alignment (0: 16) */
  int inplace;        /* the output written over Q's memory */
} att_spec;

/* A CG_IN (*mem) whose Transpose by perm is the fused operand of dims d. */
static int transposed_operand(cgt_case *c, cg_dtype dt, const int64_t *d, int rank, const int64_t *perm,
                              uint32_t align, int *mem) {
  int64_t md[CG_MAX_RANK];
  for (int i = 0; i < rank; i++) md[perm[i]] = d[i];
  int m = cgt_tensor(c, dt, CG_IN, md, rank), f = cgt_tensor(c, dt, CG_FUSED, d, rank);
  *mem = m;
  if (align) c->t[m].align = align;
  int n = cgt_node(c, CG_TRANSPOSE, CGT_L(m), CGT_L(f));
  cgt_ia(c, n, perm, rank);
  return f;
}

static cgt_case *att_case(const att_spec *a) {
  cgt_case *c = cgt_new(a->name);
  int q = -1, k = -1, v = -1, qmem = -1, mem;
  for (int j = 0; j < 3; j++) {
    int i = a->rev ? 2 - j : j;
    if (i == 0 && a->pq) q = transposed_operand(c, a->qd, a->q, a->rq, a->pq, a->mem_align, &qmem);
    if (i == 1 && a->pk) k = transposed_operand(c, a->kd, a->k, a->rk, a->pk, a->mem_align, &mem);
    if (i == 2 && a->pv) v = transposed_operand(c, a->vd, a->v, a->rv, a->pv, a->mem_align, &mem);
  }
  if (q < 0) q = qmem = cgt_tensor(c, a->qd, CG_IN, a->q, a->rq);
  if (k < 0) k = cgt_tensor(c, a->kd, CG_IN, a->k, a->rk);
  int s = cgt_tensor(c, CG_F32, CG_FUSED, a->s, a->rs);
  cgt_node(c, CG_MATMUL, CGT_L(q, k), CGT_L(s));
  if (a->scale) {
    static float sv[64];
    static int nsv;
    int sc = cgt_tensor(c, CG_F32, CG_IN, NULL, 0);
    sv[nsv] = a->scale_v;
    c->values[sc] = &sv[nsv++];
    int s2 = cgt_tensor(c, CG_F32, CG_FUSED, a->s, a->rs);
    /* Mul with the scale first, to check operand order does not matter */
    if (a->scale == 1) cgt_node(c, CG_MUL, CGT_L(sc, s), CGT_L(s2));
    else cgt_node(c, CG_DIV, CGT_L(s, sc), CGT_L(s2));
    s = s2;
  }
  if (a->mask) {
    int m = cgt_tensor(c, a->md, CG_IN, a->mask, a->rm);
    c->values[m] = a->mask_v;
    int s3 = cgt_tensor(c, CG_F32, CG_FUSED, a->s, a->rs);
    cgt_node(c, CG_ADD, CGT_L(s, m), CGT_L(s3));
    s = s3;
  }
  int p = cgt_tensor(c, CG_F32, CG_FUSED, a->s, a->rs);
  int n = cgt_node(c, CG_SOFTMAX, CGT_L(s), CGT_L(p));
  cgt_ia(c, n, CGT_IA(a->rs - 1));
  if (v < 0) v = cgt_tensor(c, a->vd, CG_IN, a->v, a->rv);
  int o = cgt_tensor(c, a->od, a->perm ? CG_FUSED : CG_OUT, a->o, a->ro);
  cgt_node(c, CG_MATMUL, CGT_L(p, v), CGT_L(o));
  if (a->perm) {
    int y = cgt_tensor(c, a->od, CG_OUT, a->y, a->ro);
    n = cgt_node(c, CG_TRANSPOSE, CGT_L(o), CGT_L(y));
    cgt_ia(c, n, a->perm, a->ro);
    o = y;
  }
  if (a->inplace) cgt_inplace(c, o, qmem);
  c->atol = c->rtol = 2e-5; /* exp and sums in another order */
  return c;
}

static att_spec spec(const char *name, cg_dtype qd, cg_dtype kd, cg_dtype vd, cg_dtype od, cg_dtype md) {
  att_spec a;
  memset(&a, 0, sizeof a);
  a.name = name;
  a.qd = qd, a.kd = kd, a.vd = vd, a.od = od, a.md = md;
  return a;
}


/* mask values: causal (-inf above the diagonal) over [L, L] */
static float *causal(int64_t L, float neg) {
  float *m = malloc(sizeof(float) * (size_t)(L * L));
  for (int64_t i = 0; i < L; i++)
    for (int64_t j = 0; j < L; j++) m[i * L + j] = j > i ? neg : 0.0f;
  return m;
}

static void build_att(void) {
  att_spec a;
  /* no scale, no mask; 37 keys (two tiles), 20 queries */
  a = spec("att_f32_plain", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){2, 3, 20, 16}, a.rq = 4;
  a.k = (const int64_t[]){2, 3, 16, 37}, a.rk = 4;
  a.s = (const int64_t[]){2, 3, 20, 37}, a.rs = 4;
  a.v = (const int64_t[]){2, 3, 37, 24}, a.rv = 4;
  a.o = (const int64_t[]){2, 3, 20, 24}, a.ro = 4;
  att_case(&a);

  /* BERT-like: scale by Mul, causal mask with -inf, two row tiles */
  a = spec("att_f32_causal", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){1, 2, 70, 64}, a.rq = 4;
  a.k = (const int64_t[]){1, 2, 64, 70}, a.rk = 4;
  a.s = (const int64_t[]){1, 2, 70, 70}, a.rs = 4;
  a.v = (const int64_t[]){1, 2, 70, 64}, a.rv = 4;
  a.o = (const int64_t[]){1, 2, 70, 64}, a.ro = 4;
  a.scale = 1, a.scale_v = 0.125f;
  a.mask = (const int64_t[]){1, 1, 70, 70}, a.rm = 4, a.mask_v = causal(70, -INFINITY);
  att_case(&a);

  /* BERT's layout: O [B, H, M, Dv] stored as [B, M, H, Dv] by a Transpose */
  a = spec("att_f32_transposed", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){2, 3, 21, 16}, a.rq = 4;
  a.k = (const int64_t[]){2, 3, 16, 40}, a.rk = 4;
  a.s = (const int64_t[]){2, 3, 21, 40}, a.rs = 4;
  a.v = (const int64_t[]){2, 3, 40, 8}, a.rv = 4;
  a.o = (const int64_t[]){2, 3, 21, 8}, a.ro = 4;
  a.perm = (const int64_t[]){0, 2, 1, 3}, a.y = (const int64_t[]){2, 21, 3, 8};
  a.scale = 1, a.scale_v = 0.25f;
  att_case(&a);
  a = spec("att_f16_transposed", CG_F16, CG_F16, CG_F16, CG_F16, CG_F16);
  a.q = (const int64_t[]){2, 3, 21, 16}, a.rq = 4;
  a.k = (const int64_t[]){2, 3, 16, 40}, a.rk = 4;
  a.s = (const int64_t[]){2, 3, 21, 40}, a.rs = 4;
  a.v = (const int64_t[]){2, 3, 40, 8}, a.rv = 4;
  a.o = (const int64_t[]){2, 3, 21, 8}, a.ro = 4;
  a.perm = (const int64_t[]){1, 2, 0, 3}, a.y = (const int64_t[]){3, 21, 2, 8};
  att_case(&a);

  /* Div by the scale, a [B, 1, 1, N] padding mask of -1e9 */
  static float pad[3 * 45];
  for (int b = 0; b < 3; b++)
    for (int j = 0; j < 45; j++) pad[b * 45 + j] = j >= 45 - 7 * (b + 1) ? -1e9f : 0.0f;
  a = spec("att_f32_div_padmask", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){3, 2, 33, 8}, a.rq = 4;
  a.k = (const int64_t[]){3, 2, 8, 45}, a.rk = 4;
  a.s = (const int64_t[]){3, 2, 33, 45}, a.rs = 4;
  a.v = (const int64_t[]){3, 2, 45, 8}, a.rv = 4;
  a.o = (const int64_t[]){3, 2, 33, 8}, a.ro = 4;
  a.scale = 2, a.scale_v = 2.8284271f;
  a.mask = (const int64_t[]){3, 1, 1, 45}, a.rm = 4, a.mask_v = pad;
  att_case(&a);

  /* rows -inf everywhere (NaN out), and rows -inf over their first 40 keys
   * (whole first tile), finite after */
  static float rows[12 * 80];
  for (int i = 0; i < 12; i++)
    for (int j = 0; j < 80; j++)
      rows[i * 80 + j] = i % 4 == 1 ? -INFINITY : i % 4 == 2 && j < 40 ? -INFINITY : i % 4 == 3 && j == 79 ? 0.5f : 0.0f;
  a = spec("att_f32_inf_rows", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){2, 12, 8}, a.rq = 3;
  a.k = (const int64_t[]){2, 8, 80}, a.rk = 3;
  a.s = (const int64_t[]){2, 12, 80}, a.rs = 3;
  a.v = (const int64_t[]){2, 80, 8}, a.rv = 3;
  a.o = (const int64_t[]){2, 12, 8}, a.ro = 3;
  a.mask = (const int64_t[]){12, 80}, a.rm = 2, a.mask_v = rows;
  att_case(&a)->prefill_zero = 1;

  /* broadcast batch: K shared over dim 0, V a plain matrix */
  a = spec("att_f32_bcast_kv", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){2, 4, 9, 8}, a.rq = 4;
  a.k = (const int64_t[]){4, 8, 33}, a.rk = 3;
  a.s = (const int64_t[]){2, 4, 9, 33}, a.rs = 4;
  a.v = (const int64_t[]){33, 8}, a.rv = 2;
  a.o = (const int64_t[]){2, 4, 9, 8}, a.ro = 4;
  a.scale = 1, a.scale_v = 0.3f;
  att_case(&a);

  /* V with more batch than the scores (Q shared over dim 0, K a matrix) */
  a = spec("att_f32_bcast_v_wider", CG_F32, CG_F32, CG_F32, CG_F16, CG_F32);
  a.q = (const int64_t[]){3, 5, 12}, a.rq = 3;
  a.k = (const int64_t[]){12, 7}, a.rk = 2;
  a.s = (const int64_t[]){3, 5, 7}, a.rs = 3;
  a.v = (const int64_t[]){2, 3, 7, 6}, a.rv = 4;
  a.o = (const int64_t[]){2, 3, 5, 6}, a.ro = 4;
  a.mask = (const int64_t[]){3, 1, 7}, a.rm = 3;
  att_case(&a);

  /* large heads: D = 128, Dv = 96 (32-row tiles) */
  a = spec("att_f32_d128", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){2, 40, 128}, a.rq = 3;
  a.k = (const int64_t[]){2, 128, 50}, a.rk = 3;
  a.s = (const int64_t[]){2, 40, 50}, a.rs = 3;
  a.v = (const int64_t[]){2, 50, 96}, a.rv = 3;
  a.o = (const int64_t[]){2, 40, 96}, a.ro = 3;
  a.scale = 1, a.scale_v = 0.0883883f;
  att_case(&a);

  /* mixed dtypes: the FMA kernel with 16-bit loads */
  a = spec("att_mixed_dtypes", CG_F16, CG_F32, CG_BF16, CG_F32, CG_F16);
  a.q = (const int64_t[]){2, 19, 24}, a.rq = 3;
  a.k = (const int64_t[]){2, 24, 21}, a.rk = 3;
  a.s = (const int64_t[]){2, 19, 21}, a.rs = 3;
  a.v = (const int64_t[]){2, 21, 10}, a.rv = 3;
  a.o = (const int64_t[]){2, 19, 10}, a.ro = 3;
  a.scale = 1, a.scale_v = 0.2f;
  a.mask = (const int64_t[]){19, 21}, a.rm = 2;
  att_case(&a);

  /* tensor cores, float16: causal mask, 130 keys (3 tiles), 70 queries */
  a = spec("att_f16_causal", CG_F16, CG_F16, CG_F16, CG_F16, CG_F16);
  a.q = (const int64_t[]){1, 2, 70, 64}, a.rq = 4;
  a.k = (const int64_t[]){1, 2, 64, 130}, a.rk = 4;
  a.s = (const int64_t[]){1, 2, 70, 130}, a.rs = 4;
  a.v = (const int64_t[]){1, 2, 130, 64}, a.rv = 4;
  a.o = (const int64_t[]){1, 2, 70, 64}, a.ro = 4;
  a.scale = 1, a.scale_v = 0.125f;
  static float cm[70 * 130];
  for (int i = 0; i < 70; i++)
    for (int j = 0; j < 130; j++) cm[i * 130 + j] = j > i + 60 ? -INFINITY : 0.0f;
  a.mask = (const int64_t[]){70, 130}, a.rm = 2, a.mask_v = cm;
  att_case(&a);

  /* bfloat16, head sizes padded to 16 (40 -> 48, 24 -> 32), float32 out */
  a = spec("att_bf16_pad", CG_BF16, CG_BF16, CG_BF16, CG_F32, CG_F32);
  a.q = (const int64_t[]){3, 17, 40}, a.rq = 3;
  a.k = (const int64_t[]){3, 40, 33}, a.rk = 3;
  a.s = (const int64_t[]){3, 17, 33}, a.rs = 3;
  a.v = (const int64_t[]){3, 33, 24}, a.rv = 3;
  a.o = (const int64_t[]){3, 17, 24}, a.ro = 3;
  a.scale = 2, a.scale_v = 6.0f;
  cgt_case *c = att_case(&a);
  c->atol = c->rtol = 1e-2; /* P rounded to bfloat16 for the tensor cores */

  /* float16 with 16-byte staging of Q, K and V (136 keys: a tile of 8) and a
   * padding mask; the same shapes with K at a 2-byte-aligned address */
  for (int al = 0; al < 2; al++) {
    a = spec(al ? "att_f16_vec_unaligned_k" : "att_f16_vec", CG_F16, CG_F16, CG_F16, CG_F16, CG_F16);
    a.q = (const int64_t[]){2, 50, 32}, a.rq = 3;
    a.k = (const int64_t[]){2, 32, 136}, a.rk = 3;
    a.s = (const int64_t[]){2, 50, 136}, a.rs = 3;
    a.v = (const int64_t[]){2, 136, 16}, a.rv = 3;
    a.o = (const int64_t[]){2, 50, 16}, a.ro = 3;
    a.mask = (const int64_t[]){2, 1, 136}, a.rm = 3;
    c = att_case(&a);
    if (al) c->t[1].align = 2;
  }

  /* float16, D = Dv = 128 (32-key tiles), broadcast K, -inf rows */
  static float r16[20 * 45];
  for (int i = 0; i < 20; i++)
    for (int j = 0; j < 45; j++) r16[i * 45 + j] = i == 3 || i == 17 ? -INFINITY : i == 5 && j < 32 ? -INFINITY : 0.0f;
  a = spec("att_f16_d128_inf_rows", CG_F16, CG_F16, CG_F16, CG_F16, CG_F16);
  a.q = (const int64_t[]){2, 20, 128}, a.rq = 3;
  a.k = (const int64_t[]){128, 45}, a.rk = 2;
  a.s = (const int64_t[]){2, 20, 45}, a.rs = 3;
  a.v = (const int64_t[]){2, 45, 128}, a.rv = 3;
  a.o = (const int64_t[]){2, 20, 128}, a.ro = 3;
  a.scale = 1, a.scale_v = 0.0883883f;
  a.mask = (const int64_t[]){20, 45}, a.rm = 2, a.mask_v = r16;
  att_case(&a)->prefill_zero = 1;

  /* more row tiles (40) than the grid (the tests' 2 SMs x 16 = 32 CTAs):
   * some CTAs stride on to a second tile, whose staging must wait until
   * every thread is done with the first tile's shared memory */
  for (int f16 = 0; f16 < 2; f16++) {
    cg_dtype dt = f16 ? CG_F16 : CG_F32;
    a = spec(f16 ? "att_f16_grid_stride" : "att_f32_grid_stride", dt, dt, dt, dt, dt);
    a.q = (const int64_t[]){40, 9, 16}, a.rq = 3;
    a.k = (const int64_t[]){40, 16, 20}, a.rk = 3;
    a.s = (const int64_t[]){40, 9, 20}, a.rs = 3;
    a.v = (const int64_t[]){40, 20, 16}, a.rv = 3;
    a.o = (const int64_t[]){40, 9, 16}, a.ro = 3;
    a.scale = 1, a.scale_v = 0.25f;
    att_case(&a);
  }
}

/* Attention reading Q, K^T and V through Transposes (fusion absorbs them). */
static void build_att_transposed(void) {
  static const int64_t heads[4] = {0, 2, 1, 3}, keys[4] = {0, 2, 3, 1}, swap[4] = {0, 1, 3, 2}, same[4] = {0, 1, 2, 3};
  static const int64_t rows_of[2] = {1, 0};
  att_spec a;
  /* BERT's layer scaled down: q2, k2, v2 [B, S, H, D] -> Q [B, H, S, D],
   * K^T [B, H, D, S], V [B, H, S, D]; O back to [B, S, H, D]; 37 tokens.
   * Static: the last case below reuses a after the loop. */
  static const int64_t bq[4] = {2, 3, 37, 16}, bk[4] = {2, 3, 16, 37}, bs[4] = {2, 3, 37, 37},
                       by[4] = {2, 37, 3, 16}, bm[4] = {2, 1, 1, 37};
  for (int f16 = 0; f16 < 2; f16++) {
    cg_dtype dt = f16 ? CG_F16 : CG_F32;
    a = spec(f16 ? "att_tr_bert_f16" : "att_tr_bert_f32", dt, dt, dt, dt, dt);
    a.q = bq, a.rq = 4;
    a.k = bk, a.rk = 4;
    a.s = bs, a.rs = 4;
    a.v = bq, a.rv = 4;
    a.o = bq, a.ro = 4;
    a.perm = heads, a.y = by;
    a.scale = 1, a.scale_v = 0.25f;
    a.mask = bm, a.rm = 4;
    a.pq = heads, a.pk = keys, a.pv = heads, a.rev = 1;
    att_case(&a);
  }
  /* the same in float16 from 2-byte aligned tensors: element-wise staging */
  a.name = "att_tr_bert_f16_unaligned";
  a.mem_align = 2;
  att_case(&a);

  /* BERT's output over its queries: O [B, H, S, D] stored as [B, S, H, D]
   * lands where Q was read from; both kernels, and without any Transpose */
  for (int f16 = 0; f16 < 2; f16++) {
    cg_dtype dt = f16 ? CG_F16 : CG_F32;
    a = spec(f16 ? "att_tr_bert_f16_inplace" : "att_tr_bert_f32_inplace", dt, dt, dt, dt, dt);
    a.q = bq, a.rq = 4;
    a.k = bk, a.rk = 4;
    a.s = bs, a.rs = 4;
    a.v = bq, a.rv = 4;
    a.o = bq, a.ro = 4;
    a.perm = heads, a.y = by;
    a.scale = 1, a.scale_v = 0.25f;
    a.pq = heads, a.pk = keys, a.pv = heads, a.rev = 1;
    a.inplace = 1;
    att_case(&a);
  }
  a = spec("att_f32_inplace_plain", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){2, 3, 70, 16}, a.rq = 4;
  a.k = (const int64_t[]){2, 3, 16, 40}, a.rk = 4;
  a.s = (const int64_t[]){2, 3, 70, 40}, a.rs = 4;
  a.v = (const int64_t[]){2, 3, 40, 16}, a.rv = 4;
  a.o = (const int64_t[]){2, 3, 70, 16}, a.ro = 4;
  a.inplace = 1;
  att_case(&a);
  /* S = H: O [B, H, S, D] has the shape of the [B, S, H, D] memory Q is
   * read from, not its layout (refused in test_attention_limits) */
  static const int64_t sq[4] = {2, 4, 4, 8}, sk[4] = {2, 4, 8, 4}, ss[4] = {2, 4, 4, 4};
  a = spec("att_tr_inplace_misplaced", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = sq, a.rq = 4;
  a.k = sk, a.rk = 4;
  a.s = ss, a.rs = 4;
  a.v = sq, a.rv = 4;
  a.o = sq, a.ro = 4;
  a.pq = heads;
  a.inplace = 1;
  att_case(&a);

  /* every subset of the three, both kernels, odd sizes: 21 queries, 45
   * keys; float32 D = 12, Dv = 20, float16 D = 24, Dv = 40 */
  static const char *const sub[6] = {"q", "k", "v", "qk", "qv", "kv"};
  static char names[12][40];
  for (int f16 = 0; f16 < 2; f16++)
    for (int i = 0; i < 6; i++) {
      cg_dtype dt = f16 ? CG_F16 : CG_F32;
      char *nm = names[f16 * 6 + i];
      snprintf(nm, 40, "att_tr_%s_%s", sub[i], f16 ? "f16" : "f32");
      a = spec(nm, dt, dt, dt, dt, dt);
      int64_t D = f16 ? 24 : 12, Dv = f16 ? 40 : 20;
      static int64_t dims[12][5][4];
      int64_t(*d)[4] = dims[f16 * 6 + i];
      int64_t q[4] = {1, 2, 21, D}, k[4] = {1, 2, D, 45}, s_[4] = {1, 2, 21, 45}, v[4] = {1, 2, 45, Dv}, o[4] = {1, 2, 21, Dv};
      memcpy(d[0], q, sizeof q), memcpy(d[1], k, sizeof k), memcpy(d[2], s_, sizeof s_), memcpy(d[3], v, sizeof v),
          memcpy(d[4], o, sizeof o);
      a.q = d[0], a.k = d[1], a.s = d[2], a.v = d[3], a.o = d[4];
      a.rq = a.rk = a.rs = a.rv = a.ro = 4;
      a.scale = 2, a.scale_v = 3.0f;
      if (strchr(sub[i], 'q')) a.pq = heads;
      if (strchr(sub[i], 'k')) a.pk = keys;
      if (strchr(sub[i], 'v')) a.pv = heads;
      att_case(&a);
    }

  /* Q and V contiguous along their rows' other axis (staged column-major
   * on tensor cores), K^T through an identity perm; 40 queries */
  for (int f16 = 0; f16 < 2; f16++) {
    cg_dtype dt = f16 ? CG_F16 : CG_F32;
    a = spec(f16 ? "att_tr_colmajor_f16" : "att_tr_colmajor_f32", dt, dt, dt, dt, dt);
    a.q = (const int64_t[]){2, 2, 40, 32}, a.rq = 4;
    a.k = (const int64_t[]){2, 2, 32, 24}, a.rk = 4;
    a.s = (const int64_t[]){2, 2, 40, 24}, a.rs = 4;
    a.v = (const int64_t[]){2, 2, 24, 16}, a.rv = 4;
    a.o = (const int64_t[]){2, 2, 40, 16}, a.ro = 4;
    a.pq = swap, a.pk = same, a.pv = swap;
    att_case(&a);
  }

  /* one key matrix [N, D] for every batch entry, read as K^T [D, N] */
  a = spec("att_tr_bcast_k", CG_F32, CG_F32, CG_F32, CG_F32, CG_F32);
  a.q = (const int64_t[]){2, 3, 9, 8}, a.rq = 4;
  a.k = (const int64_t[]){8, 33}, a.rk = 2;
  a.s = (const int64_t[]){2, 3, 9, 33}, a.rs = 4;
  a.v = (const int64_t[]){2, 3, 33, 8}, a.rv = 4;
  a.o = (const int64_t[]){2, 3, 9, 8}, a.ro = 4;
  a.pq = heads, a.pk = rows_of, a.pv = heads;
  att_case(&a);
}

static void test_attention_transposed(void) {
  cgt_check("att_tr_bert_f32");
  cgt_check("att_tr_bert_f16");
  cgt_check("att_tr_bert_f16_unaligned");
  static const char *const sub[6] = {"q", "k", "v", "qk", "qv", "kv"};
  for (int f16 = 0; f16 < 2; f16++)
    for (int i = 0; i < 6; i++) {
      char nm[40];
      snprintf(nm, sizeof nm, "att_tr_%s_%s", sub[i], f16 ? "f16" : "f32");
      cgt_check(nm);
    }
  cgt_check("att_tr_colmajor_f32");
  cgt_check("att_tr_colmajor_f16");
  cgt_check("att_tr_bcast_k");
  cgt_check("att_tr_bert_f32_inplace");
  cgt_check("att_tr_bert_f16_inplace");
  cgt_check("att_f32_inplace_plain");
  /* BERT: the memory tensors are the arguments (q2, k2, v2, scale, mask, y),
   * Q, K^T and V move as 16-byte words (K^T staged key-major), and 2-byte
   * alignment stages them value by value */
  const cgt_case *c = cgt_find("att_tr_bert_f16");
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_EQUAL(c->launch.n_args, 6);
  const char *src = cgt_program_source(c->prog);
  const char *k1 = strstr(src, " att_tr_bert_f16(");
  CU_ASSERT_PTR_NOT_NULL_FATAL(k1);
  const char *e1 = strstr(k1 + 1, "extern \"C\"");
  int n1 = 0, cm = 0;
  for (const char *q = k1; (q = strstr(q + 1, "*(const uint4 *)(p")) && (!e1 || q < e1);) n1++;
  for (const char *q = k1; (q = strstr(q + 1, "wmma::col_major")) && (!e1 || q < e1);) cm++;
  CU_ASSERT_EQUAL(n1, 3);
  CU_ASSERT_EQUAL(cm, 1);
  c = cgt_find("att_tr_bert_f16_unaligned");
  src = cgt_program_source(c->prog);
  k1 = strstr(src, " att_tr_bert_f16_unaligned(");
  CU_ASSERT_PTR_NOT_NULL_FATAL(k1);
  e1 = strstr(k1 + 1, "extern \"C\"");
  n1 = 0;
  for (const char *q = k1; (q = strstr(q + 1, "*(const uint4 *)(p")) && (!e1 || q < e1);) n1++;
  CU_ASSERT_EQUAL(n1, 0);
}

static void test_attention_fma(void) {
  cgt_check("att_f32_plain");
  cgt_check("att_f32_causal");
  cgt_check("att_f32_div_padmask");
  cgt_check("att_f32_inf_rows");
  cgt_check("att_f32_bcast_kv");
  cgt_check("att_f32_bcast_v_wider");
  cgt_check("att_f32_d128");
  cgt_check("att_mixed_dtypes");
  cgt_check("att_f32_transposed");
  cgt_check("att_f32_grid_stride");
}

static void test_attention_wmma(void) {
  cgt_check("att_f16_causal");
  cgt_check("att_bf16_pad");
  cgt_check("att_f16_d128_inf_rows");
  cgt_check("att_f16_transposed");
  cgt_check("att_f16_vec");
  cgt_check("att_f16_vec_unaligned_k");
  cgt_check("att_f16_grid_stride");
  /* which tiles moved as 16-byte words */
  const char *k1 = strstr(cgt_program_source(cgt_find("att_f16_vec")->prog), " att_f16_vec(");
  const char *k2 = strstr(cgt_program_source(cgt_find("att_f16_vec_unaligned_k")->prog), " att_f16_vec_unaligned_k(");
  CU_ASSERT_PTR_NOT_NULL_FATAL(k1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(k2);
  const char *e1 = strstr(k1 + 1, "extern \"C\""), *e2 = strstr(k2 + 1, "extern \"C\"");
  int n1 = 0, n2 = 0;
  for (const char *q = k1; (q = strstr(q + 1, "*(const uint4 *)(p")) && (!e1 || q < e1);) n1++;
  for (const char *q = k2; (q = strstr(q + 1, "*(const uint4 *)(p")) && (!e2 || q < e2);) n2++;
  CU_ASSERT_EQUAL(n1, 3);
  CU_ASSERT_EQUAL(n2, 2);
}

static int supported(const cgt_case *c, char *why, size_t n) {
  cg_group g = {c->name, c->t, c->nt, c->n, c->nn, {{0}}, c->ninp};
  memcpy(g.inplace, c->inplace, sizeof g.inplace);
  return cg_supported(&g, why, n);
}

/* A copy of a built case to modify. */
static cgt_case *copy_of(const char *name) {
  static cgt_case c;
  const cgt_case *src = cgt_find(name);
  if (!src) return NULL;
  c = *src;
  return &c;
}

static void refused(cgt_case *c, const char *needle) {
  char why[256] = "";
  int ok = supported(c, why, sizeof why);
  CU_ASSERT_FALSE(ok);
  if (!ok && !strstr(why, needle)) {
    fprintf(stderr, "reason '%s' lacks '%s'\n", why, needle);
    CU_FAIL("reason");
  }
}

/* The launch records, and what cg_supported refuses. */
static void test_attention_limits(void) {
  cgt_check("att_f32_plain"); /* builds the cases */
  const cgt_case *c = cgt_find("att_f16_causal");
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT(c->launch.shared_bytes > 48 * 1024 && c->launch.shared_bytes <= 99 * 1024);
  CU_ASSERT_EQUAL(c->launch.n_args, 6); /* Q, K, scale, mask, V, O: no score matrix */
  cgt_case *m = copy_of("att_f32_plain");
  char why[256];
  CU_ASSERT_TRUE(supported(m, why, sizeof why));
  /* the softmax over another axis */
  m->n[1].ia[0] = 2;
  refused(m, "last axis");
  /* a leading Transpose whose result is stored, or that does not permute */
  m = copy_of("att_tr_q_f32");
  m->t[m->n[0].out[0]].role = CG_OUT;
  refused(m, "CG_FUSED operand");
  m = copy_of("att_tr_q_f32");
  m->n[0].ia[0] = 1;
  refused(m, "leading Transpose");
  /* a head size beyond 128 */
  m = copy_of("att_f32_d128");
  m->t[0].dims[2] = 129;
  m->t[1].dims[1] = 129;
  refused(m, "head sizes");
  /* the scale as the denominator's numerator */
  m = copy_of("att_f32_div_padmask");
  int sc = m->n[1].in[1];
  m->n[1].in[1] = m->n[1].in[0];
  m->n[1].in[0] = sc;
  refused(m, "numerator");
  /* a stored score matrix is not attention */
  m = copy_of("att_f32_plain");
  m->t[m->n[0].out[0]].role = CG_OUT;
  refused(m, "CG_FUSED");
  /* a Transpose that moves the last axis */
  m = copy_of("att_f32_transposed");
  m->n[m->nn - 1].ia[2] = 3;
  m->n[m->nn - 1].ia[3] = 1;
  m->t[m->n[m->nn - 1].out[0]].dims[2] = 8;
  m->t[m->n[m->nn - 1].out[0]].dims[3] = 3;
  refused(m, "last axis last");
  /* in place: only the output, only over Q's memory, only where each
   * output element lands on its query element */
  CU_ASSERT_TRUE(supported(copy_of("att_tr_bert_f32_inplace"), why, sizeof why));
  refused(copy_of("att_tr_inplace_misplaced"), "do not land");
  m = copy_of("att_tr_bert_f32_inplace");
  m->inplace[0][1] = m->n[1].in[0]; /* the keys' memory */
  refused(m, "over Q's memory");
  /* nor a lone MatMul, nor a shorter chain */
  m = copy_of("att_f32_plain");
  m->nn = 2; /* MatMul, Softmax */
  m->t[m->n[1].out[0]].role = CG_OUT;
  m->t[m->n[2].out[0]].role = CG_IN;
  refused(m, "cuBLASLt");
}

CGT_BUILDERS(att, build_att, build_att_transposed)
TST_SUITE(codegen_att, TST(test_attention_fma), TST(test_attention_wmma), TST(test_attention_transposed),
          TST(test_attention_limits))
