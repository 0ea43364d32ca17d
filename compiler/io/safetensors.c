/*
 * safetensors.c: header validation and tensor reads for safetensors.h.
 *
 * Validation follows huggingface/safetensors' SafeTensors::read_metadata and
 * Metadata::validate: bounded header length, JSON object, per-tensor dtype,
 * shape and offsets with overflow-checked sizes, then the offset-sorted
 * tensors must tile the data section exactly. Messages name the file and the
 * tensor, and say which rule broke (gap, overlap, size, range).
 */
#define _FILE_OFFSET_BITS 64 /* weights files may exceed 2 GiB */

#include "safetensors.h"
#include "rfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every dtype the reference knows, with its size in bits (F4 and F6 pack
 * several elements per byte) and the rt_dtype dlc maps it to. */
static const struct {
  const char *name;
  unsigned bits;
  int dtype;
} st_dtypes[] = {
    {"BOOL", 8, -1},     {"F4", 4, -1},       {"F6_E2M3", 6, -1}, {"F6_E3M2", 6, -1},
    {"U8", 8, -1},       {"I8", 8, -1},       {"F8_E5M2", 8, -1}, {"F8_E4M3", 8, -1},
    {"F8_E8M0", 8, -1},  {"I16", 16, -1},     {"U16", 16, -1},    {"F16", 16, RT_F16},
    {"BF16", 16, RT_BF16}, {"I32", 32, -1},   {"U32", 32, -1},    {"F32", 32, RT_F32},
    {"C64", 64, -1},     {"F64", 64, -1},     {"I64", 64, RT_I64}, {"U64", 64, -1},
};

/* A name fit for a message: quoted, non-printable bytes as \xNN, long names
 * cut. */
static const char *show(const char *s, size_t n, char *buf, size_t size) {
  size_t k = 0;
  buf[k++] = '\'';
  for (size_t i = 0; i < n && k + 8 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != 0x7f && c != '\\')
      buf[k++] = (char)c; /* UTF-8 passes through */
    else
      k += (size_t)snprintf(buf + k, size - k, "\\x%02x", c);
    if (i + 1 < n && k + 8 >= size) {
      memcpy(buf + k, "...", 3);
      k += 3;
      break;
    }
  }
  buf[k++] = '\'';
  buf[k] = 0;
  return buf;
}

