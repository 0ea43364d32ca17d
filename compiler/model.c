/*
 * model.c: the front end proper: a YAML tree -> a graph, checking every rule
 * of the model format (spec section 1) that does not need shapes.
 *
 * Order of work: top-level keys, dims (with --dim overrides), inputs, params,
 * nodes (ops, attributes and their types, tensor references), outputs. Each
 * mistake is reported at the key or value that is wrong and names what was
 * expected. Shapes, dtypes and attribute values are checked later by
 * inference (infer.c), once the graph is sorted.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"
#include "ops.h"

#define ERR(loc, ...) diag_error(g->d, (loc), __VA_ARGS__)

static const char *describe(graph *g, const yml_node *n) { return yml_describe(g->ar, n); }

/* Reject keys of a mapping that are not in the space-separated `allowed`. */
static void check_keys(graph *g, const yml_node *map, const char *what, const char *allowed) {
  for (int i = 0; i < map->n; i++) {
    const char *k = map->keys[i]->str;
    size_t len = strlen(k);
    const char *p = allowed;
    int found = 0;
    while (*p && !found) {
      const char *e = strchr(p, ' ');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (n == len && strncmp(p, k, n) == 0) found = 1;
      p += n + (e != NULL);
    }
    if (!found) ERR(map->keys[i]->loc, "unknown key '%s' in %s (expected one of: %s)", k, what, allowed);
  }
}

static const yml_node *expect_kind(graph *g, const yml_node *n, yml_kind kind, const char *what) {
  static const char *const names[] = {"a string", "a list", "a mapping"};
  if (n->kind != kind || (kind == YML_SCALAR && yml_is_null(n)))
    ERR(n->loc, "%s must be %s, found %s", what, names[kind], describe(g, n));
  return n;
}

static const yml_node *require(graph *g, const yml_node *map, const char *key, const char *what) {
  const yml_node *v = yml_get(map, key);
  if (!v) ERR(map->loc, "%s is missing the required key '%s'", what, key);
  return v;
}

/* --- dims --- */

static void read_dims(graph *g, const yml_node *root, const model_options *opt) {
  const yml_node *dims = yml_get(root, "dims");
  int n = 0;
  if (dims && !yml_is_null(dims)) {
    expect_kind(g, dims, YML_MAP, "'dims'");
    n = dims->n;
  }
  g->dims = arena_array(g->ar, (size_t)n + 1, sizeof *g->dims);
  for (int i = 0; i < n; i++) {
    graph_dimdef *d = &g->dims[i];
    d->name = dims->keys[i]->str;
    d->loc = dims->keys[i]->loc;
    int64_t v;
    if (!yml_as_int(dims->items[i], &v) || v <= 0)
      ERR(dims->items[i]->loc, "dimension '%s' must be a positive integer, found %s", d->name,
          describe(g, dims->items[i]));
    d->value = v;
    if (yml_as_int(dims->keys[i], &v))
      ERR(d->loc, "dimension name '%s' is a number; use a name such as N", d->name);
  }
  g->n_dims = n;
  for (int i = 0; i < opt->n_dim_overrides; i++) {
    const model_dim_override *o = &opt->dim_overrides[i];
    int found = 0;
    for (int j = 0; j < n; j++)
      if (strcmp(g->dims[j].name, o->name) == 0) {
        g->dims[j].value = o->value;
        found = 1;
      }
    if (!found) {
      char names[256] = "";
      for (int j = 0; j < n && strlen(names) < 200; j++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? ", " : "",
                 g->dims[j].name);
      ERR(dims ? dims->loc : root->loc, "--dim %s=%lld: the model has no dimension '%s' (%s%s)",
          o->name, (long long)o->value, o->name, n ? "dims: " : "it declares no dims",
          names);
    }
  }
}

/* --- shapes and dtypes --- */

