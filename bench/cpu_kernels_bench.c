/*
 * cpu_kernels_bench.c: GFLOP/s of the heavy CPU kernels (rt_sgemm, Conv) on
 * shapes taken from the reference models, on one thread and on the pool.
 *
 * Each case runs through rt_kernel_run() with the scratch rt_kernel_scratch()
 * asks for, so it measures what dlrun gets. Times are the best of repeated
 * runs (at least 5 runs and 0.3 s per case): the minimum is the least
 * disturbed by other processes.
 *
 * Built with the rest (build/bench/cpu_kernels_bench); results in
 * bench/RESULTS.md.
 *
 * Usage: cpu_kernels_bench [THREADS] [CASE-SUBSTRING]
 *   THREADS: pool size for the threaded column (default: one per core).
 *   $DLC_SGEMM=avx512|avx2|generic forces an SGEMM micro-kernel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_kernels.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *new_floats(int64_t n, unsigned seed) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  return p;
}

static rt_view view4(void *data, int64_t a, int64_t b, int64_t c, int64_t d) {
  rt_view v = {data, RT_F32, 4, {a, b, c, d}};
  return v;
}

static rt_view view2(void *data, int64_t a, int64_t b) {
  rt_view v = {data, RT_F32, 2, {a, b}};
  return v;
}

/* Best seconds of one kernel call. */
static double time_kernel(const rt_kargs *ka, rt_pool *pool) {
  size_t bytes = rt_kernel_scratch(ka, pool);
  void *scratch = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  char err[256] = "";
  rt_kctx ctx = {pool, scratch, bytes, err, sizeof err};
  double best = 1e30, start = now_s();
  for (int rep = 0; rep < 5 || now_s() - start < 0.3; rep++) {
    double t = now_s();
    if (rt_kernel_run(&ctx, ka) != 0) {
      fprintf(stderr, "kernel failed: %s\n", err);
      exit(1);
    }
    t = now_s() - t;
    if (t < best) best = t;
  }
  free(scratch);
  return best;
}

typedef struct {
  const char *name;
  int64_t n, c, h, w, m, kh, kw, stride, pad, group;
} conv_case;

static void report(const char *name, double flops, double t1, double tn, int nt) {
  printf("%-34s %8.2f MFLOP  1 thread %8.3f ms %7.1f GFLOP/s   %2d threads %8.3f ms %7.1f GFLOP/s\n",
         name, flops * 1e-6, t1 * 1e3, flops / t1 * 1e-9, nt, tn * 1e3, flops / tn * 1e-9);
}

static void bench_gemm(const char *name, int64_t m, int64_t n, int64_t k, int trans_b,
                       rt_pool *one, rt_pool *all) {
  float *a = new_floats(m * k, 1), *b = new_floats(k * n, 2), *y = new_floats(m * n, 3);
  rt_view in[2] = {view2(a, m, k), trans_b ? view2(b, n, k) : view2(b, k, n)};
  rt_view out[1] = {view2(y, m, n)};
  int64_t ia[2] = {0, trans_b};
  float fa[2] = {1.0f, 0.0f};
  rt_kargs ka = {RT_OP_GEMM, 2, 1, in, out, ia, 2, fa, 2};
  double flops = 2.0 * (double)m * (double)n * (double)k;
  report(name, flops, time_kernel(&ka, one), time_kernel(&ka, all), rt_pool_size(all));
  free(a), free(b), free(y);
}

