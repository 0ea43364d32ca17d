/*
 * kernels_internal.h: the per-family kernel entry points behind
 * rt_kernel_run() (dispatch.c). One file per family:
 *
 *   elementwise.c  unary activations, broadcasting binary and variadic ops
 *   gemm.c         rt_sgemm, MatMul, Gemm
 *   conv.c         Conv (direct, depthwise, im2col + GEMM)
 *   pool.c         MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
 *   normalize.c    BatchNormalization, LayerNormalization, Softmax, LogSoftmax, LRN
 *   reduce.c       ReduceMean, ReduceSum, ReduceMax
 *   layout.c       copies (Identity, Dropout, Reshape, Flatten, Squeeze,
 *                  Unsqueeze), Transpose, Concat, Split, Slice, Pad, Gather
 */
#ifndef KERNELS_INTERNAL_H
#define KERNELS_INTERNAL_H

#include "rt_kernels.h"

typedef int (*rt_kfn)(const rt_kctx *ctx, const rt_kargs *a);

int rt_k_unary(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_binary(const rt_kctx *ctx, const rt_kargs *a); /* also variadic Sum/Max/Min */
int rt_k_matmul(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_gemm(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_conv(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_pool(const rt_kctx *ctx, const rt_kargs *a);        /* MaxPool, AveragePool */
int rt_k_global_pool(const rt_kctx *ctx, const rt_kargs *a); /* GlobalAverage/MaxPool */
int rt_k_lrn(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_batch_norm(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_layer_norm(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_softmax(const rt_kctx *ctx, const rt_kargs *a);     /* Softmax, LogSoftmax */
int rt_k_reduce(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_copy(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_transpose(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_concat(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_split(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_slice(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_pad(const rt_kctx *ctx, const rt_kargs *a);
int rt_k_gather(const rt_kctx *ctx, const rt_kargs *a);

/* Scratch needs (bytes) of the kernels that use scratch; the rest need none. */
size_t rt_k_matmul_scratch(const rt_kargs *a, const rt_pool *pool);
size_t rt_k_gemm_scratch(const rt_kargs *a, const rt_pool *pool);
size_t rt_k_conv_scratch(const rt_kargs *a, const rt_pool *pool);

/* Write a failure reason into ctx->err; returns -1. */
int rt_k_fail(const rt_kctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
