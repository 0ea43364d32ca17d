/*
 * fuzz_npy.c: libFuzzer target for the .npy reader (runtime/io/npy.h), which
 * reads the user's data directory.
 *
 * The input is a whole .npy file. It goes to rt_npy_parse_header() from
 * memory, then through a temporary file to rt_npy_open() and
 * rt_npy_read_rows() over a few row ranges, valid and invalid, each into a
 * buffer of exactly the size the reader is told it may write (so ASan sees
 * any write past it). The file holds the whole data (open checks that), so
 * every buffer is bounded by the input's size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "npy.h"

static void read_rows(rt_npy_reader *r, int64_t first, int64_t n) {
  char err[512];
  int valid = first >= 0 && n >= 0 && first <= r->n_rows && n <= r->n_rows - first;
  /* An invalid range must be refused before anything is written: hand it a
   * one-byte buffer so a write shows up as an overflow. */
  size_t bytes = valid ? (size_t)((uint64_t)n * r->row_bytes) : 1;
  unsigned char *dst = malloc(bytes ? bytes : 1);
  if (!dst) abort();
  int rc = rt_npy_read_rows(r, first, n, dst, err, sizeof err);
  if (!valid && rc == 0) abort(); /* the reader accepted an out-of-range read */
  if (valid && rc != 0) abort();  /* a regular file that did not change must read */
  free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  rt_npy_info info;
  int parsed = rt_npy_parse_header(data, size, &info, err, sizeof err);
  if (strnlen(info.descr, sizeof info.descr) == sizeof info.descr) abort(); /* not terminated */

  rt_npy_reader r;
  const char *path = fuzz_tmp_write(data, size);
  if (rt_npy_open(path, &r, err, sizeof err) != 0) return 0;
  if (parsed != 0) abort(); /* open accepted what the header parser refused */
  /* open checked file size == data offset + data bytes <= size */
  if (r.info.data_offset + r.info.data_bytes != size) abort();
  int64_t n = r.n_rows;
  read_rows(&r, 0, n);
  read_rows(&r, 0, n > 0 ? 1 : 0);
  read_rows(&r, n > 0 ? n - 1 : 0, n > 0 ? 1 : 0);
  read_rows(&r, n / 2, n - n / 2);
  read_rows(&r, n, 0);
  read_rows(&r, n, 1);  /* past the end */
  read_rows(&r, 0, n < INT64_MAX ? n + 1 : n);
  read_rows(&r, -1, 1);
  read_rows(&r, 1, INT64_MAX);
  read_rows(&r, INT64_MAX, 1);
  rt_npy_close(&r);
  return 0;
}
