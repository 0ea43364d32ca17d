#!/usr/bin/env python3
"""run.py: ONNX backend node tests through onnx2yaml, dlc and dlrun (CPU).

    python3 tests/onnx_conformance/run.py --dlc build/dlc --dlrun build/dlrun
                                          [--filter OP] [--json OUT.json] [--jobs N]

For every test under the onnx package's backend/test/data/node/ whose ops are
all in dlc's op set (Constant nodes allowed: the converter folds them), it

1. converts model.onnx with tools/onnx2yaml (imported, not spawned, since a
   Python start per test would dominate the run) at the test's exact shapes:
   no batching, every symbolic dimension set from the test's input data;
2. compiles it with dlc and runs every test_data_set_* with dlrun on the CPU;
3. compares each output with output_*.pb as ONNX's backend runner does:
   same shape, same dtype, numpy.testing.assert_allclose with rtol 1e-3 and
   atol 1e-7 (a test's data.json may set others, as ONNX's loader allows).

It prints a table of tests per op (passed, failed, excepted) and a closing
line "N passed, N failed". A failure is excused only by a line of
exceptions.txt beside this file (a test name or fnmatch pattern, then the
reason); an exception that matches no failing test is stale and is reported
too. The exit status is 1 when any test fails without an exception or an
exception is stale, 0 otherwise. The onnx package must ship the node test
data: onnx 1.22.0 does (pip install "onnx==1.22.0"), 1.23 does not.
"""
import argparse
import concurrent.futures as cf
import fnmatch
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def load_onnx2yaml():
    path = os.path.join(ROOT, "tools", "onnx2yaml")
    loader = importlib.machinery.SourceFileLoader("onnx2yaml", path)
    spec = importlib.util.spec_from_loader("onnx2yaml", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def data_file(name):
    """An input or output's file name in a data directory (spec section 3)."""
    return name.replace("/", "_").replace(":", "_") + ".npy"


def read_exceptions(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pattern, _, reason = line.partition(" ")
            if not reason.strip():
                sys.exit(f"{path}:{lineno}: an exception needs a reason after the test name")
            out.append((pattern, reason.strip()))
    return out


def op_group(ops):
    return ops[0] if len(ops) == 1 else "+".join(ops)


class Case:
    def __init__(self, name, path, ops):
        self.name, self.path, self.ops = name, path, ops
        self.group = op_group(ops)
        self.status, self.detail, self.reason = None, "", None


def collect(node_dir, ops_supported, flt):
    import onnx
    cases, skipped = [], 0
    for name in sorted(os.listdir(node_dir)):
        path = os.path.join(node_dir, name)
        if not os.path.isfile(os.path.join(path, "model.onnx")):
            continue
        m = onnx.load(os.path.join(path, "model.onnx"), load_external_data=False)
        ops = sorted({n.op_type for n in m.graph.node if n.domain in ("", "ai.onnx")}
                     - {"Constant"})
        foreign = any(n.domain not in ("", "ai.onnx") for n in m.graph.node)
        if foreign or not ops or not set(ops) <= ops_supported:
            skipped += 1
            continue
        if flt and flt not in ops and flt not in name:
            continue
        cases.append(Case(name, path, ops))
    return cases, skipped


def load_pb(path):
    """A TensorProto .pb as an array; None for sequences, maps and optionals."""
    import onnx
    from onnx import numpy_helper
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    if not t.HasField("data_type") or t.data_type == 0:
        return None
    try:
        return numpy_helper.to_array(t)
    except ValueError:   # another proto that happened to parse
        return None


def prepare(case, o2y, work):
    """Convert the model and write each data set's inputs; sets case.status
    on failure. Returns [(yaml, data dir, out dir, expected outputs)].

    ONNX node tests often feed what dlc takes as attributes (a Reshape's
    shape, Slice's starts, ...) as graph inputs with fixed test data; those
    inputs are bound to the data set's values (onnx2yaml's `bind`), giving
    one model per distinct set of bound values."""
    import onnx
    model = onnx.load(os.path.join(case.path, "model.onnx"))
    inits = {t.name for t in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in inits]
    sets = sorted(d for d in os.listdir(case.path) if d.startswith("test_data_set_"))
    data, dims = [], {}
    for s in sets:
        sdir = os.path.join(case.path, s)
        feeds, outs = {}, []
        for i, vi in enumerate(inputs):
            p = os.path.join(sdir, f"input_{i}.pb")
            arr = load_pb(p) if os.path.exists(p) and vi.type.HasField("tensor_type") else None
            if arr is None:
                case.status, case.detail = "fail", f"input {i} of {s} is not a tensor"
                return []
            feeds[vi.name] = arr
            for ax, d in enumerate(vi.type.tensor_type.shape.dim):
                if d.HasField("dim_param") and d.dim_param and ax < arr.ndim:
                    dims[d.dim_param] = int(arr.shape[ax])
        for i, vo in enumerate(model.graph.output):
            p = os.path.join(sdir, f"output_{i}.pb")
            arr = load_pb(p) if os.path.exists(p) and vo.type.HasField("tensor_type") else None
            if arr is None:
                case.status, case.detail = "fail", f"output {i} of {s} is not a tensor"
                return []
            outs.append((vo.name, arr))
        data.append((feeds, outs))
    src = os.path.join(case.path, "model.onnx")

    def convert(yaml_path, bind):
        o2y.convert(model, yaml_path, dim_values=dims, name=case.name, source=src, bind=bind)

    bound = []
    try:
        convert(os.path.join(work, "model.yaml"), None)
        yamls = [os.path.join(work, "model.yaml")] * len(data)
    except o2y.ConvertError as e:
        bound = e.inputs_needed
        if not bound:
            case.status, case.detail = "fail", "onnx2yaml: " + str(e).replace("\n  ", "; ")
            return []
    if bound:
        yamls, seen = [], {}
        for feeds, _ in data:
            bind = {b: feeds[b] for b in bound}
            key = tuple((b, v.dtype.str, v.shape, v.tobytes()) for b, v in sorted(bind.items()))
            if key not in seen:
                seen[key] = os.path.join(work, f"model{len(seen)}.yaml")
                try:
                    convert(seen[key], bind)
                except o2y.ConvertError as e:
                    case.status = "fail"
                    case.detail = "onnx2yaml: " + str(e).replace("\n  ", "; ")
                    return []
            yamls.append(seen[key])
    runs = []
    for k, (feeds, outs) in enumerate(data):
        ddir = os.path.join(work, f"data{k}")
        os.makedirs(ddir)
        for name, arr in feeds.items():
            if name not in bound:
                np.save(os.path.join(ddir, data_file(name)), arr)
        runs.append((yamls[k], ddir, os.path.join(work, f"out{k}"), outs))
    return runs


def tolerances(case):
    rtol, atol = 1e-3, 1e-7
    dj = os.path.join(case.path, "data.json")
    if os.path.exists(dj):
        with open(dj) as f:
            d = json.load(f)
        rtol, atol = d.get("rtol", rtol), d.get("atol", atol)
    return rtol, atol


def as_numpy(arr, like):
    """dlrun writes bfloat16 as '<V2'; view it as ml_dtypes.bfloat16 like ONNX."""
    if arr.dtype.kind == "V" and arr.dtype.itemsize == 2 and like.dtype.name == "bfloat16":
        return arr.view(like.dtype)
    return arr


def dlc_flags(dlc):
    """--no-gpu when this dlc has it: a CPU run needs no generated CUDA code,
    and generating it is most of the compile time of a small model."""
    r = subprocess.run([dlc, "--help"], capture_output=True, text=True)
    return ["--no-gpu"] if "--no-gpu" in r.stdout + r.stderr else []


def execute(case, runs, dlc, dlrun, flags):
    plans = {}
    for yaml_path, _, _, _ in runs:
        if yaml_path in plans:
            continue
        plans[yaml_path] = os.path.splitext(yaml_path)[0] + ".plan"
        r = subprocess.run([dlc, yaml_path, "-o", plans[yaml_path], *flags],
                           capture_output=True, text=True)
        if r.returncode != 0:
            case.status = "fail"
            case.detail = f"dlc (exit {r.returncode}): " + r.stderr.strip().replace("\n", "; ")
            return
    rtol, atol = tolerances(case)
    for yaml_path, ddir, odir, outs in runs:
        plan = plans[yaml_path]
        r = subprocess.run([dlrun, plan, "--data", ddir, "--out", odir, "--device", "cpu",
                            "--threads", "1"], capture_output=True, text=True)
        if r.returncode != 0:
            case.status = "fail"
            case.detail = f"dlrun (exit {r.returncode}): " + r.stderr.strip().replace("\n", "; ")
            return
        for name, want in outs:
            got = as_numpy(np.load(os.path.join(odir, data_file(name))), want)
            if got.shape != want.shape:
                case.status, case.detail = "fail", \
                    f"output '{name}': shape {list(got.shape)}, expected {list(want.shape)}"
                return
            if got.dtype != want.dtype:
                case.status, case.detail = "fail", \
                    f"output '{name}': dtype {got.dtype}, expected {want.dtype}"
                return
            try:
                np.testing.assert_allclose(got.astype(np.float64) if got.dtype.kind == "V"
                                           else got, want, rtol=rtol, atol=atol)
            except AssertionError as e:
                lines = [x.strip() for x in str(e).splitlines() if x.strip()]
                case.status = "fail"
                case.detail = f"output '{name}': " + "; ".join(lines[1:4])
                return
    case.status = "pass"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--dlrun", required=True)
    ap.add_argument("--filter", help="only tests of this op (or whose name contains it)")
    ap.add_argument("--json", help="write every test's result here")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--exceptions", default=os.path.join(HERE, "exceptions.txt"))
    ap.add_argument("--keep", help="keep each test's YAML, plan and data under this folder")
    args = ap.parse_args()
    for tool in (args.dlc, args.dlrun):
        if not os.access(tool, os.X_OK):
            sys.exit(f"run.py: {tool} is not an executable; build dlc and dlrun first")
    try:
        import onnx
    except ImportError:
        sys.exit('run.py: the onnx package is needed: pip install "onnx==1.22.0"')
    node_dir = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    if not os.path.isdir(node_dir):
        sys.exit(f"run.py: onnx {onnx.__version__} ships no backend node tests ({node_dir}); "
                 'pip install "onnx==1.22.0"')
    t0 = time.time()
    o2y = load_onnx2yaml()
    cases, skipped = collect(node_dir, set(o2y.OPS), args.filter)
    exceptions = read_exceptions(args.exceptions)
    root = args.keep or tempfile.mkdtemp(prefix="dlc-onnx-conf.")
    os.makedirs(root, exist_ok=True)
    try:
        jobs = []
        for case in cases:
            work = os.path.join(root, case.name)
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            runs = prepare(case, o2y, work)
            if case.status is None:
                jobs.append((case, runs))
        flags = dlc_flags(args.dlc)
        with cf.ThreadPoolExecutor(max(1, args.jobs)) as ex:
            list(ex.map(lambda j: execute(j[0], j[1], args.dlc, args.dlrun, flags), jobs))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    used = set()
    for case in cases:
        if case.status == "fail":
            for pattern, reason in exceptions:
                if fnmatch.fnmatchcase(case.name, pattern):
                    case.status, case.reason = "excepted", reason
                    used.add(pattern)
                    break
    stale = [p for p, _ in exceptions if p not in used and
             (not args.filter or any(fnmatch.fnmatchcase(c.name, p) for c in cases))]

    groups = {}
    for case in cases:
        groups.setdefault(case.group, []).append(case)
    width = max([len(g) for g in groups] + [2])
    print(f"{'op':<{width}}  tests  pass  fail  excepted")
    for gname in sorted(groups):
        cs = groups[gname]
        n = {s: sum(c.status == s for c in cs) for s in ("pass", "fail", "excepted")}
        print(f"{gname:<{width}}  {len(cs):5d}  {n['pass']:4d}  {n['fail']:4d}  {n['excepted']:8d}")
    failed = [c for c in cases if c.status == "fail"]
    excepted = [c for c in cases if c.status == "excepted"]
    passed = [c for c in cases if c.status == "pass"]
    if excepted:
        print("\nexcepted (exceptions.txt):")
        for c in excepted:
            print(f"  {c.name}: {c.reason}\n      ({c.detail})")
    if failed:
        print("\nFAILED:")
        for c in failed:
            print(f"  {c.name}: {c.detail}")
    for p in stale:
        print(f"\nstale exception (matches no failing test; remove it): {p}")
    print(f"\n{len(cases)} tests of dlc's ops ({skipped} other node tests skipped), "
          f"{len(excepted)} excepted, {time.time() - t0:.0f} s")
    print(f"{len(passed)} passed, {len(failed)} failed")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"onnx": onnx.__version__, "passed": len(passed), "failed": len(failed),
                       "excepted": len(excepted), "skipped": skipped, "stale": stale,
                       "tests": [{"name": c.name, "ops": c.ops, "status": c.status,
                                  "detail": c.detail, "reason": c.reason} for c in cases]},
                      f, indent=1)
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
