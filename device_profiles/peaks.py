"""What the device can do at most: peak operations per second per precision and memory bandwidth.

Jetson boards and datacenter GPUs take them from NVIDIA's datasheets (the `[peaks]` table of a board file,
`gpu_peaks.toml`); a figure the datasheet does not give stays null with the reason. A CPU host has no datasheet
here, so harness measures a short peak once and caches it per host: a large FP32 GEMM (onnxruntime MatMul) and
INT8 GEMM (MatMulInteger) through the CPU provider the models run on, and a stream copy, all labelled
"measured peak". A measured peak is what this software reaches on this host, not the silicon's limit.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

GPU_PEAKS_FILE = Path(__file__).parent / "gpu_peaks.toml"
PRECISIONS = ("fp32", "fp16", "int8")
MEASURED = "measured peak"
CACHE_VERSION = 2


@dataclass(frozen=True)
class DevicePeaks:
    """Peak GOPS per precision (GFLOPS for float, GOPS for int8; one MAC = 2 ops) and memory bandwidth."""

    source: str                                   # "datasheet: ..." | "measured peak"
    gops: dict[str, float | None]
    bandwidth_gbps: float | None
    reasons: dict[str, str] = field(default_factory=dict)   # precision (or "bandwidth") -> why null
    detail: dict[str, Any] = field(default_factory=dict)

    def peak_for(self, precision: str | None) -> tuple[float | None, str | None]:
        """(peak GOPS, None) or (None, why) for a variant's precision."""
        p = (precision or "").lower()
        if p not in PRECISIONS:
            return None, f"no peak for precision {precision!r}"
        value = self.gops.get(p)
        if value is None:
            return None, self.reasons.get(p, f"no {p} peak known for this device")
        return value, None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def unavailable(cls, reason: str) -> "DevicePeaks":
        """No peak at all for this device: every precision and the bandwidth null, each with `reason`."""
        return cls(source="none", gops={p: None for p in PRECISIONS}, bandwidth_gbps=None,
                   reasons={p: reason for p in (*PRECISIONS, "bandwidth")})


def _from_table(table: dict[str, Any], source: str) -> DevicePeaks:
    gops: dict[str, float | None] = {}
    reasons = dict(table.get("null_reasons", {}))
    for p in PRECISIONS:
        tera = table.get(f"{p}_tops") if p == "int8" else table.get(f"{p}_tflops")
        gops[p] = float(tera) * 1e3 if tera is not None else None
        if tera is None and p not in reasons:
            reasons[p] = "not given by the datasheet"
    bw = table.get("memory_bandwidth_gbps")
    if bw is None:
        reasons.setdefault("bandwidth", "not given by the datasheet")
    note = table.get("note")
    return DevicePeaks(source=f"datasheet: {source}" + (f" ({note})" if note else ""), gops=gops,
                       bandwidth_gbps=float(bw) if bw is not None else None, reasons=reasons,
                       detail={k: v for k, v in table.items() if k != "null_reasons"})


def board_peaks(board_key: str | None) -> DevicePeaks | None:
    """Peaks from a Jetson board file's `[peaks]` table."""
    from harness.device_profiles.jetson_board import load_boards

    for spec in load_boards():
        if spec.key == board_key and "peaks" in spec.info:
            return _from_table(spec.info["peaks"], spec.name)
    return None


def gpu_peaks(gpu_name: str | None, path: Path = GPU_PEAKS_FILE) -> DevicePeaks | None:
    """Peaks of a datacenter GPU whose NVML name matches an entry of gpu_peaks.toml (longest pattern wins)."""
    if not gpu_name:
        return None
    data = tomllib.loads(path.read_text())
    best, best_len = None, 0
    for entry in data.get("gpu", []):
        for pattern in entry.get("name_patterns", []):
            if pattern.lower() in gpu_name.lower() and len(pattern) > best_len:
                best, best_len = entry, len(pattern)
    return _from_table(best, best["name"]) if best else None


# -- a CPU host: measured once, cached ---------------------------------------------------------------------------
def _best_rate(fn, work: float, budget_s: float, min_samples: int = 3, sample_s: float = 0.05) -> float:
    """Best work/second over samples of back-to-back calls, each sample at least `sample_s` long so that one
    odd clock reading cannot make a peak (the best sample is the least disturbed one)."""
    fn()  # first call: allocation, thread pool start
    clock = time.perf_counter
    best = 0.0
    end = clock() + budget_s
    samples = 0
    while samples < min_samples or clock() < end:
        t0 = clock()
        reps = 0
        while True:
            fn()
            reps += 1
            dt = clock() - t0
            if dt >= sample_s:
                break
        best = max(best, reps * work / dt)
        samples += 1
    return best


