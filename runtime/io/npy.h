/*
 * npy.h: reading and writing NumPy .npy files (the data directory of
 * model-format.md section 3).
 *
 * Every input is treated as hostile: the header parser works on a memory
 * buffer and never reads past the length it is given (so fuzz targets can
 * drive it), every length, count and offset is checked before use, and the
 * reader streams rows with pread instead of loading the file. The writer
 * writes into a temporary file beside the target and renames it into place
 * only once every byte is on disk, so an output is there in full or not at all.
 *
 * Supported element types: '<f4' float32, '<f2' float16, '<i8' int64 and
 * '<V2', which is what np.save writes for an ml_dtypes.bfloat16 array.
 */
#ifndef RT_NPY_H
#define RT_NPY_H

#include <stdint.h>
#include <stdio.h>

#include "rt_types.h"

/* Largest header (the dict text after the length field) accepted. NumPy
 * refuses more than 10000 bytes by default; 64 KiB holds any version-1.0
 * header and anything a writer pads for in-place growth, and is small enough
 * to read in one go. */
#define RT_NPY_MAX_HEADER 65536

typedef struct rt_npy_info {
  rt_dtype dtype;
  int rank;                    /* 0 (scalar) .. RT_MAX_RANK */
  int64_t dims[RT_MAX_RANK];   /* each >= 0 */
  int version_major;           /* 1, 2 or 3 */
  int version_minor;           /* 0 */
  uint64_t data_offset;        /* bytes from the file start to the data */
  uint64_t data_bytes;         /* numel * element size, <= INT64_MAX */
  char descr[96];              /* printable, e.g. "'<f8' (float64)"; set as
                                  soon as the descr is parsed, even on error */
} rt_npy_info;

/* Parse the header at the start of buf (len = bytes available from the file
 * start). 0 on success; -1 with a message in err when the header is invalid,
 * unsupported, or needs more than len bytes. */
int rt_npy_parse_header(const void *buf, size_t len, rt_npy_info *out, char *err,
                        size_t err_size);

/* An open .npy file whose header and size have been checked. Axis 0 is read
 * in rows; a scalar (rank 0) is one row. */
typedef struct rt_npy_reader {
  rt_npy_info info;
  int fd;
  char *path;          /* for messages */
  int64_t n_rows;      /* dims[0], or 1 for a scalar */
  uint64_t row_bytes;  /* bytes of one index along axis 0 */
} rt_npy_reader;

/* Open and validate path: header, and file size == data offset + data bytes.
 * On failure r holds nothing to close. */
int rt_npy_open(const char *path, rt_npy_reader *r, char *err, size_t err_size);

/* Read rows [first_row, first_row + n_rows) into dst (n_rows * row_bytes
 * bytes, any alignment). */
int rt_npy_read_rows(rt_npy_reader *r, int64_t first_row, int64_t n_rows, void *dst,
                     char *err, size_t err_size);

void rt_npy_close(rt_npy_reader *r);

/* Writes DIR/FILENAME through a temporary DIR/.FILENAME.tmp.XXXXXX. */
typedef struct rt_npy_writer {
  FILE *f;
  char *tmp_path;    /* NULL once committed or aborted */
  char *final_path;
  char *dir;
  uint64_t expected; /* data bytes the header declares */
  uint64_t written;  /* data bytes written so far */
  int failed;        /* a write failed: only abort is left */
} rt_npy_writer;

/* Create the temporary file and write the header (version 1.0, or 2.0 when
 * the header does not fit 1.0's 16-bit length). filename is a plain name
 * (no '/'), e.g. from rt_npy_filename(). */
int rt_npy_writer_open(rt_npy_writer *w, const char *dir, const char *filename,
                       rt_dtype dtype, int rank, const int64_t *dims, char *err,
                       size_t err_size);

/* Append data bytes; more than the declared total is an error. After an
 * error only rt_npy_writer_abort() is left. */
int rt_npy_writer_write(rt_npy_writer *w, const void *data, size_t bytes, char *err,
                        size_t err_size);

/* Check the byte count, flush and fsync, rename onto the final name and fsync
 * the directory. Success or failure, the writer is finished afterwards (a
 * failed commit removes the temporary file); abort is then a no-op. The one
 * failure that leaves the output in place is a directory that cannot be
 * synced: the file is complete, but its rename may not survive a crash. */
int rt_npy_writer_commit(rt_npy_writer *w, char *err, size_t err_size);

/* Close and remove the temporary file. Safe on any opened writer, any number
 * of times. */
void rt_npy_writer_abort(rt_npy_writer *w);

/* Map a tensor name to its file name "<name>.npy", '/' and ':' written as
 * '_'. -1 when the name is empty, "." or "..", the file name would exceed 255
 * bytes, or buf is too small. */
int rt_npy_filename(const char *tensor_name, char *buf, size_t size);

#endif
