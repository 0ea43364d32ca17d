/*
 * rt_init.c: the generator specified in rt_init.h.
 */
#include "rt_init.h"

#include <math.h>
#include <string.h>

double rt_init_uniform01(uint64_t seed, uint64_t i) {
  uint64_t z = seed * 0xD1B54A32D192ED03ull + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

static void store(unsigned char *p, int dtype, double v) {
  if (dtype == RT_F32) {
    float f = (float)v;
    memcpy(p, &f, 4);
  } else if (dtype == RT_F16) {
    uint16_t h = rt_f32_to_f16((float)v);
    memcpy(p, &h, 2);
  } else if (dtype == RT_BF16) {
    uint16_t h = rt_f32_to_bf16((float)v);
    memcpy(p, &h, 2);
  } else if (dtype == RT_I64) {
    int64_t x = (int64_t)v;
    memcpy(p, &x, 8);
  }
}

void rt_init_fill(int kind, double a, double b, uint64_t seed, int dtype, void *dst,
                  int64_t begin, int64_t end) {
  unsigned char *d = dst;
  size_t es = rt_dtype_size(dtype);
  if (kind == RT_INIT_NORMAL) {
    /* One log and one sincos serve both elements of a pair. */
    for (int64_t j = begin / 2; 2 * j < end; j++) {
      double r = sqrt(-2.0 * log(1.0 - rt_init_uniform01(seed, 2 * (uint64_t)j)));
      double t = 2.0 * M_PI * rt_init_uniform01(seed, 2 * (uint64_t)j + 1);
      if (2 * j >= begin) store(d + (size_t)(2 * j) * es, dtype, a + b * r * cos(t));
      if (2 * j + 1 < end) store(d + (size_t)(2 * j + 1) * es, dtype, a + b * r * sin(t));
    }
    return;
  }
  for (int64_t i = begin; i < end; i++) {
    double v = kind == RT_INIT_ONES ? 1.0 : kind == RT_INIT_CONSTANT ? a
             : kind == RT_INIT_UNIFORM ? a + (b - a) * rt_init_uniform01(seed, (uint64_t)i) : 0.0;
    store(d + (size_t)i * es, dtype, v);
  }
}
