"""test_onnx2yaml.py: tools/onnx2yaml against ONNX's reference evaluator and PyTorch.

    python3 -m pytest tests/test_onnx2yaml.py          # needs onnx==1.22.0, pytest
    DLC_BIN=build-onnx python3 -m pytest tests/test_onnx2yaml.py

Every converted model is compiled with dlc and run with dlrun on the CPU
(binaries from $DLC_BIN, default build/), and its outputs are compared with
an independent reference within 1e-4 relative (elementwise, with an absolute
floor of 1e-4 times the largest expected magnitude, so that values near zero
are judged against the output's scale):

- all nine models of the onnx package's backend/test/data/light set: once
  with their shipped expected outputs (their weights are 0.02 fills, which
  onnx2yaml keeps as `init: {constant: 0.02}`), and once with seeded random
  weights in place of the fills, against onnx.reference.ReferenceEvaluator
  on the logits and the probabilities. These models are opset 9, where the
  reference evaluator runs BatchNormalization in training form and Softmax
  over the last axis; the reference model is therefore first upgraded with
  onnx.version_converter (to opset 15), which is what ONNX itself offers.
  Its LRN is wrong for batches smaller than the channel count and is
  replaced by the spec's formula (class LRN below);
- a small CNN and a transformer block from PyTorch (torch.onnx.export,
  fixed seeds; tests/fixtures/gen_onnx2yaml_fixtures.py). With torch
  installed they are rebuilt and exported here; otherwise the committed
  exports and PyTorch outputs under tests/fixtures/onnx2yaml/ are used;
- hand-built graphs for each opset difference the converter resolves, for
  tensor names that need quoting, for --batch / --batch-dim, for the weights
  file's dtypes and for the one-message refusal of unsupported ops.
"""
import importlib.machinery
import importlib.util
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx.reference.op_run import OpRun  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, os.environ.get("DLC_BIN", "build"))
TOOL = os.path.join(ROOT, "tools", "onnx2yaml")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "onnx2yaml")
LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
RTOL = 1e-4


