/*
 * rt_backend.h: what the batch driver (rt_run.c) needs from a backend.
 *
 * A backend is created once per run from a validated plan: it makes its one
 * allocation (slab, params, scratch, staging) and materialises the params.
 * After that nothing is allocated; batches flow through `slots` sets of host
 * buffers:
 *
 *   fill the input buffers of slot s, submit(s), ... later wait(s), read the
 *   output buffers of slot s, and only then reuse slot s.
 *
 * A backend with two slots (CUDA) computes batch i while the driver reads
 * batch i+1 into the other slot and the copy engines move data, so reading,
 * uploading, computing, downloading and writing overlap. A synchronous
 * backend (the CPU) sets only input/output/run: it has one slot whose
 * buffers are the slab itself; the rt_backend_* helpers below give the
 * driver one interface for both kinds.
 */
#ifndef RT_BACKEND_H
#define RT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "rt_plan.h"

typedef struct rt_backend rt_backend;
struct rt_backend {
  const char *name;           /* "cpu", "cuda" */
  char device[160];           /* human description, e.g. "CPU, 2 threads" */
  uint64_t device_bytes;      /* the one allocation: slab + params + scratch or staging */

  /* Synchronous backends: one set of buffers, run() computes a batch. */
  void *(*input)(rt_backend *b, uint32_t i);         /* plan input i, tensor bytes */
  const void *(*output)(rt_backend *b, uint32_t i);  /* plan output i, after run() */
  int (*run)(rt_backend *b, char *err, size_t err_size);
  void (*destroy)(rt_backend *b);

  /* Asynchronous backends (submit != NULL): `slots` sets of host buffers. */
  int slots;
  void *(*slot_input)(rt_backend *b, int slot, uint32_t i);
  const void *(*slot_output)(rt_backend *b, int slot, uint32_t i);
  /* Start the batch whose inputs are in slot's buffers; may return at once. */
  int (*submit)(rt_backend *b, int slot, char *err, size_t err_size);
  /* Wait for slot's batch: its outputs are then in slot's output buffers;
   * *ms receives the batch's compute time on the device. */
  int (*wait)(rt_backend *b, int slot, double *ms, char *err, size_t err_size);

  /* The accelerator, for the summary: empty name and zeros on the CPU. */
  char card[128];             /* e.g. "NVIDIA H100 80GB HBM3" */
  int cc_major, cc_minor;     /* compute capability */
  uint64_t card_bytes;        /* its memory */
  int sms;                    /* streaming multiprocessors */
  int driver_version;         /* e.g. 13000 */
  const char *code;           /* which GPU code was loaded: "cubin sm_90", "ptx (JIT)" */

  /* Time each step alone (dlrun --profile): step_ms[s] (plan->n_steps
   * entries) gets the mean of `reps` runs of step s in a row, on whatever
   * the buffers hold (their values change: in-place steps run again on
   * their own results). Called with no batch in flight; allocates nothing. */
  int (*profile)(rt_backend *b, int reps, double *step_ms, char *err, size_t err_size);
};

/* The driver's view of the buffers, the same for both kinds of backend (a
 * synchronous one has a single slot). The driver calls run() where it
 * would submit, and times it itself. */
static inline int rt_backend_slots(const rt_backend *b) { return b->submit ? b->slots : 1; }
static inline void *rt_backend_input(rt_backend *b, int slot, uint32_t i) {
  return b->submit ? b->slot_input(b, slot, i) : b->input(b, i);
}
static inline const void *rt_backend_output(rt_backend *b, int slot, uint32_t i) {
  return b->submit ? b->slot_output(b, slot, i) : b->output(b, i);
}

/* threads <= 0: one per core. NULL + err on failure. */
rt_backend *rt_cpu_backend_create(const rt_plan *p, int threads, char *err, size_t err_size);

/* Why rt_cuda_backend_create failed. NO_DRIVER, NO_DEVICE and NO_CODE let
 * dlrun fall back to the CPU when no device was asked for. */
typedef enum rt_cuda_status {
  RT_CUDA_OK = 0,
  RT_CUDA_NO_DRIVER,      /* libcuda missing or too old */
  RT_CUDA_NO_DEVICE,      /* driver present, no usable device */
  RT_CUDA_NO_CODE,        /* the plan has no GPU code (dlc built without NVRTC) */
  RT_CUDA_NO_MEMORY,      /* device or pinned host memory too small */
  RT_CUDA_BAD_CODE,       /* the plan's GPU code does not load on this card */
  RT_CUDA_FAILED,         /* any other driver or cuBLASLt failure */
} rt_cuda_status;

/* One allocation on the first device, params uploaded, modules loaded,
 * cuBLASLt set up, every batch's launch sequence captured as a CUDA graph.
 * threads: host threads for materialising params (<= 0: one per core).
 * NULL + *status + err on failure. */
rt_backend *rt_cuda_backend_create(const rt_plan *p, int threads, rt_cuda_status *status, char *err,
                                   size_t err_size);

#endif
