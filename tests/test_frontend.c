/*
 * test_frontend.c: the compiler's front end: every class of user error gets
 * its message at the right FILE:LINE:COLUMN, and shape inference computes
 * ONNX's shapes (padding, ceil_mode, Reshape 0/-1, broadcasting, Slice
 * clamping, negative axes, batch-dimension tracking).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile.h"
#include "tst.h"

/* Compile text; returns 0 or -1, message in r->d.msg. */
static int compile_text(const char *text, compile_result *r, const char *plan_path) {
  compile_options o = {0};
  o.model_path = "m.yaml";
  o.model_text = text;
  o.model_text_len = strlen(text);
  o.plan_path = plan_path;
  o.time_limit_s = 1;
  o.no_fuse = 1; /* one kernel per node: these tests count and name them */
  return compile_model(&o, r, NULL);
}

/* Expect an error whose message starts with `where` ("m.yaml:L:C: error: ")
 * and contains `what`. */
static void expect_error_(const char *text, const char *where, const char *what, int line) {
  compile_result r;
  int rc = compile_text(text, &r, NULL);
  char msg[2300];
  snprintf(msg, sizeof msg, "expected error at %s containing '%s', got: %s", where, what,
           rc ? r.d.msg : "(success)");
  int ok = rc != 0 && strncmp(r.d.msg, where, strlen(where)) == 0 &&
           strncmp(r.d.msg + strlen(where), ": error: ", 9) == 0 && strstr(r.d.msg, what) != NULL;
  CU_assertImplementation(ok, line, msg, __FILE__, "", CU_FALSE);
  compile_free(&r);
}
#define EXPECT_ERROR(text, where, what) expect_error_(text, where, what, __LINE__)

#define HEAD "name: t\ndims: {N: 2}\ninputs:\n  x: {shape: [N, 4]}\n"

static void test_yaml_errors(void) {
  EXPECT_ERROR("name: t\ninputs: {x: {shape: [2]}\n", "m.yaml:3:1", "YAML syntax");
  EXPECT_ERROR("name: t\nname: u\n", "m.yaml:2:1", "duplicate key 'name'");
  EXPECT_ERROR("- a\n- b\n", "m.yaml:1:1", "expected a mapping");
  EXPECT_ERROR("", "m.yaml:1:1", "empty model");
  EXPECT_ERROR(HEAD "nodes: []\noutputs: [x]\nextra: 1\n", "m.yaml:7:1",
               "unknown key 'extra' in the model");
  EXPECT_ERROR("dims: {N: 2}\ninputs: {}\nnodes: []\noutputs: [x]\n", "m.yaml:1:1",
               "missing the required key 'name'");
  EXPECT_ERROR("name: t\ninputs: {x: {shape: [2]}}\noutputs: [x]\n", "m.yaml:1:1",
               "missing the required key 'nodes'");
}

static void test_dims_and_shapes(void) {
  EXPECT_ERROR("name: t\ndims: {N: 0}\ninputs: {}\nnodes: []\noutputs: [x]\n", "m.yaml:2:11",
               "dimension 'N' must be a positive integer");
  EXPECT_ERROR("name: t\ninputs:\n  x: {shape: [M, 4]}\nnodes: []\noutputs: [x]\n", "m.yaml:3:15",
               "'M', which is not declared in dims");
  EXPECT_ERROR("name: t\ninputs:\n  x: {shape: [2, -4]}\nnodes: []\noutputs: [x]\n", "m.yaml:3:18",
               "must be positive, found -4");
  EXPECT_ERROR("name: t\ninputs:\n  x: {shape: [2], dtype: float64}\nnodes: []\noutputs: [x]\n",
               "m.yaml:3:26", "unknown dtype 'float64'");
  EXPECT_ERROR("name: t\ninputs:\n  x: {shape: 2}\nnodes: []\noutputs: [x]\n", "m.yaml:3:14",
               "the shape of 'x' must be a list");
  EXPECT_ERROR("name: t\ninputs:\n  x: {shape: [2], size: 3}\nnodes: []\noutputs: [x]\n",
               "m.yaml:3:19", "unknown key 'size' in input 'x'");
}

