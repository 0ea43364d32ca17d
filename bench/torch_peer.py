#!/usr/bin/env python3
"""torch_peer.py: PyTorch's side of dlc's GPU benchmark, and the data and
comparison helpers of bench/gpu_check.sh.

    torch_peer.py time MODEL.yaml [--dim N=32] [--batches 30] [--warmup 5] [--half]
        Build MODEL.yaml in PyTorch with exactly dlc's weights (the params
        materialised by tools/dlc_ref.py, which reproduces dlc's seeded
        generator bit for bit), then time one batch in eager mode and under
        torch.compile: CUDA events around each forward, the median of
        --batches after --warmup, float32 with TF32 off (as dlc's float32
        plans; --half: the module and inputs in float16). Peak activation memory is torch.cuda.max_memory_allocated
        during a forward minus the params (the input counts as activation, as
        it lives in dlc's slab). Prints one JSON line.

    torch_peer.py bandwidth [--mib 1024]
        The card's copy bandwidth: a device-to-device copy of --mib MiB,
        median of 20 after warm-up, counted as bytes read plus written (the
        way dlrun --profile counts a kernel's traffic). Prints one JSON line.

    torch_peer.py kernels PROFILE.json --copy-gbs G
        From dlrun --json --profile and the copy bandwidth: the generated
        memory-bound kernels (launch "kernel", no Conv, MatMul or attention,
        at least 1 MB moved) with their bandwidth as a fraction of the
        copy's. Prints one JSON line.

    torch_peer.py data MODEL.yaml DIR [--dim N=1] [--samples M] [--seed S]
        Write DIR/<input>.npy for every input: M samples (default: one batch)
        of a standard normal (seeded), in the input's dtype.

    torch_peer.py compare GOT_DIR WANT_DIR --tol T
        Compare every .npy of WANT_DIR with GOT_DIR's: the error of an
        output is max|got - want| / max|want| (relative to the output's
        scale, so near-zero elements of deep networks do not dominate);
        all must be <= T. Prints one line per output; exit status 1 on a
        mismatch or a missing file.
"""
import argparse
import json
import math
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import dlc_ref  # noqa: E402  (the param generator and the window arithmetic)


def file_name(tensor):
    return tensor.replace("/", "_").replace(":", "_") + ".npy"


def parse_dims(items):
    return {d.split("=")[0]: int(d.split("=")[1]) for d in items}


def to_float32(a):
    """float32 view of an .npy array; '<V2' is bfloat16 (dlc's convention)."""
    if a.dtype.kind == "V" and a.dtype.itemsize == 2:
        return (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


# --- data and compare ---------------------------------------------------------

def cmd_data(args):
    m = dlc_ref.Model(args.model, parse_dims(args.dim))
    rng = np.random.default_rng(args.seed)
    batch_dim = None
    for name, (shape, dtype) in m.inputs().items():
        spec = m.doc["inputs"][name]["shape"]
        if spec and isinstance(spec[0], str):
            batch_dim = spec[0]
    os.makedirs(args.dir, exist_ok=True)
    for name, (shape, dtype) in m.inputs().items():
        spec = m.doc["inputs"][name]["shape"]
        shape = list(shape)
        if args.samples and spec and spec[0] == batch_dim:
            shape[0] = args.samples
        if dtype == "int64":
            v = np.zeros(shape, dtype=np.int64)
        else:
            v = rng.standard_normal(shape, dtype=np.float32)
            if dtype == "float16":
                v = v.astype(np.float16)
            elif dtype == "bfloat16":
                u = v.view(np.uint32)
                v = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).view("V2")
        np.save(os.path.join(args.dir, file_name(name)), v)
    return 0


