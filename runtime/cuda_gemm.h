/*
 * cuda_gemm.h: the CUDA backend's RT_LAUNCH_GEMM steps on cuBLASLt.
 *
 * Everything about a GEMM is decided once at start-up: its descriptors,
 * layouts and the algorithm (one heuristic query); enqueueing it (while the
 * backend captures its graph) is then one cublasLtMatmul call.
 */
#ifndef CUDA_GEMM_H
#define CUDA_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "rt_cuda_api.h"
#include "rt_plan.h"

/* A tensor's device address: params in the params region, everything else
 * in the slab; id -1 is a null pointer. */
static inline rt_cu_deviceptr rt_cuda_tensor_ptr(const rt_plan *p, int32_t id, rt_cu_deviceptr slab,
                                                 rt_cu_deviceptr params) {
  if (id < 0) return 0;
  const rt_tensor *t = &p->tensors[id];
  return (t->kind == RT_KIND_PARAM ? params : slab) + t->offset;
}

typedef struct rt_gemm {
  /* cuBLASLt is column-major: the plan's row-major D = op(A) op(B) is run
   * as D^T = op(B)^T op(A)^T, so layout `a` describes the plan's B. */
  rt_lt_matmul_desc desc;
  rt_lt_layout a, b, c, d;
  rt_lt_algo algo;
  float alpha, beta;
  rt_cu_deviceptr pa, pb, pc, pd, bias, ws;
  size_t ws_bytes;
} rt_gemm;

/* Set up step `step` of p (an RT_LAUNCH_GEMM). 0, or -1 with err saying what
 * cuBLASLt refused and why. On failure g holds what must be released. */
int rt_gemm_setup(const rt_cublaslt *lt, rt_lt_handle h, const rt_plan *p, uint32_t step,
                  rt_cu_deviceptr slab, rt_cu_deviceptr params, rt_gemm *g, char *err,
                  size_t err_size);

int rt_gemm_enqueue(const rt_cublaslt *lt, rt_lt_handle h, const rt_gemm *g, rt_cu_stream s,
                    char *err, size_t err_size);

/* Destroy g's descriptors (those that were created). 0, or the first
 * failing status. */
rt_lt_status rt_gemm_release(const rt_cublaslt *lt, rt_gemm *g);

#endif
