/*
 * test_planner_cli.c: `dlc plan-buffers` (plan_buffers_main) end to end, and
 * the SVG picture: its structure, escaping, labels that show only where they
 * fit, and its size and width on a 1000-step plan.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "csv.h"
#include "svg.h"
#include "synth.h"
#include "tst.h"
#include "verify.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 22);
  size_t n = fread(buf, 1, (1 << 22) - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void put(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

/* Runs plan_buffers_main with stdout and stderr captured into *out, *err
 * (malloc'ed). Returns its exit status. */
static int run(const char *dir, int argc, char **argv, char **out, char **err) {
  char po[600], pe[600];
  snprintf(po, sizeof po, "%s/stdout.txt", dir);
  snprintf(pe, sizeof pe, "%s/stderr.txt", dir);
  fflush(stdout);
  fflush(stderr);
  int so = dup(1), se = dup(2);
  int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644),
      fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fo, 1);
  dup2(fe, 2);
  int rc = plan_buffers_main(argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(so, 1);
  dup2(se, 2);
  close(so);
  close(se);
  close(fo);
  close(fe);
  *out = slurp(po);
  *err = slurp(pe);
  unlink(po);
  unlink(pe);
  return rc;
}

static void test_cli_ok(void) {
  const char *dir = tst_tmpdir();
  char in[600], out[600], svg[600];
  snprintf(in, sizeof in, "%s/in.csv", dir);
  snprintf(out, sizeof out, "%s/out.csv", dir);
  snprintf(svg, sizeof svg, "%s/plan.svg", dir);
  /* example.12 plus a buffer of 0 bytes */
  put(in, "id,lower,upper,size\nb1,0,3,4\nb2,3,9,4\nb3,0,9,4\nb4,9,21,4\nb5,0,21,4\nz,1,2,0\n");
  char *argv[] = {"plan-buffers", in, "-o", out, "--svg", svg, "--alignment", "8"};
  char *so, *se;
  CU_ASSERT_EQUAL(run(dir, 8, argv, &so, &se), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(so, "6 buffers, alignment 8"));
  CU_ASSERT_PTR_NOT_NULL(strstr(so, "peak         24 B (24 B)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(so, "lower bound  24 B (24 B)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(so, "gap          0.00%"));
  CU_ASSERT_PTR_NOT_NULL(strstr(so, "(optimal)"));
  CU_ASSERT_STRING_EQUAL(se, "");
  free(so);
  free(se);
  plan_csv c;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(plan_csv_read(out, &c, err, sizeof err), 0);
  CU_ASSERT(c.has_offset);
  CU_ASSERT_EQUAL(c.n, 6);
  CU_ASSERT_STRING_EQUAL(c.ids[5], "z");
  plan_vtensor t[6];
  for (size_t i = 0; i < c.n; i++) {
    t[i] = (plan_vtensor){c.ids[i],        c.bufs[i].offset,  c.bufs[i].size,
                          c.bufs[i].begin, c.bufs[i].end - 1, -1,
                          PLAN_ALIAS_NONE};
    CU_ASSERT_EQUAL(c.bufs[i].offset % 8, 0);
  }
  CU_ASSERT_EQUAL(plan_verify(t, c.n, NULL, 0, 24, 8, err, sizeof err), 0);
  plan_csv_free(&c);
  char *pic = slurp(svg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pic);
  CU_ASSERT_PTR_NOT_NULL(strstr(pic, "<svg"));
  CU_ASSERT_PTR_NOT_NULL(strstr(pic, "<title>b5: 4 B (4 B), steps 0..20"));
  free(pic);
  /* the baseline on the same file */
  char *argv2[] = {"plan-buffers", in, "--greedy"};
  CU_ASSERT_EQUAL(run(dir, 3, argv2, &so, &se), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(so, "method       greedy-by-size"));
  free(so);
  free(se);
  char *argv3[] = {"plan-buffers", "--help"};
  CU_ASSERT_EQUAL(run(dir, 2, argv3, &so, &se), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(so, "usage: dlc plan-buffers IN.csv"));
  free(so);
  free(se);
  tst_rmtree(dir);
}

static void test_cli_errors(void) {
  const char *dir = tst_tmpdir();
  char in[600], out[600];
  snprintf(in, sizeof in, "%s/in.csv", dir);
  snprintf(out, sizeof out, "%s/out.csv", dir);
  put(in, "id,lower,upper,size\nb1,0,3,4\nb1,3,9,4\n");
  put(out, "previous\n");
  char *so, *se;
  char *a1[] = {"plan-buffers", in, "-o", out};
  CU_ASSERT_EQUAL(run(dir, 4, a1, &so, &se), 1);
  char want[800];
  snprintf(want, sizeof want, "dlc plan-buffers: %s:3: duplicate id b1 (first on line 2)\n", in);
  CU_ASSERT_STRING_EQUAL(se, want);
  CU_ASSERT_STRING_EQUAL(so, "");
  free(so);
  free(se);
  char *kept = slurp(out); /* an error leaves the old output alone */
  CU_ASSERT_STRING_EQUAL(kept, "previous\n");
  free(kept);
  static const struct {
    int argc;
    char *argv[4];
    const char *want;
  } bad[] = {
      {1, {"plan-buffers"}, "dlc plan-buffers: no input file\n"},
      {3, {"plan-buffers", "x.csv", "--alignment"}, "unknown option or missing value: --alignment"},
      {4,
       {"plan-buffers", "x.csv", "--alignment", "12"},
       "--alignment 12: expected a power of two"},
      {4, {"plan-buffers", "x.csv", "--time-limit", "-1"}, "--time-limit -1: expected seconds"},
      {3, {"plan-buffers", "x.csv", "y.csv"}, "more than one input file: x.csv and y.csv"},
      {3, {"plan-buffers", "x.csv", "--fast"}, "unknown option or missing value: --fast"},
      {2, {"plan-buffers", "/nonexistent/x.csv"}, "/nonexistent/x.csv: No such file or directory"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    CU_ASSERT_EQUAL(run(dir, bad[k].argc, (char **)bad[k].argv, &so, &se), 1);
    char note[600];
    snprintf(note, sizeof note, "case %zu: stderr '%s' lacks '%s'", k, se, bad[k].want);
    CU_assertImplementation(strstr(se, bad[k].want) != NULL, __LINE__, note, __FILE__, "",
                            CU_FALSE);
    free(so);
    free(se);
  }
  tst_rmtree(dir);
}

static size_t count(const char *s, const char *what) {
  size_t k = 0;
  for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) k++;
  return k;
}

static char *draw(const plan_svg_rect *r, size_t n, const plan_svg_info *info) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_EQUAL(plan_svg_write(f, r, n, info), 0);
  fclose(f);
  return buf;
}

