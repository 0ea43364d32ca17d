/*
 * fakecublaslt.c: cuBLASLt on the CPU, built as libcublasLt.so.13 beside
 * the fake driver (see fakecuda.h), for testing dlc's GEMM steps.
 *
 * It honours what the backend sets, with cuBLASLt's semantics: column-major
 * layouts (row-major when CUBLASLT_MATRIX_LAYOUT_ORDER says so), rows, cols,
 * leading dimensions, strided batches, transposes, float32/float16/bfloat16
 * storage with float32 scaling, the compute type (TF32 rounds the inputs to
 * 10 mantissa bits), and the epilogues (bias of one value per row of D, ReLU,
 * GELU in its tanh approximation, as cuBLASLt computes it). It refuses what
 * cuBLASLt would: shapes that do not chain, leading dimensions shorter than
 * a column, batch counts that differ, a bias epilogue without a bias, a
 * workspace smaller than the algorithm's; and it checks that every matrix
 * lies inside one device allocation. cublasLtMatmul queues the product on
 * the stream as a host function of the fake driver, so it is ordered with
 * the kernels and captured into graphs like them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakecuda.h"
#include "rt_cuda_api.h"
#include "rt_types.h"

#define EXPORT __attribute__((visibility("default")))

enum { ST_OK = 0, ST_NOT_INITIALIZED = 1, ST_ALLOC_FAILED = 3, ST_INVALID_VALUE = 7, ST_NOT_SUPPORTED = 15 };

typedef struct desc {
  int compute, scale;
  int32_t transa, transb;
  uint32_t epilogue;
  const void *bias;
  int32_t bias_type;         /* -1: D's type */
} desc;

typedef struct layout {
  int type;
  uint64_t rows, cols;
  int64_t ld;
  int32_t order, batch;
  int64_t stride;
} layout;

typedef struct pref {
  uint64_t max_workspace;
  uint32_t min_align[4]; /* A, B, C, D */
} pref;

typedef struct job {
  desc d;
  layout a, b, c, dl;
  float alpha, beta;
  const void *pa, *pb, *pc;
  void *pd;
  struct job *next;
} job;

struct cublasLtContext {
  job *jobs; /* every queued product, alive while a graph may replay it */
};

rt_cu_result cuLaunchHostFunc(rt_cu_stream s, rt_cu_host_fn fn, void *user);

static fakecublaslt_info info;

EXPORT void fakecublaslt_last(fakecublaslt_info *out) { *out = info; }

EXPORT const char *cublasLtGetStatusString(rt_lt_status s) {
  switch (s) {
  case ST_OK: return "CUBLAS_STATUS_SUCCESS";
  case ST_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case ST_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
  case ST_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  case ST_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  default: return "CUBLAS_STATUS_UNKNOWN";
  }
}

EXPORT size_t cublasLtGetVersion(void) { return 130000; }

EXPORT rt_lt_status cublasLtCreate(rt_lt_handle *h) {
  *h = calloc(1, sizeof **h);
  return *h ? ST_OK : ST_ALLOC_FAILED;
}

