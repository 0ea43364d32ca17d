/*
 * backend_cuda.c: runs a plan's GPU code (rt_plan.h's launches) on the first
 * CUDA device, through the driver API loaded at run time (rt_cuda_api.h).
 *
 * Start-up does everything once, and a batch allocates nothing:
 *
 *   device memory   ONE cuMemAlloc: [slab | params | staging slot 0 | slot 1],
 *                   each staging slot holding every input, then every output;
 *   host memory     ONE cuMemHostAlloc (pinned) laid out like the staging, so
 *                   a slot's inputs go up in one copy and its outputs come
 *                   down in one;
 *   params          materialised on the host by a helper thread while the
 *                   main thread initialises the device (the helper also
 *                   loads cuBLASLt), then uploaded;
 *   code            the plan's CUBIN when it was built for this card's compute
 *                   capability, else its PTX through the driver's JIT (with
 *                   the JIT's log on failure); cuBLASLt descriptors and one
 *                   heuristic query per GEMM step;
 *   graphs          per slot, the whole batch captured once from a stream:
 *                   copy the slot's staged inputs into the slab, every
 *                   kernel and GEMM in plan order, copy the outputs out to
 *                   the slot's staging; one warm-up batch runs before the
 *                   capture, so that lazy loading happens outside it and a
 *                   faulting kernel fails at start-up.
 *
 * Three streams: `upload` copies a slot's pinned inputs to its staging,
 * `compute` replays the slot's graph once they are there, `download` copies
 * the staged outputs back to pinned memory once the graph is done; events
 * order them. With two slots, batch i+1 goes up while batch i computes and
 * batch i comes down while batch i+1 computes (a single copy stream would
 * queue batch i+1's upload behind batch i's download, which waits for batch
 * i's compute). The driver reuses a slot only after wait() on it, which is
 * what keeps the pinned and staging buffers of a slot from being overwritten
 * while in use.
 *
 * Every driver call is checked; a failure says which call failed, the
 * driver's error, and what to do.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_gemm.h"
#include "rt_backend.h"
#include "rt_cuda_api.h"
#include "rt_params.h"
#include "rt_pool.h"

enum { SLOTS = 2, DEV_ALIGN = 256, HOST_ALIGN = 64, DEFAULT_SHARED = 48 << 10 };

typedef struct kernel_step {
  rt_cu_function fn;
  void **params;             /* n_args pointers into values (cuLaunchKernel's kernelParams) */
} kernel_step;

typedef struct io_tensor {
  rt_cu_deviceptr tensor;    /* where the plan keeps it */
  uint64_t stage;            /* offset in a slot's input or output staging */
  uint64_t bytes;
} io_tensor;

typedef struct cuda_backend {
  rt_backend base;
  const rt_plan *plan;
  rt_cuda cu;
  rt_cublaslt lt;
  rt_lt_handle lt_handle;
  rt_cu_device dev;
  rt_cu_context ctx;
  rt_cu_module module;
  rt_cu_stream upload, compute, download;
  rt_cu_deviceptr mem, slab, params, stage[SLOTS];
  uint8_t *pinned, *host[SLOTS];
  uint64_t in_bytes, out_bytes;   /* one slot's inputs, outputs (staging layout) */
  io_tensor *in, *out;
  kernel_step *kernels;           /* per step */
  rt_cu_deviceptr *arg_values;
  void **arg_params;
  rt_gemm *gemms;                 /* per step */
  rt_cu_graph_exec exec[SLOTS];
  rt_cu_event uploaded[SLOTS], started[SLOTS], done[SLOTS], downloaded[SLOTS];
  int max_shared;                 /* opt-in dynamic shared memory per block */
  int failed;                     /* a device error was reported: teardown stays quiet */
  char code[64];
  rt_cuda_status status;
} cuda_backend;

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int fail(cuda_backend *b, rt_cuda_status status, char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(cuda_backend *b, rt_cuda_status status, char *err, size_t err_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_size, fmt, ap);
  va_end(ap);
  b->status = status;
  b->failed = 1;
  return -1;
}

/* For failures whose message is already in err. */
static int set_status(cuda_backend *b, rt_cuda_status status) {
  b->status = status;
  b->failed = 1;
  return -1;
}

