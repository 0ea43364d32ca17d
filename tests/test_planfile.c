/*
 * test_planfile.c: plan.bin survives a round trip byte for byte, and the
 * reader refuses every damaged or hostile file with a message instead of
 * crashing: truncated at any length, bit flips, counts past the end of the
 * file, a newer format version, and (with a valid checksum) offsets outside
 * the slab, ids out of range and shapes that disagree with their op.
 */
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "crc32c.h"
#include "rt_backend.h"
#include "rt_plan.h"
#include "tst.h"

static const char *model =
    "name: t\ndims: {N: 2}\ninputs:\n  x: {shape: [N, 3, 6, 6]}\n"
    "params:\n  w: {shape: [4, 3, 3, 3], init: {normal: [0, 0.1], seed: 3}}\n"
    "  b: {shape: [4], values: [0.1, 0.2, 0.3, 0.4]}\n"
    "nodes:\n"
    "  - {op: Conv, in: [x, w, b], out: c, pads: [1, 1, 1, 1]}\n"
    "  - {op: Relu, in: c, out: r}\n"
    "  - {op: MaxPool, in: r, out: p, kernel_shape: [2, 2], strides: [2, 2]}\n"
    "  - {op: Flatten, in: p, out: f}\n"
    "  - {op: Softmax, in: f, out: y}\n"
    "outputs: [y]\n";

static uint8_t *compiled(size_t *size) {
  compile_options o = {0};
  o.model_path = "t.yaml";
  o.model_text = model;
  o.model_text_len = strlen(model);
  o.time_limit_s = 1;
  o.no_fuse = 1; /* the tests below edit the Conv's own record */
  compile_result r;
  CU_ASSERT_EQUAL_FATAL(compile_model(&o, &r, NULL), 0);
  uint8_t *buf;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(rt_plan_serialize(r.plan, &buf, size, err, sizeof err), 0);
  compile_free(&r);
  return buf;
}

static uint8_t *dup(const uint8_t *b, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  memcpy(c, b, n);
  return c;
}

/* Recompute the checksum after a deliberate edit. */
static void fix_crc(uint8_t *b, size_t n) {
  memset(b + 24, 0, 4);
  uint32_t crc = rt_crc32c(0, b, n);
  memcpy(b + 24, &crc, 4);
}

/* Parse a copy; returns rc, message in err. */
static int parse(const uint8_t *b, size_t n, char *err, size_t err_size) {
  rt_plan p;
  int rc = rt_plan_parse(dup(b, n), n, &p, err, err_size);
  if (rc == 0) rt_plan_free(&p);
  return rc;
}

/* The file offset of section id's data and its table entry. */
static uint8_t *section_entry(uint8_t *b, uint32_t id) {
  uint32_t n;
  uint64_t table;
  memcpy(&n, b + 28, 4);
  memcpy(&table, b + 32, 8);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t sid;
    memcpy(&sid, b + table + 32 * i, 4);
    if (sid == id) return b + table + 32 * i;
  }
  return NULL;
}

