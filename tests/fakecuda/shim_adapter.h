/*
 * shim_adapter.h: turns CUDA C compiled on the host against
 * codegen/shim/cuda_shim.h into a kernel library for the fake driver
 * (fakecuda.h's fakecuda_kernel_args / fakecuda_kernel_launch).
 *
 * build_kernels.sh writes a C++ file that includes the shim, the kernels'
 * source, defines FAKECUDA_KERNELS as X(name) for every kernel it found,
 * and includes this header. The table takes each kernel's address and
 * parameter count from its declaration, so the fake driver can copy the
 * launch's arguments when it records a graph, as the real driver does.
 */
#ifndef FAKECUDA_SHIM_ADAPTER_H
#define FAKECUDA_SHIM_ADAPTER_H

template <typename... A> static constexpr int fakecuda_arity(void (*)(A...)) { return (int)sizeof...(A); }

static const struct {
  const char *name;
  const void *fn;
  int n_args;
} fakecuda_table[] = {
#define X(name) {#name, (const void *)&name, fakecuda_arity(&name)},
    FAKECUDA_KERNELS
#undef X
};

static int fakecuda_find(const char *name) {
  for (size_t i = 0; i < sizeof fakecuda_table / sizeof *fakecuda_table; i++)
    if (!strcmp(fakecuda_table[i].name, name)) return (int)i;
  return -1;
}

extern "C" __attribute__((visibility("default"))) int fakecuda_kernel_args(const char *name) {
  int k = fakecuda_find(name);
  return k < 0 ? -1 : fakecuda_table[k].n_args;
}

/* args[i] points at parameter i (a device pointer); the shim wants the values. */
extern "C" __attribute__((visibility("default"))) int fakecuda_kernel_launch(const char *name, const uint32_t grid[3],
                                                                             const uint32_t block[3],
                                                                             uint32_t shared_bytes, void **args) {
  (void)shared_bytes; /* the shim gives every __shared__ array its own storage */
  int k = fakecuda_find(name);
  if (k < 0) return -1;
  void *values[256];
  int n = fakecuda_table[k].n_args;
  for (int i = 0; i < n && i < 256; i++) memcpy(&values[i], args[i], sizeof values[i]);
  const unsigned g[3] = {grid[0], grid[1], grid[2]}, b[3] = {block[0], block[1], block[2]};
  char err[256];
  int rc = cg_shim_launch(fakecuda_table[k].fn, g, b, n, values, err, sizeof err);
  if (rc) fprintf(stderr, "fake GPU: kernel %s: %s\n", name, err);
  return rc;
}

#endif
