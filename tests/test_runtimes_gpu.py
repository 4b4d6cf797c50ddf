"""GPU runtimes. Their host-side logic (IOBinding, torch loading, FP16 autocast, timings plumbing) runs here on the
CPU; the CUDA paths run under the `gpu` marker where a GPU and CUDA builds are present."""
import numpy as np
import pytest

from harness.core.errors import ModelError
from harness.runtimes import runtime_class
from harness.runtimes.base import RuntimeConfig
from harness.runtimes.onnxruntime_gpu import OnnxRuntimeIoBinding


def _onnx_model(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def _net():
    import torch

    # built-in layers only, so torch.save can pickle the whole module
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval()


FEEDS = {"x": np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)}


def test_iobinding_on_cpu_matches_plain_run(tmp_path):
    rt = OnnxRuntimeIoBinding(RuntimeConfig(name="onnxruntime-iobinding", options={"transfer_samples": 3}))
    rt.load(_onnx_model(tmp_path / "m.onnx"))
    step = rt.make_step(FEEDS)
    step()
    np.testing.assert_allclose(rt.bound_outputs()[0], rt.infer(FEEDS)[0], rtol=1e-6)
    timings = rt.device_timings()
    assert len(timings["h2d_ms"]) == 3 and len(timings["d2h_ms"]) == 3
    assert rt.describe()["io_binding"] is True
    rt.close()


def test_registered_names_resolve():
    for name in ("onnxruntime-cuda", "onnxruntime-tensorrt", "torch", "tensorrt"):
        assert runtime_class(name).name == name


def test_cuda_provider_missing_is_a_model_error(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    rt = runtime_class("onnxruntime-cuda")(RuntimeConfig(name="onnxruntime-cuda"))
    with pytest.raises(ModelError, match="no CUDAExecutionProvider"):
        rt.load(_onnx_model(tmp_path / "m.onnx"))


@pytest.mark.parametrize("kind", ["torchscript", "pickle", "export"])
def test_torch_runtime_loads_each_file_kind_on_cpu(tmp_path, kind):
    import torch

    net = _net()
    x = torch.from_numpy(FEEDS["x"])
    if kind == "torchscript":
        path = tmp_path / "m.pt"
        torch.jit.trace(net, x).save(str(path))
    elif kind == "pickle":
        path = tmp_path / "m.pt"
        torch.save(net, str(path))
    else:
        path = tmp_path / "m.pt2"
        torch.export.save(torch.export.export(net, (x,)), str(path))
    rt = runtime_class("torch")(RuntimeConfig(name="torch", options={"device": "cpu"}))
    rt.load(str(path))
    step = rt.make_step(FEEDS)
    step()
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(rt.infer(FEEDS)[0], expected, rtol=1e-5, atol=1e-6)
    assert rt.device_timings() is None         # no device clock on CPU: the loop's wall time is the figure
    assert rt.describe()["device"] == "cpu"
    rt.close()


def test_torch_fp16_autocast_changes_the_arithmetic(tmp_path):
    """The outputs always come back as float32, so their dtype says nothing; the values do. On CPU the autocast
    dtype is bfloat16 (8-bit mantissa): its result must equal torch's own bfloat16 autocast of the same module and
    differ from the float32 one, while the runtime without the option reproduces float32."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 8)).eval()
    path = tmp_path / "m.pt"
    torch.save(net, str(path))
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 64)).astype(np.float32)}
    x = torch.from_numpy(feeds["x"])
    with torch.no_grad():
        ref32 = net(x).numpy()
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            ref_bf16 = net(x).float().numpy()
    assert not np.allclose(ref_bf16, ref32, rtol=1e-4, atol=1e-5)   # the check can tell the two apart
    half = runtime_class("torch")(RuntimeConfig(name="torch", options={"device": "cpu", "fp16": True}))
    half.load(str(path))
    out = half.infer(feeds)[0]
    assert out.dtype == np.float32 and out.shape == (2, 8)
    np.testing.assert_allclose(out, ref_bf16, rtol=1e-6, atol=1e-7)
    assert not np.allclose(out, ref32, rtol=1e-4, atol=1e-5)
    assert half.describe()["precision"] == "bf16-autocast"
    full = runtime_class("torch")(RuntimeConfig(name="torch", options={"device": "cpu"}))
    full.load(str(path))
    np.testing.assert_allclose(full.infer(feeds)[0], ref32, rtol=1e-6, atol=1e-7)
    assert full.describe()["precision"] == "fp32"


def test_torch_state_dict_is_refused(tmp_path):
    import torch

    path = tmp_path / "sd.pt"
    torch.save(_net().state_dict(), str(path))
    rt = runtime_class("torch")(RuntimeConfig(name="torch", options={"device": "cpu"}))
    with pytest.raises(ModelError, match="not a torch module"):
        rt.load(str(path))


def test_torch_device_cuda_without_cuda_is_a_model_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available")
    path = tmp_path / "m.pt"
    torch.save(_net(), str(path))
    rt = runtime_class("torch")(RuntimeConfig(name="torch", options={"device": "cuda"}))
    with pytest.raises(ModelError, match="no CUDA"):
        rt.load(str(path))


def _cuda_or_skip():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA device (CPU-only build or no GPU)")


@pytest.mark.gpu
def test_torch_cuda_events_and_transfers(tmp_path):
    import torch

    _cuda_or_skip()
    path = tmp_path / "m.pt"
    torch.save(_net(), str(path))
    rt = runtime_class("torch")(RuntimeConfig(name="torch", options={"fp16": True}))
    rt.load(str(path))
    step = rt.make_step(FEEDS)
    rt.device_timings()
    for _ in range(5):
        step()
    t = rt.device_timings()
    assert len(t["compute_ms"]) == 5 and t["h2d_ms"] and t["d2h_ms"]
    assert rt.device_timings()["compute_ms"] == []      # drained per round


@pytest.mark.gpu
def test_torch_cuda_fp16_casts_weights_once(tmp_path):
    """fp16 on CUDA is an FP16 deployment (weights and inputs in half), not autocast: the outputs equal the
    module's own .half() forward and differ from FP32; describe() names the precision that ran."""
    import torch

    _cuda_or_skip()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 8)).eval()
    path = tmp_path / "m.pt"
    torch.save(net, str(path))
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 64)).astype(np.float32)}
    with torch.no_grad():
        ref32 = net(torch.from_numpy(feeds["x"])).numpy()
        ref16 = net.cuda().half()(torch.from_numpy(feeds["x"]).cuda().half()).float().cpu().numpy()
    rt = runtime_class("torch")(RuntimeConfig(name="torch", options={"fp16": True}))
    rt.load(str(path))
    assert rt.describe()["precision"] == "fp16"
    assert next(rt.model.parameters()).dtype == torch.float16
    out = rt.infer(feeds)[0]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref16, rtol=1e-3, atol=1e-3)
    assert not np.array_equal(out, ref32)


@pytest.mark.gpu
def test_onnxruntime_cuda_iobinding(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime without CUDAExecutionProvider (install onnxruntime-gpu)")
    rt = runtime_class("onnxruntime-cuda")(RuntimeConfig(name="onnxruntime-cuda"))
    rt.load(_onnx_model(tmp_path / "m.onnx"))
    rt.make_step(FEEDS)()
    np.testing.assert_allclose(rt.bound_outputs()[0], rt.infer(FEEDS)[0], rtol=1e-4)
