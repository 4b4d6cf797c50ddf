"""int8-static: onnxruntime post-training static quantization (QDQ) calibrated on the example's data.

The quantization format is device-specific. On x86 CPUs, onnxruntime only fuses QDQ convolutions into integer
kernels reliably with U8S8 (uint8 activations, int8 weights): ResNet-18 ran 3.3x faster than FP32, against 1.24x
with the library defaults (S8S8), where only 9 of 20 convolutions became integer kernels. GPUs/TensorRT want
symmetric S8S8. So `format="auto"` picks per target, and the exporter checks the fusion it got by counting integer
vs float Conv/MatMul/Gemm in onnxruntime's optimised graph.

Weights are 7-bit (`reduce_range`) by default on x86 CPUs without VNNI: there onnxruntime's integer kernels add
pairs of u8 x s8 products in saturating 16-bit lanes (AVX2 `vpmaddubsw`), and full-range int8 weights overflow
them. Per-channel weights use the full range in every channel, so they overflow most: on this project's AVX2-only
EPYC host, per-channel MinMax lost 39.2 points on `zoo-resnet-32` and 12.8 on `zoo-bn-cnn` (per-tensor 4.2 and
4.2), with 7-bit weights 0.0 and 0.0 at the same latency. VNNI (`vpdpbusd`) accumulates in 32 bits and needs no
such care, nor do GPU/TensorRT and ARM targets.

Which op types get Q/DQ is decided per target (`op_types`, harness.exporters.int8_op_types) and recorded with its
reason; `exclude` leaves named nodes in float. A graph that is already quantized is skipped with that reason, and
an opset too old for per-channel scales (< 13) is upgraded first, or quantized per tensor where it cannot be.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.exporters.graph_facts import already_quantized_reason
from harness.exporters.int8_op_types import (GPU_TARGETS, check_excluded, depthwise_convs, quantized_op_types,
                                             resolve_op_types, split_names)
from harness.exporters.onnx_tools import (ListReader, check_calibration, explain_quantizer_error, fusion_report, is_x86,
                                          output_path, quiet_logging, require_onnx_source, scratch_dir)
from harness.exporters.opset import PER_CHANNEL_QDQ_OPSET, QDQ_OPSET, ensure_opset
from harness.exporters.preprocess import preprocessed
from harness.core.errors import ExportError, ExportSkipped
from harness.core.variant import variant_from_file

FORMATS = ("auto", "u8s8", "s8s8", "u8u8")
METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


@dataclass(frozen=True)
class Int8StaticConfig(ExportConfig):
    calibration_method: str = "minmax"        # minmax | entropy | percentile
    format: str = "auto"                      # auto | u8s8 | s8s8 | u8u8 (activations, weights)
    per_channel: bool = True
    calibration_count: int = 100
    symmetric_activations: bool | None = None  # None: symmetric for s8s8 (TensorRT needs it), else asymmetric
    reduce_range: bool | None = None          # 7-bit weights; None: on x86 CPU targets without VNNI (see above)
    percentile: float = 99.999
    preprocess: bool = True                   # onnxruntime's quant_pre_process first (folds BatchNorm: preprocess.py)
    op_types: str = "auto"                    # auto (per target) | all (library default) | "Conv+MatMul+Gemm"
    exclude: str = ""                         # node names to leave in float, separated by '+', ';' or space


# the x86 instruction sets whose int8 dot products accumulate in 32 bits (no 16-bit saturation)
VNNI_ISA = {"avx512_vnni", "avx_vnni", "amx_int8"}


def resolve_reduce_range(reduce_range: bool | None, ctx: ExportContext) -> tuple[bool, str]:
    """(7-bit weights?, why). None decides by the target: x86 CPUs without VNNI get them. A target whose ISA list
    is unknown (a fleet node named by its machine only) gets them too: 7 bits cost next to nothing, an overflow
    up to tens of points."""
    if reduce_range is not None:
        return bool(reduce_range), "as configured"
    if ctx.target_device in GPU_TARGETS or not is_x86(ctx.target_info):
        return False, "target is not an x86 CPU"
    isa = ctx.target_info.get("isa")
    if isa is None:
        return True, "x86 target with unknown ISA: 7-bit weights avoid 16-bit saturation without VNNI"
    if VNNI_ISA & set(isa):
        return False, "x86 target with VNNI: 32-bit accumulation"
    return True, "x86 target without VNNI: 7-bit weights avoid 16-bit saturation (vpmaddubsw)"


def resolve_format(fmt: str, ctx: ExportContext) -> str:
    """auto -> s8s8 for GPU/TensorRT/Jetson targets and non-x86 CPUs, u8s8 on x86 CPUs."""
    if fmt not in FORMATS:
        raise ExportError(f"int8-static: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    if ctx.target_device in GPU_TARGETS:
        return "s8s8"
    return "u8s8" if is_x86(ctx.target_info) else "s8s8"


class Int8StaticExporter(Exporter):
    name = "int8-static"
    config_class = Int8StaticConfig

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        cfg: Int8StaticConfig = self.config
        t0 = time.perf_counter()
        src = require_onnx_source(source, self.name, ctx)
        quantized = already_quantized_reason(src)
        if quantized:
            raise ExportSkipped(f"int8-static: {quantized}; bench the file as it is, or give the float model to "
                                "quantize it")
        method = METHODS.get(str(cfg.calibration_method).lower())
        if method is None:
            raise ExportError(f"int8-static: unknown calibration_method {cfg.calibration_method!r}; "
                              f"choose one of {', '.join(METHODS)}")
        fmt = resolve_format(cfg.format, ctx)
        warnings = []
        per_channel = bool(cfg.per_channel)
        opset = ensure_opset(src, PER_CHANNEL_QDQ_OPSET if per_channel else QDQ_OPSET, ctx.out_dir)
        if opset.failure and per_channel:
            # per-tensor Q/DQ exists since opset 10, so the old graph can still be quantized
            per_channel = False
            warnings.append(f"per-tensor scales: opset {opset.from_opset} cannot hold per-channel DequantizeLinear "
                            f"(needs {PER_CHANNEL_QDQ_OPSET}) and {opset.failure}")
            opset = ensure_opset(src, QDQ_OPSET, ctx.out_dir)
        if opset.failure:
            raise ExportError(f"int8-static: Q/DQ needs opset {QDQ_OPSET}; {opset.failure}")
        src = opset.path
        op_types, op_types_reason = resolve_op_types(cfg.op_types, ctx.target_device)
        import onnx

        # node names as the user sees them in the file: pre-processing folds some of them away
        excluded = check_excluded(split_names(cfg.exclude),
                                  (n.name for n in onnx.load(str(src), load_external_data=False).graph.node))
        preprocess_note = None
        if cfg.preprocess:
            src, preprocess_note = preprocessed(src, ctx.out_dir)
            if preprocess_note:
                warnings.append(preprocess_note)
        model = onnx.load(str(src), load_external_data=False)
        if str(cfg.op_types).lower() == "auto" and ctx.target_device not in GPU_TARGETS and is_x86(ctx.target_info):
            depthwise = [n for n in depthwise_convs(model) if n not in excluded]
            if depthwise:
                excluded = [*excluded, *depthwise]
                op_types_reason += f"; {len(depthwise)} depthwise Conv(s) left in float (slower in INT8 on x86)"
        if ctx.example.calibration is None:
            raise ExportError(f"int8-static: example {ctx.example.name!r} provides no calibration data")
        batches = ctx.example.calibration(cfg.calibration_count)
        check_calibration(batches, src)

        reduce_range, reduce_range_reason = resolve_reduce_range(cfg.reduce_range, ctx)
        sym_act = cfg.symmetric_activations if cfg.symmetric_activations is not None else fmt == "s8s8"
        act_type = QuantType.QInt8 if fmt == "s8s8" else QuantType.QUInt8
        weight_type = QuantType.QUInt8 if fmt == "u8u8" else QuantType.QInt8
        extra = {"ActivationSymmetric": sym_act, "WeightSymmetric": weight_type == QuantType.QInt8}
        if method == "Percentile":
            extra["CalibPercentile"] = cfg.percentile
        out = output_path(ctx, src, self.name, self.params() | {"format": fmt, "reduce_range": reduce_range,
                                                                "per_channel": per_channel})
        try:
            with scratch_dir(), quiet_logging():
                quantize_static(str(src), str(out), ListReader(batches), quant_format=QuantFormat.QDQ,
                                per_channel=per_channel, reduce_range=reduce_range,
                                activation_type=act_type, weight_type=weight_type, op_types_to_quantize=op_types,
                                nodes_to_exclude=excluded or None,
                                calibrate_method=getattr(CalibrationMethod, method), extra_options=extra)
        except Exception as exc:
            raise ExportError(f"int8-static: {explain_quantizer_error(exc)}") from None

        fusion = fusion_report(out)
        # where the activation ranges came from: accuracy claims need real data, so random data is said aloud
        calibration_source = getattr(ctx.example, "calibration_source", None) or f"example:{ctx.example.name}"
        if getattr(ctx.example, "calibration_is_random", False):
            warnings.append(f"calibrated on {calibration_source}, not real data: activation ranges may not match "
                            "real inputs; give --inputs FILE.npz")
        if fusion["fused_fraction"] is not None and fusion["fused_fraction"] < 1.0:
            warnings.append(f"only {fusion['integer_ops']} of {fusion['integer_ops'] + fusion['float_ops']} "
                            "Conv/MatMul/Gemm run as integer kernels on the CPU execution provider"
                            + (f" ({len(excluded)} node(s) excluded on purpose)" if excluded else "")
                            + ("; U8S8 fuses fully on x86" if fmt != "u8s8" and is_x86(ctx.target_info) else ""))
        info = {"format": fmt, "activation_type": act_type.name, "weight_type": weight_type.name,
                "activation_symmetric": sym_act, "calibration_method": method,
                "reduce_range": reduce_range, "reduce_range_reason": reduce_range_reason,
                "calibration_count": len(batches), "calibration_requested": cfg.calibration_count,
                "calibration_source": calibration_source, "per_channel": per_channel,
                "op_types": quantized_op_types(onnx.load(str(out), load_external_data=False), op_types),
                "op_types_requested": op_types or "all", "op_types_reason": op_types_reason,
                "excluded_nodes": excluded, "preprocessed": bool(cfg.preprocess) and preprocess_note is None,
                "fusion": fusion, "fused_fraction": fusion["fused_fraction"], "warnings": warnings}
        if opset.upgraded:
            info["opset_upgraded"] = opset.upgraded
        variant = variant_from_file(out, name=self.name, model=ctx.example.name, precision="int8",
                                    operation=self.name, params=self.params(), export_s=time.perf_counter() - t0,
                                    info=info)
        return Artifact(variant, None)