static void test_dim_override(void) {
  compile_options o = {0};
  const char *text = HEAD "nodes:\n  - {op: Relu, in: x, out: y}\noutputs: [y]\n";
  model_dim_override ov[1] = {{"B", 4}};
  o.model_path = "m.yaml";
  o.model_text = text;
  o.model_text_len = strlen(text);
  o.model.dim_overrides = ov;
  o.model.n_dim_overrides = 1;
  compile_result r;
  CU_ASSERT_EQUAL(compile_model(&o, &r, NULL), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.d.msg, "--dim B=4: the model has no dimension 'B'"));
  compile_free(&r);
  ov[0].name = "N";
  ov[0].value = 7;
  CU_ASSERT_EQUAL_FATAL(compile_model(&o, &r, NULL), 0);
  CU_ASSERT_EQUAL(r.plan->tensors[r.plan->outputs[0]].dims[0], 7);
  CU_ASSERT(r.plan->tensors[r.plan->outputs[0]].flags & RT_TF_BATCHED);
  compile_free(&r);
}

static void test_node_errors(void) {
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Frobnicate, in: x, out: y}\noutputs: [y]\n", "m.yaml:6:10",
               "unknown op 'Frobnicate'");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Relu, in: x, out: y, alpha: 2}\noutputs: [y]\n", "m.yaml:6:31",
               "has no attribute 'alpha'");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Concat, in: [x, x], out: y}\noutputs: [y]\n", "m.yaml:6:5",
               "missing the required attribute 'axis'");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Concat, in: [x, x], out: y, axis: one}\noutputs: [y]\n",
               "m.yaml:6:44", "attribute 'axis' must be an integer, found the string 'one'");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Transpose, in: x, out: y, perm: [1, 0.5]}\noutputs: [y]\n",
               "m.yaml:6:46", "attribute 'perm' entry 1 must be an integer");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Relu, in: z, out: y}\noutputs: [y]\n", "m.yaml:6:20",
               "reads undefined tensor 'z'");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Relu, in: x, out: x}\noutputs: [x]\n", "m.yaml:6:28",
               "tensor 'x' is defined twice (first at m.yaml:4:3)");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Relu, in: x, out: y}\n  - {op: Relu, in: x, out: y}\noutputs: [y]\n",
               "m.yaml:7:28", "tensor 'y' is defined twice (first at m.yaml:6:28)");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Add, in: [x], out: y}\noutputs: [y]\n", "m.yaml:6:19",
               "takes 2 inputs, found 1");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Relu, in: x}\noutputs: [y]\n", "m.yaml:6:5",
               "missing the required key 'out'");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Relu, in: x, out: y, name: a}\n  - {op: Relu, in: y, out: z, name: a}\n"
               "outputs: [z]\n", "m.yaml:7:37", "node name 'a' is used twice");
  EXPECT_ERROR("name: t\ninputs:\n  a/b: {shape: [2]}\n  a_b: {shape: [2]}\nnodes:\n"
               "  - {op: Add, in: [a/b, a_b], out: y}\noutputs: [y]\n", "m.yaml:4:3",
               "inputs 'a/b' and 'a_b' would both be the data file a_b.npy");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Relu, in: x, out: y}\noutputs: [q]\n", "m.yaml:7:11",
               "output 'q' is not defined");
}

static void test_cycle(void) {
  EXPECT_ERROR(HEAD "nodes:\n"
               "  - {op: Add, in: [x, c], out: a}\n"
               "  - {op: Relu, in: a, out: b}\n"
               "  - {op: Relu, in: b, out: c}\n"
               "outputs: [c]\n",
               "m.yaml:6:5", "cycle: 'a' -> 'b' -> 'c' -> 'a'");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Add, in: [x, y], out: y}\noutputs: [y]\n", "m.yaml:6:5",
               "cycle: 'y' -> 'y'");
}