static int cmp_offsets(const void *a, const void *b) {
  const st_entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
  int c = memcmp(x->name, y->name, n);
  if (c) return c;
  return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* A JSON integer in [0, INT64_MAX]. */
static int as_count(const json_value *v, int64_t *out) {
  if (!v || v->type != JSON_NUMBER || !v->is_int || v->overflow || v->i < 0) return -1;
  *out = v->i;
  return 0;
}

/* Validate one tensor entry into e (not yet checked against its neighbours). */
static int parse_entry(const char *file, const json_value *m, uint64_t data_size, st_entry *e,
                       char *err, size_t err_size) {
  char nb[128];
  const char *tn = show(m->key, m->key_len, nb, sizeof nb);
  e->name = m->key;
  e->name_len = m->key_len;
  if (m->type != JSON_OBJECT)
    return rt_fail(err, err_size, "%s: tensor %s: expected an object, found %s", file, tn,
                json_type_name(m->type));
  const json_value *dup;
  int d = json_dup_key(m, &dup);
  if (d < 0) return rt_fail(err, err_size, "%s: out of memory", file);
  if (d > 0) {
    char kb[64];
    return rt_fail(err, err_size, "%s: tensor %s: duplicate field %s", file, tn,
                show(dup->key, dup->key_len, kb, sizeof kb));
  }
  const json_value *dt = json_get(m, "dtype"), *sh = json_get(m, "shape"),
                   *off = json_get(m, "data_offsets");
  if (!dt || !sh || !off)
    return rt_fail(err, err_size, "%s: tensor %s: missing \"%s\"", file, tn,
                !dt ? "dtype" : !sh ? "shape" : "data_offsets");

  if (dt->type != JSON_STRING)
    return rt_fail(err, err_size, "%s: tensor %s: \"dtype\" must be a string", file, tn);
  unsigned bits = 0;
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (strlen(st_dtypes[i].name) == dt->len && memcmp(st_dtypes[i].name, dt->str, dt->len) == 0) {
      bits = st_dtypes[i].bits;
      e->dtype = st_dtypes[i].dtype;
      e->st_dtype = st_dtypes[i].name;
    }
  if (!bits) {
    char db[48];
    return rt_fail(err, err_size, "%s: tensor %s: unknown dtype %s", file, tn,
                show(dt->str, dt->len, db, sizeof db));
  }

  if (sh->type != JSON_ARRAY)
    return rt_fail(err, err_size, "%s: tensor %s: \"shape\" must be an array", file, tn);
  if (sh->n > RT_MAX_RANK)
    return rt_fail(err, err_size, "%s: tensor %s: rank %zu exceeds the maximum of %d", file, tn,
                sh->n, RT_MAX_RANK);
  e->rank = (int)sh->n;
  uint64_t numel = 1;
  int overflow = 0;
  int k = 0;
  for (const json_value *x = sh->child; x; x = x->next, k++) {
    if (as_count(x, &e->dims[k]))
      return rt_fail(err, err_size, "%s: tensor %s: shape[%d] is not a non-negative integer (%s)",
                  file, tn, k, x->type == JSON_NUMBER ? x->str : json_type_name(x->type));
    uint64_t dk = (uint64_t)e->dims[k];
    if (dk && numel > UINT64_MAX / dk) overflow = 1;
    numel *= dk;
  }
  if (overflow || numel > UINT64_MAX / bits)
    return rt_fail(err, err_size, "%s: tensor %s: shape too large (its size overflows)", file, tn);
  uint64_t nbits = numel * bits;
  if (nbits % 8)
    return rt_fail(err, err_size, "%s: tensor %s: %s shape does not fill whole bytes", file, tn,
                e->st_dtype);
  uint64_t nbytes = nbits / 8;

  int64_t b, en;
  if (off->type != JSON_ARRAY || off->n != 2 || as_count(off->child, &b) ||
      as_count(off->child->next, &en))
    return rt_fail(err, err_size,
                "%s: tensor %s: \"data_offsets\" must be [BEGIN, END] with non-negative integers",
                file, tn);
  e->begin = (uint64_t)b;
  e->end = (uint64_t)en;
  if (e->begin > e->end)
    return rt_fail(err, err_size, "%s: tensor %s: data_offsets [%llu, %llu]: BEGIN is after END",
                file, tn, (unsigned long long)e->begin, (unsigned long long)e->end);
  if (e->end - e->begin != nbytes) {
    char shape[RT_MAX_RANK * 22 + 4];
    size_t p = 0;
    shape[p++] = '[';
    for (int i = 0; i < e->rank; i++)
      p += (size_t)snprintf(shape + p, sizeof shape - p, "%s%lld", i ? ", " : "",
                            (long long)e->dims[i]);
    snprintf(shape + p, sizeof shape - p, "]");
    return rt_fail(err, err_size,
                "%s: tensor %s: data_offsets [%llu, %llu] hold %llu bytes, but %s %s needs %llu",
                file, tn, (unsigned long long)e->begin, (unsigned long long)e->end,
                (unsigned long long)(e->end - e->begin), e->st_dtype, shape,
                (unsigned long long)nbytes);
  }
  if (e->end > data_size)
    return rt_fail(err, err_size,
                "%s: tensor %s: data_offsets [%llu, %llu] run past the end of the data section "
                "(%llu bytes; is the file truncated?)",
                file, tn, (unsigned long long)e->begin, (unsigned long long)e->end,
                (unsigned long long)data_size);
  return 0;
}

static int parse_metadata(const char *file, const json_value *m, st_file *f, char *err,
                          size_t err_size) {
  if (m->type == JSON_NULL) return 0; /* the reference reads null as absent */
  if (m->type != JSON_OBJECT)
    return rt_fail(err, err_size, "%s: \"__metadata__\" must be an object, found %s", file,
                json_type_name(m->type));
  const json_value *dup;
  int d = json_dup_key(m, &dup);
  if (d < 0) return rt_fail(err, err_size, "%s: out of memory", file);
  char kb[96];
  if (d > 0)
    return rt_fail(err, err_size, "%s: \"__metadata__\": duplicate key %s", file,
                show(dup->key, dup->key_len, kb, sizeof kb));
  f->meta = calloc(m->n ? m->n : 1, sizeof *f->meta);
  if (!f->meta) return rt_fail(err, err_size, "%s: out of memory", file);
  for (const json_value *x = m->child; x; x = x->next) {
    if (x->type != JSON_STRING)
      return rt_fail(err, err_size, "%s: \"__metadata__\" value of %s must be a string, found %s",
                  file, show(x->key, x->key_len, kb, sizeof kb), json_type_name(x->type));
    f->meta[f->n_meta].key = x->key;
    f->meta[f->n_meta].value = x->str;
    f->n_meta++;
  }
  return 0;
}

static uint64_t le64(const unsigned char *b) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
  return n;
}

/* The header length N against the reference limit and the file size
 * (file_size >= 8). */
