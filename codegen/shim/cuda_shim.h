/*
 * cuda_shim.h: runs dlc's generated CUDA C on the CPU, so every kernel is
 * tested without a GPU.
 *
 * A test writes a C++ file that includes this header and then the program
 * source (cg_program_source), compiles it into a shared object with the host
 * compiler (c++ -std=c++17 -O1 -shared -fPIC) and calls cg_shim_launch with a
 * kernel's address (dlsym: kernels are extern "C") and its grid.
 *
 * What it provides, for the subset of CUDA the generator uses:
 *   - the qualifiers (__global__, __device__, __shared__ as function-local
 *     statics: blocks run one after another, so a static is the block's
 *     shared memory), __restrict__, __launch_bounds__;
 *   - threadIdx / blockIdx / blockDim / gridDim, float2/4, uint2/4, make_*;
 *   - bit casts, the float16 conversions (IEEE, round to nearest even, as
 *     the PTX cvt.rn does), __half / __nv_bfloat16 for WMMA;
 *   - __syncthreads and the warp shuffles with real barrier semantics: every
 *     thread of a block is a fiber (ucontext, 64 KiB stack); a fiber that
 *     reaches a barrier switches to the scheduler, which resumes the others
 *     until all live threads of the block (or of the warp, for shuffles)
 *     have arrived. Each sweep over the ready threads alternates direction,
 *     so a shared-memory read that misses a barrier sees stale data whoever
 *     writes. A barrier some thread can never reach is reported as a
 *     deadlock instead of hanging;
 *   - nvcuda::wmma: a fragment holds its whole tile in every thread (the API
 *     does not expose the layout), so load/store/mma are per-thread loops;
 *     loads and stores meet the warp's other lanes before and after, as the
 *     collective operations they are;
 *     with tf32 inputs rounded by __float_to_tf32 as the hardware does.
 *
 * Kernel arguments are all pointers, so the launcher calls every kernel
 * through one pointer type taking 16 (or 256) void *: on the x86-64 and
 * AArch64 calling conventions surplus arguments are ignored by the callee.
 */
#ifndef CG_CUDA_SHIM_H
#define CG_CUDA_SHIM_H

#define CG_SHIM 1

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define __global__
#define __host__
#define __device__ static inline
#define __forceinline__
#define __shared__ static
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

/* ---- vector types ----------------------------------------------------------- */

struct uint3 { unsigned x, y, z; };
typedef uint3 dim3;
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

/* ---- bit casts and conversions ------------------------------------------------ */

static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }

static inline float cg_f16_to_f32(unsigned short h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    bits = sign;
  } else { /* subnormal: normalise */
    int e = -1;
    do { e++; man <<= 1; } while (!(man & 0x400));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
  }
  return __uint_as_float(bits);
}

static inline unsigned short cg_f32_to_f16(float f) {
  uint32_t x = __float_as_uint(f), sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (unsigned short)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00);
  if (ax < 0x38800000u) {
    if (ax < 0x33000000u) return (unsigned short)sign;
    uint32_t e = ax >> 23, man = (ax & 0x7fffff) | 0x800000, shift = 126 - e;
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (unsigned short)(sign | half);
  }
  uint32_t r = ax + 0xfff + ((ax >> 13) & 1);
  return (unsigned short)(sign | ((r - 0x38000000u) >> 13));
}

struct __half { unsigned short x; };
struct __nv_bfloat16 { unsigned short x; };
static inline float __half2float(__half h) { return cg_f16_to_f32(h.x); }
static inline __half __float2half_rn(float f) { return __half{cg_f32_to_f16(f)}; }
static inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float((uint32_t)h.x << 16); }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{(unsigned short)((x >> 16) | 0x40)};
  x += 0x7fff + ((x >> 16) & 1);
  return __nv_bfloat16{(unsigned short)(x >> 16)};
}

/* ---- fibers and the block scheduler ------------------------------------------- */

