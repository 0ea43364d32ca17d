/*
 * test_e2e.c: the whole path, YAML -> plan.bin -> dlrun's CPU backend.
 *
 *  - every model in models/ compiles, streams its bundled data in batches
 *    (the last one padded) and matches the committed NumPy reference;
 *  - every model of ../shared/models/onnx-light compiles at N=1 and runs;
 *  - the slab layout is really used: two live tensors moved onto the same
 *    bytes give wrong numbers (and the verifier names them);
 *  - bad data directories get precise errors and leave no output behind.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile.h"
#include "npy.h"
#include "rt_backend.h"
#include "rt_run.h"
#include "tst.h"

/* Compile path to dir/plan.bin (with --dim overrides) and load it. */
static int build(const char *path, const char *dir, const model_dim_override *dims, int n_dims,
                 rt_plan *p) {
  char plan[1024], err[1024];
  snprintf(plan, sizeof plan, "%s/plan.bin", dir);
  compile_options o = {0};
  o.model_path = path;
  o.plan_path = plan;
  o.time_limit_s = 2;
  o.model.dim_overrides = dims;
  o.model.n_dim_overrides = n_dims;
  compile_result r;
  int rc = compile_model(&o, &r, stderr);
  compile_free(&r);
  if (rc) return -1;
  if (rt_plan_read(plan, p, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  if (rt_plan_verify_memory(p, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    rt_plan_free(p);
    return -1;
  }
  return 0;
}

static int run(const rt_plan *p, const char *data, const char *out, char *err, size_t err_size) {
  rt_backend *b = rt_cpu_backend_create(p, 2, err, err_size);
  if (!b) return -1;
  rt_run_options o = {.data_dir = data, .out_dir = out};
  rt_run_stats st;
  int rc = rt_run(p, b, &o, &st, err, err_size);
  b->destroy(b);
  return rc;
}

/* Read a float32 .npy fully (malloc'd); n receives the element count. */
static float *load_f32(const char *path, size_t *n) {
  rt_npy_reader r;
  char err[512];
  if (rt_npy_open(path, &r, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return NULL;
  }
  float *v = malloc(r.info.data_bytes + 4);
  if (r.info.dtype != RT_F32 || rt_npy_read_rows(&r, 0, r.n_rows, v, err, sizeof err)) {
    free(v);
    v = NULL;
  }
  *n = r.info.data_bytes / 4;
  rt_npy_close(&r);
  return v;
}

/* Entries in dir, hidden temporaries included. */
static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return 0;
  for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

/* Outputs in out_dir equal the committed expected/ ones of models/<name>. */
static void check_model(const char *name, const char *yaml, const char *const *outputs, double rtol) {
  const char *dir = tst_tmpdir();
  char path[1024], data[1024], out[1024], err[1024];
  snprintf(path, sizeof path, "%s/models/%s/%s", DLC_SOURCE_DIR, name, yaml);
  snprintf(data, sizeof data, "%s/models/%s/data", DLC_SOURCE_DIR, name);
  snprintf(out, sizeof out, "%s/out", dir);
  rt_plan p;
  CU_ASSERT_EQUAL_FATAL(build(path, dir, NULL, 0, &p), 0);
  int rc = run(&p, data, out, err, sizeof err);
  if (rc) fprintf(stderr, "%s: %s\n", name, err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  for (int i = 0; outputs[i]; i++) {
    char got_path[1100], want_path[1100];
    snprintf(got_path, sizeof got_path, "%s/%s.npy", out, outputs[i]);
    snprintf(want_path, sizeof want_path, "%s/models/%s/expected/%s.npy", DLC_SOURCE_DIR, name, outputs[i]);
    size_t ng = 0, nw = 0;
    float *got = load_f32(got_path, &ng), *want = load_f32(want_path, &nw);
    CU_ASSERT_PTR_NOT_NULL(got);
    CU_ASSERT_PTR_NOT_NULL(want);
    CU_ASSERT_EQUAL(ng, nw);
    if (got && want && ng == nw) TST_ASSERT_CLOSE(got, want, ng, 1e-5, rtol);
    free(got);
    free(want);
  }
  rt_plan_free(&p);
  tst_rmtree(dir);
}

static void test_models_mlp(void) {
  const char *outs[] = {"logits", "probs", NULL};
  check_model("mlp", "mlp.yaml", outs, 1e-4);
}

static void test_models_cnn(void) {
  const char *outs[] = {"probs", NULL};
  check_model("cnn", "cnn.yaml", outs, 1e-4);
}

static void test_models_transformer(void) {
  const char *outs[] = {"y", NULL};
  check_model("transformer", "transformer.yaml", outs, 1e-4);
}

/* The zoo (tools/make_zoo.py): references from tools/dlc_ref.py. */
static void test_models_zoo(void) {
  const char *lenet[] = {"logits", "probs", NULL}, *logits[] = {"logits", NULL}, *y[] = {"y", NULL};
  check_model("lenet", "lenet.yaml", lenet, 1e-4);
  check_model("resnet18", "resnet18.yaml", logits, 1e-4);
  check_model("mobilenetv2", "mobilenetv2.yaml", logits, 1e-4);
  check_model("bert_layer", "bert_layer.yaml", y, 1e-4);
  check_model("gpt2_block", "gpt2_block.yaml", y, 1e-4);
}

/* Write a deterministic random float32 input file. */
static void write_input(const char *dir, const rt_tensor *t, int64_t m) {
  char file[300], err[512];
  CU_ASSERT_EQUAL_FATAL(rt_npy_filename(t->name, file, sizeof file), 0);
  int64_t dims[RT_MAX_RANK];
  memcpy(dims, t->dims, sizeof dims);
  if (m >= 0) dims[0] = m;
  size_t n = (size_t)rt_numel(t->rank, dims);
  float *v = malloc(n * 4 + 4);
  tst_fill_uniform(v, n, -1, 1, 7);
  rt_npy_writer w;
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, file, RT_F32, t->rank, dims, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, v, n * 4, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_commit(&w, err, sizeof err), 0);
  free(v);
}

static void test_onnx_light(void) {
  char shared[1024];
  snprintf(shared, sizeof shared, "%s/../shared/models/onnx-light", DLC_SOURCE_DIR);
  DIR *d = opendir(shared);
  if (!d) {
    fprintf(stderr, "  (skipped: %s not found)\n", shared);
    return;
  }
  int models = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
    const char *dir = tst_tmpdir();
    char path[1400], data[1024], out[1024], err[1024];
    snprintf(path, sizeof path, "%s/%s", shared, e->d_name);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    model_dim_override n1 = {"N", 1};
    rt_plan p;
    int rc = build(path, dir, &n1, 1, &p);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc) {
      fprintf(stderr, "  %s does not compile\n", e->d_name);
      continue;
    }
    CU_ASSERT_EQUAL(mkdir(data, 0777), 0);
    for (uint32_t i = 0; i < p.n_inputs; i++) write_input(data, &p.tensors[p.inputs[i]], -1);
    rc = run(&p, data, out, err, sizeof err);
    if (rc) fprintf(stderr, "  %s: %s\n", e->d_name, err);
    CU_ASSERT_EQUAL(rc, 0);
    /* every output is there, finite */
    for (uint32_t i = 0; rc == 0 && i < p.n_outputs; i++) {
      char file[300], op[1400];
      rt_npy_filename(p.tensors[p.outputs[i]].name, file, sizeof file);
      snprintf(op, sizeof op, "%s/%s", out, file);
      size_t n = 0;
      float *v = load_f32(op, &n);
      CU_ASSERT_PTR_NOT_NULL(v);
      CU_ASSERT_EQUAL(n, p.tensors[p.outputs[i]].bytes / 4);
      int finite = 1;
      for (size_t k = 0; v && k < n; k++) finite &= isfinite(v[k]) != 0;
      CU_ASSERT(finite);
      free(v);
    }
    models++;
    rt_plan_free(&p);
    tst_rmtree(dir);
  }
  closedir(d);
  CU_ASSERT(models >= 9);
}

/* Moving a live tensor onto another's bytes changes the result: the CPU
 * backend really uses the planned offsets. The verifier catches it too. */
static void test_offsets_matter(void) {
  const char *dir = tst_tmpdir();
  char path[1024], data[1024], out[1024], err[1024];
  snprintf(path, sizeof path, "%s/models/cnn/cnn.yaml", DLC_SOURCE_DIR);
  snprintf(data, sizeof data, "%s/models/cnn/data", DLC_SOURCE_DIR);
  snprintf(out, sizeof out, "%s/out", dir);
  rt_plan p;
  CU_ASSERT_EQUAL_FATAL(build(path, dir, NULL, 0, &p), 0);
  /* the residual input p1 is alive while the block computes; put the
   * block's first activation on top of it */
  rt_tensor *p1 = NULL, *ra = NULL;
  for (uint32_t i = 0; i < p.n_tensors; i++) {
    if (!strcmp(p.tensors[i].name, "p1")) p1 = &p.tensors[i];
    if (!strcmp(p.tensors[i].name, "rar")) ra = &p.tensors[i];
  }
  CU_ASSERT_FATAL(p1 && ra);
  ra->offset = p1->offset;
  CU_ASSERT_NOT_EQUAL(rt_plan_verify_memory(&p, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "p1"));
  CU_ASSERT_EQUAL_FATAL(run(&p, data, out, err, sizeof err), 0);
  char got_path[1100], want_path[1100];
  snprintf(got_path, sizeof got_path, "%s/probs.npy", out);
  snprintf(want_path, sizeof want_path, "%s/models/cnn/expected/probs.npy", DLC_SOURCE_DIR);
  size_t ng, nw;
  float *got = load_f32(got_path, &ng), *want = load_f32(want_path, &nw);
  CU_ASSERT_FATAL(got && want && ng == nw);
  CU_ASSERT(tst_err(got, want, ng, 1e-5, 1e-4) > 1);
  free(got);
  free(want);
  rt_plan_free(&p);
  tst_rmtree(dir);
}

static const char *batch_model =
    "name: b\ndims: {N: 4}\ninputs:\n  x: {shape: [N, 3]}\n  s: {shape: [3]}\n"
    "nodes:\n  - {op: Mul, in: [x, s], out: y}\n  - {op: ReduceSum, in: x, out: t, axes: [0], keepdims: 0}\n"
    "outputs: [y]\n";

static void write_model(const char *dir, const char *text, char *path, size_t size) {
  snprintf(path, size, "%s/m.yaml", dir);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

static void write_floats(const char *dir, const char *name, int rank, const int64_t *dims,
                         const float *v, int dtype) {
  char err[512];
  rt_npy_writer w;
  CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, name, dtype, rank, dims, err, sizeof err), 0);
  size_t n = (size_t)rt_numel(rank, dims) * rt_dtype_size(dtype);
  CU_ASSERT_EQUAL(rt_npy_writer_write(&w, v, n, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_writer_commit(&w, err, sizeof err), 0);
}

/* 7 samples through batches of 4: 2 batches, the padding dropped. */
static void test_batching(void) {
  const char *dir = tst_tmpdir();
  char path[1024], data[1024], out[1024], err[1024];
  write_model(dir, batch_model, path, sizeof path);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(out, sizeof out, "%s/out/nested", dir);
  mkdir(data, 0777);
  rt_plan p;
  CU_ASSERT_EQUAL_FATAL(build(path, dir, NULL, 0, &p), 0);
  float x[21], s[3] = {1, 10, 100};
  for (int i = 0; i < 21; i++) x[i] = (float)i;
  int64_t dx[2] = {7, 3}, ds[1] = {3};
  write_floats(data, "x.npy", 2, dx, x, RT_F32);
  write_floats(data, "s.npy", 1, ds, s, RT_F32);
  CU_ASSERT_EQUAL_FATAL(run(&p, data, out, err, sizeof err), 0);
  char yp[1100];
  snprintf(yp, sizeof yp, "%s/y.npy", out);
  size_t n;
  float *y = load_f32(yp, &n);
  CU_ASSERT_EQUAL_FATAL(n, 21);
  float want[21];
  for (int i = 0; i < 21; i++) want[i] = x[i] * s[i % 3];
  TST_ASSERT_CLOSE(y, want, 21, 0, 0);
  free(y);

  /* Errors: each leaves the output directory without new files. */
  char out2[1024];
  snprintf(out2, sizeof out2, "%s/out2", dir);
  int64_t ds_bad[1] = {4};
  write_floats(data, "s.npy", 1, ds_bad, x, RT_F32);
  CU_ASSERT_EQUAL(run(&p, data, out2, err, sizeof err), RT_EXIT_DATA);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "has shape (4,) but input 's' needs (3,)"));
  CU_ASSERT_EQUAL(count_files(out2), 0);
  uint16_t h[3] = {0x3c00, 0x3c00, 0x3c00};
  write_floats(data, "s.npy", 1, ds, (const float *)h, RT_F16);
  CU_ASSERT_EQUAL(run(&p, data, out2, err, sizeof err), RT_EXIT_DATA);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "but input 's' is float32"));
  unlink(yp);
  char sp[1100];
  snprintf(sp, sizeof sp, "%s/s.npy", data);
  unlink(sp);
  CU_ASSERT_EQUAL(run(&p, data, out2, err, sizeof err), RT_EXIT_DATA);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "s.npy: missing"));
  CU_ASSERT_EQUAL(run(&p, "/nonexistent/dir", out2, err, sizeof err), RT_EXIT_DATA);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
  CU_ASSERT_EQUAL(count_files(out2), 0);
  rt_plan_free(&p);
  tst_rmtree(dir);
}

