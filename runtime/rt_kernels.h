/*
 * rt_kernels.h: the CPU reference kernels, one per op of rt_ops.h.
 *
 * A kernel sees its tensors as views (pointer, dtype, shape; dense, row-major)
 * and its canonical attributes (see rt_ops.h). These kernels are the reference
 * the generated GPU code is checked against, so they favour clarity, but the
 * heavy ones (GEMM, convolution) are blocked for the cache and spread over
 * the thread pool.
 *
 * Dtypes. Math kernels take float32 views only: the CPU backend widens
 * float16 / bfloat16 tensors into float32 scratch before a call and narrows
 * the results after it. Data-movement kernels (Identity and the other copies,
 * Transpose, Concat, Split, Slice, Pad, Gather) work on any element type.
 *
 * Memory. A kernel never allocates: what it needs beyond its views it takes
 * from ctx->scratch, whose size the caller obtained from rt_kernel_scratch()
 * with the same views and pool. Views' data pointers may be NULL when only the
 * scratch size is asked for.
 *
 * Aliasing. Output 0 may be the same memory as input 0 (or, for the binary
 * ops, any input of the output's shape) for the unary and binary elementwise
 * ops, BatchNormalization, LayerNormalization, Softmax and LogSoftmax: each
 * writes an element only after its last read of that position. The compiler
 * plans such in-place writes (compiler/storage.c); otherwise outputs never
 * overlap inputs.
 */
#ifndef RT_KERNELS_H
#define RT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "rt_ops.h"
#include "rt_pool.h"
#include "rt_types.h"

typedef struct rt_view {
  void *data;          /* NULL: optional input absent (check n_in too) */
  int dtype;           /* rt_dtype */
  int rank;
  int64_t dims[RT_MAX_RANK];
} rt_view;

typedef struct rt_kargs {
  int op;              /* rt_op */
  int n_in, n_out;
  const rt_view *in;   /* in[i].data == NULL: optional input i absent */
  const rt_view *out;  /* out[i].data == NULL: optional output i not wanted */
  const int64_t *ia;
  int n_ia;
  const float *fa;
  int n_fa;
} rt_kargs;

typedef struct rt_kctx {
  rt_pool *pool;       /* NULL: run on the calling thread */
  void *scratch;       /* at least rt_kernel_scratch() bytes, 64-byte aligned */
  size_t scratch_bytes;
  char *err;           /* on failure, a one-line reason (may be NULL) */
  size_t err_size;
} rt_kctx;

/* Run one op. 0 on success; -1 on a data-dependent failure (a Gather index out
 * of range) with the reason in ctx->err. Shapes and attributes were validated
 * by the compiler and the plan loader; a kernel asserts them, it does not
 * re-check them. */
int rt_kernel_run(const rt_kctx *ctx, const rt_kargs *a);

/* Scratch bytes rt_kernel_run() needs for these views with this pool. */
size_t rt_kernel_scratch(const rt_kargs *a, const rt_pool *pool);

/* Whether rt_kernel_run() implements this op for these dtypes (1) or not (0):
 * math ops want float32 views, data-movement ops take any dtype. */
int rt_kernel_takes_dtype(int op, int dtype);

/* Low-level building blocks the kernels share and tests check directly. */

/* C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C, row-major with
 * leading dimensions lda, ldb, ldc; op(X) = X or X^T. beta == 0 ignores C's
 * old contents (NaNs included). Uses scratch from rt_sgemm_scratch(). */
void rt_sgemm(rt_pool *pool, void *scratch, int trans_a, int trans_b, int64_t m,
              int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
size_t rt_sgemm_scratch(const rt_pool *pool);

#endif