static void read_shape(graph *g, graph_tensor *t, const yml_node *shape) {
  expect_kind(g, shape, YML_SEQ, arena_printf(g->ar, "the shape of '%s'", t->name));
  if (shape->n > RT_MAX_RANK)
    ERR(shape->loc, "'%s' has rank %d; at most %d dimensions are supported", t->name, shape->n,
        RT_MAX_RANK);
  t->rank = shape->n;
  int64_t numel = 1;
  for (int i = 0; i < shape->n; i++) {
    const yml_node *e = shape->items[i];
    int64_t v;
    graph_dim d = {0, -1};
    if (yml_as_int(e, &v)) {
      if (v <= 0)
        ERR(e->loc, "dimension %d of '%s' must be positive, found %lld", i, t->name, (long long)v);
      d.v = v;
    } else if (e->kind == YML_SCALAR && !yml_is_null(e)) {
      for (int j = 0; j < g->n_dims; j++)
        if (strcmp(g->dims[j].name, e->str) == 0) d = (graph_dim){g->dims[j].value, j};
      if (d.sym < 0)
        ERR(e->loc, "dimension %d of '%s' is '%s', which is not declared in dims", i, t->name,
            e->str);
    } else {
      ERR(e->loc, "dimension %d of '%s' must be a positive integer or a dims name, found %s", i,
          t->name, describe(g, e));
    }
    t->dims[i] = d;
    if (d.v > INT64_MAX / numel)
      ERR(shape->loc, "'%s' has more elements than fit in 64 bits", t->name);
    numel *= d.v;
  }
  if ((uint64_t)numel > UINT64_MAX / 8 / 2)
    ERR(shape->loc, "'%s' is too large (%lld elements)", t->name, (long long)numel);
}

static int read_dtype(graph *g, const yml_node *map, const char *what) {
  const yml_node *dt = yml_get(map, "dtype");
  if (!dt) return RT_F32;
  expect_kind(g, dt, YML_SCALAR, "'dtype'");
  int code = rt_dtype_parse(dt->str);
  if (code < 0)
    ERR(dt->loc, "unknown dtype '%s' for %s (expected float32, float16, bfloat16 or int64)",
        dt->str, what);
  return code;
}

/* --- inputs and params --- */

static void read_inputs(graph *g, const yml_node *root) {
  const yml_node *inputs = require(g, root, "inputs", "the model");
  if (yml_is_null(inputs)) ERR(inputs->loc, "'inputs' must be a mapping of name: {dtype, shape}");
  expect_kind(g, inputs, YML_MAP, "'inputs'");
  g->inputs = arena_array(g->ar, (size_t)inputs->n + 1, sizeof *g->inputs);
  for (int i = 0; i < inputs->n; i++) {
    const yml_node *key = inputs->keys[i], *spec = inputs->items[i];
    if (key->len == 0) ERR(key->loc, "an input name must not be empty");
    const char *what = arena_printf(g->ar, "input '%s'", key->str);
    expect_kind(g, spec, YML_MAP, what);
    check_keys(g, spec, what, "dtype shape");
    graph_tensor *t = graph_add_tensor(g, key->str, GRAPH_INPUT, key->loc);
    t->dtype = read_dtype(g, spec, what);
    read_shape(g, t, require(g, spec, "shape", what));
    g->inputs[g->n_inputs++] = t;
  }
}

