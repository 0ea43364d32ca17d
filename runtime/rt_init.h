/*
 * rt_init.h: reproducible parameter initialisation (`init:` in the model).
 *
 * The values are a pure function of (kind, a, b, seed, element index), so the
 * compiler can store a seeded param in plan.bin as a few numbers, the runtime
 * regenerates it in parallel, and a Python script can reproduce it with NumPy
 * (tools/dlc_init.py) to feed the same weights to another framework.
 *
 * Element i of a param with seed s:
 *   z = s * 0xD1B54A32D192ED03 + (i + 1) * 0x9E3779B97F4A7C15     (mod 2^64)
 *   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
 *   z = (z ^ (z >> 27)) * 0x94D049BB133111EB
 *   z =  z ^ (z >> 31)                                (splitmix64's finaliser)
 *   u(i) = (z >> 11) * 2^-53                          (a double in [0, 1))
 * uniform [lo, hi):  lo + (hi - lo) * u(i)
 * normal (m, sd):    Box-Muller on the pair j = i / 2 (integer division):
 *   r = sqrt(-2 ln(1 - u(2j))), t = 2 pi u(2j + 1)
 *   m + sd * r * cos(t) for even i, m + sd * r * sin(t) for odd i
 * computed in double, rounded to float32, then (float16, bfloat16) to the
 * param's dtype with round-to-nearest-even; int64 params truncate.
 */
#ifndef RT_INIT_H
#define RT_INIT_H

#include <stdint.h>

#include "rt_plan.h"

/* Uniform double in [0, 1) for element i of seed s. */
double rt_init_uniform01(uint64_t seed, uint64_t i);

/* Fill elements [begin, end) of a param whose element 0 is at dst. */
void rt_init_fill(int kind, double a, double b, uint64_t seed, int dtype, void *dst,
                  int64_t begin, int64_t end);

#endif
