"""Everything around TensorRT that runs without it: version branching, calibration batching, graph precision
detection, inspector parsing, and the skip reason. The real build runs under the `tensorrt` marker."""
import json

import numpy as np
import pytest

from harness.exporters.tensorrt_engine import TensorrtConfig, TensorrtEngineExporter, build_engine
from harness.runtimes.tensorrt_plan import (TensorrtUnavailable, layer_precisions, onnx_precision_info, parse_version,
                                     plan_build, precision_counts, rebatch, skip_reason)
from harness.core.errors import ExportError, ModelError


@pytest.mark.parametrize("version,precision,qdq,fp16,typing,flags,calibrate", [
    ((8, 6, 1), "fp16", False, False, "weak", ("FP16",), False),
    ((8, 6, 1), "int8", False, False, "weak", ("FP16", "INT8"), True),
    ((8, 6, 1), "int8", True, False, "weak", ("FP16", "INT8"), False),     # Q/DQ, no strong typing before 9.1
    ((10, 3, 0), "int8", True, False, "strong", (), False),
    ((10, 3, 0), "int8", False, False, "weak", ("FP16", "INT8"), True),
    ((10, 3, 0), "fp16", False, True, "strong", (), False),
    ((10, 3, 0), "fp32", False, False, "weak", (), False),
    ((11, 0, 0), "int8", True, False, "strong", (), False),
    ((11, 0, 0), "fp16", False, True, "strong", (), False),
    ((11, 0, 0), "fp32", False, False, "strong", (), False),
])
def test_version_branching(version, precision, qdq, fp16, typing, flags, calibrate):
    plan = plan_build(version, precision, qdq, fp16)
    assert (plan.typing, plan.flags, plan.calibrate) == (typing, flags, calibrate)
    assert plan.explicit_batch_flag == (version[0] < 10)


def test_tensorrt_11_refuses_weak_typing_with_advice():
    with pytest.raises(ExportError, match="int8-static"):
        plan_build((11, 0, 0), "int8", graph_qdq=False, graph_fp16=False)
    with pytest.raises(ExportError, match="fp16 exporter"):
        plan_build((11, 0, 0), "fp16", graph_qdq=False, graph_fp16=False)
    with pytest.raises(ExportError, match="no weak typing"):
        plan_build((11, 0, 0), "fp32", False, False, strongly_typed="no")


def test_old_or_unsupported_requests():
    with pytest.raises(ExportError, match=">= 8.5"):
        plan_build((8, 4, 3), "fp16", False, False)
    with pytest.raises(ExportError, match="9.1"):
        plan_build((9, 0, 1), "fp16", False, False, strongly_typed="yes")
    with pytest.raises(ExportError, match="precision"):
        plan_build((10, 0, 0), "int4", False, False)
    assert plan_build((10, 0, 0), "int8", True, False, strongly_typed="no").typing == "weak"


def test_parse_version():
    assert parse_version("10.3.0.26") == (10, 3, 0) and parse_version("8.6.1") == (8, 6, 1)


def test_rebatch_keeps_order_and_drops_the_tail():
    batches = [{"x": np.arange(5, dtype=np.float32)[:, None]}, {"x": np.arange(5, 12, dtype=np.float32)[:, None]}]
    out = rebatch(batches, batch_size=4)
    assert [b["x"].ravel().tolist() for b in out] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert len(rebatch(batches, 4, max_batches=2)) == 2
    assert all(b["x"].flags["C_CONTIGUOUS"] for b in out)
    out = rebatch(batches, 5)
    assert len(out) == 2 and out[-1]["x"].ravel().tolist() == [5, 6, 7, 8, 9]   # 10, 11 dropped, not padded


def test_rebatch_errors():
    with pytest.raises(ExportError, match="calibration data"):
        rebatch([], 4)
    with pytest.raises(ExportError, match="fewer than one batch"):
        rebatch([{"x": np.zeros((3, 2))}], 4)


