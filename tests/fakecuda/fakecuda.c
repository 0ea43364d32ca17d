/*
 * fakecuda.c: a CUDA driver on the CPU, built as libcuda.so.1, for testing
 * dlc's CUDA backend on machines without a GPU (see fakecuda.h).
 *
 * Streams are FIFO queues of operations that run only when the program
 * forces them: a synchronisation (event, stream, context) runs exactly the
 * operations it depends on, following cross-stream waits. The legacy (NULL)
 * stream holds what cuMemsetD8 and cuMemcpyHtoD queue; as on a GPU, streams
 * created non-blocking never wait for it. So the fake
 * executes as late as a real GPU is allowed to, and host code that reads a
 * pinned buffer before waiting for the copy into it sees stale data, as it
 * might on a GPU. Device memory is host memory filled with a poison pattern
 * when allocated, and every copy is checked to lie inside one allocation.
 *
 * Stream capture records operations into a graph instead of queueing them;
 * while a capture is open, synchronous calls fail with
 * CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidate it, as in
 * CU_STREAM_CAPTURE_MODE_GLOBAL/THREAD_LOCAL. A kernel fault is sticky
 * until the primary context is released by its last user.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fakecuda.h"
#include "rt_cuda_api.h"

#define EXPORT __attribute__((visibility("default")))

/* --- state --- */

typedef enum op_kind { OP_COPY, OP_MEMSET, OP_KERNEL, OP_HOST_FN, OP_RECORD, OP_WAIT, OP_GRAPH } op_kind;

typedef struct op {
  op_kind kind;
  struct op *next;
  void *dst;                 /* copy, memset */
  const void *src;
  void *owned;               /* freed with the op: a synchronous copy's staging */
  size_t bytes;
  unsigned char value;
  struct CUfunc_st *fn;      /* kernel */
  uint32_t grid[3], block[3], shared;
  uint64_t *argv;            /* the parameters' values (all device pointers) */
  rt_cu_host_fn host_fn;     /* host function */
  void *user;
  struct CUevent_st *event;  /* record, wait */
  uint64_t gen;
  struct CUstream_st *where; /* wait: the stream that holds the record waited for */
  struct CUgraphExec_st *exec; /* graph launch */
} op;

typedef struct op_list {
  op *head, *tail;
} op_list;

struct CUgraph_st {
  op_list ops;
  int invalid;
};
struct CUgraphExec_st {
  op_list ops;
};
struct CUstream_st {
  op_list queue;
  struct CUgraph_st *capture;
  int blocking;              /* created without CU_STREAM_NON_BLOCKING */
  struct CUstream_st *next;
};
struct CUevent_st {
  unsigned flags;
  uint64_t recorded, completed; /* generations */
  struct CUstream_st *stream;   /* where the last record waits to run */
  double time;
  struct CUevent_st *next;
};
struct CUfunc_st {
  struct CUmod_st *mod;
  char name[128];
  int n_args;
  int max_dynamic_shared;
  struct CUfunc_st *next;
};
struct CUmod_st {
  void *lib;
  fakecuda_kernel_args_fn args;
  fakecuda_kernel_launch_fn launch;
  struct CUfunc_st *functions;
};
struct CUctx_st {
  int refs;
};

typedef struct block {
  uintptr_t p;
  size_t bytes;
  struct block *next;
} block;

static struct {
  int initialised;
  int devices, cc, sms, max_shared;
  uint64_t mem_total, mem_free, dev_used;
  int64_t fail_launch_at, kernels_since_init;
  int fail_jit, fail_hostalloc;
  rt_cu_result sticky;
  struct CUctx_st ctx;
  struct CUctx_st *current;
  struct CUstream_st *streams;
  struct CUstream_st legacy; /* the NULL stream: where synchronous memsets and copies queue */
  struct CUevent_st *events;
  int captures;              /* open stream captures */
  block *dev_blocks, *host_blocks;
  fakecuda_stats stats;
} G;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t env_u64(const char *name, uint64_t def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  unsigned long long x = strtoull(v, &end, 10);
  return *end ? def : (uint64_t)x;
}

static block *find_block(block *list, uintptr_t p, size_t bytes) {
  for (block *b = list; b; b = b->next)
    if (p >= b->p && bytes <= b->bytes && p - b->p <= b->bytes - bytes) return b;
  return NULL;
}

EXPORT int fakecuda_device_range_ok(uint64_t p, uint64_t bytes) {
  return find_block(G.dev_blocks, (uintptr_t)p, (size_t)bytes) != NULL;
}

EXPORT void fakecuda_get_stats(fakecuda_stats *out) { *out = G.stats; }

