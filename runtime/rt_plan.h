/*
 * rt_plan.h: a compiled plan in memory: what plan.bin holds.
 *
 * The compiler builds one (compiler/lower.c) and writes it; dlrun reads one
 * back (rt_plan_read) and runs it. All arrays are plain index-linked tables:
 *
 *   tensors   every tensor with its kind, shape, and where it lives:
 *             slab tensors (input, output, activation, workspace) at `offset`
 *             in the one slab, params at `offset` in the params region, fused
 *             tensors nowhere;
 *   nodes     one op each, with input/output tensor ids in `args` and
 *             canonical attributes in `ints` / `floats` (rt_ops.h);
 *   steps     kernel launches in execution order; step s runs nodes
 *             [first_node, first_node + n_nodes) and touches the tensors
 *             listed in its reads / writes (ids in `args`).
 *
 * A param's values are either bytes in `param_data` or a seeded init that
 * the runtime regenerates (rt_init.h), which keeps plans of big randomly
 * initialised models small.
 */
#ifndef RT_PLAN_H
#define RT_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "rt_types.h"

#define RT_PLAN_VERSION 1
#define RT_NO_OFFSET UINT64_MAX

/* Stored in plan.bin: append only. */
typedef enum rt_kind {
  RT_KIND_INPUT = 0,
  RT_KIND_OUTPUT = 1,
  RT_KIND_ACTIVATION = 2,
  RT_KIND_WORKSPACE = 3,
  RT_KIND_PARAM = 4,
  RT_KIND_FUSED = 5,
  RT_KIND_COUNT
} rt_kind;

/* Param value sources. Stored in plan.bin: append only. */
typedef enum rt_init_kind {
  RT_INIT_DATA = 0,     /* bytes at data_offset in param_data */
  RT_INIT_ZEROS = 1,
  RT_INIT_ONES = 2,
  RT_INIT_CONSTANT = 3, /* init_a */
  RT_INIT_UNIFORM = 4,  /* [init_a, init_b), init_seed */
  RT_INIT_NORMAL = 5,   /* mean init_a, std init_b, init_seed */
  RT_INIT_COUNT
} rt_init_kind;

/* Alias kinds (same meaning as planner/verify.h's PLAN_ALIAS_*). */
enum { RT_ALIAS_NONE = 0, RT_ALIAS_INPLACE = 1, RT_ALIAS_VIEW = 2 };

/* Tensor flags */
enum {
  RT_TF_BATCHED = 1, /* the first dimension is the batch dimension */
  RT_TF_OUTPUT = 2,  /* listed in the model's outputs (whatever its kind) */
};

const char *rt_kind_name(int kind);

typedef struct rt_tensor {
  const char *name;
  int kind;               /* rt_kind */
  int dtype;              /* rt_dtype */
  int rank;
  int flags;              /* RT_TF_* */
  int64_t dims[RT_MAX_RANK];
  uint64_t bytes;         /* numel * dtype size */
  uint64_t offset;        /* slab or params offset; RT_NO_OFFSET for fused */
  int32_t first_step, last_step; /* inclusive; params: 0 and n_steps-1 */
  int32_t alias_of;       /* tensor id, or -1 */
  int alias_kind;         /* RT_ALIAS_* */
  /* params */
  int init;               /* rt_init_kind */
  double init_a, init_b;
  uint64_t init_seed;
  uint64_t data_offset;   /* RT_INIT_DATA: into param_data */
} rt_tensor;

typedef struct rt_node {
  int op;                 /* rt_op */
  const char *name;
  uint32_t n_in, n_out;
  uint32_t args;          /* args[args .. +n_in) inputs, then n_out outputs; -1: absent */
  uint32_t ia, n_ia;      /* ints[ia .. +n_ia) */
  uint32_t fa, n_fa;      /* floats[fa .. +n_fa) */
} rt_node;

typedef struct rt_step {
  const char *kernel;     /* name, e.g. "conv_relu_3" */
  uint32_t first_node, n_nodes;
  uint32_t reads, n_reads;   /* tensor ids in args */
  uint32_t writes, n_writes;
} rt_step;

/* How the GPU runs a step. The CPU backend ignores these and runs the
 * step's nodes with the reference kernels (fused tensors in host scratch).
 * Stored in plan.bin: append only. */
typedef enum rt_launch_kind {
  RT_LAUNCH_NONE = 0,   /* no GPU code: the plan is CPU-only, or nothing to do */
  RT_LAUNCH_KERNEL = 1, /* a generated kernel in the plan's code module */
  RT_LAUNCH_GEMM = 2,   /* a cuBLASLt matmul (layout in ia, see below) */
  RT_LAUNCH_COUNT
} rt_launch_kind;