def _graph(path, qdq: bool, fp16: bool):
    import onnx
    from onnx import TensorProto, helper

    dtype = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    inits = []
    if qdq:
        inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]), helper.make_tensor("z", TensorProto.INT8, [], [0])]
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                 helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]), helper.make_node("Relu", ["d"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", dtype, [1, 4])],
                              [helper.make_tensor_value_info("y", dtype, [1, 4])], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def test_onnx_precision_info(tmp_path):
    assert onnx_precision_info(_graph(tmp_path / "a.onnx", False, False)) == {"qdq": False, "fp16": False}
    assert onnx_precision_info(_graph(tmp_path / "b.onnx", True, False)) == {"qdq": True, "fp16": False}
    assert onnx_precision_info(_graph(tmp_path / "c.onnx", False, True)) == {"qdq": False, "fp16": True}


def test_layer_precisions_from_inspector_json():
    # shape of get_engine_information(JSON) with ProfilingVerbosity.DETAILED (format sample, not a recording)
    info = json.dumps({"Layers": [
        {"Name": "conv1 + relu", "LayerType": "CaskConvolution",
         "Inputs": [{"Name": "x", "Format/Datatype": "Row major linear FP32"}],
         "Outputs": [{"Name": "h", "Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}]},
        {"Name": "fc", "LayerType": "CaskGemm", "Outputs": [{"Name": "y", "Format/Datatype": "Row major linear Int8"}]},
        "reformat_0",
    ]})
    layers = layer_precisions(info)
    assert [l["precision"] for l in layers] == ["FP16", "INT8", None]
    assert precision_counts(layers) == {"FP16": 1, "INT8": 1, "unknown": 1}


def _no_tensorrt():
    reason = skip_reason()
    if reason is None:
        pytest.skip("TensorRT is installed here")
    return reason


def test_skip_reason_and_typed_errors_without_tensorrt(tmp_path):
    reason = _no_tensorrt()
    assert "pip install" in reason
    with pytest.raises(TensorrtUnavailable) as err:
        build_engine(_graph(tmp_path / "m.onnx", False, False), tmp_path, TensorrtConfig())
    assert isinstance(err.value, ExportError) and str(err.value) == reason
    assert TensorrtEngineExporter.skip_reason() == reason

    from harness.runtimes import runtime_class
    from harness.runtimes.base import RuntimeConfig

    with pytest.raises(ModelError, match="TensorRT"):
        runtime_class("tensorrt")(RuntimeConfig(name="tensorrt")).load(str(tmp_path / "m.engine"))


def test_exporter_params_and_source_check(tmp_path):
    from types import SimpleNamespace

    from harness.exporters.base import Artifact, ExportContext
    from harness.core.variant import Variant

    exp = TensorrtEngineExporter.from_params({"precision": "int8", "calibration_batch_size": 16})
    assert exp.params()["precision"] == "int8"
    ctx = ExportContext(example=SimpleNamespace(name="digits", calibration=None), out_dir=tmp_path)
    src = Artifact(Variant(name="pt", variant_id="x", path=str(tmp_path / "m.pt"), format="torch"))
    with pytest.raises(ExportError, match="ONNX variant"):
        exp.export(src, ctx)


@pytest.mark.tensorrt
def test_real_build_and_run(tmp_path):
    if skip_reason():
        pytest.skip(skip_reason())
    from harness.runtimes import runtime_class
    from harness.runtimes.base import RuntimeConfig

    onnx_path = _graph(tmp_path / "m.onnx", False, False)
    result = build_engine(onnx_path, tmp_path, TensorrtConfig(precision="fp16"))
    assert result.engine_path.exists() and result.timing_cache_path.exists() and result.log_path.exists()
    rt = runtime_class("tensorrt")(RuntimeConfig(name="tensorrt"))
    rt.load(str(result.engine_path))
    x = np.array([[-1, 0, 1, 2]], dtype=np.float32)
    rt.make_step({"x": x})()
    np.testing.assert_allclose(rt.infer({"x": x})[0], np.maximum(x, 0), atol=1e-3)
    assert rt.device_timings()["compute_ms"]