namespace cg_shim {

enum { READY, WAIT_BLOCK, WAIT_WARP, DONE };
enum { STACK = 64 * 1024, MAX_THREADS = 1024 };

struct fiber {
  ucontext_t ctx;
  uint3 tid;
  int state, warp, lane;
};

static fiber *fibers;          /* the block's threads */
static char *stacks;           /* MAX_THREADS stacks, mapped once */
static fiber *cur;
static ucontext_t sched;
static int n_threads, alive, block_arrived;
static int warp_alive[32], warp_arrived[32];
static unsigned long long slot[32][32]; /* shuffle exchange, per warp and lane */
static const void *kernel;
static void *args[256];
static int n_args;
static long long switches;
/* dynamic shared memory: one buffer, as blocks run one after another; the
   size of the largest opt-in on any card */
alignas(128) static unsigned char dyn_shared[256 << 10];

typedef void (*kfn16)(void *, void *, void *, void *, void *, void *, void *, void *, void *, void *,
                      void *, void *, void *, void *, void *, void *);
#define CG_T4 void *, void *, void *, void *
#define CG_T16 CG_T4, CG_T4, CG_T4, CG_T4
#define CG_T64 CG_T16, CG_T16, CG_T16, CG_T16
typedef void (*kfn256)(CG_T64, CG_T64, CG_T64, CG_T64);
#define CG_A4(i) a[i], a[i + 1], a[i + 2], a[i + 3]
#define CG_A16(i) CG_A4(i), CG_A4(i + 4), CG_A4(i + 8), CG_A4(i + 12)
#define CG_A64(i) CG_A16(i), CG_A16(i + 16), CG_A16(i + 32), CG_A16(i + 48)

static void release(int kind, int warp) {
  for (int i = 0; i < n_threads; i++)
    if (fibers[i].state == kind && (kind == WAIT_BLOCK || fibers[i].warp == warp)) fibers[i].state = READY;
}

static void yield_to_scheduler() {
  switches++;
  swapcontext(&cur->ctx, &sched);
}

static void block_barrier() {
  if (++block_arrived == alive) {
    block_arrived = 0;
    release(WAIT_BLOCK, 0);
    return;
  }
  cur->state = WAIT_BLOCK;
  yield_to_scheduler();
}

static void warp_barrier() {
  int w = cur->warp;
  if (++warp_arrived[w] == warp_alive[w]) {
    warp_arrived[w] = 0;
    release(WAIT_WARP, w);
    return;
  }
  cur->state = WAIT_WARP;
  yield_to_scheduler();
}

static void trampoline() {
  void *const *a = args;
  if (n_args <= 16) ((kfn16)kernel)(CG_A16(0));
  else ((kfn256)kernel)(CG_A64(0), CG_A64(64), CG_A64(128), CG_A64(192));
  /* this thread is gone: barriers now wait for one fewer */
  fiber *f = cur;
  f->state = DONE;
  alive--;
  warp_alive[f->warp]--;
  if (block_arrived > 0 && block_arrived == alive) {
    block_arrived = 0;
    release(WAIT_BLOCK, 0);
  }
  if (warp_arrived[f->warp] > 0 && warp_arrived[f->warp] == warp_alive[f->warp]) {
    warp_arrived[f->warp] = 0;
    release(WAIT_WARP, f->warp);
  }
}

template <typename T> static T shuffle(T v, int src) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  memcpy(&slot[cur->warp][cur->lane], &v, sizeof(T));
  warp_barrier();
  T r;
  memcpy(&r, &slot[cur->warp][src & 31], sizeof(T));
  warp_barrier(); /* nobody overwrites a slot before everyone has read */
  return r;
}

} /* namespace cg_shim */

#define threadIdx (cg_shim::cur->tid)
#define CG_DYN_SHARED(name) unsigned char *name = cg_shim::dyn_shared
static uint3 blockIdx;
static dim3 blockDim, gridDim;

static inline void __syncthreads() { cg_shim::block_barrier(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
  (void)mask;
  cg_shim::warp_barrier();
}

template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  (void)mask;
  int lane = cg_shim::cur->lane, src = lane ^ lane_mask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return cg_shim::shuffle(v, src);
}
template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)mask;
  int lane = cg_shim::cur->lane, src = lane + (int)delta;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return cg_shim::shuffle(v, src);
}
template <typename T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  (void)mask;
  int lane = cg_shim::cur->lane, src = lane - (int)delta;
  if (src < (lane & ~(width - 1))) src = lane;
  return cg_shim::shuffle(v, src);
}
template <typename T> static inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  (void)mask;
  int lane = cg_shim::cur->lane;
  return cg_shim::shuffle(v, (lane & ~(width - 1)) + (src_lane & (width - 1)));
}

