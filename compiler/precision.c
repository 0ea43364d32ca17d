/*
 * precision.c: dlc --precision fp32|tf32|fp16|bf16.
 *
 * fp16 and bf16 store every float param and every activation in that type
 * (half the slab), converting param data now; seeded params are regenerated
 * in the new type by the runtime. Arithmetic stays float32 (kernels widen on
 * load and accumulate in float32). Model inputs and outputs keep their
 * declared types, so data directories do not change; the first and last
 * kernels convert. tf32 changes no type: it lets float32 convolutions and
 * matmuls use TF32 tensor cores (a plan flag).
 */
#include <string.h>

#include "passes.h"

int graph_precision_parse(const char *s) {
  if (!strcmp(s, "fp32")) return PRECISION_FP32;
  if (!strcmp(s, "tf32")) return PRECISION_TF32;
  if (!strcmp(s, "fp16")) return PRECISION_FP16;
  if (!strcmp(s, "bf16")) return PRECISION_BF16;
  return -1;
}

void graph_precision(graph *g, int precision) {
  if (precision != PRECISION_FP16 && precision != PRECISION_BF16) return;
  int dt = precision == PRECISION_FP16 ? RT_F16 : RT_BF16;
  for (int i = 0; i < g->n_tensors; i++) {
    graph_tensor *t = g->tensors[i];
    if (!rt_dtype_is_float(t->dtype) || t->dtype == dt || t->kind == GRAPH_INPUT || t->is_output) continue;
    /* LayerNormalization's statistics are float32 by definition (stash_type 1) */
    if (t->kind == GRAPH_VALUE && t->producer && t->producer->op == RT_OP_LAYER_NORM &&
        t->producer->out[0] != t)
      continue;
    if (t->kind == GRAPH_PARAM && t->data) {
      int64_t n = graph_tensor_numel(t);
      float *wide = arena_array(g->ar, (size_t)n + 1, sizeof *wide);
      rt_to_f32(wide, t->data, t->dtype, (size_t)n);
      void *narrow = arena_alloc(g->ar, (size_t)n * rt_dtype_size(dt) + 1);
      rt_from_f32(narrow, dt, wide, (size_t)n);
      t->data = narrow;
    }
    t->dtype = dt;
  }
}
