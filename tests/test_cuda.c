/*
 * test_cuda.c: the CUDA backend and dlrun's device handling, run on the CPU
 * against the fake driver and fake cuBLASLt of tests/fakecuda/.
 *
 * The plans are written by hand here (tensors, nodes, steps and the GPU
 * launches for them), saved and read back as plan.bin, and run twice over
 * the same data: by the CPU backend, which runs the nodes, and by the CUDA
 * backend, which runs only the launches. The outputs must agree, which
 * checks the slab and params addressing, the kernel arguments, the GEMM
 * mapping to column-major cuBLASLt (transposes, strided batches, alpha and
 * beta, bias/ReLU/GELU epilogues, float16 and bfloat16), the staging and
 * double buffering over many padded batches (the fake runs queued work as
 * late as a GPU may, so a missing wait gives stale data), and the graph
 * replay. The fake's counters check that every kernel ran inside a graph,
 * that nothing was allocated after start-up, that copies used pinned memory
 * and that everything was released. Then every failure switch of the fake:
 * no driver, no device, out of device or pinned memory, a kernel fault,
 * an old card that needs the PTX, a JIT failure, and plans without (or with
 * incomplete) GPU code, in process and through dlrun's exit codes and
 * messages, with no output file left behind.
 */
#include <dlfcn.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fakecuda/fakecuda.h"
#include "npy.h"
#include "test_cuda.h"
#include "rt_backend.h"
#include "rt_cuda_api.h"
#include "rt_ops.h"
#include "rt_run.h"
#include "tst.h"

/* --- building plans by hand --- */

enum { B = -1 }; /* in a shape: the batch dimension N */

typedef struct pb {
  rt_plan p;
  rt_tensor t[48];
  rt_node n[24];
  rt_step s[12];
  rt_launch l[12];
  int32_t args[512];
  int64_t ints[256];
  float floats[64];
  int32_t in[8], out[8];
  rt_dim dim;
  uint64_t slab, params;
} pb;

static const char fake_cubin[] = "FAKECUBIN sm_90: the kernels of tests/fakecuda/test_kernels.c";
static const char fake_ptx[] = "// fake PTX: the kernels of tests/fakecuda/test_kernels.c\n.version 8.0\n.target sm_80\n";

static void pb_init(pb *b, const char *name, int64_t n) {
  memset(b, 0, sizeof *b);
  b->dim = (rt_dim){"N", n};
  rt_plan *p = &b->p;
  p->model = name;
  p->alignment = 256;
  p->batch_dim = 0;
  p->dims = &b->dim;
  p->n_dims = 1;
  p->tensors = b->t;
  p->nodes = b->n;
  p->steps = b->s;
  p->launches = b->l;
  p->args = b->args;
  p->ints = b->ints;
  p->floats = b->floats;
  p->inputs = b->in;
  p->outputs = b->out;
  p->cubin = (const uint8_t *)fake_cubin;
  p->cubin_bytes = sizeof fake_cubin;
  p->cubin_arch = 90;
  p->ptx = fake_ptx;
  p->ptx_bytes = sizeof fake_ptx;
}

static uint64_t align256(uint64_t x) { return (x + 255) & ~(uint64_t)255; }

/* A tensor; the dims are ints, B for the batch dimension. */
static int pb_tensor(pb *b, const char *name, int kind, int dtype, int rank, ...) {
  int id = (int)b->p.n_tensors++;
  rt_tensor *t = &b->t[id];
  t->name = name;
  t->kind = kind;
  t->dtype = dtype;
  t->rank = rank;
  t->alias_of = -1;
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) {
    int d = va_arg(ap, int);
    if (d == B) t->flags |= RT_TF_BATCHED;
    t->dims[i] = d == B ? b->dim.value : d;
  }
  va_end(ap);
  t->bytes = (uint64_t)rt_numel(rank, t->dims) * rt_dtype_size(dtype);
  if (kind == RT_KIND_FUSED) {
    t->offset = RT_NO_OFFSET;
  } else if (kind == RT_KIND_PARAM) {
    t->offset = b->params;
    b->params += align256(t->bytes);
    t->init = RT_INIT_UNIFORM;
    t->init_a = -1;
    t->init_b = 1;
    t->init_seed = (uint64_t)id + 1;
  } else {
    t->offset = b->slab;
    b->slab += align256(t->bytes);
  }
  if (kind == RT_KIND_INPUT) b->in[b->p.n_inputs++] = id;
  if (kind == RT_KIND_WORKSPACE) b->p.workspace_bytes += align256(t->bytes);
  return id;
}

static int pb_view(pb *b, const char *name, int of, int rank, ...) {
  int id = (int)b->p.n_tensors++;
  rt_tensor *t = &b->t[id];
  *t = b->t[of];
  t->name = name;
  t->rank = rank;
  t->alias_of = of;
  t->alias_kind = RT_ALIAS_VIEW;
  t->flags &= ~RT_TF_OUTPUT;
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) {
    int d = va_arg(ap, int);
    t->dims[i] = d == B ? b->dim.value : d;
  }
  va_end(ap);
  return id;
}

static void pb_output(pb *b, int id) {
  b->t[id].flags |= RT_TF_OUTPUT;
  b->out[b->p.n_outputs++] = id;
}

static int pb_node(pb *b, int op, const int *in, int n_in, const int *out, int n_out, const int64_t *ia, int n_ia,
                   const float *fa, int n_fa) {
  int k = (int)b->p.n_nodes++;
  rt_node *n = &b->n[k];
  n->op = op;
  n->name = rt_op_name(op);
  n->n_in = (uint32_t)n_in;
  n->n_out = (uint32_t)n_out;
  n->args = b->p.n_args;
  for (int i = 0; i < n_in; i++) b->args[b->p.n_args++] = in[i];
  for (int i = 0; i < n_out; i++) b->args[b->p.n_args++] = out[i];
  n->ia = b->p.n_ints;
  n->n_ia = (uint32_t)n_ia;
  for (int i = 0; i < n_ia; i++) b->ints[b->p.n_ints++] = ia[i];
  n->fa = b->p.n_floats;
  n->n_fa = (uint32_t)n_fa;
  for (int i = 0; i < n_fa; i++) b->floats[b->p.n_floats++] = fa[i];
  return k;
}

/* A step over nodes [first, first + count) and its launch; reads and writes
 * are what the nodes use from memory. */
static rt_launch *pb_step(pb *b, const char *kernel, int first, int count, int kind) {
  int s = (int)b->p.n_steps++;
  rt_step *st = &b->s[s];
  st->kernel = kernel;
  st->first_node = (uint32_t)first;
  st->n_nodes = (uint32_t)count;
  for (int pass = 0; pass < 2; pass++) {
    uint32_t start = b->p.n_args;
    for (int k = first; k < first + count; k++)
      for (uint32_t i = pass ? b->n[k].n_in : 0; i < (pass ? b->n[k].n_in + b->n[k].n_out : b->n[k].n_in); i++) {
        int32_t id = b->args[b->n[k].args + i];
        if (id < 0 || b->t[id].kind == RT_KIND_FUSED || b->t[id].kind == RT_KIND_PARAM) continue;
        b->args[b->p.n_args++] = id;
      }
    if (pass) st->writes = start, st->n_writes = b->p.n_args - start;
    else st->reads = start, st->n_reads = b->p.n_args - start;
  }
  rt_launch *l = &b->l[s];
  l->kind = kind;
  l->function = "";
  return l;
}

