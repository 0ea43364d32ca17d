/*
 * test_codegen.c: the codegen harness (see test_codegen.h) and the tests of
 * the module's surface: cg_supported's answers, program assembly, launch
 * records, and an NVRTC compilation of the test programs whose CUBIN must
 * be for sm_90 and define every kernel (checked in the ELF symbol table) and
 * whose PTX must have every entry point, with the CUBIN from ptxas and, for
 * one program, from NVRTC when ptxas is turned off or missing.
 */
#include "test_codegen.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "rt_kernels.h"
#include "tst.h"

extern char **environ;

/* ---- the case registry ------------------------------------------------------- */

#define CGT_PROGS 3 /* two halves of the cases, and the tf32 ones */

static cgt_case **cases;
static int n_cases, cap_cases;
static cgt_builder builders[64];
static int n_builders;
static int built, ready;
static cg_program *progs[CGT_PROGS];
static void *sos[CGT_PROGS];

typedef int (*launch_fn)(const void *, const unsigned *, const unsigned *, int, void *const *, char *, size_t);
static launch_fn launchers[CGT_PROGS];

void cgt_register(cgt_builder fn) {
  if (n_builders < 64) builders[n_builders++] = fn;
}

cgt_case *cgt_new(const char *name) {
  if (n_cases == cap_cases) {
    cap_cases = cap_cases ? 2 * cap_cases : 128;
    cases = realloc(cases, sizeof *cases * (size_t)cap_cases);
    if (!cases) abort();
  }
  cgt_case *c = calloc(1, sizeof *c);
  if (!c) abort();
  snprintf(c->name, sizeof c->name, "%s", name);
  c->atol = 1e-5;
  c->rtol = 1e-5;
  cases[n_cases++] = c;
  return c;
}

int cgt_tensor(cgt_case *c, cg_dtype dt, cg_role role, const int64_t *dims, int rank) {
  if (c->nt == CGT_MAX_T) abort();
  int t = c->nt++;
  cg_tensor *T = &c->t[t];
  memset(T, 0, sizeof *T);
  T->dtype = dt;
  T->role = role;
  T->rank = rank;
  for (int d = 0; d < rank; d++) T->dims[d] = dims[d];
  T->align = 16;
  c->lo[t] = -2;
  c->hi[t] = 2;
  return t;
}

int cgt_node(cgt_case *c, cg_op op, const int *in, int nin, const int *out, int nout) {
  if (c->nn == CGT_MAX_N) abort();
  cg_node *n = &c->n[c->nn];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->n_in = nin;
  n->n_out = nout;
  for (int k = 0; k < nin; k++) n->in[k] = in[k];
  for (int k = 0; k < nout; k++) n->out[k] = out[k];
  return c->nn++;
}

void cgt_ia(cgt_case *c, int node, const int64_t *ia, int n) {
  c->n[node].n_ia = n;
  for (int k = 0; k < n; k++) c->n[node].ia[k] = ia[k];
}

void cgt_fa(cgt_case *c, int node, const float *fa, int n) {
  c->n[node].n_fa = n;
  for (int k = 0; k < n; k++) c->n[node].fa[k] = fa[k];
}

void cgt_inplace(cgt_case *c, int out, int in) {
  c->inplace[c->ninp][0] = out;
  c->inplace[c->ninp][1] = in;
  c->ninp++;
}

cgt_case *cgt_find(const char *name) {
  for (int i = 0; i < n_cases; i++)
    if (!strcmp(cases[i]->name, name)) return cases[i];
  return NULL;
}

static cg_group group_of(const cgt_case *c) {
  cg_group g;
  memset(&g, 0, sizeof g);
  g.name = c->name;
  g.tensors = c->t;
  g.n_tensors = c->nt;
  g.nodes = c->n;
  g.n_nodes = c->nn;
  memcpy(g.inplace, c->inplace, sizeof g.inplace);
  g.n_inplace = c->ninp;
  return g;
}

/* ---- building the shim programs --------------------------------------------------- */

static int write_file(const char *path, const char *a, const char *b) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  int ok = fputs(a, f) >= 0 && fputs(b, f) >= 0;
  return fclose(f) == 0 && ok ? 0 : -1;
}