static int check_header_len(const char *name, uint64_t n, uint64_t file_size, char *err,
                            size_t err_size) {
  if (n > ST_MAX_HEADER)
    return rt_fail(err, err_size, "%s: header length %llu exceeds the limit of %llu bytes", name,
                (unsigned long long)n, ST_MAX_HEADER);
  if (n > file_size - 8)
    return rt_fail(err, err_size,
                "%s: header length %llu runs past the end of the file (%llu bytes)", name,
                (unsigned long long)n, (unsigned long long)file_size);
  return 0;
}

int st_parse_header(const char *name, const void *buf, size_t len, uint64_t file_size,
                    st_file *f, char *err, size_t err_size) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  const unsigned char *b = buf;
  if (!name) name = "(safetensors)";
  if (file_size < 8 || len < 8)
    return rt_fail(err, err_size, "%s: too small for a safetensors file (%llu bytes)", name,
                (unsigned long long)(file_size < len ? file_size : len));
  uint64_t n = le64(b);
  if (check_header_len(name, n, file_size, err, err_size)) return -1;
  if (len - 8 < n)
    return rt_fail(err, err_size, "%s: header needs %llu bytes, only %zu available", name,
                (unsigned long long)(n + 8), len);
  f->file_size = file_size;
  f->header_len = n;
  f->data_start = 8 + n;
  f->data_size = file_size - 8 - n;

  /* A tensor entry is about 10 JSON values, so the default limit of 2^20
   * values allows some 100,000 tensors per file (real checkpoints shard far
   * below that) and bounds the parsed header at about 120 MB. */
  char jerr[256];
  json_limits lim = {JSON_DEFAULT_MAX_DEPTH, JSON_DEFAULT_MAX_VALUES};
  f->doc = json_parse((const char *)b + 8, (size_t)n, &lim, jerr, sizeof jerr);
  if (!f->doc) {
    rt_fail(err, err_size, "%s: invalid header JSON at %s", name, jerr);
    st_close(f);
    return -1;
  }
  const json_value *root = f->doc->root;
  int rc = -1;
  if (root->type != JSON_OBJECT) {
    rt_fail(err, err_size, "%s: the header must be a JSON object, found %s", name,
         json_type_name(root->type));
    goto out;
  }
  const json_value *dup;
  int d = json_dup_key(root, &dup);
  if (d < 0) {
    rt_fail(err, err_size, "%s: out of memory", name);
    goto out;
  }
  if (d > 0) {
    char nb[128];
    rt_fail(err, err_size, "%s: duplicate tensor name %s in the header", name,
         show(dup->key, dup->key_len, nb, sizeof nb));
    goto out;
  }

  size_t n_tensors = root->n - (json_get(root, "__metadata__") ? 1 : 0);
  f->entries = calloc(n_tensors ? n_tensors : 1, sizeof *f->entries);
  f->by_name = calloc(n_tensors ? n_tensors : 1, sizeof *f->by_name);
  if (!f->entries || !f->by_name) {
    rt_fail(err, err_size, "%s: out of memory", name);
    goto out;
  }
  for (const json_value *m = root->child; m; m = m->next) {
    if (m->key_len == 12 && memcmp(m->key, "__metadata__", 12) == 0) {
      if (parse_metadata(name, m, f, err, err_size)) goto out;
      continue;
    }
    if (parse_entry(name, m, f->data_size, &f->entries[f->n_entries], err, err_size)) goto out;
    f->n_entries++;
  }

  /* Sorted by offset, the tensors must tile [0, data_size) exactly. */
  qsort(f->entries, f->n_entries, sizeof *f->entries, cmp_offsets);
  uint64_t at = 0;
  for (size_t i = 0; i < f->n_entries; i++) {
    const st_entry *e = &f->entries[i];
    char nb[128], pb[128];
    if (e->begin < at) {
      const st_entry *p = &f->entries[i - 1]; /* at > 0, so there is one */
      rt_fail(err, err_size, "%s: tensor %s: data_offsets [%llu, %llu] overlap tensor %s [%llu, %llu]",
           name, show(e->name, e->name_len, nb, sizeof nb), (unsigned long long)e->begin,
           (unsigned long long)e->end, show(p->name, p->name_len, pb, sizeof pb),
           (unsigned long long)p->begin, (unsigned long long)p->end);
      goto out;
    }
    if (e->begin > at) {
      rt_fail(err, err_size,
           "%s: tensor %s: data_offsets [%llu, %llu] leave a gap: data bytes [%llu, %llu) belong "
           "to no tensor",
           name, show(e->name, e->name_len, nb, sizeof nb), (unsigned long long)e->begin,
           (unsigned long long)e->end, (unsigned long long)at, (unsigned long long)e->begin);
      goto out;
    }
    at = e->end;
  }
  if (at != f->data_size) { /* at < data_size: parse_entry bounded every END */
    rt_fail(err, err_size,
         "%s: %llu bytes of data after the last tensor (the tensors cover %llu of %llu bytes)",
         name, (unsigned long long)(f->data_size - at), (unsigned long long)at,
         (unsigned long long)f->data_size);
    goto out;
  }

  for (size_t i = 0; i < f->n_entries; i++) f->by_name[i] = &f->entries[i];
  qsort(f->by_name, f->n_entries, sizeof *f->by_name, cmp_names);
  rc = 0;
