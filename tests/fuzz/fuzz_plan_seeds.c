/*
 * fuzz_plan_seeds.c: writes a seed for fuzz_plan: a model compiled with
 * compile_model(), serialised with rt_plan_serialize(), behind fuzz_plan's
 * control byte 0x00 (fix size and checksum, zero inputs). Not a fuzzer; it
 * exists because seeds must be real plans and dlc may not be built.
 *
 *   fuzz_plan_seeds OUT MODEL.yaml [NAME=VALUE]...   (dims, like dlc --dim)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

int main(int argc, char **argv) {
  if (argc < 3 || argc > 3 + 64) {
    fprintf(stderr, "usage: %s OUT MODEL.yaml [NAME=VALUE]...\n", argv[0]);
    return 1;
  }
  model_dim_override dims[64];
  int n_dims = 0;
  for (int i = 3; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || eq == argv[i] || atoll(eq + 1) <= 0) {
      fprintf(stderr, "%s: expected NAME=VALUE, got '%s'\n", argv[0], argv[i]);
      return 1;
    }
    *eq = 0;
    dims[n_dims++] = (model_dim_override){argv[i], atoll(eq + 1)};
  }
  compile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.model_path = argv[2];
  opt.time_limit_s = 1.0;
  opt.model.dim_overrides = dims;
  opt.model.n_dim_overrides = n_dims;
  compile_result r;
  if (compile_model(&opt, &r, stderr) != 0) {
    compile_free(&r);
    return 1;
  }
  uint8_t *buf;
  size_t size;
  char err[512];
  if (rt_plan_serialize(r.plan, &buf, &size, err, sizeof err) != 0) {
    fprintf(stderr, "%s: %s\n", argv[0], err);
    compile_free(&r);
    return 1;
  }
  compile_free(&r);
  FILE *f = fopen(argv[1], "wb");
  int ok = f && fputc(0, f) != EOF && fwrite(buf, 1, size, f) == size;
  if (f && fclose(f) != 0) ok = 0;
  free(buf);
  if (!ok) {
    fprintf(stderr, "%s: cannot write %s\n", argv[0], argv[1]);
    return 1;
  }
  return 0;
}
