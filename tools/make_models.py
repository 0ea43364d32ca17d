#!/usr/bin/env python3
"""make_models.py: builds the bundled models under models/ and their data.

    python3 tools/make_models.py          # needs numpy, pyyaml, scikit-learn

- models/mlp: a 64-128-64-10 MLP trained here (NumPy, plain SGD) on the
  scikit-learn handwritten digits (8x8 images); weights in mlp.safetensors;
  data/x.npy holds 500 held-out digits, labels.npy their true classes.
- models/cnn: a small residual CNN (conv, batch norm, ReLU, max pool,
  residual add, strided conv, global average pool, Gemm, Softmax) on
  3x32x32 inputs with seeded init: weights.
- models/transformer: one transformer encoder block (MatMul attention over
  4 heads, Softmax, LayerNormalization, Gelu, Reshape/Transpose).

Each model's expected/ outputs come from tools/dlc_ref.py (NumPy, float64),
independent of dlc.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        blobs.append(arr.tobytes())
    header["__metadata__"] = {"format": "pt", "source": "tools/make_models.py"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def train_mlp():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    test, train = idx[:500], idx[500:]
    sizes = [64, 128, 64, 10]
    W = [rng.normal(0, np.sqrt(2 / a), (b, a)) for a, b in zip(sizes, sizes[1:])]
    B = [np.zeros(b) for b in sizes[1:]]
    lr = 0.05
    for epoch in range(60):
        for start in range(0, len(train), 32):
            bi = train[rng.permutation(len(train))[:32]] if False else train[start:start + 32]
            a = [x[bi]]
            for i in range(3):
                z = a[-1] @ W[i].T + B[i]
                a.append(np.maximum(z, 0) if i < 2 else z)
            p = np.exp(a[-1] - a[-1].max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = p
            g[np.arange(len(bi)), y[bi]] -= 1
            g /= len(bi)
            for i in reversed(range(3)):
                gw, gb = g.T @ a[i], g.sum(0)
                g = (g @ W[i]) * (a[i] > 0)
                W[i] -= lr * gw
                B[i] -= lr * gb
        rng.shuffle(train)
    logits = x[test]
    for i in range(3):
        logits = logits @ W[i].T + B[i]
        if i < 2:
            logits = np.maximum(logits, 0)
    acc = (logits.argmax(1) == y[test]).mean()
    print(f"mlp: held-out accuracy {acc:.3f} (NumPy, float64)")
    return W, B, x[test], y[test]


def mlp():
    d = os.path.join(MODELS, "mlp")
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    W, B, xt, yt = train_mlp()
    write_safetensors(os.path.join(d, "mlp.safetensors"), {
        "fc1.weight": W[0], "fc1.bias": B[0], "fc2.weight": W[1], "fc2.bias": B[1],
        "fc3.weight": W[2], "fc3.bias": B[2]})
    np.save(os.path.join(d, "data", "x.npy"), xt.astype(np.float32))
    np.save(os.path.join(d, "labels.npy"), yt.astype(np.int64))
    with open(os.path.join(d, "mlp.yaml"), "w") as f:
        f.write("""\
# A 64-128-64-10 MLP classifying 8x8 handwritten digits (scikit-learn's
# digits, pixels scaled to [0, 1]); trained by tools/make_models.py.
# Run:  dlc models/mlp/mlp.yaml -o mlp.plan && dlrun mlp.plan --data models/mlp/data
name: mlp
dims: {N: 64}
weights: mlp.safetensors
inputs:
  x: {dtype: float32, shape: [N, 64]}
params:
  fc1.weight: {shape: [128, 64]}
  fc1.bias:   {shape: [128]}
  fc2.weight: {shape: [64, 128]}
  fc2.bias:   {shape: [64]}
  fc3.weight: {shape: [10, 64]}
  fc3.bias:   {shape: [10]}
nodes:
  - {op: Gemm, in: [x, fc1.weight, fc1.bias], out: h1, transB: 1}
  - {op: Relu, in: h1, out: a1}
  - {op: Gemm, in: [a1, fc2.weight, fc2.bias], out: h2, transB: 1}
  - {op: Relu, in: h2, out: a2}
  - {op: Gemm, in: [a2, fc3.weight, fc3.bias], out: logits, transB: 1, name: head}
  - {op: Softmax, in: logits, out: probs, axis: -1}
