/*
 * csv.h: the buffer-list format of spec section 5 (the MiniMalloc benchmark
 * format). A problem is a header `id,lower,upper,size` and one buffer per
 * row, alive over [lower, upper); a solution has the same rows plus a fifth
 * column `offset`.
 *
 * Reading validates everything and reports the first problem as
 * `FILE:LINE: what is wrong`: the header must be exact (either form; a UTF-8
 * byte-order mark and CRLF line ends are accepted), every row has the
 * header's number of fields, lower/upper/size/offset are plain decimal
 * integers (no sign, no spaces) that fit (lower and upper in int64, size and
 * offset in uint64), lower < upper, lines are at most PLAN_CSV_MAX_LINE
 * bytes, and ids are non-empty, without quotes, and unique (a duplicate id
 * would make the solution rows ambiguous, so it is rejected, naming the line
 * of the first one). Blank lines are allowed only at the end of the file.
 * Ids are kept exactly as written (strings or integers alike).
 */
#ifndef PLAN_CSV_H
#define PLAN_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "planner.h"

#define PLAN_CSV_MAX_LINE 4096

typedef struct plan_csv {
  size_t n;
  char **ids;     /* n strings, as written */
  plan_buf *bufs; /* begin = lower, end = upper, size; offset from the file or 0 */
  int has_offset; /* the file was a solution (fifth column `offset`) */
} plan_csv;

/* 0, or -1 with "path:line: message" in err. *out is empty on failure. */
int plan_csv_read(const char *path, plan_csv *out, char *err, size_t err_size);
/* The same from an open stream; name is used in messages. */
int plan_csv_read_file(FILE *f, const char *name, plan_csv *out, char *err, size_t err_size);

/* Writes the solution (five columns, offsets from bufs) to f; 0 or -1. */
int plan_csv_print(FILE *f, const plan_csv *c);
/* Writes the solution to path through a temporary file in the same
 * directory renamed over it, so path never holds a half-written file. */
int plan_csv_write(const char *path, const plan_csv *c, char *err, size_t err_size);

void plan_csv_free(plan_csv *c);

#endif
