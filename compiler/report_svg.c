/*
 * report_svg.c: --report-svg: the plan's slab tensors as rectangles for
 * planner/'s SVG drawing, coloured by kind (in-place writes and views drawn
 * as aliases over their parents). Written aside and renamed.
 */
#include "report_svg.h"

#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "svg.h"

int report_svg(const char *path, const rt_plan *p, char *err, size_t err_size) {
  plan_svg_rect *r = calloc((size_t)p->n_tensors + 1, sizeof *r);
  if (!r) {
    snprintf(err, err_size, "out of memory drawing the plan");
    return -1;
  }
  size_t n = 0;
  for (uint32_t i = 0; i < p->n_tensors; i++) {
    const rt_tensor *t = &p->tensors[i];
    if (t->kind == RT_KIND_PARAM || t->kind == RT_KIND_FUSED) continue;
    int kind = t->alias_of >= 0 ? PLAN_SVG_ALIAS
             : t->kind == RT_KIND_INPUT ? PLAN_SVG_INPUT
             : t->kind == RT_KIND_OUTPUT ? PLAN_SVG_OUTPUT
             : t->kind == RT_KIND_WORKSPACE ? PLAN_SVG_WORKSPACE
             : PLAN_SVG_ACTIVATION;
    r[n++] = (plan_svg_rect){t->name, t->offset, t->bytes, t->first_step, t->last_step, kind};
  }
  char title[256];
  snprintf(title, sizeof title, "%s: %u kernels", p->model, p->n_steps);
  plan_svg_info info = {title, p->slab_bytes, p->lower_bound};
  rt_outfile o;
  FILE *f = rt_outfile_open(&o, path, err, err_size);
  int rc = -1;
  if (f) {
    if (plan_svg_write(f, r, n, &info) == 0) {
      rc = rt_outfile_commit(&o, err, err_size);
    } else {
      rt_outfile_abort(&o);
      snprintf(err, err_size, "cannot write %s", path);
    }
  }
  free(r);
  return rc;
}