static void test_sample_counts_differ(void) {
  const char *dir = tst_tmpdir();
  char path[1024], data[1024], out[1024], err[1024];
  write_model(dir, "name: b\ndims: {N: 2}\ninputs:\n  a: {shape: [N, 2]}\n  b: {shape: [N, 2]}\n"
                   "nodes:\n  - {op: Add, in: [a, b], out: y}\noutputs: [y]\n", path, sizeof path);
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  mkdir(data, 0777);
  rt_plan p;
  CU_ASSERT_EQUAL_FATAL(build(path, dir, NULL, 0, &p), 0);
  float v[10] = {0};
  int64_t d5[2] = {5, 2}, d4[2] = {4, 2};
  write_floats(data, "a.npy", 2, d5, v, RT_F32);
  write_floats(data, "b.npy", 2, d4, v, RT_F32);
  CU_ASSERT_EQUAL(run(&p, data, out, err, sizeof err), RT_EXIT_DATA);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "different numbers of samples"));
  CU_ASSERT_EQUAL(count_files(out), 0);
  rt_plan_free(&p);
  tst_rmtree(dir);
}

TST_SUITE(e2e, TST(test_models_mlp), TST(test_models_cnn), TST(test_models_transformer),
          TST(test_models_zoo),
          TST(test_onnx_light), TST(test_offsets_matter), TST(test_batching),
          TST(test_sample_counts_differ))