def _gemm_session(n: int, a_type: int, b_type: int, y_type: int, op: str):
    import onnxruntime as ort
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node(op, ["a", "b"], ["y"])], "gemm",
        [helper.make_tensor_value_info("a", a_type, [n, n]), helper.make_tensor_value_info("b", b_type, [n, n])],
        [helper.make_tensor_value_info("y", y_type, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _fp32_gemm_gflops(n: int, budget_s: float) -> float:
    import numpy as np
    from onnx import TensorProto

    sess = _gemm_session(n, TensorProto.FLOAT, TensorProto.FLOAT, TensorProto.FLOAT, "MatMul")
    rng = np.random.default_rng(0)
    feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    return _best_rate(lambda: sess.run(None, feeds), 2.0 * n ** 3, budget_s) / 1e9


def _int8_gemm_gops(n: int, budget_s: float) -> float:
    import numpy as np
    from onnx import TensorProto

    sess = _gemm_session(n, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32, "MatMulInteger")
    rng = np.random.default_rng(0)
    feeds = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    return _best_rate(lambda: sess.run(None, feeds), 2.0 * n ** 3, budget_s) / 1e9


def _stream_copy_gbps(size_bytes: int, budget_s: float) -> float:
    import numpy as np

    src = np.ones(size_bytes // 8, dtype=np.float64)
    dst = np.empty_like(src)
    # a copy reads and writes every byte (STREAM's "Copy" counts both)
    return _best_rate(lambda: np.copyto(dst, src), 2.0 * src.nbytes, budget_s) / 1e9


def host_key(describe: dict[str, Any]) -> str:
    """What makes a measured peak reusable: the host, its CPU, its core count and the libraries measured."""
    import numpy
    import onnxruntime

    parts = [platform.node(), describe.get("cpu_model"), describe.get("logical_cores"),
             describe.get("affinity_cores"), numpy.__version__, onnxruntime.__version__, CACHE_VERSION]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    base = os.environ.get("HARNESS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "harness")
    return Path(base) / "peaks"


def measure_cpu_peaks(gemm_n: int = 1024, copy_bytes: int = 64 << 20, budget_s: float = 0.4) -> DevicePeaks:
    """A few seconds: FP32 and INT8 GEMM and a stream copy, best of repeated runs. The host's load is recorded
    with it: on a busy host the figure is what this process could get, below the hardware's."""
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    fp32 = _fp32_gemm_gflops(gemm_n, budget_s)
    int8 = _int8_gemm_gops(gemm_n, budget_s)
    bw = _stream_copy_gbps(copy_bytes, budget_s)
    return DevicePeaks(
        source=MEASURED, gops={"fp32": fp32, "fp16": None, "int8": int8}, bandwidth_gbps=bw,
        reasons={"fp16": "no FP16 peak measured on a CPU host (x86 CPUs without AVX512-FP16 run FP16 models "
                         "through FP32 kernels)"},
        detail={"gemm_n": gemm_n, "copy_bytes": copy_bytes, "fp32": "onnxruntime MatMul float32",
                "int8": "onnxruntime MatMulInteger u8 x s8", "bandwidth": "numpy copyto, read + write",
                "measure_s": round(time.perf_counter() - t0, 3), "load_1min_before": load_before,
                "logical_cores": os.cpu_count(),
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


def cpu_peaks(describe: dict[str, Any], cache_dir: Path | None = None, **measure: Any) -> DevicePeaks:
    """The measured peak of this host, from the cache when this host measured it before (`measure`: sizes and
    time budget for measure_cpu_peaks)."""
    cache_dir = cache_dir or default_cache_dir()
    path = cache_dir / f"{host_key(describe)}.json"
    if path.exists():
        try:
            data = json.loads(path.read_text())
            return DevicePeaks(**data)
        except (ValueError, TypeError):
            pass  # a damaged cache file is measured again
    peaks = measure_cpu_peaks(**measure)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(peaks.as_dict(), indent=1))
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache only costs a re-measurement next time
    return peaks


def device_peaks(device: str, describe: dict[str, Any]) -> DevicePeaks:
    """The peaks for a device profile's description: datasheet where harness has one, measured on CPU hosts."""
    if device == "jetson":
        peaks = board_peaks(describe.get("board"))
        if peaks is not None:
            return peaks
        return DevicePeaks.unavailable(f"no board file with peaks for {describe.get('board_model')!r}")
    if device == "nvidia-gpu":
        peaks = gpu_peaks(describe.get("gpu_name"))
        if peaks is not None:
            return peaks
        return DevicePeaks.unavailable(f"no datasheet entry for GPU {describe.get('gpu_name')!r} in gpu_peaks.toml")
    return cpu_peaks(describe)
