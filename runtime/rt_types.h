/*
 * rt_types.h: element types, tensor rank limit and the half-precision
 * conversions shared by every part of dlc.
 *
 * The numeric values of rt_dtype are stored in plan.bin: append only.
 */
#ifndef RT_TYPES_H
#define RT_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RT_MAX_RANK 8

typedef enum rt_dtype {
  RT_F32 = 0,
  RT_F16 = 1,
  RT_BF16 = 2,
  RT_I64 = 3,
  RT_DTYPE_COUNT
} rt_dtype;

/* Bytes per element; 0 for an invalid dtype. */
static inline size_t rt_dtype_size(int dt) {
  switch (dt) {
  case RT_F32: return 4;
  case RT_F16: return 2;
  case RT_BF16: return 2;
  case RT_I64: return 8;
  default: return 0;
  }
}

/* Spec name ("float32", ...), or NULL. */
const char *rt_dtype_name(int dt);
/* Parse a spec name; -1 when unknown. */
int rt_dtype_parse(const char *name);

static inline int rt_dtype_is_float(int dt) {
  return dt == RT_F32 || dt == RT_F16 || dt == RT_BF16;
}

/* Number of elements of a shape (1 for rank 0). The caller guarantees the
 * product fits: shapes are checked for overflow when they are made. */
static inline int64_t rt_numel(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

/* IEEE binary16 and bfloat16 <-> binary32, round to nearest even. */
static inline float rt_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: normalise */
    int e = -1;
    do { e++; man <<= 1; } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static inline uint16_t rt_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) /* inf or nan (keep a quiet nan) */
    return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
    return (uint16_t)(sign | 0x7c00);
  if (ax < 0x38800000u) { /* below the smallest normal half: subnormal or 0 */
    if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25 rounds to 0 */
    uint32_t e = ax >> 23, man = (ax & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t r = ax + 0xfff + ((ax >> 13) & 1); /* round to nearest even */
  return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static inline float rt_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static inline uint16_t rt_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

/* Convert n elements between any float dtype and float32. */
void rt_to_f32(float *dst, const void *src, int src_dtype, size_t n);
void rt_from_f32(void *dst, int dst_dtype, const float *src, size_t n);

#endif
