/*
 * fakecuda.h: the fake CUDA driver (libcuda.so.1) and fake cuBLASLt that
 * let the CUDA backend run, and be tested, on a machine without a GPU.
 *
 * The fake driver implements every entry point of runtime/rt_cuda_api.h on
 * the CPU: "device" memory is host memory (poisoned when allocated), streams
 * are queues that run lazily, as late as the program's synchronisation
 * allows (so a missing event or wait shows up as wrong data rather than
 * passing by luck; cuMemsetD8 and cuMemcpyHtoD, which may return before they
 * are done, queue on the legacy stream, which non-blocking streams do not
 * wait for), stream capture records into a graph that is replayed, and a
 * module is a shared library of kernels compiled for the host.
 *
 * Switches, read by cuInit:
 *   DLC_FAKE_CUDA_DEVICES=0        cuInit fails with CUDA_ERROR_NO_DEVICE
 *   DLC_FAKE_CUDA_CC=80            compute capability (default 90)
 *   DLC_FAKE_CUDA_MEM_TOTAL=BYTES  the card's memory (default 8 GiB)
 *   DLC_FAKE_CUDA_MEM_FREE=BYTES   free memory at start (default: all)
 *   DLC_FAKE_CUDA_FAIL_LAUNCH=K    the K-th kernel run (from 1) faults:
 *                                  CUDA_ERROR_LAUNCH_FAILED, sticky
 *   DLC_FAKE_CUDA_FAIL_JIT=1       loading PTX fails with a JIT log
 *   DLC_FAKE_CUDA_FAIL_HOSTALLOC=1 cuMemHostAlloc runs out of memory
 *   DLC_FAKE_CUDA_KERNELS=PATH     the kernel library that modules load
 *
 * Module images: "FAKECUBIN sm_XX..." is a CUBIN for sm_XX (refused on any
 * other compute capability), an ELF file is a real CUBIN (accepted), and
 * anything else is PTX: its ".target sm_XX" must not exceed the device's.
 * Whatever the image, the kernels come from DLC_FAKE_CUDA_KERNELS.
 */
#ifndef FAKECUDA_H
#define FAKECUDA_H

#include <stdint.h>

/* A kernel library exports these two functions. Every kernel parameter is a
 * device pointer (the plan's launches pass nothing else).
 *   fakecuda_kernel_args: the number of parameters of kernel `name`, or -1
 *                         when the library has no such kernel;
 *   fakecuda_kernel_launch: run it over the whole grid; args[i] points at
 *                         parameter i; 0, or nonzero for a fault. */
typedef int (*fakecuda_kernel_args_fn)(const char *name);
typedef int (*fakecuda_kernel_launch_fn)(const char *name, const uint32_t grid[3], const uint32_t block[3],
                                         uint32_t shared_bytes, void **args);

/* What the fake driver has seen since it was loaded (the tests read it
 * through dlsym("fakecuda_get_stats")). */
typedef struct fakecuda_stats {
  int64_t dev_allocs, host_allocs;      /* cuMemAlloc / cuMemHostAlloc calls that succeeded */
  int64_t dev_live, host_live;          /* allocations not yet freed */
  int64_t kernels_run;                  /* kernels executed */
  int64_t kernels_uncaptured;           /* cuLaunchKernel outside stream capture */
  int64_t host_fns_run;                 /* host functions executed (the fake cuBLASLt's GEMMs) */
  int64_t graphs_captured, graph_launches;
  int64_t async_copies, pageable_async; /* async host copies; those from unpinned memory */
  int64_t sync_calls;                   /* cuMemcpyHtoD, cuMemsetD8 */
  int module_kind;                      /* last module loaded: 1 CUBIN, 2 PTX */
  int max_dynamic_shared_set;           /* the largest cuFuncSetAttribute value */
  int contexts;                         /* primary context references held */
} fakecuda_stats;
typedef void (*fakecuda_get_stats_fn)(fakecuda_stats *out);

/* For the fake cuBLASLt: 1 when [p, p + bytes) lies inside one device
 * allocation. */
int fakecuda_device_range_ok(uint64_t p, uint64_t bytes);

/* The fake cuBLASLt's record of its last cublasLtMatmul (tests read it
 * through dlsym("fakecublaslt_last")). */
typedef struct fakecublaslt_info {
  int64_t matmuls, heuristics;
  int compute_type, epilogue, transa, transb;
  uint64_t workspace_bytes;
} fakecublaslt_info;
typedef void (*fakecublaslt_last_fn)(fakecublaslt_info *out);

#endif