/* What to do about a driver error. */
static const char *hint(rt_cu_result r) {
  switch (r) {
  case RT_CU_ERROR_OUT_OF_MEMORY:
    return "the GPU is out of memory: close other programs using it (nvidia-smi lists them) or compile "
           "a smaller batch (dlc --memory-limit)";
  case RT_CU_ERROR_NO_DEVICE:
    return "no CUDA device is visible: check nvidia-smi and CUDA_VISIBLE_DEVICES";
  case RT_CU_ERROR_INVALID_PTX: case RT_CU_ERROR_UNSUPPORTED_PTX_VERSION:
    return "the driver cannot compile the plan's PTX: update the NVIDIA driver to the CUDA version dlc "
           "was built with, or compile the plan with a dlc that targets this card";
  case RT_CU_ERROR_NO_BINARY_FOR_GPU: case RT_CU_ERROR_INVALID_IMAGE:
    return "the plan's GPU code does not fit this card: compile the plan with a dlc that targets it";
  case RT_CU_ERROR_ILLEGAL_ADDRESS: case RT_CU_ERROR_LAUNCH_FAILED:
    return "a kernel faulted, which is a bug in dlc's generated code: rerun under compute-sanitizer and "
           "report it with the plan";
  case RT_CU_ERROR_SYSTEM_DRIVER_MISMATCH: case RT_CU_ERROR_NOT_INITIALIZED:
    return "the driver is not usable: check nvidia-smi; a driver/library version mismatch needs a "
           "reboot or a reinstall";
  default:
    if (r >= 700 && r < 800)
      return "the GPU failed while running: check nvidia-smi and dmesg (Xid errors); rerun under "
             "compute-sanitizer and report it with the plan";
    return "check that nvidia-smi works; if it does, report this with the plan";
  }
}

/* A checked driver call inside a function with b, err and err_size: on
 * failure, return -1 with "context: cuX failed: NAME (text); what to do". */
