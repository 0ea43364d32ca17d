/*
 * report_fit.h: what --memory-limit found: the batch that fits, and the
 * device bytes at each batch size tried.
 */
#ifndef REPORT_FIT_H
#define REPORT_FIT_H

#include <stdio.h>

#include "compile.h"

void report_fit(FILE *f, const compile_result *r, uint64_t limit, int table);

#endif