/* RT_LAUNCH_GEMM: D[b] = epilogue(alpha * op(A[b]) op(B[b]) + beta * C[b])
 * in row-major terms, ia = [trans_a, trans_b, m, n, k, batch, lda, ldb, ldc,
 * stride_a, stride_b, stride_c, epilogue] (strides in elements, 0 for a
 * matrix shared by the batch; epilogue RT_GEMM_EPI_*), fa = [alpha, beta],
 * args = [A, B, C or -1, D, bias or -1, workspace or -1] (tensor ids). */
enum {
  RT_GEMM_EPI_NONE = 0, RT_GEMM_EPI_BIAS = 1, RT_GEMM_EPI_RELU = 2, RT_GEMM_EPI_BIAS_RELU = 3,
  RT_GEMM_EPI_GELU = 4, RT_GEMM_EPI_BIAS_GELU = 5
};
enum { RT_GEMM_IA = 13, RT_GEMM_ARGS = 6 };

typedef struct rt_launch {
  int kind;                  /* rt_launch_kind */
  const char *function;      /* RT_LAUNCH_KERNEL: entry point in the module */
  uint32_t grid[3], block[3];
  uint32_t shared_bytes;     /* dynamic shared memory */
  uint32_t args, n_args;     /* tensor ids in plan->args, passed in order as device
                                pointers (-1: a null pointer) */
  uint32_t ia, n_ia;         /* extra int64 parameters (GEMM layout) in ints */
  uint32_t fa, n_fa;         /* extra float parameters in floats */
} rt_launch;

typedef struct rt_dim {
  const char *name;
  int64_t value;
} rt_dim;

/* Plan flags */
enum {
  RT_PLAN_TF32 = 1, /* float32 matmuls and convolutions may use TF32 tensor cores */
};

typedef struct rt_plan {
  const char *model;
  uint32_t flags;            /* RT_PLAN_* */
  uint32_t alignment;
  uint64_t slab_bytes;
  uint64_t params_bytes;
  uint64_t workspace_bytes;  /* included in slab_bytes; reported apart */
  uint64_t lower_bound;
  int32_t batch_dim;         /* index into dims of the batch dimension, or -1 */
  rt_dim *dims;
  uint32_t n_dims;
  rt_tensor *tensors;
  uint32_t n_tensors;
  rt_node *nodes;
  uint32_t n_nodes;
  rt_step *steps;
  uint32_t n_steps;
  int32_t *args;
  uint32_t n_args;
  int64_t *ints;
  uint32_t n_ints;
  float *floats;
  uint32_t n_floats;
  int32_t *inputs;           /* tensor ids, model order */
  uint32_t n_inputs;
  int32_t *outputs;
  uint32_t n_outputs;
  const uint8_t *param_data;
  uint64_t param_data_bytes;
  rt_launch *launches;       /* one per step when the plan has GPU code, else NULL */
  /* The GPU module: CUBIN for one architecture (cubin_arch, e.g. 90 for
   * sm_90) and PTX for the others, both of every generated kernel. */
  const uint8_t *cubin;
  uint64_t cubin_bytes;
  uint32_t cubin_arch;
  const char *ptx;           /* NUL-terminated; NULL when there is no GPU code */
  uint64_t ptx_bytes;
  void *storage;             /* owner of the arrays above when read from a file */
  void *file;                /* the file's bytes (strings and param_data point here) */
} rt_plan;

/* Write plan to path atomically (temporary file + rename). 0 or -1 + err. */
int rt_plan_write(const rt_plan *p, const char *path, char *err, size_t err_size);
/* Serialise into a malloc'd buffer (for tests and fuzzing). */
int rt_plan_serialize(const rt_plan *p, uint8_t **out, size_t *out_size, char *err, size_t err_size);

/* Read and validate a plan: every count, offset, size, id and attribute is
 * checked before use, and each node's shapes against its op, so a plan that
 * passes cannot make a kernel read or write out of bounds. */
int rt_plan_read(const char *path, rt_plan *out, char *err, size_t err_size);
/* The same from memory; takes ownership of buf (malloc'd) in all cases. */
int rt_plan_parse(uint8_t *buf, size_t size, rt_plan *out, char *err, size_t err_size);
void rt_plan_free(rt_plan *p);

/* Structural and per-node checks, also used on plans built in memory. */
int rt_plan_check(const rt_plan *p, char *err, size_t err_size);

/* Run planner/verify.h's independent checker on the memory plan. */
int rt_plan_verify_memory(const rt_plan *p, char *err, size_t err_size);

#endif