def _load_tool():
    loader = importlib.machinery.SourceFileLoader("onnx2yaml", TOOL)
    spec = importlib.util.spec_from_loader("onnx2yaml", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


o2y = _load_tool()


def _dlc_flags():
    """--no-gpu when dlc has it: a CPU run needs no generated CUDA code."""
    r = subprocess.run([os.path.join(BIN, "dlc"), "--help"], capture_output=True, text=True)
    return ["--no-gpu"] if "--no-gpu" in r.stdout + r.stderr else []


@pytest.fixture(scope="session")
def dlc_flags():
    for tool in ("dlc", "dlrun"):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            pytest.fail(f"{os.path.join(BIN, tool)} is missing: build dlc and dlrun first "
                        "(or set DLC_BIN to the build folder)")
    return _dlc_flags()


def data_file(name):
    return name.replace("/", "_").replace(":", "_") + ".npy"


def run_dlc(yaml_path, feeds, out_names, flags, dims=()):
    """Compile yaml_path, run it on feeds (name -> array), return the outputs."""
    base = os.path.splitext(yaml_path)[0]
    plan, ddir, odir = base + ".plan", base + "_data", base + "_out"
    cmd = [os.path.join(BIN, "dlc"), yaml_path, "-o", plan, *flags]
    for k, v in dims:
        cmd += ["--dim", f"{k}={v}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"dlc failed on {yaml_path}:\n{r.stderr}"
    os.makedirs(ddir, exist_ok=True)
    for name, arr in feeds.items():
        np.save(os.path.join(ddir, data_file(name)), arr)
    r = subprocess.run([os.path.join(BIN, "dlrun"), plan, "--data", ddir, "--out", odir,
                        "--device", "cpu"], capture_output=True, text=True)
    assert r.returncode == 0, f"dlrun failed on {plan}:\n{r.stderr}"
    return [np.load(os.path.join(odir, data_file(n))) for n in out_names]


def assert_close(got, want, what, rtol=RTOL):
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                               atol=rtol * scale, err_msg=what)


class LRN(OpRun):
    """LRN as the ONNX spec defines it. onnx 1.22's reference evaluator loops
    over the batch axis instead of the channels (`for c in range(x.shape[0])`),
    so with fewer samples than channels most channels get no normalization."""

    op_domain = ""

    def _run(self, x, alpha=None, beta=None, bias=None, size=None):
        alpha = 1e-4 if alpha is None else alpha
        beta = 0.75 if beta is None else beta
        bias = 1.0 if bias is None else bias
        sq = np.zeros(x.shape, dtype=np.float64)
        channels = x.shape[1]
        for c in range(channels):
            lo = max(0, c - (size - 1) // 2)
            hi = min(channels - 1, c + -(-(size - 1) // 2))
            sq[:, c] = np.sum(x[:, lo:hi + 1].astype(np.float64) ** 2, axis=1)
        return ((x / (bias + alpha / size * sq) ** beta).astype(x.dtype),)


def reference(model, feeds):
    """ONNX's reference evaluator with LRN corrected, on the model upgraded to
    opset >= 15 when it is older (see the module comment for why)."""
    opset = max((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")),
                default=1)
    if opset < 15:
        from onnx import version_converter
        model = version_converter.convert_version(model, 15)
    return ReferenceEvaluator(model, new_ops=[LRN]).run(None, feeds)


def convert(model, tmp_path, name="m", **kw):
    path = str(tmp_path / f"{name}.yaml")
    o2y.convert(model, path, name=name, **kw)
    return path


def make_model(nodes, inputs, outputs, inits=(), opset=17, ir=8):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def check_against_reference(model, feeds, tmp_path, flags, name="m", **kw):
    """Convert, run with dlc, compare every output with the reference."""
    path = convert(model, tmp_path, name, **kw)
    outs = [o.name for o in model.graph.output]
    got = run_dlc(path, feeds, outs, flags)
    want = reference(model, feeds)
    for n, g, w in zip(outs, got, want):
        assert_close(g, w, f"{name}: output '{n}'")
    return path


# --- the light models --------------------------------------------------------------

LIGHT_MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
                "shufflenet", "squeezenet", "vgg19", "zfnet512"]
# ONNX's own tolerance for each (onnx/backend/test/case/model/__init__.py)
LIGHT_RTOL = {"densenet121": 2e-3}


def light_inputs(model):
    """The inputs ONNX's backend runner feeds the light models."""
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for x in model.graph.input:
        if x.name in inits:
            continue
        shape = tuple(d.dim_value for d in x.type.tensor_type.shape.dim)
        n = int(np.prod(shape))
        feeds[x.name] = (np.arange(n).reshape(shape) / n).astype(np.float32)
    return feeds


def randomize(model, seed):
    """Seeded random weights instead of the 0.02 fills: He-normal for
    matrices and kernels, U(0.5, 1.5) for vectors (scales, variances, biases
    and means alike, all positive), as initializers listed among the inputs
    (IR 3). The input of the final Softmax, if any, becomes a second output."""
    rng = np.random.default_rng(seed)
    g = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    keep = []
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in shapes:
            shape = [int(v) for v in shapes[n.input[0]]]
            if len(shape) >= 2:
                v = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
            else:
                v = rng.uniform(0.5, 1.5, shape)
            g.initializer.append(numpy_helper.from_array(v.astype(np.float32), n.output[0]))
            g.input.append(vi(n.output[0], shape))
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    softmax = [n for n in g.node if n.op_type == "Softmax"]
    if softmax:     # DenseNet-121 ends without one
        g.output.append(helper.make_empty_tensor_value_info(softmax[-1].input[0]))
        inferred = onnx.shape_inference.infer_shapes(model)
        typed = {v.name: v for v in inferred.graph.value_info}
        g.output[-1].CopyFrom(typed[softmax[-1].input[0]])
    return model


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_shipped_outputs(name, tmp_path, dlc_flags):
    model = onnx.load(os.path.join(LIGHT, f"light_{name}.onnx"))
    path = convert(model, tmp_path, name)
    text = open(path).read()
    assert "init: {constant: 0.02}" in text, "the 0.02 fills should stay fills"
    want = numpy_helper.to_array(onnx.load_tensor(
        os.path.join(LIGHT, f"light_{name}_output_0.pb")))
    got = run_dlc(path, light_inputs(model), [model.graph.output[0].name], dlc_flags)[0]
    np.testing.assert_allclose(got, want, rtol=LIGHT_RTOL.get(name, 1e-3), atol=1e-7)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model_random_weights(name, tmp_path, dlc_flags):
    model = randomize(onnx.load(os.path.join(LIGHT, f"light_{name}.onnx")), seed=7)
    feeds = {k: np.random.default_rng(3).standard_normal(v.shape).astype(np.float32)
             for k, v in light_inputs(model).items()}
    path = convert(model, tmp_path, name)
    outs = [o.name for o in model.graph.output]
    got = run_dlc(path, feeds, outs, dlc_flags)
    want = reference(model, feeds)
    for n, g, w in zip(outs, got, want):
        assert_close(g, w, f"{name}: '{n}'")
    logits = want[-1].reshape(-1)
    assert np.ptp(logits) > 1e-3, "random weights should give distinct logits"


# --- PyTorch exports ----------------------------------------------------------------

def torch_export(name, tmp_path):
    """(onnx path, x, torch y): exported now when torch is installed, else
    the committed fixture."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return (os.path.join(FIXTURES, f"{name}.onnx"),
                np.load(os.path.join(FIXTURES, f"{name}_x.npy")),
                np.load(os.path.join(FIXTURES, f"{name}_y.npy")))
    sys.path.insert(0, os.path.join(ROOT, "tests", "fixtures"))
    try:
        import gen_onnx2yaml_fixtures as gen
    finally:
        sys.path.pop(0)
    return gen.export(name, str(tmp_path))


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_pytorch_export(name, tmp_path, dlc_flags):
    path, x, y = torch_export(name, tmp_path)
    model = onnx.load(path)
    # exported at batch 2; --batch 2 makes it run 5 samples at batch 3
    yaml_path = convert(model, tmp_path, name, batch=2)
    got = run_dlc(yaml_path, {"x": x}, ["y"], dlc_flags, dims=[("N", 3)])[0]
    assert_close(got, y, f"{name} vs PyTorch")
    ref = reference(model, {"x": x[:2]})[0]
    assert_close(got[:2], ref, f"{name} vs ReferenceEvaluator")


# --- opset differences ---------------------------------------------------------------

def ints(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def scalar(name, v, dt=np.float32):
    return numpy_helper.from_array(np.array(v, dtype=dt), name)


X = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)


def legacy_softmax(x, axis, log=False):
    """Softmax before opset 13: coerced to 2-D at axis."""
    shape = x.shape
    a = x.reshape(int(np.prod(shape[:axis])), -1).astype(np.float64)
    e = np.exp(a - a.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return (np.log(p) if log else p).reshape(shape)


@pytest.mark.parametrize("op,axis", [("Softmax", 1), ("Softmax", -1), ("LogSoftmax", 2),
                                     ("Softmax", None)])
def test_softmax_before_opset13(op, axis, tmp_path, dlc_flags):
    kw = {} if axis is None else {"axis": axis}
    m = make_model([helper.make_node(op, ["x"], ["y"], **kw)], [vi("x", X.shape)],
                   [vi("y", X.shape)], opset=11)
    path = convert(m, tmp_path)
    text = open(path).read()
    a = 1 if axis is None else axis % 4
    assert ("Flatten" in text) == (a != 3)
    got = run_dlc(path, {"x": X}, ["y"], dlc_flags)[0]
    assert_close(got, legacy_softmax(X, a, log=op == "LogSoftmax"), f"{op} axis {axis}")


SPLIT_CASES = {
    "opset11_attr": (11, [helper.make_node("Split", ["x"], ["a", "b"], axis=3, split=[2, 3])], []),
    "opset13_input": (13, [helper.make_node("Split", ["x", "s"], ["a", "b"], axis=3)],
                      [ints("s", [2, 3])]),
    "opset13_equal": (13, [helper.make_node("Split", ["x"], ["a", "b"], axis=1)], []),
    "opset18_num_outputs": (18, [helper.make_node("Split", ["x"], ["a", "b"], axis=3,
                                                  num_outputs=2)], []),
}


@pytest.mark.parametrize("case", sorted(SPLIT_CASES))
def test_split_variants(case, tmp_path, dlc_flags):
    opset, nodes, inits = SPLIT_CASES[case]
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 5)).astype(np.float32)
    m = make_model(nodes, [vi("x", x.shape)], [vi("a", None), vi("b", None)], inits, opset)
    check_against_reference(m, {"x": x}, tmp_path, dlc_flags)


def axes_cases():
    axes = ints("axes", [1, 3])
    return {
        "ReduceMean_opset13_attr": (13, helper.make_node("ReduceMean", ["x"], ["y"], axes=[1, 3]), []),
        "ReduceMean_opset18_input": (18, helper.make_node("ReduceMean", ["x", "axes"], ["y"]), [axes]),
        "ReduceMax_opset18_noaxes": (18, helper.make_node("ReduceMax", ["x"], ["y"], keepdims=0), []),
        "ReduceSum_opset11_attr": (11, helper.make_node("ReduceSum", ["x"], ["y"], axes=[-1], keepdims=0), []),
        "ReduceSum_opset13_input": (13, helper.make_node("ReduceSum", ["x", "axes"], ["y"]), [axes]),
        "Unsqueeze_opset11_attr": (11, helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0, 5]), []),
        "Unsqueeze_opset13_input": (13, helper.make_node("Unsqueeze", ["x", "u"], ["y"]),
                                    [ints("u", [-1, 1])]),
        "Squeeze_opset13_noaxes": (13, helper.make_node("Squeeze", ["x"], ["y"]), []),
    }


@pytest.mark.parametrize("case", sorted(axes_cases()))
def test_axes_variants(case, tmp_path, dlc_flags):
    opset, node, inits = axes_cases()[case]
    x = X if "Squeeze_" not in case else X.reshape(2, 1, 12, 1, 5)
    m = make_model([node], [vi("x", x.shape)], [vi("y", None)], inits, opset)
    check_against_reference(m, {"x": x}, tmp_path, dlc_flags)


def misc_cases():
    c = helper.make_node
    return {
        "Clip_opset6_attrs": (6, [c("Clip", ["x"], ["y"], min=-0.5, max=0.7)], []),
        "Clip_opset13_inputs": (13, [c("Clip", ["x", "lo", "hi"], ["y"])],
                                [scalar("lo", -0.5), scalar("hi", 0.7)]),
        "Clip_opset13_max_only": (13, [c("Clip", ["x", "", "hi"], ["y"])], [scalar("hi", 0.3)]),
        "Clip_from_Constant_nodes": (13, [c("Constant", [], ["lo"], value_float=-1.0),
                                          c("Constant", [], ["hi"], value=scalar("h", 6.0)),
                                          c("Clip", ["x", "lo", "hi"], ["y"])], []),
        "Reshape_opset13_input": (13, [c("Reshape", ["x", "s"], ["y"])], [ints("s", [0, -1, 5])]),
        "Slice_opset9_attrs": (9, [c("Slice", ["x"], ["y"], starts=[1, -3], ends=[3, 100],
                                     axes=[1, 3])], []),
        "Slice_opset13_inputs": (13, [c("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
                                 [ints("st", [3, -1]), ints("en", [0, -100]),
                                  ints("ax", [2, -1]), ints("sp", [-1, -2])]),
        "Pad_opset2_attrs": (2, [c("Pad", ["x"], ["y"], pads=[0, 1, 0, 2, 0, 0, 1, 1],
                                   value=1.5)], []),
        "Pad_opset13_inputs": (13, [c("Pad", ["x", "p", "v"], ["y"])],
                               [ints("p", [0, 0, 1, 0, 0, 0, 2, 3]), scalar("v", -2.0)]),
        "Pad_opset18_axes": (18, [c("Pad", ["x", "p", "", "ax"], ["y"])],
                             [ints("p", [1, 2, 3, 0]), ints("ax", [1, -1])]),
        "Dropout_opset7": (7, [c("Dropout", ["x"], ["y"], ratio=0.3)], []),
        "Dropout_opset13_inputs": (13, [c("Dropout", ["x", "r", "t"], ["y", "mask"])],
                                   [scalar("r", 0.2), scalar("t", False, np.bool_)]),
        "Identity": (13, [c("Identity", ["x"], ["y"])], []),
        "Concat_negative_axis": (13, [c("Concat", ["x", "x"], ["y"], axis=-2)], []),
        "Add_opset6_broadcast_axis": (6, [c("Add", ["x", "b"], ["y"], broadcast=1, axis=1)],
                                      [numpy_helper.from_array(
                                          np.arange(12, dtype=np.float32).reshape(3, 4), "b")]),
        "Pow_int64_constant_exponent": (15, [c("Pow", ["x", "e"], ["y"])], [scalar("e", 2, np.int64)]),
        "ConstantOfShape_fill": (13, [c("ConstantOfShape", ["s"], ["f"],
                                        value=numpy_helper.from_array(np.array([0.25], np.float32))),
                                      c("Mul", ["x", "f"], ["y"])], [ints("s", [4, 5])]),
        "Gather_int32_constant_indices": (13, [c("Gather", ["x", "i"], ["y"], axis=2)],
                                          [numpy_helper.from_array(
                                              np.array([[3, 0], [-1, 1]], np.int32), "i")]),
        "Shape_of_static_tensor": (13, [c("Shape", ["x"], ["s"]),
                                        c("Slice", ["s", "zero", "two"], ["s01"]),
                                        c("Concat", ["s01", "minus1"], ["t"], axis=0),
                                        c("Reshape", ["x", "t"], ["y"])],
                                   [ints("zero", [0]), ints("two", [2]), ints("minus1", [-1])]),
    }


@pytest.mark.parametrize("case", sorted(misc_cases()))
def test_constant_inputs_and_legacy_forms(case, tmp_path, dlc_flags):
    opset, nodes, inits = misc_cases()[case]
    m = make_model(nodes, [vi("x", X.shape)], [vi("y", None)], inits, opset,
                   ir=3 if opset < 7 else 8)
    if m.ir_version < 4:
        for t in inits:
            m.graph.input.append(vi(t.name, list(t.dims), t.data_type))
    if case == "Add_opset6_broadcast_axis":
        # onnx.version_converter rejects this legal opset-6 form, so the
        # expected value is written out: B's dims align with X's from axis 1.
        path = convert(m, tmp_path)
        got = run_dlc(path, {"x": X}, ["y"], dlc_flags)[0]
        b = np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1)
        assert_close(got, X + b, case)
        return
    path = check_against_reference(m, {"x": X}, tmp_path, dlc_flags)
    text = open(path).read()
    if "Dropout" in case:
        assert "op: Dropout" in text and '"mask"' not in text
    if case in ("Shape_of_static_tensor", "Clip_from_Constant_nodes", "ConstantOfShape_fill"):
        for op in ("Shape", "Constant", "ConstantOfShape"):
            assert f"op: {op}," not in text, f"{op} should have been folded"


def test_batchnorm_opset7_legacy_attributes(tmp_path, dlc_flags):
    rng = np.random.default_rng(2)
    vals = [rng.uniform(0.5, 1.5, 3).astype(np.float32) for _ in range(4)]
    inits = [numpy_helper.from_array(v, n) for v, n in zip(vals, ["s", "b", "m", "v"])]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                            epsilon=1e-3, spatial=1, is_test=1)
    m = make_model([node], [vi("x", X.shape)] + [vi(t.name, [3]) for t in inits],
                   [vi("y", X.shape)], inits, opset=6, ir=3)
    path = convert(m, tmp_path)
    got = run_dlc(path, {"x": X}, ["y"], dlc_flags)[0]
    s, b, mu, v = (a.reshape(1, 3, 1, 1) for a in vals)
    assert_close(got, (X - mu) / np.sqrt(v + np.float32(1e-3)) * s + b, "BatchNormalization-6")


# --- names, batch, weights, errors ---------------------------------------------------

ODD_NAMES = ['x "quoted" in:put', "tab\tand\\backslash", "ünïcödé→𝜋", "N", "123", "true",
             "null", "- dash", "# hash", "a: colon", "line\nbreak", "{brace}", "[bracket]",
             "'single'", " leading space", "*star", "&amp", "!bang", "%pct", "@at", "`tick`"]


def test_odd_tensor_names_survive(tmp_path, dlc_flags):
    import yaml
    rng = np.random.default_rng(5)
    w = rng.standard_normal((5, 5)).astype(np.float32)
    nodes, prev = [], "in/put:0"
    for i, name in enumerate(ODD_NAMES):
        nodes.append(helper.make_node("Relu" if i % 2 else "Neg", [prev], [name], name=name + "#node"))
        prev = name
    nodes.append(helper.make_node("MatMul", [prev, "w: weight"], ["out/put:0"]))
    m = make_model(nodes, [vi("in/put:0", [3, 5])], [vi("out/put:0", [3, 5])],
                   [numpy_helper.from_array(w, "w: weight")])
    x = rng.standard_normal((3, 5)).astype(np.float32)
    path = check_against_reference(m, {"in/put:0": x}, tmp_path, dlc_flags)
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    assert list(doc["inputs"]) == ["in/put:0"]
    assert [n["out"][0] for n in doc["nodes"]][:len(ODD_NAMES)] == ODD_NAMES
    assert [n.get("name") for n in doc["nodes"]][:len(ODD_NAMES)] == \
        [n + "#node" for n in ODD_NAMES]
    assert "w: weight" in doc["params"]


def test_fnum_reads_back_exactly():
    import yaml
    rng = np.random.default_rng(9)
    vals = np.concatenate([rng.standard_normal(2000).astype(np.float32),
                           rng.uniform(-40, 40, 2000).astype(np.float32) ** 5,
                           np.array([1e-5, 1e-45, 3.4028235e38, -0.0, 0.1, 1.0, 123456789.0],
                                    np.float32)])
    text = "[" + ", ".join(o2y.fnum(v) for v in vals) + "]"
    back = np.array(yaml.safe_load(text), dtype=np.float64).astype(np.float32)
    assert np.array_equal(back.view(np.uint32), vals.view(np.uint32))
    assert yaml.safe_load(o2y.fnum(np.float32("inf"))) == float("inf")


def test_symbolic_dims_and_batch_dim(tmp_path, dlc_flags):
    import yaml
    x = np.random.default_rng(4).standard_normal((7, 6, 8)).astype(np.float32)
    w = np.random.default_rng(5).standard_normal((8, 4)).astype(np.float32)
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", ["batch", "seq", 8])],
                   [vi("y", ["batch", "seq", 4])], [numpy_helper.from_array(w, "w")])
    path = convert(m, tmp_path, dim_values={"seq": 6})
    doc = yaml.safe_load(open(path))
    assert doc["dims"] == {"batch": 1, "seq": 6}
    assert doc["inputs"]["x"]["shape"] == ["batch", "seq", 8]
    got = run_dlc(path, {"x": x}, ["y"], dlc_flags, dims=[("batch", 3)])[0]
    assert_close(got, x @ w, "dim_param model")
    with pytest.raises(o2y.ConvertError, match="no symbolic dimension 'sequence'"):
        convert(m, tmp_path, name="bad", dim_values={"sequence": 6})
    assert not os.path.exists(tmp_path / "bad.yaml")


def test_batch_rewrites_fixed_reshape(tmp_path, dlc_flags):
    import yaml
    rng = np.random.default_rng(6)
    w = rng.standard_normal((60, 3)).astype(np.float32)
    nodes = [helper.make_node("Reshape", ["x", "s"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["y"])]
    m = make_model(nodes, [vi("x", [1, 3, 4, 5])], [vi("y", [1, 3])],
                   [ints("s", [1, 60]), numpy_helper.from_array(w, "w")])
    path = convert(m, tmp_path, batch=4)
    doc = yaml.safe_load(open(path))
    assert doc["dims"] == {"N": 4}
    assert doc["inputs"]["x"]["shape"] == ["N", 3, 4, 5]
    assert doc["nodes"][0]["shape"] == [0, 60]
    x = rng.standard_normal((7, 3, 4, 5)).astype(np.float32)
    got = run_dlc(path, {"x": x}, ["y"], dlc_flags)[0]
    assert_close(got, x.reshape(7, 60) @ w, "--batch 4 over 7 samples")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data


def test_weights_file_dtypes(tmp_path, dlc_flags):
    import ml_dtypes
    rng = np.random.default_rng(8)
    w16 = rng.standard_normal((6, 5)).astype(np.float16)
    wbf = rng.standard_normal((6, 5)).astype(ml_dtypes.bfloat16)
    table = rng.standard_normal((10, 5)).astype(np.float32)
    idx = np.array([[1, 9, 0, 3, 3, 7, 2, 8, 4, 5, 6, 1, 2, 0, 9, 9, 8]], dtype=np.int64)
    nodes = [helper.make_node("MatMul", ["h", "w16"], ["y16"]),
             helper.make_node("MatMul", ["b", "wbf"], ["ybf"]),
             helper.make_node("Gather", ["table", "idx"], ["emb"])]
    inits = [numpy_helper.from_array(w16, "w16"), numpy_helper.from_array(wbf, "wbf"),
             numpy_helper.from_array(idx, "idx")]
    m = make_model(nodes, [vi("h", [4, 6], TensorProto.FLOAT16),
                           vi("b", [4, 6], TensorProto.BFLOAT16), vi("table", [10, 5])],
                   [vi("y16", [4, 5], TensorProto.FLOAT16), vi("ybf", [4, 5], TensorProto.BFLOAT16),
                    vi("emb", [1, 17, 5])], inits)
    weights = tmp_path / "w" / "weights.safetensors"
    weights.parent.mkdir()
    path = convert(m, tmp_path, weights=str(weights))
    header, data = read_safetensors(weights)
    assert {k: v["dtype"] for k, v in header.items() if k != "__metadata__"} == \
        {"w16": "F16", "wbf": "BF16", "idx": "I64"}
    for name, arr in (("w16", w16), ("wbf", wbf), ("idx", idx)):
        b, e = header[name]["data_offsets"]
        assert data[b:e] == np.ascontiguousarray(arr).tobytes(), name
        assert header[name]["shape"] == list(arr.shape)
    assert 'weights: "w/weights.safetensors"' in open(path).read()
    h = rng.standard_normal((4, 6)).astype(np.float16)
    bx = rng.standard_normal((4, 6)).astype(ml_dtypes.bfloat16)
    y16, ybf, emb = run_dlc(path, {"h": h, "b": bx, "table": table}, ["y16", "ybf", "emb"],
                            dlc_flags)
    assert_close(y16.astype(np.float32), h.astype(np.float32) @ w16.astype(np.float32),
                 "float16 MatMul", rtol=2e-3)
    assert_close(ybf.view(ml_dtypes.bfloat16).astype(np.float32),
                 bx.astype(np.float32) @ wbf.astype(np.float32), "bfloat16 MatMul", rtol=1e-2)
    assert_close(emb, table[idx], "Gather")


def test_unsupported_ops_one_message(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="ok"),
             helper.make_node("Cast", ["a"], ["b"], to=TensorProto.FLOAT, name="cast_me"),
             helper.make_node("Reshape", ["b", "shape_in"], ["c"], name="dyn"),
             helper.make_node("Shape", ["c"], ["d"]),
             helper.make_node("NonZero", ["c"], ["e"], name="nz")]
    m = make_model(nodes, [vi("x", [2, 3]), vi("shape_in", [2], TensorProto.INT64)],
                   [vi("e", None, TensorProto.INT64), vi("d", None, TensorProto.INT64)])
    src = tmp_path / "bad.onnx"
    onnx.save(m, str(src))
    out = tmp_path / "bad.yaml"
    r = subprocess.run([sys.executable, TOOL, str(src), "-o", str(out)], capture_output=True,
                       text=True)
    assert r.returncode == 1
    err = r.stderr
    assert err.count("error:") == 1, err
    assert "3 node(s) use ops outside dlc's op set: node 1 'cast_me' (Cast), node 3 (Shape), " \
           "node 4 'nz' (NonZero)" in err, err
    assert "node 2 'dyn' (Reshape): input 1 'shape_in' (shape) must be a constant" in err, err
    assert not out.exists() and not (tmp_path / "bad.safetensors").exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx"], "nothing but the model may be left"


def test_cli_writes_yaml_and_weights(tmp_path, dlc_flags):
    import yaml
    w = np.random.default_rng(1).standard_normal((64, 8)).astype(np.float32)
    m = make_model([helper.make_node("Gemm", ["x", "w"], ["y"], alpha=0.5)],
                   [vi("x", ["B", 64])], [vi("y", ["B", 8])], [numpy_helper.from_array(w, "w")])
    src = tmp_path / "g.onnx"
    onnx.save(m, str(src))
    r = subprocess.run([sys.executable, TOOL, str(src), "-o", str(tmp_path / "g.yaml"),
                        "--weights", str(tmp_path / "gw.safetensors"), "--batch", "4",
                        "--name", "gemm model"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(open(tmp_path / "g.yaml"))
    assert doc["name"] == "gemm model" and doc["dims"] == {"B": 4}
    assert doc["weights"] == "gw.safetensors"
    x = np.random.default_rng(2).standard_normal((9, 64)).astype(np.float32)
    got = run_dlc(str(tmp_path / "g.yaml"), {"x": x}, ["y"], dlc_flags)[0]
    assert_close(got, 0.5 * x @ w, "Gemm")
    r = subprocess.run([sys.executable, TOOL, str(src), "-o", str(tmp_path / "h.yaml"),
                        "--batch-dim", "B"], capture_output=True, text=True)
    assert r.returncode == 2 and "expected NAME=VALUE" in r.stderr
