/*
 * svg.c: plan_svg_write(), the picture of a plan described in svg.h.
 *
 * Geometry first (scales from the step range and the highest byte), then
 * the document: style, title, grid and axes, the tensors (plain kinds first,
 * aliases on top), the two horizontal lines, the legend. Labels are drawn
 * only where an estimate of their width (6 px per character at 10 px) fits
 * inside the rectangle, so a dense plan stays legible and the tooltips carry
 * the rest.
 */
#include "svg.h"

#include <inttypes.h>
#include <string.h>

#define LEFT 96.0
#define RIGHT 24.0
#define TOP 64.0
#define BOTTOM 56.0
#define PLOT_H 600.0
#define MIN_W 640.0
#define MAX_W 2400.0
#define PX_PER_STEP 16.0

static const char *const kind_name[PLAN_SVG_KINDS] = {"activation", "input", "output", "workspace",
                                                      "alias"};
static const char *const kind_fill[PLAN_SVG_KINDS] = {"#76b7b2", "#4e79a7", "#f28e2b", "#edc948",
                                                      "#b07aa1"};

const char *plan_svg_bytes(uint64_t v, char *buf, size_t size) {
  static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  double x = (double)v;
  while (x >= 1024.0 && u < 6) {
    x /= 1024.0;
    u++;
  }
  if (u == 0) {
    snprintf(buf, size, "%" PRIu64 " B", v);
    return buf;
  }
  /* three significant digits, never an exponent (1000 KiB, not 1e+03) */
  char num[32];
  snprintf(num, sizeof num, "%.*f", x < 10 ? 2 : x < 100 ? 1 : 0, x);
  if (strchr(num, '.')) {
    size_t k = strlen(num);
    while (num[k - 1] == '0') num[--k] = '\0';
    if (num[k - 1] == '.') num[--k] = '\0';
  }
  snprintf(buf, size, "%s %s", num, unit[u]);
  return buf;
}

/* Writes s with the XML special characters escaped. */
static void put_escaped(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '"': fputs("&quot;", f); break;
    case '\'': fputs("&apos;", f); break;
    default:
      /* control characters are not allowed in XML 1.0 */
      fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
    }
  }
}

/* A tick step of 1, 2 or 5 times a power of ten giving at most `most`
 * ticks over span. */
static int64_t step_tick(int64_t span, int most) {
  int64_t t = 1;
  for (;;) {
    if (span / t <= most) return t;
    if (span / (2 * t) <= most) return 2 * t;
    if (span / (5 * t) <= most) return 5 * t;
    if (t > INT64_MAX / 100) return t * 10;
    t *= 10;
  }
}

/* A byte tick step: a power of two giving 4 to 10 ticks. */
static uint64_t byte_tick(uint64_t top) {
  uint64_t t = 1;
  while (t < UINT64_MAX / 2 && top / t > 10) t *= 2;
  return t;
}

typedef struct geo {
  int64_t x0, x1; /* steps drawn: [x0, x1) */
  double pps;     /* pixels per step */
  double w;       /* plot width */
  double ymax;    /* bytes at the top of the plot */
} geo;

static double gx(const geo *g, int64_t step) { return LEFT + (double)(step - g->x0) * g->pps; }
static double gy(const geo *g, uint64_t bytes) {
  return TOP + PLOT_H - (double)bytes / g->ymax * PLOT_H;
}

static void draw_rect(FILE *f, const geo *g, const plan_svg_rect *r) {
  char b[32];
  int kind = r->kind >= 0 && r->kind < PLAN_SVG_KINDS ? r->kind : PLAN_SVG_ACTIVATION;
  const char *name = r->name ? r->name : "unnamed";
  double x = gx(g, r->first), w = (double)(r->last + 1 - r->first) * g->pps;
  double y = gy(g, r->offset + r->size), h = (double)r->size / g->ymax * PLOT_H;
  fprintf(f, "<g><rect class=\"k%d\" x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\"/>", kind,
          x, y, w, h);
  fputs("<title>", f);
  put_escaped(f, name);
  fprintf(f, ": %s (%" PRIu64 " B), steps %" PRId64 "..%" PRId64 ", offset %" PRIu64 ", %s</title>",
          plan_svg_bytes(r->size, b, sizeof b), r->size, r->first, r->last, r->offset,
          kind_name[kind]);
  size_t len = strlen(name);
  if (h >= 12.0 && w >= 6.0 * (double)len + 6.0) {
    fprintf(f, "<text class=\"l\" x=\"%.1f\" y=\"%.1f\">", x + w / 2, y + h / 2 + 3.5);
    put_escaped(f, name);
    fputs("</text>", f);
  }
  fputs("</g>\n", f);
}

/* A horizontal line across the plot, labelled at its left end (left) or
 * right end, so the two lines' labels never cover each other. */
static void hline(FILE *f, const geo *g, uint64_t v, const char *cls, const char *what, int left) {
  char b[32];
  double y = gy(g, v);
  fprintf(f, "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", cls, LEFT, y,
          LEFT + g->w, y);
  fprintf(f, "<text class=\"%s t\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">%s %s</text>\n", cls,
          left ? LEFT + 4 : LEFT + g->w - 4, y - 4, left ? "start" : "end", what,
          plan_svg_bytes(v, b, sizeof b));
}

