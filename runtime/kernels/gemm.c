/* gemm.c: placeholder until the kernel family lands (being written). */
#include "kernels_internal.h"
int rt_k_matmul(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
int rt_k_gemm(const rt_kctx *ctx, const rt_kargs *a) { return rt_k_fail(ctx, "%s: not implemented yet", rt_op_name(a->op)); }
size_t rt_k_matmul_scratch(const rt_kargs *a, const rt_pool *pool) { (void)a; (void)pool; return 0; }
size_t rt_k_gemm_scratch(const rt_kargs *a, const rt_pool *pool) { (void)a; (void)pool; return 0; }
size_t rt_sgemm_scratch(const rt_pool *pool) { (void)pool; return 0; }
