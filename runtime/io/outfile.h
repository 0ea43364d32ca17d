/*
 * outfile.h (rt_outfile): writing a file the user asked for, complete or not at all:
 * into a temporary file beside it, renamed over it only once every byte is
 * flushed to disk.
 */
#ifndef RT_OUTFILE_H
#define RT_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct rt_outfile {
  FILE *f;
  char tmp[4096];
  char path[4096];
} rt_outfile;

/* NULL + err on failure. */
FILE *rt_outfile_open(rt_outfile *o, const char *path, char *err, size_t err_size);
/* Flush, fsync, close, rename. On failure the temporary file is removed. */
int rt_outfile_commit(rt_outfile *o, char *err, size_t err_size);
/* Close and remove the temporary file. */
void rt_outfile_abort(rt_outfile *o);

#endif
