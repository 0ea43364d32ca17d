/*
 * rfile.c: opening and reading possibly hostile files (see rfile.h).
 */
#include "rfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rt_fail(char *err, size_t err_size, const char *fmt, ...) {
  if (err && err_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int rt_open_regular(const char *path, int *fd_out, uint64_t *size, char *err, size_t err_size) {
  /* O_NONBLOCK: a FIFO must not hang the open; it is rejected below. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return rt_fail(err, err_size, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return rt_fail(err, err_size, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return rt_fail(err, err_size, "%s: not a regular file", path);
  }
  *fd_out = fd;
  *size = (uint64_t)st.st_size;
  return 0;
}

int rt_pread_full(int fd, void *dst, size_t n, uint64_t off, size_t *got) {
  unsigned char *p = dst;
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, p + done, n - done, (off_t)(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    done += (size_t)r;
  }
  *got = done;
  return 0;
}