static void pb_launch_args(pb *b, rt_launch *l, const int *ids, int n) {
  l->args = b->p.n_args;
  l->n_args = (uint32_t)n;
  for (int i = 0; i < n; i++) b->args[b->p.n_args++] = ids[i];
}

static void pb_kernel(pb *b, const char *kernel, int first, int count, const char *fn, uint32_t grid, uint32_t block,
                      uint32_t shared, const int *ids, int n) {
  rt_launch *l = pb_step(b, kernel, first, count, RT_LAUNCH_KERNEL);
  l->function = fn;
  l->grid[0] = grid, l->grid[1] = l->grid[2] = 1;
  l->block[0] = block, l->block[1] = l->block[2] = 1;
  l->shared_bytes = shared;
  pb_launch_args(b, l, ids, n);
}

/* ia: trans_a, trans_b, m, n, k, batch, lda, ldb, ldc, stride_a, stride_b, stride_c, epilogue;
 * ids: A, B, C, D, bias, workspace. */
static void pb_gemm(pb *b, const char *kernel, int first, int count, const int64_t ia[RT_GEMM_IA], float alpha,
                    float beta, const int ids[RT_GEMM_ARGS]) {
  rt_launch *l = pb_step(b, kernel, first, count, RT_LAUNCH_GEMM);
  l->ia = b->p.n_ints;
  l->n_ia = RT_GEMM_IA;
  for (int i = 0; i < RT_GEMM_IA; i++) b->ints[b->p.n_ints++] = ia[i];
  l->fa = b->p.n_floats;
  l->n_fa = 2;
  b->floats[b->p.n_floats++] = alpha;
  b->floats[b->p.n_floats++] = beta;
  pb_launch_args(b, l, ids, RT_GEMM_ARGS);
}

static void pb_none(pb *b, const char *kernel, int first, int count) { pb_step(b, kernel, first, count, RT_LAUNCH_NONE); }

static void use(rt_tensor *t, int s) {
  if (t->first_step < 0 || s < t->first_step) t->first_step = s;
  if (s > t->last_step) t->last_step = s;
}

/* Lifetimes from the uses, sizes of the regions, then the plan's own checks. */
static void pb_finish(pb *b) {
  rt_plan *p = &b->p;
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    rt_tensor *t = &b->t[i];
    t->first_step = t->kind == RT_KIND_PARAM || t->kind == RT_KIND_INPUT ? 0 : -1;
    t->last_step = t->kind == RT_KIND_PARAM || (t->flags & RT_TF_OUTPUT) ? (int32_t)p->n_steps - 1 : 0;
  }
  for (uint32_t s = 0; s < p->n_steps; s++) {
    for (uint32_t k = p->steps[s].first_node; k < p->steps[s].first_node + p->steps[s].n_nodes; k++)
      for (uint32_t i = 0; i < p->nodes[k].n_in + p->nodes[k].n_out; i++)
        if (p->args[p->nodes[k].args + i] >= 0) use(&b->t[p->args[p->nodes[k].args + i]], (int)s);
    for (uint32_t i = 0; i < p->launches[s].n_args; i++)
      if (p->args[p->launches[s].args + i] >= 0) use(&b->t[p->args[p->launches[s].args + i]], (int)s);
  }
  for (uint32_t i = 0; i < p->n_tensors; i++) /* a view lives within its root */
    if (b->t[i].alias_of >= 0) {
      rt_tensor *root = &b->t[b->t[i].alias_of];
      use(root, b->t[i].first_step);
      use(root, b->t[i].last_step);
    }
  for (uint32_t i = 0; i < p->n_tensors; i++)
    if (b->t[i].kind == RT_KIND_PARAM) b->t[i].first_step = 0, b->t[i].last_step = (int32_t)p->n_steps - 1;
  p->slab_bytes = b->slab;
  p->params_bytes = b->params;
  p->lower_bound = b->slab;
  char err[512];
  if (rt_plan_check(p, err, sizeof err) || rt_plan_verify_memory(p, err, sizeof err)) {
    fprintf(stderr, "test plan '%s': %s\n", p->model, err);
    CU_FAIL_FATAL("the hand-written plan is invalid");
  }
}

/* x [N,8] and an unbatched s [16] in; outputs z [N,4,4], y2 [N,8], y4 [N,8]:
 *   0  h3 = Relu(x W1 + b1)          GEMM, bias+ReLU epilogue, workspace
 *   1  r = h3 + s                    kernel
 *   2  v = Reshape(r) [N,4,4]        no launch: a view
 *   3  z = v W3 (per sample)         strided batched GEMM, W3 shared
 *   4  y2 = 0.5 r W4^T + 2 C         GEMM with trans_b, alpha, beta and C
 *   5  y3 = Gelu_tanh(x W5 + b5)     GEMM, bias+GELU epilogue
 *   6  y4 = Identity(y3)             kernel with 64 KiB of dynamic shared memory */
