/*
 * params.c: see rt_params.h.
 */
#include <string.h>

#include "rt_init.h"
#include "rt_params.h"

typedef struct fill_job {
  uint8_t *params;
  const rt_tensor *t;
} fill_job;

static void fill_chunk(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  fill_job *j = arg;
  const rt_tensor *t = j->t;
  rt_init_fill(t->init, t->init_a, t->init_b, t->init_seed, t->dtype, j->params + t->offset, begin, end);
}

void rt_params_materialize(const rt_plan *p, uint8_t *dst, rt_pool *pool) {
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    if (t->kind != RT_KIND_PARAM || t->alias_of >= 0) continue; /* a view shares its root's bytes */
    if (t->init == RT_INIT_DATA) {
      memcpy(dst + t->offset, p->param_data + t->data_offset, t->bytes);
    } else {
      fill_job j = {dst, t};
      rt_pool_run(pool, rt_numel(t->rank, t->dims), 1 << 14, fill_chunk, &j);
    }
  }
}
