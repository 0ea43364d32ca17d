/*
 * util.c: small helpers of the placement files: error messages, a monotonic
 * clock, and a stable merge sort with a context (qsort has none in C11, and
 * stability keeps every ordering deterministic without extra tie-breaks).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plan_internal.h"

void plan_errf(char *err, size_t err_size, const char *fmt, ...) {
  if (!err || err_size == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_size, fmt, ap);
  va_end(ap);
}

double plan_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void msort(uint32_t *a, uint32_t *tmp, size_t n, plan_cmp_fn cmp, const void *ctx) {
  if (n <= 16) {
    for (size_t i = 1; i < n; i++) {
      uint32_t x = a[i];
      size_t j = i;
      while (j > 0 && cmp(ctx, a[j - 1], x) > 0) {
        a[j] = a[j - 1];
        j--;
      }
      a[j] = x;
    }
    return;
  }
  size_t h = n / 2;
  msort(a, tmp, h, cmp, ctx);
  msort(a + h, tmp, n - h, cmp, ctx);
  if (cmp(ctx, a[h - 1], a[h]) <= 0) return; /* already in order */
  memcpy(tmp, a, h * sizeof *a);
  size_t i = 0, j = h, k = 0;
  while (i < h && j < n) a[k++] = cmp(ctx, tmp[i], a[j]) <= 0 ? tmp[i++] : a[j++];
  while (i < h) a[k++] = tmp[i++];
}

int plan_sort(uint32_t *a, size_t n, plan_cmp_fn cmp, const void *ctx) {
  if (n < 2) return 0;
  uint32_t *tmp = malloc((n / 2 + 1) * sizeof *tmp);
  if (!tmp) return -1;
  msort(a, tmp, n, cmp, ctx);
  free(tmp);
  return 0;
}
