/* pool.c: placeholder until the kernel family lands (being written). */
#include "kernels_internal.h"
int rt_k_pool(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_global_pool(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