int plan_svg_write(FILE *f, const plan_svg_rect *r, size_t n, const plan_svg_info *info) {
  plan_svg_info in = {0};
  if (info) in = *info;
  geo g = {0, 1, 0, 0, 1};
  uint64_t top = 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 0 || r[i].first < g.x0) g.x0 = r[i].first;
    if (i == 0 || r[i].last + 1 > g.x1) g.x1 = r[i].last + 1;
    if (r[i].offset + r[i].size > top) top = r[i].offset + r[i].size;
  }
  if (g.x1 <= g.x0) g.x1 = g.x0 + 1;
  uint64_t slab = in.slab_bytes ? in.slab_bytes : top;
  uint64_t hi = slab > top ? slab : top;
  if (in.lower_bound > hi) hi = in.lower_bound;
  g.ymax = hi ? (double)hi * 1.06 : 1.0; /* room for the line labels */
  double steps = (double)(g.x1 - g.x0);
  g.w = steps * PX_PER_STEP;
  if (g.w < MIN_W) g.w = MIN_W;
  if (g.w > MAX_W) g.w = MAX_W;
  g.pps = g.w / steps;
  double width = LEFT + g.w + RIGHT, height = TOP + PLOT_H + BOTTOM;

  fprintf(f,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"10\">\n",
          width, height, width, height);
  fputs("<style>rect{stroke:#fff;stroke-width:0.4}", f);
  for (int k = 0; k < PLAN_SVG_KINDS; k++) fprintf(f, ".k%d{fill:%s}", k, kind_fill[k]);
  fputs(".k4{fill-opacity:0.55;stroke:#5b3a57;stroke-dasharray:3 2}"
        ".l{text-anchor:middle;fill:#222;pointer-events:none}"
        ".grid{stroke:#e4e4e4;stroke-width:1}.axis{stroke:#444;stroke-width:1}"
        ".slab{stroke:#c0392b;stroke-width:1.5;fill:#c0392b}"
        ".lb{stroke:#2c3e50;stroke-width:1.2;stroke-dasharray:6 4;fill:#2c3e50}"
        "text.t{stroke:none}</style>\n",
        f);
  fprintf(f,
          "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\" stroke=\"none\"/>\n",
          width, height);

  /* title and summary */
  char b1[32], b2[32];
  fputs("<text x=\"16\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", f);
  put_escaped(f, in.title ? in.title : "memory plan");
  fputs("</text>\n", f);
  fprintf(f, "<text x=\"16\" y=\"42\" font-size=\"11\">slab %s",
          plan_svg_bytes(slab, b1, sizeof b1));
  if (in.lower_bound)
    fprintf(f, ", lower bound %s (gap %.2f%%)", plan_svg_bytes(in.lower_bound, b2, sizeof b2),
            slab >= in.lower_bound
                ? 100.0 * (double)(slab - in.lower_bound) / (double)in.lower_bound
                : 0.0);
  fprintf(f, ", %zu tensors, steps %" PRId64 "..%" PRId64 "</text>\n", n, g.x0, g.x1 - 1);

  /* legend, top right */
  double lx = LEFT + g.w - 5 * 86.0;
  for (int k = 0; k < PLAN_SVG_KINDS; k++) {
    double x = lx + k * 86.0;
    fprintf(f, "<rect class=\"k%d\" x=\"%.1f\" y=\"34\" width=\"10\" height=\"10\"/>", k, x);
    fprintf(f, "<text x=\"%.1f\" y=\"43\">%s</text>\n", x + 14, kind_name[k]);
  }

  /* grid and axes */
  uint64_t bt = byte_tick(hi ? hi : 1);
  for (uint64_t v = 0; (double)v <= g.ymax; v += bt) {
    double y = gy(&g, v);
    fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", LEFT, y,
            LEFT + g.w, y);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 6, y + 3.5,
            plan_svg_bytes(v, b1, sizeof b1));
    if (v > UINT64_MAX - bt) break;
  }
  int64_t st = step_tick(g.x1 - g.x0, (int)(g.w / 60.0) + 1);
  int64_t s0 = g.x0 >= 0 ? (g.x0 + st - 1) / st * st : g.x0 / st * st;
  for (int64_t s = s0; s <= g.x1; s += st) {
    double x = gx(&g, s);
    fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x,
            TOP + PLOT_H, x, TOP + PLOT_H + 5);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%" PRId64 "</text>\n", x,
            TOP + PLOT_H + 17, s);
    if (s > INT64_MAX - st) break;
  }
  fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", LEFT,
          TOP + PLOT_H, LEFT + g.w, TOP + PLOT_H);
  fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", LEFT, TOP,
          LEFT, TOP + PLOT_H);
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">step</text>\n",
          LEFT + g.w / 2, TOP + PLOT_H + 40);
  fprintf(f,
          "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\" "
          "transform=\"rotate(-90 18 %.1f)\">offset</text>\n",
          TOP + PLOT_H / 2, TOP + PLOT_H / 2);

  /* tensors: plain kinds, then aliases on top */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < n; i++)
      if ((r[i].kind == PLAN_SVG_ALIAS) == pass) draw_rect(f, &g, &r[i]);

  if (in.lower_bound) hline(f, &g, in.lower_bound, "lb", "lower bound", 1);
  hline(f, &g, slab, "slab", "slab", 0);
  fputs("</svg>\n", f);
  return ferror(f) ? -1 : 0;
}
