/*
 * rt_types.c: dtype names and bulk float conversions.
 */
#include "rt_types.h"

static const char *const dtype_names[RT_DTYPE_COUNT] = {
    [RT_F32] = "float32", [RT_F16] = "float16", [RT_BF16] = "bfloat16", [RT_I64] = "int64"};

const char *rt_dtype_name(int dt) {
  return dt >= 0 && dt < RT_DTYPE_COUNT ? dtype_names[dt] : NULL;
}

int rt_dtype_parse(const char *name) {
  for (int i = 0; i < RT_DTYPE_COUNT; i++)
    if (strcmp(name, dtype_names[i]) == 0) return i;
  return -1;
}

/* Unaligned-safe 16-bit loads and stores: tensors come from files and slabs
 * whose alignment is only guaranteed for the slab. */
static inline uint16_t load16(const unsigned char *p) {
  uint16_t v;
  memcpy(&v, p, 2);
  return v;
}

void rt_to_f32(float *dst, const void *src, int src_dtype, size_t n) {
  const unsigned char *s = src;
  switch (src_dtype) {
  case RT_F32:
    memmove(dst, src, n * 4);
    break;
  case RT_F16:
    for (size_t i = 0; i < n; i++) dst[i] = rt_f16_to_f32(load16(s + 2 * i));
    break;
  case RT_BF16:
    for (size_t i = 0; i < n; i++) dst[i] = rt_bf16_to_f32(load16(s + 2 * i));
    break;
  default:
    break;
  }
}

void rt_from_f32(void *dst, int dst_dtype, const float *src, size_t n) {
  unsigned char *d = dst;
  switch (dst_dtype) {
  case RT_F32:
    memmove(dst, src, n * 4);
    break;
  case RT_F16:
    for (size_t i = 0; i < n; i++) {
      uint16_t h = rt_f32_to_f16(src[i]);
      memcpy(d + 2 * i, &h, 2);
    }
    break;
  case RT_BF16:
    for (size_t i = 0; i < n; i++) {
      uint16_t h = rt_f32_to_bf16(src[i]);
      memcpy(d + 2 * i, &h, 2);
    }
    break;
  default:
    break;
  }
}