/* Calls that need an initialised driver and a current context. */
#define NEED_CONTEXT()                                   \
  do {                                                   \
    if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED; \
    if (!G.current) return RT_CU_ERROR_INVALID_CONTEXT;  \
  } while (0)

/* A synchronous call while a capture is open breaks the capture. */
static rt_cu_result capture_breaks(void) {
  if (!G.captures) return RT_CU_SUCCESS;
  for (struct CUstream_st *s = G.streams; s; s = s->next)
    if (s->capture) s->capture->invalid = 1;
  return RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

/* --- running operations --- */

static void list_push(op_list *l, op *o) {
  o->next = NULL;
  if (l->tail) l->tail->next = o;
  else l->head = o;
  l->tail = o;
}

static void op_free(op *o) {
  free(o->argv);
  free(o->owned);
  free(o);
}

static void list_free(op_list *l) {
  for (op *o = l->head, *n; o; o = n) {
    n = o->next;
    op_free(o);
  }
  l->head = l->tail = NULL;
}

static void run_event(struct CUstream_st *s, struct CUevent_st *e, uint64_t gen);

static void run_kernel(const op *o) {
  G.stats.kernels_run++;
  G.kernels_since_init++;
  if (G.sticky) return;
  if (G.fail_launch_at > 0 && G.kernels_since_init == G.fail_launch_at) {
    G.sticky = RT_CU_ERROR_LAUNCH_FAILED;
    return;
  }
  void *args[256];
  int n = o->fn->n_args < 256 ? o->fn->n_args : 256;
  for (int i = 0; i < n; i++) args[i] = &o->argv[i];
  if (o->fn->mod->launch(o->fn->name, o->grid, o->block, o->shared, args) != 0)
    G.sticky = RT_CU_ERROR_LAUNCH_FAILED;
}

static void run_op(const op *o) {
  switch (o->kind) {
  case OP_COPY:
    if (!G.sticky) memcpy(o->dst, o->src, o->bytes);
    break;
  case OP_MEMSET:
    if (!G.sticky) memset(o->dst, o->value, o->bytes);
    break;
  case OP_KERNEL:
    run_kernel(o);
    break;
  case OP_HOST_FN:
    G.stats.host_fns_run++;
    if (!G.sticky) o->host_fn(o->user);
    break;
  case OP_RECORD:
    if (o->gen > o->event->completed) {
      o->event->completed = o->gen;
      o->event->time = now();
    }
    break;
  case OP_WAIT:
    run_event(o->where, o->event, o->gen);
    break;
  case OP_GRAPH:
    G.stats.graph_launches++;
    for (const op *g = o->exec->ops.head; g; g = g->next) run_op(g);
    break;
  }
}

/* Run the head of s's queue. */
static int step_stream(struct CUstream_st *s) {
  op *o = s->queue.head;
  if (!o) return 0;
  s->queue.head = o->next;
  if (!s->queue.head) s->queue.tail = NULL;
  run_op(o);
  op_free(o);
  return 1;
}

/* Run what the record of generation gen of e, queued on s, waits for, and
 * nothing more. */
static void run_event(struct CUstream_st *s, struct CUevent_st *e, uint64_t gen) {
  while (e->completed < gen && s && step_stream(s)) {
  }
}

static void drain(struct CUstream_st *s) {
  while (step_stream(s)) {
  }
}

static void drain_all(void) {
  drain(&G.legacy);
  for (struct CUstream_st *s = G.streams; s; s = s->next) drain(s);
}

/* Queue o on s (NULL: the legacy stream), or record it into s's capture.
 * The legacy stream and the blocking streams order against each other; a
 * non-blocking stream never waits for the legacy stream (nor it for them),
 * which is what makes synchronous memsets and pageable copies, which return
 * before they are done, race with work queued on non-blocking streams. */
static rt_cu_result enqueue(struct CUstream_st *s, op *o) {
  if (!s) {
    for (struct CUstream_st *b = G.streams; b; b = b->next)
      if (b->blocking) drain(b);
    s = &G.legacy;
  } else if (s->blocking && !s->capture) {
    drain(&G.legacy);
  }
  list_push(s->capture ? &s->capture->ops : &s->queue, o);
  return RT_CU_SUCCESS;
}

static op *new_op(op_kind kind) {
  op *o = calloc(1, sizeof *o);
  if (o) o->kind = kind;
  return o;
}

/* --- initialisation and devices --- */

EXPORT rt_cu_result cuInit(unsigned flags) {
  if (flags != 0) return RT_CU_ERROR_INVALID_VALUE;
  G.devices = (int)env_u64("DLC_FAKE_CUDA_DEVICES", 1);
  G.cc = (int)env_u64("DLC_FAKE_CUDA_CC", 90);
  G.sms = 132;
  G.max_shared = 227 << 10;
  G.mem_total = env_u64("DLC_FAKE_CUDA_MEM_TOTAL", (uint64_t)8 << 30);
  G.mem_free = env_u64("DLC_FAKE_CUDA_MEM_FREE", G.mem_total);
  G.fail_launch_at = (int64_t)env_u64("DLC_FAKE_CUDA_FAIL_LAUNCH", 0);
  G.kernels_since_init = 0;
  G.fail_jit = env_u64("DLC_FAKE_CUDA_FAIL_JIT", 0) != 0;
  G.fail_hostalloc = env_u64("DLC_FAKE_CUDA_FAIL_HOSTALLOC", 0) != 0;
  if (G.devices < 1) {
    G.initialised = 0;
    return RT_CU_ERROR_NO_DEVICE;
  }
  G.initialised = 1;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDriverGetVersion(int *v) {
  *v = 13000;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDeviceGetCount(int *n) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  *n = G.devices;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDeviceGet(rt_cu_device *d, int ordinal) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  if (ordinal < 0 || ordinal >= G.devices) return RT_CU_ERROR_INVALID_VALUE;
  *d = ordinal;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDeviceGetName(char *name, int len, rt_cu_device d) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  if (d < 0 || d >= G.devices || len < 1) return RT_CU_ERROR_INVALID_VALUE;
  snprintf(name, (size_t)len, "dlc fake GPU (runs on the CPU)");
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDeviceGetAttribute(int *v, int attr, rt_cu_device d) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  if (d < 0 || d >= G.devices) return RT_CU_ERROR_INVALID_VALUE;
  switch (attr) {
  case RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = G.cc / 10; break;
  case RT_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = G.cc % 10; break;
  case RT_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = G.sms; break;
  case RT_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = G.max_shared; break;
  default: return RT_CU_ERROR_INVALID_VALUE;
  }
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDeviceTotalMem(size_t *bytes, rt_cu_device d) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  if (d < 0 || d >= G.devices) return RT_CU_ERROR_INVALID_VALUE;
  *bytes = G.mem_total;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDevicePrimaryCtxRetain(rt_cu_context *c, rt_cu_device d) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  if (d < 0 || d >= G.devices) return RT_CU_ERROR_INVALID_VALUE;
  G.ctx.refs++;
  G.stats.contexts = G.ctx.refs;
  *c = &G.ctx;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuDevicePrimaryCtxRelease(rt_cu_device d) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  if (d < 0 || d >= G.devices || G.ctx.refs < 1) return RT_CU_ERROR_INVALID_VALUE;
  if (--G.ctx.refs == 0) { /* the context goes away, and its sticky error with it */
    drain_all();
    G.sticky = RT_CU_SUCCESS;
    G.current = NULL;
  }
  G.stats.contexts = G.ctx.refs;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuCtxSetCurrent(rt_cu_context c) {
  if (!G.initialised) return RT_CU_ERROR_NOT_INITIALIZED;
  if (c && (c != &G.ctx || G.ctx.refs < 1)) return RT_CU_ERROR_INVALID_CONTEXT;
  G.current = c;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuCtxSynchronize(void) {
  NEED_CONTEXT();
  rt_cu_result r = capture_breaks();
  if (r) return r;
  drain_all();
  return G.sticky;
}

/* --- memory --- */

EXPORT rt_cu_result cuMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
  NEED_CONTEXT();
  *free_bytes = G.mem_free > G.dev_used ? G.mem_free - G.dev_used : 0;
  *total_bytes = G.mem_total;
  return RT_CU_SUCCESS;
}

static rt_cu_result track(block **list, void *p, size_t bytes) {
  block *b = malloc(sizeof *b);
  if (!b) return RT_CU_ERROR_OUT_OF_MEMORY;
  *b = (block){(uintptr_t)p, bytes, *list};
  *list = b;
  return RT_CU_SUCCESS;
}

/* Remove the block starting at p; its size, or 0 when there is none. */
static size_t untrack(block **list, uintptr_t p) {
  for (block **b = list; *b; b = &(*b)->next)
    if ((*b)->p == p) {
      block *dead = *b;
      size_t bytes = dead->bytes;
      *b = dead->next;
      free(dead);
      return bytes ? bytes : 1;
    }
  return 0;
}

EXPORT rt_cu_result cuMemAlloc(rt_cu_deviceptr *ptr, size_t bytes) {
  NEED_CONTEXT();
  rt_cu_result r = capture_breaks();
  if (r) return r;
  if (G.sticky) return G.sticky;
  if (bytes == 0) return RT_CU_ERROR_INVALID_VALUE;
  if (bytes > G.mem_free || G.dev_used > G.mem_free - bytes) return RT_CU_ERROR_OUT_OF_MEMORY;
  size_t rounded = (bytes + 255) / 256 * 256;
  void *p = aligned_alloc(256, rounded);
  if (!p) return RT_CU_ERROR_OUT_OF_MEMORY;
  memset(p, 0xA5, rounded); /* device memory starts as garbage */
  if (track(&G.dev_blocks, p, bytes)) {
    free(p);
    return RT_CU_ERROR_OUT_OF_MEMORY;
  }
  G.dev_used += bytes;
  G.stats.dev_allocs++;
  G.stats.dev_live++;
  *ptr = (rt_cu_deviceptr)(uintptr_t)p;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuMemFree(rt_cu_deviceptr ptr) {
  NEED_CONTEXT();
  rt_cu_result r = capture_breaks();
  if (r) return r;
  drain_all(); /* cuMemFree waits for work that may use the memory */
  size_t bytes = untrack(&G.dev_blocks, (uintptr_t)ptr);
  if (!bytes) return RT_CU_ERROR_INVALID_VALUE;
  G.dev_used -= bytes;
  G.stats.dev_live--;
  free((void *)(uintptr_t)ptr);
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuMemHostAlloc(void **ptr, size_t bytes, unsigned flags) {
  NEED_CONTEXT();
  rt_cu_result r = capture_breaks();
  if (r) return r;
  if (flags & ~0xFu) return RT_CU_ERROR_INVALID_VALUE;
  if (G.fail_hostalloc) return RT_CU_ERROR_OUT_OF_MEMORY;
  void *p = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (!p) return RT_CU_ERROR_OUT_OF_MEMORY;
  memset(p, 0x5A, bytes);
  if (track(&G.host_blocks, p, bytes)) {
    free(p);
    return RT_CU_ERROR_OUT_OF_MEMORY;
  }
  G.stats.host_allocs++;
  G.stats.host_live++;
  *ptr = p;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuMemFreeHost(void *ptr) {
  NEED_CONTEXT();
  drain_all();
  if (!untrack(&G.host_blocks, (uintptr_t)ptr)) return RT_CU_ERROR_INVALID_VALUE;
  G.stats.host_live--;
  free(ptr);
  return RT_CU_SUCCESS;
}

/* From pageable memory, cuMemcpyHtoD returns once the bytes are staged, not
 * when they reach the device: the copy itself queues on the legacy stream. */
EXPORT rt_cu_result cuMemcpyHtoD(rt_cu_deviceptr dst, const void *src, size_t bytes) {
  NEED_CONTEXT();
  rt_cu_result r = capture_breaks();
  if (r) return r;
  if (!fakecuda_device_range_ok(dst, bytes)) return RT_CU_ERROR_INVALID_VALUE;
  if (G.sticky) return G.sticky;
  G.stats.sync_calls++;
  op *o = new_op(OP_COPY);
  void *staged = malloc(bytes ? bytes : 1);
  if (!o || !staged) {
    free(o);
    free(staged);
    return RT_CU_ERROR_OUT_OF_MEMORY;
  }
  memcpy(staged, src, bytes);
  o->dst = (void *)(uintptr_t)dst;
  o->src = o->owned = staged;
  o->bytes = bytes;
  return enqueue(NULL, o);
}

/* Asynchronous with respect to the host for device memory: queued on the
 * legacy stream like the copy above. */
EXPORT rt_cu_result cuMemsetD8(rt_cu_deviceptr dst, unsigned char value, size_t bytes) {
  NEED_CONTEXT();
  rt_cu_result r = capture_breaks();
  if (r) return r;
  if (!fakecuda_device_range_ok(dst, bytes)) return RT_CU_ERROR_INVALID_VALUE;
  if (G.sticky) return G.sticky;
  G.stats.sync_calls++;
  op *o = new_op(OP_MEMSET);
  if (!o) return RT_CU_ERROR_OUT_OF_MEMORY;
  o->dst = (void *)(uintptr_t)dst;
  o->value = value;
  o->bytes = bytes;
  return enqueue(NULL, o);
}

static rt_cu_result async_copy(void *dst, const void *src, size_t bytes, rt_cu_stream s, const void *host) {
  NEED_CONTEXT();
  if (G.sticky) return G.sticky;
  if (host) {
    G.stats.async_copies++;
    if (!find_block(G.host_blocks, (uintptr_t)host, bytes)) G.stats.pageable_async++;
  }
  op *o = new_op(OP_COPY);
  if (!o) return RT_CU_ERROR_OUT_OF_MEMORY;
  o->dst = dst;
  o->src = src;
  o->bytes = bytes;
  return enqueue(s, o);
}

EXPORT rt_cu_result cuMemcpyHtoDAsync(rt_cu_deviceptr dst, const void *src, size_t bytes, rt_cu_stream s) {
  if (!fakecuda_device_range_ok(dst, bytes)) return RT_CU_ERROR_INVALID_VALUE;
  return async_copy((void *)(uintptr_t)dst, src, bytes, s, src);
}

EXPORT rt_cu_result cuMemcpyDtoHAsync(void *dst, rt_cu_deviceptr src, size_t bytes, rt_cu_stream s) {
  if (!fakecuda_device_range_ok(src, bytes)) return RT_CU_ERROR_INVALID_VALUE;
  return async_copy(dst, (const void *)(uintptr_t)src, bytes, s, dst);
}

EXPORT rt_cu_result cuMemcpyDtoDAsync(rt_cu_deviceptr dst, rt_cu_deviceptr src, size_t bytes, rt_cu_stream s) {
  if (!fakecuda_device_range_ok(dst, bytes) || !fakecuda_device_range_ok(src, bytes))
    return RT_CU_ERROR_INVALID_VALUE;
  return async_copy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, bytes, s, NULL);
}

/* --- streams and events --- */

EXPORT rt_cu_result cuStreamCreate(rt_cu_stream *s, unsigned flags) {
  NEED_CONTEXT();
  if (flags & ~1u) return RT_CU_ERROR_INVALID_VALUE;
  struct CUstream_st *st = calloc(1, sizeof *st);
  if (!st) return RT_CU_ERROR_OUT_OF_MEMORY;
  st->blocking = !(flags & RT_CU_STREAM_NON_BLOCKING);
  st->next = G.streams;
  G.streams = st;
  *s = st;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuStreamDestroy(rt_cu_stream s) {
  NEED_CONTEXT();
  struct CUstream_st **p = &G.streams;
  while (*p && *p != s) p = &(*p)->next;
  if (!*p) return RT_CU_ERROR_INVALID_HANDLE;
  if (s->capture) return RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  drain(s); /* its work still completes */
  for (struct CUevent_st *e = G.events; e; e = e->next)
    if (e->stream == s) e->stream = NULL; /* its records have run */
  *p = s->next;
  free(s);
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuStreamSynchronize(rt_cu_stream s) {
  NEED_CONTEXT();
  rt_cu_result r = capture_breaks();
  if (r) return r;
  if (s) {
    drain(s);
  } else { /* the legacy stream, and the blocking streams it orders with */
    drain(&G.legacy);
    for (struct CUstream_st *b = G.streams; b; b = b->next)
      if (b->blocking) drain(b);
  }
  return G.sticky;
}

EXPORT rt_cu_result cuStreamWaitEvent(rt_cu_stream s, rt_cu_event e, unsigned flags) {
  NEED_CONTEXT();
  if (!e || flags) return RT_CU_ERROR_INVALID_VALUE;
  if (s && s->capture) { /* cross-stream capture is not modelled */
    s->capture->invalid = 1;
    return RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  if (!e->recorded) return RT_CU_SUCCESS; /* never recorded: nothing to wait for */
  op *o = new_op(OP_WAIT);
  if (!o) return RT_CU_ERROR_OUT_OF_MEMORY;
  o->event = e;
  o->gen = e->recorded;
  o->where = e->stream;
  return enqueue(s, o);
}

EXPORT rt_cu_result cuStreamBeginCapture(rt_cu_stream s, int mode) {
  NEED_CONTEXT();
  if (!s || s->capture || mode < 0 || mode > 2) return RT_CU_ERROR_INVALID_VALUE;
  if (G.sticky) return G.sticky;
  s->capture = calloc(1, sizeof *s->capture);
  if (!s->capture) return RT_CU_ERROR_OUT_OF_MEMORY;
  G.captures++;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuStreamEndCapture(rt_cu_stream s, rt_cu_graph *graph) {
  NEED_CONTEXT();
  if (!s || !s->capture) return RT_CU_ERROR_INVALID_VALUE;
  struct CUgraph_st *g = s->capture;
  s->capture = NULL;
  G.captures--;
  if (g->invalid) {
    list_free(&g->ops);
    free(g);
    *graph = NULL;
    return RT_CU_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  G.stats.graphs_captured++;
  *graph = g;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuEventCreate(rt_cu_event *e, unsigned flags) {
  NEED_CONTEXT();
  if (flags & ~0xFu) return RT_CU_ERROR_INVALID_VALUE;
  *e = calloc(1, sizeof **e);
  if (!*e) return RT_CU_ERROR_OUT_OF_MEMORY;
  (*e)->flags = flags;
  (*e)->next = G.events;
  G.events = *e;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuEventDestroy(rt_cu_event e) {
  NEED_CONTEXT();
  struct CUevent_st **p = &G.events;
  while (*p && *p != e) p = &(*p)->next;
  if (!e || !*p) return RT_CU_ERROR_INVALID_HANDLE;
  run_event(e->stream, e, e->recorded); /* a pending record must not touch freed memory */
  *p = e->next;
  free(e);
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuEventRecord(rt_cu_event e, rt_cu_stream s) {
  NEED_CONTEXT();
  if (!e) return RT_CU_ERROR_INVALID_HANDLE;
  if (s && s->capture) {
    s->capture->invalid = 1;
    return RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  op *o = new_op(OP_RECORD);
  if (!o) return RT_CU_ERROR_OUT_OF_MEMORY;
  o->event = e;
  o->gen = ++e->recorded;
  e->stream = s ? s : &G.legacy;
  return enqueue(s, o);
}

EXPORT rt_cu_result cuEventSynchronize(rt_cu_event e) {
  NEED_CONTEXT();
  if (!e) return RT_CU_ERROR_INVALID_HANDLE;
  rt_cu_result r = capture_breaks();
  if (r) return r;
  run_event(e->stream, e, e->recorded);
  return G.sticky;
}

EXPORT rt_cu_result cuEventElapsedTime(float *ms, rt_cu_event a, rt_cu_event b) {
  NEED_CONTEXT();
  if (!a || !b) return RT_CU_ERROR_INVALID_HANDLE;
  if ((a->flags | b->flags) & RT_CU_EVENT_DISABLE_TIMING) return RT_CU_ERROR_INVALID_HANDLE;
  if (G.sticky) return G.sticky;
  if (!a->recorded || !b->recorded) return RT_CU_ERROR_INVALID_HANDLE;
  if (a->completed < a->recorded || b->completed < b->recorded) return RT_CU_ERROR_NOT_READY;
  *ms = (float)((b->time - a->time) * 1e3);
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuLaunchHostFunc(rt_cu_stream s, rt_cu_host_fn fn, void *user) {
  NEED_CONTEXT();
  if (!fn) return RT_CU_ERROR_INVALID_VALUE;
  if (G.sticky) return G.sticky;
  op *o = new_op(OP_HOST_FN);
  if (!o) return RT_CU_ERROR_OUT_OF_MEMORY;
  o->host_fn = fn;
  o->user = user;
  return enqueue(s, o);
}

/* --- graphs --- */

EXPORT rt_cu_result cuGraphInstantiateWithFlags(rt_cu_graph_exec *exec, rt_cu_graph g, unsigned long long flags) {
  NEED_CONTEXT();
  if (!g || flags) return RT_CU_ERROR_INVALID_VALUE;
  struct CUgraphExec_st *x = calloc(1, sizeof *x);
  if (!x) return RT_CU_ERROR_OUT_OF_MEMORY;
  for (const op *o = g->ops.head; o; o = o->next) {
    op *c = malloc(sizeof *c);
    uint64_t *argv = NULL;
    if (c && o->argv) {
      size_t n = (size_t)o->fn->n_args;
      argv = malloc(n * sizeof *argv + 1);
      if (argv) memcpy(argv, o->argv, n * sizeof *argv);
    }
    if (!c || (o->argv && !argv)) {
      free(c);
      free(argv);
      list_free(&x->ops);
      free(x);
      return RT_CU_ERROR_OUT_OF_MEMORY;
    }
    *c = *o;
    c->argv = argv;
    c->owned = NULL;
    list_push(&x->ops, c);
  }
  *exec = x;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuGraphUpload(rt_cu_graph_exec exec, rt_cu_stream s) {
  NEED_CONTEXT();
  if (!exec) return RT_CU_ERROR_INVALID_VALUE;
  if (s && s->capture) return RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  return G.sticky;
}

EXPORT rt_cu_result cuGraphLaunch(rt_cu_graph_exec exec, rt_cu_stream s) {
  NEED_CONTEXT();
  if (!exec) return RT_CU_ERROR_INVALID_VALUE;
  if (G.sticky) return G.sticky;
  if (s && s->capture) {
    s->capture->invalid = 1;
    return RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED;
  }
  op *o = new_op(OP_GRAPH);
  if (!o) return RT_CU_ERROR_OUT_OF_MEMORY;
  o->exec = exec;
  return enqueue(s, o);
}

EXPORT rt_cu_result cuGraphExecDestroy(rt_cu_graph_exec exec) {
  NEED_CONTEXT();
  if (!exec) return RT_CU_ERROR_INVALID_VALUE;
  drain_all(); /* a queued launch may still use it */
  list_free(&exec->ops);
  free(exec);
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuGraphDestroy(rt_cu_graph g) {
  NEED_CONTEXT();
  if (!g) return RT_CU_ERROR_INVALID_VALUE;
  list_free(&g->ops);
  free(g);
  return RT_CU_SUCCESS;
}

/* --- modules and kernels --- */

/* Write the JIT's error log where the caller's options say. */
static void jit_log(unsigned n, const int *opts, void **vals, const char *text) {
  char *buf = NULL;
  size_t size = 0;
  for (unsigned i = 0; i < n; i++) {
    if (opts[i] == RT_CU_JIT_ERROR_LOG_BUFFER) buf = vals[i];
    if (opts[i] == RT_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) size = (size_t)(uintptr_t)vals[i];
  }
  if (buf && size) snprintf(buf, size, "%s", text);
}

EXPORT rt_cu_result cuModuleLoadDataEx(rt_cu_module *mod, const void *image, unsigned n, int *opts, void **vals) {
  NEED_CONTEXT();
  if (!image || (n && (!opts || !vals))) return RT_CU_ERROR_INVALID_VALUE;
  const char *text = image;
  char log[256];
  int kind;
  if (!strncmp(text, "FAKECUBIN sm_", 13)) {
    kind = 1;
    if (atoi(text + 13) != G.cc) return RT_CU_ERROR_NO_BINARY_FOR_GPU;
  } else if (!memcmp(text, "\x7f" "ELF", 4)) {
    kind = 1;
  } else {
    kind = 2;
    if (G.fail_jit) {
      jit_log(n, opts, vals, "ptxas application ptx input, line 1; fatal   : the fake driver's JIT was told "
              "to fail (DLC_FAKE_CUDA_FAIL_JIT)");
      return RT_CU_ERROR_INVALID_PTX;
    }
    const char *t = strstr(text, ".target sm_");
    if (t && atoi(t + 11) > G.cc) {
      snprintf(log, sizeof log, "ptxas fatal   : SM version specified by .target is higher than the "
               "device's (sm_%d > sm_%d)", atoi(t + 11), G.cc);
      jit_log(n, opts, vals, log);
      return RT_CU_ERROR_INVALID_PTX;
    }
  }
  const char *path = getenv("DLC_FAKE_CUDA_KERNELS");
  if (!path || !*path) {
    jit_log(n, opts, vals, "the fake driver loads kernels from DLC_FAKE_CUDA_KERNELS, which is not set");
    return RT_CU_ERROR_INVALID_IMAGE;
  }
  /* kept loaded once opened: kernel libraries may hold process-wide state
   * (the shim's fiber stacks) that unloading would leak */
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  void *args = lib ? dlsym(lib, "fakecuda_kernel_args") : NULL;
  void *launch = lib ? dlsym(lib, "fakecuda_kernel_launch") : NULL;
  if (!args || !launch) {
    snprintf(log, sizeof log, "cannot use kernel library %s: %s", path, lib ? "missing entry points" : dlerror());
    jit_log(n, opts, vals, log);
    if (lib) dlclose(lib);
    return RT_CU_ERROR_INVALID_IMAGE;
  }
  struct CUmod_st *m = calloc(1, sizeof *m);
  if (!m) {
    dlclose(lib);
    return RT_CU_ERROR_OUT_OF_MEMORY;
  }
  m->lib = lib;
  memcpy(&m->args, &args, sizeof args);
  memcpy(&m->launch, &launch, sizeof launch);
  G.stats.module_kind = kind;
  *mod = m;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuModuleUnload(rt_cu_module m) {
  NEED_CONTEXT();
  if (!m) return RT_CU_ERROR_INVALID_HANDLE;
  drain_all();
  for (struct CUfunc_st *f = m->functions, *n; f; f = n) {
    n = f->next;
    free(f);
  }
  dlclose(m->lib);
  free(m);
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuModuleGetFunction(rt_cu_function *fn, rt_cu_module m, const char *name) {
  NEED_CONTEXT();
  if (!m || !name) return RT_CU_ERROR_INVALID_VALUE;
  for (struct CUfunc_st *f = m->functions; f; f = f->next)
    if (!strcmp(f->name, name)) {
      *fn = f;
      return RT_CU_SUCCESS;
    }
  int n_args = strlen(name) < sizeof ((struct CUfunc_st *)0)->name ? m->args(name) : -1;
  if (n_args < 0 || n_args > 256) return RT_CU_ERROR_NOT_FOUND;
  struct CUfunc_st *f = calloc(1, sizeof *f);
  if (!f) return RT_CU_ERROR_OUT_OF_MEMORY;
  f->mod = m;
  snprintf(f->name, sizeof f->name, "%s", name);
  f->n_args = n_args;
  f->next = m->functions;
  m->functions = f;
  *fn = f;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuFuncSetAttribute(rt_cu_function f, int attr, int value) {
  NEED_CONTEXT();
  if (!f) return RT_CU_ERROR_INVALID_HANDLE;
  if (attr != RT_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES || value < 0 || value > G.max_shared)
    return RT_CU_ERROR_INVALID_VALUE;
  f->max_dynamic_shared = value;
  if (value > G.stats.max_dynamic_shared_set) G.stats.max_dynamic_shared_set = value;
  return RT_CU_SUCCESS;
}

EXPORT rt_cu_result cuLaunchKernel(rt_cu_function f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                   unsigned by, unsigned bz, unsigned shared, rt_cu_stream s, void **params,
                                   void **extra) {
  NEED_CONTEXT();
  if (!f) return RT_CU_ERROR_INVALID_HANDLE;
  if (G.sticky) return G.sticky;
  uint64_t threads = (uint64_t)bx * by * bz;
  unsigned limit = f->max_dynamic_shared > (48 << 10) ? (unsigned)f->max_dynamic_shared : 48u << 10;
  if (!gx || !gy || !gz || threads == 0 || threads > 1024 || shared > limit || extra ||
      (f->n_args && !params))
    return RT_CU_ERROR_INVALID_VALUE;
  op *o = new_op(OP_KERNEL);
  if (!o) return RT_CU_ERROR_OUT_OF_MEMORY;
  o->argv = malloc((size_t)f->n_args * sizeof *o->argv + 1);
  if (!o->argv) {
    free(o);
    return RT_CU_ERROR_OUT_OF_MEMORY;
  }
  for (int i = 0; i < f->n_args; i++) memcpy(&o->argv[i], params[i], sizeof o->argv[i]);
  o->fn = f;
  o->grid[0] = gx, o->grid[1] = gy, o->grid[2] = gz;
  o->block[0] = bx, o->block[1] = by, o->block[2] = bz;
  o->shared = shared;
  if (!s || !s->capture) G.stats.kernels_uncaptured++;
  return enqueue(s, o);
}

/* --- errors and entry points --- */

static const struct {
  rt_cu_result r;
  const char *name, *text;
} errors[] = {
    {RT_CU_SUCCESS, "CUDA_SUCCESS", "no error"},
    {RT_CU_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {RT_CU_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {RT_CU_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {RT_CU_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {RT_CU_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {RT_CU_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {RT_CU_ERROR_NO_BINARY_FOR_GPU, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {RT_CU_ERROR_INVALID_PTX, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {RT_CU_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {RT_CU_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {RT_CU_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready"},
    {RT_CU_ERROR_LAUNCH_FAILED, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {RT_CU_ERROR_STREAM_CAPTURE_UNSUPPORTED, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {RT_CU_ERROR_STREAM_CAPTURE_INVALIDATED, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
};

EXPORT rt_cu_result cuGetErrorName(rt_cu_result r, const char **s) {
  for (size_t i = 0; i < sizeof errors / sizeof *errors; i++)
    if (errors[i].r == r) {
      *s = errors[i].name;
      return RT_CU_SUCCESS;
    }
  *s = NULL;
  return RT_CU_ERROR_INVALID_VALUE;
}

EXPORT rt_cu_result cuGetErrorString(rt_cu_result r, const char **s) {
  for (size_t i = 0; i < sizeof errors / sizeof *errors; i++)
    if (errors[i].r == r) {
      *s = errors[i].text;
      return RT_CU_SUCCESS;
    }
  *s = NULL;
  return RT_CU_ERROR_INVALID_VALUE;
}

/* The entry points by name, as cuGetProcAddress serves them. */
#define ENTRY(name, params) {#name, (void *)name},
static const struct {
  const char *name;
  void *fn;
} entries[] = {RT_CU_FUNCS(ENTRY) ENTRY(cuLaunchHostFunc, ())};
#undef ENTRY

EXPORT rt_cu_result cuGetProcAddress_v2(const char *symbol, void **fn, int version, uint64_t flags, int *status) {
  if (!symbol || !fn || version < 12000 || flags) return RT_CU_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < sizeof entries / sizeof *entries; i++)
    if (!strcmp(entries[i].name, symbol)) {
      *fn = entries[i].fn;
      if (status) *status = 0;
      return RT_CU_SUCCESS;
    }
  *fn = NULL;
  if (status) *status = 1; /* CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND */
  return RT_CU_ERROR_NOT_FOUND;
}
