/*
 * test_passes.c: the graph passes that lower memory and kernel counts:
 * affine folding, fusion, views, concat elision, in-place writes, the
 * memory-aware order, feed-forward row chunks, column pieces of a fused
 * projection, attention over its Q, casts in a kernel's epilogue, and the
 * GPU lowering's launch records. Each case checks the structure of the plan AND that the
 * CPU backend still computes what the unoptimised plan computes.
 */
#include <stdlib.h>
#include <string.h>

#include "cg.h"
#include "compile.h"
#include "passes.h"
#include "report_fit.h"
#include "rt_backend.h"
#include "tst.h"

static int compile_text(const char *text, compile_options o, compile_result *r) {
  o.model_path = "m.yaml";
  o.model_text = text;
  o.model_text_len = strlen(text);
  o.time_limit_s = 1;
  return compile_model(&o, r, stderr);
}

static const rt_tensor *find(const rt_plan *p, const char *name) {
  for (uint32_t i = 0; i < p->n_tensors; i++)
    if (!strcmp(p->tensors[i].name, name)) return &p->tensors[i];
  return NULL;
}

/* Run plan p on inputs (all float32, filled deterministically) and return
 * output 0 (malloc'd float32). */
static float *run_plan(const rt_plan *p, size_t *n) {
  char err[512];
  rt_backend *b = rt_cpu_backend_create(p, 2, err, sizeof err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  for (uint32_t i = 0; i < p->n_inputs; i++) {
    const rt_tensor *t = &p->tensors[p->inputs[i]];
    tst_fill_uniform(b->input(b, i), t->bytes / 4, -1, 1, 11 + i);
  }
  CU_ASSERT_EQUAL_FATAL(b->run(b, err, sizeof err), 0);
  const rt_tensor *o = &p->tensors[p->outputs[0]];
  *n = o->bytes / 4;
  float *out = malloc(o->bytes);
  memcpy(out, b->output(b, 0), o->bytes);
  b->destroy(b);
  return out;
}

/* Optimised and plain compiles of text agree on output 0. */
static void same_result(const char *text, compile_options opt) {
  compile_options plain = {.no_fold = 1, .no_fuse = 1, .no_views = 1, .no_concat = 1,
                           .no_inplace = 1, .no_schedule = 1, .no_split = 1};
  compile_result a, b;
  CU_ASSERT_EQUAL_FATAL(compile_text(text, opt, &a), 0);
  CU_ASSERT_EQUAL_FATAL(compile_text(text, plain, &b), 0);
  size_t na, nb;
  float *ya = run_plan(a.plan, &na), *yb = run_plan(b.plan, &nb);
  CU_ASSERT_EQUAL(na, nb);
  if (na == nb) TST_ASSERT_CLOSE(ya, yb, na, 1e-5, 1e-4);
  free(ya);
  free(yb);
  compile_free(&a);
  compile_free(&b);
}

static const char *conv_bn =
    "name: t\ninputs:\n  x: {shape: [2, 3, 8, 8]}\n"
    "params:\n"
    "  w: {shape: [4, 3, 3, 3], init: {normal: [0, 0.3], seed: 1}}\n"
    "  s: {shape: [4], init: {uniform: [0.5, 1.5], seed: 2}}\n"
    "  b: {shape: [4], init: {normal: [0, 0.1], seed: 3}}\n"
    "  m: {shape: [4], init: {normal: [0, 0.1], seed: 4}}\n"
    "  v: {shape: [4], init: {uniform: [0.5, 1.5], seed: 5}}\n"
    "  k: {shape: [4, 1, 1], init: {uniform: [0.5, 2], seed: 6}}\n"
    "nodes:\n"
    "  - {op: Conv, in: [x, w], out: c, pads: [1, 1, 1, 1]}\n"
    "  - {op: BatchNormalization, in: [c, s, b, m, v], out: n}\n"
    "  - {op: Mul, in: [n, k], out: q}\n"
    "  - {op: Relu, in: q, out: r}\n"
    "  - {op: Sigmoid, in: r, out: y}\n"
    "outputs: [y]\n";

static void test_fold_into_conv(void) {
  compile_result r;
  compile_options o = {.no_fuse = 1};
  CU_ASSERT_EQUAL_FATAL(compile_text(conv_bn, o, &r), 0);
  /* BatchNormalization and Mul are folded into the conv's weights and bias */
  CU_ASSERT_EQUAL(r.plan->n_steps, 3);
  CU_ASSERT_EQUAL(r.plan->nodes[0].op, RT_OP_CONV);
  CU_ASSERT_EQUAL(r.plan->nodes[0].n_in, 3);
  CU_ASSERT_PTR_NULL(find(r.plan, "n"));
  CU_ASSERT_PTR_NULL(find(r.plan, "s"));
  compile_free(&r);
  same_result(conv_bn, o);
}

static void test_fuse_epilogue(void) {
  compile_result r;
  compile_options o = {0};
  CU_ASSERT_EQUAL_FATAL(compile_text(conv_bn, o, &r), 0);
  /* conv + relu + sigmoid in one kernel; r never reaches the slab */
  CU_ASSERT_EQUAL(r.plan->n_steps, 1);
  CU_ASSERT_EQUAL(r.plan->steps[0].n_nodes, 3);
  const rt_tensor *relu = find(r.plan, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(relu);
  CU_ASSERT_EQUAL(relu->kind, RT_KIND_FUSED);
  CU_ASSERT_EQUAL(relu->offset, RT_NO_OFFSET);
  compile_free(&r);
  same_result(conv_bn, o);
}

static const char *constants =
    "name: t\ninputs:\n  x: {shape: [2, 3]}\n"
    "params:\n  a: {shape: [3], values: [1, 2, 3]}\n  b: {shape: [3], values: [0.5, 0.5, 0.5]}\n"
    "nodes:\n"
    "  - {op: Mul, in: [a, b], out: ab}\n"
    "  - {op: Exp, in: ab, out: e}\n"
    "  - {op: Add, in: [x, e], out: y}\n"
    "outputs: [y]\n";

static void test_fold_constants(void) {
  compile_result r;
  CU_ASSERT_EQUAL_FATAL(compile_text(constants, (compile_options){0}, &r), 0);
  /* Mul and Exp of params are computed at compile time; only the Add runs */
  CU_ASSERT_EQUAL(r.plan->n_steps, 1);
  const rt_tensor *e = find(r.plan, "e");
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_EQUAL(e->kind, RT_KIND_PARAM);
  float got[3], want[3] = {expf(0.5f), expf(1.0f), expf(1.5f)};
  memcpy(got, r.plan->param_data + e->data_offset, sizeof got);
  TST_ASSERT_CLOSE(got, want, 3, 0, 1e-6);
  CU_ASSERT_PTR_NULL(find(r.plan, "ab"));
  compile_free(&r);
  same_result(constants, (compile_options){0});
}

static const char *block =
    "name: t\ninputs:\n  x: {shape: [1, 8, 6, 6]}\n"
    "params:\n"
    "  w1: {shape: [4, 8, 1, 1], init: {normal: [0, 0.3], seed: 1}}\n"
    "  w2: {shape: [4, 8, 3, 3], init: {normal: [0, 0.3], seed: 2}}\n"
    "  w3: {shape: [8, 8, 1, 1], init: {normal: [0, 0.3], seed: 3}}\n"
    "nodes:\n"
    "  - {op: Relu, in: x, out: a}\n"
    "  - {op: Conv, in: [a, w1], out: b1}\n"
    "  - {op: Conv, in: [a, w2], out: b2, pads: [1, 1, 1, 1]}\n"
    "  - {op: Concat, in: [b1, b2], out: c, axis: 1}\n"
    "  - {op: Conv, in: [c, w3], out: d}\n"
    "  - {op: Add, in: [d, a], out: e}\n"
    "  - {op: Reshape, in: e, out: f, shape: [1, -1]}\n"
    "  - {op: Tanh, in: f, out: y}\n"
    "outputs: [y]\n";

static void test_storage(void) {
  compile_result r;
  compile_options o = {.no_fuse = 1};
  CU_ASSERT_EQUAL_FATAL(compile_text(block, o, &r), 0);
  const rt_plan *p = r.plan;
  const rt_tensor *b1 = find(p, "b1"), *b2 = find(p, "b2"), *c = find(p, "c"), *f = find(p, "f"),
                  *e = find(p, "e"), *y = find(p, "y");
  CU_ASSERT_FATAL(b1 && b2 && c && f && e && y);
  /* the Concat is elided: b1 and b2 are written into c's two halves */
  CU_ASSERT_EQUAL(b1->alias_kind, RT_ALIAS_VIEW);
  CU_ASSERT_EQUAL(b2->alias_kind, RT_ALIAS_VIEW);
  CU_ASSERT_EQUAL(b1->offset, c->offset);
  CU_ASSERT_EQUAL(b2->offset, c->offset + b1->bytes);
  for (uint32_t k = 0; k < p->n_nodes; k++) CU_ASSERT_NOT_EQUAL(p->nodes[k].op, RT_OP_CONCAT);
  /* the Reshape is a view of e; y is written in place over f */
  CU_ASSERT_EQUAL(f->alias_kind, RT_ALIAS_VIEW);
  CU_ASSERT_EQUAL(f->offset, e->offset);
  CU_ASSERT_EQUAL(y->alias_kind, RT_ALIAS_INPLACE);
  CU_ASSERT_EQUAL(y->offset, f->offset);
  char err[512];
  CU_ASSERT_EQUAL(rt_plan_verify_memory(p, err, sizeof err), 0);
  compile_free(&r);
  same_result(block, o);
  same_result(block, (compile_options){0});
}

/* Two branches, each making a big temporary that it shrinks: running one
 * branch to its end before the other keeps one big temporary alive, not two. */
static const char *branches =
    "name: t\ninputs:\n  x: {shape: [1, 64]}\n"
    "params:\n"
    "  up1: {shape: [64, 4096], init: {normal: [0, 0.1], seed: 1}}\n"
    "  dn1: {shape: [4096, 8], init: {normal: [0, 0.1], seed: 2}}\n"
    "  up2: {shape: [64, 4096], init: {normal: [0, 0.1], seed: 3}}\n"
    "  dn2: {shape: [4096, 8], init: {normal: [0, 0.1], seed: 4}}\n"
    "nodes:\n"
    "  - {op: MatMul, in: [x, up1], out: h1}\n"
    "  - {op: MatMul, in: [x, up2], out: h2}\n"
    "  - {op: Tanh, in: h1, out: t1}\n"
    "  - {op: Tanh, in: h2, out: t2}\n"
    "  - {op: MatMul, in: [t1, dn1], out: s1}\n"
    "  - {op: MatMul, in: [t2, dn2], out: s2}\n"
    "  - {op: Add, in: [s1, s2], out: y}\n"
    "outputs: [y]\n";

static void test_schedule(void) {
  compile_result a, b;
  compile_options fixed = {.no_schedule = 1, .no_fuse = 1}, chosen = {.no_fuse = 1};
  CU_ASSERT_EQUAL_FATAL(compile_text(branches, fixed, &a), 0);
  CU_ASSERT_EQUAL_FATAL(compile_text(branches, chosen, &b), 0);
  /* file order holds h1 and h2 (16 KiB each) at once; a better order one */
  CU_ASSERT(b.plan->lower_bound < a.plan->lower_bound);
  CU_ASSERT(b.plan->lower_bound <= 16384 + 256 + 64 * 4 + 32);
  CU_ASSERT_NOT_EQUAL(b.schedule, SCHED_FILE);
  compile_free(&a);
  compile_free(&b);
  same_result(branches, chosen);
}

/* A feed-forward block whose intermediate is 16x its input: run in 16 row
 * chunks, each reading a window of x and writing a window of f4. */
static const char *ffn =
    "name: t\ninputs:\n  x: {shape: [4, 128, 64]}\n"
    "params:\n"
    "  w1: {shape: [64, 1024], init: {normal: [0, 0.1], seed: 1}}\n"
    "  b1: {shape: [1024], init: {normal: [0, 0.1], seed: 2}}\n"
    "  w2: {shape: [1024, 64], init: {normal: [0, 0.05], seed: 3}}\n"
    "  b2: {shape: [64], init: {normal: [0, 0.1], seed: 4}}\n"
    "nodes:\n"
    "  - {op: MatMul, in: [x, w1], out: f0}\n"
    "  - {op: Add, in: [f0, b1], out: f1}\n"
    "  - {op: Gelu, in: f1, out: f2}\n"
    "  - {op: MatMul, in: [f2, w2], out: f3}\n"
    "  - {op: Add, in: [f3, b2], out: f4}\n"
    "  - {op: Add, in: [x, f4], out: y}\n"
    "outputs: [y]\n";

static void test_split_ffn(void) {
  compile_result a, b;
  CU_ASSERT_EQUAL_FATAL(compile_text(ffn, (compile_options){.no_split = 1}, &a), 0);
  CU_ASSERT_EQUAL_FATAL(compile_text(ffn, (compile_options){0}, &b), 0);
  CU_ASSERT_EQUAL(a.split_blocks, 0);
  CU_ASSERT_EQUAL(b.split_blocks, 1);
  const rt_plan *p = b.plan;
  /* 2 MiB intermediate in 16 chunks of 128 KiB: the size of x */
  int matmuls = 0;
  for (uint32_t k = 0; k < p->n_nodes; k++) {
    matmuls += p->nodes[k].op == RT_OP_MATMUL;
    CU_ASSERT_NOT_EQUAL(p->nodes[k].op, RT_OP_CONCAT); /* chunks write into f4 */
    CU_ASSERT_NOT_EQUAL(p->nodes[k].op, RT_OP_SLICE);  /* chunks read windows of x */
  }
  CU_ASSERT_EQUAL(matmuls, 32);
  const rt_tensor *x = find(p, "x"), *c0 = find(p, "x.chunk0"), *c5 = find(p, "x.chunk5");
  CU_ASSERT_FATAL(x && c0 && c5);
  CU_ASSERT_EQUAL(c5->alias_kind, RT_ALIAS_VIEW);
  CU_ASSERT_EQUAL(c0->offset, x->offset);
  CU_ASSERT_EQUAL(c5->offset, x->offset + 5 * 32 * 64 * 4);
  CU_ASSERT_EQUAL(c5->bytes, 32 * 64 * 4);
  /* unsplit: x, f4 and the 2 MiB intermediate; split: x, f4 and a chunk */
  CU_ASSERT(a.plan->lower_bound >= (2u << 20));
  CU_ASSERT(p->lower_bound <= 4 * (128u << 10));
  char err[512];
  CU_ASSERT_EQUAL(rt_plan_verify_memory(p, err, sizeof err), 0);
  compile_free(&a);
  compile_free(&b);
  same_result(ffn, (compile_options){0});
}

/* BERT's attention scaled down: heads split from [B, S, H*D] and merged
 * back. The fused attention writes its output over Q (each output row
 * where its query row was), so q1's bytes serve twice; with S = H and no
 * Transpose back, O has q2's shape but not its layout and must not. */
static const char *attention_fmt =
    "name: t\ninputs:\n  x: {shape: [2, 4, 32]}\n"
    "params:\n"
    "  wq: {shape: [32, 32], init: {normal: [0, 0.2], seed: 1}}\n"
    "  wk: {shape: [32, 32], init: {normal: [0, 0.2], seed: 2}}\n"
    "  wv: {shape: [32, 32], init: {normal: [0, 0.2], seed: 3}}\n"
    "  scale: {shape: [], values: [0.35]}\n"
    "nodes:\n"
    "  - {op: MatMul, in: [x, wq], out: q1}\n"
    "  - {op: Reshape, in: q1, out: q2, shape: [0, 4, 4, 8]}\n"
    "  - {op: MatMul, in: [x, wk], out: k1}\n"
    "  - {op: Reshape, in: k1, out: k2, shape: [0, 4, 4, 8]}\n"
    "  - {op: MatMul, in: [x, wv], out: v1}\n"
    "  - {op: Reshape, in: v1, out: v2, shape: [0, 4, 4, 8]}\n"
    "  - {op: Transpose, in: q2, out: q, perm: [0, 2, 1, 3]}\n"
    "  - {op: Transpose, in: k2, out: k, perm: [0, 2, 3, 1]}\n"
    "  - {op: Transpose, in: v2, out: v, perm: [0, 2, 1, 3]}\n"
    "  - {op: MatMul, in: [q, k], out: s0}\n"
    "  - {op: Mul, in: [s0, scale], out: s1}\n"
    "  - {op: Softmax, in: s1, out: p, axis: -1}\n"
    "  - {op: MatMul, in: [p, v], out: c0}\n"
    "%s";
static const char *merge_heads =
    "  - {op: Transpose, in: c0, out: c1, perm: [0, 2, 1, 3]}\n"
    "  - {op: Reshape, in: c1, out: c2, shape: [0, 4, 32]}\n"
    "  - {op: Add, in: [x, c2], out: y}\n"
    "outputs: [y]\n";
static const char *keep_heads =
    "  - {op: Tanh, in: c0, out: y}\n"
    "outputs: [y]\n";

static void test_attention_inplace(void) {
  char text[4096];
  for (int merge = 1; merge >= 0; merge--) {
    snprintf(text, sizeof text, attention_fmt, merge ? merge_heads : keep_heads);
    compile_result r;
    CU_ASSERT_EQUAL_FATAL(compile_text(text, (compile_options){0}, &r), 0);
    const rt_plan *p = r.plan;
    const rt_tensor *o = find(p, merge ? "c1" : "c0"), *q2 = find(p, "q2"), *q1 = find(p, "q1");
    CU_ASSERT_FATAL(o && q1 && q2);
    if (merge) {
      CU_ASSERT_EQUAL(o->alias_kind, RT_ALIAS_INPLACE);
      CU_ASSERT_EQUAL(o->alias_of, (int32_t)(q2 - p->tensors));
      CU_ASSERT_EQUAL(o->offset, q1->offset);
    } else {
      CU_ASSERT(o->alias_of < 0 || o->offset != q1->offset);
    }
    char err[512];
    CU_ASSERT_EQUAL(rt_plan_verify_memory(p, err, sizeof err), 0);
    compile_free(&r);
    same_result(text, (compile_options){0});
    /* codegen takes the pair (and refuses nothing it was given) */
    if (cg_have_nvrtc()) {
      CU_ASSERT_EQUAL(compile_text(text, (compile_options){.gpu = 1}, &r), 0);
      compile_free(&r);
    }
  }
}

/* A fused QKV projection: MatMul + bias, then a Split along the last axis.
 * Cut into one MatMul + bias per piece over column windows of W and b, the
 * [.., 96] result and the Split's copies are gone; the piece nobody reads
 * is not computed. */
static const char *qkv =
    "name: t\ninputs:\n  x: {shape: [4, 64, 32]}\n"
    "params:\n"
    "  W: {shape: [32, 96], init: {normal: [0, 0.2], seed: 1}}\n"
    "  b: {shape: [96], init: {normal: [0, 0.1], seed: 2}}\n"
    "nodes:\n"
    "  - {op: MatMul, in: [x, W], out: t0}\n"
    "  - {op: Add, in: [t0, b], out: t}\n"
    "  - {op: Split, in: t, out: [q, k, v, unused], axis: -1, split: [32, 40, 16, 8]}\n"
    "  - {op: Slice, in: k, out: k2, starts: [0], ends: [32], axes: [-1]}\n"
    "  - {op: Mul, in: [q, k2], out: s}\n"
    "  - {op: Slice, in: s, out: s2, starts: [0], ends: [16], axes: [-1]}\n"
    "  - {op: Add, in: [s2, v], out: y}\n"
    "outputs: [y]\n";

static void test_split_columns(void) {
  compile_result a, b;
  CU_ASSERT_EQUAL_FATAL(compile_text(qkv, (compile_options){.no_split = 1}, &a), 0);
  CU_ASSERT_EQUAL_FATAL(compile_text(qkv, (compile_options){0}, &b), 0);
  CU_ASSERT_EQUAL(a.split_columns, 0);
  CU_ASSERT_EQUAL(b.split_columns, 1);
  const rt_plan *p = b.plan;
  int matmuls = 0;
  for (uint32_t k = 0; k < p->n_nodes; k++) {
    matmuls += p->nodes[k].op == RT_OP_MATMUL;
    CU_ASSERT_NOT_EQUAL(p->nodes[k].op, RT_OP_SPLIT);
  }
  CU_ASSERT_EQUAL(matmuls, 3); /* none for the piece nobody reads */
  CU_ASSERT_PTR_NULL(find(p, "unused"));
  /* the whole weight and bias gave way to their windows */
  CU_ASSERT_PTR_NULL(find(p, "W"));
  CU_ASSERT_PTR_NULL(find(p, "b"));
  const rt_tensor *w1 = find(p, "W.cols32"), *b2 = find(p, "b.cols72");
  CU_ASSERT_FATAL(w1 && b2);
  CU_ASSERT_EQUAL(w1->dims[0], 32);
  CU_ASSERT_EQUAL(w1->dims[1], 40);
  CU_ASSERT_EQUAL(b2->dims[0], 16);
  uint64_t wa = 0, wb = 0; /* the weight bytes, in pieces */
  for (uint32_t i = 0; i < a.plan->n_tensors; i++)
    if (a.plan->tensors[i].kind == RT_KIND_PARAM) wa += a.plan->tensors[i].bytes;
  for (uint32_t i = 0; i < p->n_tensors; i++)
    if (p->tensors[i].kind == RT_KIND_PARAM) wb += p->tensors[i].bytes;
  CU_ASSERT_EQUAL(wa, (32 * 96 + 96) * 4);
  CU_ASSERT_EQUAL(wb, (32 * 88 + 88) * 4); /* the unread piece's columns are dropped */
  /* uncut, t (96 columns) and its pieces are alive together */
  CU_ASSERT(a.plan->lower_bound >= 4 * 64 * 192 * 4);
  CU_ASSERT(p->lower_bound < a.plan->lower_bound);
  char err[512];
  CU_ASSERT_EQUAL(rt_plan_verify_memory(p, err, sizeof err), 0);
  /* dlc --json says what was cut */
  char *doc = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&doc, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  report_summary_json(f, &b, NULL);
  fclose(f);
  CU_ASSERT_PTR_NOT_NULL(strstr(doc, "\"cuts\": {\"column_pieces\": 1, \"row_chunks\": 0}"));
  free(doc);
  compile_free(&a);
  compile_free(&b);
  same_result(qkv, (compile_options){0});
}

/* In an fp16 plan the float32 input is cast on load and the float32 output
 * cast on store, both inside the one kernel (a cast joins the epilogue like
 * any elementwise op), and the output goes over the input as in float32. */
static const char *norm =
    "name: t\ninputs:\n  x: {shape: [8, 512]}\n"
    "params:\n"
    "  s: {shape: [512], init: {uniform: [0.5, 1.5], seed: 1}}\n"
    "  g: {shape: [512], init: {uniform: [0.9, 1.1], seed: 2}}\n"
    "  b: {shape: [512], init: {normal: [0, 0.1], seed: 3}}\n"
    "nodes:\n"
    "  - {op: Mul, in: [x, s], out: a}\n"
    "  - {op: Tanh, in: a, out: t}\n"
    "  - {op: LayerNormalization, in: [t, g, b], out: y, axis: -1}\n"
    "outputs: [y]\n";

static void test_cast_epilogue(void) {
  compile_result r;
  CU_ASSERT_EQUAL_FATAL(compile_text(norm, (compile_options){.precision = PRECISION_FP16}, &r), 0);
  const rt_plan *p = r.plan;
  CU_ASSERT_EQUAL(p->n_steps, 1);
  const rt_tensor *x = find(p, "x"), *y = find(p, "y");
  CU_ASSERT_FATAL(x && y);
  CU_ASSERT_EQUAL(y->dtype, RT_F32);
  CU_ASSERT_EQUAL(y->alias_kind, RT_ALIAS_INPLACE);
  CU_ASSERT_EQUAL(p->slab_bytes, 8 * 512 * 4);
  /* and it still computes the float32 plan's result, to float16's precision */
  size_t na, nb;
  float *ya = run_plan(p, &na);
  compile_result f;
  CU_ASSERT_EQUAL_FATAL(compile_text(norm, (compile_options){0}, &f), 0);
  float *yb = run_plan(f.plan, &nb);
  CU_ASSERT_EQUAL_FATAL(na, nb);
  TST_ASSERT_CLOSE(ya, yb, na, 2e-2, 2e-2);
  free(ya);
  free(yb);
  compile_free(&f);
  compile_free(&r);
}

static void test_gpu_launches(void) {
  if (!cg_have_nvrtc()) {
    fprintf(stderr, "  (skipped: this build has no NVRTC)\n");
    return;
  }
  compile_result r;
  compile_options o = {.gpu = 1};
  CU_ASSERT_EQUAL_FATAL(compile_text(block, o, &r), 0);
  const rt_plan *p = r.plan;
  CU_ASSERT_PTR_NOT_NULL_FATAL(p->launches);
  CU_ASSERT(p->cubin_bytes > 0 && p->ptx_bytes > 0);
  CU_ASSERT_EQUAL(p->cubin_arch, 90);
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_launch *l = &p->launches[s];
    CU_ASSERT(l->kind == RT_LAUNCH_KERNEL || l->kind == RT_LAUNCH_GEMM);
    if (l->kind != RT_LAUNCH_KERNEL) continue;
    /* the entry point is in the PTX and (by name) in the CUBIN's strings */
    CU_ASSERT_PTR_NOT_NULL(strstr(p->ptx, l->function));
    int in_cubin = 0;
    size_t len = strlen(l->function);
    for (size_t i = 0; i + len <= p->cubin_bytes && !in_cubin; i++)
      in_cubin = !memcmp(p->cubin + i, l->function, len);
    CU_ASSERT(in_cubin);
  }
  /* the plan survives serialisation with its GPU code */
  uint8_t *buf;
  size_t size;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_plan_serialize(p, &buf, &size, err, sizeof err), 0);
  rt_plan q;
  CU_ASSERT_EQUAL_FATAL(rt_plan_parse(buf, size, &q, err, sizeof err), 0);
  CU_ASSERT_EQUAL(q.cubin_bytes, p->cubin_bytes);
  CU_ASSERT_STRING_EQUAL(q.launches[0].function, p->launches[0].function);
  rt_plan_free(&q);
  compile_free(&r);
}

TST_SUITE(passes, TST(test_fold_into_conv), TST(test_fold_constants), TST(test_fuse_epilogue), TST(test_storage),
          TST(test_attention_inplace), TST(test_schedule), TST(test_split_ffn), TST(test_split_columns),
          TST(test_cast_epilogue), TST(test_gpu_launches))
