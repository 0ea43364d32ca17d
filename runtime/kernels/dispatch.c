/*
 * dispatch.c: rt_kernel_run() and friends route an op to its family.
 */
#include <stdarg.h>
#include <stdio.h>

#include "kernels_internal.h"

static rt_kfn kernel_of(int op) {
  switch (op) {
  case RT_OP_ABS: case RT_OP_NEG: case RT_OP_RELU: case RT_OP_LEAKY_RELU:
  case RT_OP_SIGMOID: case RT_OP_TANH: case RT_OP_GELU: case RT_OP_ERF:
  case RT_OP_EXP: case RT_OP_LOG: case RT_OP_SQRT: case RT_OP_RECIPROCAL:
  case RT_OP_CLIP: case RT_OP_HARD_SIGMOID: case RT_OP_HARD_SWISH: case RT_OP_SOFTPLUS:
    return rt_k_unary;
  case RT_OP_ADD: case RT_OP_SUB: case RT_OP_MUL: case RT_OP_DIV: case RT_OP_POW:
  case RT_OP_MAX: case RT_OP_MIN: case RT_OP_SUM:
    return rt_k_binary;
  case RT_OP_MATMUL: return rt_k_matmul;
  case RT_OP_GEMM: return rt_k_gemm;
  case RT_OP_CONV: return rt_k_conv;
  case RT_OP_MAX_POOL: case RT_OP_AVERAGE_POOL: return rt_k_pool;
  case RT_OP_GLOBAL_AVERAGE_POOL: case RT_OP_GLOBAL_MAX_POOL: return rt_k_global_pool;
  case RT_OP_LRN: return rt_k_lrn;
  case RT_OP_BATCH_NORM: return rt_k_batch_norm;
  case RT_OP_LAYER_NORM: return rt_k_layer_norm;
  case RT_OP_SOFTMAX: case RT_OP_LOG_SOFTMAX: return rt_k_softmax;
  case RT_OP_REDUCE_MEAN: case RT_OP_REDUCE_SUM: case RT_OP_REDUCE_MAX: return rt_k_reduce;
  case RT_OP_IDENTITY: case RT_OP_DROPOUT: case RT_OP_RESHAPE: case RT_OP_FLATTEN:
  case RT_OP_SQUEEZE: case RT_OP_UNSQUEEZE:
    return rt_k_copy;
  case RT_OP_TRANSPOSE: return rt_k_transpose;
  case RT_OP_CONCAT: return rt_k_concat;
  case RT_OP_SPLIT: return rt_k_split;
  case RT_OP_SLICE: return rt_k_slice;
  case RT_OP_PAD: return rt_k_pad;
  case RT_OP_GATHER: return rt_k_gather;
  default: return NULL;
  }
}

int rt_kernel_run(const rt_kctx *ctx, const rt_kargs *a) {
  rt_kfn fn = kernel_of(a->op);
  if (!fn) return rt_k_fail(ctx, "no CPU kernel for op code %d", a->op);
  return fn(ctx, a);
}

size_t rt_kernel_scratch(const rt_kargs *a, const rt_pool *pool) {
  switch (a->op) {
  case RT_OP_MATMUL: return rt_k_matmul_scratch(a, pool);
  case RT_OP_GEMM: return rt_k_gemm_scratch(a, pool);
  case RT_OP_CONV: return rt_k_conv_scratch(a, pool);
  default: return 0;
  }
}

int rt_kernel_takes_dtype(int op, int dtype) {
  kernel_of(op); /* keeps the two switches honest under -Wswitch */
  switch (op) {
  case RT_OP_IDENTITY: case RT_OP_DROPOUT: case RT_OP_RESHAPE: case RT_OP_FLATTEN:
  case RT_OP_SQUEEZE: case RT_OP_UNSQUEEZE: case RT_OP_TRANSPOSE: case RT_OP_CONCAT:
  case RT_OP_SPLIT: case RT_OP_SLICE: case RT_OP_PAD: case RT_OP_GATHER:
    return dtype >= 0 && dtype < RT_DTYPE_COUNT;
  default:
    return dtype == RT_F32;
  }
}

int rt_k_fail(const rt_kctx *ctx, const char *fmt, ...) {
  if (ctx && ctx->err && ctx->err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, ctx->err_size, fmt, ap);
    va_end(ap);
  }
  return -1;
}
