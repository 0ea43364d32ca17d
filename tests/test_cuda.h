/*
 * test_cuda.h: helpers shared by the test_cuda files (defined in
 * test_cuda.c): running the project's programs, reading outputs, building
 * kernel libraries for the fake driver.
 */
#ifndef TEST_CUDA_H
#define TEST_CUDA_H

#include <stddef.h>

/* Run DLC_BINARY_DIR/program with args (a shell fragment) under the env
 * assignments; stdout and stderr (NUL-terminated, cut to size) go through
 * files in dir. Returns the exit status, -1 when it did not exit. */
int tcu_command(const char *dir, const char *env, const char *program, const char *args, char *out,
                size_t out_size, char *errtxt, size_t err_size);

/* dir/<name>.npy as float32 (any float type; malloc'd), *n elements; NULL
 * when missing or unreadable. */
float *tcu_load_npy(const char *dir, const char *name, size_t *n);

/* Compile CUDA C for the host against codegen/shim/cuda_shim.h into
 * DLC_FAKECUDA_DIR/name (tests/fakecuda/build_kernels.sh); path receives it.
 * 0, or -1 when the compiler failed (its messages are on stderr). */
int tcu_build_kernels(const char *source, const char *name, char *path, size_t size);

#endif
