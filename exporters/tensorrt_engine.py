"""tensorrt: a TensorRT engine built from an ONNX variant on the device it will run on.

TensorRT <= 10 builds FP16/INT8 with builder flags (weak typing), INT8 calibrated by IInt8EntropyCalibrator2 on
the example's calibration data (the calibration cache is kept). Graphs that already carry Q/DQ nodes (the
int8-static exporter's output) or FP16 tensors are built strongly typed where the version allows, and must be on
TensorRT 11, which removed weak typing. Kept next to the engine: the build log, the timing cache (reused by later
builds on this device), the calibration cache, and each layer's precision from the engine inspector.
The decisions are in harness.runtimes.tensorrt_plan; nothing here imports tensorrt until a build starts.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.runtimes.tensorrt_plan import (BuildPlan, TensorrtUnavailable, layer_precisions, onnx_precision_info,
                                     parse_version, plan_build, precision_counts, rebatch, skip_reason)
from harness.core.errors import ExportError
from harness.core.variant import variant_from_file


@dataclass(frozen=True)
class TensorrtConfig(ExportConfig):
    precision: str = "fp16"                 # fp32 | fp16 | int8
    strongly_typed: str = "auto"            # auto | yes | no (see tensorrt_plan.plan_build)
    workspace_mb: int = 1024
    calibration_batches: int = 32
    calibration_batch_size: int = 8
    min_batch: int = 1                      # optimization profile for a dynamic batch axis
    opt_batch: int = 1
    max_batch: int = 32
    timing_cache: str | None = None         # default: <out_dir>/tensorrt-<version>.timing-cache


@dataclass(frozen=True)
class EngineResult:
    engine_path: Path
    log_path: Path
    timing_cache_path: Path
    calibration_cache_path: Path | None
    trt_version: str
    plan: BuildPlan
    layers: list[dict[str, Any]] = field(default_factory=list)
    build_s: float = 0.0

    def info(self) -> dict[str, Any]:
        return {"trt_version": self.trt_version, "typing": self.plan.typing, "builder_flags": list(self.plan.flags),
                "calibrated": self.plan.calibrate, "plan_note": self.plan.note, "build_log": str(self.log_path),
                "timing_cache": str(self.timing_cache_path),
                "calibration_cache": str(self.calibration_cache_path) if self.calibration_cache_path else None,
                "layer_precisions": precision_counts(self.layers), "layers": self.layers, "build_s": self.build_s}


def _logger(trt, log_file):
    class FileLogger(trt.ILogger):
        """Keeps the whole build log on disk and the errors for the one-line failure message."""

        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg):
            log_file.write(f"[{severity.name if hasattr(severity, 'name') else severity}] {msg}\n")
            if severity in (trt.ILogger.ERROR, trt.ILogger.INTERNAL_ERROR):
                self.errors.append(msg)

    return FileLogger()


def make_calibrator(trt, batches: Sequence[dict[str, np.ndarray]], cache_path: Path, backend):
    """IInt8EntropyCalibrator2 over fixed-size batches copied to device buffers; reuses a cache when present."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = list(batches)
            self.index = 0
            self.stream = backend.stream()
            first = self.batches[0]
            self.ptrs = {n: backend.malloc(a.nbytes) for n, a in first.items()}

        def get_batch_size(self):
            return len(next(iter(self.batches[0].values())))

        def get_batch(self, names):
            if self.index >= len(self.batches):
                return None
            batch = self.batches[self.index]
            self.index += 1
            for n in names:
                backend.htod(self.ptrs[n], np.ascontiguousarray(batch[n]), self.stream)
            backend.sync(self.stream)
            return [self.ptrs[n] for n in names]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.exists() else None

        def write_calibration_cache(self, cache):
            cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()


def _profile_shapes(shape: Sequence[int], cfg: TensorrtConfig):
    dims = list(shape)
    if not dims or all(d >= 0 for d in dims):
        return None
    if any(d < 0 for d in dims[1:]):
        raise ExportError(f"only the batch axis may be dynamic for a TensorRT build (input shape {dims})")
    return ([cfg.min_batch, *dims[1:]], [cfg.opt_batch, *dims[1:]], [cfg.max_batch, *dims[1:]])


