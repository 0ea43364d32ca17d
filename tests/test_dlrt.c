/*
 * test_dlrt.c: the embedding API (runtime/dlrt.h): load a plan, inspect its
 * inputs and outputs, bind host buffers, run a batch, and get the right
 * numbers; misuse gets -1 and a reason.
 */
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "dlrt.h"
#include "npy.h"
#include "tst.h"

static void test_run_mlp(void) {
  const char *dir = tst_tmpdir();
  char plan[1024], err[1024];
  snprintf(plan, sizeof plan, "%s/mlp.plan", dir);
  compile_options o = {0};
  o.model_path = tst_src("models/mlp/mlp.yaml");
  o.plan_path = plan;
  compile_result r;
  CU_ASSERT_EQUAL_FATAL(compile_model(&o, &r, stderr), 0);
  compile_free(&r);

  dlrt_options opt = {DLRT_DEVICE_CPU, 2};
  dlrt_model *m = dlrt_load(plan, &opt, err, sizeof err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  CU_ASSERT_STRING_EQUAL(dlrt_backend(m), "cpu");
  CU_ASSERT_EQUAL(dlrt_num_inputs(m), 1);
  CU_ASSERT_EQUAL(dlrt_num_outputs(m), 2);
  dlrt_tensor_info x, y;
  CU_ASSERT_EQUAL(dlrt_input_info(m, 0, &x), 0);
  CU_ASSERT_STRING_EQUAL(x.name, "x");
  CU_ASSERT_STRING_EQUAL(x.dtype, "float32");
  CU_ASSERT_EQUAL(x.rank, 2);
  CU_ASSERT_EQUAL(x.dims[0], 64);
  CU_ASSERT_EQUAL(x.bytes, 64 * 64 * 4);
  CU_ASSERT_EQUAL(dlrt_output_index(m, "logits"), 0);
  CU_ASSERT_EQUAL(dlrt_output_index(m, "nothing"), -1);
  CU_ASSERT_EQUAL(dlrt_input_info(m, 1, &x), -1);
  CU_ASSERT_EQUAL(dlrt_output_info(m, 0, &y), 0);

  /* the first 64 digits of the bundled data, and NumPy's logits for them */
  rt_npy_reader in, want;
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(tst_src("models/mlp/data/x.npy"), &in, err, sizeof err), 0);
  CU_ASSERT_EQUAL_FATAL(rt_npy_open(tst_src("models/mlp/expected/logits.npy"), &want, err, sizeof err), 0);
  float *xb = malloc(x.bytes), *yb = malloc(y.bytes), *pb = malloc(y.bytes), *wb = malloc(y.bytes);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&in, 0, 64, xb, err, sizeof err), 0);
  CU_ASSERT_EQUAL(rt_npy_read_rows(&want, 0, 64, wb, err, sizeof err), 0);
  rt_npy_close(&in);
  rt_npy_close(&want);

  CU_ASSERT_EQUAL(dlrt_run(m, err, sizeof err), -1); /* nothing bound yet */
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "input 'x' is not bound"));
  CU_ASSERT_EQUAL(dlrt_bind_input(m, 0, xb, x.bytes - 4), -1);
  CU_ASSERT_EQUAL(dlrt_bind_input(m, 0, xb, x.bytes), 0);
  CU_ASSERT_EQUAL(dlrt_bind_output(m, 0, yb, y.bytes), 0);
  CU_ASSERT_EQUAL(dlrt_run(m, err, sizeof err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "output 'probs' is not bound"));
  CU_ASSERT_EQUAL(dlrt_bind_output(m, 1, pb, y.bytes), 0);
  CU_ASSERT_EQUAL_FATAL(dlrt_run(m, err, sizeof err), 0);
  TST_ASSERT_CLOSE(yb, wb, 64 * 10, 1e-5, 1e-4);
  /* a second run with new inputs gives new outputs */
  for (int i = 0; i < 64 * 64; i++) xb[i] = 0;
  CU_ASSERT_EQUAL(dlrt_run(m, err, sizeof err), 0);
  CU_ASSERT(tst_err(yb, wb, 64 * 10, 1e-5, 1e-4) > 1);
  float sum = 0;
  for (int k = 0; k < 10; k++) sum += pb[k];
  CU_ASSERT_DOUBLE_EQUAL(sum, 1.0, 1e-5);
  dlrt_free(m);
  free(xb), free(yb), free(pb), free(wb);

  CU_ASSERT_PTR_NULL(dlrt_load("/nonexistent.plan", &opt, err, sizeof err));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
  tst_rmtree(dir);
}

TST_SUITE(dlrt, TST(test_run_mlp))
