/*
 * strmap.c: FNV-1a hashed open addressing, grown at 50% load.
 */
#include "strmap.h"

#include <stdint.h>
#include <string.h>

static uint64_t hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

void strmap_init(strmap *m, arena *a) {
  memset(m, 0, sizeof *m);
  m->a = a;
}

void *strmap_get(const strmap *m, const char *key) {
  if (!m->cap) return NULL;
  for (size_t i = hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    if (!m->keys[i]) return NULL;
    if (strcmp(m->keys[i], key) == 0) return m->vals[i];
  }
}

static void grow(strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 16;
  const char **keys = arena_array(m->a, cap, sizeof *keys);
  void **vals = arena_array(m->a, cap, sizeof *vals);
  for (size_t j = 0; j < m->cap; j++) {
    if (!m->keys[j]) continue;
    size_t i = hash(m->keys[j]) & (cap - 1);
    while (keys[i]) i = (i + 1) & (cap - 1);
    keys[i] = m->keys[j];
    vals[i] = m->vals[j];
  }
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
}

void *strmap_put(strmap *m, const char *key, void *val) {
  if ((m->n + 1) * 2 > m->cap) grow(m);
  size_t i = hash(key) & (m->cap - 1);
  for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
    if (strcmp(m->keys[i], key) == 0) {
      void *old = m->vals[i];
      m->vals[i] = val;
      return old;
    }
  m->keys[i] = key;
  m->vals[i] = val;
  m->n++;
  return NULL;
}