static void read_init(graph *g, graph_tensor *t, const yml_node *init) {
  if (init->kind == YML_SCALAR && !yml_is_null(init)) {
    if (!strcmp(init->str, "zeros")) { t->init = GRAPH_INIT_ZEROS; return; }
    if (!strcmp(init->str, "ones")) { t->init = GRAPH_INIT_ONES; return; }
    ERR(init->loc, "unknown init '%s' for param '%s' (expected zeros, ones, {constant: V}, "
                   "{uniform: [LO, HI], seed: S} or {normal: [MEAN, STD], seed: S})",
        init->str, t->name);
  }
  if (init->kind != YML_MAP)
    ERR(init->loc, "init of param '%s' must be zeros, ones or a mapping, found %s", t->name,
        describe(g, init));
  const char *what = arena_printf(g->ar, "the init of param '%s'", t->name);
  const yml_node *c = yml_get(init, "constant"), *u = yml_get(init, "uniform"),
                 *nrm = yml_get(init, "normal");
  if ((c != NULL) + (u != NULL) + (nrm != NULL) != 1)
    ERR(init->loc, "%s must have exactly one of constant, uniform, normal", what);
  if (c) {
    check_keys(g, init, what, "constant");
    if (!yml_as_float(c, &t->init_a))
      ERR(c->loc, "constant of param '%s' must be a number, found %s", t->name, describe(g, c));
    t->init = GRAPH_INIT_CONSTANT;
    return;
  }
  check_keys(g, init, what, u ? "uniform seed" : "normal seed");
  const yml_node *range = u ? u : nrm;
  const char *form = u ? "uniform: [LO, HI]" : "normal: [MEAN, STD]";
  if (range->kind != YML_SEQ || range->n != 2 || !yml_as_float(range->items[0], &t->init_a) ||
      !yml_as_float(range->items[1], &t->init_b))
    ERR(range->loc, "%s must be written %s with two numbers", what, form);
  if (u && !(t->init_a < t->init_b))
    ERR(range->loc, "uniform range of param '%s' is empty: LO must be below HI", t->name);
  if (nrm && !(t->init_b >= 0))
    ERR(range->loc, "normal STD of param '%s' must not be negative", t->name);
  const yml_node *seed = yml_get(init, "seed");
  int64_t s = 0;
  if (seed && (!yml_as_int(seed, &s) || s < 0))
    ERR(seed->loc, "seed of param '%s' must be a non-negative integer, found %s", t->name,
        describe(g, seed));
  t->init_seed = (uint64_t)s;
  t->init = u ? GRAPH_INIT_UNIFORM : GRAPH_INIT_NORMAL;
}

static void read_params(graph *g, const yml_node *root) {
  const yml_node *params = yml_get(root, "params");
  if (!params || yml_is_null(params)) {
    g->params = arena_alloc(g->ar, sizeof *g->params);
    return;
  }
  expect_kind(g, params, YML_MAP, "'params'");
  g->params = arena_array(g->ar, (size_t)params->n + 1, sizeof *g->params);
  for (int i = 0; i < params->n; i++) {
    const yml_node *key = params->keys[i], *spec = params->items[i];
    if (key->len == 0) ERR(key->loc, "a param name must not be empty");
    const char *what = arena_printf(g->ar, "param '%s'", key->str);
    expect_kind(g, spec, YML_MAP, what);
    check_keys(g, spec, what, "dtype shape init values");
    graph_tensor *t = graph_add_tensor(g, key->str, GRAPH_PARAM, key->loc);
    t->dtype = read_dtype(g, spec, what);
    read_shape(g, t, require(g, spec, "shape", what));
    const yml_node *init = yml_get(spec, "init"), *values = yml_get(spec, "values");
    if (init && values)
      ERR(yml_key(spec, "values")->loc, "param '%s' has both init: and values:; give one", t->name);
    if (init) {
      read_init(g, t, init);
    } else if (values) {
      if (values->kind != YML_SEQ)
        ERR(values->loc, "values of param '%s' must be a flat list of numbers, found %s", t->name,
            describe(g, values));
      int64_t want = graph_tensor_numel(t);
      if ((int64_t)values->n != want)
        ERR(values->loc, "param '%s' has shape %s (%lld values) but values: lists %d", t->name,
            graph_shape_str(g, t), (long long)want, values->n);
      t->init = GRAPH_INIT_VALUES;
      t->init_values = values;
    } else {
      if (!g->weights_path)
        ERR(key->loc, "param '%s' has no init: or values: and the model names no weights file",
            t->name);
      t->init = GRAPH_INIT_WEIGHTS;
    }
    g->params[g->n_params++] = t;
  }
}

/* --- nodes --- */

static void read_names(graph *g, const yml_node *v, const char *what, int *n, const yml_node ***items) {
  if (v->kind == YML_SCALAR && !yml_is_null(v)) {
    *items = arena_array(g->ar, 1, sizeof **items);
    (*items)[0] = v;
    *n = 1;
    return;
  }
  if (v->kind != YML_SEQ)
    ERR(v->loc, "%s must be a tensor name or a list of names, found %s", what, describe(g, v));
  for (int i = 0; i < v->n; i++)
    if (v->items[i]->kind != YML_SCALAR || yml_is_null(v->items[i]))
      ERR(v->items[i]->loc, "%s: entry %d must be a tensor name, found %s", what, i,
          describe(g, v->items[i]));
  *items = (const yml_node **)v->items;
  *n = v->n;
}

