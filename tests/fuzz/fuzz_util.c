/*
 * fuzz_util.c: the per-process temporary file of fuzz_util.h.
 */
#include "fuzz_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tmp_fd = -1;
static char tmp_path[64];

static void die(const char *what) {
  fprintf(stderr, "fuzz harness: %s: %s\n", what, strerror(errno));
  abort();
}

const char *fuzz_tmp_write(const uint8_t *data, size_t size) {
  if (tmp_fd < 0) {
    const char *dir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/dlc-fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
    tmp_fd = mkstemp(tmpl);
    if (tmp_fd < 0) die("mkstemp");
    unlink(tmpl);
    snprintf(tmp_path, sizeof tmp_path, "/proc/self/fd/%d", tmp_fd);
  }
  if (ftruncate(tmp_fd, 0) != 0) die("ftruncate");
  size_t done = 0;
  while (done < size) {
    ssize_t w = pwrite(tmp_fd, data + done, size - done, (off_t)done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("pwrite");
    done += (size_t)w;
  }
  return tmp_path;
}
