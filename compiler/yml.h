/*
 * yml.h: a YAML document as a small tree that remembers where every node was.
 *
 * libyaml does the parsing (YAML 1.1); this layer keeps line and column of
 * every scalar, sequence and mapping so that later phases can point at the
 * exact key or value that is wrong. Scalars stay text until a phase asks for
 * a typed value with the YAML 1.1 rules for ints, floats, booleans and null.
 * Anchors and aliases are resolved (an alias shares the anchored node).
 */
#ifndef YML_H
#define YML_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"

typedef enum yml_kind { YML_SCALAR, YML_SEQ, YML_MAP } yml_kind;

typedef struct yml_node yml_node;
struct yml_node {
  yml_kind kind;
  src_loc loc;
  /* scalar */
  const char *str;
  size_t len;
  bool plain;          /* unquoted scalar: subject to int/float/bool/null typing */
  /* sequence items, or mapping keys[i] -> items[i] */
  int n;
  yml_node **items;
  yml_node **keys;
};

/* Parse a whole file; the root must be a mapping. Errors go through diag. */
yml_node *yml_load_file(arena *a, diag *d, const char *path);
/* Parse a document held in memory (file is the name used in messages). */
yml_node *yml_load_string(arena *a, diag *d, const char *file, const char *text, size_t len);

/* Value of key in a mapping, or NULL. */
yml_node *yml_get(const yml_node *map, const char *key);
/* The key node of `key` in a mapping (for locations), or NULL. */
yml_node *yml_key(const yml_node *map, const char *key);

/* Typed views of a scalar, YAML 1.1 style; false when it is not of that type. */
bool yml_is_null(const yml_node *n);
bool yml_as_int(const yml_node *n, int64_t *out);
bool yml_as_float(const yml_node *n, double *out); /* ints are floats too */
bool yml_as_bool(const yml_node *n, bool *out);

/* A short description of what a node is, for messages: "a mapping",
 * "a list", "the string 'abc'", "the integer 3", ... */
const char *yml_describe(arena *a, const yml_node *n);

#endif
