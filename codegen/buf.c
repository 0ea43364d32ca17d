/*
 * buf.c: the growing string buffer generated CUDA C is written into, error
 * formatting and exact float literals.
 *
 * An allocation failure only sets b->oom (later writes are dropped), so the
 * emitters need no error path per line; cg_program_add checks it once.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

void cg_vprintf(cg_buf *b, const char *fmt, va_list ap) {
  if (b->oom) return;
  for (;;) {
    va_list aq;
    va_copy(aq, ap);
    size_t room = b->cap - b->n;
    int k = vsnprintf(b->s ? b->s + b->n : NULL, room, fmt, aq);
    va_end(aq);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if ((size_t)k < room) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->n + (size_t)k + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
}

void cg_printf(cg_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cg_vprintf(b, fmt, ap);
  va_end(ap);
}

void cg_puts(cg_buf *b, const char *s) { cg_printf(b, "%s", s); }

void cg_buf_free(cg_buf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

int cg_fail(char *err, size_t err_size, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return -1;
}

void cg_flit(char out[48], float v) {
  if (isnan(v)) {
    snprintf(out, 48, "CG_NAN");
    return;
  }
  if (isinf(v)) {
    snprintf(out, 48, v > 0 ? "CG_INF" : "(-CG_INF)");
    return;
  }
  /* %.9g round-trips every float; make sure the text is a float literal */
  char t[40];
  snprintf(t, sizeof t, "%.9g", (double)v);
  int has_dot = strpbrk(t, ".e") != NULL;
  snprintf(out, 48, "%s%s%sf%s", v < 0 ? "(" : "", t, has_dot ? "" : ".0", v < 0 ? ")" : "");
}
