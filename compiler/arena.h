/*
 * arena.h: bump allocation for everything the compiler builds.
 *
 * A compile allocates thousands of small objects (YAML nodes, tensors,
 * strings) that all die together when the compile ends, so they come from
 * chunks freed in one go. Memory is zeroed. Running out of memory is a system
 * error: it prints a message and exits.
 */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct arena {
  arena_chunk *head;
  size_t total; /* bytes obtained from malloc, for reports */
} arena;

void *arena_alloc(arena *a, size_t size);
/* n * size bytes, checking the product for overflow. */
void *arena_array(arena *a, size_t n, size_t size);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(arena *a);

#endif
