/*
 * cuda_gemm.c: RT_LAUNCH_GEMM on cuBLASLt (see cuda_gemm.h).
 *
 * The plan describes D[b] = epilogue(alpha op(A[b]) op(B[b]) + beta C[b]) in
 * row-major terms (rt_plan.h). A row-major matrix with leading dimension ld
 * is the column-major transpose with the same ld, so cuBLASLt computes
 * D^T = op(B)^T op(A)^T: its A is the plan's B (transposed when trans_b),
 * its B the plan's A, and D^T has n rows, so the plan's bias of n values,
 * one per output column, is cuBLASLt's bias of one value per row.
 *
 * Arithmetic: float32, float16 and bfloat16 operands with float32
 * accumulation and float32 alpha/beta. float32 GEMMs use CUBLAS_COMPUTE_32F,
 * which never rounds inputs to TF32, unless the plan allows TF32
 * (RT_PLAN_TF32: CUBLAS_COMPUTE_32F_FAST_TF32). The epilogues map one to
 * one; cuBLASLt's GELU is the tanh approximation, so the compiler uses
 * RT_GEMM_EPI_GELU only for Gelu(approximate='tanh').
 */
#include "cuda_gemm.h"

#include <stdio.h>
#include <string.h>

#include "rt_types.h"

static int lt_type(int dtype) {
  switch (dtype) {
  case RT_F32: return RT_LT_R_32F;
  case RT_F16: return RT_LT_R_16F;
  case RT_BF16: return RT_LT_R_16BF;
  default: return -1;
  }
}

static uint32_t lt_epilogue(int64_t epi) {
  switch (epi) {
  case RT_GEMM_EPI_BIAS: return RT_LT_EPILOGUE_BIAS;
  case RT_GEMM_EPI_RELU: return RT_LT_EPILOGUE_RELU;
  case RT_GEMM_EPI_BIAS_RELU: return RT_LT_EPILOGUE_RELU_BIAS;
  case RT_GEMM_EPI_GELU: return RT_LT_EPILOGUE_GELU;
  case RT_GEMM_EPI_BIAS_GELU: return RT_LT_EPILOGUE_GELU_BIAS;
  default: return RT_LT_EPILOGUE_DEFAULT;
  }
}

/* The alignment cuBLASLt may assume of a pointer: its largest power-of-two
 * divisor, up to the 256 bytes it assumes by default (a view or a plan with
 * a smaller alignment can place an operand off that). */
static uint32_t ptr_align(rt_cu_deviceptr p) {
  uint32_t a = 256;
  while (a > 1 && p % a) a >>= 1;
  return a;
}

/* A column-major layout rows x cols with leading dimension ld, batched. */
static rt_lt_status make_layout(const rt_cublaslt *lt, rt_lt_layout *l, int type, int64_t rows,
                                int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  rt_lt_status s = lt->cublasLtMatrixLayoutCreate(l, type, (uint64_t)rows, (uint64_t)cols, ld);
  if (s != RT_LT_STATUS_SUCCESS || batch == 1) return s;
  int32_t count = (int32_t)batch;
  s = lt->cublasLtMatrixLayoutSetAttribute(*l, RT_LT_LAYOUT_BATCH_COUNT, &count, sizeof count);
  if (s != RT_LT_STATUS_SUCCESS) return s;
  return lt->cublasLtMatrixLayoutSetAttribute(*l, RT_LT_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride);
}

