/*
 * cuda_api.c: loading the CUDA driver and cuBLASLt at run time (see
 * rt_cuda_api.h), so that dlrun links neither and starts on machines that
 * have no NVIDIA driver at all.
 *
 * The driver's entry points come from cuGetProcAddress_v2, asked for the
 * CUDA 12.0 ABI: a driver resolves each base name ("cuMemAlloc") to the
 * version whose signature matches what that release declared
 * (cuMemAlloc_v2), which is what rt_cuda_api.h declares, whatever newer
 * variants the driver also has.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cuda_api.h"

/* dlopen flags: both libraries stay loaded for the life of the process
 * (RTLD_NODELETE), because unloading libcuda under libraries that captured
 * its entry points (cuBLASLt) is a known source of crashes at exit. */
#define LOAD_FLAGS (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)

int rt_cuda_load(rt_cuda *cu, char *err, size_t err_size) {
  memset(cu, 0, sizeof *cu);
  const char *env = getenv("DLC_LIBCUDA");
  const char *path = env && *env ? env : "libcuda.so.1";
  snprintf(cu->path, sizeof cu->path, "%s", path);
  dlerror();
  cu->lib = dlopen(path, LOAD_FLAGS);
  if (!cu->lib) {
    const char *why = dlerror();
    snprintf(err, err_size, "no NVIDIA driver: cannot load %s (%s); install the NVIDIA driver "
             "(nvidia-smi must work) or run on the CPU with --device cpu", path, why ? why : "not found");
    return -1;
  }
  rt_cu_get_proc_fn get;
  void *sym = dlsym(cu->lib, "cuGetProcAddress_v2");
  if (!sym) {
    snprintf(err, err_size, "the NVIDIA driver in %s is older than CUDA 12 (it has no "
             "cuGetProcAddress_v2); update the driver to one for CUDA 12 or newer", path);
    return -1;
  }
  memcpy(&get, &sym, sizeof get);
#define RT_CU_RESOLVE(name, params)                                                              \
  {                                                                                              \
    void *fn = NULL;                                                                             \
    int found = 0;                                                                               \
    rt_cu_result r = get(#name, &fn, RT_CU_API_VERSION, RT_CU_GET_PROC_ADDRESS_DEFAULT, &found); \
    if (r != RT_CU_SUCCESS || !fn) {                                                             \
      snprintf(err, err_size, "the NVIDIA driver in %s has no %s (cuGetProcAddress error %d, "   \
               "status %d); update the driver to one for CUDA 12 or newer", path, #name, r,      \
               found);                                                                           \
      return -1;                                                                                 \
    }                                                                                            \
    memcpy(&cu->name, &fn, sizeof fn);                                                           \
  }
  RT_CU_FUNCS(RT_CU_RESOLVE)
#undef RT_CU_RESOLVE
  rt_cu_result r = cu->cuDriverGetVersion(&cu->driver_version);
  if (r != RT_CU_SUCCESS) {
    char buf[256];
    snprintf(err, err_size, "%s; the driver in %s does not work: check nvidia-smi",
             rt_cuda_error(cu, r, "cuDriverGetVersion", buf, sizeof buf), path);
    return -1;
  }
  return 0;
}

const char *rt_cuda_error(const rt_cuda *cu, rt_cu_result r, const char *call, char *buf, size_t size) {
  const char *name = NULL, *text = NULL;
  if (cu->cuGetErrorName && cu->cuGetErrorName(r, &name) != RT_CU_SUCCESS) name = NULL;
  if (cu->cuGetErrorString && cu->cuGetErrorString(r, &text) != RT_CU_SUCCESS) text = NULL;
  snprintf(buf, size, "%s failed: %s (%s)", call, name ? name : "unknown CUDA error",
           text ? text : "no description");
  return buf;
}

int rt_cublaslt_load(rt_cublaslt *lt, char *err, size_t err_size) {
  memset(lt, 0, sizeof *lt);
  const char *env = getenv("DLC_LIBCUBLASLT");
  static const char *const names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};
  char tried[512] = "";
  size_t used = 0;
  for (size_t i = 0; i < (env && *env ? 1 : sizeof names / sizeof *names) && !lt->lib; i++) {
    const char *path = env && *env ? env : names[i];
    dlerror();
    lt->lib = dlopen(path, LOAD_FLAGS);
    if (lt->lib) {
      snprintf(lt->path, sizeof lt->path, "%s", path);
    } else if (used < sizeof tried) {
      const char *why = dlerror();
      used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "",
                               why ? why : path);
    }
  }
  if (!lt->lib) {
    snprintf(err, err_size, "cannot load cuBLASLt, which runs this plan's matrix products (%s); "
             "install libcublasLt from the CUDA toolkit (CUDA 12 or 13) and put its directory on "
             "LD_LIBRARY_PATH, or set DLC_LIBCUBLASLT to its path", tried);
    return -1;
  }
  void *sym;
#define RT_LT_RESOLVE(name, params)                                                              \
  if (!(sym = dlsym(lt->lib, #name))) {                                                          \
    snprintf(err, err_size, "%s has no %s: it is not a cuBLASLt of CUDA 12 or newer", lt->path,  \
             #name);                                                                             \
    return -1;                                                                                   \
  }                                                                                              \
  memcpy(&lt->name, &sym, sizeof sym);
  RT_LT_FUNCS(RT_LT_RESOLVE)
  RT_LT_RESOLVE(cublasLtGetStatusString, ())
  RT_LT_RESOLVE(cublasLtGetVersion, ())
#undef RT_LT_RESOLVE
  return 0;
}

const char *rt_cublaslt_error(const rt_cublaslt *lt, rt_lt_status s, const char *call, char *buf,
                              size_t size) {
  const char *name = lt->cublasLtGetStatusString ? lt->cublasLtGetStatusString(s) : NULL;
  snprintf(buf, size, "%s failed: %s (status %d)", call, name ? name : "unknown cuBLAS status", s);
  return buf;
}
