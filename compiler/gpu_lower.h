/*
 * gpu_lower.h: launches and the CUDA module of a plan (gpu_lower.c).
 */
#ifndef GPU_LOWER_H
#define GPU_LOWER_H

#include "cg.h"
#include "lower.h"

typedef struct gpu_options {
  int sm;               /* CUBIN architecture (90: H100/H200) */
  int ptx_sm;           /* PTX for other cards (80) */
  int num_sms;          /* grid sizing (132 on H100) */
  int allow_tf32;
  const char *emit_dir; /* --emit-cuda: write the generated source here */
} gpu_options;

/* Fill p->launches, p->cubin, p->ptx. 0, or -1 with the reason (an NVRTC
 * log, or a step with no GPU form); p then stays CPU-only. */
int gpu_lower(graph *g, rt_plan *p, const lower_info *li, const gpu_options *opt, char *err,
              size_t err_size);

#endif
