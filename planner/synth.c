/*
 * synth.c: the chain-and-branches generator of synth.h.
 *
 * Step t runs one op. Its output lives from t to its last reader: the next op
 * (t+1), or for one op in five also a later one up to 48 steps ahead (a skip
 * connection or a branch waiting for its concat). One op in four has a
 * workspace alive at its own step only. The network has eight stages of
 * equal length; feature maps halve in size at each stage, with a random
 * factor of 1 to 4 per tensor, all multiples of 256 bytes.
 */
#include "synth.h"

static uint64_t next(uint64_t *s) {
  /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

int64_t plan_synth_chain(plan_buf *out, size_t n, uint64_t seed) {
  uint64_t s = seed;
  /* 1.25 buffers per step: an output, and a workspace one step in four */
  int64_t steps = (int64_t)(n / 1.25) + 1, t = 0;
  size_t k = 0;
  while (k < n) {
    int stage = (int)(t * 8 / (steps + 1));
    if (stage > 7) stage = 7;
    uint64_t base = ((uint64_t)4 << 20) >> stage; /* 4 MiB down to 32 KiB */
    uint64_t r = next(&s);
    uint64_t size = (base / 4) * (1 + r % 4);
    size = (size + 255) / 256 * 256;
    int64_t last = t + 1;
    if ((r >> 8) % 5 == 0) last = t + 2 + (int64_t)((r >> 16) % 47);
    out[k++] = (plan_buf){size, t, last + 1, 0};
    if (k < n && (r >> 24) % 4 == 0) {
      uint64_t ws = (base / 8) * (1 + (r >> 32) % 8);
      out[k++] = (plan_buf){(ws + 255) / 256 * 256, t, t + 1, 0};
    }
    t++;
  }
  return t;
}
