/*
 * kfix_text.h: the text fixtures of the GEMM and Conv kernel tests
 * (tests/fixtures/kernels/{gemm,conv}.txt, written with NumPy by
 * tests/fixtures/gen_gemm_conv_fixtures.py, which documents the format):
 * per case an op, its attributes, inputs and expected outputs as numbers.
 *
 * Header-only (static inline) so each test file includes it on its own.
 */
#ifndef KFIX_TEXT_H
#define KFIX_TEXT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_kernels.h"
#include "tst.h"

#define FX_MAX_T 4
typedef struct {
  char name[64], op[32];
  int n_ia, n_fa, n_in, n_out;
  int64_t ia[16];
  float fa[4];
  rt_view t[FX_MAX_T]; /* inputs then expected outputs; data NULL when absent */
} fx_case;

/* Read the next case of a fixture file; 0 at the end. */
static inline int fx_read(FILE *f, fx_case *c) {
  char word[64];
  for (;;) {
    if (fscanf(f, " %63s", word) != 1) return 0;
    if (word[0] == '#') { /* comment to the end of the line */
      int ch;
      while ((ch = fgetc(f)) != EOF && ch != '\n') {}
      continue;
    }
    break;
  }
  CU_ASSERT_FATAL(strcmp(word, "case") == 0);
  CU_ASSERT_FATAL(fscanf(f, " %63s %31s %d", c->name, c->op, &c->n_ia) == 3);
  CU_ASSERT_FATAL(c->n_ia >= 0 && c->n_ia <= 16);
  for (int i = 0; i < c->n_ia; i++) {
    long long v;
    CU_ASSERT_FATAL(fscanf(f, "%lld", &v) == 1);
    c->ia[i] = v;
  }
  CU_ASSERT_FATAL(fscanf(f, "%d", &c->n_fa) == 1 && c->n_fa >= 0 && c->n_fa <= 4);
  for (int i = 0; i < c->n_fa; i++) CU_ASSERT_FATAL(fscanf(f, "%f", &c->fa[i]) == 1);
  CU_ASSERT_FATAL(fscanf(f, "%d %d", &c->n_in, &c->n_out) == 2);
  CU_ASSERT_FATAL(c->n_in + c->n_out <= FX_MAX_T);
  for (int i = 0; i < c->n_in + c->n_out; i++) {
    int rank;
    CU_ASSERT_FATAL(fscanf(f, " t %d", &rank) == 1 && rank <= RT_MAX_RANK);
    rt_view v = {NULL, RT_F32, rank < 0 ? 0 : rank, {0}};
    for (int d = 0; d < rank; d++) {
      long long x;
      CU_ASSERT_FATAL(fscanf(f, "%lld", &x) == 1);
      v.dims[d] = x;
    }
    if (rank >= 0) {
      int64_t n = rt_numel(rank, v.dims);
      float *p = malloc((size_t)(n + 1) * sizeof(float));
      for (int64_t e = 0; e < n; e++) CU_ASSERT_FATAL(fscanf(f, "%f", &p[e]) == 1);
      v.data = p;
    }
    c->t[i] = v;
  }
  return 1;
}

static inline void fx_free(fx_case *c) {
  for (int i = 0; i < c->n_in + c->n_out; i++) free(c->t[i].data);
}

#endif