#define CU(call, status, ...)                                                                   \
  do {                                                                                          \
    rt_cu_result r_ = b->cu.call;                                                               \
    if (r_ != RT_CU_SUCCESS) return cu_fail(b, r_, #call, status, err, err_size, __VA_ARGS__);  \
  } while (0)

static int cu_fail(cuda_backend *b, rt_cu_result r, const char *call, rt_cuda_status status, char *err,
                   size_t err_size, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int cu_fail(cuda_backend *b, rt_cu_result r, const char *call, rt_cuda_status status, char *err,
                   size_t err_size, const char *fmt, ...) {
  char ctx[256], name[64], what[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx, sizeof ctx, fmt, ap);
  va_end(ap);
  snprintf(name, sizeof name, "%.*s", (int)strcspn(call, "("), call);
  if (r == RT_CU_ERROR_OUT_OF_MEMORY && status == RT_CUDA_FAILED) status = RT_CUDA_NO_MEMORY;
  return fail(b, status, err, err_size, "%s: %s; %s", ctx, rt_cuda_error(&b->cu, r, name, what, sizeof what),
              hint(r));
}

/* Teardown: failures are reported once on stderr (nothing else can be done
 * about them), and not at all after a device error was already reported. */
static void teardown_check(cuda_backend *b, rt_cu_result r, const char *call) {
  if (r == RT_CU_SUCCESS || b->failed) return;
  char buf[256];
  fprintf(stderr, "dlrun: warning: releasing the GPU: %s\n", rt_cuda_error(&b->cu, r, call, buf, sizeof buf));
  b->failed = 1;
}

static void cuda_destroy(rt_backend *base) {
  cuda_backend *b = (cuda_backend *)base;
  if (!b) return;
  if (b->ctx) {
    teardown_check(b, b->cu.cuCtxSynchronize(), "cuCtxSynchronize");
    for (int s = 0; s < SLOTS; s++) {
      if (b->exec[s]) teardown_check(b, b->cu.cuGraphExecDestroy(b->exec[s]), "cuGraphExecDestroy");
      rt_cu_event *ev[4] = {&b->uploaded[s], &b->started[s], &b->done[s], &b->downloaded[s]};
      for (int e = 0; e < 4; e++)
        if (*ev[e]) teardown_check(b, b->cu.cuEventDestroy(*ev[e]), "cuEventDestroy");
    }
    rt_cu_stream *st[3] = {&b->upload, &b->compute, &b->download};
    for (int i = 0; i < 3; i++)
      if (*st[i]) teardown_check(b, b->cu.cuStreamDestroy(*st[i]), "cuStreamDestroy");
    if (b->gemms)
      for (uint32_t s = 0; s < b->plan->n_steps; s++) {
        rt_lt_status ls = rt_gemm_release(&b->lt, &b->gemms[s]);
        if (ls != RT_LT_STATUS_SUCCESS && !b->failed) {
          char buf[256];
          fprintf(stderr, "dlrun: warning: releasing cuBLASLt: %s\n",
                  rt_cublaslt_error(&b->lt, ls, "cublasLtMatrixLayoutDestroy", buf, sizeof buf));
          b->failed = 1;
        }
      }
    if (b->lt_handle) {
      rt_lt_status ls = b->lt.cublasLtDestroy(b->lt_handle);
      if (ls != RT_LT_STATUS_SUCCESS && !b->failed) {
        char buf[256];
        fprintf(stderr, "dlrun: warning: releasing cuBLASLt: %s\n",
                rt_cublaslt_error(&b->lt, ls, "cublasLtDestroy", buf, sizeof buf));
      }
    }
    if (b->module) teardown_check(b, b->cu.cuModuleUnload(b->module), "cuModuleUnload");
    if (b->mem) teardown_check(b, b->cu.cuMemFree(b->mem), "cuMemFree");
    if (b->pinned) teardown_check(b, b->cu.cuMemFreeHost(b->pinned), "cuMemFreeHost");
    teardown_check(b, b->cu.cuDevicePrimaryCtxRelease(b->dev), "cuDevicePrimaryCtxRelease");
  }
  free(b->in);
  free(b->out);
  free(b->kernels);
  free(b->arg_values);
  free(b->arg_params);
  free(b->gemms);
  free(b);
}

/* --- batches --- */

static void *cuda_input(rt_backend *base, int slot, uint32_t i) {
  cuda_backend *b = (cuda_backend *)base;
  return b->host[slot] + b->in[i].stage;
}

static const void *cuda_output(rt_backend *base, int slot, uint32_t i) {
  cuda_backend *b = (cuda_backend *)base;
  return b->host[slot] + b->in_bytes + b->out[i].stage;
}

static int cuda_submit(rt_backend *base, int slot, char *err, size_t err_size) {
  cuda_backend *b = (cuda_backend *)base;
  rt_cu_deviceptr stage = b->stage[slot];
  uint8_t *host = b->host[slot];
  const rt_cuda_status F = RT_CUDA_FAILED;
  if (b->in_bytes) CU(cuMemcpyHtoDAsync(stage, host, b->in_bytes, b->upload), F, "uploading the inputs");
  CU(cuEventRecord(b->uploaded[slot], b->upload), F, "ordering the upload");
  CU(cuStreamWaitEvent(b->compute, b->uploaded[slot], 0), F, "ordering the upload");
  CU(cuEventRecord(b->started[slot], b->compute), F, "timing the batch");
  CU(cuGraphLaunch(b->exec[slot], b->compute), F, "launching the batch's graph");
  CU(cuEventRecord(b->done[slot], b->compute), F, "timing the batch");
  CU(cuStreamWaitEvent(b->download, b->done[slot], 0), F, "ordering the download");
  if (b->out_bytes)
    CU(cuMemcpyDtoHAsync(host + b->in_bytes, stage + b->in_bytes, b->out_bytes, b->download), F,
       "downloading the outputs");
  CU(cuEventRecord(b->downloaded[slot], b->download), F, "ordering the download");
  return 0;
}

static int cuda_wait(rt_backend *base, int slot, double *ms, char *err, size_t err_size) {
  cuda_backend *b = (cuda_backend *)base;
  float t = 0;
  CU(cuEventSynchronize(b->downloaded[slot]), RT_CUDA_FAILED, "running the batch");
  CU(cuEventElapsedTime(&t, b->started[slot], b->done[slot]), RT_CUDA_FAILED, "timing the batch");
  *ms = t;
  return 0;
}

/* --- start-up --- */

/* Host work that overlaps the device's start-up (cuInit and the context
 * take a good part of it): generating the params, and loading cuBLASLt,
 * a large library, when the plan has GEMM steps. */
typedef struct host_job {
  const rt_plan *p;
  uint8_t *host;             /* params, materialised */
  int threads;
  rt_cublaslt *lt;           /* NULL: no GEMM step */
  int lt_rc;
  char lt_err[512];
} host_job;

static void *host_startup(void *arg) {
  host_job *j = arg;
  rt_pool *pool = rt_pool_create(j->threads);
  rt_params_materialize(j->p, j->host, pool); /* a NULL pool runs on this thread */
  rt_pool_destroy(pool);
  if (j->lt) j->lt_rc = rt_cublaslt_load(j->lt, j->lt_err, sizeof j->lt_err);
  return NULL;
}

static const char *mib(char *buf, size_t size, uint64_t bytes) {
  snprintf(buf, size, "%llu B (%.1f MiB)", (unsigned long long)bytes, (double)bytes / (1 << 20));
  return buf;
}

/* The out-of-memory message: what is needed, what is free, and an estimate
 * of the batch that would fit. */
static int no_memory(cuda_backend *b, uint64_t need, uint64_t staging, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  size_t free_b = 0, total_b = 0;
  CU(cuMemGetInfo(&free_b, &total_b), RT_CUDA_FAILED, "asking how much device memory is free");
  char s1[64], s2[64], s3[64], s4[64], s5[64], s6[64], advice[512];
  uint64_t params = align_up(p->params_bytes, DEV_ALIGN);
  if (p->batch_dim < 0) {
    snprintf(advice, sizeof advice, "the plan has no batch dimension to shrink: it needs a card with more "
             "free memory");
  } else {
    const rt_dim *d = &p->dims[p->batch_dim];
    /* activations and staging scale with the batch, params do not */
    double per_sample = (double)(need - params) / (double)d->value;
    double room = (double)free_b - (double)params;
    long long fit = room > 0 ? (long long)(room / per_sample) : 0;
    if (fit >= d->value) fit = d->value - 1;
    uint64_t limit_mib = (uint64_t)((double)free_b * 0.95) >> 20;
    if (fit < 1)
      snprintf(advice, sizeof advice, "even %s=1 would not fit (estimate: params alone need %s); it needs a "
               "card with more free memory", d->name, mib(s6, sizeof s6, params));
    else
      snprintf(advice, sizeof advice, "estimate (activations scale with the batch, params do not): %s=%lld "
               "would fit; recompile with dlc --memory-limit %lluMiB (or --dim %s=%lld)", d->name, fit,
               (unsigned long long)limit_mib, d->name, fit);
  }
  return fail(b, RT_CUDA_NO_MEMORY, err, err_size,
              "out of device memory on %s: the plan needs %s (slab %s, params %s, input/output staging %s) "
              "and the card has %s free of %s; %s", b->base.card, mib(s1, sizeof s1, need),
              mib(s2, sizeof s2, p->slab_bytes), mib(s3, sizeof s3, p->params_bytes),
              mib(s4, sizeof s4, staging), mib(s5, sizeof s5, free_b), mib(s6, sizeof s6, total_b), advice);
}

static int open_device(cuda_backend *b, char *err, size_t err_size) {
  rt_cu_result r = b->cu.cuInit(0);
  if (r != RT_CU_SUCCESS) {
    char buf[256];
    return fail(b, r == RT_CU_ERROR_OUT_OF_MEMORY ? RT_CUDA_NO_MEMORY : RT_CUDA_NO_DEVICE, err, err_size,
                "no usable CUDA device: %s; %s", rt_cuda_error(&b->cu, r, "cuInit", buf, sizeof buf), hint(r));
  }
  int count = 0;
  CU(cuDeviceGetCount(&count), RT_CUDA_NO_DEVICE, "counting CUDA devices");
  if (count < 1)
    return fail(b, RT_CUDA_NO_DEVICE, err, err_size, "no CUDA device: the driver sees none; %s",
                hint(RT_CU_ERROR_NO_DEVICE));
  CU(cuDeviceGet(&b->dev, 0), RT_CUDA_NO_DEVICE, "opening CUDA device 0");
  CU(cuDeviceGetName(b->base.card, sizeof b->base.card, b->dev), RT_CUDA_FAILED, "reading the device's name");
  CU(cuDeviceGetAttribute(&b->base.cc_major, RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, b->dev),
     RT_CUDA_FAILED, "reading the compute capability");
  CU(cuDeviceGetAttribute(&b->base.cc_minor, RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, b->dev),
     RT_CUDA_FAILED, "reading the compute capability");
  CU(cuDeviceGetAttribute(&b->base.sms, RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, b->dev),
     RT_CUDA_FAILED, "reading the multiprocessor count");
  CU(cuDeviceGetAttribute(&b->max_shared, RT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, b->dev),
     RT_CUDA_FAILED, "reading the shared memory limit");
  size_t total = 0;
  CU(cuDeviceTotalMem(&total, b->dev), RT_CUDA_FAILED, "reading the device's memory size");
  b->base.card_bytes = total;
  CU(cuDevicePrimaryCtxRetain(&b->ctx, b->dev), RT_CUDA_FAILED, "creating the CUDA context on %s", b->base.card);
  CU(cuCtxSetCurrent(b->ctx), RT_CUDA_FAILED, "making the CUDA context current");
  return 0;
}

/* Load the plan's code: CUBIN built for this card, else PTX for the JIT. */
static int load_module(cuda_backend *b, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  int cc = b->base.cc_major * 10 + b->base.cc_minor;
  char log[16384], info[4096];
  int opt[5] = {RT_CU_JIT_ERROR_LOG_BUFFER, RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, RT_CU_JIT_INFO_LOG_BUFFER,
                RT_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, RT_CU_JIT_LOG_VERBOSE};
  void *val[5] = {log, (void *)(uintptr_t)sizeof log, info, (void *)(uintptr_t)sizeof info, (void *)(uintptr_t)1};
  char buf[256];
  rt_cu_result r = RT_CU_ERROR_NO_BINARY_FOR_GPU;
  if (p->cubin && p->cubin_bytes && (int)p->cubin_arch == cc) {
    log[0] = info[0] = 0;
    r = b->cu.cuModuleLoadDataEx(&b->module, p->cubin, 2, opt, val);
    if (r == RT_CU_SUCCESS) {
      snprintf(b->code, sizeof b->code, "cubin sm_%u", p->cubin_arch);
      return 0;
    }
    if (!p->ptx) return cu_fail(b, r, "cuModuleLoadDataEx", RT_CUDA_BAD_CODE, err, err_size,
                                "loading the plan's CUBIN for sm_%u%s%s", p->cubin_arch, log[0] ? ": " : "", log);
  }
  if (!p->ptx || !p->ptx_bytes || p->ptx[p->ptx_bytes - 1] != 0) {
    if (p->cubin)
      return fail(b, RT_CUDA_BAD_CODE, err, err_size, "the plan's GPU code is for sm_%u only and %s is sm_%d%d: "
                  "compile the plan with a dlc that targets this card", p->cubin_arch, b->base.card,
                  b->base.cc_major, b->base.cc_minor);
    return fail(b, RT_CUDA_BAD_CODE, err, err_size, "the plan's PTX is missing or not NUL-terminated: the plan "
                "is corrupt; compile it again");
  }
  log[0] = info[0] = 0;
  r = b->cu.cuModuleLoadDataEx(&b->module, p->ptx, 5, opt, val);
  if (r != RT_CU_SUCCESS)
    return fail(b, RT_CUDA_BAD_CODE, err, err_size, "compiling the plan's PTX for sm_%d%d (%s): %s; %s; JIT log: %s",
                b->base.cc_major, b->base.cc_minor, b->base.card,
                rt_cuda_error(&b->cu, r, "cuModuleLoadDataEx", buf, sizeof buf), hint(r),
                log[0] ? log : "(empty)");
  snprintf(b->code, sizeof b->code, "ptx, JIT-compiled for sm_%d%d", b->base.cc_major, b->base.cc_minor);
  return 0;
}

/* Resolve every kernel, its shared memory and its argument pointers. */
static int setup_kernels(cuda_backend *b, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  size_t n_args = 0;
  for (uint32_t s = 0; s < p->n_steps; s++)
    if (p->launches[s].kind == RT_LAUNCH_KERNEL) n_args += p->launches[s].n_args;
  b->kernels = calloc(p->n_steps, sizeof *b->kernels);
  b->arg_values = calloc(n_args + 1, sizeof *b->arg_values);
  b->arg_params = calloc(n_args + 1, sizeof *b->arg_params);
  if (!b->kernels || !b->arg_values || !b->arg_params)
    return fail(b, RT_CUDA_NO_MEMORY, err, err_size, "out of host memory setting up %zu kernel arguments", n_args);
  size_t used = 0;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_launch *l = &p->launches[s];
    if (l->kind != RT_LAUNCH_KERNEL) continue;
    kernel_step *k = &b->kernels[s];
    rt_cu_result r = b->cu.cuModuleGetFunction(&k->fn, b->module, l->function);
    if (r != RT_CU_SUCCESS) {
      char buf[256];
      return fail(b, RT_CUDA_BAD_CODE, err, err_size, "step %u: the plan's GPU module has no kernel '%s' (%s): "
                  "the plan is corrupt; compile it again", s, l->function,
                  rt_cuda_error(&b->cu, r, "cuModuleGetFunction", buf, sizeof buf));
    }
    k->params = b->arg_params + used;
    for (uint32_t i = 0; i < l->n_args; i++) {
      b->arg_values[used + i] = rt_cuda_tensor_ptr(p, p->args[l->args + i], b->slab, b->params);
      k->params[i] = &b->arg_values[used + i];
    }
    used += l->n_args;
    if (l->shared_bytes > (uint32_t)b->max_shared)
      return fail(b, RT_CUDA_BAD_CODE, err, err_size, "step %u: kernel '%s' needs %u bytes of shared memory and "
                  "%s allows %d per block: compile the plan with a dlc that targets this card", s, l->function,
                  l->shared_bytes, b->base.card, b->max_shared);
  }
  /* Beyond 48 KiB a kernel must opt in, to the most any of its launches uses. */
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_launch *l = &p->launches[s];
    if (l->kind != RT_LAUNCH_KERNEL || l->shared_bytes <= DEFAULT_SHARED) continue;
    uint32_t most = 0;
    for (uint32_t t = 0; t < p->n_steps; t++)
      if (p->launches[t].kind == RT_LAUNCH_KERNEL && b->kernels[t].fn == b->kernels[s].fn &&
          p->launches[t].shared_bytes > most)
        most = p->launches[t].shared_bytes;
    CU(cuFuncSetAttribute(b->kernels[s].fn, RT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)most),
       RT_CUDA_BAD_CODE, "step %u: allowing kernel '%s' %u bytes of shared memory", s, l->function, most);
  }
  return 0;
}

