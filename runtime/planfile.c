/*
 * planfile.c: the plan.bin format: writing, and reading with validation.
 *
 * Layout (all integers little-endian; sections 64-byte aligned):
 *
 *   header   64 bytes: magic "DLCPLAN\0", format version, endianness marker
 *            0x01020304, file size, CRC-32C of the whole file (computed with
 *            this field zero), section count, section table offset
 *   table    one 32-byte entry per section: id, record size, offset, count
 *   sections META (one record), STRINGS (bytes), DIMS, TENSORS, NODES,
 *            STEPS, ARGS (int32), INTS (int64), FLOATS (float32),
 *            IO (int32 input ids then output ids), PARAMDATA (bytes),
 *            LAUNCHES (one per step, or none for a CPU-only plan),
 *            CUBIN and PTX (the GPU module, or empty)
 *
 * Every record has a fixed size stated in the table, so a reader can refuse
 * a file whose records it does not understand. Strings are (offset, length)
 * into STRINGS and NUL-terminated there. A reader of version V refuses files
 * of a newer version with a message saying so.
 *
 * The reader trusts nothing: header, checksum, section bounds, record sizes
 * and counts are checked here; ids, offsets and shapes in rt_plan_check().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "outfile.h"
#include "rfile.h"
#include "rt_plan.h"

enum {
  SEC_META = 1, SEC_STRINGS, SEC_DIMS, SEC_TENSORS, SEC_NODES, SEC_STEPS, SEC_ARGS,
  SEC_INTS, SEC_FLOATS, SEC_IO, SEC_PARAMDATA, SEC_LAUNCHES, SEC_CUBIN, SEC_PTX,
  SEC_LAST = SEC_PTX
};
/* Sections a plan may leave empty: a CPU-only plan has no GPU code. */
#define SEC_REQUIRED SEC_PARAMDATA

#define MAGIC "DLCPLAN"
#define ENDIAN_MARK 0x01020304u
#define HEADER_SIZE 64
#define SECTION_ALIGN 64
/* No count in a plan may exceed this: it bounds every allocation the reader
 * makes by the file's own size and keeps uint32 arithmetic exact. */
#define MAX_COUNT (1u << 28)

typedef struct { uint32_t off, len; } f_str;

typedef struct {
  char magic[8];
  uint32_t version, endian;
  uint64_t file_size;
  uint32_t crc, n_sections;
  uint64_t table_offset;
  uint8_t reserved[24];
} f_header;

typedef struct {
  uint32_t id, record_size;
  uint64_t offset, count, reserved;
} f_section;

typedef struct {
  f_str model;
  uint32_t alignment;
  int32_t batch_dim;
  uint64_t slab_bytes, params_bytes, workspace_bytes, lower_bound;
  uint32_t n_inputs, n_outputs;
  uint32_t cubin_arch, flags;
} f_meta;

typedef struct {
  f_str name;
  int64_t value;
} f_dim;

typedef struct {
  f_str name;
  uint8_t kind, dtype, rank, alias_kind;
  uint32_t flags;
  int64_t dims[RT_MAX_RANK];
  uint64_t bytes, offset;
  int32_t first_step, last_step, alias_of;
  uint32_t init;
  double init_a, init_b;
  uint64_t init_seed, data_offset;
} f_tensor;

typedef struct {
  uint32_t op;
  f_str name;
  uint32_t n_in, n_out, args, ia, n_ia, fa, n_fa;
} f_node;

typedef struct {
  f_str kernel;
  uint32_t first_node, n_nodes, reads, n_reads, writes, n_writes;
} f_step;

typedef struct {
  uint32_t kind;
  f_str function;
  uint32_t grid[3], block[3], shared_bytes;
  uint32_t args, n_args, ia, n_ia, fa, n_fa;
} f_launch;

_Static_assert(sizeof(f_header) == HEADER_SIZE, "header layout");
_Static_assert(sizeof(f_section) == 32, "section layout");
_Static_assert(sizeof(f_meta) == 64, "meta layout");
_Static_assert(sizeof(f_launch) == 64, "launch layout");
_Static_assert(sizeof(f_dim) == 16, "dim layout");
_Static_assert(sizeof(f_tensor) == 144, "tensor layout");
_Static_assert(sizeof(f_node) == 40, "node layout");
_Static_assert(sizeof(f_step) == 32, "step layout");

