"""Recipes on a user's ONNX file, per-output drift against the original, and `harness bench` end to end on
models nobody here shipped: real exporters, real onnxruntime sessions and workers, real DuckDB files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from harness.exporters.base import Artifact, ExportContext
from harness.exporters.recipes import build_variants
from harness.core import output_drift
from harness.inputs import read_input_specs, resolve_shapes
from harness.onnx_model import OnnxFileModel, read_outputs
from harness.store import Store
from harness.user_inputs import load_inputs
from harness.core.variant import variant_from_file
from helpers import FAST, run_cli
from user_models import classifier_inputs, make_classifier_onnx, make_detector_onnx, make_vad_onnx, vad_inputs


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_files")
    cls = make_classifier_onnx(d / "cls.onnx")
    np.save(d / "labels.npy", np.arange(12) % 10)
    return {"dir": d, "cls": cls, "cls_npz": classifier_inputs(d / "cls.npz"),
            "cls_wide_npz": classifier_inputs(d / "cls_wide.npz", scale=6.0, offset=2.0),
            "vad": make_vad_onnx(d / "vad.onnx"), "vad_npz": vad_inputs(d / "vad.npz"),
            "det": make_detector_onnx(d / "det.onnx"), "labels": d / "labels.npy"}


def _model(path: Path, npz: Path | None = None, dims=None) -> OnnxFileModel:
    specs = read_input_specs(str(path))
    inputs = load_inputs(str(npz), specs) if npz else None
    return OnnxFileModel(name=path.stem, path=str(path), specs=specs, outputs=read_outputs(str(path)),
                         shapes_for=lambda b: resolve_shapes(specs, b, {}, dims or {}), batch_size=1, inputs=inputs)


def _build(model: OnnxFileModel, recipes: list[str], out: Path):
    root = variant_from_file(model.path, name=model.name, model=model.name, operation="user")
    root = root.with_(root_id=root.variant_id)
    ctx = ExportContext(example=model, out_dir=out, target_device="cpu", target_info={}, seed=0)
    return {v.name: v for v in build_variants(model, recipes, ctx, root=Artifact(root, None))}


def test_every_onnx_recipe_and_a_chain_on_a_file(files, tmp_path):
    vs = _build(_model(files["cls"], files["cls_npz"]),
                ["int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5",
                 "prune-unstructured:0.5>int8-static", "tensorrt", "prune-structured", "torchscript"], tmp_path)
    root = vs["cls"]
    for name in ("int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5",
                 "prune-unstructured:0.5>int8-static"):
        v = vs[name]
        assert v.ok, (name, v.error)
        assert v.root_id == root.variant_id and Path(v.path).exists() and v.model == "cls"
        assert "no_effect" not in v.info, (name, v.info.get("no_effect"))
    assert vs["int8-static"].precision == "int8" and vs["int8-static"].info["fusion"]["integer_ops"] > 0
    assert vs["fp16"].precision == "fp16" and vs["fp16"].size_bytes < root.size_bytes
    pruned = vs["prune-unstructured:0.5"]
    assert pruned.sparsity >= 0.45 and pruned.info["method"] == "onnx-initializers"
    chain = vs["prune-unstructured:0.5>int8-static"]
    assert chain.base_id == pruned.variant_id and chain.operation == "int8-static"
    # the file's graph is the root: nothing was re-exported from torch
    assert root.operation == "user" and root.base_id is None
    for name in ("prune-structured", "torchscript"):
        v = vs[name]
        assert v.status == "skipped" and v.error.startswith(f"{name} needs the model's PyTorch module")
        assert "model factory" in v.error and "--example" in v.error
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        assert vs["tensorrt"].status == "skipped" and "TensorRT" in vs["tensorrt"].error


def _scales(path: str) -> dict[str, np.ndarray]:
    model = onnx.load(path)
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer if i.name.endswith("_scale")}


def test_int8_static_calibration_follows_the_given_inputs(files, tmp_path):
    real = _build(_model(files["cls"], files["cls_wide_npz"]), ["int8-static"], tmp_path / "real")["int8-static"]
    rand = _build(_model(files["cls"]), ["int8-static"], tmp_path / "random")["int8-static"]
    assert real.ok and rand.ok
    assert real.info["calibration_source"] == "inputs:cls_wide.npz (12 calls)"
    assert rand.info["calibration_source"].startswith("random(seed=0")
    # random calibration is recorded and warned about; real calibration is not
    assert any("not real data" in w for w in rand.info["warnings"])
    assert not any("not real data" in w for w in real.info["warnings"])
    a, b = _scales(real.path), _scales(rand.path)
    assert a.keys() == b.keys() and a
    # the input's activation range differs (inputs x6 + 2): so do the scales, and so does the file
    assert real.variant_id != rand.variant_id
    assert any(not np.allclose(a[k], b[k]) for k in a)
    input_scale = next(k for k in a if k.startswith("pixels"))
    assert a[input_scale] > 3 * b[input_scale]


def test_a_recipe_that_changes_nothing_is_flagged(files, tmp_path):
    # the VAD-like graph keeps its weights inside an If branch: dynamic INT8 finds nothing to quantize
    vs = _build(_model(files["vad"], files["vad_npz"]), ["int8-dynamic", "prune-unstructured:0.5",
                                                           "prune-unstructured:0.0"], tmp_path)
    dyn = vs["int8-dynamic"]
    assert dyn.ok and "no Conv/MatMul/Gemm runs as an integer kernel" in dyn.info["no_effect"]
    assert any(w.startswith("no effect:") for w in dyn.info["warnings"])
    # magnitude pruning reaches weights inside subgraphs
    assert vs["prune-unstructured:0.5"].ok and "no_effect" not in vs["prune-unstructured:0.5"].info
    zero = vs["prune-unstructured:0.0"]
    assert zero.info["no_effect"] == "prune-unstructured changed nothing: the file is byte-identical to vad"
    assert zero.variant_id != vs["vad"].variant_id       # same bytes as its base, still its own variant


def test_output_kinds_and_metrics():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((20, 5)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert output_drift.output_kind("logits", logits) == "logits"
    assert output_drift.output_kind("probs", probs) == "probabilities"
    assert output_drift.output_kind("sentence_embedding", logits) == "tensor"
    assert output_drift.output_kind("stateN", logits) == "tensor"
    assert output_drift.output_kind("labels", np.zeros(5, np.int64)) == "integer"
    noisy = logits + rng.standard_normal(logits.shape).astype(np.float32) * 0.5
    rows = output_drift.all_outputs(["logits", "sentence_embedding", "labels"],
                                    [logits, logits, np.arange(5)], [noisy, noisy, np.array([0, 1, 2, 3, 9])])
    names = {m for m, _, _ in rows}
    assert {"cosine_similarity", "logits_mse", "max_abs_diff", "top1_agreement", "flip_count",
            "kl_divergence"} <= names
    # an embedding gets no top-1 agreement or KL: they make no sense for it
    assert {"cosine_similarity@sentence_embedding", "mse@sentence_embedding"} <= names
    assert not {"top1_agreement@sentence_embedding", "kl_divergence@sentence_embedding"} & names
    assert dict((m, v) for m, v, _ in rows)["equal_fraction@labels"] == pytest.approx(0.8)
    assert all(d["output"] for _, _, d in rows)
    table = output_drift.drift_table(
        [{"variant_id": "v", "reference": "root", "metric": m, "value": v, "detail": json.dumps(d)}
         for m, v, d in rows], {"v": "int8"})
    assert [r["output"] for r in table] == ["logits", "sentence_embedding", "labels"]
    assert table[1]["top-1 agree %"] is None and 0 <= table[0]["top-1 agree %"] <= 100


def _quality(db: Path) -> list[dict]:
    return Store(db).query("SELECT v.name, q.reference, q.metric, q.value, q.detail FROM quality q JOIN variants v "
                           "ON v.run_id = q.run_id AND v.variant_id = q.variant_id")


def test_bench_onnx_file_with_recipes_inputs_and_labels(files, tmp_path):
    db = tmp_path / "r.duckdb"
    proc = run_cli("bench", str(files["cls"]), "--recipe", "default", "--recipe",
                   "prune-unstructured:0.5>int8-static", "--recipe", "prune-structured:0.5",
                   "--inputs", str(files["cls_npz"]), "--labels", str(files["labels"]), "--db", str(db), *FAST,
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    store = Store(db)
    variants = {v["name"]: v for v in store.query("SELECT * FROM variants")}
    assert {"cls", "int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5",
            "prune-unstructured:0.5>int8-static", "prune-structured:0.5"} <= set(variants)
    assert variants["prune-structured:0.5"]["status"] == "skipped"
    ms = store.query("SELECT v.name, m.* FROM measurements m JOIN variants v USING (run_id, variant_id)")
    assert all(m["status"] == "ok" and m["inputs_source"] == "inputs:cls.npz (12 calls)" for m in ms)
    q = _quality(db)
    acc = {r["name"]: r["value"] for r in q if r["metric"] == "accuracy"}
    assert set(acc) >= {"cls", "int8-static", "fp16"}
    drift = {(r["name"], r["metric"]) for r in q if r["reference"] == "root"}
    for name in ("int8-static", "int8-dynamic", "fp16", "prune-unstructured:0.5"):
        for metric in ("cosine_similarity", "logits_mse", "max_abs_diff", "top1_agreement", "kl_divergence"):
            assert (name, metric) in drift, (name, metric)
    assert all(json.loads(r["detail"])["data"] == "inputs:cls.npz (12 calls)" for r in q if r["reference"] == "root")
    # the comparison the user came for, then the next two commands
    out = proc.stdout
    assert "every variant against cls" in out and "KiB" in out and "MiB" in out and "accuracy" in out
    assert "prune-structured:0.5: skipped: prune-structured:0.5 needs the model's PyTorch module" in out
    assert f"harness dashboard --db {db}" in out and "harness compare " in out
    compared = run_cli("compare", "latest", "--db", str(db), check=True).stdout
    assert "drift against the original" in compared and "KiB" in compared and "top-1 agree %" in compared
    shown = run_cli("show", "latest", "--db", str(db), check=True).stdout
    assert "KiB" in shown and "cv %" in shown and "drift against the original" in shown
    assert "size_B" not in shown


def test_bench_recurrent_model_with_scalar_input(files, tmp_path):
    db = tmp_path / "r.duckdb"
    # random inputs take the If's other branch and onnxruntime fails: one line, no ANSI log in the terminal
    proc = run_cli("bench", str(files["vad"]), "--dim", "sequence=512", "--db", str(db), *FAST, cwd=tmp_path)
    assert proc.returncode == 1
    assert "\x1b[" not in proc.stderr and "\x1b[" not in proc.stdout and "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("harness: error:")]
    assert len(errors) == 1 and "--inputs FILE.npz" in errors[0] and "Reshape" in errors[0]
    failed = Store(db).query("SELECT error FROM measurements")[0]["error"]
    assert "Reshape" in failed and "\x1b[" not in failed

    db2 = tmp_path / "real.duckdb"
    proc = run_cli("bench", str(files["vad"]), "--inputs", str(files["vad_npz"]), "--recipe", "int8-dynamic",
                   "--recipe", "prune-unstructured:0.5", "--db", str(db2), *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    store = Store(db2)
    ms = store.query("SELECT v.name, m.batch_size, m.status, m.inputs_source FROM measurements m "
                     "JOIN variants v USING (run_id, variant_id)")
    # the batch label comes from the `batch` symbol (1), not the state's fixed leading 2
    assert {m["batch_size"] for m in ms} == {1} and all(m["status"] == "ok" for m in ms)
    info = {v["name"]: json.loads(v["info"]) for v in store.query("SELECT name, info FROM variants")}
    assert "no_effect" in info["int8-dynamic"] and "no_effect" not in info["prune-unstructured:0.5"]
    assert "int8-dynamic: no effect:" in proc.stdout and "ok, no effect" in proc.stdout
    metrics = {(r["name"], r["metric"]) for r in _quality(db2) if r["reference"] == "root"}
    # every output: the first with plain names, the recurrent state as metric@output
    assert ("prune-unstructured:0.5", "cosine_similarity") in metrics
    assert ("prune-unstructured:0.5", "cosine_similarity@stateN") in metrics
    assert ("prune-unstructured:0.5", "mse@stateN") in metrics
    # a [batch, 1] probability and a state are not class scores: no top-1 agreement for them
    assert not any(m.startswith("top1_agreement") for _, m in metrics)
    assert "stateN" in proc.stdout
    _every_view_shows_every_output(db2, tmp_path)


def _every_view_shows_every_output(db: Path, tmp_path: Path) -> None:
    """compare, show, the report, the dashboard and TensorBoard all show the drift of the recurrent state."""
    for cmd in (["compare", "latest"], ["show", "latest"]):
        out = run_cli(*cmd, "--db", str(db), check=True).stdout
        assert "stateN" in out and "no effect" in out, out
    report = tmp_path / "report.html"
    run_cli("report", "latest", "--db", str(db), "-o", str(report), check=True)
    text = report.read_text()
    assert "Drift against the original, every output" in text and "stateN" in text
    assert "Variants that changed nothing" in text
    from harness.reports.data import ReportReader as Reader
    from harness.reports.dashboard import Dashboard

    dash = Dashboard(str(db))
    frame = dash.drift_widget.value
    assert set(frame["output"]) == {"output", "stateN"} and "top-1 agree %" not in frame.columns
    assert "had no effect" in dash.table_note.object
    assert Reader(str(db)).run_data(dash.run_id).quality is not None
    from test_report import _accumulate

    logdir = tmp_path / "tb"
    run_cli("export-tensorboard", "latest", "--logdir", str(logdir), "--db", str(db), check=True)
    # Compression Board's layout: {model}/drift/{output}/{metric}/{variant}
    tags = set(_accumulate(logdir).Tags()["scalars"])
    assert any("/drift/stateN/cosine/prune-unstructured" in t for t in tags), sorted(tags)
    assert any("/drift/output/mse/prune-unstructured" in t for t in tags)
    assert any(t.endswith("/drift/stateN/max_abs_diff/int8-dynamic") for t in tags)


def test_bench_detector_with_dynamic_height_and_width(files, tmp_path):
    db = tmp_path / "r.duckdb"
    proc = run_cli("bench", str(files["det"]), "--dim", "height=32", "--dim", "width=48", "--recipe", "int8-static",
                   "--recipe", "fp16", "--db", str(db), *FAST, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    q = _quality(db)
    metrics = {(r["name"], r["metric"]) for r in q if r["reference"] == "root"}
    for name in ("int8-static", "fp16"):
        assert {(name, "cosine_similarity"), (name, "cosine_similarity@objectness"), (name, "max_abs_diff")} <= metrics
    assert not any("top1" in m for _, m in metrics)
    # seeded random inputs are labelled as such on every drift row
    assert all(json.loads(r["detail"])["data"].startswith("random(seed=0") for r in q if r["reference"] == "root")
    sensors = Store(db).query("SELECT sensors FROM measurements")
    assert sensors


@pytest.mark.parametrize("case", ["wrong_dtype", "labels_without_inputs", "batch_size_conflict", "unknown_dim",
                                  "labels_not_class_scores"])
def test_bad_user_input_one_line_and_nothing_written(case, files, tmp_path):
    db = tmp_path / "r.duckdb"
    model, extra = files["vad"], []
    if case == "wrong_dtype":
        bad = tmp_path / "bad.npz"
        d = dict(np.load(files["vad_npz"]))
        np.savez(bad, **(d | {"sr": d["sr"].astype(np.float32)}))
        extra, expect = ["--inputs", str(bad)], "input 'sr' is declared int64 scalar; the file holds a float32"
    elif case == "labels_without_inputs":
        extra, expect = ["--labels", str(files["labels"])], "--labels needs --inputs"
    elif case == "batch_size_conflict":
        extra, expect = ["--inputs", str(files["vad_npz"]), "--batch-size", "4"], "have batch 1"
    elif case == "unknown_dim":
        extra, expect = ["--dim", "seq=512"], "--dim names unknown symbol(s) seq"
    else:
        np.save(tmp_path / "l.npy", np.zeros(6, np.int64))
        extra = ["--inputs", str(files["vad_npz"]), "--labels", str(tmp_path / "l.npy")]
        expect = "no output of vad looks like class scores"
    proc = run_cli("bench", str(model), "--db", str(db), *extra, *FAST, cwd=tmp_path)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith("harness: error:")]
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not db.exists()


def test_example_without_eval_data_drifts_on_seeded_inputs(tmp_path):
    import os

    db = tmp_path / "r.duckdb"
    tests_dir = str(Path(__file__).parent)
    env = {"PYTHONPATH": tests_dir + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = run_cli("bench", "--example", "user_models:make_example_without_eval_data", "--db", str(db), *FAST,
                   cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    q = _quality(db)
    root = {r["metric"]: r for r in q if r["reference"] == "root" and r["name"] == "int8-dynamic"}
    assert {"cosine_similarity", "top1_agreement", "kl_divergence", "logits_mse", "max_abs_diff"} <= set(root)
    assert json.loads(root["cosine_similarity"]["detail"])["data"].startswith("random(seed=0")


def test_fp16_of_a_public_old_ir_file(tmp_path):
    """ONNX IR 3 files (the onnx package's own light_shufflenet, from the old model zoo) list every initializer as
    a graph input. The fp16 converter left those inputs declared float32 around float16 weights, and onnxruntime
    refused the variant ("Tensor element type mismatch"). The exporters now work on a copy whose weights are not
    inputs: the variant runs, close to the original, and the user's file is left as it was."""
    import onnxruntime as ort

    src = Path(onnx.__file__).parent / "backend/test/data/light/light_shufflenet.onnx"
    original = onnx.load(str(src))
    assert original.ir_version < 4 and len(original.graph.input) > 1     # weights listed as inputs
    path = tmp_path / "shufflenet.onnx"
    path.write_bytes(src.read_bytes())
    v = _build(_model(path), ["fp16"], tmp_path / "out")["fp16"]
    assert v.ok, v.error
    assert path.read_bytes() == src.read_bytes()
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    name = original.graph.input[0].name

    def run(p):
        return ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {name: x})[0]

    ref, half = run(src), run(v.path)
    assert half.dtype == np.float32 and np.allclose(half, ref, rtol=0.05, atol=0.05 * np.abs(ref).max())