outputs: [logits, probs]
""")


def cnn():
    d = os.path.join(MODELS, "cnn")
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    rng = np.random.default_rng(1)
    np.save(os.path.join(d, "data", "image.npy"), rng.normal(0, 1, (20, 3, 32, 32)).astype(np.float32))

    def conv(name, cin, cout, k, seed):
        std = np.sqrt(2.0 / (cin * k * k))
        return f"  {name}: {{shape: [{cout}, {cin}, {k}, {k}], init: {{normal: [0.0, {std:.6f}], seed: {seed}}}}}\n"

    def bn(name, c, seed):
        return (f"  {name}.scale: {{shape: [{c}], init: {{uniform: [0.5, 1.5], seed: {seed}}}}}\n"
                f"  {name}.bias: {{shape: [{c}], init: {{normal: [0.0, 0.1], seed: {seed + 1}}}}}\n"
                f"  {name}.mean: {{shape: [{c}], init: {{normal: [0.0, 0.1], seed: {seed + 2}}}}}\n"
                f"  {name}.var: {{shape: [{c}], init: {{uniform: [0.5, 1.5], seed: {seed + 3}}}}}\n")

    params = (conv("conv1.w", 3, 16, 3, 1) + bn("bn1", 16, 10) + conv("res.conv_a.w", 16, 16, 3, 2) +
              bn("res.bn_a", 16, 20) + conv("res.conv_b.w", 16, 16, 3, 3) + bn("res.bn_b", 16, 30) +
              conv("down.w", 16, 32, 3, 4) + "  down.b: {shape: [32], init: zeros}\n" +
              "  fc.w: {shape: [10, 32], init: {normal: [0.0, 0.25], seed: 5}}\n"
              "  fc.b: {shape: [10], init: {constant: 0.01}}\n")
    with open(os.path.join(d, "cnn.yaml"), "w") as f:
        f.write("""\
# A small residual CNN on 3x32x32 images: convolution, batch normalization,
# ReLU, max pooling, a residual block, a strided convolution, global average
# pooling and a classifier. Weights come from seeded init: (no weights file).
name: cnn
dims: {N: 8}
inputs:
  image: {dtype: float32, shape: [N, 3, 32, 32]}
params:
""" + params + """\
nodes:
  - {op: Conv, in: [image, conv1.w], out: c1, pads: [1, 1, 1, 1], name: conv1}
  - {op: BatchNormalization, in: [c1, bn1.scale, bn1.bias, bn1.mean, bn1.var], out: b1}
  - {op: Relu, in: b1, out: r1}
  - {op: MaxPool, in: r1, out: p1, kernel_shape: [2, 2], strides: [2, 2]}
  - {op: Conv, in: [p1, res.conv_a.w], out: ra, pads: [1, 1, 1, 1]}
  - {op: BatchNormalization, in: [ra, res.bn_a.scale, res.bn_a.bias, res.bn_a.mean, res.bn_a.var], out: rab}
  - {op: Relu, in: rab, out: rar}
  - {op: Conv, in: [rar, res.conv_b.w], out: rb, pads: [1, 1, 1, 1]}
  - {op: BatchNormalization, in: [rb, res.bn_b.scale, res.bn_b.bias, res.bn_b.mean, res.bn_b.var], out: rbb}
  - {op: Add, in: [rbb, p1], out: sum, name: residual}
  - {op: Relu, in: sum, out: r2}
  - {op: Conv, in: [r2, down.w, down.b], out: c3, pads: [1, 1, 1, 1], strides: [2, 2]}
  - {op: Relu, in: c3, out: r3}
  - {op: GlobalAveragePool, in: r3, out: gap}
  - {op: Flatten, in: gap, out: feat}
  - {op: Gemm, in: [feat, fc.w, fc.b], out: logits, transB: 1}
  - {op: Softmax, in: logits, out: probs}
outputs: [probs]
""")


def transformer():
    d = os.path.join(MODELS, "transformer")
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    rng = np.random.default_rng(2)
    np.save(os.path.join(d, "data", "x.npy"), rng.normal(0, 1, (10, 16, 64)).astype(np.float32))
    D, H, F, S = 64, 4, 256, 16
    std = 1 / np.sqrt(D)
    with open(os.path.join(d, "transformer.yaml"), "w") as f:
        f.write(f"""\
# One transformer encoder block (post-norm, as BERT): multi-head self
# attention written out with MatMul, Reshape, Transpose and Softmax, then a
# GELU feed-forward layer, each followed by a residual add and
# LayerNormalization. Sequence {S}, model width {D}, {H} heads, FFN {F}.
name: transformer
dims: {{N: 4}}
inputs:
  x: {{dtype: float32, shape: [N, {S}, {D}]}}
