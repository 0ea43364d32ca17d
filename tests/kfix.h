/*
 * kfix.h: the kernel tests' fixtures (tests/fixtures/kernels/FAMILY.bin,
 * written by tests/fixtures/gen_kernel_fixtures.py, which documents the
 * format) and a runner that puts one fixture case through rt_kernel_run().
 *
 * A case C has arrays C.in0.., C.out0.. (expected outputs; their shapes are
 * the output views) and optionally C.ia / C.fa (canonical attributes). The
 * runner gives the kernel fresh copies of the inputs and outputs prefilled
 * with 0xFF bytes (NaN as a float) followed by a guard zone, then checks the
 * outputs (float32 within atol/rtol as tst_err() measures, other dtypes
 * bit-exact), that the inputs are unchanged and that nothing was written
 * past an output.
 *
 * Header-only (static inline) so each test file includes it on its own.
 */
#ifndef KFIX_H
#define KFIX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_kernels.h"
#include "tst.h"

#define KFIX_GUARD 64 /* bytes checked after each output */

typedef struct {
  char name[128];
  int dtype, rank;
  int64_t dims[RT_MAX_RANK];
  int64_t numel;
  size_t bytes;
  void *data; /* 64-byte aligned */
} kfix_arr;

typedef struct {
  int n;
  kfix_arr *a;
} kfix;

static inline void *kfix_alloc(size_t bytes) {
  size_t n = (bytes + KFIX_GUARD + 63) / 64 * 64;
  void *p = aligned_alloc(64, n);
  if (!p) abort();
  return p;
}

static inline void kfix_free(kfix *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) free(f->a[i].data);
  free(f->a);
  free(f);
}

/* Load tests/fixtures/kernels/FAMILY.bin; NULL (after printing why) on error. */
static inline kfix *kfix_load(const char *family) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/kernels/%s.bin", family);
  const char *path = tst_src(rel);
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "kfix: cannot open %s\n", path);
    return NULL;
  }
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)size + 1);
  if (!buf || fread(buf, 1, (size_t)size, fp) != (size_t)size) {
    fclose(fp);
    free(buf);
    fprintf(stderr, "kfix: cannot read %s\n", path);
    return NULL;
  }
  fclose(fp);
  kfix *f = calloc(1, sizeof *f);
  size_t o = 12;
  uint32_t version = 0, count = 0;
  if (size < 12 || memcmp(buf, "DLKF", 4) != 0) goto bad;
  memcpy(&version, buf + 4, 4);
  memcpy(&count, buf + 8, 4);
  if (version != 1) goto bad;
  f->a = calloc(count ? count : 1, sizeof *f->a);
  for (uint32_t i = 0; i < count; i++) {
    kfix_arr *a = &f->a[i];
    uint16_t len;
    if (o + 2 > (size_t)size) goto bad;
    memcpy(&len, buf + o, 2);
    o += 2;
    if (len >= sizeof a->name || o + len + 3 > (size_t)size) goto bad;
    memcpy(a->name, buf + o, len);
    a->name[len] = 0;
    o += len;
    int kind = buf[o], dtype = buf[o + 1], rank = buf[o + 2];
    o += 3;
    if (rank > RT_MAX_RANK || rt_dtype_size(dtype) == 0 || o + 8 * (size_t)rank > (size_t)size)
      goto bad;
    a->dtype = dtype;
    a->rank = rank;
    memcpy(a->dims, buf + o, 8 * (size_t)rank);
    o += 8 * (size_t)rank;
    a->numel = rt_numel(rank, a->dims);
    a->bytes = (size_t)a->numel * rt_dtype_size(dtype);
    a->data = kfix_alloc(a->bytes);
    f->n = (int)i + 1;
    if (kind == 0) {
      if (o + a->bytes > (size_t)size) goto bad;
      memcpy(a->data, buf + o, a->bytes);
      o += a->bytes;
    } else if (kind == 1) { /* tst_fill_uniform(lo, hi, seed), then the dtype */
      float lo, hi;
      uint64_t seed;
      if (o + 16 > (size_t)size) goto bad;
      memcpy(&lo, buf + o, 4);
      memcpy(&hi, buf + o + 4, 4);
      memcpy(&seed, buf + o + 8, 8);
      o += 16;
      float *tmp = malloc((size_t)a->numel * sizeof(float) + 4);
      tst_fill_uniform(tmp, (size_t)a->numel, lo, hi, seed);
      for (int64_t k = 0; k < a->numel; k++) {
        switch (dtype) {
        case RT_F32: ((float *)a->data)[k] = tmp[k]; break;
        case RT_F16: ((uint16_t *)a->data)[k] = rt_f32_to_f16(tmp[k]); break;
        case RT_BF16: ((uint16_t *)a->data)[k] = rt_f32_to_bf16(tmp[k]); break;
        default: ((int64_t *)a->data)[k] = (int64_t)tmp[k]; break;
        }
      }
      free(tmp);
    } else {
      goto bad;
    }
  }
  if (o != (size_t)size) goto bad;
  free(buf);
  return f;
