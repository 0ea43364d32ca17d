/*
 * fuzz_util.h: helpers shared by the libFuzzer targets in this folder.
 *
 * The readers under test that take a path (st_open, rt_npy_open) are fed
 * through one temporary file per process, rewritten for every input. The
 * file is unlinked as soon as it is created and reached through
 * /proc/self/fd/N, so no stale file is left behind even when a target crashes.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Make the process's temporary file hold exactly data[0..size) and return
 * its path; aborts on an I/O error (the harness is broken, not the reader). */
const char *fuzz_tmp_write(const uint8_t *data, size_t size);

#endif
