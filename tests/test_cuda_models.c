/*
 * test_cuda_models.c: the whole GPU path on the CPU, for the models of
 * models/: dlc compiles each with its GPU code (fusion, CUDA C generation,
 * NVRTC's CUBIN and PTX in the plan) and writes the generated CUDA C
 * (--emit-cuda); that source is compiled for the host against
 * codegen/shim/cuda_shim.h and loaded by the fake driver as the plan's
 * module; dlrun --device cuda streams the bundled data through it (graphs,
 * double buffering, cuBLASLt for the GEMM steps) and its outputs must match
 * the committed NumPy references, as the CPU backend's do in test_e2e.c.
 * One model also goes through the PTX path (a card older than the CUBIN).
 *
 * Where dlc is built without NVRTC its plans carry no GPU code; dlrun must
 * then refuse --device cuda with exit status 3, which is checked instead.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_plan.h"
#include "rt_run.h"
#include "test_cuda.h"
#include "tst.h"

/* Compile models/<name>, run it on the fake GPU (compute capability cc),
 * compare every expected output. */
static void check_model(const char *name, const char *cc, const char *want_code) {
  const char *dir = tst_tmpdir();
  char args[4096], out[8192], errtxt[8192], plan[600], src[700], kernels[700], env[2048];
  snprintf(plan, sizeof plan, "%s/plan.bin", dir);
  snprintf(args, sizeof args, "'%s/models/%s/%s.yaml' -o '%s' --emit-cuda '%s' --quiet", DLC_SOURCE_DIR, name, name,
           plan, dir);
  int rc = tcu_command(dir, "", "dlc", args, out, sizeof out, errtxt, sizeof errtxt);
  if (rc) fprintf(stderr, "dlc %s: %s", name, errtxt);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  rt_plan p;
  char err[512];
  CU_ASSERT_EQUAL_FATAL(rt_plan_read(plan, &p, err, sizeof err), 0);
  int gpu_code = p.launches != NULL;
  char model[256];
  snprintf(model, sizeof model, "%s", p.model);
  rt_plan_free(&p);
  snprintf(args, sizeof args, "'%s' --data '%s/models/%s/data' --out '%s/out' --device cuda --json", plan,
           DLC_SOURCE_DIR, name, dir);
  if (!gpu_code) { /* a dlc without NVRTC: the plan is CPU-only, and says so */
    rc = tcu_command(dir, "", "dlrun", args, out, sizeof out, errtxt, sizeof errtxt);
    CU_ASSERT_EQUAL(rc, RT_EXIT_PLAN);
    CU_ASSERT(strstr(errtxt, "the plan has no GPU code") != NULL);
    fprintf(stderr, "(dlc has no NVRTC: %s checked as a CPU-only plan) ", name);
    tst_rmtree(dir);
    return;
  }
  snprintf(src, sizeof src, "%s/%s.cu", dir, model);
  char lib[64];
  snprintf(lib, sizeof lib, "libdlc_model_%s.so", name);
  CU_ASSERT_EQUAL_FATAL(tcu_build_kernels(src, lib, kernels, sizeof kernels), 0);
  snprintf(env, sizeof env, "DLC_LIBCUDA=%s DLC_LIBCUBLASLT=%s DLC_FAKE_CUDA_KERNELS=%s DLC_FAKE_CUDA_CC=%s",
           DLC_FAKE_LIBCUDA, DLC_FAKE_LIBCUBLASLT, kernels, cc);
  rc = tcu_command(dir, env, "dlrun", args, out, sizeof out, errtxt, sizeof errtxt);
  if (rc) fprintf(stderr, "dlrun %s: %s", name, errtxt);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(strstr(out, "\"backend\": \"cuda\"") != NULL);
  CU_ASSERT(strstr(out, want_code) != NULL);

  char expected[700], got[700];
  snprintf(expected, sizeof expected, "%s/models/%s/expected", DLC_SOURCE_DIR, name);
  snprintf(got, sizeof got, "%s/out", dir);
  DIR *d = opendir(expected);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  int compared = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".npy")) continue;
    char tensor[256];
    snprintf(tensor, sizeof tensor, "%.*s", (int)(len - 4), e->d_name);
    size_t ng = 0, nw = 0;
    float *g = tcu_load_npy(got, tensor, &ng), *w = tcu_load_npy(expected, tensor, &nw);
    CU_ASSERT_PTR_NOT_NULL(g);
    CU_ASSERT_PTR_NOT_NULL(w);
    CU_ASSERT_EQUAL(ng, nw);
    if (g && w && ng == nw) {
      if (tst_err(g, w, ng, 1e-5, 1e-4) > 1) fprintf(stderr, "%s: output '%s' differs\n", name, tensor);
      TST_ASSERT_CLOSE(g, w, ng, 1e-5, 1e-4);
      compared++;
    }
    free(g);
    free(w);
  }
  closedir(d);
  CU_ASSERT(compared > 0);
  tst_rmtree(dir);
}

static void test_model_mlp(void) { check_model("mlp", "90", "\"code\": \"cubin sm_90\""); }
static void test_model_cnn(void) { check_model("cnn", "90", "\"code\": \"cubin sm_90\""); }
static void test_model_transformer(void) { check_model("transformer", "90", "\"code\": \"cubin sm_90\""); }
/* BERT: the fused QKV projection cut in three, attention (masked, over its
 * Q) and the feed-forward block in row chunks, on the GPU path */
static void test_model_bert_layer(void) { check_model("bert_layer", "90", "\"code\": \"cubin sm_90\""); }
/* a card that predates the CUBIN's architecture runs the PTX */
static void test_model_cnn_ptx(void) { check_model("cnn", "80", "\"code\": \"ptx, JIT-compiled for sm_80\""); }

TST_SUITE(cuda_models, TST(test_model_mlp), TST(test_model_cnn), TST(test_model_transformer),
          TST(test_model_bert_layer), TST(test_model_cnn_ptx))
