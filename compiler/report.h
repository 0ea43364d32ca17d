/*
 * report.h: human and machine reports of a compiled plan (report.c).
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "arena.h"
#include "rt_plan.h"

typedef struct report_extra {
  uint64_t weights_bytes;       /* param bytes (spec's weights_bytes) */
  uint64_t lower_bound_aligned; /* the planner's bound on aligned sizes */
  const char *planner_method;
  double planner_seconds;
} report_extra;

const char *report_bytes(uint64_t b);
uint64_t report_device_bytes(const rt_plan *p);
void report_summary(FILE *f, const rt_plan *p);
void report_text(FILE *f, arena *a, const rt_plan *p);
int report_json(const char *path, const rt_plan *p, const report_extra *extra, char *err,
                size_t err_size);

#endif