static void build_mixed(pb *b, int64_t n) {
  pb_init(b, "mixed", n);
  int x = pb_tensor(b, "x", RT_KIND_INPUT, RT_F32, 2, B, 8);
  int s = pb_tensor(b, "s", RT_KIND_INPUT, RT_F32, 1, 16);
  int w1 = pb_tensor(b, "W1", RT_KIND_PARAM, RT_F32, 2, 8, 16);
  int b1 = pb_tensor(b, "b1", RT_KIND_PARAM, RT_F32, 1, 16);
  int w3 = pb_tensor(b, "W3", RT_KIND_PARAM, RT_F32, 2, 4, 4);
  int w4 = pb_tensor(b, "W4", RT_KIND_PARAM, RT_F32, 2, 8, 16);
  int c = pb_tensor(b, "C", RT_KIND_PARAM, RT_F32, 2, (int)n, 8);
  int w5 = pb_tensor(b, "W5", RT_KIND_PARAM, RT_F32, 2, 8, 8);
  int b5 = pb_tensor(b, "b5", RT_KIND_PARAM, RT_F32, 1, 8);
  int h1 = pb_tensor(b, "h1", RT_KIND_FUSED, RT_F32, 2, B, 16);
  int h2 = pb_tensor(b, "h2", RT_KIND_FUSED, RT_F32, 2, B, 16);
  int h3 = pb_tensor(b, "h3", RT_KIND_ACTIVATION, RT_F32, 2, B, 16);
  int r = pb_tensor(b, "r", RT_KIND_ACTIVATION, RT_F32, 2, B, 16);
  int v = pb_view(b, "v", r, 3, B, 4, 4);
  int z = pb_tensor(b, "z", RT_KIND_OUTPUT, RT_F32, 3, B, 4, 4);
  int y2 = pb_tensor(b, "y2", RT_KIND_OUTPUT, RT_F32, 2, B, 8);
  int g0 = pb_tensor(b, "g0", RT_KIND_FUSED, RT_F32, 2, B, 8);
  int g1 = pb_tensor(b, "g1", RT_KIND_FUSED, RT_F32, 2, B, 8);
  int y3 = pb_tensor(b, "y3", RT_KIND_ACTIVATION, RT_F32, 2, B, 8);
  int y4 = pb_tensor(b, "y4", RT_KIND_OUTPUT, RT_F32, 2, B, 8);
  int ws = pb_tensor(b, "ws", RT_KIND_WORKSPACE, RT_F32, 1, 2048);
  pb_output(b, z);
  pb_output(b, y2);
  pb_output(b, y4);
  int N = (int)n;

  pb_node(b, RT_OP_MATMUL, (int[]){x, w1}, 2, (int[]){h1}, 1, NULL, 0, NULL, 0);
  pb_node(b, RT_OP_ADD, (int[]){h1, b1}, 2, (int[]){h2}, 1, NULL, 0, NULL, 0);
  pb_node(b, RT_OP_RELU, (int[]){h2}, 1, (int[]){h3}, 1, NULL, 0, NULL, 0);
  pb_gemm(b, "matmul_bias_relu", 0, 3, (int64_t[]){0, 0, N, 16, 8, 1, 8, 16, 16, 0, 0, 0, RT_GEMM_EPI_BIAS_RELU},
          1, 0, (int[]){x, w1, -1, h3, b1, ws});
  pb_node(b, RT_OP_ADD, (int[]){h3, s}, 2, (int[]){r}, 1, NULL, 0, NULL, 0);
  pb_kernel(b, "add_s", 3, 1, "bias_f32_16", 2, (uint32_t)n * 8, 0, (int[]){h3, s, r}, 3);
  pb_node(b, RT_OP_RESHAPE, (int[]){r}, 1, (int[]){v}, 1, NULL, 0, NULL, 0);
  pb_none(b, "reshape", 4, 1);
  pb_node(b, RT_OP_MATMUL, (int[]){v, w3}, 2, (int[]){z}, 1, NULL, 0, NULL, 0);
  pb_gemm(b, "batched_matmul", 5, 1, (int64_t[]){0, 0, 4, 4, 4, N, 4, 4, 4, 16, 0, 16, RT_GEMM_EPI_NONE}, 1, 0,
          (int[]){v, w3, -1, z, -1, -1});
  pb_node(b, RT_OP_GEMM, (int[]){r, w4, c}, 3, (int[]){y2}, 1, (int64_t[]){0, 1}, 2, (float[]){0.5f, 2.0f}, 2);
  pb_gemm(b, "gemm_tb", 6, 1, (int64_t[]){0, 1, N, 8, 16, 1, 16, 16, 8, 0, 0, 0, RT_GEMM_EPI_NONE}, 0.5f, 2.0f,
          (int[]){r, w4, c, y2, -1, ws});
  pb_node(b, RT_OP_MATMUL, (int[]){x, w5}, 2, (int[]){g0}, 1, NULL, 0, NULL, 0);
  pb_node(b, RT_OP_ADD, (int[]){g0, b5}, 2, (int[]){g1}, 1, NULL, 0, NULL, 0);
  pb_node(b, RT_OP_GELU, (int[]){g1}, 1, (int[]){y3}, 1, (int64_t[]){1}, 1, NULL, 0);
  pb_gemm(b, "matmul_bias_gelu", 7, 3, (int64_t[]){0, 0, N, 8, 8, 1, 8, 8, 8, 0, 0, 0, RT_GEMM_EPI_BIAS_GELU}, 1,
          0, (int[]){x, w5, -1, y3, b5, ws});
  pb_node(b, RT_OP_IDENTITY, (int[]){y3}, 1, (int[]){y4}, 1, NULL, 0, NULL, 0);
  pb_kernel(b, "copy", 10, 1, "copy_smem_f32", 1, (uint32_t)n * 8, 64 << 10, (int[]){y3, y4}, 2);
  pb_finish(b);
}

/* x [N,8] in dtype; y = Relu(Relu(x W + b)): a GEMM with its bias+ReLU
 * epilogue, then (float16 only) a kernel; y [N,16] out. */
static void build_half(pb *b, int dtype, int64_t n) {
  pb_init(b, dtype == RT_F16 ? "half" : "bhalf", n);
  int N = (int)n;
  int x = pb_tensor(b, "x", RT_KIND_INPUT, dtype, 2, B, 8);
  int w = pb_tensor(b, "W", RT_KIND_PARAM, dtype, 2, 8, 16);
  int bias = pb_tensor(b, "b", RT_KIND_PARAM, dtype, 1, 16);
  int h1 = pb_tensor(b, "h1", RT_KIND_FUSED, dtype, 2, B, 16);
  int h2 = pb_tensor(b, "h2", RT_KIND_FUSED, dtype, 2, B, 16);
  int h3 = pb_tensor(b, dtype == RT_F16 ? "h3" : "y", dtype == RT_F16 ? RT_KIND_ACTIVATION : RT_KIND_OUTPUT,
                     dtype, 2, B, 16);
  pb_node(b, RT_OP_MATMUL, (int[]){x, w}, 2, (int[]){h1}, 1, NULL, 0, NULL, 0);
  pb_node(b, RT_OP_ADD, (int[]){h1, bias}, 2, (int[]){h2}, 1, NULL, 0, NULL, 0);
  pb_node(b, RT_OP_RELU, (int[]){h2}, 1, (int[]){h3}, 1, NULL, 0, NULL, 0);
  pb_gemm(b, "matmul_bias_relu", 0, 3, (int64_t[]){0, 0, N, 16, 8, 1, 8, 16, 16, 0, 0, 0, RT_GEMM_EPI_BIAS_RELU},
          1, 0, (int[]){x, w, -1, h3, bias, -1});
  if (dtype == RT_F16) {
    int y = pb_tensor(b, "y", RT_KIND_OUTPUT, dtype, 2, B, 16);
    pb_output(b, y);
    pb_node(b, RT_OP_RELU, (int[]){h3}, 1, (int[]){y}, 1, NULL, 0, NULL, 0);
    pb_kernel(b, "relu", 3, 1, "relu_f16", (uint32_t)n, 16, 0, (int[]){h3, y}, 2);
  } else {
    pb_output(b, h3);
  }
  pb_finish(b);
}

/* --- running --- */

static char data_dir[512];
static fakecuda_get_stats_fn get_stats;

/* The kernels of the plans above, CUDA C compiled for the host against the
 * code generator's shim (once per run). */
