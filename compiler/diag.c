/*
 * diag.c: formatting and delivery of compiler diagnostics (see diag.h).
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>

static int prefix(char *buf, size_t size, src_loc loc, const char *kind) {
  if (loc.line > 0)
    return snprintf(buf, size, "%s:%d:%d: %s: ", loc.file ? loc.file : "<input>", loc.line,
                    loc.col, kind);
  return snprintf(buf, size, "%s: %s: ", loc.file ? loc.file : "<input>", kind);
}

static void format(char *buf, size_t size, src_loc loc, const char *kind, const char *fmt,
                   va_list ap) {
  int n = prefix(buf, size, loc, kind);
  if (n < 0 || (size_t)n >= size) return;
  vsnprintf(buf + n, size - (size_t)n, fmt, ap);
}

void diag_error(diag *d, src_loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format(d->msg, sizeof d->msg, loc, "error", fmt, ap);
  va_end(ap);
  if (d->out) {
    fprintf(d->out, "%s\n", d->msg);
    fflush(d->out);
  }
  longjmp(d->jmp, 1);
}

void diag_warn(diag *d, src_loc loc, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  format(buf, sizeof buf, loc, "warning", fmt, ap);
  va_end(ap);
  if (d->out) fprintf(d->out, "%s\n", buf);
}

const char *diag_where(src_loc loc) {
  static char bufs[4][512];
  static int slot;
  char *b = bufs[slot++ % 4];
  snprintf(b, 512, "%s:%d:%d", loc.file ? loc.file : "<input>", loc.line, loc.col);
  return b;
}