params:
  wq: {{shape: [{D}, {D}], init: {{normal: [0.0, {std:.6f}], seed: 1}}}}
  wk: {{shape: [{D}, {D}], init: {{normal: [0.0, {std:.6f}], seed: 2}}}}
  wv: {{shape: [{D}, {D}], init: {{normal: [0.0, {std:.6f}], seed: 3}}}}
  wo: {{shape: [{D}, {D}], init: {{normal: [0.0, {std:.6f}], seed: 4}}}}
  bq: {{shape: [{D}], init: {{normal: [0.0, 0.02], seed: 11}}}}
  bk: {{shape: [{D}], init: {{normal: [0.0, 0.02], seed: 12}}}}
  bv: {{shape: [{D}], init: {{normal: [0.0, 0.02], seed: 13}}}}
  bo: {{shape: [{D}], init: {{normal: [0.0, 0.02], seed: 14}}}}
  w1: {{shape: [{D}, {F}], init: {{normal: [0.0, {std:.6f}], seed: 5}}}}
  b1: {{shape: [{F}], init: {{normal: [0.0, 0.02], seed: 15}}}}
  w2: {{shape: [{F}, {D}], init: {{normal: [0.0, {1 / np.sqrt(F):.6f}], seed: 6}}}}
  b2: {{shape: [{D}], init: {{normal: [0.0, 0.02], seed: 16}}}}
  ln1.g: {{shape: [{D}], init: ones}}
  ln1.b: {{shape: [{D}], init: zeros}}
  ln2.g: {{shape: [{D}], init: {{uniform: [0.9, 1.1], seed: 7}}}}
  ln2.b: {{shape: [{D}], init: {{normal: [0.0, 0.02], seed: 17}}}}
  scale: {{shape: [], values: [{1 / np.sqrt(D // H)}]}}
nodes:
  - {{op: MatMul, in: [x, wq], out: q0}}
  - {{op: Add, in: [q0, bq], out: q1}}
  - {{op: Reshape, in: q1, out: q2, shape: [0, {S}, {H}, {D // H}]}}
  - {{op: Transpose, in: q2, out: q, perm: [0, 2, 1, 3]}}
  - {{op: MatMul, in: [x, wk], out: k0}}
  - {{op: Add, in: [k0, bk], out: k1}}
  - {{op: Reshape, in: k1, out: k2, shape: [0, {S}, {H}, {D // H}]}}
  - {{op: Transpose, in: k2, out: kt, perm: [0, 2, 3, 1]}}
  - {{op: MatMul, in: [x, wv], out: v0}}
  - {{op: Add, in: [v0, bv], out: v1}}
  - {{op: Reshape, in: v1, out: v2, shape: [0, {S}, {H}, {D // H}]}}
  - {{op: Transpose, in: v2, out: v, perm: [0, 2, 1, 3]}}
  - {{op: MatMul, in: [q, kt], out: s0, name: scores}}
  - {{op: Mul, in: [s0, scale], out: s1}}
  - {{op: Softmax, in: s1, out: attn, axis: -1}}
  - {{op: MatMul, in: [attn, v], out: c0}}
  - {{op: Transpose, in: c0, out: c1, perm: [0, 2, 1, 3]}}
  - {{op: Reshape, in: c1, out: c2, shape: [0, {S}, {D}]}}
  - {{op: MatMul, in: [c2, wo], out: o0}}
  - {{op: Add, in: [o0, bo], out: o1}}
  - {{op: Add, in: [x, o1], out: r1}}
  - {{op: LayerNormalization, in: [r1, ln1.g, ln1.b], out: h1, axis: -1, epsilon: 1.0e-5}}
  - {{op: MatMul, in: [h1, w1], out: f0}}
  - {{op: Add, in: [f0, b1], out: f1}}
  - {{op: Gelu, in: f1, out: f2}}
  - {{op: MatMul, in: [f2, w2], out: f3}}
  - {{op: Add, in: [f3, b2], out: f4}}
  - {{op: Add, in: [h1, f4], out: r2}}
  - {{op: LayerNormalization, in: [r2, ln2.g, ln2.b], out: y, axis: -1, epsilon: 1.0e-5}}
outputs: [y]
""")


def expected(name, yaml_name):
    d = os.path.join(MODELS, name)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "dlc_ref.py"),
                    os.path.join(d, yaml_name), "--data", os.path.join(d, "data"),
                    "--out", os.path.join(d, "expected")], check=True)


if __name__ == "__main__":
    mlp()
    cnn()
    transformer()
    for name, y in [("mlp", "mlp.yaml"), ("cnn", "cnn.yaml"), ("transformer", "transformer.yaml")]:
        expected(name, y)
    print("models written under", MODELS)
