/*
 * rt_cuda_api.h: the slice of the CUDA driver API and of cuBLASLt that the
 * CUDA backend uses, declared here so that dlc builds without the CUDA
 * toolkit and dlrun starts without a driver.
 *
 * Both libraries are loaded at run time (rt_cuda_load, rt_cublaslt_load):
 * libcuda with dlopen and every entry point through cuGetProcAddress, asked
 * for the CUDA 12.0 ABI so that each name resolves to the signature written
 * below on any newer driver; libcublasLt with dlopen and dlsym. The values
 * and layouts below are copied from cuda.h and cublasLt.h of CUDA 13;
 * cuda_abi_check.c compares them with the real headers when the toolkit is
 * installed. The handle types use the same struct tags as cuda.h.
 *
 * The tests run the backend against a fake driver and a fake cuBLASLt
 * (tests/fakecuda/) that implement exactly these declarations on the CPU.
 */
#ifndef RT_CUDA_API_H
#define RT_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

/* --- driver types --- */
typedef int rt_cu_result;
typedef int rt_cu_device;
typedef unsigned long long rt_cu_deviceptr;
typedef struct CUctx_st *rt_cu_context;
typedef struct CUmod_st *rt_cu_module;
typedef struct CUfunc_st *rt_cu_function;
typedef struct CUevent_st *rt_cu_event;
typedef struct CUstream_st *rt_cu_stream;
typedef struct CUgraph_st *rt_cu_graph;
typedef struct CUgraphExec_st *rt_cu_graph_exec;
typedef void (*rt_cu_host_fn)(void *user);

enum {
  RT_CU_SUCCESS = 0,
  RT_CU_ERROR_INVALID_VALUE = 1,
  RT_CU_ERROR_OUT_OF_MEMORY = 2,
  RT_CU_ERROR_NOT_INITIALIZED = 3,
  RT_CU_ERROR_NO_DEVICE = 100,
  RT_CU_ERROR_INVALID_IMAGE = 200,
  RT_CU_ERROR_INVALID_CONTEXT = 201,
  RT_CU_ERROR_NO_BINARY_FOR_GPU = 209,
  RT_CU_ERROR_INVALID_PTX = 218,
  RT_CU_ERROR_UNSUPPORTED_PTX_VERSION = 222,
  RT_CU_ERROR_INVALID_HANDLE = 400,
  RT_CU_ERROR_NOT_FOUND = 500,
  RT_CU_ERROR_NOT_READY = 600,
  RT_CU_ERROR_ILLEGAL_ADDRESS = 700,
  RT_CU_ERROR_LAUNCH_FAILED = 719,
  RT_CU_ERROR_NOT_SUPPORTED = 801,
  RT_CU_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
  RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
  RT_CU_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
};

enum {
  RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  RT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
};

enum {
  RT_CU_JIT_INFO_LOG_BUFFER = 3,
  RT_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
  RT_CU_JIT_ERROR_LOG_BUFFER = 5,
  RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
  RT_CU_JIT_LOG_VERBOSE = 12,
};

enum { RT_CU_STREAM_CAPTURE_MODE_GLOBAL = 0, RT_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1 };
enum { RT_CU_STREAM_NON_BLOCKING = 1 };
enum { RT_CU_EVENT_DEFAULT = 0, RT_CU_EVENT_DISABLE_TIMING = 2 };
enum { RT_CU_MEMHOSTALLOC_PORTABLE = 1 };
enum { RT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8 };
enum { RT_CU_GET_PROC_ADDRESS_DEFAULT = 0 };
/* The ABI every entry point is asked for (cuGetProcAddress's cudaVersion). */
enum { RT_CU_API_VERSION = 12000 };