static void build(void) {
  if (built) return;
  built = 1;
  for (int i = 0; i < n_builders; i++) builders[i]();
  for (int p = 0; p < CGT_PROGS; p++) {
    cg_options o = {90, 80, 2, p == 2};
    progs[p] = cg_program_create(&o);
  }
  int half = 0;
  for (int i = 0; i < n_cases; i++) {
    cgt_case *c = cases[i];
    c->prog = c->tf32 ? 2 : half++ % 2;
    cg_group g = group_of(c);
    if (cg_program_add(progs[c->prog], &g, &c->launch, c->err, sizeof c->err)) {
      if (!c->err[0]) snprintf(c->err, sizeof c->err, "cg_program_add failed without a reason");
    }
  }
  const char *dir = tst_tmpdir();
  const char *cxx = getenv("CXX");
  if (!cxx || !*cxx) cxx = "c++";
  pid_t pid[CGT_PROGS];
  char so[CGT_PROGS][600], log[CGT_PROGS][600];
  for (int p = 0; p < CGT_PROGS; p++) {
    char src[600], cmd[4096];
    snprintf(src, sizeof src, "%s/prog%d.cc", dir, p);
    snprintf(so[p], sizeof so[p], "%s/prog%d.so", dir, p);
    snprintf(log[p], sizeof log[p], "%s/prog%d.log", dir, p);
    pid[p] = -1;
    if (write_file(src, "#include \"cuda_shim.h\"\n", cg_program_source(progs[p]))) {
      fprintf(stderr, "cgt: cannot write %s\n", src);
      continue;
    }
    snprintf(cmd, sizeof cmd, "%s -std=c++17 -O1 -w -shared -fPIC -I'%s' -o '%s' '%s' 2>'%s'", cxx,
             tst_src("codegen/shim"), so[p], src, log[p]);
    char *argv[] = {"sh", "-c", cmd, NULL};
    if (posix_spawnp(&pid[p], "sh", NULL, NULL, argv, environ)) pid[p] = -1;
  }
  ready = 1;
  for (int p = 0; p < CGT_PROGS; p++) {
    int st = 0;
    if (pid[p] < 0 || waitpid(pid[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
      fprintf(stderr, "cgt: host compile of program %d failed; log:\n", p);
      FILE *f = fopen(log[p], "r");
      char line[512];
      for (int k = 0; f && k < 40 && fgets(line, sizeof line, f); k++) fputs(line, stderr);
      if (f) fclose(f);
      ready = 0;
      continue;
    }
    sos[p] = dlopen(so[p], RTLD_NOW | RTLD_LOCAL);
    if (!sos[p]) {
      fprintf(stderr, "cgt: dlopen: %s\n", dlerror());
      ready = 0;
      continue;
    }
    *(void **)&launchers[p] = dlsym(sos[p], "cg_shim_launch");
    if (!launchers[p]) ready = 0;
  }
  if (getenv("CGT_KEEP")) fprintf(stderr, "cgt: programs kept in %s\n", dir);
  else tst_rmtree(dir); /* the loaded objects stay mapped */
}

int cgt_ready(void) {
  build();
  return ready;
}

int cgt_n_programs(void) {
  build();
  return CGT_PROGS;
}

const char *cgt_program_source(int i) {
  build();
  return cg_program_source(progs[i]);
}

/* ---- running a case ------------------------------------------------------------------ */

#define GUARD 64

typedef struct hbuf {
  float *ref;    /* float tensors: float32 values (reference side) */
  void *raw;     /* the tensor in its dtype (inputs, injective results) */
  unsigned char *mem, *dev; /* shim side: allocation, aligned base */
  size_t bytes;
  int64_t n;
} hbuf;

static size_t es_of(cg_dtype dt) { return dt == CG_F32 ? 4 : dt == CG_I64 ? 8 : 2; }

static void to_f32(float *dst, const void *src, cg_dtype dt, int64_t n) {
  rt_to_f32(dst, src, (int)dt, (size_t)n);
}

static uint64_t seed_of(const char *name, int t) {
  uint64_t h = 1469598103934665603ull;
  for (const char *s = name; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h ^ (uint64_t)(t + 1) * 0x9E3779B97F4A7C15ull;
}

static void failf(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(int line, const char *fmt, ...) {
  static char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  CU_assertImplementation(CU_FALSE, line, msg, __FILE__, "", CU_FALSE);
}

/* The CPU reference: every node through rt_kernel_run. */
static int run_reference(cgt_case *c, hbuf *h) {
  for (int i = 0; i < c->nn; i++) {
    const cg_node *nd = &c->n[i];
    int inj = nd->op == CG_IDENTITY || nd->op == CG_DROPOUT || nd->op == CG_RESHAPE || nd->op == CG_FLATTEN ||
              nd->op == CG_SQUEEZE || nd->op == CG_UNSQUEEZE || nd->op == CG_TRANSPOSE || nd->op == CG_CONCAT ||
              nd->op == CG_SPLIT || nd->op == CG_SLICE || nd->op == CG_PAD || nd->op == CG_GATHER;
    /* a lone copy-like op moves bits; inside an elementwise chain it is math */
    inj = inj && (c->nn == 1 || (nd->op != CG_IDENTITY && nd->op != CG_DROPOUT));
    rt_view in[CG_MAX_NODE_IO], out[CG_MAX_NODE_IO];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    int nin = nd->op == CG_DROPOUT ? 1 : nd->n_in;
    for (int k = 0; k < nin + nd->n_out; k++) {
      int t = k < nin ? nd->in[k] : nd->out[k - nin];
      rt_view *v = k < nin ? &in[k] : &out[k - nin];
      if (t < 0) continue;
      const cg_tensor *T = &c->t[t];
      int raw = inj || T->dtype == CG_I64;
      v->data = raw ? h[t].raw : (void *)h[t].ref;
      v->dtype = raw ? (int)T->dtype : RT_F32;
      v->rank = T->rank;
      for (int d = 0; d < T->rank; d++) v->dims[d] = T->dims[d];
    }
    /* data movement of a value computed in the group (a Transpose after
     * attention, a permuted store): the value as the unfused graph would
     * have stored it */
    for (int k = 0; inj && k < nin; k++) {
      int t = nd->in[k];
      if (t >= 0 && c->t[t].role != CG_IN && c->t[t].dtype != CG_I64)
        rt_from_f32(h[t].raw, (int)c->t[t].dtype, h[t].ref, (size_t)h[t].n);
    }
    rt_kargs a = {(int)nd->op, nin, nd->n_out, in, out, nd->ia, nd->n_ia, nd->fa, nd->n_fa};
    size_t sb = rt_kernel_scratch(&a, NULL);
    void *scratch = sb ? aligned_alloc(64, (sb + 63) / 64 * 64) : NULL;
    char err[256] = "";
    rt_kctx ctx = {NULL, scratch, sb, err, sizeof err};
    int rc = rt_kernel_run(&ctx, &a);
    free(scratch);
    if (rc) {
      failf(__LINE__, "%s: CPU reference failed: %s", c->name, err);
      return -1;
    }
    for (int k = 0; k < nd->n_out; k++) {
      int t = nd->out[k];
      if (t < 0 || c->t[t].dtype == CG_I64) continue;
      if (inj) to_f32(h[t].ref, h[t].raw, c->t[t].dtype, h[t].n);
    }
  }
  return 0;
}

/* Gather with out-of-range indices: the CPU kernel refuses them, the GPU
 * writes zero rows. The reference uses index 0 there and zeroes the rows. */
static void gather_fixup(cgt_case *c, hbuf *h, int before) {
  const cg_node *nd = &c->n[0];
  int64_t *idx = h[nd->in[1]].raw, A = c->t[nd->in[0]].dims[nd->ia[0]];
  static int64_t saved[4096];
  int64_t n = h[nd->in[1]].n;
  if (before) {
    for (int64_t i = 0; i < n && i < 4096; i++) {
      saved[i] = idx[i];
      if (idx[i] < -A || idx[i] >= A) idx[i] = 0;
    }
    return;
  }
  const cg_tensor *X = &c->t[nd->in[0]];
  int64_t inner = 1, outer = 1;
  for (int d = (int)nd->ia[0] + 1; d < X->rank; d++) inner *= X->dims[d];
  for (int d = 0; d < nd->ia[0]; d++) outer *= X->dims[d];
  int yt = nd->out[0];
  size_t es = es_of(X->dtype);
  for (int64_t i = 0; i < n && i < 4096; i++) {
    idx[i] = saved[i];
    if (saved[i] >= -A && saved[i] < A) continue;
    for (int64_t o = 0; o < outer; o++)
      memset((char *)h[yt].raw + ((o * n + i) * inner) * (int64_t)es, 0, (size_t)inner * es);
  }
  if (X->dtype != CG_I64) to_f32(h[yt].ref, h[yt].raw, X->dtype, h[yt].n);
}

/* The shim's buffers before a launch: guards, inputs, outputs prefilled
 * (0xFF bytes, a NaN, unless the case wants zeros). */
static void shim_fill(const cgt_case *c, hbuf *h) {
  for (int t = 0; t < c->nt; t++) {
    const cg_tensor *T = &c->t[t];
    if (!h[t].mem) continue;
    size_t off = T->align < 16 ? T->align : 0;
    memset(h[t].mem, 0xA5, h[t].bytes + off + 2 * GUARD);
    if (T->role == CG_IN) memcpy(h[t].dev, h[t].raw, h[t].bytes);
    else memset(h[t].dev, c->prefill_zero ? 0x00 : 0xFF, h[t].bytes);
  }
}

static int launch_case(const cgt_case *c, hbuf *h, const uint32_t *grid) {
  void *argv[256];
  for (int i = 0; i < c->launch.n_args; i++) argv[i] = h[c->launch.arg_tensor[i]].dev;
  char err[512] = "";
  void *fn = dlsym(sos[c->prog], c->launch.name);
  if (!fn) {
    failf(__LINE__, "%s: kernel not found in the shared object", c->name);
    return 0;
  }
  if (launchers[c->prog](fn, grid, c->launch.block, c->launch.n_args, argv, err, sizeof err)) {
    failf(__LINE__, "%s: launch on %u blocks: %s", c->name, grid[0], err);
    return 0;
  }
  return 1;
}

/* Guards intact, inputs untouched (unless written in place), outputs
 * against the reference: bit for bit where data only moved. */
static void check_case(const cgt_case *c, hbuf *h, const int *produced_by_inj, const char *how) {
  const char *name = c->name;
  for (int t = 0; t < c->nt; t++) {
    const cg_tensor *T = &c->t[t];
    if (T->role == CG_FUSED) continue;
    int is_inplace_out = 0;
    for (int k = 0; k < c->ninp; k++) is_inplace_out |= c->inplace[k][0] == t || c->inplace[k][1] == t;
    if (h[t].mem) { /* guards */
      size_t off = T->align < 16 ? T->align : 0;
      for (size_t i = 0; i < GUARD + off; i++)
        if (h[t].mem[i] != 0xA5) {
          failf(__LINE__, "%s%s: tensor %d: write before its start", name, how, t);
          break;
        }
      for (size_t i = 0; i < GUARD; i++)
        if (h[t].dev[h[t].bytes + i] != 0xA5) {
          failf(__LINE__, "%s%s: tensor %d: write past its end", name, how, t);
          break;
        }
    }
    if (T->role == CG_IN && !is_inplace_out && memcmp(h[t].dev, h[t].raw, h[t].bytes))
      failf(__LINE__, "%s%s: input tensor %d was modified", name, how, t);
    if (T->role != CG_OUT) continue;
    if (produced_by_inj[t] || T->dtype == CG_I64) {
      size_t es = es_of(T->dtype);
      for (int64_t i = 0; i < h[t].n; i++)
        if (memcmp(h[t].dev + i * (int64_t)es, (char *)h[t].raw + i * (int64_t)es, es)) {
          failf(__LINE__, "%s%s: tensor %d element %lld differs (bit-exact data movement)", name, how, t,
                (long long)i);
          break;
        }
      CU_PASS("bits");
    } else {
      float *got = malloc(sizeof(float) * ((size_t)h[t].n + 1));
      to_f32(got, h[t].dev, T->dtype, h[t].n);
      double tol_r = c->rtol, tol_a = c->atol;
      if (T->dtype != CG_F32 && tol_r < 1e-2) tol_r = tol_a = 1e-2;
      double e = tst_err(got, h[t].ref, (size_t)h[t].n, tol_a, tol_r);
      if (!(e <= 1)) {
        for (int64_t i = 0; i < h[t].n; i++)
          if (tst_err(got + i, h[t].ref + i, 1, tol_a, tol_r) > 1) {
            failf(__LINE__, "%s%s: tensor %d element %lld of %lld: got %.9g want %.9g", name, how, t, (long long)i,
                  (long long)h[t].n, got[i], h[t].ref[i]);
            break;
          }
      } else {
        CU_PASS("close");
      }
      free(got);
    }
  }
}

void cgt_check(const char *name) {
  build();
  cgt_case *c = cgt_find(name);
  if (!c) {
    failf(__LINE__, "no case named %s", name);
    return;
  }
  if (c->err[0]) {
    failf(__LINE__, "%s: cg_program_add: %s", name, c->err);
    return;
  }
  if (!ready || !launchers[c->prog]) {
    failf(__LINE__, "%s: the shim programs did not build", name);
    return;
  }
  hbuf *h = calloc((size_t)c->nt, sizeof *h);
  int produced_by_inj[CGT_MAX_T] = {0};
  for (int i = 0; i < c->nn; i++) {
    int inj = c->n[i].op >= CG_RESHAPE || (c->nn == 1 && (c->n[i].op == CG_IDENTITY || c->n[i].op == CG_DROPOUT));
    /* bit for bit only when it moves inputs; moved computed values compare
     * within the tolerance */
    for (int k = 0; k < c->n[i].n_in; k++)
      if (c->n[i].in[k] >= 0 && c->t[c->n[i].in[k]].role != CG_IN) inj = 0;
    for (int k = 0; k < c->n[i].n_out; k++)
      if (c->n[i].out[k] >= 0) produced_by_inj[c->n[i].out[k]] = inj;
  }
  /* host data */
  for (int t = 0; t < c->nt; t++) {
    const cg_tensor *T = &c->t[t];
    int64_t n = 1;
    for (int d = 0; d < T->rank; d++) n *= T->dims[d];
    h[t].n = n;
    h[t].bytes = (size_t)n * es_of(T->dtype);
    h[t].raw = calloc(1, h[t].bytes + 8);
    h[t].ref = calloc((size_t)n + 1, sizeof(float));
    if (T->role != CG_IN) continue;
    float *tmp = malloc(sizeof(float) * ((size_t)n + 1));
    if (c->values[t]) memcpy(tmp, c->values[t], sizeof(float) * (size_t)n);
    else tst_fill_uniform(tmp, (size_t)n, c->lo[t], c->hi[t], seed_of(c->name, t));
    if (T->dtype == CG_I64) {
      for (int64_t i = 0; i < n; i++) ((int64_t *)h[t].raw)[i] = (int64_t)floorf(tmp[i]);
    } else {
      rt_from_f32(h[t].raw, (int)T->dtype, tmp, (size_t)n);
      to_f32(h[t].ref, h[t].raw, T->dtype, n);
    }
    free(tmp);
  }
  /* shim buffers */
  for (int t = 0; t < c->nt; t++) {
    const cg_tensor *T = &c->t[t];
    if (T->role == CG_FUSED) continue;
    int partner = -1;
    for (int k = 0; k < c->ninp; k++)
      if (c->inplace[k][0] == t) partner = c->inplace[k][1];
    if (partner >= 0) continue; /* set below, on its input's memory */
    size_t off = T->align < 16 ? T->align : 0;
    h[t].mem = aligned_alloc(64, (h[t].bytes + off + 2 * GUARD + 63) / 64 * 64);
    h[t].dev = h[t].mem + GUARD + off;
  }
  for (int k = 0; k < c->ninp; k++) h[c->inplace[k][0]].dev = h[c->inplace[k][1]].dev;
  if (c->expect_zero_rows) gather_fixup(c, h, 1);
  int ok = run_reference(c, h) == 0;
  if (c->expect_zero_rows) gather_fixup(c, h, 0);
  /* dynamic shared memory within what sm_80 / sm_90 cards let a block opt in to */
  if (c->launch.shared_bytes > 163 * 1024) {
    failf(__LINE__, "%s: %u bytes of dynamic shared memory", name, c->launch.shared_bytes);
    ok = 0;
  }
  /* Twice: on the grid codegen chose, then on one block, which walks
   * every tile of the grid-stride loop in turn (shared memory reused from
   * tile to tile is then checked even where the first grid covers the work) */
  uint32_t one[3] = {1, 1, 1};
  for (int pass = 0; ok && pass < 2; pass++) {
    const uint32_t *grid = pass ? one : c->launch.grid;
    if (pass && c->launch.grid[0] == 1) break;
    shim_fill(c, h);
    if (!launch_case(c, h, grid)) break;
    check_case(c, h, produced_by_inj, pass ? " (one block)" : "");
  }
  for (int t = 0; t < c->nt; t++) {
    free(h[t].raw);
    free(h[t].ref);
    free(h[t].mem);
  }
  free(h);
}

/* ---- tests of the module's surface ------------------------------------------------------ */

static cgt_case *scratch_case(const char *name) {
  static cgt_case c;
  memset(&c, 0, sizeof c);
  snprintf(c.name, sizeof c.name, "%s", name);
  return &c;
}

static void expect_unsupported(cgt_case *c, const char *needle) {
  cg_group g = group_of(c);
  char why[256] = "";
  int ok = cg_supported(&g, why, sizeof why);
  CU_ASSERT_FALSE(ok);
  if (!ok && !strstr(why, needle)) failf(__LINE__, "%s: reason '%s' does not mention '%s'", c->name, why, needle);
}

static void test_supported(void) {
  /* every single op of the set except MatMul and Gemm, alone */
  cgt_case *c = scratch_case("one");
  int x = CGT_T(c, CG_F32, CG_IN, 2, 3, 8, 8), y = CGT_T(c, CG_F32, CG_OUT, 2, 3, 8, 8);
  for (int op = 0; op < CG_OP_COUNT; op++) {
    if (op == CG_MATMUL || op == CG_GEMM) continue;
    c->nn = 0;
    c->nt = 2;
    c->t[y].role = CG_OUT;
    cg_group g;
    int n;
    switch (op) {
    case CG_ADD: case CG_SUB: case CG_MUL: case CG_DIV: case CG_POW: case CG_MAX: case CG_MIN: case CG_SUM:
      n = cgt_node(c, (cg_op)op, CGT_L(x, x), CGT_L(y));
      break;
    case CG_BATCH_NORM: {
      int p = CGT_T(c, CG_F32, CG_IN, 3);
      n = cgt_node(c, (cg_op)op, CGT_L(x, p, p, p, p), CGT_L(y));
      cgt_fa(c, n, CGT_FA(1e-5f));
      break;
    }
    case CG_LAYER_NORM: {
      int p = CGT_T(c, CG_F32, CG_IN, 8);
      n = cgt_node(c, (cg_op)op, CGT_L(x, p), CGT_L(y));
      cgt_ia(c, n, CGT_IA(3));
      cgt_fa(c, n, CGT_FA(1e-5f));
      break;
    }
    case CG_CONV: {
      int w = CGT_T(c, CG_F32, CG_IN, 3, 3, 1, 1);
      n = cgt_node(c, (cg_op)op, CGT_L(x, w), CGT_L(y));
      cgt_ia(c, n, CGT_IA(1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0));
      break;
    }
    case CG_MAX_POOL: case CG_AVERAGE_POOL:
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(y));
      cgt_ia(c, n, CGT_IA(3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0));
      break;
    case CG_GLOBAL_AVERAGE_POOL: case CG_GLOBAL_MAX_POOL: {
      c->t[y].role = CG_IN; /* this op writes z instead */
      int z = CGT_T(c, CG_F32, CG_OUT, 2, 3, 1, 1);
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(z));
      break;
    }
    case CG_REDUCE_MEAN: case CG_REDUCE_SUM: case CG_REDUCE_MAX: {
      c->t[y].role = CG_IN;
      int z = CGT_T(c, CG_F32, CG_OUT, 2, 3);
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(z));
      cgt_ia(c, n, CGT_IA(0, 2, 3));
      break;
    }
    case CG_TRANSPOSE:
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(y));
      cgt_ia(c, n, CGT_IA(0, 1, 3, 2));
      break;
    case CG_CONCAT: case CG_SPLIT:
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(y));
      cgt_ia(c, n, CGT_IA(1));
      break;
    case CG_SLICE:
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(y));
      cgt_ia(c, n, CGT_IA(0, 0, 0, 0, 1, 1, 1, 1));
      break;
    case CG_PAD:
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(y));
      cgt_ia(c, n, CGT_IA(0, 0, 0, 0, 0, 0, 0, 0));
      cgt_fa(c, n, CGT_FA(0));
      break;
    case CG_GATHER: {
      c->t[y].role = CG_IN;
      int i = CGT_T(c, CG_I64, CG_IN, 8), z = CGT_T(c, CG_F32, CG_OUT, 2, 3, 8, 8);
      n = cgt_node(c, (cg_op)op, CGT_L(x, i), CGT_L(z));
      cgt_ia(c, n, CGT_IA(3));
      break;
    }
    default:
      n = cgt_node(c, (cg_op)op, CGT_L(x), CGT_L(y));
      cgt_ia(c, n, CGT_IA(0, 0, 0));
      cgt_fa(c, n, CGT_FA(0.1f, 1.0f, 1.0f));
    }
    if (op == CG_SOFTMAX || op == CG_LOG_SOFTMAX) cgt_ia(c, n, CGT_IA(3));
    if (op == CG_LRN) cgt_ia(c, n, CGT_IA(3));
    g = group_of(c);
    char why[256] = "";
    int ok = cg_supported(&g, why, sizeof why);
    if (!ok) failf(__LINE__, "%s alone is not supported: %s", rt_op_name(op), why);
    CU_ASSERT_TRUE(ok);
  }
}