bad:
  fprintf(stderr, "kfix: %s is malformed near byte %zu\n", path, o);
  free(buf);
  kfix_free(f);
  return NULL;
}

static inline const kfix_arr *kfix_get(const kfix *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->a[i].name, name) == 0) return &f->a[i];
  return NULL;
}

static inline const kfix_arr *kfix_part(const kfix *f, const char *cas, const char *part) {
  char nm[160];
  snprintf(nm, sizeof nm, "%s.%s", cas, part);
  return kfix_get(f, nm);
}

static inline rt_view kfix_view(const kfix_arr *a, void *data) {
  rt_view v;
  memset(&v, 0, sizeof v);
  v.data = data;
  v.dtype = a->dtype;
  v.rank = a->rank;
  memcpy(v.dims, a->dims, sizeof v.dims);
  return v;
}

typedef struct {
  const char *name; /* case */
  int op;
  double atol, rtol;  /* float32 outputs */
  rt_pool *pool;      /* NULL: serial */
  int inplace;        /* output 0 is written over input inplace_in's memory */
  int inplace_in;
  int n_out;          /* outputs passed to the kernel (0: all of the fixture's) */
  unsigned null_out;  /* bit k: output k is passed with data NULL, not checked */
  int extra_null_in;  /* absent optional inputs appended with data NULL */
} kfix_case;

static inline void kfix_check(int ok, const char *msg, const char *file, int line) {
  CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg, file, "", CU_FALSE);
}

#define KFIX_MAX_IO 16

