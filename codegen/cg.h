/*
 * cg.h: CUDA code generation for fused kernel groups.
 *
 * codegen/ knows only this small IR. The compiler's fusion pass hands it a
 * group: a few ops in execution order over tensors with static shapes, each
 * tensor either in device memory (a kernel argument) or fused (computed and
 * consumed inside the kernel, never stored). codegen checks that it can
 * generate the group, emits CUDA C specialised to the shapes, collects all
 * kernels of a model in one program, and compiles it with NVRTC to CUBIN
 * for one architecture plus PTX for the others. The source also compiles
 * with a host C++ compiler against codegen/shim/cuda_shim.h, which runs the
 * grid on the CPU, so every generated kernel is tested without a GPU.
 *
 * Module prefix: cg_.
 */
#ifndef CG_H
#define CG_H

#include <stddef.h>
#include <stdint.h>

#define CG_MAX_RANK 8

/* Numbering matches the runtime's rt_dtype, so callers can cast. */
typedef enum cg_dtype { CG_F32 = 0, CG_F16 = 1, CG_BF16 = 2, CG_I64 = 3 } cg_dtype;

/* The op set (same order as the runtime's rt_op, so callers can cast). The
 * canonical attributes are the runtime's (runtime/rt_ops.h), repeated here:
 *
 *   LeakyRelu          fa = [alpha]
 *   Clip               fa = [min, max]            (-inf / +inf when absent)
 *   HardSigmoid        fa = [alpha, beta]
 *   Gelu               ia = [approximate]         (0 none, 1 tanh)
 *   Gemm               ia = [transA, transB]  fa = [alpha, beta]
 *   Conv               ia = [group, kh, kw, sh, sw, dh, dw, pad_t, pad_l, pad_b, pad_r]
 *   MaxPool            ia = [kh, kw, sh, sw, dh, dw, pad_t, pad_l, pad_b, pad_r, 0]
 *   AveragePool        ia = [kh, kw, sh, sw, dh, dw, pad_t, pad_l, pad_b, pad_r, count_include_pad]
 *   LRN                ia = [size]  fa = [alpha, beta, bias]
 *   BatchNormalization fa = [epsilon]       (inputs X, scale, B, mean, var)
 *   LayerNormalization ia = [axis]  fa = [epsilon]
 *   Softmax, LogSoftmax ia = [axis]
 *   ReduceMean/Sum/Max ia = [keepdims, axis...]   (sorted, unique, >= 1 axis)
 *   Transpose          ia = perm
 *   Concat, Split      ia = [axis]
 *   Slice              ia = [start_0..start_{r-1}, step_0..step_{r-1}]
 *   Pad                ia = [begin_0..begin_{r-1}, end_0..end_{r-1}]  fa = [value]
 *   Gather             ia = [axis]
 * Pooling output sizes already include ceil_mode; windows that start past
 * the end padding are never produced. Semantics are ONNX's exactly; the
 * runtime's CPU kernels (runtime/kernels/) are the reference. */
typedef enum cg_op {
  CG_ABS, CG_NEG, CG_RELU, CG_LEAKY_RELU, CG_SIGMOID, CG_TANH, CG_GELU, CG_ERF, CG_EXP, CG_LOG,
  CG_SQRT, CG_RECIPROCAL, CG_CLIP, CG_HARD_SIGMOID, CG_HARD_SWISH, CG_SOFTPLUS, CG_IDENTITY,
  CG_DROPOUT, CG_ADD, CG_SUB, CG_MUL, CG_DIV, CG_POW, CG_MAX, CG_MIN, CG_SUM, CG_MATMUL, CG_GEMM,
  CG_CONV, CG_MAX_POOL, CG_AVERAGE_POOL, CG_GLOBAL_AVERAGE_POOL, CG_GLOBAL_MAX_POOL, CG_LRN,
  CG_BATCH_NORM, CG_LAYER_NORM, CG_SOFTMAX, CG_LOG_SOFTMAX, CG_REDUCE_MEAN, CG_REDUCE_SUM,
  CG_REDUCE_MAX, CG_RESHAPE, CG_FLATTEN, CG_TRANSPOSE, CG_CONCAT, CG_SPLIT, CG_SLICE, CG_SQUEEZE,
  CG_UNSQUEEZE, CG_PAD, CG_GATHER,
  CG_OP_COUNT
} cg_op;