static const char *test_kernels(void) {
  static char path[600];
  if (!path[0] && tcu_build_kernels(DLC_SOURCE_DIR "/tests/fakecuda/test_kernels.cu", "libdlc_test_kernels.so", path,
                                    sizeof path)) {
    path[0] = 0;
    CU_FAIL_FATAL("building the test kernels against codegen/shim/cuda_shim.h failed");
  }
  return path;
}

int tcu_build_kernels(const char *source, const char *name, char *path, size_t size) {
  char cmd[2048];
  snprintf(path, size, "%s/%s", DLC_FAKECUDA_DIR, name);
  snprintf(cmd, sizeof cmd, "sh '%s/tests/fakecuda/build_kernels.sh' '%s' '%s'", DLC_SOURCE_DIR, source, path);
  return system(cmd) == 0 ? 0 : -1;
}

static void set_fake_env(void) {
  setenv("DLC_LIBCUDA", DLC_FAKE_LIBCUDA, 1);
  setenv("DLC_LIBCUBLASLT", DLC_FAKE_LIBCUBLASLT, 1);
  setenv("DLC_FAKE_CUDA_KERNELS", test_kernels(), 1);
  static const char *const switches[] = {"DLC_FAKE_CUDA_DEVICES", "DLC_FAKE_CUDA_CC", "DLC_FAKE_CUDA_MEM_TOTAL",
                                         "DLC_FAKE_CUDA_MEM_FREE", "DLC_FAKE_CUDA_FAIL_LAUNCH",
                                         "DLC_FAKE_CUDA_FAIL_JIT", "DLC_FAKE_CUDA_FAIL_HOSTALLOC"};
  for (size_t i = 0; i < sizeof switches / sizeof *switches; i++) unsetenv(switches[i]);
}

