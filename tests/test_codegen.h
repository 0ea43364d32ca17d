/*
 * test_codegen.h: the codegen tests' harness (tests/test_codegen.c).
 *
 * A test file describes groups as cases with the builder below, inside
 * functions it registers with CGT_BUILDERS(). The first check builds every
 * registered case, puts them in a few programs, compiles each with the host
 * compiler against codegen/shim/cuda_shim.h into a shared object (in
 * parallel: this is the slow part, done once per run) and loads them.
 *
 * cgt_check(name) then runs one case: random inputs (tst_fill_uniform, in the
 * case's ranges, rounded to the tensor's dtype), the group's nodes one by one
 * through the runtime's CPU kernels (fused intermediates in float32 host
 * buffers, as the kernel keeps them in registers), the generated kernel on
 * the shim (bases offset to the tensor's declared alignment, outputs
 * prefilled with NaN bytes and followed by a guard zone, in-place outputs on
 * their input's memory), and compares: float outputs within the case's
 * tolerance, data movement bit for bit, guards and inputs untouched. The
 * kernel runs twice: on the grid codegen chose and on a single block, which
 * then walks every tile of its grid-stride loop and so reuses its shared
 * memory from tile to tile (a missing barrier there shows).
 */
#ifndef TEST_CODEGEN_H
#define TEST_CODEGEN_H

#include <stddef.h>
#include <stdint.h>

#include "cg.h"

#define CGT_MAX_T 300
#define CGT_MAX_N 24

typedef struct cgt_case {
  char name[96];
  cg_tensor t[CGT_MAX_T];
  int nt;
  cg_node n[CGT_MAX_N];
  int nn;
  int inplace[8][2];
  int ninp;
  float lo[CGT_MAX_T], hi[CGT_MAX_T]; /* input value ranges */
  double atol, rtol;
  int tf32;          /* compile with cg_options.allow_tf32 */
  int expect_zero_rows; /* Gather: out-of-range indices, CPU reference refuses */
  const float *values[CGT_MAX_T]; /* an input's exact values (rounded to its dtype), else random */
  int prefill_zero;  /* outputs start as zeros, not NaN: a NaN result must be written */
  /* filled by the harness */
  cg_launch launch;
  int prog;
  char err[1024];
} cgt_case;

/* Builder. Tensors default to CG_IN/CG_OUT/CG_FUSED as given, align 16,
 * inputs in [-2, 2). */
cgt_case *cgt_new(const char *name);
int cgt_tensor(cgt_case *c, cg_dtype dt, cg_role role, const int64_t *dims, int rank);
int cgt_node(cgt_case *c, cg_op op, const int *in, int nin, const int *out, int nout);
void cgt_ia(cgt_case *c, int node, const int64_t *ia, int n);
void cgt_fa(cgt_case *c, int node, const float *fa, int n);
void cgt_inplace(cgt_case *c, int out, int in);

#define CGT_D(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define CGT_L(...) (const int[]){__VA_ARGS__}, (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int))
#define CGT_IA(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define CGT_FA(...) (const float[]){__VA_ARGS__}, (int)(sizeof((const float[]){__VA_ARGS__}) / sizeof(float))

/* Shorthands: tensor of dtype dt and role r with the given dims. */
#define CGT_T(c, dt, r, ...) cgt_tensor((c), (dt), (r), CGT_D(__VA_ARGS__))

typedef void (*cgt_builder)(void);
void cgt_register(cgt_builder fn);
#define CGT_BUILDERS(tag, ...)                                                 \
  __attribute__((constructor)) static void tag##_cgt_register_(void) {         \
    cgt_builder fns_[] = {__VA_ARGS__};                                        \
    for (size_t i_ = 0; i_ < sizeof fns_ / sizeof fns_[0]; i_++)               \
      cgt_register(fns_[i_]);                                                  \
  }

/* Run a case and assert on it (CUnit). */
void cgt_check(const char *name);
/* The case of that name (after the build), or NULL. */
cgt_case *cgt_find(const char *name);
/* The programs' sources, for the NVRTC test: count and text. */
int cgt_n_programs(void);
const char *cgt_program_source(int i);
/* Programs built (0 when the host compiler failed; the reason is printed). */
int cgt_ready(void);

#endif