/* ---- nvcuda::wmma --------------------------------------------------------------- */

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
enum layout_t { mem_row_major, mem_col_major };
namespace precision {
struct tf32 {};
}

template <typename Use, int M, int N, int K> struct shape_of;
template <int M, int N, int K> struct shape_of<matrix_a, M, N, K> { enum { R = M, C = K }; };
template <int M, int N, int K> struct shape_of<matrix_b, M, N, K> { enum { R = K, C = N }; };
template <int M, int N, int K> struct shape_of<accumulator, M, N, K> { enum { R = M, C = N }; };

template <typename T> struct elem_of { typedef T type; };
template <> struct elem_of<precision::tf32> { typedef float type; };

static inline float to_f(float v) { return v; }
static inline float to_f(__half v) { return __half2float(v); }
static inline float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

/* The whole R x C tile, row-major, in every thread. */
template <typename Use, int M, int N, int K, typename T, typename Layout = void> struct fragment {
  enum { R = shape_of<Use, M, N, K>::R, C = shape_of<Use, M, N, K>::C, num_elements = R * C };
  typename elem_of<T>::type x[R * C];
};

template <typename Use, int M, int N, int K, typename T, typename L, typename V>
static inline void fill_fragment(fragment<Use, M, N, K, T, L> &f, V v) {
  for (int i = 0; i < f.num_elements; i++) f.x[i] = v;
}

/* Loads and stores are warp-collective on the GPU: every lane moves its
   part at once. Here each lane moves the whole tile, so the lanes meet before
   and after: a load sees every earlier store of the warp, and a store
   happens after every lane's load (a read-modify-write of one tile by a
   warp, as an accumulator kept in shared memory does, is then applied once,
   not once per lane). */
template <typename Use, int M, int N, int K, typename T, typename P>
static inline void load_matrix_sync(fragment<Use, M, N, K, T, row_major> &f, const P *p, unsigned ldm) {
  typedef fragment<Use, M, N, K, T, row_major> F;
  cg_shim::warp_barrier();
  for (int r = 0; r < F::R; r++)
    for (int c = 0; c < F::C; c++) f.x[r * F::C + c] = p[r * ldm + c];
  cg_shim::warp_barrier();
}

template <typename Use, int M, int N, int K, typename T, typename P>
static inline void load_matrix_sync(fragment<Use, M, N, K, T, col_major> &f, const P *p, unsigned ldm) {
  typedef fragment<Use, M, N, K, T, col_major> F;
  cg_shim::warp_barrier();
  for (int r = 0; r < F::R; r++)
    for (int c = 0; c < F::C; c++) f.x[r * F::C + c] = p[c * ldm + r];
  cg_shim::warp_barrier();
}

template <int M, int N, int K>
static inline void load_matrix_sync(fragment<accumulator, M, N, K, float> &f, const float *p, unsigned ldm,
                                    layout_t l) {
  cg_shim::warp_barrier();
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) f.x[r * N + c] = l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r];
  cg_shim::warp_barrier();
}

template <int M, int N, int K>
static inline void store_matrix_sync(float *p, const fragment<accumulator, M, N, K, float> &f, unsigned ldm,
                                     layout_t l) {
  cg_shim::warp_barrier();
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * N + c];
  cg_shim::warp_barrier();
}

template <int M, int N, int K, typename TA, typename LA, typename TB, typename LB>
static inline void mma_sync(fragment<accumulator, M, N, K, float> &d, const fragment<matrix_a, M, N, K, TA, LA> &a,
                            const fragment<matrix_b, M, N, K, TB, LB> &b,
                            const fragment<accumulator, M, N, K, float> &c) {
  float out[M * N];
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = c.x[i * N + j];
      for (int k = 0; k < K; k++) s += to_f(a.x[i * K + k]) * to_f(b.x[k * N + j]);
      out[i * N + j] = s;
    }
  memcpy(d.x, out, sizeof out);
}

