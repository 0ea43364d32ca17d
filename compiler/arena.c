/*
 * arena.c: chunked bump allocator (see arena.h).
 */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
  arena_chunk *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
};

enum { CHUNK_MIN = 64 * 1024 };

static void out_of_memory(size_t size) {
  fprintf(stderr, "dlc: out of memory allocating %zu bytes; the model may be too large "
                  "for this machine\n", size);
  exit(3);
}

void *arena_alloc(arena *a, size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (size == 0) size = 16;
  arena_chunk *c = a->head;
  if (!c || c->size - c->used < size) {
    size_t want = size > CHUNK_MIN ? size : CHUNK_MIN;
    if (want > SIZE_MAX - sizeof(arena_chunk)) out_of_memory(size);
    c = malloc(sizeof(arena_chunk) + want);
    if (!c) out_of_memory(size);
    c->size = want;
    c->used = 0;
    /* A big request gets its own chunk behind the current one, so the space
     * left in the current chunk stays usable. */
    if (a->head && want == size && a->head->size - a->head->used > 1024) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
    a->total += sizeof(arena_chunk) + want;
  }
  void *p = c->data + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

void *arena_array(arena *a, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) out_of_memory(SIZE_MAX);
  return arena_alloc(a, n * size);
}

char *arena_strndup(arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *arena_strdup(arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void arena_free(arena *a) {
  arena_chunk *c = a->head;
  while (c) {
    arena_chunk *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
  a->total = 0;
}
