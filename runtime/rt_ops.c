/*
 * rt_ops.c: op names.
 */
#include "rt_ops.h"

#include <string.h>

static const char *const op_names[RT_OP_COUNT] = {
#define RT_OP_NAME(id, name) [RT_OP_##id] = name,
    RT_OP_LIST(RT_OP_NAME)
#undef RT_OP_NAME
};

const char *rt_op_name(int op) { return op >= 0 && op < RT_OP_COUNT ? op_names[op] : NULL; }

int rt_op_parse(const char *name) {
  for (int i = 0; i < RT_OP_COUNT; i++)
    if (strcmp(name, op_names[i]) == 0) return i;
  return -1;
}
