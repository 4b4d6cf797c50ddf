"""int8-dynamic: onnxruntime dynamic quantization (weights int8 ahead of time, activations quantized per call).

Meant for MatMul-heavy models (transformers): MiniLM-L6 ran 2.2x faster than FP32. On conv nets onnxruntime runs
the result as ConvInteger, which measured 4-6x *slower* than FP32 on x86 here, so the variant carries a warning.
Per-channel weights matter for accuracy (MiniLM cosine to FP32: 0.963 per-tensor, 0.994 per-channel).
A graph that is already quantized is skipped with that reason; one older than opset 11 (DynamicQuantizeLinear)
is upgraded first where onnx's version converter can.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.exporters.graph_facts import already_quantized_reason
from harness.exporters.onnx_tools import (explain_quantizer_error, fusion_report, output_path, quiet_logging,
                                          require_onnx_source, scratch_dir)
from harness.exporters.opset import ensure_opset
from harness.core.errors import ExportError, ExportSkipped
from harness.core.variant import variant_from_file

# DynamicQuantizeLinear, which the quantizer fuses the activation quantization into, exists since opset 11
DYNAMIC_QUANT_OPSET = 11
CONV_WARNING = ("dynamic quantization of convolutions runs as ConvInteger, measured 4-6x slower than FP32 on "
                "x86 CPUs; use int8-static for conv nets")


@dataclass(frozen=True)
class Int8DynamicConfig(ExportConfig):
    per_channel: bool = True
    weight_type: str = "int8"         # int8 | uint8
    op_types: str = ""                # e.g. "MatMul" to leave convolutions in float; empty = every supported op
    reduce_range: bool = False


class Int8DynamicExporter(Exporter):
    name = "int8-dynamic"
    config_class = Int8DynamicConfig

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        cfg: Int8DynamicConfig = self.config
        t0 = time.perf_counter()
        src = require_onnx_source(source, self.name, ctx)
        quantized = already_quantized_reason(src)
        if quantized:
            raise ExportSkipped(f"int8-dynamic: {quantized}; bench the file as it is, or give the float model to "
                                "quantize it")
        warnings = []
        opset = ensure_opset(src, DYNAMIC_QUANT_OPSET, ctx.out_dir)
        if opset.failure:   # the quantizer still works below opset 11, with unfused activation quantization
            warnings.append(f"opset {opset.from_opset} kept: {opset.failure}")
        src = opset.path
        types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
        if cfg.weight_type not in types:
            raise ExportError(f"int8-dynamic: weight_type must be int8 or uint8, not {cfg.weight_type!r}")
        op_types = [t for t in str(cfg.op_types).replace(";", " ").split() if t] or None
        out = output_path(ctx, src, self.name, self.params())
        try:
            with scratch_dir(), quiet_logging():
                quantize_dynamic(str(src), str(out), op_types_to_quantize=op_types, per_channel=cfg.per_channel,
                                 reduce_range=cfg.reduce_range, weight_type=types[cfg.weight_type])
        except Exception as exc:
            raise ExportError(f"int8-dynamic: {explain_quantizer_error(exc)}") from None

        ops = {n.op_type for n in onnx.load(str(out), load_external_data=False).graph.node}
        if "ConvInteger" in ops:
            warnings.append(CONV_WARNING)
        fusion = fusion_report(out)
        info = {"weight_type": cfg.weight_type, "per_channel": cfg.per_channel, "fusion": fusion,
                "fused_fraction": fusion["fused_fraction"], "warnings": warnings}
        if opset.upgraded:
            info["opset_upgraded"] = opset.upgraded
        variant = variant_from_file(out, name=self.name, model=ctx.example.name, precision="int8",
                                    operation=self.name, params=self.params(), export_s=time.perf_counter() - t0,
                                    info=info)
        return Artifact(variant, None)