def test_an_old_ir_file_gives_the_variants_of_its_modern_twin(files, tmp_path):
    """The classifier saved the IR 3 way (weights listed as inputs) gives the same variants as the file itself:
    same sizes, same sparsity, only the real input left."""
    from onnx import helper

    m = onnx.load(str(files["cls"]))
    for init in m.graph.initializer:
        m.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    m.ir_version = 3
    old = tmp_path / "cls.onnx"
    onnx.save(m, str(old))
    recipes = ["fp16", "int8-dynamic", "prune-unstructured:0.5"]
    twin = _build(_model(files["cls"]), recipes, tmp_path / "modern")
    got = _build(_model(old), recipes, tmp_path / "old")
    for name in recipes:
        assert got[name].ok, (name, got[name].error)
        assert (got[name].size_bytes, got[name].sparsity) == (twin[name].size_bytes, twin[name].sparsity), name
        assert len(onnx.load(got[name].path).graph.input) == 1


def test_a_wrapped_onnxruntime_load_error_shows_its_cause():
    from harness.runtimes.onnxruntime_runtime import summarize_ort_error

    exc = RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Load model from /tmp/x.onnx failed:/onnxruntime_src/"
                       "onnxruntime/core/graph/graph.cc:1483 onnxruntime::Graph::Graph(const onnxruntime::Model&, "
                       "onnx::GraphProto*) [ONNXRuntimeError] : 1 : FAIL : Tensor element type mismatch. 10 != 1")
    assert summarize_ort_error(exc) == "Tensor element type mismatch. 10 != 1"
    plain = RuntimeError("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x")
    assert summarize_ort_error(plain) == "Got invalid dimensions for input: x"
