/*
 * svg.h: a picture of a memory plan, as a standalone SVG file.
 *
 * Steps run left to right, offsets bottom to top; each tensor is a rectangle
 * [first, last + 1) x [offset, offset + size), coloured by a kind the caller
 * gives, labelled with its name where the name fits, and always carrying a
 * tooltip (<title>) with its name, bytes, steps and offset. The lower bound
 * and the slab size are horizontal lines with labels; the axes have ticks in
 * B/KiB/MiB/GiB and steps. The width grows with the number of steps up to a
 * limit (a 1000-step network stays readable: about 2.4 px per step), and the
 * file stays small (one <rect> and one <title> per tensor, CSS classes for
 * the colours).
 */
#ifndef PLAN_SVG_H
#define PLAN_SVG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum {
  PLAN_SVG_ACTIVATION = 0, /* also used for kinds out of range */
  PLAN_SVG_INPUT = 1,
  PLAN_SVG_OUTPUT = 2,
  PLAN_SVG_WORKSPACE = 3,
  PLAN_SVG_ALIAS = 4, /* in-place or view: drawn translucent, dashed, on top */
  PLAN_SVG_KINDS = 5
};

typedef struct plan_svg_rect {
  const char *name;      /* label and tooltip; NULL: unnamed */
  uint64_t offset, size; /* bytes */
  int64_t first, last;   /* inclusive steps */
  int kind;              /* PLAN_SVG_* */
} plan_svg_rect;

typedef struct plan_svg_info {
  const char *title;    /* NULL: "memory plan" */
  uint64_t slab_bytes;  /* the slab line; 0: the highest top */
  uint64_t lower_bound; /* the lower-bound line; 0: not drawn */
} plan_svg_info;

/* Writes the picture to f. 0, or -1 when a write fails. */
int plan_svg_write(FILE *f, const plan_svg_rect *r, size_t n, const plan_svg_info *info);

/* Byte count as text ("512 B", "1.5 KiB", "9.19 MiB"): into buf, returned. */
const char *plan_svg_bytes(uint64_t v, char *buf, size_t size);

#endif