const char *rt_kind_name(int kind) {
  static const char *const names[RT_KIND_COUNT] = {"input", "output", "activation",
                                                   "workspace", "param", "fused"};
  return kind >= 0 && kind < RT_KIND_COUNT ? names[kind] : "?";
}

/* ------------------------------------------------------------------ write */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  int oom;
} wbuf;

static void wb_reserve(wbuf *b, size_t more) {
  if (b->oom || b->len + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static void wb_put(wbuf *b, const void *data, size_t n) {
  if (n == 0) return; /* an empty section: b->p may still be NULL */
  wb_reserve(b, n);
  if (b->oom) return;
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void wb_align(wbuf *b) {
  static const uint8_t zeros[SECTION_ALIGN];
  size_t pad = (SECTION_ALIGN - b->len % SECTION_ALIGN) % SECTION_ALIGN;
  wb_put(b, zeros, pad);
}

static f_str put_string(wbuf *strings, const char *s) {
  if (!s) s = "";
  f_str r = {(uint32_t)strings->len, (uint32_t)strlen(s)};
  wb_put(strings, s, strlen(s) + 1);
  return r;
}

int rt_plan_serialize(const rt_plan *p, uint8_t **out, size_t *out_size, char *err, size_t err_size) {
  wbuf strings = {0}, sec[SEC_LAST + 1] = {{0}};
  f_meta meta = {0};
  meta.model = put_string(&strings, p->model);
  meta.alignment = p->alignment;
  meta.batch_dim = p->batch_dim;
  meta.slab_bytes = p->slab_bytes;
  meta.params_bytes = p->params_bytes;
  meta.workspace_bytes = p->workspace_bytes;
  meta.lower_bound = p->lower_bound;
  meta.n_inputs = p->n_inputs;
  meta.n_outputs = p->n_outputs;
  meta.cubin_arch = p->cubin_arch;
  meta.flags = p->flags;
  wb_put(&sec[SEC_META], &meta, sizeof meta);
  for (uint32_t i = 0; i < p->n_dims; i++) {
    f_dim d = {put_string(&strings, p->dims[i].name), p->dims[i].value};
    wb_put(&sec[SEC_DIMS], &d, sizeof d);
  }
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    f_tensor f;
    memset(&f, 0, sizeof f);
    f.name = put_string(&strings, t->name);
    f.kind = (uint8_t)t->kind;
    f.dtype = (uint8_t)t->dtype;
    f.rank = (uint8_t)t->rank;
    f.alias_kind = (uint8_t)t->alias_kind;
    f.flags = (uint32_t)t->flags;
    memcpy(f.dims, t->dims, sizeof f.dims);
    f.bytes = t->bytes;
    f.offset = t->offset;
    f.first_step = t->first_step;
    f.last_step = t->last_step;
    f.alias_of = t->alias_of;
    f.init = (uint32_t)t->init;
    f.init_a = t->init_a;
    f.init_b = t->init_b;
    f.init_seed = t->init_seed;
    f.data_offset = t->data_offset;
    wb_put(&sec[SEC_TENSORS], &f, sizeof f);
  }
  for (uint32_t i = 0; i < p->n_nodes; i++) {
    const rt_node *n = &p->nodes[i];
    f_node f = {(uint32_t)n->op, put_string(&strings, n->name), n->n_in, n->n_out, n->args,
                n->ia, n->n_ia, n->fa, n->n_fa};
    wb_put(&sec[SEC_NODES], &f, sizeof f);
  }
  for (uint32_t i = 0; i < p->n_steps; i++) {
    const rt_step *s = &p->steps[i];
    f_step f = {put_string(&strings, s->kernel), s->first_node, s->n_nodes, s->reads,
                s->n_reads, s->writes, s->n_writes};
    wb_put(&sec[SEC_STEPS], &f, sizeof f);
  }
  for (uint32_t i = 0; p->launches && i < p->n_steps; i++) {
    const rt_launch *l = &p->launches[i];
    f_launch f;
    memset(&f, 0, sizeof f);
    f.kind = (uint32_t)l->kind;
    f.function = put_string(&strings, l->function);
    memcpy(f.grid, l->grid, sizeof f.grid);
    memcpy(f.block, l->block, sizeof f.block);
    f.shared_bytes = l->shared_bytes;
    f.args = l->args, f.n_args = l->n_args;
    f.ia = l->ia, f.n_ia = l->n_ia;
    f.fa = l->fa, f.n_fa = l->n_fa;
    wb_put(&sec[SEC_LAUNCHES], &f, sizeof f);
  }
  if (p->cubin_bytes) wb_put(&sec[SEC_CUBIN], p->cubin, (size_t)p->cubin_bytes);
  if (p->ptx) wb_put(&sec[SEC_PTX], p->ptx, strlen(p->ptx) + 1);
  wb_put(&sec[SEC_ARGS], p->args, (size_t)p->n_args * sizeof *p->args);
  wb_put(&sec[SEC_INTS], p->ints, (size_t)p->n_ints * sizeof *p->ints);
  wb_put(&sec[SEC_FLOATS], p->floats, (size_t)p->n_floats * sizeof *p->floats);
  wb_put(&sec[SEC_IO], p->inputs, (size_t)p->n_inputs * sizeof *p->inputs);
  wb_put(&sec[SEC_IO], p->outputs, (size_t)p->n_outputs * sizeof *p->outputs);
  sec[SEC_STRINGS] = strings;

  static const uint32_t record[SEC_LAST + 1] = {
      [SEC_META] = sizeof(f_meta), [SEC_STRINGS] = 1, [SEC_DIMS] = sizeof(f_dim),
      [SEC_TENSORS] = sizeof(f_tensor), [SEC_NODES] = sizeof(f_node), [SEC_STEPS] = sizeof(f_step),
      [SEC_ARGS] = 4, [SEC_INTS] = 8, [SEC_FLOATS] = 4, [SEC_IO] = 4, [SEC_PARAMDATA] = 1,
      [SEC_LAUNCHES] = sizeof(f_launch), [SEC_CUBIN] = 1, [SEC_PTX] = 1};

  wbuf file = {0};
  f_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, MAGIC, 8);
  h.version = RT_PLAN_VERSION;
  h.endian = ENDIAN_MARK;
  h.n_sections = SEC_LAST;
  h.table_offset = HEADER_SIZE;
  wb_put(&file, &h, sizeof h);
  f_section table[SEC_LAST];
  memset(table, 0, sizeof table);
  wb_put(&file, table, sizeof table);
  int oom = 0;
  for (int id = 1; id <= SEC_LAST; id++) {
    wb_align(&file);
    const void *data = id == SEC_PARAMDATA ? (const void *)p->param_data : sec[id].p;
    size_t len = id == SEC_PARAMDATA ? (size_t)p->param_data_bytes : sec[id].len;
    table[id - 1] = (f_section){(uint32_t)id, record[id], file.len, len / record[id], 0};
    if (len) wb_put(&file, data, len);
    oom |= sec[id].oom;
    free(sec[id].p);
  }
  if (oom || file.oom) {
    free(file.p);
    return rt_fail(err, err_size, "out of memory serialising the plan");
  }
  memcpy(file.p + HEADER_SIZE, table, sizeof table);
  uint64_t size = file.len;
  memcpy(file.p + offsetof(f_header, file_size), &size, 8);
  uint32_t crc = rt_crc32c(0, file.p, file.len);
  memcpy(file.p + offsetof(f_header, crc), &crc, 4);
  *out = file.p;
  *out_size = file.len;
  return 0;
}

int rt_plan_write(const rt_plan *p, const char *path, char *err, size_t err_size) {
  uint8_t *buf;
  size_t size;
  if (rt_plan_serialize(p, &buf, &size, err, err_size)) return -1;
  rt_outfile o;
  FILE *f = rt_outfile_open(&o, path, err, err_size);
  if (!f) {
    free(buf);
    return -1;
  }
  fwrite(buf, 1, size, f); /* errors surface in commit's fflush/ferror */
  free(buf);
  return rt_outfile_commit(&o, err, err_size);
}

/* ------------------------------------------------------------------- read */

typedef struct sec_view {
  const uint8_t *p;
  uint64_t count;
} sec_view;

static int get_string(const uint8_t *strings, uint64_t n, f_str s, const char **out, char *err,
                      size_t err_size, const char *what) {
  if ((uint64_t)s.off + s.len >= n || strings[s.off + s.len] != 0 ||
      memchr(strings + s.off, 0, s.len) != NULL)
    return rt_fail(err, err_size, "corrupt plan: bad string for %s", what);
  *out = (const char *)strings + s.off;
  return 0;
}

int rt_plan_parse(uint8_t *buf, size_t size, rt_plan *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  out->file = buf;
  if (size < HEADER_SIZE || memcmp(buf, MAGIC, 8) != 0) {
    rt_plan_free(out);
    return rt_fail(err, err_size, "not a dlc plan (bad magic); compile one with dlc MODEL.yaml -o PLAN");
  }
  f_header h;
  memcpy(&h, buf, sizeof h);
#define BAD(...) do { rt_plan_free(out); return rt_fail(err, err_size, __VA_ARGS__); } while (0)
  if (h.endian != ENDIAN_MARK) BAD("plan written on a machine of other byte order; recompile it here");
  if (h.version > RT_PLAN_VERSION)
    BAD("plan format version %u is newer than this dlrun understands (%u); use a newer dlrun or "
        "recompile the model", h.version, RT_PLAN_VERSION);
  if (h.version < 1) BAD("corrupt plan: format version %u", h.version);
  if (h.file_size != size)
    BAD("plan is %zu bytes but its header says %llu: the file is truncated or has trailing data",
        size, (unsigned long long)h.file_size);
  uint32_t want_crc = h.crc, zero = 0;
  memcpy(buf + offsetof(f_header, crc), &zero, 4);
  uint32_t got_crc = rt_crc32c(0, buf, size);
  memcpy(buf + offsetof(f_header, crc), &want_crc, 4);
  if (got_crc != want_crc) BAD("plan checksum mismatch: the file is corrupt (bit flip or partial write)");
  if (h.n_sections < SEC_LAST || h.n_sections > 1024 || h.table_offset < HEADER_SIZE ||
      h.table_offset > size || (size - h.table_offset) / sizeof(f_section) < h.n_sections)
    BAD("corrupt plan: section table out of bounds");

  static const uint32_t record[SEC_LAST + 1] = {
      [SEC_META] = sizeof(f_meta), [SEC_STRINGS] = 1, [SEC_DIMS] = sizeof(f_dim),
      [SEC_TENSORS] = sizeof(f_tensor), [SEC_NODES] = sizeof(f_node), [SEC_STEPS] = sizeof(f_step),
      [SEC_ARGS] = 4, [SEC_INTS] = 8, [SEC_FLOATS] = 4, [SEC_IO] = 4, [SEC_PARAMDATA] = 1,
      [SEC_LAUNCHES] = sizeof(f_launch), [SEC_CUBIN] = 1, [SEC_PTX] = 1};
  sec_view sec[SEC_LAST + 1];
  int seen[SEC_LAST + 1] = {0};
  memset(sec, 0, sizeof sec);
  for (uint32_t i = 0; i < h.n_sections; i++) {
    f_section s;
    memcpy(&s, buf + h.table_offset + (uint64_t)i * sizeof s, sizeof s);
    if (s.id < 1 || s.id > SEC_LAST) continue; /* a newer optional section: skip */
    if (seen[s.id]++) BAD("corrupt plan: section %u appears twice", s.id);
    if (s.record_size != record[s.id])
      BAD("corrupt plan: section %u has records of %u bytes, expected %u", s.id, s.record_size,
          record[s.id]);
    if (s.offset % 8 || s.offset > size || s.count > (size - s.offset) / s.record_size)
      BAD("corrupt plan: section %u (%llu records at offset %llu) lies outside the file", s.id,
          (unsigned long long)s.count, (unsigned long long)s.offset);
    if (s.id != SEC_PARAMDATA && s.id != SEC_STRINGS && s.id != SEC_CUBIN && s.id != SEC_PTX &&
        s.count > MAX_COUNT)
      BAD("corrupt plan: section %u has %llu records", s.id, (unsigned long long)s.count);
    sec[s.id] = (sec_view){buf + s.offset, s.count};
  }
  for (int id = 1; id <= SEC_REQUIRED; id++)
    if (!seen[id]) BAD("corrupt plan: section %d is missing", id);
  if (sec[SEC_META].count != 1) BAD("corrupt plan: %llu META records", (unsigned long long)sec[SEC_META].count);
  if (sec[SEC_STRINGS].count > UINT32_MAX) BAD("corrupt plan: string table too large");

  f_meta meta;
  memcpy(&meta, sec[SEC_META].p, sizeof meta);
  const uint8_t *strings = sec[SEC_STRINGS].p;
  uint64_t n_strings = sec[SEC_STRINGS].count;
  if ((uint64_t)meta.n_inputs + meta.n_outputs != sec[SEC_IO].count)
    BAD("corrupt plan: %u inputs and %u outputs but %llu IO entries", meta.n_inputs,
        meta.n_outputs, (unsigned long long)sec[SEC_IO].count);

  /* One block for every converted array. */
  uint32_t nd = (uint32_t)sec[SEC_DIMS].count, nt = (uint32_t)sec[SEC_TENSORS].count,
           nn = (uint32_t)sec[SEC_NODES].count, ns = (uint32_t)sec[SEC_STEPS].count,
           na = (uint32_t)sec[SEC_ARGS].count, ni = (uint32_t)sec[SEC_INTS].count,
           nf = (uint32_t)sec[SEC_FLOATS].count, nio = (uint32_t)sec[SEC_IO].count,
           nl = (uint32_t)sec[SEC_LAUNCHES].count;
  if (nl != 0 && nl != ns) BAD("corrupt plan: %u launches for %u steps", nl, ns);
  if (sec[SEC_PTX].count && sec[SEC_PTX].p[sec[SEC_PTX].count - 1] != 0)
    BAD("corrupt plan: the PTX is not NUL-terminated");
  size_t total = (size_t)nd * sizeof(rt_dim) + (size_t)nt * sizeof(rt_tensor) +
                 (size_t)nn * sizeof(rt_node) + (size_t)ns * sizeof(rt_step) + (size_t)na * 4 +
                 (size_t)ni * 8 + (size_t)nf * 4 + (size_t)nio * 4 + (size_t)nl * sizeof(rt_launch) +
                 9 * 8;
  uint8_t *block = calloc(1, total);
  if (!block) BAD("out of memory loading the plan (%zu bytes of tables)", total);
  out->storage = block;
  size_t at = 0;
#define CARVE(ptr, n, type)                                                    \
  do {                                                                         \
    at = (at + 7) & ~(size_t)7;                                                \
    ptr = (type *)(block + at);                                                \
    at += (size_t)(n) * sizeof(type);                                          \
  } while (0)
  CARVE(out->dims, nd, rt_dim);
  CARVE(out->tensors, nt, rt_tensor);
  CARVE(out->nodes, nn, rt_node);
  CARVE(out->steps, ns, rt_step);
  CARVE(out->args, na, int32_t);
  CARVE(out->ints, ni, int64_t);
  CARVE(out->floats, nf, float);
  CARVE(out->inputs, nio, int32_t);
  if (nl) CARVE(out->launches, nl, rt_launch);
#undef CARVE
  out->outputs = out->inputs + meta.n_inputs;

  if (get_string(strings, n_strings, meta.model, &out->model, err, err_size, "the model name")) {
    rt_plan_free(out);
    return -1;
  }
  out->alignment = meta.alignment;
  out->batch_dim = meta.batch_dim;
  out->slab_bytes = meta.slab_bytes;
  out->params_bytes = meta.params_bytes;
  out->workspace_bytes = meta.workspace_bytes;
  out->lower_bound = meta.lower_bound;
  out->n_dims = nd;
  out->n_tensors = nt;
  out->n_nodes = nn;
  out->n_steps = ns;
  out->n_args = na;
  out->n_ints = ni;
  out->n_floats = nf;
  out->n_inputs = meta.n_inputs;
  out->n_outputs = meta.n_outputs;
  for (uint32_t i = 0; i < nd; i++) {
    f_dim f;
    memcpy(&f, sec[SEC_DIMS].p + (size_t)i * sizeof f, sizeof f);
    if (get_string(strings, n_strings, f.name, &out->dims[i].name, err, err_size, "a dim")) {
      rt_plan_free(out);
      return -1;
    }
    out->dims[i].value = f.value;
  }
  for (uint32_t i = 0; i < nt; i++) {
    f_tensor f;
    memcpy(&f, sec[SEC_TENSORS].p + (size_t)i * sizeof f, sizeof f);
    rt_tensor *t = &out->tensors[i];
    if (get_string(strings, n_strings, f.name, &t->name, err, err_size, "a tensor name")) {
      rt_plan_free(out);
      return -1;
    }
    t->kind = f.kind;
    t->dtype = f.dtype;
    t->rank = f.rank;
    t->alias_kind = f.alias_kind;
    t->flags = (int)f.flags;
    memcpy(t->dims, f.dims, sizeof t->dims);
    t->bytes = f.bytes;
    t->offset = f.offset;
    t->first_step = f.first_step;
    t->last_step = f.last_step;
    t->alias_of = f.alias_of;
    t->init = (int)(f.init > 1000 ? 1000 : f.init);
    t->init_a = f.init_a;
    t->init_b = f.init_b;
    t->init_seed = f.init_seed;
    t->data_offset = f.data_offset;
  }
  for (uint32_t i = 0; i < nn; i++) {
    f_node f;
    memcpy(&f, sec[SEC_NODES].p + (size_t)i * sizeof f, sizeof f);
    rt_node *n = &out->nodes[i];
    if (get_string(strings, n_strings, f.name, &n->name, err, err_size, "a node name")) {
      rt_plan_free(out);
      return -1;
    }
    n->op = f.op > 1000000 ? -1 : (int)f.op;
    n->n_in = f.n_in;
    n->n_out = f.n_out;
    n->args = f.args;
    n->ia = f.ia;
    n->n_ia = f.n_ia;
    n->fa = f.fa;
    n->n_fa = f.n_fa;
  }
  for (uint32_t i = 0; i < ns; i++) {
    f_step f;
    memcpy(&f, sec[SEC_STEPS].p + (size_t)i * sizeof f, sizeof f);
    rt_step *s = &out->steps[i];
    if (get_string(strings, n_strings, f.kernel, &s->kernel, err, err_size, "a kernel name")) {
      rt_plan_free(out);
      return -1;
    }
    s->first_node = f.first_node;
    s->n_nodes = f.n_nodes;
    s->reads = f.reads;
    s->n_reads = f.n_reads;
    s->writes = f.writes;
    s->n_writes = f.n_writes;
  }
  memcpy(out->args, sec[SEC_ARGS].p, (size_t)na * 4);
  memcpy(out->ints, sec[SEC_INTS].p, (size_t)ni * 8);
  memcpy(out->floats, sec[SEC_FLOATS].p, (size_t)nf * 4);
  memcpy(out->inputs, sec[SEC_IO].p, (size_t)nio * 4);
  out->param_data = sec[SEC_PARAMDATA].p;
  out->param_data_bytes = sec[SEC_PARAMDATA].count;
  for (uint32_t i = 0; i < nl; i++) {
    f_launch f;
    memcpy(&f, sec[SEC_LAUNCHES].p + (size_t)i * sizeof f, sizeof f);
    rt_launch *l = &out->launches[i];
    if (get_string(strings, n_strings, f.function, &l->function, err, err_size, "a kernel function")) {
      rt_plan_free(out);
      return -1;
    }
    l->kind = f.kind > 1000 ? -1 : (int)f.kind;
    memcpy(l->grid, f.grid, sizeof l->grid);
    memcpy(l->block, f.block, sizeof l->block);
    l->shared_bytes = f.shared_bytes;
    l->args = f.args, l->n_args = f.n_args;
    l->ia = f.ia, l->n_ia = f.n_ia;
    l->fa = f.fa, l->n_fa = f.n_fa;
  }
  out->cubin = sec[SEC_CUBIN].count ? sec[SEC_CUBIN].p : NULL;
  out->cubin_bytes = sec[SEC_CUBIN].count;
  out->cubin_arch = meta.cubin_arch;
  out->flags = meta.flags;
  out->ptx = sec[SEC_PTX].count ? (const char *)sec[SEC_PTX].p : NULL;
  out->ptx_bytes = sec[SEC_PTX].count;
#undef BAD
  if (rt_plan_check(out, err, err_size)) {
    rt_plan_free(out);
    return -1;
  }
  return 0;
}

int rt_plan_read(const char *path, rt_plan *out, char *err, size_t err_size) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return rt_fail(err, err_size, "cannot open plan %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return rt_fail(err, err_size, "%s is not a regular file", path);
  }
  size_t size = (size_t)st.st_size;
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) {
    fclose(f);
    return rt_fail(err, err_size, "out of memory reading %s (%zu bytes)", path, size);
  }
  size_t got = fread(buf, 1, size, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || got != size) {
    free(buf);
    return rt_fail(err, err_size, "cannot read %s: %s", path, bad ? strerror(errno) : "short read");
  }
  char inner[512];
  if (rt_plan_parse(buf, size, out, inner, sizeof inner))
    return rt_fail(err, err_size, "%s: %s", path, inner);
  return 0;
}

void rt_plan_free(rt_plan *p) {
  free(p->storage);
  free(p->file);
  memset(p, 0, sizeof *p);
}
