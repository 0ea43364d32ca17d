/*
 * outfile.c: see outfile.h.
 */
#include "outfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *rt_outfile_open(rt_outfile *o, const char *path, char *err, size_t err_size) {
  memset(o, 0, sizeof *o);
  if (snprintf(o->path, sizeof o->path, "%s", path) >= (int)sizeof o->path ||
      snprintf(o->tmp, sizeof o->tmp, "%s.tmpXXXXXX", path) >= (int)sizeof o->tmp) {
    snprintf(err, err_size, "%s: path too long", path);
    return NULL;
  }
  int fd = mkstemp(o->tmp);
  if (fd < 0) {
    snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
    return NULL;
  }
  fchmod(fd, 0644);
  o->f = fdopen(fd, "w");
  if (!o->f) {
    snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
    close(fd);
    unlink(o->tmp);
    return NULL;
  }
  return o->f;
}

int rt_outfile_commit(rt_outfile *o, char *err, size_t err_size) {
  int e = 0;
  if (fflush(o->f) != 0 || ferror(o->f)) e = errno ? errno : EIO;
  if (!e && fsync(fileno(o->f)) != 0) e = errno;
  if (fclose(o->f) != 0 && !e) e = errno;
  o->f = NULL;
  if (!e && rename(o->tmp, o->path) != 0) e = errno;
  if (e) {
    unlink(o->tmp);
    snprintf(err, err_size, "cannot write %s: %s", o->path, strerror(e));
    return -1;
  }
  return 0;
}

void rt_outfile_abort(rt_outfile *o) {
  if (o->f) fclose(o->f);
  o->f = NULL;
  if (o->tmp[0]) unlink(o->tmp);
  o->tmp[0] = 0;
}