int rt_gemm_setup(const rt_cublaslt *lt, rt_lt_handle h, const rt_plan *p, uint32_t step,
                  rt_cu_deviceptr slab, rt_cu_deviceptr params, rt_gemm *g, char *err,
                  size_t err_size) {
  memset(g, 0, sizeof *g);
  const rt_launch *l = &p->launches[step];
  const int64_t *ia = p->ints + l->ia;
  const int32_t *arg = p->args + l->args;
  int64_t ta = ia[0], tb = ia[1], m = ia[2], n = ia[3], k = ia[4], batch = ia[5];
  int64_t lda = ia[6], ldb = ia[7], ldc = ia[8], sa = ia[9], sb = ia[10], sc = ia[11], epi = ia[12];
  const rt_tensor *A = &p->tensors[arg[0]], *B = &p->tensors[arg[1]], *D = &p->tensors[arg[3]];
  const rt_tensor *C = arg[2] >= 0 ? &p->tensors[arg[2]] : NULL;
  const rt_tensor *bias = arg[4] >= 0 ? &p->tensors[arg[4]] : NULL;
  const rt_tensor *ws = arg[5] >= 0 ? &p->tensors[arg[5]] : NULL;
  const char *kernel = p->steps[step].kernel;
  int ta_type = lt_type(A->dtype), tb_type = lt_type(B->dtype), td_type = lt_type(D->dtype);
  if (ta_type < 0 || tb_type < 0 || td_type < 0 || A->dtype != B->dtype || (C && C->dtype != D->dtype)) {
    snprintf(err, err_size, "step %u (%s): cuBLASLt cannot multiply %s by %s into %s%s%s", step, kernel,
             rt_dtype_name(A->dtype), rt_dtype_name(B->dtype), rt_dtype_name(D->dtype),
             C ? " adding " : "", C ? rt_dtype_name(C->dtype) : "");
    return -1;
  }
  int with_bias = epi == RT_GEMM_EPI_BIAS || epi == RT_GEMM_EPI_BIAS_RELU || epi == RT_GEMM_EPI_BIAS_GELU;
  g->alpha = p->floats[l->fa];
  g->beta = C ? p->floats[l->fa + 1] : 0.0f; /* no C: nothing to add */
  g->pa = rt_cuda_tensor_ptr(p, arg[1], slab, params);
  g->pb = rt_cuda_tensor_ptr(p, arg[0], slab, params);
  g->pd = rt_cuda_tensor_ptr(p, arg[3], slab, params);
  g->pc = C ? rt_cuda_tensor_ptr(p, arg[2], slab, params) : g->pd;
  g->bias = with_bias ? rt_cuda_tensor_ptr(p, arg[4], slab, params) : 0;
  g->ws = ws ? rt_cuda_tensor_ptr(p, arg[5], slab, params) : 0;

  const char *what = "cublasLtMatmulDescCreate";
  int tf32 = (p->flags & RT_PLAN_TF32) && A->dtype == RT_F32;
  rt_lt_status s = lt->cublasLtMatmulDescCreate(&g->desc, tf32 ? RT_LT_COMPUTE_32F_FAST_TF32 : RT_LT_COMPUTE_32F,
                                                RT_LT_R_32F);
  int32_t op_a = tb ? RT_LT_OP_T : RT_LT_OP_N, op_b = ta ? RT_LT_OP_T : RT_LT_OP_N;
  uint32_t epilogue = lt_epilogue(epi);
  if (s == RT_LT_STATUS_SUCCESS) {
    what = "cublasLtMatmulDescSetAttribute";
    s = lt->cublasLtMatmulDescSetAttribute(g->desc, RT_LT_DESC_TRANSA, &op_a, sizeof op_a);
  }
  if (s == RT_LT_STATUS_SUCCESS) s = lt->cublasLtMatmulDescSetAttribute(g->desc, RT_LT_DESC_TRANSB, &op_b, sizeof op_b);
  if (s == RT_LT_STATUS_SUCCESS && epilogue != RT_LT_EPILOGUE_DEFAULT)
    s = lt->cublasLtMatmulDescSetAttribute(g->desc, RT_LT_DESC_EPILOGUE, &epilogue, sizeof epilogue);
  if (s == RT_LT_STATUS_SUCCESS && with_bias) {
    const void *bp = (const void *)(uintptr_t)g->bias;
    s = lt->cublasLtMatmulDescSetAttribute(g->desc, RT_LT_DESC_BIAS_POINTER, &bp, sizeof bp);
    /* cuBLASLt's default bias type is D's; say so only when it differs */
    int32_t bt = lt_type(bias->dtype);
    if (s == RT_LT_STATUS_SUCCESS && bias->dtype != D->dtype)
      s = lt->cublasLtMatmulDescSetAttribute(g->desc, RT_LT_DESC_BIAS_DATA_TYPE, &bt, sizeof bt);
  }
  /* cuBLASLt's A: the plan's B, stored (tb ? n x k : k x n) row-major */
  if (s == RT_LT_STATUS_SUCCESS) {
    what = "cublasLtMatrixLayoutCreate";
    s = make_layout(lt, &g->a, tb_type, tb ? k : n, tb ? n : k, ldb, batch, sb);
  }
  if (s == RT_LT_STATUS_SUCCESS) s = make_layout(lt, &g->b, ta_type, ta ? m : k, ta ? k : m, lda, batch, sa);
  if (s == RT_LT_STATUS_SUCCESS) s = make_layout(lt, &g->c, td_type, n, m, ldc, batch, sc);
  if (s == RT_LT_STATUS_SUCCESS) s = make_layout(lt, &g->d, td_type, n, m, ldc, batch, sc);
  if (s != RT_LT_STATUS_SUCCESS) {
    char buf[256];
    snprintf(err, err_size, "step %u (%s): %s; the GEMM is %lld x %lld x %lld (batch %lld)", step,
             kernel, rt_cublaslt_error(lt, s, what, buf, sizeof buf), (long long)m, (long long)n,
             (long long)k, (long long)batch);
    return -1;
  }

  /* One heuristic query: the best algorithm within the planned workspace. */
  rt_lt_pref pref = NULL;
  uint64_t ws_max = ws ? ws->bytes : 0;
  rt_lt_heuristic result;
  int found = 0;
  what = "cublasLtMatmulPreferenceCreate";
  s = lt->cublasLtMatmulPreferenceCreate(&pref);
  if (s == RT_LT_STATUS_SUCCESS) {
    what = "cublasLtMatmulPreferenceSetAttribute";
    s = lt->cublasLtMatmulPreferenceSetAttribute(pref, RT_LT_PREF_MAX_WORKSPACE_BYTES, &ws_max, sizeof ws_max);
  }
  const rt_cu_deviceptr operand[4] = {g->pa, g->pb, g->pc, g->pd};
  for (int i = 0; i < 4 && s == RT_LT_STATUS_SUCCESS; i++) {
    uint32_t align = ptr_align(operand[i]);
    s = lt->cublasLtMatmulPreferenceSetAttribute(pref, RT_LT_PREF_MIN_ALIGNMENT_A_BYTES + i, &align, sizeof align);
  }
  if (s == RT_LT_STATUS_SUCCESS) {
    what = "cublasLtMatmulAlgoGetHeuristic";
    s = lt->cublasLtMatmulAlgoGetHeuristic(h, g->desc, g->a, g->b, g->c, g->d, pref, 1, &result, &found);
  }
  rt_lt_status s2 = pref ? lt->cublasLtMatmulPreferenceDestroy(pref) : RT_LT_STATUS_SUCCESS;
  if (s == RT_LT_STATUS_SUCCESS && s2 != RT_LT_STATUS_SUCCESS) s = s2, what = "cublasLtMatmulPreferenceDestroy";
  if (s != RT_LT_STATUS_SUCCESS || found < 1 || result.state != RT_LT_STATUS_SUCCESS) {
    char buf[256];
    if (s == RT_LT_STATUS_SUCCESS) snprintf(buf, sizeof buf, "cuBLASLt has no algorithm for it");
    else rt_cublaslt_error(lt, s, what, buf, sizeof buf);
    snprintf(err, err_size, "step %u (%s): %s: %s x %s GEMM %lld x %lld x %lld (batch %lld, trans %lld/%lld, "
             "epilogue %lld) with %llu workspace bytes; this is a bug in dlc's lowering, report it with the plan",
             step, kernel, buf, rt_dtype_name(A->dtype), rt_dtype_name(B->dtype), (long long)m,
             (long long)n, (long long)k, (long long)batch, (long long)ta, (long long)tb, (long long)epi,
             (unsigned long long)ws_max);
    return -1;
  }
  g->algo = result.algo;
  g->ws_bytes = result.workspace_size;
  return 0;
}

