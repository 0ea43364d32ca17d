#!/usr/bin/env python3
"""make_zoo.py: builds the model zoo under models/ (next to mlp, cnn, transformer).

    python3 tools/make_zoo.py [NAME ...]      # needs numpy, pyyaml

Five well-known architectures written out in the model format, each in
models/<name>/ with <name>.yaml, a small data/ directory (seeded samples)
and expected/ outputs from tools/dlc_ref.py (NumPy, float64, independent of
dlc). All weights are seeded `init:` params (He-style normal for convolutions
and matrices, batch-norm statistics drawn around the identity), so the
repository holds no weight files and the plans regenerate them:

- lenet: LeNet-5 on 1x28x28 (Conv 5x5 with padding, Tanh, AveragePool,
  Conv, Tanh, AveragePool, Flatten, three Gemm layers, Softmax).
- resnet18: ResNet-18 on 3x224x224 (7x7/2 Conv, BatchNormalization, ReLU,
  MaxPool, eight BasicBlocks with 1x1/2 projection shortcuts, global
  average pooling, Gemm to 1000 classes).
- mobilenetv2: MobileNetV2 (width 1.0) on 3x224x224: inverted residual
  blocks of 1x1 expansion, depthwise 3x3 Conv (group = channels), 1x1
  projection, BatchNormalization, Clip(0, 6) as ReLU6, residual Adds.
- bert_layer: one BERT-base encoder layer (hidden 768, 12 heads, FFN 3072,
  sequence 128): MatMul attention with an additive attention mask input,
  Softmax, post-norm LayerNormalization, exact (erf) Gelu.
- gpt2_block: a GPT-2 style decoder block (d 768, 12 heads, sequence 128,
  vocabulary 50257): int64 token ids -> Gather embedding + learned positions,
  pre-norm LayerNormalization, a causal mask built in the graph
  (Clip(col - row, 0, 1) * -10000), MatMul attention, tanh Gelu MLP, final
  LayerNormalization.
"""
import math
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")


def f(v):
    """A float as YAML 1.1 reads one: a dot in the mantissa, a signed
    exponent ("1e-12" would be a string to PyYAML)."""
    s = repr(float(v))
    mant, e, exp = s.partition("e")
    if "." not in mant and mant.lstrip("-").isdigit():
        mant += ".0"
    if e and exp[0] not in "+-":
        exp = "+" + exp
    return mant + e + exp


