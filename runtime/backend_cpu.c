/*
 * backend_cpu.c: runs a plan on the CPU with the reference kernels.
 *
 * Start-up does all the work that can be done once: one 64-byte aligned
 * allocation holding the slab (every tensor at its planned offset, so a bad
 * plan gives wrong numbers rather than hiding), the params region, an area
 * for the fused tensors of one step (a fused group runs node by node here),
 * the kernels' scratch and float16/bfloat16 widening buffers; the
 * params are materialised in parallel; every node's views and attribute
 * pointers are precomputed. A batch then only walks the nodes.
 *
 * Math kernels take float32: a float16 or bfloat16 operand is widened into
 * the conversion area before its node runs and results are narrowed after,
 * so reduced-precision plans run on the CPU with float32 arithmetic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_backend.h"
#include "rt_params.h"
#include "rt_kernels.h"

typedef struct conv_slot {
  void *user;      /* the tensor in the slab / params */
  float *wide;     /* its float32 copy in the conversion area */
  int dtype;
  size_t numel;
} conv_slot;

typedef struct cpu_node {
  rt_kargs args;
  rt_view *views;        /* n_in + n_out */
  conv_slot *conv;       /* conversions of this node (inputs then outputs) */
  int n_conv_in, n_conv_out;
  const char *name;
} cpu_node;

typedef struct cpu_backend {
  rt_backend base;
  const rt_plan *plan;
  rt_pool *pool;
  uint8_t *mem;          /* the one allocation */
  uint8_t *slab, *params, *fused, *scratch, *conv;
  size_t scratch_bytes;
  cpu_node *nodes;
  rt_view *views;
  conv_slot *slots;
} cpu_backend;

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

static uint8_t *tensor_ptr(cpu_backend *b, const rt_tensor *t, const uint64_t *fused_off, uint32_t id) {
  if (t->kind == RT_KIND_PARAM) return b->params + t->offset;
  if (t->kind == RT_KIND_FUSED) return b->fused + fused_off[id];
  return b->slab + t->offset;
}

static void *cpu_input(rt_backend *base, uint32_t i) {
  cpu_backend *b = (cpu_backend *)base;
  return b->slab + b->plan->tensors[b->plan->inputs[i]].offset;
}

static const void *cpu_output(rt_backend *base, uint32_t i) {
  cpu_backend *b = (cpu_backend *)base;
  const rt_tensor *t = &b->plan->tensors[b->plan->outputs[i]];
  return t->kind == RT_KIND_PARAM ? b->params + t->offset : b->slab + t->offset;
}

/* Nodes [first, end) through the reference kernels. */
static int run_nodes(cpu_backend *b, uint32_t first, uint32_t end, char *err, size_t err_size) {
  rt_kctx ctx = {b->pool, b->scratch, b->scratch_bytes, err, err_size};
  for (uint32_t k = first; k < end; k++) {
    cpu_node *n = &b->nodes[k];
    for (int i = 0; i < n->n_conv_in; i++)
      rt_to_f32(n->conv[i].wide, n->conv[i].user, n->conv[i].dtype, n->conv[i].numel);
    if (rt_kernel_run(&ctx, &n->args) != 0) {
      char inner[256];
      snprintf(inner, sizeof inner, "%s", err);
      snprintf(err, err_size, "node '%s' (%s): %s", n->name, rt_op_name(n->args.op), inner);
      return -1;
    }
    for (int i = n->n_conv_in; i < n->n_conv_in + n->n_conv_out; i++)
      rt_from_f32(n->conv[i].user, n->conv[i].dtype, n->conv[i].wide, n->conv[i].numel);
  }
  return 0;
}

static int cpu_run(rt_backend *base, char *err, size_t err_size) {
  cpu_backend *b = (cpu_backend *)base;
  return run_nodes(b, 0, b->plan->n_nodes, err, err_size);
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cpu_profile(rt_backend *base, int reps, double *step_ms, char *err, size_t err_size) {
  cpu_backend *b = (cpu_backend *)base;
  const rt_plan *p = b->plan;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    const rt_step *st = &p->steps[s];
    double t0 = seconds_now();
    for (int r = 0; r < reps; r++)
      if (run_nodes(b, st->first_node, st->first_node + st->n_nodes, err, err_size)) return -1;
    step_ms[s] = (seconds_now() - t0) * 1e3 / (reps > 0 ? reps : 1);
  }
  return 0;
}

static void cpu_destroy(rt_backend *base) {
  cpu_backend *b = (cpu_backend *)base;
  if (!b) return;
  rt_pool_destroy(b->pool);
  free(b->mem);
  free(b->nodes);
  free(b->views);
  free(b->slots);
  free(b);
}