static void test_shape_errors(void) {
  EXPECT_ERROR(HEAD "params:\n  b: {shape: [3], init: zeros}\nnodes:\n  - {op: Add, in: [x, b], out: y}\n"
               "outputs: [y]\n", "m.yaml:8:23",
               "shapes [N=2, 4] and [3] ('b') cannot be broadcast together");
  EXPECT_ERROR(HEAD "params:\n  w: {shape: [5, 3], init: zeros}\nnodes:\n  - {op: MatMul, in: [x, w], out: y}\n"
               "outputs: [y]\n", "m.yaml:8:26", "inner dimensions differ");
  EXPECT_ERROR(HEAD "params:\n  b: {shape: [4], dtype: float16, init: zeros}\nnodes:\n"
               "  - {op: Add, in: [x, b], out: y}\noutputs: [y]\n", "m.yaml:8:23",
               "dtype mismatch: 'b' is float16 but 'x' is float32");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Reshape, in: x, out: y, shape: [3, -1]}\noutputs: [y]\n", "m.yaml:6:41",
               "cannot reshape [N=2, 4] (8 elements) to [3, -1]");
  EXPECT_ERROR(HEAD "nodes:\n  - {op: Softmax, in: x, out: y, axis: 2}\noutputs: [y]\n", "m.yaml:6:40",
               "axis 2 is out of range for rank 2");
  EXPECT_ERROR(HEAD "params:\n  w: {shape: [8, 3, 3, 3], init: zeros}\nnodes:\n"
               "  - {op: Conv, in: [x, w], out: y}\noutputs: [y]\n", "m.yaml:8:21",
               "expected N x C x H x W");
  EXPECT_ERROR("name: t\ninputs:\n  i: {dtype: int64, shape: [3]}\nnodes:\n  - {op: Relu, in: i, out: y}\n"
               "outputs: [y]\n", "m.yaml:5:20", "this op computes on float32");
}

static void test_param_errors(void) {
  EXPECT_ERROR(HEAD "params:\n  w: {shape: [2], values: [1, 2, 3]}\nnodes:\n  - {op: Relu, in: x, out: y}\n"
               "outputs: [y]\n", "m.yaml:6:27", "param 'w' has shape [2] (2 values) but values: lists 3");
  EXPECT_ERROR(HEAD "params:\n  w: {shape: [2]}\nnodes:\n  - {op: Relu, in: x, out: y}\noutputs: [y]\n",
               "m.yaml:6:3", "has no init: or values: and the model names no weights file");
  EXPECT_ERROR(HEAD "params:\n  w: {shape: [2], init: {normal: [0, 1], seeds: 3}}\nnodes:\n"
               "  - {op: Relu, in: x, out: y}\noutputs: [y]\n", "m.yaml:6:42", "unknown key 'seeds'");
  EXPECT_ERROR(HEAD "params:\n  w: {shape: [2], init: random}\nnodes:\n  - {op: Relu, in: x, out: y}\n"
               "outputs: [y]\n", "m.yaml:6:25", "unknown init 'random'");
}

/* Writes a safetensors file with one F32 tensor w of shape [2, 2]. */
static void write_weights(const char *path, const char *shape, int truncate) {
  const char *hdr_fmt = "{\"w\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[0,16]}}";
  char hdr[256];
  int n = snprintf(hdr, sizeof hdr, hdr_fmt, shape);
  while (n % 8) hdr[n++] = ' ';
  hdr[n] = 0;
  FILE *f = fopen(path, "wb");
  uint64_t len = (uint64_t)n;
  fwrite(&len, 8, 1, f);
  fwrite(hdr, 1, (size_t)n, f);
  float data[4] = {1, 2, 3, 4};
  fwrite(data, 4, truncate ? 2 : 4, f);
  fclose(f);
}