/* cuBLASLt is loaded (host_startup); create the handle and every GEMM's
 * descriptors. */
static int setup_gemms(cuda_backend *b, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  rt_lt_status s = b->lt.cublasLtCreate(&b->lt_handle);
  if (s != RT_LT_STATUS_SUCCESS) {
    char buf[256];
    b->lt_handle = NULL;
    return fail(b, RT_CUDA_FAILED, err, err_size, "starting cuBLASLt (%s): %s; check that it belongs to a CUDA "
                "release this driver supports", b->lt.path, rt_cublaslt_error(&b->lt, s, "cublasLtCreate", buf, sizeof buf));
  }
  b->gemms = calloc(p->n_steps, sizeof *b->gemms);
  if (!b->gemms) return fail(b, RT_CUDA_NO_MEMORY, err, err_size, "out of host memory setting up cuBLASLt");
  for (uint32_t st = 0; st < p->n_steps; st++)
    if (p->launches[st].kind == RT_LAUNCH_GEMM &&
        rt_gemm_setup(&b->lt, b->lt_handle, p, st, b->slab, b->params, &b->gemms[st], err, err_size))
      return set_status(b, RT_CUDA_FAILED);
  return 0;
}

/* Enqueue step s on the compute stream. */
static int enqueue_step(cuda_backend *b, uint32_t s, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  const rt_cuda_status F = RT_CUDA_FAILED;
  const rt_launch *l = &p->launches[s];
  if (l->kind == RT_LAUNCH_KERNEL) {
    CU(cuLaunchKernel(b->kernels[s].fn, l->grid[0], l->grid[1], l->grid[2], l->block[0], l->block[1], l->block[2],
                      l->shared_bytes, b->compute, b->kernels[s].params, NULL),
       F, "step %u: launching kernel '%s' (grid %u x %u x %u, block %u x %u x %u, %u shared bytes)", s,
       l->function, l->grid[0], l->grid[1], l->grid[2], l->block[0], l->block[1], l->block[2], l->shared_bytes);
  } else if (l->kind == RT_LAUNCH_GEMM) {
    char inner[512];
    if (rt_gemm_enqueue(&b->lt, b->lt_handle, &b->gemms[s], b->compute, inner, sizeof inner))
      return fail(b, F, err, err_size, "step %u (%s): %s", s, p->steps[s].kernel, inner);
  }
  return 0;
}

