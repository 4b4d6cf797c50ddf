"""Every default recipe on graphs shaped like the real files that broke them (tests/graph_kinds.py): an opset-11
convnet, an already dynamically-quantized net, a written-out LayerNorm/GELU classifier, a MobileNetV3 block.
Real onnx + onnxruntime: each recipe is ok (and its file loads and runs) or skipped with a one-line reason."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from graph_kinds import make_all
from harness.core.variant import variant_from_file
from harness.exporters.base import Artifact, ExportContext
from harness.exporters.graph_facts import already_quantized_reason, quantized_ops
from harness.exporters.onnx_tools import explain_quantizer_error, run_once
from harness.exporters.recipes import build_variants, parse_recipe
from harness.inputs import read_input_specs, resolve_shapes
from harness.onnx_model import DEFAULT_RECIPES, OnnxFileModel, read_outputs
from harness.user_inputs import load_inputs

SKIPS = {  # (kind, recipe) -> the words its one-line skip reason must hold
    ("dynamic_quantized", "int8-static"): ("already INT8: ", "ConvInteger", "bench the file as it is"),
    ("dynamic_quantized", "int8-dynamic"): ("already INT8: ", "ConvInteger", "bench the file as it is"),
    ("dynamic_quantized", "prune-unstructured:0.5"): ("already INT8 (", "ConvInteger", "its weights are integers",
                                                      "prune the float model before quantizing"),
}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    return make_all(tmp_path_factory.mktemp("graph_kinds"), n=64)


def _model(files: dict) -> OnnxFileModel:
    path = files["onnx"]
    specs = read_input_specs(str(path))
    return OnnxFileModel(name=Path(path).stem, path=str(path), specs=specs, outputs=read_outputs(str(path)),
                         shapes_for=lambda b: resolve_shapes(specs, b, {}, {}), batch_size=1,
                         inputs=load_inputs(str(files["npz"]), specs))


def _build(files: dict, recipes: list[str], out: Path, target_device: str = "cpu") -> dict:
    model = _model(files)
    root = variant_from_file(model.path, name=model.name, model=model.name, operation="user")
    root = root.with_(root_id=root.variant_id)
    ctx = ExportContext(example=model, out_dir=out, target_device=target_device, target_info={}, seed=0)
    return {v.name: v for v in build_variants(model, recipes, ctx, root=Artifact(root, None))}


def _nodes(path: str) -> list:
    return list(onnx.load(path).graph.node)


@pytest.mark.parametrize("kind", ["opset11_convnet", "dynamic_quantized", "written_out_ln_gelu", "mobilenetv3_block"])
def test_every_default_recipe_is_ok_or_skipped_with_its_reason(kinds, kind, tmp_path):
    vs = _build(kinds[kind], list(DEFAULT_RECIPES), tmp_path)
    for recipe in DEFAULT_RECIPES:
        v = vs[recipe]
        assert v.status != "failed", (kind, recipe, v.error)
        expected = SKIPS.get((kind, recipe))
        if expected:
            assert v.status == "skipped", (kind, recipe, v.status)
            assert "\n" not in v.error and "Traceback" not in v.error and "KeyError" not in v.error
            assert all(word in v.error for word in expected), (kind, recipe, v.error)
        else:
            assert v.ok, (kind, recipe, v.status, v.error)
            run_once(v.path)          # loads and runs in onnxruntime


def test_opset11_is_upgraded_for_per_channel_int8(kinds, tmp_path):
    v = _build(kinds["opset11_convnet"], ["int8-static"], tmp_path)["int8-static"]
    assert v.ok and v.info["opset_upgraded"] == {"from": 11, "to": 13} and v.info["per_channel"] is True
    model = onnx.load(v.path)
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 13
    # per-channel: a weight's DequantizeLinear carries one scale per output channel
    assert any(a.name == "axis" for n in model.graph.node if n.op_type == "DequantizeLinear" for a in n.attribute)
    # the upgraded copy lives in the run's out dir, the user's file is untouched
    assert list(tmp_path.glob("opset-13/*/opset11_convnet.onnx"))
    assert onnx.load(str(kinds["opset11_convnet"]["onnx"])).opset_import[0].version == 11


def test_a_failed_opset_upgrade_falls_back_to_per_tensor(kinds, tmp_path, monkeypatch):
    def refuse(model, target_version):
        raise RuntimeError("adapter missing for this op")

    # the version converter is a library boundary: make it fail as it does on exotic graphs
    monkeypatch.setattr(onnx.version_converter, "convert_version", refuse)
    v = _build(kinds["opset11_convnet"], ["int8-static"], tmp_path)["int8-static"]
    assert v.ok and v.info["per_channel"] is False and "opset_upgraded" not in v.info
    assert any(w.startswith("per-tensor scales: opset 11 cannot hold per-channel") and "adapter missing" in w
               for w in v.info["warnings"])
    model = onnx.load(v.path)
    assert not any(a.name == "axis" for n in model.graph.node if n.op_type == "DequantizeLinear" for a in n.attribute)
    run_once(v.path)


def test_op_types_and_exclude_decide_which_nodes_get_qdq(kinds, tmp_path):
    recipes = ["int8-static", "int8-static:op_types=all",
               "int8-static:op_types=MatMul,exclude=/blocks/fc2/MatMul+/head/MatMul"]
    vs = _build(kinds["written_out_ln_gelu"], recipes, tmp_path)
    counts = {r: sum(n.op_type == "QuantizeLinear" for n in _nodes(vs[r].path)) for r in recipes}
    auto, every, narrow = (vs[r] for r in recipes)
    assert auto.ok and every.ok and narrow.ok
    # auto on a CPU: weight layers only; "all" also wraps the LayerNorm/GELU Adds and Muls
    assert auto.info["op_types"] == ["MatMul"] and "weight layers only" in auto.info["op_types_reason"]
    assert {"Add", "Mul"} <= set(every.info["op_types"]) and "library default" in every.info["op_types_reason"]
    assert counts["int8-static:op_types=all"] > counts["int8-static"] > counts[recipes[2]]
    assert narrow.params["op_types"] == "MatMul" and narrow.params["exclude"] == "/blocks/fc2/MatMul+/head/MatMul"
    assert narrow.info["excluded_nodes"] == ["/blocks/fc2/MatMul", "/head/MatMul"]
    nodes = _nodes(narrow.path)
    dq_out = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    by_name = {n.name: n for n in nodes}
    assert not set(by_name["/blocks/fc2/MatMul"].input) & dq_out
    assert not set(by_name["/head/MatMul"].input) & dq_out
    assert set(by_name["/blocks/fc1/MatMul"].input) & dq_out
    # a GPU target follows TensorRT's documented placement, and says it was not measured here
    gpu = _build(kinds["written_out_ln_gelu"], ["int8-static"], tmp_path / "gpu", "nvidia-gpu")["int8-static"]
    assert gpu.ok and "TensorRT" in gpu.info["op_types_reason"] and "not measured" in gpu.info["op_types_reason"]


def test_weight_layers_only_keeps_the_written_out_layernorm_accurate(kinds, tmp_path):
    import onnxruntime as ort

    vs = _build(kinds["written_out_ln_gelu"], ["int8-static", "int8-static:op_types=all"], tmp_path)
    data = np.load(kinds["written_out_ln_gelu"]["npz"])
    labels = np.load(kinds["written_out_ln_gelu"]["labels"])

    def accuracy(path):
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        return float(np.mean([np.argmax(s.run(None, {"tokens": t})[0]) == y for t, y in zip(data["tokens"], labels)]))

    assert accuracy(vs["int8-static"].path) > accuracy(vs["int8-static:op_types=all"].path)


def test_unknown_excluded_node_is_a_one_line_failure(kinds, tmp_path):
    v = _build(kinds["mobilenetv3_block"], ["int8-static:exclude=/no/such/Conv"], tmp_path)[
        "int8-static:exclude=/no/such/Conv"]
    assert v.status == "failed" and v.error.startswith("int8-static: exclude names node(s) not in the graph: "
                                                       "/no/such/Conv; node names look like /block/")


def test_fp16_of_a_quantized_graph_converts_only_its_float_parts(kinds, tmp_path):
    v = _build(kinds["dynamic_quantized"], ["fp16"], tmp_path)["fp16"]
    assert v.ok and v.info["kept_quantized_nodes"] > 0
    assert any(w.startswith("already INT8: ") for w in v.info["warnings"])
    assert quantized_ops(v.path)["ConvInteger"] == 2
    run_once(v.path)


def test_quantized_graph_facts_and_recipe_text(kinds):
    reason = already_quantized_reason(kinds["dynamic_quantized"]["onnx"])
    assert reason == "already INT8: 3 DynamicQuantizeLinear, 2 ConvInteger, 1 MatMulInteger nodes"
    assert already_quantized_reason(kinds["opset11_convnet"]["onnx"]) is None
    (step,) = parse_recipe("int8-static:op_types=Conv+MatMul,exclude=/blocks/ln/Mul+/blocks/ln/Add")
    assert step.params == {"op_types": "Conv+MatMul", "exclude": "/blocks/ln/Mul+/blocks/ln/Add"}


def test_quantizer_failures_read_as_one_line():
    text = explain_quantizer_error(KeyError("140_scale"))
    assert "'140_scale'" in text and "no range or scale" in text and "\n" not in text
    assert explain_quantizer_error(ValueError("bad\nmore")) == "onnxruntime's quantizer failed (ValueError: bad)"


def test_int8_static_folds_a_separate_batchnorm_before_placing_qdq(kinds, tmp_path):
    """Left in the graph, the BatchNorm would run in float between a DequantizeLinear and a QuantizeLinear after
    every integer Conv (rapidocr's classifier ran 6.8x slower than FP32 so); onnxruntime's pre-processing folds it."""
    files = kinds["opset11_convnet"]
    assert any(n.op_type == "BatchNormalization" for n in _nodes(str(files["onnx"])))
    vs = _build(files, ["int8-static", "int8-static:preprocess=false"], tmp_path)
    folded, raw = vs["int8-static"], vs["int8-static:preprocess=false"]
    assert folded.ok and folded.info["preprocessed"] is True
    assert not any(n.op_type == "BatchNormalization" for n in _nodes(folded.path))
    assert raw.ok and raw.info["preprocessed"] is False
    assert any(n.op_type == "BatchNormalization" for n in _nodes(raw.path))


def test_fp16_leaves_if_subgraphs_in_float_when_the_converter_cannot_retype_them(tmp_path):
    """A voice-activity-like graph whose weights sit inside an If branch (as silero-vad's): the converted branch is
    a graph onnxruntime refuses ("Type (tensor(float16)) of output arg ... does not match"); fp16 then keeps the If
    and its subgraphs in float32, says so, and the file runs on the real calls."""
    import onnxruntime as ort

    from user_models import make_vad_onnx, vad_inputs

    model = make_vad_onnx(tmp_path / "vad.onnx")
    npz = vad_inputs(tmp_path / "vad.npz")
    v = _build({"onnx": model, "npz": npz}, ["fp16"], tmp_path / "out")["fp16"]
    assert v.status == "ok", v.error
    assert any(w.startswith("If nodes and their subgraphs left in float32") for w in v.info["warnings"])
    calls = dict(np.load(npz))
    sess = ort.InferenceSession(v.path, providers=["CPUExecutionProvider"])
    out = sess.run(None, {k: np.asarray(a[0]) for k, a in calls.items()})
    assert np.all(np.isfinite(out[0]))