def build_engine(onnx_path: str | Path, out_dir: str | Path, cfg: TensorrtConfig,
                 calibration_batches: Sequence[dict[str, np.ndarray]] | None = None,
                 stem: str | None = None) -> EngineResult:
    """Build, save and inspect an engine. Raises TensorrtUnavailable / ExportError."""
    reason = skip_reason()
    if reason:
        raise TensorrtUnavailable(reason)
    import tensorrt as trt

    from harness.runtimes.cuda_buffers import cuda_backend

    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    version = trt.__version__
    graph = onnx_precision_info(str(onnx_path))
    plan = plan_build(parse_version(version), cfg.precision, graph["qdq"], graph["fp16"], cfg.strongly_typed)
    stem = stem or f"{onnx_path.stem}-trt-{cfg.precision}"
    engine_path, log_path = out_dir / f"{stem}.engine", out_dir / f"{stem}.build.log"
    cache_path = Path(cfg.timing_cache) if cfg.timing_cache else out_dir / f"tensorrt-{version}.timing-cache"
    calib_cache = out_dir / f"{stem}.calibration-cache" if plan.calibrate else None
    t0 = time.perf_counter()
    with open(log_path, "w") as log_file:
        log_file.write(f"TensorRT {version}; plan {plan}\n")
        logger = _logger(trt, log_file)
        builder = trt.Builder(logger)
        flags = 0
        if plan.explicit_batch_flag:
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        if plan.typing == "strong" and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise ExportError(f"TensorRT cannot parse {onnx_path.name}: {(errors or ['unknown'])[0][:200]}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cfg.workspace_mb << 20)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED   # per-layer precision in the inspector
        for flag in plan.flags:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        profile = None
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shapes = _profile_shapes(tuple(tensor.shape), cfg)
            if shapes:
                profile = profile or builder.create_optimization_profile()
                profile.set_shape(tensor.name, *shapes)
        if profile is not None:
            config.add_optimization_profile(profile)
        timing_cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.exists() else b"")
        config.set_timing_cache(timing_cache, ignore_mismatch=False)
        if plan.calibrate:
            batches = rebatch(calibration_batches or [], cfg.calibration_batch_size, cfg.calibration_batches)
            config.int8_calibrator = make_calibrator(trt, batches, calib_cache, cuda_backend())
            if profile is not None:
                calib_profile = builder.create_optimization_profile()
                for i in range(network.num_inputs):
                    tensor = network.get_input(i)
                    fixed = [cfg.calibration_batch_size, *tuple(tensor.shape)[1:]]
                    calib_profile.set_shape(tensor.name, fixed, fixed, fixed)
                config.set_calibration_profile(calib_profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ExportError(f"TensorRT build failed: {(logger.errors or ['see ' + str(log_path)])[-1][:200]}")
        engine_path.write_bytes(bytes(serialized))
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
        engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
        inspector = engine.create_engine_inspector()
        layers = layer_precisions(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    return EngineResult(engine_path, log_path, cache_path, calib_cache, version, plan, layers,
                        time.perf_counter() - t0)


class TensorrtEngineExporter(Exporter):
    """ONNX variant -> TensorRT engine (format "tensorrt"), run by the `tensorrt` runtime."""

    name = "tensorrt"
    config_class = TensorrtConfig

    @staticmethod
    def skip_reason() -> str | None:
        return skip_reason()

    def build(self, onnx_path: str | Path, out_dir: str | Path,
              calibration_batches: Sequence[dict[str, np.ndarray]] | None = None) -> EngineResult:
        return build_engine(onnx_path, out_dir, self.config, calibration_batches)

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        cfg: TensorrtConfig = self.config
        if source is None or not source.variant.path or not str(source.variant.path).endswith(".onnx"):
            raise ExportError("tensorrt builds from an ONNX variant: put it after fp32, fp16 or int8-static "
                              "in the recipe (e.g. 'fp32>tensorrt')")
        reason = skip_reason()
        if reason:
            raise TensorrtUnavailable(reason)
        calibration = None
        if cfg.precision == "int8" and ctx.example.calibration is not None:
            calibration = ctx.example.calibration(cfg.calibration_batches * cfg.calibration_batch_size)
        stem = f"{ctx.example.name}-{source.variant.name}-trt-{cfg.precision}"
        result = build_engine(source.variant.path, ctx.out_dir, cfg, calibration, stem=stem)
        base = source.variant
        variant = variant_from_file(
            result.engine_path, name=f"{base.name}>trt-{cfg.precision}", model=base.model, format="tensorrt",
            precision=cfg.precision, base_id=base.variant_id, root_id=base.root_id or base.variant_id,
            operation="tensorrt", params=self.params(), export_s=result.build_s,
            info=json.loads(json.dumps(result.info(), default=str)))
        return Artifact(variant)
