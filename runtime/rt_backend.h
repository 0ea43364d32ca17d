/*
 * rt_backend.h: what the batch driver (rt_run.c) needs from a backend.
 *
 * A backend is created once per run from a validated plan: it makes its one
 * allocation (slab, params, scratch) and materialises the params. After
 * that, each batch is: the driver fills the host buffer of every input,
 * calls run(), and reads the host buffer of every output; nothing is
 * allocated. The CPU backend's buffers are the slab regions themselves.
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
  uint64_t device_bytes;      /* the one allocation: slab + params + scratch */
  void *(*input)(rt_backend *b, uint32_t i);         /* plan input i, tensor bytes */
  const void *(*output)(rt_backend *b, uint32_t i);  /* plan output i, after run() */
  int (*run)(rt_backend *b, char *err, size_t err_size);
  void (*destroy)(rt_backend *b);
};

/* threads <= 0: one per core. NULL + err on failure. */
rt_backend *rt_cpu_backend_create(const rt_plan *p, int threads, char *err, size_t err_size);

#endif