static void read_attr(graph *g, graph_node *node, graph_attr *a, const yml_node *key,
                      const yml_node *v) {
  char tbuf[8];
  const char *type = op_attr_type(node->op, key->str, tbuf, sizeof tbuf);
  const char *desc = graph_node_desc(g, node);
  if (!type) {
    const op_schema *s = op_schema_get(node->op);
    ERR(key->loc, "%s has no attribute '%s' (%s takes: %s)", desc, key->str, rt_op_name(node->op),
        s->attrs[0] ? s->attrs : "no attributes");
  }
  a->name = key->str;
  a->loc = v->loc;
  int64_t iv;
  double fv;
  if (!strcmp(type, "s")) {
    if (v->kind != YML_SCALAR || yml_is_null(v))
      ERR(v->loc, "%s: attribute '%s' must be a string, found %s", desc, a->name, describe(g, v));
    a->type = GRAPH_ATTR_STRING;
    a->str = v->str;
    a->n = 1;
    return;
  }
  if (!strcmp(type, "i") || !strcmp(type, "f")) {
    int want_int = type[0] == 'i';
    a->n = 1;
    a->ints = arena_alloc(g->ar, sizeof *a->ints);
    a->floats = arena_alloc(g->ar, sizeof *a->floats);
    if (yml_as_int(v, &iv)) {
      a->type = GRAPH_ATTR_INT;
      a->ints[0] = iv;
      a->floats[0] = (double)iv;
    } else if (!want_int && yml_as_float(v, &fv)) {
      a->type = GRAPH_ATTR_FLOAT;
      a->floats[0] = fv;
    } else {
      ERR(v->loc, "%s: attribute '%s' must be %s, found %s", desc, a->name,
          want_int ? "an integer" : "a number", describe(g, v));
    }
    return;
  }
  /* lists */
  int want_int = type[0] == 'i';
  if (v->kind != YML_SEQ)
    ERR(v->loc, "%s: attribute '%s' must be a list of %s, found %s", desc, a->name,
        want_int ? "integers" : "numbers", describe(g, v));
  a->type = want_int ? GRAPH_ATTR_INTS : GRAPH_ATTR_FLOATS;
  a->n = v->n;
  a->ints = arena_array(g->ar, (size_t)v->n + 1, sizeof *a->ints);
  a->floats = arena_array(g->ar, (size_t)v->n + 1, sizeof *a->floats);
  for (int i = 0; i < v->n; i++) {
    const yml_node *e = v->items[i];
    if (yml_as_int(e, &iv)) {
      a->ints[i] = iv;
      a->floats[i] = (double)iv;
    } else if (!want_int && yml_as_float(e, &fv)) {
      a->floats[i] = fv;
    } else {
      ERR(e->loc, "%s: attribute '%s' entry %d must be %s, found %s", desc, a->name, i,
          want_int ? "an integer" : "a number", describe(g, e));
    }
  }
}