/* Enqueue one batch on the compute stream (for the warm-up, then for
 * capture). */
static int enqueue_batch(cuda_backend *b, int slot, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  const rt_cuda_status F = RT_CUDA_FAILED;
  for (uint32_t i = 0; i < p->n_inputs; i++)
    CU(cuMemcpyDtoDAsync(b->in[i].tensor, b->stage[slot] + b->in[i].stage, b->in[i].bytes, b->compute), F,
       "copying input '%s' in", p->tensors[p->inputs[i]].name);
  for (uint32_t s = 0; s < p->n_steps; s++)
    if (enqueue_step(b, s, err, err_size)) return -1;
  for (uint32_t i = 0; i < p->n_outputs; i++)
    CU(cuMemcpyDtoDAsync(b->stage[slot] + b->in_bytes + b->out[i].stage, b->out[i].tensor, b->out[i].bytes,
                         b->compute), F, "copying output '%s' out", p->tensors[p->outputs[i]].name);
  return 0;
}

/* Each step alone, `reps` launches in a row between slot 0's timing events
 * (no batch is in flight, so they are free): the device's own time. */
static int cuda_profile(rt_backend *base, int reps, double *step_ms, char *err, size_t err_size) {
  cuda_backend *b = (cuda_backend *)base;
  const rt_cuda_status F = RT_CUDA_FAILED;
  for (uint32_t s = 0; s < b->plan->n_steps; s++) {
    float t = 0;
    CU(cuEventRecord(b->started[0], b->compute), F, "timing step %u", s);
    for (int r = 0; r < reps; r++)
      if (enqueue_step(b, s, err, err_size)) return -1;
    CU(cuEventRecord(b->done[0], b->compute), F, "timing step %u", s);
    CU(cuEventSynchronize(b->done[0]), F, "running step %u (%s)", s, b->plan->steps[s].kernel);
    CU(cuEventElapsedTime(&t, b->started[0], b->done[0]), F, "timing step %u", s);
    step_ms[s] = (double)t / (reps > 0 ? reps : 1);
  }
  return 0;
}