static inline void kfix_run_(const kfix *f, const kfix_case *c, const char *file, int line) {
  char msg[512];
  rt_view in[KFIX_MAX_IO], out[KFIX_MAX_IO];
  const kfix_arr *ia_in[KFIX_MAX_IO], *ia_out[KFIX_MAX_IO];
  void *in_buf[KFIX_MAX_IO] = {0}, *out_buf[KFIX_MAX_IO] = {0};
  int n_in = 0, n_out = 0;
  for (; n_in < KFIX_MAX_IO; n_in++) {
    char part[16];
    snprintf(part, sizeof part, "in%d", n_in);
    if (!(ia_in[n_in] = kfix_part(f, c->name, part))) break;
    in_buf[n_in] = kfix_alloc(ia_in[n_in]->bytes);
    memcpy(in_buf[n_in], ia_in[n_in]->data, ia_in[n_in]->bytes);
    in[n_in] = kfix_view(ia_in[n_in], in_buf[n_in]);
  }
  for (; n_out < KFIX_MAX_IO; n_out++) {
    char part[16];
    snprintf(part, sizeof part, "out%d", n_out);
    if (!(ia_out[n_out] = kfix_part(f, c->name, part))) break;
  }
  snprintf(msg, sizeof msg, "case %s: present in the fixture", c->name);
  kfix_check(n_in > 0 && n_out > 0, msg, file, line);
  if (n_in == 0 || n_out == 0) return;
  for (int k = 0; k < c->extra_null_in; k++, n_in++) {
    memset(&in[n_in], 0, sizeof in[n_in]);
    in[n_in].dtype = RT_F32;
    ia_in[n_in] = NULL;
  }
  int pass_out = c->n_out ? c->n_out : n_out;
  for (int k = 0; k < pass_out; k++) {
    if (c->null_out & (1u << k)) {
      out[k] = kfix_view(ia_out[k], NULL);
      continue;
    }
    out_buf[k] = kfix_alloc(ia_out[k]->bytes);
    memset(out_buf[k], 0xFF, ia_out[k]->bytes + KFIX_GUARD);
    out[k] = kfix_view(ia_out[k], out_buf[k]);
  }
  if (c->inplace) {
    const kfix_arr *src = ia_in[c->inplace_in];
    snprintf(msg, sizeof msg, "case %s: in-place input has the output's size", c->name);
    kfix_check(src && src->bytes == ia_out[0]->bytes, msg, file, line);
    if (!src || src->bytes != ia_out[0]->bytes) goto done;
    memset((char *)in_buf[c->inplace_in] + src->bytes, 0xFF, KFIX_GUARD);
    out[0].data = in_buf[c->inplace_in];
  }
  const kfix_arr *ia = kfix_part(f, c->name, "ia"), *fa = kfix_part(f, c->name, "fa");
  rt_kargs args = {c->op, n_in, pass_out, in, out,
                   ia ? (const int64_t *)ia->data : NULL, ia ? (int)ia->numel : 0,
                   fa ? (const float *)fa->data : NULL, fa ? (int)fa->numel : 0};
  size_t sb = rt_kernel_scratch(&args, c->pool);
  void *scratch = sb ? kfix_alloc(sb) : NULL;
  char err[256] = "";
  rt_kctx ctx = {c->pool, scratch, sb, err, sizeof err};
  int rc = rt_kernel_run(&ctx, &args);
  free(scratch);
  snprintf(msg, sizeof msg, "case %s: rt_kernel_run returned %d (%s)", c->name, rc, err);
  kfix_check(rc == 0, msg, file, line);
  for (int k = 0; k < pass_out; k++) {
    if (!out[k].data) continue;
    const kfix_arr *w = ia_out[k];
    const unsigned char *got = out[k].data;
    if (w->dtype == RT_F32) {
      const float *g = out[k].data, *e = w->data;
      int64_t bad = -1;
      for (int64_t i = 0; i < w->numel && bad < 0; i++)
        if (tst_err(g + i, e + i, 1, c->atol, c->rtol) > 1) bad = i;
      if (bad >= 0)
        snprintf(msg, sizeof msg, "case %s: out%d[%lld] = %.9g, want %.9g (atol %g rtol %g)",
                 c->name, k, (long long)bad, g[bad], e[bad], c->atol, c->rtol);
      else
        snprintf(msg, sizeof msg, "case %s: out%d close", c->name, k);
      kfix_check(bad < 0, msg, file, line);
    } else {
      size_t es = rt_dtype_size(w->dtype), bad = (size_t)-1;
      for (size_t i = 0; i < (size_t)w->numel && bad == (size_t)-1; i++)
        if (memcmp(got + i * es, (const unsigned char *)w->data + i * es, es) != 0) bad = i;
      snprintf(msg, sizeof msg, "case %s: out%d (%s) bit-exact, first difference at %lld",
               c->name, k, rt_dtype_name(w->dtype), bad == (size_t)-1 ? -1LL : (long long)bad);
      kfix_check(bad == (size_t)-1, msg, file, line);
    }
    int guard_ok = 1;
    for (size_t i = 0; i < KFIX_GUARD; i++) guard_ok &= got[w->bytes + i] == 0xFF;
    snprintf(msg, sizeof msg, "case %s: nothing written past out%d", c->name, k);
    kfix_check(guard_ok, msg, file, line);
  }
  for (int k = 0; k < n_in; k++) {
    if (!ia_in[k] || (c->inplace && k == c->inplace_in)) continue;
    snprintf(msg, sizeof msg, "case %s: input %d unchanged", c->name, k);
    kfix_check(memcmp(in_buf[k], ia_in[k]->data, ia_in[k]->bytes) == 0, msg, file, line);
  }
done:
  for (int k = 0; k < KFIX_MAX_IO; k++) {
    free(in_buf[k]);
    free(out_buf[k]);
  }
}

/* KFIX_RUN(f, .name = "add_same", .op = RT_OP_ADD, .atol = 1e-6, ...) */
#define KFIX_RUN(f, ...) kfix_run_((f), &(kfix_case){__VA_ARGS__}, __FILE__, __LINE__)

/* One row of a test table: a case, its op and tolerances. */
typedef struct {
  const char *name;
  int op;
  double atol, rtol;
} kfix_row;

/* Run each row serially and on `pool`. */
static inline void kfix_run_table_(const kfix *f, const kfix_row *rows, size_t n, rt_pool *pool,
                                   const char *file, int line) {
  for (size_t i = 0; i < n; i++) {
    kfix_case c = {rows[i].name, rows[i].op, rows[i].atol, rows[i].rtol, NULL, 0, 0, 0, 0, 0};
    kfix_run_(f, &c, file, line);
    c.pool = pool;
    kfix_run_(f, &c, file, line);
  }
}
#define KFIX_RUN_TABLE(f, rows, pool)                                          \
  kfix_run_table_((f), (rows), sizeof(rows) / sizeof((rows)[0]), (pool), __FILE__, __LINE__)

#endif