static void bench_conv(const conv_case *cc, rt_pool *one, rt_pool *all) {
  int64_t oh = (cc->h + 2 * cc->pad - cc->kh) / cc->stride + 1;
  int64_t ow = (cc->w + 2 * cc->pad - cc->kw) / cc->stride + 1;
  int64_t cg = cc->c / cc->group;
  float *x = new_floats(cc->n * cc->c * cc->h * cc->w, 1);
  float *wt = new_floats(cc->m * cg * cc->kh * cc->kw, 2);
  float *bias = new_floats(cc->m, 3);
  float *y = new_floats(cc->n * cc->m * oh * ow, 4);
  rt_view in[3] = {view4(x, cc->n, cc->c, cc->h, cc->w), view4(wt, cc->m, cg, cc->kh, cc->kw),
                   {bias, RT_F32, 1, {cc->m}}};
  rt_view out[1] = {view4(y, cc->n, cc->m, oh, ow)};
  int64_t ia[11] = {cc->group, cc->kh, cc->kw, cc->stride, cc->stride, 1, 1,
                    cc->pad, cc->pad, cc->pad, cc->pad};
  rt_kargs ka = {RT_OP_CONV, 3, 1, in, out, ia, 11, NULL, 0};
  double flops = 2.0 * (double)(cc->n * cc->m * oh * ow) * (double)(cg * cc->kh * cc->kw);
  report(cc->name, flops, time_kernel(&ka, one), time_kernel(&ka, all), rt_pool_size(all));
  free(x), free(wt), free(bias), free(y);
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 0;
  const char *only = argc > 2 ? argv[2] : "";
  rt_pool *one = rt_pool_create(1), *all = rt_pool_create(threads);
  if (!one || !all) {
    fprintf(stderr, "cannot start the thread pool\n");
    return 1;
  }
  const char *isa = getenv("DLC_SGEMM");
  printf("SGEMM micro-kernel: %s\n", isa && *isa ? isa : "auto (widest supported)");

  static const struct {
    const char *name;
    int64_t m, n, k;
    int trans_b;
  } gemms[] = {
      {"sgemm 512x512x512", 512, 512, 512, 0},
      {"sgemm 1024x1024x1024", 1024, 1024, 1024, 0},
      {"sgemm 257x129x1000 (ragged)", 257, 129, 1000, 0},
      {"gemm fc 1x1000x4096 transB", 1, 1000, 4096, 1},
      {"gemm fc 1x4096x25088 transB (VGG)", 1, 4096, 25088, 1},
  };
  for (size_t i = 0; i < sizeof gemms / sizeof gemms[0]; i++)
    if (strstr(gemms[i].name, only))
      bench_gemm(gemms[i].name, gemms[i].m, gemms[i].n, gemms[i].k, gemms[i].trans_b, one, all);

  static const conv_case convs[] = {
      /* name                             n  c    h    w    m    kh kw s  p  group */
      {"conv resnet50 3x3 64@56",          1, 64, 56, 56, 64, 3, 3, 1, 1, 1},
      {"conv resnet50 1x1 256->64@56",     1, 256, 56, 56, 64, 1, 1, 1, 0, 1},
      {"conv resnet50 1x1 s2 512->1024@28", 1, 512, 28, 28, 1024, 1, 1, 2, 0, 1},
      {"conv resnet50 3x3 512@7",          1, 512, 7, 7, 512, 3, 3, 1, 1, 1},
      {"conv resnet50 7x7 s2 3->64@224",   1, 3, 224, 224, 64, 7, 7, 2, 3, 1},
      {"conv vgg19 3x3 64@224",            1, 64, 224, 224, 64, 3, 3, 1, 1, 1},
      {"conv vgg19 3x3 512@14",            1, 512, 14, 14, 512, 3, 3, 1, 1, 1},
      {"conv alexnet 11x11 s4 3->64@224",  1, 3, 224, 224, 64, 11, 11, 4, 2, 1},
      {"conv shufflenet 1x1 g4 240->240@28", 1, 240, 28, 28, 240, 1, 1, 1, 0, 4},
      {"conv shufflenet dw 3x3 136@28",    1, 136, 28, 28, 136, 3, 3, 1, 1, 136},
      {"conv densenet 3x3 128->32@56",     1, 128, 56, 56, 32, 3, 3, 1, 1, 1},
      {"conv densenet 1x1 1024->128@7",    1, 1024, 7, 7, 128, 1, 1, 1, 0, 1},
      {"conv inception 5x5 16->32@28",     1, 16, 28, 28, 32, 5, 5, 1, 2, 1},
      {"conv resnet50 3x3 64@56 batch 8",  8, 64, 56, 56, 64, 3, 3, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
    if (strstr(convs[i].name, only)) bench_conv(&convs[i], one, all);

  rt_pool_destroy(one);
  rt_pool_destroy(all);
  return 0;
}