static void test_svg_small(void) {
  plan_svg_rect r[] = {
      {"big", 0, 600 << 10, 0, 9, PLAN_SVG_INPUT},
      {"tiny", 600 << 10, 4, 3, 3, PLAN_SVG_WORKSPACE},
      {"a<b&c", 600 << 10, 400 << 10, 0, 1, PLAN_SVG_OUTPUT},
      {"v", 0, 100 << 10, 2, 5, PLAN_SVG_ALIAS},
  };
  plan_svg_info info = {"net <1>", 1 << 20, 1000 << 10};
  char *s = draw(r, 4, &info);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_EQUAL(strncmp(s, "<?xml", 5), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "</svg>\n"));
  CU_ASSERT_EQUAL(count(s, "<title>"), 4);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "net &lt;1&gt;"));
  CU_ASSERT_PTR_NOT_NULL(strstr(
      s, "<title>a&lt;b&amp;c: 400 KiB (409600 B), steps 0..1, offset 614400, output</title>"));
  CU_ASSERT_PTR_NULL(strstr(s, "a<b"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, ">big</text>"));      /* fits */
  CU_ASSERT_PTR_NULL(strstr(s, ">tiny</text>"));         /* 4 bytes: far too thin */
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "<title>tiny: 4 B")); /* but it has its tooltip */
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "lower bound 1000 KiB"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "slab 1 MiB"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "gap 2.40%"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "class=\"k3\""));
  /* the alias is drawn last, on top */
  const char *v = strstr(s, "<title>v:"), *big = strstr(s, "<title>big:");
  CU_ASSERT(v && big && v > big);
  free(s);
  char b[32];
  CU_ASSERT_STRING_EQUAL(plan_svg_bytes(512, b, sizeof b), "512 B");
  CU_ASSERT_STRING_EQUAL(plan_svg_bytes(1536, b, sizeof b), "1.5 KiB");
  CU_ASSERT_STRING_EQUAL(plan_svg_bytes(9633792, b, sizeof b), "9.19 MiB");
  CU_ASSERT_STRING_EQUAL(plan_svg_bytes(0, b, sizeof b), "0 B");
  /* an empty plan is still a picture */
  s = draw(NULL, 0, NULL);
  CU_ASSERT_PTR_NOT_NULL(strstr(s, "memory plan"));
  free(s);
}

/* A DenseNet-sized plan: about 1000 tensors over 800 steps. */
static void test_svg_large(void) {
  enum { N = 1000 };
  plan_buf b[N];
  plan_synth_chain(b, N, 9);
  plan_opts o = {256, 0, 0};
  plan_result res;
  char err[256];
  CU_ASSERT_EQUAL_FATAL(plan_place(b, N, &o, &res, err, sizeof err), 0);
  plan_svg_rect r[N];
  char names[N][16];
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "t%d", i);
    r[i] = (plan_svg_rect){names[i],     b[i].offset,
                           b[i].size,    b[i].begin,
                           b[i].end - 1, i % 5 == 0 ? PLAN_SVG_WORKSPACE : PLAN_SVG_ACTIVATION};
  }
  plan_svg_info info = {"chain", res.peak, res.lower_bound};
  char *s = draw(r, N, &info);
  size_t len = strlen(s);
  CU_ASSERT(len < 400000); /* reasonable: ~250 bytes per tensor */
  CU_ASSERT_EQUAL(count(s, "<title>"), N);
  double w = 0;
  CU_ASSERT_EQUAL(
      sscanf(strstr(s, "<svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%lf\"", &w), 1);
  CU_ASSERT(w >= 2000 && w <= 2600); /* wide, but bounded */
  size_t labels = count(s, "class=\"l\"");
  CU_ASSERT(labels > 0 && labels < N); /* some fit, not all */
  free(s);
}

TST_SUITE(planner_cli, TST(test_cli_ok), TST(test_cli_errors), TST(test_svg_small),
          TST(test_svg_large))
