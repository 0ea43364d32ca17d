/*
 * safetensors.h: reading weights from a safetensors file (model-format.md
 * section 2).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON, then the
 * data section. The reader checks what huggingface/safetensors' reference
 * reader checks (N <= 100,000,000 and inside the file; a JSON object whose
 * "__metadata__" maps strings to strings; each tensor's dtype, shape and
 * data_offsets, with END-BEGIN equal to the shape's bytes; the tensors,
 * sorted by offset, cover the data section exactly, without gaps or
 * overlaps) and also rejects duplicate names, which the reference silently
 * collapses. Only the header is read at open; st_read() then reads one
 * tensor's bytes, with no alignment assumed.
 *
 * Tensors of a known safetensors dtype dlc does not compute in (F64, I32,
 * ...) are accepted in the file (the model may not use them) and refused by
 * name when read.
 */
#ifndef ST_SAFETENSORS_H
#define ST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "rt_types.h"

/* The reference reader's limit on N. */
#define ST_MAX_HEADER 100000000ull

typedef struct st_entry {
  const char *name;     /* NUL-terminated (may hold NULs: name_len counts) */
  size_t name_len;
  int dtype;            /* an rt_dtype, or -1 when dlc does not support it */
  const char *st_dtype; /* the file's spelling: "F32", "F64", ... */
  int rank;
  int64_t dims[RT_MAX_RANK];
  uint64_t begin, end;  /* byte range within the data section */
} st_entry;

typedef struct st_meta {
  const char *key, *value;
} st_meta;

typedef struct st_file {
  char *path;         /* for messages; NULL for an in-memory header */
  int fd;             /* -1 for an in-memory header */
  uint64_t file_size;
  uint64_t header_len;   /* N */
  uint64_t data_start;   /* 8 + N */
  uint64_t data_size;    /* file_size - data_start */
  st_entry *entries;     /* n_entries, in data-offset order */
  size_t n_entries;
  const st_entry **by_name; /* the same, sorted by name, for st_find */
  st_meta *meta;         /* "__metadata__" in file order */
  size_t n_meta;
  json_doc *doc;         /* owns every string above */
} st_file;

/* Open path and validate its header (reading only the 8 + N header bytes,
 * N bounded). On failure f holds nothing to close. */
int st_open(const char *path, st_file *f, char *err, size_t err_size);

/* The same validation on memory: buf holds the file's first len bytes (at
 * least 8 + N), file_size is the whole file's size; name is used in
 * messages. The result has fd -1 (st_read refuses it) but is otherwise
 * complete; release it with st_close. */
int st_parse_header(const char *name, const void *buf, size_t len, uint64_t file_size,
                    st_file *f, char *err, size_t err_size);

/* The tensor called name, or NULL. */
const st_entry *st_find(const st_file *f, const char *name);

/* The "__metadata__" value for key, or NULL. */
const char *st_meta_get(const st_file *f, const char *key);

/* Read e's end-begin bytes into dst (any alignment). e must come from f;
 * a tensor of an unsupported dtype is refused by name. */
int st_read(const st_file *f, const st_entry *e, void *dst, char *err, size_t err_size);

void st_close(st_file *f);

#endif
