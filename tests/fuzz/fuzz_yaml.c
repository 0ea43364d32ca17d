/*
 * fuzz_yaml.c: libFuzzer target for the whole compiler front end on model
 * text (compiler/compile.h): YAML parsing, the model rules, shape inference,
 * parameter loading, lowering, memory planning and the plan checks a
 * compiled plan must pass (the compiler aborts when its own plan fails them,
 * which the fuzzer reports as a crash). A compiled plan is also serialised
 * with rt_plan_serialize() and read back with rt_plan_parse(), as dlrun
 * would read it: that must succeed.
 *
 * The model's name is models/mlp/fuzz.yaml in the source tree, so a
 * `weights: mlp.safetensors` line reaches the MLP's real weights file and the
 * safetensors path is exercised from YAML too. Nothing is written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

static int verbose = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (verbose < 0) verbose = getenv("DLC_FUZZ_VERBOSE") != NULL;
  compile_options opt;
  memset(&opt, 0, sizeof opt);
  opt.model_path = DLC_SOURCE_DIR "/models/mlp/fuzz.yaml";
  opt.model_text = (const char *)data;
  opt.model_text_len = size;
  opt.time_limit_s = 0.05;
  compile_result r;
  if (compile_model(&opt, &r, verbose ? stderr : NULL) == 0) {
    if (verbose) fprintf(stderr, "fuzz_yaml: compiled, slab %llu bytes\n",
                         (unsigned long long)r.plan->slab_bytes);
    uint8_t *buf;
    size_t len;
    char err[1024];
    rt_plan back;
    if (rt_plan_serialize(r.plan, &buf, &len, err, sizeof err) != 0 ||
        rt_plan_parse(buf, len, &back, err, sizeof err) != 0) {
      fprintf(stderr, "a compiled plan does not survive plan.bin: %s\n", err);
      abort();
    }
    rt_plan_free(&back);
  }
  compile_free(&r);
  return 0;
}
