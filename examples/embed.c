/*
 * embed.c: a C program running a dlc plan through libdlrt.
 *
 *   dlc models/mlp/mlp.yaml -o mlp.plan
 *   cc examples/embed.c $(pkg-config --cflags --libs dlrt) -o embed
 *   ./embed mlp.plan
 *
 * It lists the plan's inputs and outputs, fills every float32 input with a
 * fixed pattern, runs one batch, and prints the first values of each output.
 */
#include <dlrt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PLAN\n", argv[0]);
    return 1;
  }
  char err[1024];
  dlrt_model *m = dlrt_load(argv[1], NULL, err, sizeof err);
  if (!m) {
    fprintf(stderr, "embed: %s\n", err);
    return 1;
  }
  printf("backend %s (%s)\n", dlrt_backend(m), dlrt_device_name(m));
  int ni = dlrt_num_inputs(m), no = dlrt_num_outputs(m);
  void **bufs = calloc((size_t)(ni + no), sizeof *bufs);
  for (int i = 0; i < ni + no; i++) {
    dlrt_tensor_info t;
    if (i < ni) dlrt_input_info(m, i, &t);
    else dlrt_output_info(m, i - ni, &t);
    printf("%s %-12s %-8s [", i < ni ? "input " : "output", t.name, t.dtype);
    for (int d = 0; d < t.rank; d++) printf("%s%lld", d ? ", " : "", (long long)t.dims[d]);
    printf("]\n");
    bufs[i] = calloc(1, t.bytes);
    if (i < ni && !strcmp(t.dtype, "float32"))
      for (size_t k = 0; k < t.bytes / 4; k++) ((float *)bufs[i])[k] = (float)(k % 7) / 7.0f;
    int rc = i < ni ? dlrt_bind_input(m, i, bufs[i], t.bytes) : dlrt_bind_output(m, i - ni, bufs[i], t.bytes);
    if (rc) {
      fprintf(stderr, "embed: cannot bind %s\n", t.name);
      return 1;
    }
  }
  if (dlrt_run(m, err, sizeof err)) {
    fprintf(stderr, "embed: %s\n", err);
    return 1;
  }
  for (int o = 0; o < no; o++) {
    dlrt_tensor_info t;
    dlrt_output_info(m, o, &t);
    printf("%s:", t.name);
    for (size_t k = 0; k < 5 && k < t.bytes / 4 && !strcmp(t.dtype, "float32"); k++)
      printf(" %.6g", ((float *)bufs[ni + o])[k]);
    printf("%s\n", t.bytes / 4 > 5 ? " ..." : "");
  }
  for (int i = 0; i < ni + no; i++) free(bufs[i]);
  free(bufs);
  dlrt_free(m);
  return 0;
}