static void read_node(graph *g, const yml_node *spec, int index, strmap *node_names) {
  if (spec->kind != YML_MAP)
    ERR(spec->loc, "node %d must be a mapping {op, in, out, ...}, found %s", index, describe(g, spec));
  graph_node *n = arena_alloc(g->ar, sizeof *n);
  n->index = index;
  n->loc = spec->loc;
  const yml_node *op = yml_get(spec, "op");
  if (!op) ERR(spec->loc, "node %d is missing the required key 'op'", index);
  expect_kind(g, op, YML_SCALAR, "'op'");
  n->op_loc = op->loc;
  n->op = rt_op_parse(op->str);
  if (n->op < 0) ERR(op->loc, "unknown op '%s' (see spec section 1 for the supported ops)", op->str);
  const yml_node *name = yml_get(spec, "name");
  if (name) {
    expect_kind(g, name, YML_SCALAR, "'name'");
    n->name = name->str;
    n->named = true;
    const yml_node *first = strmap_put(node_names, n->name, (void *)name);
    if (first) ERR(name->loc, "node name '%s' is used twice (first at %s)", n->name, diag_where(first->loc));
  } else {
    n->name = arena_printf(g->ar, "%s_%d", op->str, index);
  }
  const op_schema *s = op_schema_get(n->op);
  const char *desc = graph_node_desc(g, n);

  /* inputs: resolved to tensors after every node's outputs are known */
  const yml_node *in = yml_get(spec, "in");
  const yml_node **in_names = NULL;
  n->n_in = 0;
  if (in) read_names(g, in, arena_printf(g->ar, "'in' of %s", desc), &n->n_in, &in_names);
  else if (s->min_in > 0) ERR(spec->loc, "%s is missing the required key 'in'", desc);
  if (n->n_in < s->min_in || (s->max_in >= 0 && n->n_in > s->max_in)) {
    const yml_node *at = in ? in : spec;
    if (s->max_in < 0)
      ERR(at->loc, "%s takes at least %d inputs, found %d", desc, s->min_in, n->n_in);
    else if (s->min_in == s->max_in)
      ERR(at->loc, "%s takes %d input%s, found %d", desc, s->min_in, s->min_in == 1 ? "" : "s", n->n_in);
    else
      ERR(at->loc, "%s takes %d to %d inputs, found %d", desc, s->min_in, s->max_in, n->n_in);
  }
  n->in = arena_array(g->ar, (size_t)n->n_in + 1, sizeof *n->in);
  n->in_loc = arena_array(g->ar, (size_t)n->n_in + 1, sizeof *n->in_loc);
  for (int i = 0; i < n->n_in; i++) n->in_loc[i] = in_names[i]->loc;
  /* Stash the names in the tensor slots until resolve_inputs() runs. */
  for (int i = 0; i < n->n_in; i++) n->in[i] = (graph_tensor *)in_names[i];

  const yml_node *out = yml_get(spec, "out");
  if (!out) ERR(spec->loc, "%s is missing the required key 'out'", desc);
  const yml_node **out_names;
  read_names(g, out, arena_printf(g->ar, "'out' of %s", desc), &n->n_out, &out_names);
  if (n->n_out < s->min_out || n->n_out > s->max_out) {
    if (s->min_out == s->max_out)
      ERR(out->loc, "%s has %d output%s, found %d", desc, s->min_out, s->min_out == 1 ? "" : "s", n->n_out);
    ERR(out->loc, "%s has %d to %d outputs, found %d", desc, s->min_out, s->max_out, n->n_out);
  }
  n->out = arena_array(g->ar, (size_t)n->n_out + 1, sizeof *n->out);
  n->out_loc = arena_array(g->ar, (size_t)n->n_out + 1, sizeof *n->out_loc);
  for (int i = 0; i < n->n_out; i++) {
    n->out_loc[i] = out_names[i]->loc;
    if (out_names[i]->len == 0) continue; /* optional output not wanted */
    graph_tensor *t = graph_add_tensor(g, out_names[i]->str, GRAPH_VALUE, out_names[i]->loc);
    t->producer = n;
    n->out[i] = t;
  }
  if (n->n_out > 0 && !n->out[0])
    ERR(out_names[0]->loc, "%s: the first output must be named", desc);

  /* attributes: every key that is not op/in/out/name */
  n->attrs = arena_array(g->ar, (size_t)spec->n + 1, sizeof *n->attrs);
  for (int i = 0; i < spec->n; i++) {
    const char *k = spec->keys[i]->str;
    if (!strcmp(k, "op") || !strcmp(k, "in") || !strcmp(k, "out") || !strcmp(k, "name")) continue;
    read_attr(g, n, &n->attrs[n->n_attrs++], spec->keys[i], spec->items[i]);
  }
  g->nodes[g->n_nodes++] = n;
}

static void resolve_inputs(graph *g) {
  for (int k = 0; k < g->n_nodes; k++) {
    graph_node *n = g->nodes[k];
    for (int i = 0; i < n->n_in; i++) {
      const yml_node *name = (const yml_node *)n->in[i];
      if (name->len == 0) { /* "" skips an optional input */
        n->in[i] = NULL;
        continue;
      }
      graph_tensor *t = graph_find(g, name->str);
      if (!t)
        ERR(name->loc, "%s reads undefined tensor '%s' (not an input, param or node output)",
            graph_node_desc(g, n), name->str);
      n->in[i] = t;
      t->n_uses++;
    }
  }
}