/* float -> tf32: 10 mantissa bits, round to nearest, ties away (cvt.rna). */
static inline float __float_to_tf32(float f) {
  uint32_t x = __float_as_uint(f);
  if ((x & 0x7f800000u) == 0x7f800000u) return f;
  x = (x + 0x1000u) & 0xffffe000u;
  return __uint_as_float(x);
}

} /* namespace wmma */
} /* namespace nvcuda */

/* ---- the launcher ------------------------------------------------------------------- */

/* Run fn over grid x block threads, blocks one after another. 0, or -1 with
 * the reason (bad arguments, a barrier deadlock) in err. */
extern "C" int cg_shim_launch(const void *fn, const unsigned *grid, const unsigned *block, int nargs,
                              void *const *argv, char *err, size_t err_size) {
  using namespace cg_shim;
  unsigned nt = block[0] * block[1] * block[2];
  if (nt == 0 || nt > MAX_THREADS || nargs < 0 || nargs > 256 || !fn) {
    snprintf(err, err_size, "bad launch: %u threads, %d arguments", nt, nargs);
    return -1;
  }
  if (!stacks) {
    void *m = mmap(NULL, (size_t)STACK * MAX_THREADS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    fibers = (fiber *)calloc(MAX_THREADS, sizeof(fiber));
    if (m == MAP_FAILED || !fibers) {
      snprintf(err, err_size, "cannot allocate fiber stacks");
      return -1;
    }
    stacks = (char *)m;
  }
  kernel = fn;
  n_args = nargs;
  memset(args, 0, sizeof args);
  for (int i = 0; i < nargs; i++) args[i] = argv[i];
  gridDim = dim3{grid[0], grid[1], grid[2]};
  blockDim = dim3{block[0], block[1], block[2]};
  n_threads = (int)nt;
  for (unsigned bz = 0; bz < grid[2]; bz++)
    for (unsigned by = 0; by < grid[1]; by++)
      for (unsigned bx = 0; bx < grid[0]; bx++) {
        blockIdx = uint3{bx, by, bz};
        alive = n_threads;
        block_arrived = 0;
        memset(warp_alive, 0, sizeof warp_alive);
        memset(warp_arrived, 0, sizeof warp_arrived);
        for (int i = 0; i < n_threads; i++) {
          fiber *f = &fibers[i];
          unsigned t = (unsigned)i;
          f->tid = uint3{t % block[0], (t / block[0]) % block[1], t / (block[0] * block[1])};
          f->warp = i / 32;
          f->lane = i % 32;
          f->state = READY;
          warp_alive[f->warp]++;
          getcontext(&f->ctx);
          f->ctx.uc_stack.ss_sp = stacks + (size_t)i * STACK;
          f->ctx.uc_stack.ss_size = STACK;
          f->ctx.uc_link = &sched;
          makecontext(&f->ctx, (void (*)())trampoline, 0);
        }
        /* sweeps alternate direction (and start differently per block), so
           a read of shared memory that misses a barrier sees stale data
           whichever thread writes it */
        int rev = (int)((bx + by + bz) & 1);
        for (;;) {
          int ran = 0, done = 1;
          rev ^= 1;
          for (int k = 0; k < n_threads; k++) {
            int i = rev ? n_threads - 1 - k : k;
            if (fibers[i].state == DONE) continue;
            done = 0;
            if (fibers[i].state != READY) continue;
            cur = &fibers[i];
            switches++;
            swapcontext(&sched, &fibers[i].ctx);
            ran = 1;
          }
          if (done) break;
          if (!ran) {
            int wb = 0, ww = 0;
            for (int i = 0; i < n_threads; i++) {
              wb += fibers[i].state == WAIT_BLOCK;
              ww += fibers[i].state == WAIT_WARP;
            }
            snprintf(err, err_size,
                     "deadlock in block (%u, %u, %u): %d threads wait at __syncthreads, %d at a warp shuffle, %d exited",
                     bx, by, bz, wb, ww, n_threads - alive);
            return -1;
          }
        }
      }
  return 0;
}

/* Context switches so far (a cost measure for tests). */
extern "C" long long cg_shim_switches(void) { return cg_shim::switches; }

#endif