def cmd_compare(args):
    bad = 0
    names = sorted(f for f in os.listdir(args.want) if f.endswith(".npy"))
    if not names:
        print(f"  no outputs in {args.want}")
        return 1
    for f in names:
        want = to_float32(np.load(os.path.join(args.want, f)))
        path = os.path.join(args.got, f)
        if not os.path.exists(path):
            print(f"  {f}: missing from {args.got}")
            bad += 1
            continue
        got = to_float32(np.load(path))
        if got.shape != want.shape:
            print(f"  {f}: shape {got.shape}, want {want.shape}")
            bad += 1
            continue
        finite = np.isfinite(want)
        if not np.array_equal(finite, np.isfinite(got)):
            print(f"  {f}: non-finite values differ")
            bad += 1
            continue
        scale = float(np.abs(want[finite]).max()) if finite.any() else 0.0
        diff = float(np.abs(got[finite] - want[finite]).max()) if finite.any() else 0.0
        err = diff / scale if scale > 0 else diff
        ok = err <= args.tol
        bad += not ok
        print(f"  {f}: max |diff| {diff:.3g}, scale {scale:.3g}, error {err:.3g} "
              f"{'<=' if ok else '>'} {args.tol:g} {'ok' if ok else 'MISMATCH'}")
    return 1 if bad else 0


# --- the model in PyTorch -----------------------------------------------------