out:
  if (rc) st_close(f);
  return rc;
}

int st_open(const char *path, st_file *f, char *err, size_t err_size) {
  memset(f, 0, sizeof *f);
  f->fd = -1;
  int fd;
  uint64_t size;
  if (rt_open_regular(path, &fd, &size, err, err_size)) return -1;
  unsigned char len8[8];
  size_t got;
  if (size < 8) {
    close(fd);
    return rt_fail(err, err_size, "%s: too small for a safetensors file (%llu bytes)", path,
                (unsigned long long)size);
  }
  if (rt_pread_full(fd, len8, 8, 0, &got) != 0 || got != 8) {
    int e = got != 8 ? EIO : errno;
    close(fd);
    return rt_fail(err, err_size, "%s: read error: %s", path, strerror(e));
  }
  /* N is checked against the limits before anything is allocated for it. */
  uint64_t n = le64(len8);
  if (check_header_len(path, n, size, err, err_size)) {
    close(fd);
    return -1;
  }
  unsigned char *head = malloc((size_t)n + 8);
  if (!head) {
    close(fd);
    return rt_fail(err, err_size, "%s: out of memory reading a %llu-byte header", path,
                (unsigned long long)n);
  }
  if (rt_pread_full(fd, head, (size_t)n + 8, 0, &got) != 0 || got != n + 8) {
    int e = got != n + 8 ? EIO : errno;
    free(head);
    close(fd);
    return rt_fail(err, err_size, "%s: read error: %s", path, strerror(e));
  }
  int rc = st_parse_header(path, head, (size_t)n + 8, size, f, err, err_size);
  free(head); /* the parsed header copied what it keeps */
  if (rc) {
    close(fd);
    return -1;
  }
  f->path = strdup(path);
  if (!f->path) {
    st_close(f);
    close(fd);
    return rt_fail(err, err_size, "%s: out of memory", path);
  }
  f->fd = fd;
  return 0;
}

const st_entry *st_find(const st_file *f, const char *name) {
  st_entry key;
  key.name = name;
  key.name_len = strlen(name);
  const st_entry *kp = &key;
  const st_entry **hit = bsearch(&kp, f->by_name, f->n_entries, sizeof *f->by_name, cmp_names);
  return hit ? *hit : NULL;
}

const char *st_meta_get(const st_file *f, const char *key) {
  for (size_t i = 0; i < f->n_meta; i++)
    if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
  return NULL;
}

int st_read(const st_file *f, const st_entry *e, void *dst, char *err, size_t err_size) {
  const char *path = f->path ? f->path : "(safetensors)";
  /* compared as integers: e may point anywhere */
  uintptr_t pe = (uintptr_t)e, p0 = (uintptr_t)f->entries;
  if (!e || !f->entries || pe < p0 || pe >= p0 + f->n_entries * sizeof *e ||
      (pe - p0) % sizeof *e != 0)
    return rt_fail(err, err_size, "%s: not a tensor of this file", path);
  char nb[128];
  const char *tn = show(e->name, e->name_len, nb, sizeof nb);
  if (e->dtype < 0)
    return rt_fail(err, err_size,
                "%s: tensor %s has dtype %s, which dlc does not support (F32, F16, BF16, I64)",
                path, tn, e->st_dtype);
  if (f->fd < 0) return rt_fail(err, err_size, "%s: no file open to read tensor %s from", path, tn);
  uint64_t n = e->end - e->begin;
  if (n > SIZE_MAX)
    return rt_fail(err, err_size, "%s: tensor %s is too large for this machine", path, tn);
  size_t got;
  if (rt_pread_full(f->fd, dst, (size_t)n, f->data_start + e->begin, &got) != 0)
    return rt_fail(err, err_size, "%s: tensor %s: read error: %s", path, tn, strerror(errno));
  if (got != n)
    return rt_fail(err, err_size, "%s: tensor %s: unexpected end of file (it shrank after opening)",
                path, tn);
  return 0;
}

void st_close(st_file *f) {
  if (f->fd >= 0) close(f->fd);
  free(f->path);
  free(f->entries);
  free(f->by_name);
  free(f->meta);
  json_free(f->doc);
  memset(f, 0, sizeof *f);
  f->fd = -1;
}