static void test_unsupported(void) {
  cgt_case *c = scratch_case("mm");
  int a = CGT_T(c, CG_F32, CG_IN, 4, 4), b = CGT_T(c, CG_F32, CG_OUT, 4, 4);
  cgt_node(c, CG_MATMUL, CGT_L(a, a), CGT_L(b));
  expect_unsupported(c, "cuBLASLt");

  c = scratch_case("two_anchors");
  a = CGT_T(c, CG_F32, CG_IN, 4, 8);
  int f = CGT_T(c, CG_F32, CG_FUSED, 4, 8);
  b = CGT_T(c, CG_F32, CG_OUT, 4, 8);
  int n = cgt_node(c, CG_SOFTMAX, CGT_L(a), CGT_L(f));
  cgt_ia(c, n, CGT_IA(1));
  n = cgt_node(c, CG_SOFTMAX, CGT_L(f), CGT_L(b));
  cgt_ia(c, n, CGT_IA(1));
  expect_unsupported(c, "two anchors");

  c = scratch_case("int_math");
  a = CGT_T(c, CG_I64, CG_IN, 4);
  b = CGT_T(c, CG_I64, CG_OUT, 4);
  cgt_node(c, CG_ADD, CGT_L(a, a), CGT_L(b));
  expect_unsupported(c, "int64");

  c = scratch_case("prologue_out");
  a = CGT_T(c, CG_F32, CG_IN, 4, 8);
  f = CGT_T(c, CG_F32, CG_OUT, 4, 8);
  b = CGT_T(c, CG_F32, CG_OUT, 4, 8);
  cgt_node(c, CG_RELU, CGT_L(a), CGT_L(f));
  n = cgt_node(c, CG_SOFTMAX, CGT_L(f), CGT_L(b));
  cgt_ia(c, n, CGT_IA(1));
  expect_unsupported(c, "CG_FUSED");

  c = scratch_case("bad_bcast");
  a = CGT_T(c, CG_F32, CG_IN, 4, 8);
  f = CGT_T(c, CG_F32, CG_IN, 3);
  b = CGT_T(c, CG_F32, CG_OUT, 4, 8);
  cgt_node(c, CG_ADD, CGT_L(a, f), CGT_L(b));
  expect_unsupported(c, "broadcast");

  c = scratch_case("pool_inplace");
  a = CGT_T(c, CG_F32, CG_IN, 1, 2, 5, 5);
  b = CGT_T(c, CG_F32, CG_OUT, 1, 2, 5, 5);
  n = cgt_node(c, CG_MAX_POOL, CGT_L(a), CGT_L(b));
  cgt_ia(c, n, CGT_IA(3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0));
  cgt_inplace(c, b, a);
  expect_unsupported(c, "over its input");

  c = scratch_case("transpose_inplace");
  a = CGT_T(c, CG_F32, CG_IN, 4, 4);
  b = CGT_T(c, CG_F32, CG_OUT, 4, 4);
  n = cgt_node(c, CG_TRANSPOSE, CGT_L(a), CGT_L(b));
  cgt_ia(c, n, CGT_IA(1, 0));
  cgt_inplace(c, b, a);
  expect_unsupported(c, "in place");

  c = scratch_case("bad name");
  a = CGT_T(c, CG_F32, CG_IN, 4);
  b = CGT_T(c, CG_F32, CG_OUT, 4);
  cgt_node(c, CG_RELU, CGT_L(a), CGT_L(b));
  expect_unsupported(c, "identifier");
}

