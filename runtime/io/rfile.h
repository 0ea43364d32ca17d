/*
 * rfile.h: the first steps of reading a file that may be hostile, shared by
 * the .npy reader (runtime) and the safetensors reader (compiler).
 *
 * A path may name a FIFO or a device (never ending, or blocking forever), a
 * file may shrink while it is read, and a read may be cut short by a signal:
 * these open only regular files without blocking, and read exactly what was
 * asked or say how much there was.
 */
#ifndef RFILE_H
#define RFILE_H

#include <stddef.h>
#include <stdint.h>

/* Format the message into err (when err_size > 0); returns -1. */
int rt_fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Open path read-only if it is a regular file; *fd and *size on success,
 * else -1 with "PATH: why" in err. */
int rt_open_regular(const char *path, int *fd, uint64_t *size, char *err, size_t err_size);

/* Read n bytes at off: 0 with *got = n, or *got < n at end of file; -1 with
 * errno on a read error. Retries interrupted and short reads. */
int rt_pread_full(int fd, void *dst, size_t n, uint64_t off, size_t *got);

#endif