static fakecuda_stats stats(void) {
  fakecuda_stats s;
  memset(&s, 0, sizeof s);
  if (!get_stats) {
    void *lib = dlopen(DLC_FAKE_LIBCUDA, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    void *fn = lib ? dlsym(lib, "fakecuda_get_stats") : NULL;
    if (fn) memcpy(&get_stats, &fn, sizeof fn);
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL(get_stats);
  get_stats(&s);
  return s;
}

static fakecublaslt_info lt_info(void) {
  fakecublaslt_info s;
  memset(&s, 0, sizeof s);
  void *lib = dlopen(DLC_FAKE_LIBCUBLASLT, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  void *fn = lib ? dlsym(lib, "fakecublaslt_last") : NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL(fn);
  fakecublaslt_last_fn f;
  memcpy(&f, &fn, sizeof fn);
  f(&s);
  return s;
}

/* Write plan p to dir/name.plan and read it back, checked like dlrun does. */
static void save_load(const rt_plan *p, const char *path, rt_plan *out) {
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_plan_write(p, path, err, sizeof err), 0);
  if (rt_plan_read(path, out, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    CU_FAIL_FATAL("the hand-written plan does not read back");
  }
  CU_ASSERT_EQUAL_FATAL(rt_plan_verify_memory(out, err, sizeof err), 0);
}

/* dir/<input>.npy for every input: m samples of pseudo-random values. */
static void write_inputs(const rt_plan *p, const char *dir, int64_t m, uint64_t seed) {
  char err[512], file[300];
  for (uint32_t i = 0; i < p->n_inputs; i++) {
    const rt_tensor *t = &p->tensors[p->inputs[i]];
    int64_t dims[RT_MAX_RANK];
    memcpy(dims, t->dims, sizeof dims);
    if (t->flags & RT_TF_BATCHED) dims[0] = m;
    size_t numel = (size_t)rt_numel(t->rank, dims);
    float *v = malloc(numel * 4 + 4);
    tst_fill_uniform(v, numel, -2, 2, seed + i);
    uint16_t *h = malloc(numel * 2 + 2);
    for (size_t k = 0; k < numel; k++) h[k] = t->dtype == RT_F16 ? rt_f32_to_f16(v[k]) : rt_f32_to_bf16(v[k]);
    rt_npy_writer w;
    CU_ASSERT_EQUAL_FATAL(rt_npy_filename(t->name, file, sizeof file), 0);
    CU_ASSERT_EQUAL_FATAL(rt_npy_writer_open(&w, dir, file, (rt_dtype)t->dtype, t->rank, dims, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(rt_npy_writer_write(&w, t->dtype == RT_F32 ? (void *)v : (void *)h,
                                              numel * rt_dtype_size(t->dtype), err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(rt_npy_writer_commit(&w, err, sizeof err), 0);
    free(v);
    free(h);
  }
}

float *tcu_load_npy(const char *dir, const char *name, size_t *n) {
  char path[1024], err[512], file[300];
  rt_npy_filename(name, file, sizeof file);
  snprintf(path, sizeof path, "%s/%s", dir, file);
  rt_npy_reader r;
  if (rt_npy_open(path, &r, err, sizeof err)) return NULL;
  size_t es = rt_dtype_size(r.info.dtype), count = r.info.data_bytes / es;
  uint8_t *raw = malloc(r.info.data_bytes + 8);
  float *v = malloc(count * 4 + 4);
  if (rt_npy_read_rows(&r, 0, r.n_rows, raw, err, sizeof err)) count = 0;
  for (size_t i = 0; i < count; i++) {
    uint16_t h = 0;
    if (r.info.dtype == RT_F32) memcpy(&v[i], raw + i * 4, 4);
    else memcpy(&h, raw + i * 2, 2), v[i] = r.info.dtype == RT_F16 ? rt_f16_to_f32(h) : rt_bf16_to_f32(h);
  }
  rt_npy_close(&r);
  free(raw);
  *n = count;
  return v;
}

/* Run p over data with b into out; returns rt_run's status. */
static int run_with(const rt_plan *p, rt_backend *b, const char *data, const char *out, char *err, size_t err_size) {
  rt_run_options o = {.data_dir = data, .out_dir = out};
  rt_run_stats st;
  int rc = rt_run(p, b, &o, &st, err, err_size);
  if (rc) fprintf(stderr, "rt_run: %s\n", err);
  return rc;
}

static rt_backend *cuda_backend(const rt_plan *p, rt_cuda_status *status, char *err, size_t err_size) {
  rt_backend *b = rt_cuda_backend_create(p, 2, status, err, err_size);
  return b;
}

/* Every output of dir a equals dir b within atol + rtol |b|. */
static void assert_same_outputs(const rt_plan *p, const char *a, const char *b, double rtol, double atol) {
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    const char *name = p->tensors[p->outputs[i]].name;
    size_t na = 0, nb = 0;
    float *va = tcu_load_npy(a, name, &na), *vb = tcu_load_npy(b, name, &nb);
    CU_ASSERT_PTR_NOT_NULL_FATAL(va);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vb);
    CU_ASSERT_EQUAL_FATAL(na, nb);
    CU_ASSERT(na > 0);
    if (tst_err(va, vb, na, atol, rtol) > 1) fprintf(stderr, "output '%s' differs\n", name);
    TST_ASSERT_CLOSE(va, vb, na, atol, rtol);
    free(va);
    free(vb);
  }
}

/* Files in dir, hidden temporaries included. */
static int count_files(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

/* The plan run on the CPU and on the fake GPU over m samples: outputs agree
 * (float32: 1e-4 relative; half precision: 1e-2 relative, plus 5e-3 absolute
 * because the CPU rounds every intermediate of a fused group to the tensor's
 * type while cuBLASLt rounds once after its epilogue), and the fake saw what
 * the design promises. */
static void check_against_cpu(const rt_plan *p, int64_t m, double rtol, int kernels_per_batch, int gemms_per_batch) {
  const char *dir = tst_tmpdir();
  char data[600], cpu_out[600], gpu_out[600], err[1024];
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(cpu_out, sizeof cpu_out, "%s/cpu", dir);
  snprintf(gpu_out, sizeof gpu_out, "%s/gpu", dir);
  CU_ASSERT_EQUAL_FATAL(mkdir(data, 0777), 0);
  write_inputs(p, data, m, 42);

  rt_backend *cpu = rt_cpu_backend_create(p, 2, err, sizeof err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(cpu);
  CU_ASSERT_EQUAL(run_with(p, cpu, data, cpu_out, err, sizeof err), RT_EXIT_OK);
  cpu->destroy(cpu);

  rt_cuda_status status;
  fakecuda_stats at_start = stats();
  rt_backend *gpu = cuda_backend(p, &status, err, sizeof err);
  if (!gpu) fprintf(stderr, "cuda backend: %s\n", err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(gpu);
  CU_ASSERT_EQUAL(status, RT_CUDA_OK);
  CU_ASSERT_STRING_EQUAL(gpu->name, "cuda");
  CU_ASSERT(strstr(gpu->device, "dlc fake GPU") != NULL);
  CU_ASSERT_EQUAL(gpu->slots, 2);
  fakecuda_stats before = stats();
  CU_ASSERT_EQUAL(before.graphs_captured % 2, 0); /* one graph per staging slot */
  CU_ASSERT_EQUAL(before.kernels_uncaptured - at_start.kernels_uncaptured, kernels_per_batch); /* the warm-up */
  CU_ASSERT_EQUAL(before.kernels_run - at_start.kernels_run, kernels_per_batch);
  CU_ASSERT_EQUAL(before.host_fns_run - at_start.host_fns_run, gemms_per_batch);
  CU_ASSERT_EQUAL(run_with(p, gpu, data, gpu_out, err, sizeof err), RT_EXIT_OK);
  fakecuda_stats after = stats();
  int64_t n = p->dims[p->batch_dim].value, batches = (m + n - 1) / n;
  CU_ASSERT_EQUAL(after.dev_allocs, before.dev_allocs);   /* nothing allocated per batch */
  CU_ASSERT_EQUAL(after.host_allocs, before.host_allocs);
  CU_ASSERT_EQUAL(after.kernels_uncaptured, before.kernels_uncaptured); /* every batch from a graph */
  CU_ASSERT_EQUAL(after.graph_launches - before.graph_launches, batches);
  CU_ASSERT_EQUAL(after.kernels_run - before.kernels_run, batches * kernels_per_batch);
  CU_ASSERT_EQUAL(after.host_fns_run - before.host_fns_run, batches * gemms_per_batch);
  CU_ASSERT_EQUAL(after.async_copies - before.async_copies, 2 * batches); /* one up, one down */
  CU_ASSERT_EQUAL(after.pageable_async, 0);
  CU_ASSERT_EQUAL(after.sync_calls, before.sync_calls);
  /* the profile runs each step alone, outside the graphs, allocating nothing */
  double ms[512];
  CU_ASSERT_FATAL(p->n_steps <= 512);
  CU_ASSERT_EQUAL(gpu->profile(gpu, 3, ms, err, sizeof err), 0);
  fakecuda_stats prof = stats();
  CU_ASSERT_EQUAL(prof.kernels_uncaptured - after.kernels_uncaptured, 3 * kernels_per_batch);
  CU_ASSERT_EQUAL(prof.host_fns_run - after.host_fns_run, 3 * gemms_per_batch);
  CU_ASSERT_EQUAL(prof.graph_launches, after.graph_launches);
  CU_ASSERT_EQUAL(prof.dev_allocs, after.dev_allocs);
  CU_ASSERT_EQUAL(prof.host_allocs, after.host_allocs);
  for (uint32_t s = 0; s < p->n_steps; s++) CU_ASSERT(ms[s] >= 0 && ms[s] < 1e6);
  gpu->destroy(gpu);
  fakecuda_stats end = stats();
  CU_ASSERT_EQUAL(end.dev_live, 0);
  CU_ASSERT_EQUAL(end.host_live, 0);
  CU_ASSERT_EQUAL(end.contexts, 0);

  assert_same_outputs(p, cpu_out, gpu_out, rtol, rtol < 1e-3 ? 1e-6 : 5e-3);
  tst_rmtree(dir);
}

/* --- tests --- */

static void test_mixed_matches_cpu(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  const char *dir = tst_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/mixed.plan", dir);
  rt_plan p;
  save_load(&b->p, path, &p);
  check_against_cpu(&p, 10, 1e-4, 2, 4); /* 3 batches, the last padded */
  fakecuda_stats s = stats();
  CU_ASSERT_EQUAL(s.module_kind, 1);                      /* the CUBIN, built for sm_90 */
  CU_ASSERT_EQUAL(s.max_dynamic_shared_set, 64 << 10);    /* opted in beyond 48 KiB */
  fakecublaslt_info lt = lt_info();
  CU_ASSERT_EQUAL(lt.compute_type, RT_LT_COMPUTE_32F);    /* no TF32 unless asked */
  CU_ASSERT(lt.heuristics >= 3);
  rt_plan_free(&p);
  tst_rmtree(dir);
  free(b);
}

/* TF32 only when the plan allows it: the fake cuBLASLt then rounds the
 * inputs to 10 mantissa bits, so the results move by about 1e-3. */
static void test_tf32_when_allowed(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  b->p.flags = RT_PLAN_TF32;
  check_against_cpu(&b->p, 8, 1e-2, 2, 4);
  CU_ASSERT_EQUAL(lt_info().compute_type, RT_LT_COMPUTE_32F_FAST_TF32);
  free(b);
}

/* Many batches through two slots: every slot reused several times, and an
 * unbatched input copied into each. */
static void test_many_batches(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_mixed(b, 3);
  check_against_cpu(&b->p, 31, 1e-4, 2, 4); /* 11 batches, the last holds 1 sample */
  check_against_cpu(&b->p, 2, 1e-4, 2, 4);  /* a single padded batch */
  check_against_cpu(&b->p, 6, 1e-4, 2, 4);  /* exactly the two slots */
  free(b);
}

static void test_half_precision(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_half(b, RT_F16, 4);
  check_against_cpu(&b->p, 9, 1e-2, 1, 1);
  build_half(b, RT_BF16, 4);
  check_against_cpu(&b->p, 9, 1e-2, 0, 1);
  free(b);
}

/* An older card cannot load the sm_90 CUBIN: the PTX is JIT-compiled. */
static void test_ptx_fallback(void) {
  set_fake_env();
  setenv("DLC_FAKE_CUDA_CC", "80", 1);
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  check_against_cpu(&b->p, 7, 1e-4, 2, 4);
  CU_ASSERT_EQUAL(stats().module_kind, 2);
  /* a plan with only PTX runs on the newest card too */
  setenv("DLC_FAKE_CUDA_CC", "90", 1);
  b->p.cubin = NULL;
  b->p.cubin_bytes = 0;
  check_against_cpu(&b->p, 5, 1e-4, 2, 4);
  CU_ASSERT_EQUAL(stats().module_kind, 2);
  set_fake_env();
  free(b);
}

/* Start the CUDA backend on p expecting failure: returns the status; err
 * holds the message; nothing may be left held on the fake device. */
static rt_cuda_status expect_failure(const rt_plan *p, char *err, size_t err_size) {
  rt_cuda_status status = RT_CUDA_OK;
  rt_backend *gpu = cuda_backend(p, &status, err, err_size);
  CU_ASSERT_PTR_NULL(gpu);
  if (gpu) gpu->destroy(gpu);
  if (getenv("DLC_LIBCUDA") && !strcmp(getenv("DLC_LIBCUDA"), DLC_FAKE_LIBCUDA) && status != RT_CUDA_NO_CODE) {
    fakecuda_stats s = stats();
    CU_ASSERT_EQUAL(s.dev_live, 0);
    CU_ASSERT_EQUAL(s.host_live, 0);
    CU_ASSERT_EQUAL(s.contexts, 0);
  }
  return status;
}

static void test_jit_failures(void) {
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  char err[2048];
  set_fake_env();
  setenv("DLC_FAKE_CUDA_CC", "80", 1);
  setenv("DLC_FAKE_CUDA_FAIL_JIT", "1", 1);
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_BAD_CODE);
  CU_ASSERT(strstr(err, "compiling the plan's PTX for sm_80") != NULL);
  CU_ASSERT(strstr(err, "CUDA_ERROR_INVALID_PTX") != NULL);
  CU_ASSERT(strstr(err, "JIT log: ptxas") != NULL);       /* the JIT's own words */
  CU_ASSERT(strstr(err, "DLC_FAKE_CUDA_FAIL_JIT") != NULL);
  /* a card older than the PTX's target */
  set_fake_env();
  setenv("DLC_FAKE_CUDA_CC", "75", 1);
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_BAD_CODE);
  CU_ASSERT(strstr(err, "higher than the device's (sm_80 > sm_75)") != NULL);
  /* CUBIN only, for another card */
  set_fake_env();
  setenv("DLC_FAKE_CUDA_CC", "80", 1);
  b->p.ptx = NULL;
  b->p.ptx_bytes = 0;
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_BAD_CODE);
  CU_ASSERT(strstr(err, "for sm_90 only") != NULL && strstr(err, "is sm_80") != NULL);
  set_fake_env();
  free(b);
}

/* No driver, a library that is no driver, no cuBLASLt, no device. */
static void test_no_driver_no_device(void) {
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  char err[2048];
  set_fake_env();
  setenv("DLC_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_NO_DRIVER);
  CU_ASSERT(strstr(err, "no NVIDIA driver: cannot load /nonexistent/libcuda.so.1") != NULL);
  CU_ASSERT(strstr(err, "--device cpu") != NULL);
  /* a library that is no CUDA 12+ driver */
  setenv("DLC_LIBCUDA", "libm.so.6", 1);
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_NO_DRIVER);
  CU_ASSERT(strstr(err, "older than CUDA 12") != NULL);
  /* a driver but no cuBLASLt, which the plan's GEMM steps need */
  set_fake_env();
  setenv("DLC_LIBCUBLASLT", "/nonexistent/libcublasLt.so.13", 1);
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_FAILED);
  CU_ASSERT(strstr(err, "cannot load cuBLASLt, which runs this plan's matrix products") != NULL);
  set_fake_env();
  setenv("DLC_FAKE_CUDA_DEVICES", "0", 1);
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_NO_DEVICE);
  CU_ASSERT(strstr(err, "CUDA_ERROR_NO_DEVICE") != NULL && strstr(err, "CUDA_VISIBLE_DEVICES") != NULL);
  set_fake_env();
  free(b);
}

static void test_out_of_memory(void) {
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  const rt_plan *p = &b->p;
  char err[2048], want[256];
  set_fake_env();
  /* what the backend needs: slab, params, and two slots of inputs + outputs */
  uint64_t io = 0;
  for (uint32_t i = 0; i < p->n_inputs; i++) io += align256(p->tensors[p->inputs[i]].bytes);
  for (uint32_t i = 0; i < p->n_outputs; i++) io += align256(p->tensors[p->outputs[i]].bytes);
  uint64_t need = align256(p->slab_bytes) + align256(p->params_bytes) + 2 * io;
  char free_bytes[32];
  snprintf(free_bytes, sizeof free_bytes, "%llu", (unsigned long long)(need - 1));
  setenv("DLC_FAKE_CUDA_MEM_FREE", free_bytes, 1);
  CU_ASSERT_EQUAL(expect_failure(p, err, sizeof err), RT_CUDA_NO_MEMORY);
  snprintf(want, sizeof want, "the plan needs %llu B", (unsigned long long)need);
  CU_ASSERT(strstr(err, want) != NULL);
  snprintf(want, sizeof want, "the card has %llu B", (unsigned long long)(need - 1));
  CU_ASSERT(strstr(err, want) != NULL);
  CU_ASSERT(strstr(err, "estimate") != NULL);
  CU_ASSERT(strstr(err, "N=3 would fit") != NULL);        /* one sample's bytes short */
  CU_ASSERT(strstr(err, "dlc --memory-limit") != NULL);
  /* less than the params: no batch fits */
  setenv("DLC_FAKE_CUDA_MEM_FREE", "1000", 1);
  CU_ASSERT_EQUAL(expect_failure(p, err, sizeof err), RT_CUDA_NO_MEMORY);
  CU_ASSERT(strstr(err, "even N=1 would not fit") != NULL);
  /* pinned host memory */
  set_fake_env();
  setenv("DLC_FAKE_CUDA_FAIL_HOSTALLOC", "1", 1);
  CU_ASSERT_EQUAL(expect_failure(p, err, sizeof err), RT_CUDA_NO_MEMORY);
  CU_ASSERT(strstr(err, "pinned host memory") != NULL && strstr(err, "cuMemHostAlloc failed") != NULL);
  set_fake_env();
  free(b);
}

/* A kernel faults in the second batch: the run stops with a device error and
 * leaves no output file. */
static void test_launch_failure(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  const char *dir = tst_tmpdir();
  char data[600], out[600], err[2048];
  snprintf(data, sizeof data, "%s/data", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  CU_ASSERT_EQUAL_FATAL(mkdir(data, 0777), 0);
  write_inputs(&b->p, data, 16, 7);
  setenv("DLC_FAKE_CUDA_FAIL_LAUNCH", "5", 1); /* two kernels per batch after the warm-up: batch 1's first */
  rt_cuda_status status;
  rt_backend *gpu = cuda_backend(&b->p, &status, err, sizeof err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(gpu);
  rt_run_options o = {.data_dir = data, .out_dir = out};
  rt_run_stats st;
  CU_ASSERT_EQUAL(rt_run(&b->p, gpu, &o, &st, err, sizeof err), RT_EXIT_DEVICE);
  CU_ASSERT(strstr(err, "batch 1: running the batch: cuEventSynchronize failed: CUDA_ERROR_LAUNCH_FAILED") != NULL);
  CU_ASSERT(strstr(err, "compute-sanitizer") != NULL);
  CU_ASSERT_EQUAL(count_files(out), 0);
  gpu->destroy(gpu);
  CU_ASSERT_EQUAL(stats().contexts, 0);
  /* a fault in the warm-up batch stops the start-up */
  setenv("DLC_FAKE_CUDA_FAIL_LAUNCH", "1", 1);
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_FAILED);
  CU_ASSERT(strstr(err, "running a warm-up batch: cuStreamSynchronize failed: CUDA_ERROR_LAUNCH_FAILED") != NULL);
  /* the next backend gets a clean context */
  set_fake_env();
  check_against_cpu(&b->p, 4, 1e-4, 2, 4);
  tst_rmtree(dir);
  free(b);
}

static void test_plan_without_gpu_code(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  char err[2048];
  rt_plan p = b->p;
  p.launches = NULL;
  p.cubin = NULL;
  p.cubin_bytes = 0;
  p.ptx = NULL;
  p.ptx_bytes = 0;
  CU_ASSERT_EQUAL(expect_failure(&p, err, sizeof err), RT_CUDA_NO_CODE);
  CU_ASSERT(strstr(err, "the plan has no GPU code") != NULL && strstr(err, "dlc --no-gpu") != NULL);
  /* a step that computes but has no launch */
  b->l[1].kind = RT_LAUNCH_NONE;
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_BAD_CODE);
  CU_ASSERT(strstr(err, "step 1 (add_s) writes 'r' but has no GPU launch") != NULL);
  /* a kernel the module lacks */
  build_mixed(b, 4);
  b->l[1].function = "no_such_kernel";
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_BAD_CODE);
  CU_ASSERT(strstr(err, "no kernel 'no_such_kernel'") != NULL);
  free(b);
}

/* An operand off cuBLASLt's default 256-byte alignment (a plan aligned to
 * 64 bytes): the algorithm must be chosen for the pointers as they are. */
static void test_gemm_unaligned(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_half(b, RT_F32, 4);
  b->p.alignment = 64;
  b->t[0].offset += 64; /* x: 128 bytes, alone in its 256 */
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_plan_check(&b->p, err, sizeof err), 0);
  check_against_cpu(&b->p, 5, 1e-4, 0, 1);
  free(b);
}

/* A GEMM cuBLASLt refuses (mixed operand types) is reported at start-up. */
static void test_gemm_refused(void) {
  set_fake_env();
  pb *b = malloc(sizeof *b);
  build_half(b, RT_F16, 4);
  b->t[1].dtype = RT_F32; /* W float32 against float16 x */
  b->t[1].bytes *= 2;
  char err[2048];
  CU_ASSERT_EQUAL(expect_failure(&b->p, err, sizeof err), RT_CUDA_FAILED);
  CU_ASSERT(strstr(err, "cuBLASLt cannot multiply float16 by float32") != NULL);
  free(b);
}

/* --- dlrun --- */

int tcu_command(const char *dir, const char *env, const char *program, const char *args, char *out,
                size_t out_size, char *errtxt, size_t err_size) {
  char cmd[4096], so[600], se[600];
  snprintf(so, sizeof so, "%s/stdout.txt", dir);
  snprintf(se, sizeof se, "%s/stderr.txt", dir);
  snprintf(cmd, sizeof cmd, "env %s '%s/%s' %s >'%s' 2>'%s'", env, DLC_BINARY_DIR, program, args, so, se);
  int rc = system(cmd);
  const char *files[2] = {so, se};
  char *bufs[2] = {out, errtxt};
  size_t sizes[2] = {out_size, err_size};
  for (int i = 0; i < 2; i++) {
    FILE *f = fopen(files[i], "r");
    size_t n = f ? fread(bufs[i], 1, sizes[i] - 1, f) : 0;
    bufs[i][n] = 0;
    if (f) fclose(f);
  }
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const char *work_dir;

static int dlrun(const char *env, const char *args, char *out, size_t out_size, char *errtxt, size_t err_size) {
  return tcu_command(work_dir, env, "dlrun", args, out, out_size, errtxt, err_size);
}

static void test_dlrun(void) {
  pb *b = malloc(sizeof *b);
  build_mixed(b, 4);
  const char *dir = tst_tmpdir();
  work_dir = dir;
  char plan[600], cpu_plan[600], args[2048], out[8192], errtxt[8192], env[2048];
  snprintf(plan, sizeof plan, "%s/mixed.plan", dir);
  snprintf(cpu_plan, sizeof cpu_plan, "%s/cpu.plan", dir);
  snprintf(data_dir, sizeof data_dir, "%s/data", dir);
  CU_ASSERT_EQUAL_FATAL(mkdir(data_dir, 0777), 0);
  char e[512];
  CU_ASSERT_EQUAL_FATAL(rt_plan_write(&b->p, plan, e, sizeof e), 0);
  rt_plan cpu_only = b->p;
  cpu_only.launches = NULL;
  cpu_only.cubin = NULL;
  cpu_only.cubin_bytes = 0;
  cpu_only.ptx = NULL;
  cpu_only.ptx_bytes = 0;
  CU_ASSERT_EQUAL_FATAL(rt_plan_write(&cpu_only, cpu_plan, e, sizeof e), 0);
  write_inputs(&b->p, data_dir, 9, 3);
  char fake[1024];
  snprintf(fake, sizeof fake, "DLC_LIBCUDA=%s DLC_LIBCUBLASLT=%s DLC_FAKE_CUDA_KERNELS=%s", DLC_FAKE_LIBCUDA,
           DLC_FAKE_LIBCUBLASLT, test_kernels());
  char o_cpu[600], o_gpu[600], o_x[600];
  snprintf(o_cpu, sizeof o_cpu, "%s/out_cpu", dir);
  snprintf(o_gpu, sizeof o_gpu, "%s/out_gpu", dir);
  snprintf(o_x, sizeof o_x, "%s/out_x", dir);

  /* the GPU by default when there is one; JSON with the card */
  snprintf(args, sizeof args, "%s --data %s --out %s --json", plan, data_dir, o_gpu);
  CU_ASSERT_EQUAL(dlrun(fake, args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(out, "\"backend\": \"cuda\"") != NULL);
  CU_ASSERT(strstr(out, "\"card\": {\"name\": \"dlc fake GPU (runs on the CPU)\", \"compute_capability\": \"9.0\"") != NULL);
  CU_ASSERT(strstr(out, "\"code\": \"cubin sm_90\"") != NULL);
  CU_ASSERT(strstr(out, "\"latency_ms\": {\"p50\": ") != NULL && strstr(out, "\"startup_ms\"") != NULL);
  /* --profile: one entry per step in the document, GEMMs and kernels told apart */
  snprintf(args, sizeof args, "%s --data %s --out %s --json --profile", plan, data_dir, o_x);
  CU_ASSERT_EQUAL(dlrun(fake, args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(out, "\"profile\": {\"reps\": 20, \"steps\": [{\"step\": 0, ") != NULL);
  int entries = 0;
  for (const char *q = out; (q = strstr(q, "\"launch\": ")); q++) entries++;
  CU_ASSERT_EQUAL(entries, (int)b->p.n_steps);
  CU_ASSERT(strstr(out, "\"launch\": \"gemm\"") != NULL && strstr(out, "\"launch\": \"kernel\"") != NULL);
  CU_ASSERT(out[strlen(out) - 2] == '}'); /* still one document */
  snprintf(args, sizeof args, "%s --data %s --out %s --profile --device cpu", plan, data_dir, o_x);
  CU_ASSERT_EQUAL(dlrun(fake, args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(out, "profile: each step alone, mean of 20 runs") != NULL);
  CU_ASSERT(strstr(out, " cpu ") != NULL && strstr(out, "all steps") != NULL);
  /* the text summary names the card, the code and the start-up time */
  snprintf(args, sizeof args, "%s --data %s --out %s", plan, data_dir, o_x);
  CU_ASSERT_EQUAL(dlrun(fake, args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(out, "on cuda (dlc fake GPU (runs on the CPU), sm_90") != NULL);
  CU_ASSERT(strstr(out, "GPU code: cubin sm_90") != NULL && strstr(out, "start-up ") != NULL);
  /* no driver: the CPU, saying why; same numbers */
  snprintf(args, sizeof args, "%s --data %s --out %s", plan, data_dir, o_cpu);
  CU_ASSERT_EQUAL(dlrun("DLC_LIBCUDA=/nonexistent/libcuda.so.1", args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(errtxt, "dlrun: running on the CPU: no NVIDIA driver") != NULL);
  CU_ASSERT(strstr(out, " on cpu (") != NULL);
  assert_same_outputs(&b->p, o_cpu, o_gpu, 1e-4, 1e-6);
  /* no device, or a CPU-only plan: the CPU too */
  snprintf(env, sizeof env, "%s DLC_FAKE_CUDA_DEVICES=0", fake);
  CU_ASSERT_EQUAL(dlrun(env, args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(errtxt, "running on the CPU: no usable CUDA device") != NULL);
  snprintf(args, sizeof args, "%s --data %s --out %s", cpu_plan, data_dir, o_cpu);
  CU_ASSERT_EQUAL(dlrun(fake, args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(errtxt, "running on the CPU: the plan has no GPU code") != NULL);

  /* --device cuda makes each of them an error, and no output appears */
  tst_rmtree(o_x);
  snprintf(args, sizeof args, "%s --data %s --out %s --device cuda", cpu_plan, data_dir, o_x);
  CU_ASSERT_EQUAL(dlrun(fake, args, out, sizeof out, errtxt, sizeof errtxt), RT_EXIT_PLAN);
  CU_ASSERT(strstr(errtxt, "dlrun: --device cuda: the plan has no GPU code") != NULL);
  snprintf(args, sizeof args, "%s --data %s --out %s --device cuda", plan, data_dir, o_x);
  CU_ASSERT_EQUAL(dlrun("DLC_LIBCUDA=/nonexistent/libcuda.so.1", args, out, sizeof out, errtxt, sizeof errtxt),
                  RT_EXIT_DEVICE);
  CU_ASSERT(strstr(errtxt, "dlrun: --device cuda: no NVIDIA driver") != NULL);
  CU_ASSERT_EQUAL(dlrun(env, args, out, sizeof out, errtxt, sizeof errtxt), RT_EXIT_DEVICE);
  CU_ASSERT(strstr(errtxt, "CUDA_ERROR_NO_DEVICE") != NULL);
  /* out of memory, a kernel fault, a JIT failure: errors with or without --device */
  snprintf(env, sizeof env, "%s DLC_FAKE_CUDA_MEM_FREE=4096", fake);
  snprintf(args, sizeof args, "%s --data %s --out %s", plan, data_dir, o_x);
  CU_ASSERT_EQUAL(dlrun(env, args, out, sizeof out, errtxt, sizeof errtxt), RT_EXIT_RESOURCE);
  CU_ASSERT(strstr(errtxt, "out of device memory") != NULL && strstr(errtxt, "estimate") != NULL);
  snprintf(env, sizeof env, "%s DLC_FAKE_CUDA_FAIL_LAUNCH=6", fake);
  CU_ASSERT_EQUAL(dlrun(env, args, out, sizeof out, errtxt, sizeof errtxt), RT_EXIT_DEVICE);
  CU_ASSERT(strstr(errtxt, "CUDA_ERROR_LAUNCH_FAILED") != NULL);
  CU_ASSERT(strstr(errtxt, "warning") == NULL); /* the failure is reported once */
  CU_ASSERT_EQUAL(count_files(o_x), 0);
  snprintf(env, sizeof env, "%s DLC_FAKE_CUDA_CC=80 DLC_FAKE_CUDA_FAIL_JIT=1", fake);
  CU_ASSERT_EQUAL(dlrun(env, args, out, sizeof out, errtxt, sizeof errtxt), RT_EXIT_DEVICE);
  CU_ASSERT(strstr(errtxt, "JIT log: ptxas") != NULL);
  CU_ASSERT_EQUAL(count_files(o_x), 0);
  /* --device cpu never touches the driver */
  snprintf(args, sizeof args, "%s --data %s --out %s --device cpu", plan, data_dir, o_x);
  CU_ASSERT_EQUAL(dlrun("DLC_FAKE_CUDA_DEVICES=0", args, out, sizeof out, errtxt, sizeof errtxt), 0);
  CU_ASSERT(strstr(errtxt, "running on the CPU") == NULL);
  tst_rmtree(dir);
  free(b);
}

TST_SUITE(cuda, TST(test_mixed_matches_cpu), TST(test_many_batches), TST(test_half_precision),
          TST(test_tf32_when_allowed), TST(test_ptx_fallback), TST(test_jit_failures), TST(test_no_driver_no_device),
          TST(test_out_of_memory), TST(test_launch_failure), TST(test_plan_without_gpu_code),
          TST(test_gemm_unaligned), TST(test_gemm_refused), TST(test_dlrun))