static void test_weights_file(void) {
  const char *dir = tst_tmpdir();
  char model[600], weights[600], plan[600], text[1024];
  snprintf(model, sizeof model, "%s/m.yaml", dir);
  snprintf(weights, sizeof weights, "%s/w.safetensors", dir);
  snprintf(plan, sizeof plan, "%s/out.plan", dir);
  snprintf(text, sizeof text, "name: t\nweights: w.safetensors\ninputs:\n  x: {shape: [3, 2]}\n"
                              "params:\n  w: {shape: [2, 2]}\nnodes:\n"
                              "  - {op: MatMul, in: [x, w], out: y}\noutputs: [y]\n");
  FILE *f = fopen(model, "w");
  fputs(text, f);
  fclose(f);
  compile_options o = {0};
  o.model_path = model;
  o.plan_path = plan;
  compile_result r;
  /* missing */
  CU_ASSERT_EQUAL(compile_model(&o, &r, NULL), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.d.msg, ":2:10: error: weights file:"));
  CU_ASSERT_EQUAL(access(plan, F_OK), -1); /* nothing written on error */
  compile_free(&r);
  /* truncated */
  write_weights(weights, "[2,2]", 1);
  CU_ASSERT_EQUAL(compile_model(&o, &r, NULL), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.d.msg, "weights file:"));
  CU_ASSERT_EQUAL(access(plan, F_OK), -1);
  compile_free(&r);
  /* shape mismatch names both shapes */
  write_weights(weights, "[4,1]", 0);
  CU_ASSERT_EQUAL(compile_model(&o, &r, NULL), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(r.d.msg, ":6:3: error: param 'w' is float32 [2, 2] in the model but F32 [4, 1]"));
  compile_free(&r);
  /* good: the plan is written and holds the weights */
  write_weights(weights, "[2,2]", 0);
  CU_ASSERT_EQUAL_FATAL(compile_model(&o, &r, NULL), 0);
  CU_ASSERT_EQUAL(access(plan, F_OK), 0);
  const rt_tensor *w = NULL;
  for (uint32_t i = 0; i < r.plan->n_tensors; i++)
    if (!strcmp(r.plan->tensors[i].name, "w")) w = &r.plan->tensors[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  float got[4];
  memcpy(got, r.plan->param_data + w->data_offset, 16);
  float want[4] = {1, 2, 3, 4};
  TST_ASSERT_CLOSE(got, want, 4, 0, 0);
  compile_free(&r);
  tst_rmtree(dir);
}

/* --- inference --- */

/* Compile and return the plan tensor named `name` (r stays alive). */
static const rt_tensor *find(compile_result *r, const char *name) {
  for (uint32_t i = 0; r->plan && i < r->plan->n_tensors; i++)
    if (!strcmp(r->plan->tensors[i].name, name)) return &r->plan->tensors[i];
  return NULL;
}

static void expect_shape_(const char *text, const char *tensor, int rank, const int64_t *dims, int line) {
  compile_result r;
  int rc = compile_text(text, &r, NULL);
  const rt_tensor *t = rc == 0 ? find(&r, tensor) : NULL;
  int ok = t && t->rank == rank;
  for (int i = 0; ok && i < rank; i++) ok = t->dims[i] == dims[i];
  char msg[2300];
  snprintf(msg, sizeof msg, "shape of %s: %s", tensor, rc ? r.d.msg : "wrong shape");
  CU_assertImplementation(ok, line, msg, __FILE__, "", CU_FALSE);
  compile_free(&r);
}
#define EXPECT_SHAPE(text, tensor, ...)                                                   \
  do {                                                                                    \
    int64_t d_[] = {__VA_ARGS__};                                                         \
    expect_shape_(text, tensor, (int)(sizeof d_ / sizeof d_[0]), d_, __LINE__);           \
  } while (0)

#define IMG "name: t\ninputs:\n  x: {shape: [1, 3, 7, 7]}\n"
static void test_infer_windows(void) {
  /* Conv: explicit pads, stride 2, dilation 2 */
  EXPECT_SHAPE(IMG "params:\n  w: {shape: [4, 3, 3, 3], init: zeros}\nnodes:\n"
               "  - {op: Conv, in: [x, w], out: y, pads: [1, 1, 1, 1], strides: [2, 2]}\noutputs: [y]\n",
               "y", 1, 4, 4, 4);
  EXPECT_SHAPE(IMG "params:\n  w: {shape: [4, 3, 3, 3], init: zeros}\nnodes:\n"
               "  - {op: Conv, in: [x, w], out: y, dilations: [2, 2]}\noutputs: [y]\n", "y", 1, 4, 3, 3);
  EXPECT_SHAPE(IMG "params:\n  w: {shape: [6, 1, 3, 3], init: zeros}\nnodes:\n"
               "  - {op: Conv, in: [x, w], out: y, group: 3, auto_pad: SAME_UPPER, strides: [2, 2]}\n"
               "outputs: [y]\n", "y", 1, 6, 4, 4);
  /* MaxPool: floor vs ceil_mode, and the dropped window that would start in the end padding */
  EXPECT_SHAPE(IMG "nodes:\n  - {op: MaxPool, in: x, out: y, kernel_shape: [2, 2], strides: [2, 2]}\n"
               "outputs: [y]\n", "y", 1, 3, 3, 3);
  EXPECT_SHAPE(IMG "nodes:\n  - {op: MaxPool, in: x, out: y, kernel_shape: [2, 2], strides: [2, 2], "
               "ceil_mode: 1}\noutputs: [y]\n", "y", 1, 3, 4, 4);
  EXPECT_SHAPE(IMG "nodes:\n  - {op: AveragePool, in: x, out: y, kernel_shape: [3, 3], strides: [3, 3], "
               "pads: [0, 0, 2, 2], ceil_mode: 1}\noutputs: [y]\n", "y", 1, 3, 3, 3);
  EXPECT_SHAPE(IMG "nodes:\n  - {op: AveragePool, in: x, out: y, kernel_shape: [3, 3], auto_pad: VALID, "
               "strides: [2, 2]}\noutputs: [y]\n", "y", 1, 3, 3, 3);
  EXPECT_SHAPE(IMG "nodes:\n  - {op: GlobalAveragePool, in: x, out: y}\noutputs: [y]\n", "y", 1, 3, 1, 1);
}

