/*
 * json.h: a small strict JSON (RFC 8259) parser and a string writer.
 *
 * The compiler reads JSON from files it does not trust (safetensors
 * headers), so the parser is strict and bounded: nesting depth and the
 * number of values are limited, text must be UTF-8, and errors give the byte
 * offset and line:column of the problem. A document lives in ONE malloc'd
 * block (a first pass validates and measures, a second fills the block), so
 * json_free() is a single free and nothing points into the caller's text.
 *
 * Numbers keep their text and carry both an int64 (with overflow detection)
 * and a double. Objects keep their members in document order; duplicate keys
 * are kept too, and json_dup_key() finds them.
 *
 * Numbers are converted with strtod, which follows LC_NUMERIC: dlc never
 * calls setlocale, so the "C" locale's '.' is in force.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum json_type {
  JSON_NULL,
  JSON_BOOL,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT
} json_type;

typedef struct json_value json_value;
struct json_value {
  json_type type;
  int boolean;       /* JSON_BOOL: 0 or 1 */
  /* JSON_NUMBER */
  int is_int;        /* written without fraction or exponent */
  int overflow;      /* is_int, but outside int64 (i is clamped) */
  int64_t i;         /* valid when is_int && !overflow */
  double d;          /* nearest double; always finite */
  /* JSON_STRING: the decoded UTF-8 (NUL-terminated; may hold NULs from
   * \u0000, len counts them). JSON_NUMBER: the number as written. */
  const char *str;
  size_t len;
  /* JSON_ARRAY, JSON_OBJECT: n children, linked from child through next */
  size_t n;
  json_value *child;
  json_value *next;
  /* a member of an object: its decoded name, else NULL */
  const char *key;
  size_t key_len;
  size_t offset;     /* byte offset of the value in the text */
  size_t key_offset; /* byte offset of the member's key */
};

typedef struct json_doc {
  json_value *root;
  size_t n_values;
  size_t bytes; /* size of the block */
} json_doc;

#define JSON_DEFAULT_MAX_DEPTH 64
#define JSON_DEFAULT_MAX_VALUES ((size_t)1 << 20)
#define JSON_MAX_DEPTH_LIMIT 1024 /* bounds the parser's recursion */

typedef struct json_limits {
  int max_depth;     /* arrays/objects nested deeper are an error (<= JSON_MAX_DEPTH_LIMIT) */
  size_t max_values; /* more values (of any kind) are an error */
} json_limits;

/* Parse exactly one JSON value from text[0..len) (whitespace around it is
 * allowed). lim NULL: the defaults above. NULL on error, with a message
 * "line L, column C (byte B): what" in err. */
json_doc *json_parse(const char *text, size_t len, const json_limits *lim, char *err,
                     size_t err_size);
void json_free(json_doc *doc);

/* The first member named key (compared over its full decoded length), or
 * NULL when obj is not an object or has none. */
const json_value *json_get(const json_value *obj, const char *key);
/* Number of children of an array or object; 0 otherwise. */
size_t json_len(const json_value *v);
/* The i-th child of an array or object (walks the list: O(i)), or NULL. */
const json_value *json_at(const json_value *v, size_t i);
/* "null", "boolean", "number", "string", "array", "object". */
const char *json_type_name(json_type t);

/* Find a repeated key in obj: 1 with *dup = the earliest member (in document
 * order) whose key already appeared, 0 when keys are unique, -1 when out of
 * memory. O(n log n). */
int json_dup_key(const json_value *obj, const json_value **dup);

/* 1-based line and column (in bytes) of a byte offset, for messages. */
void json_line_col(const char *text, size_t len, size_t offset, int *line, int *col);

/* Write s as a quoted JSON string: '"', '\\' and control characters
 * escaped; bytes that are not valid UTF-8 become \ufffd so the output is
 * always valid JSON. 0 on success, -1 on a write error. */
int json_write_string(FILE *f, const char *s);
int json_write_string_n(FILE *f, const char *s, size_t n);

#endif