static int capture(cuda_backend *b, int slot, char *err, size_t err_size) {
  rt_cu_graph graph = NULL;
  CU(cuStreamBeginCapture(b->compute, RT_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), RT_CUDA_FAILED,
     "starting to capture the batch's graph");
  int rc = enqueue_batch(b, slot, err, err_size);
  rt_cu_result r = b->cu.cuStreamEndCapture(b->compute, &graph);
  if (rc) {
    if (r == RT_CU_SUCCESS && graph) b->cu.cuGraphDestroy(graph); /* the first error is the one to report */
    return rc;
  }
  if (r != RT_CU_SUCCESS) return cu_fail(b, r, "cuStreamEndCapture", RT_CUDA_FAILED, err, err_size,
                                         "capturing the batch's graph");
  r = b->cu.cuGraphInstantiateWithFlags(&b->exec[slot], graph, 0);
  rt_cu_result r2 = b->cu.cuGraphDestroy(graph); /* the executable graph is independent of it */
  if (r != RT_CU_SUCCESS) return cu_fail(b, r, "cuGraphInstantiateWithFlags", RT_CUDA_FAILED, err, err_size,
                                         "instantiating the batch's graph");
  if (r2 != RT_CU_SUCCESS) return cu_fail(b, r2, "cuGraphDestroy", RT_CUDA_FAILED, err, err_size,
                                          "releasing the captured graph");
  CU(cuGraphUpload(b->exec[slot], b->compute), RT_CUDA_FAILED, "uploading the batch's graph");
  return 0;
}

/* A step without a launch may only make views: anything else would leave
 * its outputs unwritten on the GPU. */
static int check_launches(cuda_backend *b, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    if (p->launches[s].kind != RT_LAUNCH_NONE) continue;
    const rt_step *st = &p->steps[s];
    for (uint32_t k = 0; k < st->n_writes; k++) {
      const rt_tensor *t = &p->tensors[p->args[st->writes + k]];
      if (t->kind != RT_KIND_FUSED && t->alias_kind != RT_ALIAS_VIEW)
        return fail(b, RT_CUDA_BAD_CODE, err, err_size, "step %u (%s) writes '%s' but has no GPU launch: the "
                    "plan's GPU code is incomplete; compile it again", s, st->kernel, t->name);
    }
  }
  return 0;
}