def build(model_path, dims):
    import torch
    import torch.nn.functional as F

    m = dlc_ref.Model(model_path, dims)
    doc = m.doc

    def ins_of(node):
        return node["in"] if isinstance(node["in"], list) else [node["in"]]

    def outs_of(node):
        return node["out"] if isinstance(node["out"], list) else [node["out"]]

    # dependence order once (the file may list nodes in any order)
    order, done, pending = [], set(m.inputs()) | set(m.params), list(doc["nodes"])
    while pending:
        ready = [n for n in pending if all(i == "" or i in done for i in ins_of(n))]
        if not ready:
            raise ValueError("cycle or undefined tensor")
        for n in ready:
            order.append(n)
            done.update(o for o in outs_of(n) if o)
            pending.remove(n)

    def window(x, a, k, kind):
        s, d, p, out = dlc_ref.window_params(x, a, k)
        span = [(k[i] - 1) * d[i] + 1 for i in range(2)]
        n = [x.shape[2], x.shape[3]]
        # explicit padding: ONNX's begin pads, and at the end what the last
        # window needs (ceil_mode windows run into it), then floor pooling
        end = [max(0, (out[i] - 1) * s[i] + span[i] - n[i] - p[i]) for i in range(2)]
        fill = -math.inf if kind == "max" else 0.0
        xp = F.pad(x, (p[1], end[1], p[0], end[0]), value=fill)
        return s, d, p, out, n, end, xp

    def pool(x, a, kind):
        k = a["kernel_shape"]
        s, d, p, out, n, end, xp = window(x, a, k, kind)
        if kind == "max":
            y = F.max_pool2d(xp, k, s, 0, d)
            return y[:, :, :out[0], :out[1]]
        total = F.avg_pool2d(xp, k, s, 0, divisor_override=1)[:, :, :out[0], :out[1]]
        # the divisor: elements of each window inside the input, or inside the
        # padded input when count_include_pad (never the ceil_mode overhang)
        inside = torch.zeros(1, 1, xp.shape[2], xp.shape[3], dtype=x.dtype, device=x.device)
        if a.get("count_include_pad", 0):
            inside[:, :, :p[0] + n[0] + p[2], :p[1] + n[1] + p[3]] = 1
        else:
            inside[:, :, p[0]:p[0] + n[0], p[1]:p[1] + n[1]] = 1
        count = F.avg_pool2d(inside, k, s, 0, divisor_override=1)[:, :, :out[0], :out[1]]
        return total / count

    def conv(ins, a):
        x, w = ins[0], ins[1]
        b = ins[2] if len(ins) > 2 else None
        s, d, p, out = dlc_ref.window_params(x, a, list(w.shape[2:]))
        if p[0] == p[2] and p[1] == p[3]:
            return F.conv2d(x, w, b, s, (p[0], p[1]), d, a.get("group", 1))
        return F.conv2d(F.pad(x, (p[1], p[3], p[0], p[2])), w, b, s, 0, d, a.get("group", 1))

    def gemm(ins, a):
        A, B = ins[0], ins[1]
        if a.get("transA", 0):
            A = A.t()
        if a.get("transB", 0):
            B = B.t()
        y = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2]
        return y

    def reshape(x, a):
        shape = [x.shape[i] if v == 0 and not a.get("allowzero", 0) else v for i, v in enumerate(a["shape"])]
        return x.reshape(shape)

    def layer_norm(ins, a):
        x = ins[0]
        ax = a.get("axis", -1) % x.dim()
        return F.layer_norm(x, x.shape[ax:], ins[1], ins[2] if len(ins) > 2 else None, a.get("epsilon", 1e-5))

    def unsqueeze(x, a):
        r = x.dim() + len(a["axes"])
        for ax in sorted(ax % r for ax in a["axes"]):
            x = x.unsqueeze(ax)
        return x

    def fold(f):
        def op(ins, a):
            y = ins[0]
            for x in ins[1:]:
                y = f(y, x)
            return y
        return op

    ops = {
        "Relu": lambda i, a: F.relu(i[0]), "Sigmoid": lambda i, a: torch.sigmoid(i[0]),
        "Tanh": lambda i, a: torch.tanh(i[0]),
        "Gelu": lambda i, a: F.gelu(i[0], approximate=a.get("approximate", "none")),
        "Identity": lambda i, a: i[0], "Dropout": lambda i, a: i[0],
        "Add": fold(torch.add), "Sub": fold(torch.sub), "Mul": fold(torch.mul), "Div": fold(torch.div),
        "Sum": fold(torch.add), "Max": fold(torch.maximum), "Min": fold(torch.minimum),
        "MatMul": lambda i, a: torch.matmul(i[0], i[1]), "Gemm": gemm, "Conv": conv,
        "MaxPool": lambda i, a: pool(i[0], a, "max"), "AveragePool": lambda i, a: pool(i[0], a, "avg"),
        "GlobalAveragePool": lambda i, a: i[0].mean(dim=(2, 3), keepdim=True),
        "GlobalMaxPool": lambda i, a: i[0].amax(dim=(2, 3), keepdim=True),
        "BatchNormalization": lambda i, a: F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0,
                                                        a.get("epsilon", 1e-5)),
        "LayerNormalization": layer_norm,
        "LRN": lambda i, a: F.local_response_norm(i[0], a["size"], a.get("alpha", 1e-4), a.get("beta", 0.75),
                                                  a.get("bias", 1.0)),
        "Softmax": lambda i, a: torch.softmax(i[0], a.get("axis", -1)),
        "LogSoftmax": lambda i, a: torch.log_softmax(i[0], a.get("axis", -1)),
        "Reshape": lambda i, a: reshape(i[0], a),
        "Flatten": lambda i, a: i[0].reshape(math.prod(i[0].shape[:a.get("axis", 1) % (i[0].dim() + 1)]), -1),
        "Transpose": lambda i, a: i[0].permute(a.get("perm", list(range(i[0].dim() - 1, -1, -1)))),
        "Concat": lambda i, a: torch.cat(i, a["axis"]),
        "Unsqueeze": lambda i, a: unsqueeze(i[0], a),
        "Squeeze": lambda i, a: i[0].squeeze(tuple(a["axes"])) if a.get("axes") else i[0].squeeze(),
    }
    for n in order:
        if n["op"] not in ops:
            raise ValueError(f"torch_peer.py has no PyTorch version of {n['op']}")

    class Peer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.names = {}
            for i, (k, v) in enumerate(m.params.items()):
                self.register_buffer(f"p{i}", torch.from_numpy(np.ascontiguousarray(v.astype(np.float32))))
                self.names[k] = f"p{i}"

        def forward(self, feeds):
            env = dict(feeds)
            for k, b in self.names.items():
                env[k] = getattr(self, b)
            for node in order:
                attrs = {k: v for k, v in node.items() if k not in ("op", "in", "out", "name")}
                res = ops[node["op"]]([env[i] if i else None for i in ins_of(node)], attrs)
                outs = outs_of(node)
                env[outs[0]] = res
            return [env[o] for o in doc["outputs"]]

    return m, Peer()


