/*
 * fuzz_plan.c: libFuzzer target for the plan.bin reader (runtime/rt_plan.h)
 * and, for plans it accepts, the CPU backend that runs them: dlrun's promise
 * is that a plan that passes the checks cannot make a kernel read or write
 * out of bounds.
 *
 * Input: one control byte, then the plan file. plan.bin carries its size and
 * a CRC-32C, which random mutations almost never keep right, so unless the
 * control byte says otherwise the target rewrites them first:
 *   bit 0 set: keep the checksum field (bytes 24..27) as given;
 *   bit 1 set: keep the file size field (bytes 16..23) as given;
 *   bits 2-3:  what the inputs hold: zeros, small values, random bytes
 *              (NaN, Inf and huge indices included), or extreme values.
 * A seed is a compiled plan behind a 0x00 byte (tests/fuzz/README.md).
 *
 * A parsed plan goes through rt_plan_verify_memory(); if that passes and its
 * memory is small (slab, params, fused and conversion areas under 64 MiB),
 * the CPU backend is created with one thread, its inputs filled, and the plan
 * run once. With DLC_FUZZ_VERBOSE set in the environment, the target says on
 * stderr how far each input got (for checking seeds).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "rt_backend.h"
#include "rt_plan.h"

#define MAX_RUN_BYTES (64ull << 20)

static uint64_t mix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void put_le(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Bytes the backend allocates besides the slab and params: the fused
 * tensors, and the float32 copies of float16/bfloat16 operands. */
static uint64_t extra_bytes(const rt_plan *p) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    if (t->kind == RT_KIND_FUSED) total += t->bytes + 64;
    if (t->dtype == RT_F16 || t->dtype == RT_BF16) total += t->bytes * 2 + 64;
    if (total > MAX_RUN_BYTES) break;
  }
  return total;
}

static void fill_input(uint8_t *dst, const rt_tensor *t, int mode, uint64_t *seed) {
  int64_t n = rt_numel(t->rank, t->dims);
  size_t es = rt_dtype_size(t->dtype);
  if (mode == 0) return; /* the slab starts zeroed */
  for (int64_t i = 0; i < n; i++) {
    uint64_t r = mix(seed);
    uint8_t *p = dst + (size_t)i * es;
    if (mode == 2) { /* raw bits */
      memcpy(p, &r, es);
      continue;
    }
    if (t->dtype == RT_I64) {
      static const int64_t extreme[] = {INT64_MIN, INT64_MAX, -1, 0, 1 << 30, -(1 << 30)};
      int64_t v = mode == 1 ? (int64_t)(r % 17) - 8 : extreme[r % 6];
      memcpy(p, &v, 8);
      continue;
    }
    static const float extreme[] = {0.0f, -0.0f, 1e38f, -1e38f, 1e-45f, 65504.0f,
                                    __builtin_inff(), -__builtin_inff(), __builtin_nanf("")};
    float f = mode == 1 ? (float)((int)(r % 2001) - 1000) / 250.0f : extreme[r % 9];
    rt_from_f32(p, t->dtype, &f, 1);
  }
}

static int verbose = -1;

static void say(const char *what, const char *msg) {
  if (verbose < 0) verbose = getenv("DLC_FUZZ_VERBOSE") != NULL;
  if (verbose) fprintf(stderr, "fuzz_plan: %s%s%s\n", what, msg ? ": " : "", msg ? msg : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int ctl = data[0];
  size_t n = size - 1;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) abort();
  memcpy(buf, data + 1, n);
  if (n >= 28) {
    if (!(ctl & 2)) put_le(buf + 16, n, 8);
    if (!(ctl & 1)) {
      memset(buf + 24, 0, 4);
      put_le(buf + 24, rt_crc32c(0, buf, n), 4);
    }
  }

  rt_plan plan;
  char err[1024];
  if (rt_plan_parse(buf, n, &plan, err, sizeof err) != 0) { /* buf is the plan's */
    say("parse", err);
    return 0;
  }
  if (rt_plan_verify_memory(&plan, err, sizeof err) != 0) {
    say("verify", err);
  } else if (plan.slab_bytes >= MAX_RUN_BYTES || plan.params_bytes >= MAX_RUN_BYTES ||
             plan.slab_bytes + plan.params_bytes + extra_bytes(&plan) >= MAX_RUN_BYTES) {
    say("too big to run", NULL);
  } else {
    rt_backend *b = rt_cpu_backend_create(&plan, 1, err, sizeof err);
    if (b) {
      uint64_t seed = size;
      for (uint32_t i = 0; i < plan.n_inputs; i++)
        fill_input(b->input(b, i), &plan.tensors[plan.inputs[i]], (ctl >> 2) & 3, &seed);
      int rc = b->run(b, err, sizeof err);
      for (uint32_t i = 0; i < plan.n_outputs; i++) (void)b->output(b, i);
      b->destroy(b);
      say(rc ? "run" : "ran", rc ? err : NULL);
    } else {
      say("backend", err);
    }
  }
  rt_plan_free(&plan);
  return 0;
}
