/*
 * cg_internal.h: what the codegen files share.
 *
 *   buf.c       a growing string buffer the CUDA C is written into
 *   support.c   group analysis: which kernel template a group takes, its
 *               anchor, prologue and epilogue (cg_supported is its yes/no)
 *   expr.c      elementwise regions: a DAG of elementwise nodes evaluated
 *               for V consecutive elements at given coordinates, with loads,
 *               stores and the scalar expression of every op
 *   program.c   kernel signatures, the program, its preamble, NVRTC
 *   emit_*.c    one kernel template family each (emit_attention.c also
 *               checks its group: cg_plan_attention)
 *
 * Generated identifiers: tensor t is kernel argument p<t> (e<t> when an
 * injective kernel views it as raw words); its values in a region are v<t>
 * (a float, or float[V] when they differ along the chunk). Template locals
 * never look like [pev]<digits>, so they cannot shadow these.
 */
#ifndef CG_INTERNAL_H
#define CG_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "cg.h"

/* ---- string buffer (buf.c) ------------------------------------------------ */

typedef struct cg_buf {
  char *s;
  size_t n, cap;
  int oom; /* an allocation failed: contents are incomplete */
} cg_buf;

void cg_printf(cg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cg_vprintf(cg_buf *b, const char *fmt, va_list ap);
void cg_puts(cg_buf *b, const char *s);
void cg_buf_free(cg_buf *b);

/* snprintf into err (when err_size > 0); returns -1 or 0 (for "why"). */
int cg_fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A float as an exact C literal ("0.100000001f", CG_INF for infinities). */
void cg_flit(char out[48], float v);

/* ---- tensors -------------------------------------------------------------- */

size_t cg_dtype_size(cg_dtype dt);
const char *cg_ctype(cg_dtype dt); /* storage type: float, unsigned short, long long */
const char *cg_dtname(cg_dtype dt); /* helper suffix: f32, f16, bf16, i64 */
int cg_is_float(cg_dtype dt);
int64_t cg_numel(const cg_tensor *t);
/* Dense (row-major) element strides. */
void cg_dense_strides(int rank, const int64_t *dims, int64_t *st);
/* Strides of t read at coordinates of a space (NumPy broadcast, aligned on
 * the right, 0 where t repeats); -1 when t does not broadcast to it. */
int cg_bcast_strides(const cg_tensor *t, int rank, const int64_t *dims, int64_t *st);

/* ---- group analysis (support.c) ------------------------------------------- */

/* Op families. */
int cg_op_unary(cg_op op);     /* Abs..Softplus, Identity, Dropout */
int cg_op_binary(cg_op op);    /* Add..Min, Sum (variadic) */
int cg_op_ew(cg_op op);        /* unary, binary, BatchNormalization */
int cg_op_copy(cg_op op);      /* Identity, Dropout, Reshape, Flatten, Squeeze, Unsqueeze */
int cg_op_injective(cg_op op); /* copies, Transpose, Concat, Split, Slice, Pad, Gather */
int cg_op_reduce(cg_op op);    /* Softmax, LogSoftmax, LayerNorm, Reduce*, Global*Pool */
int cg_op_window(cg_op op);    /* MaxPool, AveragePool, LRN */
int cg_op_chain(cg_op op);     /* Transpose and the copies that relabel a shape (Reshape, Flatten,
                                  Squeeze, Unsqueeze): what may end a group as a permuted store */
const char *cg_op_name(cg_op op);
/* Transpose node nd: its perm permutes x's dims into y's (0), else -1. */
int cg_check_perm(const cg_tensor *x, const cg_tensor *y, const cg_node *nd);

typedef enum cg_kind {
  CG_KIND_ELEMENTWISE, /* elementwise DAG, no anchor */
  CG_KIND_INJECTIVE,   /* one data-movement op */
  CG_KIND_REDUCE,      /* reduction anchor with prologue and epilogue */
  CG_KIND_WINDOW,      /* pooling or LRN anchor with prologue and epilogue */
  CG_KIND_CONV,        /* Conv anchor with prologue and epilogue, then
                          optionally LRN and/or a pooling on its output */
  CG_KIND_ATTENTION,   /* MatMul, [scale], [mask], Softmax, MatMul */
} cg_kind;

#define CG_PLAN_MAX_NODES 256
/* Shared memory for a fused conv + pooling CTA's conv outputs (the GEMM
 * staging comes on top, < 24 KiB: within the 99 KiB every sm_80+ card lets
 * a block opt in to). */
#define CG_CONV_WINDOW_SMEM (72 * 1024)

typedef struct cg_plan {
  cg_kind kind;
  int anchor;             /* node index; -1 for elementwise */
  int x, y;               /* anchor input 0 and output 0 (tensor indices) */
  int n_pro, n_epi, n_ew; /* prologue / epilogue / elementwise node lists */
  int pro[CG_PLAN_MAX_NODES], epi[CG_PLAN_MAX_NODES], ew[CG_PLAN_MAX_NODES];
  /* elementwise: the iteration space (the largest output's shape) */
  int rank;
  int64_t dims[CG_MAX_RANK];
  /* conv: window ops on the conv's output in the same kernel (an LRN and/or
   * a pooling, in that order). mid[s] are the elementwise nodes between the
   * previous stage (the Conv for s = 0) and win[s]; epi then holds the nodes
   * after the last window op. win_x[s] / win_y[s] are its input and output. */
  int n_win;
  int win[2], win_x[2], win_y[2];
  int n_mid[2];
  int mid[2][CG_PLAN_MAX_NODES];
  /* a trailing chain of cg_op_chain nodes, chain0 .. n_nodes - 1 (chain0 =
   * n_nodes: none), storing chain_src's values at the positions the
   * reshapes and permutations give them (ShuffleNet's channel shuffle) */
  int chain0, chain_src;
  /* attention: tensors (scale / mask -1 when absent); att_q, att_k, att_v
   * are the operands as the MatMuls see them */
  int att_q, att_k, att_v, att_o, att_s, att_scale, att_mask;
  int att_tr, att_out;     /* a Transpose of O ending the group (-1: none), the stored tensor */
  int att_div;             /* the scale divides (Div) rather than multiplies */
  /* Q, K^T, V (0, 1, 2): the tensor read from memory, and the leading
   * Transpose node producing the operand from it (-1: the operand itself) */
  int att_mem[3], att_ptr[3];
} cg_plan;

/* 0 with the plan, or -1 with the reason (cg_supported's answer). */
int cg_plan_group(const cg_group *g, cg_plan *p, char *why, size_t why_size);
/* The attention pattern (emit_attention.c): 0 with the plan, or -1. */
int cg_plan_attention(const cg_group *g, cg_plan *p, char *why, size_t why_size);
/* Whether tensor t is the input side of an in-place pair; its output partner
 * (or -1) in *out. */
int cg_inplace_in(const cg_group *g, int t);
int cg_inplace_out(const cg_group *g, int t);

/* ---- elementwise regions (expr.c) ----------------------------------------- */

/* A store layout that is not one stride per dim: the trailing chain's
 * output seen from the iteration space. Each dim's coordinate is written in
 * mixed radix (innermost digit first) and each digit has its own stride:
 * offset = sum over dims and digits of ((c / below) % size) * st, below the
 * product of the sizes of the dim's inner digits. A Reshape that splits a
 * dim makes it several digits; one that merges dims gives each its stride. */
#define CG_MAX_DIGITS 16
typedef struct cg_digits {
  int n[CG_MAX_RANK];                       /* digits of each dim (0 for a dim of 1) */
  int64_t size[CG_MAX_RANK][CG_MAX_DIGITS]; /* innermost first */
  int64_t st[CG_MAX_RANK][CG_MAX_DIGITS];
} cg_digits;

/* A set of elementwise nodes evaluated over an iteration space. Every tensor
 * the nodes touch gets a view: its element strides in the space (NumPy
 * broadcast; per-channel for BatchNormalization's parameters). */
typedef struct cg_region {
  const cg_group *g;
  const int *nodes;
  int n_nodes;
  int rank;
  int64_t dims[CG_MAX_RANK];
  int64_t (*st)[CG_MAX_RANK]; /* per tensor */
  unsigned char *has;         /* per tensor: has a view */
  const char **preset;        /* per tensor: values already in this variable */
  unsigned char *preset_vec;  /* per tensor: the preset is float[V] (else a float) */
  cg_digits **split;          /* per tensor: a chain output's layout when it is not
                                 one stride per dim (then st holds each dim's
                                 innermost digit stride), else NULL */
} cg_region;

/* Views for every tensor the nodes touch plus extra[0..n_extra). -1 with the
 * reason when one does not broadcast to the space. cg_op_chain nodes (a
 * group's trailing chain, last in nodes) carry their input's values; their
 * CG_OUT results are stored through the permutation, the chain's first input
 * covering the whole space. */
int cg_region_init(cg_region *r, const cg_group *g, const int *nodes, int n_nodes, int rank,
                   const int64_t *dims, const int *extra, int n_extra, char *why,
                   size_t why_size);
void cg_region_free(cg_region *r);
/* Drop size-1 dims and merge neighbours every view walks contiguously; a dim
 * d with keep[d] != keep[d-1] never merges with d-1 (keep may be NULL).
 * map[d] (optional) receives the new dim each old dim went to (-1: dropped). */
void cg_region_coalesce(cg_region *r, const int *keep, int *map);
/* The tensor's view is dense over the space (offset == flat index). */
int cg_region_dense(const cg_region *r, int t);

typedef struct cg_emit_req {
  const char *coord[CG_MAX_RANK]; /* coordinate of each dim; the innermost is
                                     the chunk's first element (a multiple of V) */
  const char *flat;               /* flat index of the first element, or NULL */
  int V;                          /* consecutive elements along the innermost dim */
  int store;                      /* store the CG_OUT tensors the region makes */
  const char *guard;              /* stores only where this holds (NULL: always) */
  int n_want;
  int want[8];                    /* copy these tensors' values ... */
  const char *want_to[8];         /* ... into these float[V] (or float when V == 1) */
  int indent;
} cg_emit_req;

/* Emit a { } block: load the leaves, evaluate the nodes, store, copy out. */
void cg_region_emit(cg_buf *b, const cg_region *r, const cg_emit_req *q);

/* Largest V in {8, 4, 2, 1} (<= vmax) dividing n. */
int cg_pick_vec(int64_t n, int vmax);

/* ---- kernels (program.c, emit_*.c) ---------------------------------------- */

typedef struct cg_kernel {
  const cg_group *g;
  const cg_plan *plan;
  const cg_options *opt;
  cg_buf *b;
  cg_launch *launch;
  int wide;      /* 64-bit index arithmetic */
  int uses_wmma; /* out: needs <mma.h> */
  int arch;      /* the lowest target (min of sm and ptx_sm): what the code may use */
} cg_kernel;

/* `extern "C" __global__ void __launch_bounds__(threads) name(args...)` for
 * the group's CG_IN and CG_OUT tensors in index order; fills launch args. */
void cg_emit_signature(cg_kernel *k, int threads);
/* The same, for a kernel whose shared memory (static + dynamic bytes) keeps
 * fewer threads per SM than ptxas's default register budget (64 per thread,
 * half the SM's threads) assumes: __launch_bounds__(threads, blocks) with
 * the blocks shared memory allows, so that registers up to that occupancy
 * are not spilled for an occupancy the kernel cannot reach anyway. */
void cg_emit_signature_smem(cg_kernel *k, int threads, int64_t smem_bytes);
/* Index type name ("int" or "long long"). */
const char *cg_ityp(const cg_kernel *k);
/* Blocks for `work` independent items of `per_block` each, capped at
 * num_sms * waves (grid-stride loops do the rest). */
uint32_t cg_grid_for(const cg_kernel *k, int64_t work, int64_t per_block, int waves);
/* Expressions of the coordinates of flat index `flat` over dims:
 * "(i / 60)", "((i / 12) % 5)", "(i % 12)"; the compiler shares the
 * divisions, and unused ones cost nothing. */
void cg_coord_exprs(char (*out)[128], const char *flat, int rank, const int64_t *dims);

int cg_emit_elementwise(cg_kernel *k, char *err, size_t err_size);
int cg_emit_injective(cg_kernel *k, char *err, size_t err_size);
int cg_emit_reduce(cg_kernel *k, char *err, size_t err_size);
int cg_emit_window(cg_kernel *k, char *err, size_t err_size);
int cg_emit_conv(cg_kernel *k, char *err, size_t err_size);
int cg_emit_attention(cg_kernel *k, char *err, size_t err_size);

#endif