int rt_gemm_enqueue(const rt_cublaslt *lt, rt_lt_handle h, const rt_gemm *g, rt_cu_stream s,
                    char *err, size_t err_size) {
  rt_lt_status st = lt->cublasLtMatmul(h, g->desc, &g->alpha, (const void *)(uintptr_t)g->pa, g->a,
                                       (const void *)(uintptr_t)g->pb, g->b, &g->beta,
                                       (const void *)(uintptr_t)g->pc, g->c, (void *)(uintptr_t)g->pd,
                                       g->d, &g->algo, (void *)(uintptr_t)g->ws, g->ws_bytes, s);
  if (st != RT_LT_STATUS_SUCCESS) {
    char buf[256];
    snprintf(err, err_size, "%s; this is a bug in dlc or cuBLASLt: report it with the plan",
             rt_cublaslt_error(lt, st, "cublasLtMatmul", buf, sizeof buf));
    return -1;
  }
  return 0;
}

rt_lt_status rt_gemm_release(const rt_cublaslt *lt, rt_gemm *g) {
  rt_lt_status first = RT_LT_STATUS_SUCCESS, s;
  rt_lt_layout *layouts[4] = {&g->a, &g->b, &g->c, &g->d};
  for (int i = 0; i < 4; i++)
    if (*layouts[i]) {
      s = lt->cublasLtMatrixLayoutDestroy(*layouts[i]);
      if (first == RT_LT_STATUS_SUCCESS) first = s;
      *layouts[i] = NULL;
    }
  if (g->desc) {
    s = lt->cublasLtMatmulDescDestroy(g->desc);
    if (first == RT_LT_STATUS_SUCCESS) first = s;
    g->desc = NULL;
  }
  return first;
}