static void test_round_trip(void) {
  size_t n;
  uint8_t *b = compiled(&n);
  rt_plan p;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_plan_parse(dup(b, n), n, &p, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(p.model, "t");
  CU_ASSERT_EQUAL(p.n_steps, 4); /* Flatten is a view: no kernel */
  CU_ASSERT_EQUAL(p.nodes[0].op, RT_OP_CONV);
  CU_ASSERT_EQUAL(p.nodes[0].n_ia, 11);
  CU_ASSERT_EQUAL(p.ints[p.nodes[0].ia + 7], 1); /* pad_t */
  CU_ASSERT_EQUAL(p.n_inputs, 1);
  CU_ASSERT_STRING_EQUAL(p.tensors[p.inputs[0]].name, "x");
  CU_ASSERT(p.tensors[p.outputs[0]].flags & RT_TF_BATCHED);
  CU_ASSERT_EQUAL(p.batch_dim, 0);
  CU_ASSERT_STRING_EQUAL(p.dims[0].name, "N");
  int found_b = 0, found_f = 0;
  for (uint32_t i = 0; i < p.n_tensors; i++) {
    const rt_tensor *t = &p.tensors[i];
    if (!strcmp(t->name, "f")) {
      CU_ASSERT_EQUAL(t->alias_kind, RT_ALIAS_VIEW);
      CU_ASSERT_FATAL(t->alias_of >= 0);
      CU_ASSERT_STRING_EQUAL(p.tensors[t->alias_of].name, "p");
      CU_ASSERT_EQUAL(t->offset, p.tensors[t->alias_of].offset);
      found_f = 1;
    }
    if (!strcmp(t->name, "w")) {
      CU_ASSERT_EQUAL(t->init, RT_INIT_NORMAL);
      CU_ASSERT_EQUAL(t->init_seed, 3);
      CU_ASSERT_DOUBLE_EQUAL(t->init_b, 0.1, 1e-15);
    }
    if (!strcmp(t->name, "b")) {
      float v[4];
      memcpy(v, p.param_data + t->data_offset, 16);
      float want[4] = {0.1f, 0.2f, 0.3f, 0.4f};
      TST_ASSERT_CLOSE(v, want, 4, 0, 0);
      found_b = 1;
    }
  }
  CU_ASSERT(found_b && found_f);
  CU_ASSERT_EQUAL(rt_plan_verify_memory(&p, err, sizeof err), 0);
  /* serialising what was read gives the same bytes */
  uint8_t *again;
  size_t n2;
  CU_ASSERT_EQUAL_FATAL(rt_plan_serialize(&p, &again, &n2, err, sizeof err), 0);
  CU_ASSERT_EQUAL(n2, n);
  CU_ASSERT(n2 == n && memcmp(again, b, n) == 0);
  free(again);
  rt_plan_free(&p);
  free(b);
}

static void test_truncated(void) {
  size_t n;
  uint8_t *b = compiled(&n);
  char err[512];
  int refused = 0;
  for (size_t len = 0; len < n; len++) refused += parse(b, len, err, sizeof err) != 0;
  CU_ASSERT_EQUAL(refused, (int)n);
  CU_ASSERT_NOT_EQUAL(parse(b, n - 1, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
  CU_ASSERT_NOT_EQUAL(parse(b, 10, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a dlc plan"));
  free(b);
}

static void test_bit_flips(void) {
  size_t n;
  uint8_t *b = compiled(&n);
  char err[512];
  int refused = 0, tried = 0;
  for (size_t pos = 0; pos < n; pos += 7) {
    uint8_t *c = dup(b, n);
    c[pos] ^= (uint8_t)(1u << (pos % 8));
    refused += parse(c, n, err, sizeof err) != 0;
    tried++;
    free(c);
  }
  CU_ASSERT_EQUAL(refused, tried);
  uint8_t *c = dup(b, n);
  c[n / 2] ^= 4;
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "checksum"));
  free(c);
  free(b);
}

static void test_hostile_with_valid_checksum(void) {
  size_t n;
  uint8_t *b = compiled(&n);
  char err[512];
  /* a newer format version */
  uint8_t *c = dup(b, n);
  uint32_t v = RT_PLAN_VERSION + 1;
  memcpy(c + 8, &v, 4);
  fix_crc(c, n);
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "newer than this dlrun"));
  free(c);
  /* a record count that runs past the end of the file */
  c = dup(b, n);
  uint64_t huge = 1ull << 40;
  memcpy(section_entry(c, 4) + 16, &huge, 8); /* TENSORS count */
  fix_crc(c, n);
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "outside the file"));
  free(c);
  /* a section table entry with the wrong record size */
  c = dup(b, n);
  uint32_t rs = 7;
  memcpy(section_entry(c, 5) + 4, &rs, 4);
  fix_crc(c, n);
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "records of 7 bytes"));
  free(c);

  /* Semantic damage: edit fields of the tensor records, then fix the CRC. */
  uint64_t toff;
  memcpy(&toff, section_entry(b, 4) + 8, 8);
  uint64_t tcount;
  memcpy(&tcount, section_entry(b, 4) + 16, 8);
  rt_plan p;
  CU_ASSERT_EQUAL_FATAL(rt_plan_parse(dup(b, n), n, &p, err, sizeof err), 0);
  int act = -1;
  for (uint32_t i = 0; i < p.n_tensors; i++)
    if (p.tensors[i].kind == RT_KIND_ACTIVATION) act = (int)i;
  CU_ASSERT_FATAL(act >= 0);
  rt_plan_free(&p);
  /* offset past the slab (record: name 8, kind..flags 8, dims 64, bytes 8, offset 8) */
  c = dup(b, n);
  uint64_t off = 1ull << 40;
  memcpy(c + toff + 144 * (uint64_t)act + 88, &off, 8);
  fix_crc(c, n);
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "outside its slab region"));
  free(c);
  /* a dimension changed: bytes no longer match the shape */
  c = dup(b, n);
  int64_t dim = 1000;
  memcpy(c + toff + 144 * (uint64_t)act + 16, &dim, 8);
  fix_crc(c, n);
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  free(c);
  /* the Conv's pads edited: the output no longer matches its window */
  uint64_t ioff;
  memcpy(&ioff, section_entry(b, 8) + 8, 8);
  c = dup(b, n);
  int64_t pad = 5;
  memcpy(c + ioff + 8 * 7, &pad, 8);
  fix_crc(c, n);
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "Conv"));
  free(c);
  /* an op code out of range */
  uint64_t noff;
  memcpy(&noff, section_entry(b, 5) + 8, 8);
  c = dup(b, n);
  uint32_t op = 9999;
  memcpy(c + noff, &op, 4);
  fix_crc(c, n);
  CU_ASSERT_NOT_EQUAL(parse(c, n, err, sizeof err), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "op code"));
  free(c);
  (void)tcount;
  free(b);
}

/* Random edits with the checksum fixed up: always refused or accepted, never
 * a crash (the sanitizer build makes out-of-bounds reads fail loudly). */
static void test_mutations(void) {
  size_t n;
  uint8_t *b = compiled(&n);
  char err[512];
  uint64_t s = 12345;
  int accepted = 0;
  for (int iter = 0; iter < 3000; iter++) {
    uint8_t *c = dup(b, n);
    int edits = 1 + iter % 4;
    for (int e = 0; e < edits; e++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      size_t pos = 64 + (size_t)(s % (n - 64));
      c[pos] = (uint8_t)(s >> 32);
    }
    fix_crc(c, n);
    rt_plan p;
    if (rt_plan_parse(c, n, &p, err, sizeof err) == 0) {
      accepted++;
      /* what the loader accepts must run without touching memory it does not own */
      if (rt_plan_verify_memory(&p, err, sizeof err) == 0 &&
          p.slab_bytes + p.params_bytes < (64u << 20)) { /* keep the test's memory small */
        rt_backend *be = rt_cpu_backend_create(&p, 1, err, sizeof err);
        if (be) {
          be->run(be, err, sizeof err);
          be->destroy(be);
        }
      }
      rt_plan_free(&p);
    }
  }
  /* Some edits (names, float attributes) are harmless; most are caught. */
  CU_ASSERT(accepted < 3000);
  free(b);
}

TST_SUITE(planfile, TST(test_round_trip), TST(test_truncated), TST(test_bit_flips),
          TST(test_hostile_with_valid_checksum), TST(test_mutations))