/* The staging layout: each tensor at a DEV_ALIGN multiple. */
static int plan_io(cuda_backend *b, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  b->in = calloc(p->n_inputs + 1, sizeof *b->in);
  b->out = calloc(p->n_outputs + 1, sizeof *b->out);
  if (!b->in || !b->out) return fail(b, RT_CUDA_NO_MEMORY, err, err_size, "out of host memory");
  for (uint32_t i = 0; i < p->n_inputs; i++) {
    b->in[i].stage = b->in_bytes;
    b->in[i].bytes = p->tensors[p->inputs[i]].bytes;
    b->in_bytes += align_up(b->in[i].bytes, DEV_ALIGN);
  }
  for (uint32_t i = 0; i < p->n_outputs; i++) {
    b->out[i].stage = b->out_bytes;
    b->out[i].bytes = p->tensors[p->outputs[i]].bytes;
    b->out_bytes += align_up(b->out[i].bytes, DEV_ALIGN);
  }
  return 0;
}

static int start(cuda_backend *b, int threads, char *err, size_t err_size) {
  const rt_plan *p = b->plan;
  if (!p->launches)
    return fail(b, RT_CUDA_NO_CODE, err, err_size, "the plan has no GPU code (compiled with dlc --no-gpu, "
                "or by a dlc built without the CUDA toolkit); recompile it with GPU code, or run it with "
                "--device cpu");
  if (check_launches(b, err, err_size) || plan_io(b, err, err_size)) return -1;
  if (rt_cuda_load(&b->cu, err, err_size)) return set_status(b, RT_CUDA_NO_DRIVER);

  /* The params are generated on the host while the device starts. */
  uint8_t *host_params = calloc(1, p->params_bytes ? p->params_bytes : 1);
  if (!host_params)
    return fail(b, RT_CUDA_NO_MEMORY, err, err_size, "out of host memory for the params (%llu bytes)",
                (unsigned long long)p->params_bytes);
  int any_kernel = 0, any_gemm = 0;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    any_kernel |= p->launches[s].kind == RT_LAUNCH_KERNEL;
    any_gemm |= p->launches[s].kind == RT_LAUNCH_GEMM;
  }
  host_job job = {.p = p, .host = host_params, .threads = threads, .lt = any_gemm ? &b->lt : NULL};
  pthread_t helper;
  int threaded = pthread_create(&helper, NULL, host_startup, &job) == 0;
  if (!threaded) host_startup(&job);
  int rc = open_device(b, err, err_size);
  uint64_t slab = align_up(p->slab_bytes, DEV_ALIGN), params = align_up(p->params_bytes, DEV_ALIGN);
  uint64_t slot_bytes = b->in_bytes + b->out_bytes, staging = SLOTS * slot_bytes;
  uint64_t need = slab + params + staging;
  if (!rc) {
    size_t free_b = 0, total_b = 0;
    rt_cu_result r = b->cu.cuMemGetInfo(&free_b, &total_b);
    if (r != RT_CU_SUCCESS) rc = cu_fail(b, r, "cuMemGetInfo", RT_CUDA_FAILED, err, err_size, "asking for free memory");
    else if (need > free_b) rc = no_memory(b, need, staging, err, err_size);
  }
  if (!rc) {
    rt_cu_result r = b->cu.cuMemAlloc(&b->mem, need ? need : DEV_ALIGN);
    if (r == RT_CU_ERROR_OUT_OF_MEMORY) {
      b->mem = 0;
      rc = no_memory(b, need, staging, err, err_size);
    } else if (r != RT_CU_SUCCESS) {
      b->mem = 0;
      rc = cu_fail(b, r, "cuMemAlloc", RT_CUDA_FAILED, err, err_size, "allocating %llu bytes of device memory",
                   (unsigned long long)need);
    }
  }
  if (threaded) pthread_join(helper, NULL);
  if (!rc) {
    b->slab = b->mem;
    b->params = b->slab + slab;
    for (int s = 0; s < SLOTS; s++) b->stage[s] = b->params + params + (uint64_t)s * slot_bytes;
    b->base.device_bytes = need;
    /* The slab and the staging start zeroed (padding and the warm-up batch
     * read defined bytes). These calls and the upload from pageable memory
     * may return before they are done, and the backend's non-blocking
     * streams do not wait for them: the context synchronisation does. */
    rt_cu_result r = p->slab_bytes ? b->cu.cuMemsetD8(b->slab, 0, p->slab_bytes) : RT_CU_SUCCESS;
    if (r != RT_CU_SUCCESS)
      rc = cu_fail(b, r, "cuMemsetD8", RT_CUDA_FAILED, err, err_size, "zeroing the slab");
    else if (staging && (r = b->cu.cuMemsetD8(b->stage[0], 0, staging)) != RT_CU_SUCCESS)
      rc = cu_fail(b, r, "cuMemsetD8", RT_CUDA_FAILED, err, err_size, "zeroing the staging buffers");
    else if (p->params_bytes && (r = b->cu.cuMemcpyHtoD(b->params, host_params, p->params_bytes)) != RT_CU_SUCCESS)
      rc = cu_fail(b, r, "cuMemcpyHtoD", RT_CUDA_FAILED, err, err_size, "uploading %llu bytes of params",
                   (unsigned long long)p->params_bytes);
    else if ((r = b->cu.cuCtxSynchronize()) != RT_CU_SUCCESS)
      rc = cu_fail(b, r, "cuCtxSynchronize", RT_CUDA_FAILED, err, err_size, "finishing the params upload");
  }
  free(host_params);
  if (rc) return -1;
  if (job.lt && job.lt_rc) {
    snprintf(err, err_size, "%s", job.lt_err);
    return set_status(b, RT_CUDA_FAILED);
  }

  void *pinned = NULL;
  rt_cu_result r = b->cu.cuMemHostAlloc(&pinned, staging ? staging : HOST_ALIGN, 0);
  if (r != RT_CU_SUCCESS) {
    char s1[64];
    return cu_fail(b, r, "cuMemHostAlloc", RT_CUDA_NO_MEMORY, err, err_size, "allocating %s of pinned host "
                   "memory for double-buffered input/output", mib(s1, sizeof s1, staging));
  }
  b->pinned = pinned;
  for (int s = 0; s < SLOTS; s++) b->host[s] = b->pinned + (uint64_t)s * slot_bytes;
  for (uint32_t i = 0; i < p->n_inputs; i++) b->in[i].tensor = rt_cuda_tensor_ptr(p, p->inputs[i], b->slab, b->params);
  for (uint32_t i = 0; i < p->n_outputs; i++) b->out[i].tensor = rt_cuda_tensor_ptr(p, p->outputs[i], b->slab, b->params);

  const rt_cuda_status F = RT_CUDA_FAILED;
  CU(cuStreamCreate(&b->upload, RT_CU_STREAM_NON_BLOCKING), F, "creating the upload stream");
  CU(cuStreamCreate(&b->compute, RT_CU_STREAM_NON_BLOCKING), F, "creating the compute stream");
  CU(cuStreamCreate(&b->download, RT_CU_STREAM_NON_BLOCKING), F, "creating the download stream");
  for (int s = 0; s < SLOTS; s++) {
    CU(cuEventCreate(&b->uploaded[s], RT_CU_EVENT_DISABLE_TIMING), F, "creating events");
    CU(cuEventCreate(&b->started[s], RT_CU_EVENT_DEFAULT), F, "creating events");
    CU(cuEventCreate(&b->done[s], RT_CU_EVENT_DEFAULT), F, "creating events");
    CU(cuEventCreate(&b->downloaded[s], RT_CU_EVENT_DISABLE_TIMING), F, "creating events");
  }

  snprintf(b->code, sizeof b->code, "no kernels");
  if (any_kernel && (load_module(b, err, err_size) || setup_kernels(b, err, err_size))) return -1;
  if (any_gemm && setup_gemms(b, err, err_size)) return -1;
  /* One batch run directly before capture: kernels (ours and cuBLASLt's)
   * load lazily on first use, which is best kept out of a capture, and a
   * kernel that faults fails here, at start-up. It runs on zeroed staging. */
  if (enqueue_batch(b, 0, err, err_size)) return -1;
  CU(cuStreamSynchronize(b->compute), F, "running a warm-up batch");
  for (int s = 0; s < SLOTS; s++)
    if (capture(b, s, err, err_size)) return -1;
  CU(cuStreamSynchronize(b->compute), F, "finishing start-up");
  return 0;
}