static void test_infer_layout(void) {
  const char *h = "name: t\ndims: {N: 2}\ninputs:\n  x: {shape: [N, 3, 4, 5]}\n";
  char buf[1024];
#define WITH(node) (snprintf(buf, sizeof buf, "%snodes:\n  - " node "\noutputs: [y]\n", h), buf)
  EXPECT_SHAPE(WITH("{op: Reshape, in: x, out: y, shape: [0, -1, 5]}"), "y", 2, 12, 5);
  EXPECT_SHAPE(WITH("{op: Flatten, in: x, out: y, axis: -2}"), "y", 6, 20);
  EXPECT_SHAPE(WITH("{op: Transpose, in: x, out: y}"), "y", 5, 4, 3, 2);
  EXPECT_SHAPE(WITH("{op: Transpose, in: x, out: y, perm: [0, 2, 3, 1]}"), "y", 2, 4, 5, 3);
  EXPECT_SHAPE(WITH("{op: Slice, in: x, out: y, starts: [-1, 1], ends: [-1000000, 1000000], axes: [3, 1], steps: [-2, 1]}"),
               "y", 2, 2, 4, 3);
  EXPECT_SHAPE(WITH("{op: Squeeze, in: x, out: y}"), "y", 2, 3, 4, 5);
  EXPECT_SHAPE(WITH("{op: Unsqueeze, in: x, out: y, axes: [-1, 1]}"), "y", 2, 1, 3, 4, 5, 1);
  EXPECT_SHAPE(WITH("{op: Pad, in: x, out: y, pads: [0, 1, -1, 2, 0, 1, -1, 0]}"), "y", 2, 5, 2, 7);
  EXPECT_SHAPE(WITH("{op: ReduceMean, in: x, out: y, axes: [-1, 1], keepdims: 0}"), "y", 2, 4);
  EXPECT_SHAPE(WITH("{op: ReduceSum, in: x, out: y}"), "y", 1, 1, 1, 1);
  EXPECT_SHAPE(WITH("{op: Concat, in: [x, x], out: y, axis: -3}"), "y", 2, 6, 4, 5);
  EXPECT_SHAPE(WITH("{op: Split, in: x, out: [y, z], axis: 2}"), "y", 2, 3, 2, 5);
  EXPECT_SHAPE(WITH("{op: Split, in: x, out: [a, y], axis: 3, split: [1, 4]}"), "y", 2, 3, 4, 4);
#undef WITH
}

static void test_infer_linear(void) {
  EXPECT_SHAPE("name: t\ninputs:\n  a: {shape: [2, 1, 3, 4]}\n  b: {shape: [5, 4, 6]}\nnodes:\n"
               "  - {op: MatMul, in: [a, b], out: y}\noutputs: [y]\n", "y", 2, 5, 3, 6);
  EXPECT_SHAPE("name: t\ninputs:\n  a: {shape: [4]}\n  b: {shape: [3, 4, 6]}\nnodes:\n"
               "  - {op: MatMul, in: [a, b], out: y}\noutputs: [y]\n", "y", 3, 6);
  EXPECT_SHAPE("name: t\ninputs:\n  a: {shape: [4, 3]}\n  b: {shape: [5, 4]}\n  c: {shape: [1, 5]}\nnodes:\n"
               "  - {op: Gemm, in: [a, b, c], out: y, transA: 1, transB: 1}\noutputs: [y]\n", "y", 3, 5);
  EXPECT_SHAPE("name: t\ninputs:\n  a: {shape: [3, 1, 4]}\n  b: {shape: [2, 1]}\nnodes:\n"
               "  - {op: Sum, in: [a, b, a], out: y}\noutputs: [y]\n", "y", 3, 2, 4);
  EXPECT_SHAPE("name: t\ninputs:\n  e: {shape: [10, 4]}\n  i: {shape: [2, 3], dtype: int64}\nnodes:\n"
               "  - {op: Gather, in: [e, i], out: y}\noutputs: [y]\n", "y", 2, 3, 4);
}

