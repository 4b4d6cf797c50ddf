"""A user's ONNX file: dimension symbols, real inputs from an npz, labels, and every way they can be wrong.

Real graphs (tests/user_models.py), real files; no onnxruntime session is needed to check inputs.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.core.errors import InputSpecError
from harness.inputs import batch_symbol, default_batch_size, read_input_specs, resolve_shapes
from harness.user_inputs import load_inputs, load_labels
from user_models import make_classifier_onnx, make_detector_onnx, make_vad_onnx, vad_inputs


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_graphs")
    return {"vad": make_vad_onnx(d / "vad.onnx"), "det": make_detector_onnx(d / "det.onnx"),
            "cls": make_classifier_onnx(d / "cls.onnx"), "dir": d}


def test_shared_batch_symbol_fixes_every_input(graphs):
    specs = read_input_specs(str(graphs["vad"]))
    assert batch_symbol(specs) == "batch"
    # the state's fixed leading 2 is not a batch
    assert default_batch_size(specs) == 1
    want = {"input": (1, 512), "state": (2, 1, 128), "sr": ()}
    # --input-shape on one input binds its symbols for the others; --dim by symbol does the same
    assert resolve_shapes(specs, 1, {"input": (1, 512)}) == want
    assert resolve_shapes(specs, 1, {}, {"sequence": 512}) == want
    assert resolve_shapes(specs, 4, {}, {"sequence": 512})["state"] == (2, 4, 128)
    assert default_batch_size(specs, {"batch": 3, "sequence": 8}) == 3


def test_every_unresolved_dimension_is_named_with_its_axis(graphs):
    specs = read_input_specs(str(graphs["det"]))
    with pytest.raises(InputSpecError) as err:
        resolve_shapes(specs, 1, {})
    text = str(err.value)
    assert "'height' at axis 2" in text and "'width' at axis 3" in text
    assert "--dim height=N" in text and "--dim width=N" in text and "\n" not in text
    assert resolve_shapes(specs, 1, {}, {"height": 32, "width": 48}) == {"images": (1, 3, 32, 48)}


def test_unnamed_dynamic_dims_are_reported_with_input_and_axis(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", None, 4])
    x.type.tensor_type.shape.dim[1].dim_value = 0          # written by some exporters for "unknown"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "unnamed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    specs = read_input_specs(str(path))
    with pytest.raises(InputSpecError, match=r"input 'x' has dynamic dimension unnamed at axis 1.*--input-shape "
                                             r"x=1xNx4"):
        resolve_shapes(specs, 1, {})


def test_dim_errors(graphs):
    specs = read_input_specs(str(graphs["vad"]))
    with pytest.raises(InputSpecError, match=r"--dim names unknown symbol\(s\) seq; the model's dimension symbols "
                                             r"are: batch, sequence"):
        resolve_shapes(specs, 1, {}, {"seq": 512})
    with pytest.raises(InputSpecError, match="--dim batch=2 disagrees with batch size 1"):
        resolve_shapes(specs, 1, {}, {"batch": 2, "sequence": 512})


def test_npz_calls_scalar_and_state(graphs):
    specs = read_input_specs(str(graphs["vad"]))
    path = vad_inputs(graphs["dir"] / "vad.npz", n=5)
    calls = load_inputs(str(path), specs)
    assert len(calls) == 5 and calls.batch_size == 1 and calls.symbols == {"batch": 1, "sequence": 512}
    first = calls.calls[0]
    # a scalar input stays a 0-d array (onnxruntime refuses numpy scalars and shape (1,))
    assert first["sr"].shape == () and first["sr"].dtype == np.int64 and int(first["sr"]) == 16000
    assert first["state"].shape == (2, 1, 128) and first["input"].shape == (1, 512)
    assert calls.source == "inputs:vad.npz (5 calls)"
    batch2 = load_inputs(str(vad_inputs(graphs["dir"] / "vad2.npz", n=3, batch=2)), specs)
    assert batch2.batch_size == 2


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def _good(n=4, batch=1):
    return {"input": np.zeros((n, batch, 512), np.float32), "state": np.zeros((n, 2, batch, 128), np.float32),
            "sr": np.full((n,), 16000, np.int64)}


BAD_NPZ = {
    "missing_input": (lambda: {k: v for k, v in _good().items() if k != "sr"},
                      "has no array for input 'sr': the graph declares int64 scalar"),
    "extra_array": (lambda: _good() | {"srate": np.zeros(4, np.int64)},
                    "array 'srate' matches no input of the model"),
    "wrong_dtype": (lambda: _good() | {"sr": np.full((4,), 16000, np.int32)},
                    "input 'sr' is declared int64 scalar; the file holds a int32 array of shape (4,)"),
    "float64_audio": (lambda: _good() | {"input": np.zeros((4, 1, 512))},
                      "input 'input' is declared float32 [batch, sequence]; the file holds a float64 array"),
    "scalar_with_extra_axis": (lambda: _good() | {"sr": np.full((4, 1), 16000, np.int64)},
                               "input 'sr' is declared int64 scalar, so the file needs shape (N,)"),
    "no_calls_axis": (lambda: _good() | {"state": np.zeros((2, 1, 128), np.float32)},
                      "needs shape (N, 2, batch, 128) with the leading axis indexing calls"),
    "fixed_dim": (lambda: _good() | {"state": np.zeros((4, 3, 1, 128), np.float32)},
                  "input 'state' axis 0 is fixed at 2 in the graph"),
    "shared_symbol_disagrees": (lambda: _good() | {"state": np.zeros((4, 2, 2, 128), np.float32)},
                                "input 'state' axis 1 carries symbol 'batch' = 2 in the file, but input 'input' "
                                "axis 0 gives 'batch' = 1"),
    "different_call_counts": (lambda: _good() | {"sr": np.full((3,), 16000, np.int64)},
                              "arrays hold different numbers of calls (input: 4, state: 4, sr: 3)"),
    "no_calls": (lambda: _good(n=0), "holds no calls"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPZ))
def test_bad_npz_one_line_naming_the_input(case, graphs, tmp_path):
    make, expect = BAD_NPZ[case]
    specs = read_input_specs(str(graphs["vad"]))
    path = _write(tmp_path / f"{case}.npz", **make())
    with pytest.raises(InputSpecError) as err:
        load_inputs(path, specs)
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_npz_file_problems(graphs, tmp_path):
    specs = read_input_specs(str(graphs["vad"]))
    with pytest.raises(InputSpecError, match="--inputs .*nope.npz: file not found"):
        load_inputs(str(tmp_path / "nope.npz"), specs)
    text = tmp_path / "notes.npz"
    text.write_text("not numpy")
    with pytest.raises(InputSpecError, match="is not a readable .npz file"):
        load_inputs(str(text), specs)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(InputSpecError, match="holds a single array, not an .npz"):
        load_inputs(str(single), specs)
    objects = tmp_path / "objects.npz"
    np.savez(objects, **(_good() | {"sr": np.array([16000, "x", None, 1], dtype=object)}))
    with pytest.raises(InputSpecError, match="object arrays"):
        load_inputs(str(objects), specs)


def test_npz_against_dim_and_input_shape(graphs, tmp_path):
    specs = read_input_specs(str(graphs["vad"]))
    path = _write(tmp_path / "ok.npz", **_good())
    with pytest.raises(InputSpecError, match=r"input 'input' axis 1 \('sequence'\) is 512 in the file but "
                                             r"--dim sequence=256"):
        load_inputs(path, specs, dims={"sequence": 256})
    with pytest.raises(InputSpecError, match="per call in the file but --input-shape gives 1x256"):
        load_inputs(path, specs, overrides={"input": (1, 256)})
    assert load_inputs(path, specs, dims={"sequence": 512}, overrides={"input": (1, 512)}).batch_size == 1


def test_labels(graphs, tmp_path):
    specs = read_input_specs(str(graphs["cls"]))
    path = _write(tmp_path / "px.npz", pixels=np.zeros((6, 2, 3, 16, 16), np.float32))
    calls = load_inputs(path, specs)
    assert calls.batch_size == 2
    np.save(tmp_path / "flat.npy", np.arange(12))
    np.save(tmp_path / "grid.npy", np.arange(12).reshape(6, 2))
    assert load_labels(str(tmp_path / "flat.npy"), calls).tolist() == list(range(12))
    assert load_labels(str(tmp_path / "grid.npy"), calls).shape == (12,)
    np.save(tmp_path / "short.npy", np.arange(6))
    with pytest.raises(InputSpecError, match=r"holds shape \(6,\); .*px.npz has 6 calls of batch 2, so labels need "
                                             r"shape \(12,\) or \(6, 2\)"):
        load_labels(str(tmp_path / "short.npy"), calls)
    np.save(tmp_path / "float.npy", np.zeros(12))
    with pytest.raises(InputSpecError, match="holds float64 values; labels are class indices"):
        load_labels(str(tmp_path / "float.npy"), calls)
    with pytest.raises(InputSpecError, match="file not found"):
        load_labels(str(tmp_path / "none.npy"), calls)