typedef enum cg_role {
  CG_IN = 0,    /* read from device memory: a kernel argument */
  CG_OUT = 1,   /* written to device memory: a kernel argument */
  CG_FUSED = 2, /* produced and consumed inside the kernel; never stored */
} cg_role;

typedef struct cg_tensor {
  cg_dtype dtype;
  int rank;
  int64_t dims[CG_MAX_RANK];
  cg_role role;
  int is_param;       /* CG_IN only: weights, read-only for the whole run */
  uint32_t align;     /* CG_IN / CG_OUT: guaranteed byte alignment of the base
                         address (>= element size; 16 lets 16-byte vectors in) */
} cg_tensor;

#define CG_MAX_NODE_IO 64
typedef struct cg_node {
  cg_op op;
  int n_in, n_out;
  int in[CG_MAX_NODE_IO];   /* tensor indices; -1: optional input absent */
  int out[CG_MAX_NODE_IO];  /* tensor indices; -1: optional output not wanted */
  int n_ia, n_fa;
  int64_t ia[2 * CG_MAX_RANK + 2];
  float fa[4];
} cg_node;

/* A kernel: nodes in execution order. Every CG_FUSED tensor is written by
 * exactly one node and read by later nodes of the same group; every CG_OUT
 * tensor is written by exactly one node. An output may share device memory
 * with an input of the group (in-place) only where each element is written
 * after its last read; `inplace` lists such (out, in) tensor pairs. */
typedef struct cg_group {
  const char *name;         /* the kernel's entry point; unique in a program */
  const cg_tensor *tensors;
  int n_tensors;
  const cg_node *nodes;
  int n_nodes;
  int inplace[8][2];
  int n_inplace;
} cg_group;

typedef struct cg_options {
  int sm;                   /* CUBIN architecture, e.g. 90 for sm_90 (H100/H200) */
  int ptx_sm;               /* PTX virtual architecture for other cards, e.g. 80 */
  int num_sms;              /* streaming multiprocessors the grid is sized for (132 on H100) */
  int allow_tf32;           /* float32 convolutions and matmuls may use TF32 tensor cores */
} cg_options;

/* How to launch one kernel: arguments are the group's CG_IN and CG_OUT
 * tensors' device addresses, in tensor index order. name is the entry point
 * to launch: the group's own name, or that of an earlier group of the same
 * program whose generated kernel is identical (same shapes, ops and
 * alignments), which the program then holds only once. */
typedef struct cg_launch {
  char name[96];
  uint32_t grid[3], block[3];
  uint32_t shared_bytes;    /* dynamic shared memory */
  int n_args;
  int arg_tensor[256];      /* group tensor index of each argument */
} cg_launch;

/* 1 when codegen can generate this group, else 0 with the reason. The
 * fusion pass asks before it forms a group; every single op of the op set
 * except MatMul and Gemm (run through cuBLASLt) is supported alone. */
int cg_supported(const cg_group *g, char *why, size_t why_size);

typedef struct cg_program cg_program;

cg_program *cg_program_create(const cg_options *opt);
/* Threads cg_program_compile may use (NVRTC's and ptxas's --split-compile);
 * 0 (the default): the online CPUs, at most 16. */
void cg_program_set_threads(cg_program *p, int threads);
void cg_program_destroy(cg_program *p);

/* Add a group's kernel to the program (emitting its CUDA C). 0, or -1 with
 * the reason in err. */
int cg_program_add(cg_program *p, const cg_group *g, cg_launch *launch, char *err, size_t err_size);

/* The whole program's CUDA C, NUL-terminated (valid until destroy). */
const char *cg_program_source(const cg_program *p);

typedef struct cg_binary {
  uint8_t *cubin;           /* malloc'd */
  size_t cubin_bytes;
  char *ptx;                /* malloc'd, NUL-terminated */
  size_t ptx_bytes;
} cg_binary;

/* Compile with NVRTC: PTX for compute_<ptx_sm>, and from that PTX the CUBIN
 * for sm_<sm> with the toolkit's ptxas ($DLC_PTXAS overrides the one found
 * at build time; set empty, or without one, NVRTC compiles the CUBIN too).
 * 0, or -1 with NVRTC's log (and the source line it points at) in log.
 * Without NVRTC in this build: -1 and a message saying so. */
int cg_program_compile(cg_program *p, cg_binary *out, char *log, size_t log_size);
void cg_binary_free(cg_binary *b);

/* Whether this build can compile (NVRTC found at build time). */
int cg_have_nvrtc(void);

#endif