rt_backend *rt_cpu_backend_create(const rt_plan *p, int threads, char *err, size_t err_size) {
  cpu_backend *b = calloc(1, sizeof *b);
  uint64_t *fused_off = calloc((size_t)p->n_tensors + 1, sizeof *fused_off);
  size_t n_views = 0, n_slots = 0;
  for (uint32_t k = 0; k < p->n_nodes; k++) n_views += (size_t)p->nodes[k].n_in + p->nodes[k].n_out;
  if (b) {
    b->plan = p;
    b->nodes = calloc((size_t)p->n_nodes + 1, sizeof *b->nodes);
    b->views = calloc(n_views + 1, sizeof *b->views);
    b->slots = calloc(n_views + 1, sizeof *b->slots);
    b->pool = rt_pool_create(threads);
  }
  if (!b || !fused_off || !b->nodes || !b->views || !b->slots || !b->pool) {
    free(fused_off);
    if (b) cpu_destroy(&b->base);
    snprintf(err, err_size, "out of memory or threads starting the CPU backend");
    return NULL;
  }

  /* A fused tensor lives inside one step, so the steps share one host area
   * for them, as big as the largest step needs (on the GPU they stay on
   * chip and take no device memory). */
  uint64_t fused_bytes = 0;
  uint64_t *step_used = calloc((size_t)p->n_steps + 1, sizeof *step_used);
  if (!step_used) {
    free(fused_off);
    cpu_destroy(&b->base);
    snprintf(err, err_size, "out of memory starting the CPU backend");
    return NULL;
  }
  for (uint32_t i = 0; i < p->n_tensors; i++)
    if (p->tensors[i].kind == RT_KIND_FUSED) {
      uint64_t *used = &step_used[p->tensors[i].first_step];
      fused_off[i] = *used;
      *used += align64(p->tensors[i].bytes);
      if (*used > fused_bytes) fused_bytes = *used;
    }
  free(step_used);

  /* Views first with NULL data, to size scratch and conversion areas. */
  size_t v = 0, conv_bytes = 0;
  for (uint32_t k = 0; k < p->n_nodes; k++) {
    const rt_node *n = &p->nodes[k];
    cpu_node *cn = &b->nodes[k];
    cn->name = n->name;
    cn->views = b->views + v;
    cn->conv = b->slots + n_slots;
    int math = !rt_kernel_takes_dtype(n->op, RT_I64);
    size_t node_conv = 0;
    for (int pass = 0; pass < 2; pass++) /* inputs, then outputs, so conv is ordered */
      for (uint32_t i = 0; i < n->n_in + n->n_out; i++) {
        if ((i >= n->n_in) != pass) continue;
        int32_t id = p->args[n->args + i];
        rt_view *view = &cn->views[i];
        if (id < 0) continue;
        const rt_tensor *t = &p->tensors[id];
        view->dtype = t->dtype;
        view->rank = t->rank;
        memcpy(view->dims, t->dims, sizeof view->dims);
        if (math && t->dtype != RT_F32 && rt_dtype_is_float(t->dtype)) {
          conv_slot *s = &b->slots[n_slots++];
          s->dtype = t->dtype;
          s->numel = (size_t)rt_numel(t->rank, t->dims);
          s->wide = (float *)(uintptr_t)node_conv; /* offset for now */
          s->user = (void *)(uintptr_t)id;
          node_conv += align64(s->numel * 4);
          view->dtype = RT_F32;
          if (pass == 0) cn->n_conv_in++;
          else cn->n_conv_out++;
        }
      }
    if (node_conv > conv_bytes) conv_bytes = node_conv;
    cn->args = (rt_kargs){n->op, (int)n->n_in, (int)n->n_out, cn->views, cn->views + n->n_in,
                          p->ints + n->ia, (int)n->n_ia, p->floats + n->fa, (int)n->n_fa};
    size_t s = rt_kernel_scratch(&cn->args, b->pool);
    if (s > b->scratch_bytes) b->scratch_bytes = s;
    v += (size_t)n->n_in + n->n_out;
  }

  size_t total = align64(p->slab_bytes) + align64(p->params_bytes) + fused_bytes +
                 align64(b->scratch_bytes) + conv_bytes;
  if (posix_memalign((void **)&b->mem, 64, total ? total : 64) != 0) {
    free(fused_off);
    cpu_destroy(&b->base);
    snprintf(err, err_size, "out of memory: the CPU backend needs %zu bytes (slab %llu, params %llu, "
             "scratch %zu); try a smaller batch (dlc --dim N=...)", total,
             (unsigned long long)p->slab_bytes, (unsigned long long)p->params_bytes, b->scratch_bytes);
    return NULL;
  }
  b->slab = b->mem;
  b->params = b->slab + align64(p->slab_bytes);
  b->fused = b->params + align64(p->params_bytes);
  b->scratch = b->fused + fused_bytes;
  b->conv = b->scratch + align64(b->scratch_bytes);
  /* The slab starts zeroed so that padding and unwritten bytes are defined. */
  memset(b->slab, 0, p->slab_bytes);

  /* Now point every view and conversion slot at real memory. */
  n_slots = 0;
  for (uint32_t k = 0; k < p->n_nodes; k++) {
    const rt_node *n = &p->nodes[k];
    cpu_node *cn = &b->nodes[k];
    for (uint32_t i = 0; i < n->n_in + n->n_out; i++) {
      int32_t id = p->args[n->args + i];
      if (id >= 0) cn->views[i].data = tensor_ptr(b, &p->tensors[id], fused_off, (uint32_t)id);
    }
    for (int s = 0; s < cn->n_conv_in + cn->n_conv_out; s++) {
      conv_slot *slot = &cn->conv[s];
      int32_t id = (int32_t)(uintptr_t)slot->user;
      slot->user = tensor_ptr(b, &p->tensors[id], fused_off, (uint32_t)id);
      slot->wide = (float *)(b->conv + (uintptr_t)slot->wide);
      /* the view of this tensor now reads the float32 copy */
      for (uint32_t i = 0; i < n->n_in + n->n_out; i++)
        if (p->args[n->args + i] == id && ((i >= n->n_in) == (s >= cn->n_conv_in)))
          cn->views[i].data = slot->wide;
    }
  }
  free(fused_off);
  rt_params_materialize(p, b->params, b->pool);

  b->base.name = "cpu";
  snprintf(b->base.device, sizeof b->base.device, "CPU, %d thread%s", rt_pool_size(b->pool),
           rt_pool_size(b->pool) == 1 ? "" : "s");
  b->base.device_bytes = total;
  b->base.input = cpu_input;
  b->base.output = cpu_output;
  b->base.run = cpu_run;
  b->base.profile = cpu_profile;
  b->base.destroy = cpu_destroy;
  return &b->base;
}
