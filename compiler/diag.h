/*
 * diag.h: compiler diagnostics.
 *
 * A user mistake is reported once, as `FILE:LINE:COLUMN: error: MESSAGE`, and
 * the compile stops: diag_error() records and prints the message and jumps
 * back to the setjmp() in the driver, which frees the arena and exits
 * non-zero without writing any output. Tests catch the jump the same way and
 * look at diag.msg.
 */
#ifndef DIAG_H
#define DIAG_H

#include <setjmp.h>
#include <stdio.h>

typedef struct src_loc {
  const char *file;
  int line, col; /* 1-based; 0: no position (the whole file) */
} src_loc;

typedef struct diag {
  jmp_buf jmp;     /* diag_error() longjmps here with value 1 */
  FILE *out;       /* messages are printed here; NULL: silent */
  char msg[2048];  /* the last message, as printed, without newline */
} diag;

_Noreturn void diag_error(diag *d, src_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void diag_warn(diag *d, src_loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "file:line:col" for use inside a message (static buffer slots). */
const char *diag_where(src_loc loc);

#endif
