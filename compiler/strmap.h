/*
 * strmap.h: string -> pointer hash map in an arena (open addressing).
 *
 * Names are looked up everywhere in the front end (tensors, params, keys of
 * big mappings); a linear scan would make a model with 100k tensors
 * quadratic.
 */
#ifndef STRMAP_H
#define STRMAP_H

#include <stddef.h>

#include "arena.h"

typedef struct strmap {
  arena *a;
  const char **keys;
  void **vals;
  size_t cap, n;
} strmap;

void strmap_init(strmap *m, arena *a);
void *strmap_get(const strmap *m, const char *key);
/* Insert or replace; returns the previous value (NULL if none). */
void *strmap_put(strmap *m, const char *key, void *val);

#endif