static void read_outputs(graph *g, const yml_node *root) {
  const yml_node *outs = require(g, root, "outputs", "the model");
  if (outs->kind != YML_SEQ || outs->n == 0)
    ERR(outs->loc, "'outputs' must be a non-empty list of tensor names, found %s", describe(g, outs));
  g->outputs = arena_array(g->ar, (size_t)outs->n, sizeof *g->outputs);
  for (int i = 0; i < outs->n; i++) {
    const yml_node *e = outs->items[i];
    if (e->kind != YML_SCALAR || yml_is_null(e) || e->len == 0)
      ERR(e->loc, "outputs: entry %d must be a tensor name, found %s", i, describe(g, e));
    graph_tensor *t = graph_find(g, e->str);
    if (!t) ERR(e->loc, "output '%s' is not defined (not an input, param or node output)", e->str);
    if (t->is_output) ERR(e->loc, "output '%s' is listed twice", e->str);
    t->is_output = true;
    g->outputs[g->n_outputs++] = t;
  }
}

/* Inputs and outputs are also file names in a data directory (spec 3):
 * each must map to a usable name, and no two inputs (or outputs) to the same. */
static void check_file_names(graph *g, graph_tensor **ts, int n, const char *what) {
  strmap seen;
  strmap_init(&seen, g->ar);
  for (int i = 0; i < n; i++) {
    char file[300];
    if (rt_npy_filename(ts[i]->name, file, sizeof file))
      ERR(ts[i]->loc, "%s '%s' cannot be a data file name (empty, '.', '..' or over 250 bytes)",
          what, ts[i]->name);
    graph_tensor *other = strmap_get(&seen, file);
    if (other)
      ERR(ts[i]->loc, "%ss '%s' and '%s' would both be the data file %s ('/' and ':' are written "
                      "as '_')", what, other->name, ts[i]->name, file);
    strmap_put(&seen, arena_strdup(g->ar, file), ts[i]);
  }
}

/* A directory part of path (with trailing '/'), or "" */
static const char *dir_of(graph *g, const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? arena_strndup(g->ar, path, (size_t)(slash - path + 1)) : "";
}

graph *model_build(arena *a, diag *d, const yml_node *root, const char *file,
                   const model_options *opt) {
  static const model_options no_options;
  if (!opt) opt = &no_options;
  graph *g = arena_alloc(a, sizeof *g);
  g->ar = a;
  g->d = d;
  g->file = file;
  g->batch_sym = -1;
  strmap_init(&g->by_name, a);
  check_keys(g, root, "the model", "name dims weights inputs params nodes outputs");

  const yml_node *name = require(g, root, "name", "the model");
  expect_kind(g, name, YML_SCALAR, "'name'");
  g->name = name->str;

  const yml_node *w = yml_get(root, "weights");
  if (w) {
    expect_kind(g, w, YML_SCALAR, "'weights'");
    g->weights_loc = w->loc;
    g->weights_path = w->str[0] == '/' ? w->str : arena_printf(a, "%s%s", dir_of(g, file), w->str);
  }
  read_dims(g, root, opt);
  read_inputs(g, root);
  read_params(g, root);

  const yml_node *nodes = require(g, root, "nodes", "the model");
  if (nodes->kind != YML_SEQ)
    ERR(nodes->loc, "'nodes' must be a list of nodes, found %s", describe(g, nodes));
  g->nodes = arena_array(a, (size_t)nodes->n + 1, sizeof *g->nodes);
  strmap node_names;
  strmap_init(&node_names, a);
  for (int i = 0; i < nodes->n; i++) read_node(g, nodes->items[i], i, &node_names);
  resolve_inputs(g);
  read_outputs(g, root);
  check_file_names(g, g->inputs, g->n_inputs, "input");
  check_file_names(g, g->outputs, g->n_outputs, "output");
  return g;
}
