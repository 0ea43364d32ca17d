/*
 * report_svg.h: --report-svg: the plan's tensors handed to planner/'s SVG
 * drawing, coloured by kind.
 */
#ifndef REPORT_SVG_H
#define REPORT_SVG_H

#include <stddef.h>

#include "rt_plan.h"

int report_svg(const char *path, const rt_plan *p, char *err, size_t err_size);

#endif