static void test_batch_tracking(void) {
  /* The batch dimension survives Reshape 0, Flatten and an inferred -1; a
   * Concat along it or a reduction over it loses it. */
  const char *text = "name: t\ndims: {N: 3}\ninputs:\n  x: {shape: [N, 2, 2]}\nnodes:\n"
                     "  - {op: Flatten, in: x, out: f}\n"
                     "  - {op: Reshape, in: x, out: r, shape: [-1, 4]}\n"
                     "  - {op: Reshape, in: x, out: q, shape: [2, -1]}\n"
                     "  - {op: ReduceSum, in: x, out: s, axes: [0]}\n"
                     "outputs: [f, r, q, s]\n";
  compile_result r;
  CU_ASSERT_EQUAL_FATAL(compile_text(text, &r, NULL), 0);
  CU_ASSERT(find(&r, "x")->flags & RT_TF_BATCHED);
  CU_ASSERT(find(&r, "f")->flags & RT_TF_BATCHED);
  CU_ASSERT(find(&r, "r")->flags & RT_TF_BATCHED);
  CU_ASSERT_FALSE(find(&r, "q")->flags & RT_TF_BATCHED);
  CU_ASSERT_FALSE(find(&r, "s")->flags & RT_TF_BATCHED);
  CU_ASSERT_EQUAL(r.plan->batch_dim, 0);
  compile_free(&r);
}

static void test_any_order_and_dce(void) {
  /* Nodes out of order are sorted; a node nobody reads is dropped. */
  const char *text = HEAD "nodes:\n"
                     "  - {op: Neg, in: b, out: c}\n"
                     "  - {op: Exp, in: x, out: unused}\n"
                     "  - {op: Relu, in: x, out: b}\n"
                     "outputs: [c]\n";
  compile_result r;
  CU_ASSERT_EQUAL_FATAL(compile_text(text, &r, NULL), 0);
  CU_ASSERT_EQUAL(r.dce_removed, 1);
  CU_ASSERT_EQUAL(r.plan->n_steps, 2);
  CU_ASSERT_EQUAL(r.plan->nodes[0].op, RT_OP_RELU);
  CU_ASSERT_EQUAL(r.plan->nodes[1].op, RT_OP_NEG);
  CU_ASSERT_PTR_NULL(find(&r, "unused"));
  compile_free(&r);
}

static void test_yaml_scalars(void) {
  /* YAML 1.1 typing: 0x10 and 010 are integers, 1e-5 and .inf floats. */
  const char *text = HEAD "params:\n  v: {shape: [4], values: [0x10, 010, 1e-5, -.inf]}\nnodes:\n"
                     "  - {op: Add, in: [x, v], out: y}\noutputs: [y, v]\n";
  compile_result r;
  CU_ASSERT_EQUAL_FATAL(compile_text(text, &r, NULL), 0);
  const rt_tensor *v = find(&r, "v");
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  float got[4];
  memcpy(got, r.plan->param_data + v->data_offset, sizeof got);
  float want[4] = {16, 8, 1e-5f, -INFINITY};
  TST_ASSERT_CLOSE(got, want, 4, 0, 1e-7);
  compile_free(&r);
}

TST_SUITE(frontend, TST(test_yaml_errors), TST(test_dims_and_shapes), TST(test_dim_override),
          TST(test_node_errors), TST(test_cycle), TST(test_shape_errors), TST(test_param_errors),
          TST(test_weights_file), TST(test_infer_windows), TST(test_infer_layout),
          TST(test_infer_linear), TST(test_batch_tracking), TST(test_any_order_and_dce),
          TST(test_yaml_scalars))
