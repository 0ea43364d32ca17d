/*
 * report_fit.h: the compile's outcome for the driver: what --memory-limit
 * found (the batch that fits, device bytes at each batch size tried), and
 * the summary as JSON for scripts.
 */
#ifndef REPORT_FIT_H
#define REPORT_FIT_H

#include <stdio.h>

#include "compile.h"

void report_fit(FILE *f, const compile_result *r, uint64_t limit, int table);

/* dlc --json: the compile's summary as one JSON document. */
void report_summary_json(FILE *f, const compile_result *r, const char *plan_path);

#endif
