/*
 * fuzz_safetensors.c: libFuzzer target for the safetensors reader
 * (compiler/io/safetensors.h), which reads the weights file a model names.
 *
 * The input is a whole safetensors file. It is validated from memory with
 * st_parse_header(), then written to a temporary file and opened with
 * st_open(); every tensor up to 16 MiB is then read with st_read() into a
 * buffer of exactly its size. Besides the sanitizers, the target checks what
 * the header promises: both ways of opening agree, the tensors tile the data
 * section, st_find() finds every tensor by name, and st_read() returns the
 * file's bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "safetensors.h"

#define MAX_READ (16u << 20)

static void check_entries(const st_file *f) {
  uint64_t at = 0;
  for (size_t i = 0; i < f->n_entries; i++) {
    const st_entry *e = &f->entries[i];
    if (e->begin != at || e->end < e->begin || e->rank < 0 || e->rank > RT_MAX_RANK) abort();
    at = e->end;
    /* names may hold NULs; st_find looks up a C string */
    if (strlen(e->name) == e->name_len) {
      const st_entry *hit = st_find(f, e->name);
      if (!hit || hit->name_len != e->name_len || memcmp(hit->name, e->name, e->name_len)) abort();
    }
  }
  if (at != f->data_size || f->data_start + f->data_size != f->file_size) abort();
  for (size_t i = 0; i < f->n_meta; i++)
    if (!st_meta_get(f, f->meta[i].key)) abort();
  (void)st_find(f, "");
  (void)st_meta_get(f, "format");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  st_file f;
  int parsed = st_parse_header("fuzz.safetensors", data, size, size, &f, err, sizeof err);
  if (parsed == 0) {
    check_entries(&f);
    /* an in-memory header has no file to read from */
    if (f.n_entries && st_read(&f, &f.entries[0], NULL, err, sizeof err) == 0) abort();
  }
  st_close(&f);

  const char *path = fuzz_tmp_write(data, size);
  if (st_open(path, &f, err, sizeof err) != 0) {
    if (parsed == 0) abort(); /* the file refused what memory accepted */
    return 0;
  }
  if (parsed != 0) abort();
  check_entries(&f);
  for (size_t i = 0; i < f.n_entries; i++) {
    const st_entry *e = &f.entries[i];
    uint64_t n = e->end - e->begin;
    if (n > MAX_READ) continue;
    unsigned char *dst = malloc(n ? n : 1);
    if (!dst) abort();
    int rc = st_read(&f, e, dst, err, sizeof err);
    if ((rc == 0) != (e->dtype >= 0)) abort(); /* unsupported dtypes are refused by name */
    if (rc == 0 && memcmp(dst, data + f.data_start + e->begin, n) != 0) abort();
    free(dst);
  }
  /* a pointer that is not one of the file's entries is refused */
  st_entry stray;
  memset(&stray, 0, sizeof stray);
  if (st_read(&f, &stray, NULL, err, sizeof err) == 0) abort();
  st_close(&f);
  return 0;
}
