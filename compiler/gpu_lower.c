/*
 * gpu_lower.c: the GPU side of a plan, once every offset is known.
 *
 * Each step becomes a launch: a step that starts with MatMul or Gemm is a
 * cuBLASLt matmul (its layout, bias and activation epilogue, and planned
 * workspace recorded in the plan); every other step is a kernel generated
 * by codegen/ from the step's nodes, with the real alignment of each
 * tensor's address so that it can use 16-byte accesses where they are
 * safe. All kernels go into one NVRTC program compiled to CUBIN for the
 * target architecture and PTX for the others, both stored in the plan.
 */
#include "gpu_lower.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_ir.h"

/* Largest power of two dividing the address (the region bases are 256-byte
 * aligned), capped at 256. */
static uint32_t align_of(uint64_t offset) {
  uint32_t a = 256;
  while (a > 1 && offset % a) a /= 2;
  return a;
}

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= d[i];
  return p;
}

typedef struct gemm_layout {
  int64_t ia[RT_GEMM_IA];
  float fa[2];
  int32_t args[RT_GEMM_ARGS];
} gemm_layout;

/* MatMul / Gemm (+ bias, activation) as one cuBLASLt call; -1 with a reason
 * when the batch broadcasting has no strided form. */
static int gemm_of(const rt_plan *p, const lower_info *li, uint32_t s, gemm_layout *L, char *why,
                   size_t why_size) {
  const rt_step *st = &p->steps[s];
  graph_node **nodes = li->nodes + st->first_node;
  graph_node *mm = nodes[0];
  const rt_tensor *A = &p->tensors[li->map[mm->in[0]->id]], *B = &p->tensors[li->map[mm->in[1]->id]];
  int64_t m, n, k, batch = 1, sa = 0, sb = 0, sc = 0;
  int ta = 0, tb = 0;
  memset(L, 0, sizeof *L);
  L->fa[0] = 1.0f;
  L->fa[1] = 0.0f;
  for (int i = 0; i < RT_GEMM_ARGS; i++) L->args[i] = -1;
  int32_t c_id = -1;
  if (mm->op == RT_OP_GEMM) {
    ta = (int)mm->ia[0], tb = (int)mm->ia[1];
    m = ta ? A->dims[1] : A->dims[0];
    k = ta ? A->dims[0] : A->dims[1];
    n = tb ? B->dims[0] : B->dims[1];
    L->fa[0] = mm->fa[0];
    if (mm->n_in > 2 && mm->in[2]) {
      const rt_tensor *C = &p->tensors[li->map[mm->in[2]->id]];
      if (C->rank == 2 && C->dims[0] == m && C->dims[1] == n) {
        c_id = li->map[mm->in[2]->id];
        L->fa[1] = mm->fa[1];
      } else if (rt_numel(C->rank, C->dims) == n && C->dims[C->rank - 1] == n && mm->fa[1] == 1.0f) {
        L->args[4] = li->map[mm->in[2]->id]; /* one value per column: the bias epilogue */
      } else {
        snprintf(why, why_size, "Gemm '%s': C of shape broadcast along rows (or beta != 1 with a "
                 "per-column C) has no cuBLASLt form", mm->name);
        return -1;
      }
    }
  } else {
    /* NumPy matmul: 1-D operands promoted; batch dims broadcast */
    int ra = A->rank, rb = B->rank;
    m = ra == 1 ? 1 : A->dims[ra - 2];
    k = A->dims[ra - 1];
    n = rb == 1 ? 1 : B->dims[rb - 1];
    int64_t ba = ra > 2 ? prod(A->dims, 0, ra - 2) : 1, bb = rb > 2 ? prod(B->dims, 0, rb - 2) : 1;
    if (bb == 1) { /* B shared: A's batch folds into its rows (A is contiguous) */
      m *= ba;
    } else if (ba == 1) { /* A shared across B's batch */
      batch = bb, sb = k * n, sc = m * n;
    } else {
      /* both batched: equal batch shapes, or no strided form */
      int same = ra == rb;
      for (int d = 0; same && d < ra - 2; d++) same = A->dims[d] == B->dims[d];
      if (!same) {
        snprintf(why, why_size, "MatMul '%s': batch dimensions broadcast both ways have no strided "
                 "batched form", mm->name);
        return -1;
      }
      batch = ba, sa = m * k, sb = k * n, sc = m * n;
    }
  }
  /* a Gemm's own per-column C is already the bias */
  int epi = L->args[4] >= 0 ? RT_GEMM_EPI_BIAS : RT_GEMM_EPI_NONE;
  for (uint32_t j = 1; j < st->n_nodes; j++) {
    graph_node *e = nodes[j];
    if (e->op == RT_OP_ADD) {
      graph_tensor *b = e->in[0]->fused ? e->in[1] : e->in[0];
      L->args[4] = li->map[b->id];
      epi = RT_GEMM_EPI_BIAS;
    } else if (e->op == RT_OP_RELU) {
      epi = epi == RT_GEMM_EPI_BIAS ? RT_GEMM_EPI_BIAS_RELU : RT_GEMM_EPI_RELU;
    } else if (e->op == RT_OP_GELU && e->ia[0] == 1) { /* cuBLASLt's GELU is the tanh form */
      epi = epi == RT_GEMM_EPI_BIAS ? RT_GEMM_EPI_BIAS_GELU : RT_GEMM_EPI_GELU;
    } else {
      snprintf(why, why_size, "step %u: %s cannot be a cuBLASLt epilogue", s, rt_op_name(e->op));
      return -1;
    }
  }
  graph_node *last = nodes[st->n_nodes - 1];
  int64_t lda = ta ? m : k, ldb = tb ? k : n;
  if (mm->op == RT_OP_MATMUL && A->rank == 1) lda = k;
  int64_t v[RT_GEMM_IA] = {ta, tb, m, n, k, batch, lda, ldb, n, sa, sb, sc, epi};
  memcpy(L->ia, v, sizeof v);
  L->args[0] = li->map[mm->in[0]->id];
  L->args[1] = li->map[mm->in[1]->id];
  L->args[2] = c_id;
  L->args[3] = li->map[last->out[0]->id];
  L->args[5] = li->workspace[s];
  return 0;
}