static void test_program(void) {
  cg_options o = {90, 80, 132, 0};
  cg_program *p = cg_program_create(&o);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  cgt_case *c = scratch_case("relu_k");
  int a = CGT_T(c, CG_F32, CG_IN, 1000, 1000), b = CGT_T(c, CG_F16, CG_OUT, 1000, 1000);
  cgt_node(c, CG_RELU, CGT_L(a), CGT_L(b));
  cg_group g = group_of(c);
  cg_launch L;
  char err[256];
  CU_ASSERT_EQUAL(cg_program_add(p, &g, &L, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(L.name, "relu_k");
  CU_ASSERT_EQUAL(L.n_args, 2);
  CU_ASSERT_EQUAL(L.arg_tensor[0], 0);
  CU_ASSERT_EQUAL(L.arg_tensor[1], 1);
  CU_ASSERT_EQUAL(L.block[0], 256);
  CU_ASSERT(L.grid[0] >= 1 && L.grid[0] <= 132 * 8); /* capped by num_sms: grid-stride */
  /* a second kernel of the same name is refused, and the program unchanged */
  size_t len = strlen(cg_program_source(p));
  CU_ASSERT_EQUAL(cg_program_add(p, &g, &L, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "already"));
  CU_ASSERT_EQUAL(strlen(cg_program_source(p)), len);
  /* the same kernel under another name is not emitted twice */
  g.name = "relu_k2";
  CU_ASSERT_EQUAL(cg_program_add(p, &g, &L, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(L.name, "relu_k");
  CU_ASSERT_EQUAL(strlen(cg_program_source(p)), len);
  CU_ASSERT_EQUAL(cg_program_add(p, &g, &L, err, sizeof err), -1); /* names stay unique */
  c->t[1].dims[1] = 999; /* another shape: a new kernel */
  c->t[0].dims[1] = 999;
  g.name = "relu_k3";
  CU_ASSERT_EQUAL(cg_program_add(p, &g, &L, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(L.name, "relu_k3");
  const char *src = cg_program_source(p);
  CU_ASSERT_PTR_NOT_NULL(strstr(src, "extern \"C\" __global__ void __launch_bounds__(256) relu_k("));
  CU_ASSERT_PTR_NOT_NULL(strstr(src, "extern \"C\" __global__ void __launch_bounds__(256) relu_k3("));
  CU_ASSERT_PTR_NULL(strstr(src, "relu_k2"));
  /* float32 in, float16 out: vectors of 4 (16-byte loads, 8-byte stores) */
  CU_ASSERT_PTR_NOT_NULL(strstr(src, "cg_ldv4_f32(v0"));
  CU_ASSERT_PTR_NOT_NULL(strstr(src, "cg_stv4_f16(p1"));
  CU_ASSERT_PTR_NULL(strstr(src, "use_fast_math"));
  cg_program_destroy(p);
}

/* ELF64 symbol names of a CUBIN (section type SHT_SYMTAB). */
static int cubin_has_symbol(const uint8_t *elf, size_t n, const char *name) {
  if (n < 64 || memcmp(elf, "\x7f" "ELF", 4) || elf[4] != 2) return 0;
  uint64_t shoff;
  uint16_t shentsize, shnum;
  memcpy(&shoff, elf + 0x28, 8);
  memcpy(&shentsize, elf + 0x3A, 2);
  memcpy(&shnum, elf + 0x3C, 2);
  for (int i = 0; i < shnum; i++) {
    const uint8_t *sh = elf + shoff + (size_t)i * shentsize;
    if (shoff + (size_t)(i + 1) * shentsize > n) return 0;
    uint32_t type, link;
    uint64_t off, size, entsize;
    memcpy(&type, sh + 4, 4);
    memcpy(&off, sh + 0x18, 8);
    memcpy(&size, sh + 0x20, 8);
    memcpy(&link, sh + 0x28, 4);
    memcpy(&entsize, sh + 0x38, 8);
    if (type != 2 || !entsize) continue; /* SHT_SYMTAB */
    const uint8_t *strsh = elf + shoff + (size_t)link * shentsize;
    uint64_t stroff;
    memcpy(&stroff, strsh + 0x18, 8);
    for (uint64_t s = 0; s + entsize <= size; s += entsize) {
      uint32_t nm;
      memcpy(&nm, elf + off + s, 4);
      if (stroff + nm < n && !strcmp((const char *)elf + stroff + nm, name)) return 1;
    }
  }
  return 0;
}

static void test_nvrtc(void) {
  if (!cg_have_nvrtc()) {
    cg_program *p = cg_program_create(NULL);
    cg_binary bin;
    char log[256];
    CU_ASSERT_EQUAL(cg_program_compile(p, &bin, log, sizeof log), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "NVRTC"));
    cg_program_destroy(p);
    return;
  }
  build();
  /* program 0 also through the fallbacks: NVRTC for the CUBIN when ptxas is
   * turned off or missing */
  const char *ptxas_env[] = {NULL, "", "/nonexistent/ptxas"};
  for (int run = 0; run < CGT_PROGS + 2; run++) {
    int p = run < CGT_PROGS ? run : 0;
    const char *env = run < CGT_PROGS ? NULL : ptxas_env[run - CGT_PROGS + 1];
    if (env) setenv("DLC_PTXAS", env, 1);
    cg_binary bin;
    char log[8192];
    int rc = cg_program_compile(progs[p], &bin, log, sizeof log);
    if (env) unsetenv("DLC_PTXAS");
    if (rc) failf(__LINE__, "NVRTC failed on program %d: %s", p, log);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT(bin.cubin_bytes > 0 && bin.ptx_bytes > 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(bin.ptx, ".target sm_80"));
    /* an sm_90 CUBIN: the ELF flags carry the SM number */
    uint32_t flags = 0;
    if (bin.cubin_bytes > 0x34) memcpy(&flags, bin.cubin + 0x30, 4);
    CU_ASSERT_EQUAL((flags >> 8) & 0xff, 90);
    for (int i = 0; i < n_cases; i++) {
      if (cases[i]->prog != p || cases[i]->err[0]) continue;
      const char *entry_name = cases[i]->launch.name;
      if (!cubin_has_symbol(bin.cubin, bin.cubin_bytes, entry_name))
        failf(__LINE__, "kernel %s missing from the CUBIN", entry_name);
      char entry[160];
      snprintf(entry, sizeof entry, ".entry %s(", entry_name);
      if (!strstr(bin.ptx, entry)) failf(__LINE__, "kernel %s missing from the PTX", entry_name);
    }
    cg_binary_free(&bin);
  }
  /* an error comes back with the log and the offending source line: a
   * kernel named like a CUDA math function clashes with it */
  cg_program *p = cg_program_create(NULL);
  cgt_case *c = scratch_case("expf");
  int a = CGT_T(c, CG_F32, CG_IN, 4), b = CGT_T(c, CG_F32, CG_OUT, 4);
  cgt_node(c, CG_RELU, CGT_L(a), CGT_L(b));
  cg_group g = group_of(c);
  cg_launch L;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(cg_program_add(p, &g, &L, err, sizeof err), 0);
  cg_binary bin;
  char log[8192];
  CU_ASSERT_EQUAL(cg_program_compile(p, &bin, log, sizeof log), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(log, "error"));
  CU_ASSERT_PTR_NOT_NULL(strstr(log, "line "));
  CU_ASSERT_PTR_NOT_NULL(strstr(log, "void __launch_bounds__(256) expf("));
  CU_ASSERT_PTR_NULL(bin.cubin);
  cg_program_destroy(p);
}

TST_SUITE(codegen, TST(test_supported), TST(test_unsupported), TST(test_program), TST(test_nvrtc))