/* X(name, return-less parameter list): every driver entry point used. */
#define RT_CU_FUNCS(X)                                                                          \
  X(cuInit, (unsigned flags))                                                                   \
  X(cuDriverGetVersion, (int *version))                                                         \
  X(cuDeviceGetCount, (int *count))                                                             \
  X(cuDeviceGet, (rt_cu_device * dev, int ordinal))                                             \
  X(cuDeviceGetName, (char *name, int len, rt_cu_device dev))                                   \
  X(cuDeviceGetAttribute, (int *value, int attr, rt_cu_device dev))                             \
  X(cuDeviceTotalMem, (size_t * bytes, rt_cu_device dev))                                       \
  X(cuDevicePrimaryCtxRetain, (rt_cu_context * ctx, rt_cu_device dev))                          \
  X(cuDevicePrimaryCtxRelease, (rt_cu_device dev))                                              \
  X(cuCtxSetCurrent, (rt_cu_context ctx))                                                       \
  X(cuCtxSynchronize, (void))                                                                   \
  X(cuMemGetInfo, (size_t * free_bytes, size_t *total_bytes))                                   \
  X(cuMemAlloc, (rt_cu_deviceptr * ptr, size_t bytes))                                          \
  X(cuMemFree, (rt_cu_deviceptr ptr))                                                           \
  X(cuMemHostAlloc, (void **ptr, size_t bytes, unsigned flags))                                 \
  X(cuMemFreeHost, (void *ptr))                                                                 \
  X(cuMemcpyHtoD, (rt_cu_deviceptr dst, const void *src, size_t bytes))                         \
  X(cuMemsetD8, (rt_cu_deviceptr dst, unsigned char value, size_t bytes))                       \
  X(cuMemcpyHtoDAsync, (rt_cu_deviceptr dst, const void *src, size_t bytes, rt_cu_stream s))    \
  X(cuMemcpyDtoHAsync, (void *dst, rt_cu_deviceptr src, size_t bytes, rt_cu_stream s))          \
  X(cuMemcpyDtoDAsync, (rt_cu_deviceptr dst, rt_cu_deviceptr src, size_t bytes, rt_cu_stream s)) \
  X(cuStreamCreate, (rt_cu_stream * s, unsigned flags))                                         \
  X(cuStreamDestroy, (rt_cu_stream s))                                                          \
  X(cuStreamSynchronize, (rt_cu_stream s))                                                      \
  X(cuStreamWaitEvent, (rt_cu_stream s, rt_cu_event e, unsigned flags))                         \
  X(cuStreamBeginCapture, (rt_cu_stream s, int mode))                                           \
  X(cuStreamEndCapture, (rt_cu_stream s, rt_cu_graph * graph))                                  \
  X(cuEventCreate, (rt_cu_event * e, unsigned flags))                                           \
  X(cuEventDestroy, (rt_cu_event e))                                                            \
  X(cuEventRecord, (rt_cu_event e, rt_cu_stream s))                                             \
  X(cuEventSynchronize, (rt_cu_event e))                                                        \
  X(cuEventElapsedTime, (float *ms, rt_cu_event start, rt_cu_event end))                        \
  X(cuGraphInstantiateWithFlags, (rt_cu_graph_exec * exec, rt_cu_graph graph,                   \
                                  unsigned long long flags))                                    \
  X(cuGraphUpload, (rt_cu_graph_exec exec, rt_cu_stream s))                                     \
  X(cuGraphLaunch, (rt_cu_graph_exec exec, rt_cu_stream s))                                     \
  X(cuGraphExecDestroy, (rt_cu_graph_exec exec))                                                \
  X(cuGraphDestroy, (rt_cu_graph graph))                                                        \
  X(cuModuleLoadDataEx, (rt_cu_module * mod, const void *image, unsigned n_options,             \
                         int *options, void **values))                                          \
  X(cuModuleUnload, (rt_cu_module mod))                                                         \
  X(cuModuleGetFunction, (rt_cu_function * fn, rt_cu_module mod, const char *name))             \
  X(cuFuncSetAttribute, (rt_cu_function fn, int attr, int value))                               \
  X(cuLaunchKernel, (rt_cu_function fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx,     \
                     unsigned by, unsigned bz, unsigned shared_bytes, rt_cu_stream s,           \
                     void **params, void **extra))                                              \
  X(cuGetErrorName, (rt_cu_result r, const char **name))                                        \
  X(cuGetErrorString, (rt_cu_result r, const char **text))

/* cuGetProcAddress as CUDA 12+ exports it (cuGetProcAddress_v2). */
typedef rt_cu_result (*rt_cu_get_proc_fn)(const char *symbol, void **fn, int cuda_version,
                                          uint64_t flags, int *symbol_status);

typedef struct rt_cuda {
  void *lib;                /* the dlopen handle (RTLD_NODELETE: never unloaded) */
  char path[256];           /* what was loaded */
  int driver_version;       /* e.g. 13000 */
#define RT_CU_MEMBER(name, params) rt_cu_result (*name) params;
  RT_CU_FUNCS(RT_CU_MEMBER)
#undef RT_CU_MEMBER
} rt_cuda;

/* Load the driver: $DLC_LIBCUDA when set (the tests' fake driver), else
 * libcuda.so.1. 0, or -1 with a message saying what is missing and what to
 * do. Nothing is initialised on the device (cuInit is the caller's). */
int rt_cuda_load(rt_cuda *cu, char *err, size_t err_size);

/* "cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)" into buf. */
const char *rt_cuda_error(const rt_cuda *cu, rt_cu_result r, const char *call, char *buf, size_t size);

/* --- cuBLASLt --- */
typedef int rt_lt_status;
typedef struct cublasLtContext *rt_lt_handle;
typedef struct rt_lt_desc_opaque { uint64_t data[32]; } *rt_lt_matmul_desc;
typedef struct rt_lt_layout_opaque { uint64_t data[8]; } *rt_lt_layout;
typedef struct rt_lt_pref_opaque { uint64_t data[8]; } *rt_lt_pref;
typedef struct rt_lt_algo { uint64_t data[8]; } rt_lt_algo;
typedef struct rt_lt_heuristic {
  rt_lt_algo algo;
  size_t workspace_size;
  rt_lt_status state;
  float waves_count;
  int reserved[4];
} rt_lt_heuristic;