def cmd_time(args):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as dlc's float32 plans compute it
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device("cuda")
    m, peer = build(args.model, parse_dims(args.dim))
    # --half: params and activations in float16, as dlc's fp16 plans store them
    dtype = torch.float16 if args.half else torch.float32
    peer = peer.to(dev, dtype).eval()
    params_bytes = sum(b.numel() * b.element_size() for b in peer.buffers())
    rng = np.random.default_rng(args.seed)
    feeds_host = {k: rng.standard_normal(shape, dtype=np.float32) for k, (shape, dt) in m.inputs().items()}

    def measure(fn):
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        feeds = {k: torch.from_numpy(v).to(dev, dtype) for k, v in feeds_host.items()}
        with torch.inference_mode():
            for _ in range(args.warmup):
                fn(feeds)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            times = []
            for _ in range(args.batches):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                out = fn(feeds)
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b))
                del out
            peak = torch.cuda.max_memory_allocated() - base  # the inputs, allocated after base, count
        del feeds
        torch.cuda.synchronize()
        return statistics.median(times), peak

    eager_ms, eager_peak = measure(peer)
    compiled = torch.compile(peer)
    compile_ms, compile_peak = measure(compiled)
    print(json.dumps({
        "model": m.doc.get("name"), "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "dtype": "float16" if args.half else "float32",
        "batches": args.batches, "eager_ms": eager_ms, "compile_ms": compile_ms,
        "eager_peak_activation_bytes": int(eager_peak), "compile_peak_activation_bytes": int(compile_peak),
        "params_bytes": int(params_bytes)}))
    return 0


def cmd_bandwidth(args):
    import torch

    n = args.mib * (1 << 20) // 4
    src = torch.empty(n, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(20):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        dst.copy_(src)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    ms = statistics.median(times)
    print(json.dumps({"device": torch.cuda.get_device_name(0), "bytes": 2 * 4 * n, "ms": ms,
                      "gbs": 2 * 4 * n / (ms * 1e6)}))
    return 0


def cmd_kernels(args):
    d = json.load(open(args.profile))
    rows = []
    for s in d.get("profile", {}).get("steps", []):
        name = s["kernel"]
        if s["launch"] != "kernel" or s["bytes"] < 1e6 or s["ms"] <= 0:
            continue
        if any(w in name for w in ("conv", "mat_mul", "softmax_x")):
            continue  # compute-bound: convolutions, attention
        gbs = s["bytes"] / (s["ms"] * 1e6)
        rows.append({"kernel": name, "bytes": s["bytes"], "us": s["ms"] * 1e3, "gbs": gbs,
                     "of_copy": gbs / args.copy_gbs})
    moved = sum(r["bytes"] for r in rows)
    weighted = sum(r["of_copy"] * r["bytes"] for r in rows) / moved if moved else 0.0
    print(json.dumps({"kernels": rows, "n": len(rows), "at_80": sum(r["of_copy"] >= 0.8 for r in rows),
                      "weighted_of_copy": weighted,
                      "worst": min(rows, key=lambda r: r["of_copy"]) if rows else None}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time")
    t.add_argument("model")
    t.add_argument("--dim", action="append", default=[])
    t.add_argument("--batches", type=int, default=30)
    t.add_argument("--warmup", type=int, default=5)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--half", action="store_true", help="float16 params and activations")
    d = sub.add_parser("data")
    d.add_argument("model")
    d.add_argument("dir")
    d.add_argument("--dim", action="append", default=[])
    d.add_argument("--samples", type=int, default=0)
    d.add_argument("--seed", type=int, default=1)
    bw = sub.add_parser("bandwidth")
    bw.add_argument("--mib", type=int, default=1024)
    k = sub.add_parser("kernels")
    k.add_argument("profile")
    k.add_argument("--copy-gbs", type=float, required=True)
    c = sub.add_parser("compare")
    c.add_argument("got")
    c.add_argument("want")
    c.add_argument("--tol", type=float, required=True)
    args = ap.parse_args()
    cmds = {"time": cmd_time, "data": cmd_data, "compare": cmd_compare, "bandwidth": cmd_bandwidth,
            "kernels": cmd_kernels}
    return cmds[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
