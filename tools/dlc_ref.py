#!/usr/bin/env python3
"""dlc_ref.py: an independent NumPy interpreter of the dlc model format.

It shares no code with dlc: it reads the YAML with PyYAML, materialises the
params (values:, the seeded init: generator of runtime/rt_init.h, or the
safetensors weights file) and evaluates the nodes with NumPy in float64
following the ONNX operator definitions. It produces the reference outputs
committed under models/*/expected/ and lets other tools (bench scripts,
PyTorch comparisons) get exactly the weights dlc uses.

    python3 tools/dlc_ref.py MODEL.yaml --data DIR --out DIR [--dim N=8]
    python3 tools/dlc_ref.py MODEL.yaml --export-params FILE.npz
"""
import argparse
import math
import os
import struct
import sys

import numpy as np
import yaml

DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64, "bfloat16": None}


# --- the init generator (runtime/rt_init.h) --------------------------------

M64 = (1 << 64) - 1


def uniform01(seed, idx):
    """u(i) of rt_init.h for an array of indices (uint64)."""
    with np.errstate(over="ignore"):
        z = (np.uint64(seed) * np.uint64(0xD1B54A32D192ED03)
             + (idx + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def init_values(kind, a, b, seed, n):
    if kind == "zeros":
        return np.zeros(n)
    if kind == "ones":
        return np.ones(n)
    if kind == "constant":
        return np.full(n, float(a))
    i = np.arange(n, dtype=np.uint64)
    if kind == "uniform":
        return a + (b - a) * uniform01(seed, i)
    if kind == "normal":
        j = i // np.uint64(2)
        r = np.sqrt(-2.0 * np.log(1.0 - uniform01(seed, np.uint64(2) * j)))
        t = 2.0 * math.pi * uniform01(seed, np.uint64(2) * j + np.uint64(1))
        return a + b * r * np.where(i % np.uint64(2) == 1, np.sin(t), np.cos(t))
    raise ValueError(kind)


# --- safetensors ------------------------------------------------------------

def read_safetensors(path):
    import json
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64}[e["dtype"]]
        out[name] = np.frombuffer(data[b:end], dtype=dt).reshape(e["shape"])
    return out


# --- model ------------------------------------------------------------------

class Model:
    def __init__(self, path, dims_override=None):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.dir = os.path.dirname(path)
        self.dims = dict(self.doc.get("dims") or {})
        self.dims.update(dims_override or {})
        self.params = {}
        weights = None
        for name, spec in (self.doc.get("params") or {}).items():
            shape = self.shape(spec["shape"])
            dt = DTYPES[spec.get("dtype", "float32")]
            n = int(np.prod(shape)) if shape else 1
            if "values" in spec:
                v = np.array(spec["values"], dtype=np.float64)
            elif "init" in spec:
                init = spec["init"]
                if isinstance(init, str):
                    v = init_values(init, 0, 0, 0, n)
                elif "constant" in init:
                    v = init_values("constant", init["constant"], 0, 0, n)
                else:
                    kind = "uniform" if "uniform" in init else "normal"
                    lo, hi = init[kind]
                    v = init_values(kind, float(lo), float(hi), int(init.get("seed", 0)), n)
            else:
                if weights is None:
                    weights = read_safetensors(os.path.join(self.dir, self.doc["weights"]))
                v = weights[name].astype(np.float64)
            # rounded as dlc rounds: to float32 first
            self.params[name] = v.astype(np.float32).astype(dt).reshape(shape)

    def shape(self, s):
        return tuple(self.dims[d] if isinstance(d, str) else int(d) for d in s)

    def inputs(self):
        return {k: (self.shape(v["shape"]), v.get("dtype", "float32"))
                for k, v in self.doc["inputs"].items()}

    def run(self, feeds):
        env = {k: np.asarray(v, dtype=np.float64) if v.dtype != np.int64 else v
               for k, v in feeds.items()}
        for k, v in self.params.items():
            env[k] = v.astype(np.float64) if v.dtype != np.int64 else v
        nodes = list(self.doc["nodes"])
        done = set(env)
        while nodes:  # any order in the file: run what is ready
            progress = False
            for node in list(nodes):
                ins = node["in"] if isinstance(node["in"], list) else [node["in"]]
                if all(i == "" or i in done for i in ins):
                    outs = node["out"] if isinstance(node["out"], list) else [node["out"]]
                    attrs = {k: v for k, v in node.items() if k not in ("op", "in", "out", "name")}
                    res = OPS[node["op"]]([env[i] if i else None for i in ins], attrs, len(outs))
                    if not isinstance(res, tuple):
                        res = (res,)
                    for o, r in zip(outs, res):
                        if o:
                            env[o] = r
                            done.add(o)
                    nodes.remove(node)
                    progress = True
            if not progress:
                raise ValueError("cycle or undefined tensor")
        return {o: env[o] for o in self.doc["outputs"]}


# --- ops (ONNX semantics, float64) -----------------------------------------

def erf(x):
    return np.vectorize(math.erf)(x)


def gelu(x, a):
    if a.get("approximate", "none") == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def window_params(x, a, k):
    s = a.get("strides", [1, 1])
    d = a.get("dilations", [1, 1])
    p = list(a.get("pads", [0, 0, 0, 0]))
    ap = a.get("auto_pad", "NOTSET")
    ceil_mode = a.get("ceil_mode", 0)
    out = []
    for i in range(2):
        n, span = x.shape[2 + i], (k[i] - 1) * d[i] + 1
        if ap in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-n // s[i])
            tot = max((o - 1) * s[i] + span - n, 0)
            p[i] = tot // 2 if ap == "SAME_UPPER" else tot - tot // 2
            p[i + 2] = tot - p[i]
        elif ap == "VALID":
            o = (n - span) // s[i] + 1
        else:
            room = n + p[i] + p[i + 2] - span
            o = (-(-room // s[i]) if ceil_mode else room // s[i]) + 1
            if ceil_mode and (o - 1) * s[i] >= n + p[i]:
                o -= 1
        out.append(o)
    return s, d, p, out


def conv(ins, a, n_out):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    g = a.get("group", 1)
    s, d, p, (oh, ow) = window_params(x, a, w.shape[2:])
    N, C, H, W = x.shape
    M, cg, kh, kw = w.shape
    xp = np.zeros((N, C, H + p[0] + p[2] + kh * d[0], W + p[1] + p[3] + kw * d[1]))
    xp[:, :, p[0]:p[0] + H, p[1]:p[1] + W] = x
    y = np.zeros((N, M, oh, ow))
    mg = M // g
    for gi in range(g):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        ws = w[gi * mg:(gi + 1) * mg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * d[0]:i * d[0] + s[0] * oh:s[0], j * d[1]:j * d[1] + s[1] * ow:s[1]]
                y[:, gi * mg:(gi + 1) * mg] += np.einsum("nchw,mc->nmhw", patch, ws[:, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def pool(ins, a, n_out, kind):
    x = ins[0]
    k = a["kernel_shape"]
    s, d, p, (oh, ow) = window_params(x, a, k)
    N, C, H, W = x.shape
    cip = a.get("count_include_pad", 0)
    y = np.zeros((N, C, oh, ow))
    for oi in range(oh):
        for oj in range(ow):
            h0, w0 = oi * s[0] - p[0], oj * s[1] - p[1]
            hs = [h0 + i * d[0] for i in range(k[0])]
            ws = [w0 + j * d[1] for j in range(k[1])]
            hv = [h for h in hs if 0 <= h < H]
            wv = [w for w in ws if 0 <= w < W]
            win = x[:, :, hv][:, :, :, wv]
            if kind == "max":
                y[:, :, oi, oj] = win.max(axis=(2, 3))
            else:
                if cip:
                    hc = sum(1 for h in hs if -p[0] <= h < H + p[2])
                    wc = sum(1 for w in ws if -p[1] <= w < W + p[3])
                    cnt = hc * wc
                else:
                    cnt = len(hv) * len(wv)
                y[:, :, oi, oj] = win.sum(axis=(2, 3)) / cnt
    return y


def lrn(ins, a, n_out):
    x = ins[0]
    size, alpha, beta, bias = a["size"], a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0)
    C = x.shape[1]
    sq = np.zeros_like(x)
    for c in range(C):
        lo, hi = max(0, c - (size - 1) // 2), min(C - 1, c + -(-(size - 1) // 2))
        sq[:, c] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
    return x / (bias + alpha / size * sq) ** beta


def batch_norm(ins, a, n_out):
    x, sc, b, m, v = ins
    sh = (1, -1) + (1,) * (x.ndim - 2)
    return (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + a.get("epsilon", 1e-5)) * sc.reshape(sh) + b.reshape(sh)


def layer_norm(ins, a, n_out):
    x, sc = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    ax = a.get("axis", -1) % x.ndim
    axes = tuple(range(ax, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + a.get("epsilon", 1e-5))
    y = (x - mean) * inv * sc
    if b is not None:
        y = y + b
    return (y, mean, inv)[:n_out]


def softmax(ins, a, n_out, log=False):
    x = ins[0]
    ax = a.get("axis", -1)
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    s = e.sum(axis=ax, keepdims=True)
    return np.log(e / s) if log else e / s


def reduce(ins, a, n_out, f):
    x = ins[0]
    axes = a.get("axes")
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    return f(x, axis=tuple(ax % x.ndim for ax in axes), keepdims=bool(a.get("keepdims", 1)))


def reshape(ins, a, n_out):
    x = ins[0]
    shape = [x.shape[i] if v == 0 and not a.get("allowzero", 0) else v for i, v in enumerate(a["shape"])]
    return x.reshape(shape)


def split(ins, a, n_out):
    x = ins[0]
    ax = a.get("axis", 0) % x.ndim
    sizes = a.get("split")
    if sizes is None:
        c = -(-x.shape[ax] // n_out)
        sizes = [c] * (n_out - 1) + [x.shape[ax] - c * (n_out - 1)]
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=ax))


def slice_(ins, a, n_out):
    x = ins[0]
    st, en = a["starts"], a["ends"]
    axes = a.get("axes", list(range(len(st))))
    steps = a.get("steps", [1] * len(st))
    sl = [slice(None)] * x.ndim
    for s, e, ax, k in zip(st, en, axes, steps):
        sl[ax % x.ndim] = slice(s, e, k) if not (k < 0 and e < -x.shape[ax]) else slice(s, None, k)
    return x[tuple(sl)]


def pad(ins, a, n_out):
    x = ins[0]
    r = x.ndim
    p = a["pads"]
    y = x
    for i in range(r):  # negative pads crop
        b, e = p[i], p[i + r]
        if b < 0:
            y = np.take(y, range(-b, y.shape[i]), axis=i)
        if e < 0:
            y = np.take(y, range(0, y.shape[i] + e), axis=i)
    width = [(max(p[i], 0), max(p[i + r], 0)) for i in range(r)]
    return np.pad(y, width, constant_values=a.get("value", 0.0))


def squeeze(ins, a, n_out):
    x = ins[0]
    axes = a.get("axes")
    return np.squeeze(x, axis=tuple(ax % x.ndim for ax in axes)) if axes else np.squeeze(x)


def unsqueeze(ins, a, n_out):
    x = ins[0]
    r = x.ndim + len(a["axes"])
    for ax in sorted(ax % r for ax in a["axes"]):
        x = np.expand_dims(x, ax)
    return x


def gemm(ins, a, n_out):
    A, B = ins[0], ins[1]
    if a.get("transA", 0):
        A = A.T
    if a.get("transB", 0):
        B = B.T
    y = a.get("alpha", 1.0) * (A @ B)
    if len(ins) > 2 and ins[2] is not None:
        y = y + a.get("beta", 1.0) * ins[2]
    return y


def fold(f):
    def op(ins, a, n_out):
        y = ins[0]
        for x in ins[1:]:
            y = f(y, x)
        return y
    return op


OPS = {
    "Abs": lambda i, a, n: np.abs(i[0]), "Neg": lambda i, a, n: -i[0],
    "Relu": lambda i, a, n: np.maximum(i[0], 0),
    "LeakyRelu": lambda i, a, n: np.where(i[0] >= 0, i[0], a.get("alpha", 0.01) * i[0]),
    "Sigmoid": lambda i, a, n: 1 / (1 + np.exp(-i[0])), "Tanh": lambda i, a, n: np.tanh(i[0]),
    "Gelu": lambda i, a, n: gelu(i[0], a), "Erf": lambda i, a, n: erf(i[0]),
    "Exp": lambda i, a, n: np.exp(i[0]), "Log": lambda i, a, n: np.log(i[0]),
    "Sqrt": lambda i, a, n: np.sqrt(i[0]), "Reciprocal": lambda i, a, n: 1 / i[0],
    "Clip": lambda i, a, n: np.clip(i[0], a.get("min", -np.inf), a.get("max", np.inf)),
    "HardSigmoid": lambda i, a, n: np.clip(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1),
    "HardSwish": lambda i, a, n: i[0] * np.clip(i[0] / 6 + 0.5, 0, 1),
    "Softplus": lambda i, a, n: np.logaddexp(0, i[0]),
    "Identity": lambda i, a, n: i[0], "Dropout": lambda i, a, n: i[0],
    "Add": fold(np.add), "Sub": fold(np.subtract), "Mul": fold(np.multiply),
    "Div": fold(np.divide), "Pow": fold(np.power), "Max": fold(np.maximum),
    "Min": fold(np.minimum), "Sum": fold(np.add),
    "MatMul": lambda i, a, n: np.matmul(i[0], i[1]), "Gemm": gemm, "Conv": conv,
    "MaxPool": lambda i, a, n: pool(i, a, n, "max"),
    "AveragePool": lambda i, a, n: pool(i, a, n, "avg"),
    "GlobalAveragePool": lambda i, a, n: i[0].mean(axis=tuple(range(2, i[0].ndim)), keepdims=True),
    "GlobalMaxPool": lambda i, a, n: i[0].max(axis=tuple(range(2, i[0].ndim)), keepdims=True),
    "LRN": lrn, "BatchNormalization": batch_norm, "LayerNormalization": layer_norm,
    "Softmax": lambda i, a, n: softmax(i, a, n),
    "LogSoftmax": lambda i, a, n: softmax(i, a, n, log=True),
    "ReduceMean": lambda i, a, n: reduce(i, a, n, np.mean),
    "ReduceSum": lambda i, a, n: reduce(i, a, n, np.sum),
    "ReduceMax": lambda i, a, n: reduce(i, a, n, np.max),
    "Reshape": reshape,
    "Flatten": lambda i, a, n: i[0].reshape(
        int(np.prod(i[0].shape[:a.get("axis", 1) % (i[0].ndim + 1)])), -1),
    "Transpose": lambda i, a, n: np.transpose(i[0], a.get("perm")),
    "Concat": lambda i, a, n: np.concatenate(i, axis=a["axis"]),
    "Split": split, "Slice": slice_, "Squeeze": squeeze, "Unsqueeze": unsqueeze, "Pad": pad,
    "Gather": lambda i, a, n: np.take(i[0], i[1], axis=a.get("axis", 0)),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--dim", action="append", default=[])
    ap.add_argument("--export-params")
    args = ap.parse_args()
    dims = {d.split("=")[0]: int(d.split("=")[1]) for d in args.dim}
    m = Model(args.model, dims)
    if args.export_params:
        np.savez(args.export_params, **m.params)
    if args.data:
        feeds = {}
        for name in m.inputs():
            feeds[name] = np.load(os.path.join(args.data, name.replace("/", "_").replace(":", "_") + ".npy"))
        res = m.run(feeds)
        os.makedirs(args.out, exist_ok=True)
        for name, v in res.items():
            np.save(os.path.join(args.out, name.replace("/", "_").replace(":", "_") + ".npy"),
                    v.astype(np.float32))


if __name__ == "__main__":
    sys.exit(main())