enum { RT_LT_STATUS_SUCCESS = 0, RT_LT_STATUS_NOT_SUPPORTED = 15 };
enum { RT_LT_OP_N = 0, RT_LT_OP_T = 1 };
enum { RT_LT_COMPUTE_32F = 68, RT_LT_COMPUTE_32F_FAST_TF32 = 77 };
enum { RT_LT_R_32F = 0, RT_LT_R_16F = 2, RT_LT_R_16BF = 14 }; /* cudaDataType */
enum {                                                        /* cublasLtMatmulDescAttributes_t */
  RT_LT_DESC_TRANSA = 3,            /* int32 */
  RT_LT_DESC_TRANSB = 4,            /* int32 */
  RT_LT_DESC_EPILOGUE = 7,          /* uint32 */
  RT_LT_DESC_BIAS_POINTER = 8,      /* const void * */
  RT_LT_DESC_BIAS_DATA_TYPE = 26,   /* int32 */
};
enum {                              /* cublasLtEpilogue_t */
  RT_LT_EPILOGUE_DEFAULT = 1,
  RT_LT_EPILOGUE_RELU = 2,
  RT_LT_EPILOGUE_BIAS = 4,
  RT_LT_EPILOGUE_RELU_BIAS = 6,
  RT_LT_EPILOGUE_GELU = 32,         /* tanh approximation */
  RT_LT_EPILOGUE_GELU_BIAS = 36,
};
enum {                              /* cublasLtMatrixLayoutAttribute_t */
  RT_LT_LAYOUT_ORDER = 1,           /* int32, column major by default */
  RT_LT_LAYOUT_BATCH_COUNT = 5,     /* int32 */
  RT_LT_LAYOUT_STRIDED_BATCH_OFFSET = 6, /* int64, elements */
};
enum {                              /* cublasLtMatmulPreferenceAttributes_t */
  RT_LT_PREF_MAX_WORKSPACE_BYTES = 1,     /* uint64 */
  RT_LT_PREF_MIN_ALIGNMENT_A_BYTES = 5,   /* uint32, default 256; then B, C, D */
  RT_LT_PREF_MIN_ALIGNMENT_B_BYTES = 6,
  RT_LT_PREF_MIN_ALIGNMENT_C_BYTES = 7,
  RT_LT_PREF_MIN_ALIGNMENT_D_BYTES = 8,
};

#define RT_LT_FUNCS(X)                                                                           \
  X(cublasLtCreate, (rt_lt_handle * h))                                                          \
  X(cublasLtDestroy, (rt_lt_handle h))                                                           \
  X(cublasLtMatmulDescCreate, (rt_lt_matmul_desc * d, int compute_type, int scale_type))         \
  X(cublasLtMatmulDescDestroy, (rt_lt_matmul_desc d))                                            \
  X(cublasLtMatmulDescSetAttribute, (rt_lt_matmul_desc d, int attr, const void *buf, size_t n))  \
  X(cublasLtMatrixLayoutCreate, (rt_lt_layout * l, int type, uint64_t rows, uint64_t cols,       \
                                 int64_t ld))                                                    \
  X(cublasLtMatrixLayoutDestroy, (rt_lt_layout l))                                               \
  X(cublasLtMatrixLayoutSetAttribute, (rt_lt_layout l, int attr, const void *buf, size_t n))     \
  X(cublasLtMatmulPreferenceCreate, (rt_lt_pref * p))                                            \
  X(cublasLtMatmulPreferenceDestroy, (rt_lt_pref p))                                             \
  X(cublasLtMatmulPreferenceSetAttribute, (rt_lt_pref p, int attr, const void *buf, size_t n))   \
  X(cublasLtMatmulAlgoGetHeuristic, (rt_lt_handle h, rt_lt_matmul_desc d, rt_lt_layout a,        \
                                     rt_lt_layout b, rt_lt_layout c, rt_lt_layout dl,            \
                                     rt_lt_pref p, int requested, rt_lt_heuristic *results,      \
                                     int *returned))                                             \
  X(cublasLtMatmul, (rt_lt_handle h, rt_lt_matmul_desc d, const void *alpha, const void *a,      \
                     rt_lt_layout al, const void *b, rt_lt_layout bl, const void *beta,          \
                     const void *c, rt_lt_layout cl, void *dst, rt_lt_layout dl,                 \
                     const rt_lt_algo *algo, void *workspace, size_t workspace_bytes,            \
                     rt_cu_stream s))

typedef struct rt_cublaslt {
  void *lib;
  char path[256];
  const char *(*cublasLtGetStatusString)(rt_lt_status s);
  size_t (*cublasLtGetVersion)(void);
#define RT_LT_MEMBER(name, params) rt_lt_status (*name) params;
  RT_LT_FUNCS(RT_LT_MEMBER)
#undef RT_LT_MEMBER
} rt_cublaslt;

/* Load cuBLASLt: $DLC_LIBCUBLASLT when set, else libcublasLt.so.13, .so.12,
 * .so. 0, or -1 with a message. */
int rt_cublaslt_load(rt_cublaslt *lt, char *err, size_t err_size);

/* "cublasLtMatmul failed: CUBLAS_STATUS_NOT_SUPPORTED" into buf. */
const char *rt_cublaslt_error(const rt_cublaslt *lt, rt_lt_status s, const char *call, char *buf,
                              size_t size);

#endif
