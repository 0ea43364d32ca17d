/*
 * dlrt.h: the dlc runtime as a library (libdlrt), for C programs that embed
 * a compiled model.
 *
 *   dlrt_model *m = dlrt_load("model.plan", NULL, err, sizeof err);
 *   dlrt_bind_input(m, 0, x, x_bytes);      // host buffers, kept by pointer
 *   dlrt_bind_output(m, 0, y, y_bytes);
 *   dlrt_run(m, err, sizeof err);           // one batch: x in, y out
 *   dlrt_free(m);
 *
 * A model runs one batch of the plan's shapes at a time (the batch size is
 * the plan's, e.g. dlc --dim N=32); for streaming a data directory use
 * dlrun. Everything is allocated by dlrt_load; dlrt_run allocates nothing.
 * On the GPU (libcuda loaded at run time; the CPU when there is none) or the
 * CPU, as dlrt_options says. Link with `pkg-config --cflags --libs dlrt`.
 */
#ifndef DLRT_H
#define DLRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlrt_model dlrt_model;

typedef enum dlrt_device {
  DLRT_DEVICE_AUTO = 0, /* the GPU when a driver, a device and GPU code exist, else the CPU */
  DLRT_DEVICE_CPU = 1,
  DLRT_DEVICE_CUDA = 2, /* fail when the GPU cannot be used */
} dlrt_device;

typedef struct dlrt_options {
  dlrt_device device;
  int threads;          /* CPU threads; <= 0: one per core */
} dlrt_options;

typedef struct dlrt_tensor_info {
  const char *name;
  const char *dtype;    /* "float32", "float16", "bfloat16", "int64" */
  int rank;
  int64_t dims[8];
  size_t bytes;         /* the size the bound buffer must have */
} dlrt_tensor_info;

/* Load and check a plan and start a backend. NULL with the reason in err.
 * opt may be NULL (DLRT_DEVICE_AUTO, all cores). */
dlrt_model *dlrt_load(const char *plan_path, const dlrt_options *opt, char *err, size_t err_size);
void dlrt_free(dlrt_model *m);

/* "cpu" or "cuda", and a description of the device. */
const char *dlrt_backend(const dlrt_model *m);
const char *dlrt_device_name(const dlrt_model *m);

int dlrt_num_inputs(const dlrt_model *m);
int dlrt_num_outputs(const dlrt_model *m);
/* 0, or -1 for an index out of range. */
int dlrt_input_info(const dlrt_model *m, int i, dlrt_tensor_info *info);
int dlrt_output_info(const dlrt_model *m, int i, dlrt_tensor_info *info);
/* Index of the input / output with this name, or -1. */
int dlrt_input_index(const dlrt_model *m, const char *name);
int dlrt_output_index(const dlrt_model *m, const char *name);

/* Bind host buffers of exactly info.bytes bytes; 0, or -1 for a wrong index
 * or size. The pointers are kept and used by every dlrt_run. */
int dlrt_bind_input(dlrt_model *m, int i, const void *host, size_t bytes);
int dlrt_bind_output(dlrt_model *m, int i, void *host, size_t bytes);

/* Run one batch: copy the bound inputs in, compute, copy the outputs to
 * their bound buffers. 0, or -1 with the reason in err (an unbound buffer,
 * a Gather index out of range, a device failure). */
int dlrt_run(dlrt_model *m, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