EXPORT rt_lt_status cublasLtDestroy(rt_lt_handle h) {
  if (!h) return ST_NOT_INITIALIZED;
  for (job *j = h->jobs, *n; j; j = n) {
    n = j->next;
    free(j);
  }
  free(h);
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatmulDescCreate(rt_lt_matmul_desc *out, int compute, int scale) {
  desc *d = calloc(1, sizeof *d);
  if (!d) return ST_ALLOC_FAILED;
  *d = (desc){compute, scale, RT_LT_OP_N, RT_LT_OP_N, RT_LT_EPILOGUE_DEFAULT, NULL, -1};
  *out = (rt_lt_matmul_desc)(void *)d;
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatmulDescDestroy(rt_lt_matmul_desc d) {
  free(d);
  return ST_OK;
}

#define SET(field, type)                               \
  do {                                                 \
    if (n != sizeof(type)) return ST_INVALID_VALUE;    \
    memcpy(&(field), buf, sizeof(type));               \
  } while (0)

EXPORT rt_lt_status cublasLtMatmulDescSetAttribute(rt_lt_matmul_desc md, int attr, const void *buf, size_t n) {
  desc *d = (desc *)(void *)md;
  if (!d || !buf) return ST_INVALID_VALUE;
  switch (attr) {
  case RT_LT_DESC_TRANSA: SET(d->transa, int32_t); break;
  case RT_LT_DESC_TRANSB: SET(d->transb, int32_t); break;
  case RT_LT_DESC_EPILOGUE: SET(d->epilogue, uint32_t); break;
  case RT_LT_DESC_BIAS_POINTER: SET(d->bias, const void *); break;
  case RT_LT_DESC_BIAS_DATA_TYPE: SET(d->bias_type, int32_t); break;
  default: return ST_INVALID_VALUE;
  }
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatrixLayoutCreate(rt_lt_layout *out, int type, uint64_t rows, uint64_t cols, int64_t ld) {
  layout *l = calloc(1, sizeof *l);
  if (!l) return ST_ALLOC_FAILED;
  *l = (layout){type, rows, cols, ld, 0, 1, 0};
  *out = (rt_lt_layout)(void *)l;
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatrixLayoutDestroy(rt_lt_layout l) {
  free(l);
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatrixLayoutSetAttribute(rt_lt_layout ml, int attr, const void *buf, size_t n) {
  layout *l = (layout *)(void *)ml;
  if (!l || !buf) return ST_INVALID_VALUE;
  switch (attr) {
  case RT_LT_LAYOUT_ORDER: SET(l->order, int32_t); break;
  case RT_LT_LAYOUT_BATCH_COUNT: SET(l->batch, int32_t); break;
  case RT_LT_LAYOUT_STRIDED_BATCH_OFFSET: SET(l->stride, int64_t); break;
  default: return ST_INVALID_VALUE;
  }
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatmulPreferenceCreate(rt_lt_pref *out) {
  pref *p = calloc(1, sizeof *p);
  if (!p) return ST_ALLOC_FAILED;
  for (int i = 0; i < 4; i++) p->min_align[i] = 256;
  *out = (rt_lt_pref)(void *)p;
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatmulPreferenceDestroy(rt_lt_pref p) {
  free(p);
  return ST_OK;
}

EXPORT rt_lt_status cublasLtMatmulPreferenceSetAttribute(rt_lt_pref mp, int attr, const void *buf, size_t n) {
  pref *p = (pref *)(void *)mp;
  if (!p || !buf) return ST_INVALID_VALUE;
  if (attr == RT_LT_PREF_MAX_WORKSPACE_BYTES) {
    SET(p->max_workspace, uint64_t);
  } else if (attr >= RT_LT_PREF_MIN_ALIGNMENT_A_BYTES && attr <= RT_LT_PREF_MIN_ALIGNMENT_D_BYTES) {
    SET(p->min_align[attr - RT_LT_PREF_MIN_ALIGNMENT_A_BYTES], uint32_t);
  } else {
    return ST_INVALID_VALUE;
  }
  return ST_OK;
}

static size_t type_size(int t) {
  return t == RT_LT_R_32F ? 4 : t == RT_LT_R_16F || t == RT_LT_R_16BF ? 2 : 0;
}

/* The rows and columns of op(l). */
static void op_dims(const layout *l, int32_t trans, uint64_t *rows, uint64_t *cols) {
  *rows = trans ? l->cols : l->rows;
  *cols = trans ? l->rows : l->cols;
}

/* What cuBLASLt checks before it looks for an algorithm. */
static rt_lt_status validate(const desc *d, const layout *a, const layout *b, const layout *c, const layout *dl) {
  if (d->compute != RT_LT_COMPUTE_32F && d->compute != RT_LT_COMPUTE_32F_FAST_TF32) return ST_NOT_SUPPORTED;
  if (d->scale != RT_LT_R_32F) return ST_NOT_SUPPORTED;
  if ((d->transa | d->transb) & ~1) return ST_INVALID_VALUE;
  if (a->type != b->type || c->type != dl->type || !type_size(a->type) || !type_size(dl->type))
    return ST_NOT_SUPPORTED;
  if (d->compute == RT_LT_COMPUTE_32F_FAST_TF32 && a->type != RT_LT_R_32F) return ST_NOT_SUPPORTED;
  const layout *all[4] = {a, b, c, dl};
  for (int i = 0; i < 4; i++) {
    const layout *l = all[i];
    if (!l->rows || !l->cols || l->batch < 1 || l->stride < 0) return ST_INVALID_VALUE;
    if (l->ld < (int64_t)(l->order ? l->cols : l->rows)) return ST_INVALID_VALUE;
    if (l->batch != dl->batch) return ST_INVALID_VALUE;
  }
  uint64_t ar, ac, br, bc;
  op_dims(a, d->transa, &ar, &ac);
  op_dims(b, d->transb, &br, &bc);
  if (ar != dl->rows || bc != dl->cols || ac != br || c->rows != dl->rows || c->cols != dl->cols)
    return ST_INVALID_VALUE;
  uint32_t e = d->epilogue;
  if (e != RT_LT_EPILOGUE_DEFAULT && e != RT_LT_EPILOGUE_RELU && e != RT_LT_EPILOGUE_BIAS &&
      e != RT_LT_EPILOGUE_RELU_BIAS && e != RT_LT_EPILOGUE_GELU && e != RT_LT_EPILOGUE_GELU_BIAS)
    return ST_NOT_SUPPORTED;
  if ((e & RT_LT_EPILOGUE_BIAS) && !d->bias) return ST_INVALID_VALUE;
  if ((e & RT_LT_EPILOGUE_BIAS) && d->bias_type != -1 && !type_size(d->bias_type)) return ST_NOT_SUPPORTED;
  return ST_OK;
}

/* The algorithm: a mark, its workspace needs (capped by the preference) and
 * the operand alignments it was chosen for (data[2..5]): like cuBLASLt's
 * kernels, it refuses pointers less aligned than that. */
enum { ALGO_MARK = 0x464b4c54, ALGO_WORKSPACE = 4096 };

EXPORT rt_lt_status cublasLtMatmulAlgoGetHeuristic(rt_lt_handle h, rt_lt_matmul_desc md, rt_lt_layout a,
                                                   rt_lt_layout b, rt_lt_layout c, rt_lt_layout d,
                                                   rt_lt_pref mp, int requested, rt_lt_heuristic *results,
                                                   int *returned) {
  if (!h) return ST_NOT_INITIALIZED;
  if (requested < 1 || !md || !a || !b || !c || !d || !mp) return ST_INVALID_VALUE;
  info.heuristics++;
  *returned = 0;
  rt_lt_status s = validate((desc *)(void *)md, (layout *)(void *)a, (layout *)(void *)b, (layout *)(void *)c,
                            (layout *)(void *)d);
  if (s != ST_OK) return s;
  uint64_t max_ws = ((pref *)(void *)mp)->max_workspace;
  memset(&results[0], 0, sizeof results[0]);
  results[0].algo.data[0] = ALGO_MARK;
  results[0].algo.data[1] = max_ws < ALGO_WORKSPACE ? max_ws : ALGO_WORKSPACE;
  results[0].workspace_size = (size_t)results[0].algo.data[1];
  for (int i = 0; i < 4; i++) results[0].algo.data[2 + i] = ((pref *)(void *)mp)->min_align[i];
  results[0].state = ST_OK;
  results[0].waves_count = 1.0f;
  *returned = 1;
  return ST_OK;
}

static float load(int type, const void *base, uint64_t i) {
  switch (type) {
  case RT_LT_R_32F: return ((const float *)base)[i];
  case RT_LT_R_16F: return rt_f16_to_f32(((const uint16_t *)base)[i]);
  default: return rt_bf16_to_f32(((const uint16_t *)base)[i]);
  }
}

static void store(int type, void *base, uint64_t i, float v) {
  switch (type) {
  case RT_LT_R_32F: ((float *)base)[i] = v; break;
  case RT_LT_R_16F: ((uint16_t *)base)[i] = rt_f32_to_f16(v); break;
  default: ((uint16_t *)base)[i] = rt_f32_to_bf16(v); break;
  }
}

/* Element (r, c) of batch k of l, as an element index. */
static uint64_t at(const layout *l, uint64_t r, uint64_t c, uint64_t k) {
  return k * (uint64_t)l->stride + (l->order ? r * (uint64_t)l->ld + c : r + c * (uint64_t)l->ld);
}

/* Elements l spans: what must lie inside its allocation. */
static uint64_t span(const layout *l) {
  uint64_t last = at(l, l->rows - 1, l->cols - 1, (uint64_t)l->batch - 1);
  return (last + 1) * type_size(l->type);
}

static float tf32(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  u = (u + 0x1000u) & ~0x1FFFu; /* round to 10 mantissa bits */
  memcpy(&x, &u, 4);
  return x;
}

static void run_job(void *arg) {
  const job *j = arg;
  const desc *d = &j->d;
  uint64_t m = j->dl.rows, n = j->dl.cols, k = d->transa ? j->a.rows : j->a.cols;
  int bias_type = d->bias_type == -1 ? j->dl.type : d->bias_type;
  for (uint64_t bt = 0; bt < (uint64_t)j->dl.batch; bt++)
    for (uint64_t c = 0; c < n; c++)
      for (uint64_t r = 0; r < m; r++) {
        double acc = 0;
        for (uint64_t p = 0; p < k; p++) {
          float x = load(j->a.type, j->pa, d->transa ? at(&j->a, p, r, bt) : at(&j->a, r, p, bt));
          float y = load(j->b.type, j->pb, d->transb ? at(&j->b, c, p, bt) : at(&j->b, p, c, bt));
          if (d->compute == RT_LT_COMPUTE_32F_FAST_TF32) x = tf32(x), y = tf32(y);
          acc += (double)x * y;
        }
        float v = j->alpha * (float)acc;
        if (j->beta != 0) v += j->beta * load(j->c.type, j->pc, at(&j->c, r, c, bt));
        if (d->epilogue & RT_LT_EPILOGUE_BIAS) v += load(bias_type, d->bias, r);
        if (d->epilogue & RT_LT_EPILOGUE_RELU) v = v < 0 ? 0 : v;
        if (d->epilogue & RT_LT_EPILOGUE_GELU)
          v = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        store(j->dl.type, j->pd, at(&j->dl, r, c, bt), v);
      }
}

EXPORT rt_lt_status cublasLtMatmul(rt_lt_handle h, rt_lt_matmul_desc md, const void *alpha, const void *A,
                                   rt_lt_layout al, const void *B, rt_lt_layout bl, const void *beta,
                                   const void *C, rt_lt_layout cl, void *D, rt_lt_layout dl,
                                   const rt_lt_algo *algo, void *workspace, size_t workspace_bytes,
                                   rt_cu_stream s) {
  if (!h) return ST_NOT_INITIALIZED;
  if (!md || !al || !bl || !cl || !dl || !alpha || !beta || !A || !B || !C || !D || !algo) return ST_INVALID_VALUE;
  job *j = calloc(1, sizeof *j);
  if (!j) return ST_ALLOC_FAILED;
  j->d = *(desc *)(void *)md; /* the descriptors are read now, as cuBLASLt does */
  j->a = *(layout *)(void *)al;
  j->b = *(layout *)(void *)bl;
  j->c = *(layout *)(void *)cl;
  j->dl = *(layout *)(void *)dl;
  rt_lt_status st = validate(&j->d, &j->a, &j->b, &j->c, &j->dl);
  uint64_t bias_bytes = j->dl.rows * type_size(j->d.bias_type == -1 ? j->dl.type : j->d.bias_type);
  const void *operand[4] = {A, B, C, D};
  for (int i = 0; i < 4 && st == ST_OK; i++)
    if ((uintptr_t)operand[i] % algo->data[2 + i]) st = ST_INVALID_VALUE; /* misaligned for this algorithm */
  if (st == ST_OK &&
      (algo->data[0] != ALGO_MARK || workspace_bytes < algo->data[1] || (algo->data[1] && !workspace) ||
       (workspace_bytes && !fakecuda_device_range_ok((uintptr_t)workspace, workspace_bytes)) ||
       !fakecuda_device_range_ok((uintptr_t)A, span(&j->a)) || !fakecuda_device_range_ok((uintptr_t)B, span(&j->b)) ||
       !fakecuda_device_range_ok((uintptr_t)C, span(&j->c)) || !fakecuda_device_range_ok((uintptr_t)D, span(&j->dl)) ||
       ((j->d.epilogue & RT_LT_EPILOGUE_BIAS) && !fakecuda_device_range_ok((uintptr_t)j->d.bias, bias_bytes))))
    st = ST_INVALID_VALUE;
  if (st != ST_OK) {
    free(j);
    return st;
  }
  memcpy(&j->alpha, alpha, 4); /* host pointer mode: the scalars are read at the call */
  memcpy(&j->beta, beta, 4);
  j->pa = A, j->pb = B, j->pc = C, j->pd = D;
  if (cuLaunchHostFunc(s, run_job, j) != RT_CU_SUCCESS) {
    free(j);
    return 13; /* CUBLAS_STATUS_EXECUTION_FAILED */
  }
  j->next = h->jobs;
  h->jobs = j;
  info.matmuls++;
  info.compute_type = j->d.compute;
  info.epilogue = (int)j->d.epilogue;
  info.transa = j->d.transa;
  info.transb = j->d.transb;
  info.workspace_bytes = workspace_bytes;
  return ST_OK;
}