rt_backend *rt_cuda_backend_create(const rt_plan *p, int threads, rt_cuda_status *status, char *err,
                                   size_t err_size) {
  cuda_backend *b = calloc(1, sizeof *b);
  if (!b) {
    *status = RT_CUDA_NO_MEMORY;
    snprintf(err, err_size, "out of host memory starting the CUDA backend");
    return NULL;
  }
  b->plan = p;
  if (start(b, threads, err, err_size)) {
    *status = b->status;
    cuda_destroy(&b->base);
    return NULL;
  }
  b->failed = 0;
  b->base.name = "cuda";
  b->base.code = b->code;
  b->base.driver_version = b->cu.driver_version;
  snprintf(b->base.device, sizeof b->base.device, "%.100s, sm_%d%d, %.1f GiB, %d SMs, driver %d.%d", b->base.card,
           b->base.cc_major, b->base.cc_minor, (double)b->base.card_bytes / (1 << 30), b->base.sms,
           b->cu.driver_version / 1000, b->cu.driver_version % 1000 / 10);
  b->base.destroy = cuda_destroy;
  b->base.slots = SLOTS;
  b->base.slot_input = cuda_input;
  b->base.slot_output = cuda_output;
  b->base.submit = cuda_submit;
  b->base.wait = cuda_wait;
  b->base.profile = cuda_profile;
  *status = RT_CUDA_OK;
  return &b->base;
}