/* A view's bytes: follow it to the slab or params tensor that owns them is
 * not needed: every plan tensor has its absolute offset already. */
static uint32_t tensor_align(const rt_plan *p, int32_t id) {
  const rt_tensor *t = &p->tensors[id];
  if (t->kind == RT_KIND_FUSED) return (uint32_t)rt_dtype_size(t->dtype);
  return align_of(t->offset);
}

int gpu_lower(graph *g, rt_plan *p, const lower_info *li, const gpu_options *opt, char *err,
              size_t err_size) {
  p->launches = arena_array(g->ar, (size_t)p->n_steps + 1, sizeof *p->launches);
  cg_options co = {opt->sm, opt->ptx_sm, opt->num_sms, opt->allow_tf32};
  cg_program *prog = cg_program_create(&co);
  if (!prog) {
    snprintf(err, err_size, "out of memory creating the CUDA program");
    return -1;
  }
  uint32_t *align = arena_array(g->ar, (size_t)g->n_tensors + 1, sizeof *align);
  for (int t = 0; t < g->n_tensors; t++)
    align[t] = li->map[t] >= 0 ? tensor_align(p, li->map[t]) : (uint32_t)rt_dtype_size(g->tensors[t]->dtype);
  /* args and ints grow: GEMMs and kernels add their own entries */
  size_t extra_args = 0, extra_ints = 0, extra_floats = 0;
  for (uint32_t s = 0; s < p->n_steps; s++) {
    extra_args += 256 + RT_GEMM_ARGS;
    extra_ints += RT_GEMM_IA;
    extra_floats += 2;
  }
  int32_t *args = arena_array(g->ar, p->n_args + extra_args + 1, sizeof *args);
  int64_t *ints = arena_array(g->ar, p->n_ints + extra_ints + 1, sizeof *ints);
  float *floats = arena_array(g->ar, p->n_floats + extra_floats + 1, sizeof *floats);
  memcpy(args, p->args, p->n_args * sizeof *args);
  memcpy(ints, p->ints, p->n_ints * sizeof *ints);
  memcpy(floats, p->floats, p->n_floats * sizeof *floats);
  p->args = args;
  p->ints = ints;
  p->floats = floats;

  int rc = 0, kernels = 0;
  for (uint32_t s = 0; s < p->n_steps && rc == 0; s++) {
    const rt_step *st = &p->steps[s];
    graph_node **nodes = li->nodes + st->first_node;
    rt_launch *l = &p->launches[s];
    memset(l, 0, sizeof *l);
    l->function = "";
    if (lower_is_cublas(nodes, (int)st->n_nodes)) {
      gemm_layout L;
      if (gemm_of(p, li, s, &L, err, err_size)) {
        rc = -1;
        break;
      }
      l->kind = RT_LAUNCH_GEMM;
      l->args = p->n_args;
      l->n_args = RT_GEMM_ARGS;
      memcpy(p->args + p->n_args, L.args, sizeof L.args);
      p->n_args += RT_GEMM_ARGS;
      l->ia = p->n_ints;
      l->n_ia = RT_GEMM_IA;
      memcpy(p->ints + p->n_ints, L.ia, sizeof L.ia);
      p->n_ints += RT_GEMM_IA;
      l->fa = p->n_floats;
      l->n_fa = 2;
      memcpy(p->floats + p->n_floats, L.fa, sizeof L.fa);
      p->n_floats += 2;
      continue;
    }
    kernel_ir ir;
    if (kernel_ir_build(g->ar, nodes, (int)st->n_nodes, align, &ir)) {
      snprintf(err, err_size, "step %u (%s) does not fit the kernel IR", s, st->kernel);
      rc = -1;
      break;
    }
    ir.group.name = arena_printf(g->ar, "k%u_%s", s, st->kernel);
    /* in-place writes the memory plan chose: output over an input of this kernel */
    for (int i = 0; i < ir.n_tensors; i++) {
      graph_tensor *t = ir.tensors[i];
      if (ir.cg_tensors[i].role != CG_OUT || !t->alias_of || t->alias_kind != RT_ALIAS_INPLACE) continue;
      for (int j = 0; j < ir.n_tensors && ir.group.n_inplace < 8; j++)
        if (ir.tensors[j] == t->alias_of && ir.cg_tensors[j].role == CG_IN) {
          ir.group.inplace[ir.group.n_inplace][0] = i;
          ir.group.inplace[ir.group.n_inplace][1] = j;
          ir.group.n_inplace++;
        }
    }
    cg_launch cl;
    if (cg_program_add(prog, &ir.group, &cl, err, err_size)) {
      rc = -1;
      break;
    }
    l->kind = RT_LAUNCH_KERNEL;
    l->function = arena_strdup(g->ar, cl.name);
    memcpy(l->grid, cl.grid, sizeof l->grid);
    memcpy(l->block, cl.block, sizeof l->block);
    l->shared_bytes = cl.shared_bytes;
    l->args = p->n_args;
    l->n_args = (uint32_t)cl.n_args;
    for (int a = 0; a < cl.n_args; a++) p->args[p->n_args++] = li->map[ir.tensors[cl.arg_tensor[a]]->id];
    l->ia = p->n_ints;
    l->fa = p->n_floats;
    kernels++;
  }
  if (rc == 0 && kernels > 0) {
    if (opt->emit_dir) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s.cu", opt->emit_dir, p->model);
      FILE *f = fopen(path, "w");
      if (!f || fputs(cg_program_source(prog), f) < 0 || fclose(f) != 0) {
        snprintf(err, err_size, "cannot write %s", path);
        rc = -1;
      }
    }
    cg_binary bin;
    char log[8192];
    if (rc == 0 && cg_program_compile(prog, &bin, log, sizeof log)) {
      /* keep the source where the user can look at it */
      char path[4096];
      snprintf(path, sizeof path, "%s/%s.failed.cu", opt->emit_dir ? opt->emit_dir : ".", p->model);
      FILE *f = fopen(path, "w");
      int saved = f && fputs(cg_program_source(prog), f) >= 0;
      if (f) saved &= fclose(f) == 0;
      snprintf(err, err_size, "NVRTC could not compile the generated CUDA%s%s:\n%s",
               saved ? "; the source is in " : "", saved ? path : "", log);
      rc = -1;
    } else if (rc == 0) {
      uint8_t *cubin = arena_alloc(g->ar, bin.cubin_bytes + 1);
      memcpy(cubin, bin.cubin, bin.cubin_bytes);
      char *ptx = arena_alloc(g->ar, bin.ptx_bytes + 1);
      memcpy(ptx, bin.ptx, bin.ptx_bytes);
      p->cubin = cubin;
      p->cubin_bytes = bin.cubin_bytes;
      p->cubin_arch = (uint32_t)opt->sm;
      p->ptx = ptx;
      p->ptx_bytes = bin.ptx_bytes;
      cg_binary_free(&bin);
    }
  }
  cg_program_destroy(prog);
  if (rc) p->launches = NULL;
  return rc;
}