class Graph:
    """Collects params and nodes and writes them in the model format."""

    def __init__(self, name, comment, dims):
        self.name, self.comment, self.dims = name, comment, dims
        self.inputs, self.params, self.nodes, self.outputs = [], [], [], []
        self.seed = 0
        self.count = 0

    def fresh(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def input(self, name, shape, dtype="float32"):
        self.inputs.append(f"  {name}: {{dtype: {dtype}, shape: {shape}}}")
        return name

    def param(self, name, shape, init):
        self.params.append(f"  {name}: {{shape: {list(shape)}, {init}}}")
        return name

    def normal(self, name, shape, std, mean=0.0):
        self.seed += 1
        return self.param(name, shape, f"init: {{normal: [{f(mean)}, {std:.6g}], seed: {self.seed}}}")

    def uniform(self, name, shape, lo, hi):
        self.seed += 1
        return self.param(name, shape, f"init: {{uniform: [{f(lo)}, {f(hi)}], seed: {self.seed}}}")

    def values(self, name, shape, vals):
        return self.param(name, shape, "values: [" + ", ".join(f(v) for v in vals) + "]")

    def node(self, op, ins, out=None, name=None, **attrs):
        out = out or self.fresh(op.lower())
        ins = ins if isinstance(ins, list) else [ins]
        parts = [f"op: {op}", f"in: [{', '.join(ins)}]", f"out: {out}"]
        if name:
            parts.append(f"name: {name}")
        for k, v in attrs.items():
            parts.append(f"{k}: {f(v) if isinstance(v, float) else v}")
        self.nodes.append("  - {" + ", ".join(parts) + "}")
        return out

    def text(self):
        head = "".join(f"# {line}\n" for line in self.comment.strip().splitlines())
        dims = ", ".join(f"{k}: {v}" for k, v in self.dims.items())
        return (head + f"name: {self.name}\ndims: {{{dims}}}\ninputs:\n" + "\n".join(self.inputs)
                + "\nparams:\n" + "\n".join(self.params) + "\nnodes:\n" + "\n".join(self.nodes)
                + f"\noutputs: [{', '.join(self.outputs)}]\n")

    # -- layers --

    def conv(self, x, cin, cout, k, stride=1, pad=None, group=1, bias=False, prefix="conv"):
        pad = k // 2 if pad is None else pad
        w = self.normal(f"{prefix}.w", [cout, cin // group, k, k],
                        math.sqrt(2.0 / (cin // group * k * k)))
        ins = [x, w]
        if bias:
            ins.append(self.normal(f"{prefix}.b", [cout], 0.01))
        attrs = {"pads": [pad] * 4}
        if stride != 1:
            attrs["strides"] = [stride, stride]
        if group != 1:
            attrs["group"] = group
        return self.node("Conv", ins, f"{prefix}.out", **attrs)

    def bn(self, x, c, prefix):
        ins = [x, self.uniform(f"{prefix}.scale", [c], 0.5, 1.0),
               self.normal(f"{prefix}.bias", [c], 0.05),
               self.normal(f"{prefix}.mean", [c], 0.05),
               self.uniform(f"{prefix}.var", [c], 0.8, 1.2)]
        return self.node("BatchNormalization", ins, f"{prefix}.out")

    def linear(self, x, din, dout, prefix, std=None):
        w = self.normal(f"{prefix}.w", [din, dout], std or 1.0 / math.sqrt(din))
        b = self.normal(f"{prefix}.b", [dout], 0.02)
        return self.node("Add", [self.node("MatMul", [x, w], f"{prefix}.mm"), b], f"{prefix}.out")

    def layernorm(self, x, d, prefix):
        g = self.uniform(f"{prefix}.g", [d], 0.9, 1.1)
        b = self.normal(f"{prefix}.b", [d], 0.02)
        return self.node("LayerNormalization", [x, g, b], f"{prefix}.out", axis=-1,
                         epsilon=1.0e-5)


# --- the models -------------------------------------------------------------------

def lenet():
    g = Graph("lenet", """
LeNet-5 (LeCun et al. 1998) on 1x28x28 images: two Conv 5x5 + Tanh +
AveragePool stages, then 120-84-10 fully connected layers and Softmax.
Seeded init: weights; built by tools/make_zoo.py.""", {"N": 16})
    x = g.input("image", "[N, 1, 28, 28]")
    x = g.node("Tanh", g.conv(x, 1, 6, 5, pad=2, bias=True, prefix="c1"), "c1.act")
    x = g.node("AveragePool", x, "s2", kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("Tanh", g.conv(x, 6, 16, 5, pad=0, bias=True, prefix="c3"), "c3.act")
    x = g.node("AveragePool", x, "s4", kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("Flatten", x, "flat")
    for i, (a, b) in enumerate([(400, 120), (120, 84), (84, 10)]):
        w = g.normal(f"f{i + 5}.w", [b, a], math.sqrt(1.0 / a))
        bias = g.normal(f"f{i + 5}.b", [b], 0.01)
        x = g.node("Gemm", [x, w, bias], "logits" if i == 2 else f"f{i + 5}.out", transB=1)
        if i < 2:
            x = g.node("Tanh", x, f"f{i + 5}.act")
    g.node("Softmax", x, "probs", axis=-1)
    g.outputs = ["logits", "probs"]
    return g, {"image": ("normal", (8, 1, 28, 28))}


def resnet18():
    g = Graph("resnet18", """
ResNet-18 (He et al. 2015) on 3x224x224 images: 7x7/2 Conv, BatchNormalization,
ReLU, 3x3/2 MaxPool, four stages of two BasicBlocks (64, 128, 256, 512
channels; 1x1/2 Conv projection shortcuts), GlobalAveragePool, Gemm to 1000
classes. Seeded init: weights; built by tools/make_zoo.py.""", {"N": 1})
    x = g.input("image", "[N, 3, 224, 224]")
    x = g.node("Relu", g.bn(g.conv(x, 3, 64, 7, stride=2, prefix="conv1"), 64, "bn1"), "relu1")
    x = g.node("MaxPool", x, "pool1", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, cout in enumerate([64, 128, 256, 512], start=1):
        for blk in range(2):
            p = f"layer{stage}.{blk}"
            stride = 2 if stage > 1 and blk == 0 else 1
            h = g.node("Relu", g.bn(g.conv(x, cin, cout, 3, stride, prefix=f"{p}.conv1"), cout,
                                    f"{p}.bn1"), f"{p}.relu1")
            h = g.bn(g.conv(h, cout, cout, 3, prefix=f"{p}.conv2"), cout, f"{p}.bn2")
            sc = x
            if stride != 1 or cin != cout:
                sc = g.bn(g.conv(x, cin, cout, 1, stride, pad=0, prefix=f"{p}.down"), cout,
                          f"{p}.down.bn")
            x = g.node("Relu", g.node("Add", [h, sc], f"{p}.add"), f"{p}.out")
            cin = cout
    x = g.node("Flatten", g.node("GlobalAveragePool", x, "gap"), "feat")
    w = g.normal("fc.w", [1000, 512], math.sqrt(1.0 / 512))
    b = g.normal("fc.b", [1000], 0.01)
    g.node("Gemm", [x, w, b], "logits", transB=1)
    g.outputs = ["logits"]
    return g, {"image": ("normal", (2, 3, 224, 224))}


def mobilenetv2():
    g = Graph("mobilenetv2", """
MobileNetV2 (Sandler et al. 2018, width 1.0) on 3x224x224 images: a 3x3/2 Conv,
17 inverted residual blocks (1x1 expansion, depthwise 3x3 Conv with group =
channels, 1x1 linear projection; residual Add when shape allows), a 1x1 Conv
to 1280, GlobalAveragePool, Gemm to 1000 classes. BatchNormalization after
every Conv, Clip(0, 6) as ReLU6. Seeded init: weights; tools/make_zoo.py.""", {"N": 1})

    def relu6(x, name):
        return g.node("Clip", x, name, min=0.0, max=6.0)

    x = g.input("image", "[N, 3, 224, 224]")
    x = relu6(g.bn(g.conv(x, 3, 32, 3, stride=2, prefix="stem"), 32, "stem.bn"), "stem.act")
    cin, idx = 32, 0
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            p, stride, hid = f"block{idx}", s if i == 0 else 1, cin * t
            h = x
            if t != 1:
                h = relu6(g.bn(g.conv(h, cin, hid, 1, pad=0, prefix=f"{p}.expand"), hid,
                               f"{p}.expand.bn"), f"{p}.expand.act")
            h = relu6(g.bn(g.conv(h, hid, hid, 3, stride, group=hid, prefix=f"{p}.dw"), hid,
                           f"{p}.dw.bn"), f"{p}.dw.act")
            h = g.bn(g.conv(h, hid, c, 1, pad=0, prefix=f"{p}.project"), c, f"{p}.project.bn")
            x = g.node("Add", [x, h], f"{p}.out") if stride == 1 and cin == c else h
            cin, idx = c, idx + 1
    x = relu6(g.bn(g.conv(x, 320, 1280, 1, pad=0, prefix="head"), 1280, "head.bn"), "head.act")
    x = g.node("Flatten", g.node("GlobalAveragePool", x, "gap"), "feat")
    w = g.normal("fc.w", [1000, 1280], math.sqrt(1.0 / 1280))
    b = g.normal("fc.b", [1000], 0.01)
    g.node("Gemm", [x, w, b], "logits", transB=1)
    g.outputs = ["logits"]
    return g, {"image": ("normal", (2, 3, 224, 224))}


def attention(g, x, D, H, S, p, mask):
    """Multi-head self attention on x [N, S, D] with an additive mask."""
    dh = D // H
    qkv = g.linear(x, D, 3 * D, f"{p}.qkv")
    q, k, v = (f"{p}.q", f"{p}.k", f"{p}.v")
    g.node("Split", qkv, f"[{q}, {k}, {v}]", axis=-1, split=[D, D, D])
    heads = {}
    for t, perm in ((q, [0, 2, 1, 3]), (k, [0, 2, 3, 1]), (v, [0, 2, 1, 3])):
        r = g.node("Reshape", t, f"{t}.heads", shape=[0, S, H, dh])
        heads[t] = g.node("Transpose", r, f"{t}.t", perm=perm)
    scale = g.values(f"{p}.scale", [], [1.0 / math.sqrt(dh)])
    s = g.node("Mul", [g.node("MatMul", [heads[q], heads[k]], f"{p}.scores"), scale],
               f"{p}.scaled")
    s = g.node("Add", [s, mask], f"{p}.masked")
    a = g.node("Softmax", s, f"{p}.probs", axis=-1)
    c = g.node("Transpose", g.node("MatMul", [a, heads[v]], f"{p}.ctx"), f"{p}.ctx.t",
               perm=[0, 2, 1, 3])
    c = g.node("Reshape", c, f"{p}.ctx.merged", shape=[0, S, D])
    return g.linear(c, D, D, f"{p}.out")


def bert_layer():
    D, H, F, S = 768, 12, 3072, 128
    g = Graph("bert_layer", f"""
One BERT-base encoder layer (Devlin et al. 2018): hidden {D}, {H} heads, FFN {F},
sequence {S}. Multi-head self attention written out with MatMul, Split,
Reshape, Transpose and Softmax, with an additive attention mask input
(0 for tokens, -10000 for padding, shape [N, 1, 1, {S}]); post-norm residual
LayerNormalization; exact (erf) Gelu FFN. Seeded init: weights;
tools/make_zoo.py.""", {"N": 1})
    x = g.input("hidden", f"[N, {S}, {D}]")
    mask = g.input("mask", f"[N, 1, 1, {S}]")
    a = attention(g, x, D, H, S, "attn", mask)
    h = g.layernorm(g.node("Add", [x, a], "attn.residual"), D, "ln1")
    f1 = g.node("Gelu", g.linear(h, D, F, "ffn.fc1"), "ffn.gelu")
    f2 = g.linear(f1, F, D, "ffn.fc2")
    g.node("LayerNormalization", [g.node("Add", [h, f2], "ffn.residual"),
                                  g.uniform("ln2.g", [D], 0.9, 1.1), g.normal("ln2.b", [D], 0.02)],
           "y", axis=-1, epsilon=1.0e-12)
    g.outputs = ["y"]
    return g, {"hidden": ("normal", (2, S, D)), "mask": ("mask", (2, 1, 1, S))}


def gpt2_block():
    D, H, S, V = 768, 12, 128, 50257
    g = Graph("gpt2_block", f"""
A GPT-2 style decoder block (Radford et al. 2019): int64 token ids [N, {S}] ->
Gather from a {V} x {D} token embedding plus a learned position embedding;
pre-norm LayerNormalization; {H}-head causal self attention (the mask is built
in the graph: Clip(col - row, 0, 1) * -10000 is -10000 above the diagonal and
0 elsewhere); tanh-approximated Gelu MLP (4 x {D}); final LayerNormalization.
Seeded init: weights; tools/make_zoo.py.""", {"N": 1})
    ids = g.input("tokens", f"[N, {S}]", dtype="int64")
    wte = g.normal("wte", [V, D], 0.02)
    wpe = g.normal("wpe", [S, D], 0.01)
    x = g.node("Add", [g.node("Gather", [wte, ids], "tok.emb", axis=0), wpe], "emb")
    col = g.values("mask.col", [1, S], range(S))
    row = g.values("mask.row", [S, 1], range(S))
    ahead = g.node("Clip", g.node("Sub", [col, row], "mask.diff"), "mask.ahead", min=0.0, max=1.0)
    mask = g.node("Mul", [ahead, g.values("mask.neg", [], [-10000.0])], "mask.causal")
    a = attention(g, g.layernorm(x, D, "ln1"), D, H, S, "attn", mask)
    x = g.node("Add", [x, a], "attn.residual")
    m = g.node("Gelu", g.linear(g.layernorm(x, D, "ln2"), D, 4 * D, "mlp.fc"), "mlp.gelu",
               approximate='"tanh"')
    x = g.node("Add", [x, g.linear(m, 4 * D, D, "mlp.proj")], "mlp.residual")
    g.node("LayerNormalization", [x, g.uniform("ln_f.g", [D], 0.9, 1.1),
                                  g.normal("ln_f.b", [D], 0.02)], "y", axis=-1, epsilon=1.0e-5)
    g.outputs = ["y"]
    return g, {"tokens": ("tokens", (2, S), V)}


BUILDERS = {"lenet": lenet, "resnet18": resnet18, "mobilenetv2": mobilenetv2,
            "bert_layer": bert_layer, "gpt2_block": gpt2_block}


def make_data(spec, seed):
    rng = np.random.default_rng(seed)
    kind, shape = spec[0], spec[1]
    if kind == "normal":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "mask":      # sample 0 attends to everything, sample 1 has 32 padding tokens
        m = np.zeros(shape, np.float32)
        m[1:, ..., -32:] = -10000.0
        return m
    if kind == "tokens":
        return rng.integers(0, spec[2], shape, dtype=np.int64)
    raise ValueError(kind)


def build(name):
    d = os.path.join(MODELS, name)
    os.makedirs(os.path.join(d, "data"), exist_ok=True)
    g, data = BUILDERS[name]()
    with open(os.path.join(d, name + ".yaml"), "w") as fh:
        fh.write(g.text())
    samples = 0
    for i, (inp, spec) in enumerate(sorted(data.items())):
        arr = make_data(spec, 100 + i)
        np.save(os.path.join(d, "data", inp + ".npy"), arr)
        samples = len(arr)
    # the reference runs every sample as one batch
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "dlc_ref.py"),
                    os.path.join(d, name + ".yaml"), "--data", os.path.join(d, "data"),
                    "--out", os.path.join(d, "expected"), "--dim", f"N={samples}"], check=True)
    print(f"{name}: written under {d}")


def main():
    names = sys.argv[1:] or list(BUILDERS)
    for n in names:
        if n not in BUILDERS:
            sys.exit(f"make_zoo.py: unknown model '{n}' (known: {', '.join(BUILDERS)})")
    for n in names:
        build(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
