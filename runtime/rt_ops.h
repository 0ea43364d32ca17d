/*
 * rt_ops.h: the operator set, one code per ONNX operator of the model format.
 *
 * The compiler's graph IR and the runtime's kernels share these codes, and
 * plan.bin stores them: the list is append only (a new op goes at the end).
 *
 * Canonical attributes. The compiler resolves every ONNX attribute (defaults,
 * negative axes, auto_pad, ceil_mode, Slice clamping, ...) before lowering, so
 * a kernel receives a small fixed layout of int64 (ia) and float (fa) values:
 *
 *   LeakyRelu          fa = [alpha]
 *   Clip               fa = [min, max]            (-inf / +inf when absent)
 *   HardSigmoid        fa = [alpha, beta]
 *   Gelu               ia = [approximate]         (0 none, 1 tanh)
 *   Gemm               ia = [transA, transB]  fa = [alpha, beta]
 *   Conv               ia = [group, kh, kw, sh, sw, dh, dw, pad_t, pad_l, pad_b, pad_r]
 *   MaxPool            ia = [kh, kw, sh, sw, dh, dw, pad_t, pad_l, pad_b, pad_r, 0]
 *   AveragePool        ia = [kh, kw, sh, sw, dh, dw, pad_t, pad_l, pad_b, pad_r, count_include_pad]
 *   LRN                ia = [size]  fa = [alpha, beta, bias]
 *   BatchNormalization fa = [epsilon]
 *   LayerNormalization ia = [axis]  fa = [epsilon]            (axis in 0..rank-1)
 *   Softmax, LogSoftmax ia = [axis]                           (axis in 0..rank-1)
 *   ReduceMean/Sum/Max ia = [keepdims, axis...]               (sorted, unique, >= 1 axis)
 *   Transpose          ia = perm                              (length rank)
 *   Concat, Split      ia = [axis]                            (split sizes: the output views)
 *   Slice              ia = [start_0..start_{r-1}, step_0..step_{r-1}]  (every input axis;
 *                      output index j on axis d reads input start_d + j * step_d)
 *   Pad                ia = [begin_0..begin_{r-1}, end_0..end_{r-1}] (may be negative)
 *                      fa = [value]
 *   Gather             ia = [axis]            (indices int64, negative counts from the end)
 *   everything else    no attributes; output shapes are given by the output views.
 *
 * Pooling output sizes already include ceil_mode: a window that starts past
 * the end of the padded input is never produced by the compiler.
 */
#ifndef RT_OPS_H
#define RT_OPS_H

#define RT_OP_LIST(X)                                                          \
  X(ABS, "Abs") X(NEG, "Neg") X(RELU, "Relu") X(LEAKY_RELU, "LeakyRelu")       \
  X(SIGMOID, "Sigmoid") X(TANH, "Tanh") X(GELU, "Gelu") X(ERF, "Erf")          \
  X(EXP, "Exp") X(LOG, "Log") X(SQRT, "Sqrt") X(RECIPROCAL, "Reciprocal")      \
  X(CLIP, "Clip") X(HARD_SIGMOID, "HardSigmoid") X(HARD_SWISH, "HardSwish")    \
  X(SOFTPLUS, "Softplus") X(IDENTITY, "Identity") X(DROPOUT, "Dropout")        \
  X(ADD, "Add") X(SUB, "Sub") X(MUL, "Mul") X(DIV, "Div") X(POW, "Pow")        \
  X(MAX, "Max") X(MIN, "Min") X(SUM, "Sum")                                    \
  X(MATMUL, "MatMul") X(GEMM, "Gemm")                                          \
  X(CONV, "Conv") X(MAX_POOL, "MaxPool") X(AVERAGE_POOL, "AveragePool")        \
  X(GLOBAL_AVERAGE_POOL, "GlobalAveragePool")                                  \
  X(GLOBAL_MAX_POOL, "GlobalMaxPool") X(LRN, "LRN")                            \
  X(BATCH_NORM, "BatchNormalization") X(LAYER_NORM, "LayerNormalization")      \
  X(SOFTMAX, "Softmax") X(LOG_SOFTMAX, "LogSoftmax")                           \
  X(REDUCE_MEAN, "ReduceMean") X(REDUCE_SUM, "ReduceSum")                      \
  X(REDUCE_MAX, "ReduceMax")                                                   \
  X(RESHAPE, "Reshape") X(FLATTEN, "Flatten") X(TRANSPOSE, "Transpose")        \
  X(CONCAT, "Concat") X(SPLIT, "Split") X(SLICE, "Slice")                      \
  X(SQUEEZE, "Squeeze") X(UNSQUEEZE, "Unsqueeze") X(PAD, "Pad")                \
  X(GATHER, "Gather")

typedef enum rt_op {
#define RT_OP_ENUM(id, name) RT_OP_##id,
  RT_OP_LIST(RT_OP_ENUM)
#undef RT_OP_ENUM
  RT_OP_COUNT
} rt_op;

/* ONNX name of an op ("Conv"), or NULL for an invalid code. */
const char *rt_op_name(int op);
/* Code of an ONNX op name, or -1. */
int rt_op_parse(const char *name);

#endif
