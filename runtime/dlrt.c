/*
 * dlrt.c: the public runtime API (dlrt.h) over the plan loader and the
 * backends: the same validation dlrun does, one backend, and a run that
 * copies bound host buffers in and out of the backend's own buffers.
 */
#include "dlrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_backend.h"
#include "rt_plan.h"

struct dlrt_model {
  rt_plan plan;
  rt_backend *backend;
  const void **in;
  size_t *in_bytes;
  void **out;
  size_t *out_bytes;
};

static int fail(char *err, size_t size, const char *fmt, const char *arg) {
  if (err && size) snprintf(err, size, fmt, arg);
  return -1;
}

dlrt_model *dlrt_load(const char *plan_path, const dlrt_options *opt, char *err, size_t err_size) {
  static const dlrt_options defaults = {DLRT_DEVICE_AUTO, 0};
  if (!opt) opt = &defaults;
  dlrt_model *m = calloc(1, sizeof *m);
  if (!m) {
    fail(err, err_size, "out of memory%s", "");
    return NULL;
  }
  if (rt_plan_read(plan_path, &m->plan, err, err_size) ||
      rt_plan_verify_memory(&m->plan, err, err_size)) {
    rt_plan_free(&m->plan);
    free(m);
    return NULL;
  }
  if (opt->device != DLRT_DEVICE_CPU) {
    rt_cuda_status st;
    char why[1024];
    m->backend = rt_cuda_backend_create(&m->plan, opt->threads, &st, why, sizeof why);
    int fatal = !m->backend && (opt->device == DLRT_DEVICE_CUDA || (st != RT_CUDA_NO_DRIVER &&
                                                                    st != RT_CUDA_NO_DEVICE &&
                                                                    st != RT_CUDA_NO_CODE));
    if (fatal) {
      fail(err, err_size, "%s", why);
      dlrt_free(m);
      return NULL;
    }
  }
  if (!m->backend) m->backend = rt_cpu_backend_create(&m->plan, opt->threads, err, err_size);
  uint32_t ni = m->plan.n_inputs, no = m->plan.n_outputs;
  m->in = calloc((size_t)ni + 1, sizeof *m->in);
  m->in_bytes = calloc((size_t)ni + 1, sizeof *m->in_bytes);
  m->out = calloc((size_t)no + 1, sizeof *m->out);
  m->out_bytes = calloc((size_t)no + 1, sizeof *m->out_bytes);
  if (!m->backend || !m->in || !m->in_bytes || !m->out || !m->out_bytes) {
    if (m->backend) fail(err, err_size, "out of memory%s", "");
    dlrt_free(m);
    return NULL;
  }
  return m;
}

void dlrt_free(dlrt_model *m) {
  if (!m) return;
  if (m->backend) m->backend->destroy(m->backend);
  rt_plan_free(&m->plan);
  free(m->in);
  free(m->in_bytes);
  free(m->out);
  free(m->out_bytes);
  free(m);
}

const char *dlrt_backend(const dlrt_model *m) { return m->backend->name; }
const char *dlrt_device_name(const dlrt_model *m) {
  return m->backend->card[0] ? m->backend->card : m->backend->device;
}
int dlrt_num_inputs(const dlrt_model *m) { return (int)m->plan.n_inputs; }
int dlrt_num_outputs(const dlrt_model *m) { return (int)m->plan.n_outputs; }

static void info_of(const rt_tensor *t, dlrt_tensor_info *info) {
  memset(info, 0, sizeof *info);
  info->name = t->name;
  info->dtype = rt_dtype_name(t->dtype);
  info->rank = t->rank;
  memcpy(info->dims, t->dims, sizeof info->dims);
  info->bytes = (size_t)t->bytes;
}

int dlrt_input_info(const dlrt_model *m, int i, dlrt_tensor_info *info) {
  if (i < 0 || (uint32_t)i >= m->plan.n_inputs) return -1;
  info_of(&m->plan.tensors[m->plan.inputs[i]], info);
  return 0;
}

int dlrt_output_info(const dlrt_model *m, int i, dlrt_tensor_info *info) {
  if (i < 0 || (uint32_t)i >= m->plan.n_outputs) return -1;
  info_of(&m->plan.tensors[m->plan.outputs[i]], info);
  return 0;
}

static int index_of(const rt_plan *p, const int32_t *ids, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (!strcmp(p->tensors[ids[i]].name, name)) return (int)i;
  return -1;
}
int dlrt_input_index(const dlrt_model *m, const char *name) {
  return index_of(&m->plan, m->plan.inputs, m->plan.n_inputs, name);
}
int dlrt_output_index(const dlrt_model *m, const char *name) {
  return index_of(&m->plan, m->plan.outputs, m->plan.n_outputs, name);
}

int dlrt_bind_input(dlrt_model *m, int i, const void *host, size_t bytes) {
  if (i < 0 || (uint32_t)i >= m->plan.n_inputs || !host ||
      bytes != m->plan.tensors[m->plan.inputs[i]].bytes)
    return -1;
  m->in[i] = host;
  m->in_bytes[i] = bytes;
  return 0;
}

int dlrt_bind_output(dlrt_model *m, int i, void *host, size_t bytes) {
  if (i < 0 || (uint32_t)i >= m->plan.n_outputs || !host ||
      bytes != m->plan.tensors[m->plan.outputs[i]].bytes)
    return -1;
  m->out[i] = host;
  m->out_bytes[i] = bytes;
  return 0;
}

int dlrt_run(dlrt_model *m, char *err, size_t err_size) {
  rt_backend *b = m->backend;
  for (uint32_t i = 0; i < m->plan.n_inputs; i++) {
    if (!m->in[i]) return fail(err, err_size, "input '%s' is not bound", m->plan.tensors[m->plan.inputs[i]].name);
    memcpy(rt_backend_input(b, 0, i), m->in[i], m->in_bytes[i]);
  }
  for (uint32_t i = 0; i < m->plan.n_outputs; i++)
    if (!m->out[i]) return fail(err, err_size, "output '%s' is not bound", m->plan.tensors[m->plan.outputs[i]].name);
  if (b->submit) {
    double ms;
    if (b->submit(b, 0, err, err_size) || b->wait(b, 0, &ms, err, err_size)) return -1;
  } else if (b->run(b, err, err_size)) {
    return -1;
  }
  for (uint32_t i = 0; i < m->plan.n_outputs; i++)
    memcpy(m->out[i], rt_backend_output(b, 0, i), m->out_bytes[i]);
  return 0;
}
