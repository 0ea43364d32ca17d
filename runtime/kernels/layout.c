/* layout.c: placeholder until the kernel family lands (being written). */
#include "kernels_internal.h"
int rt_k_copy(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_transpose(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_concat(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_split(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_slice(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_pad(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_gather(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
