"""torchscript: the step's torch module traced to TorchScript, for the `torch` runtime (eager CUDA, FP16 autocast).

It takes the torch module of the previous step (fp32, or a pruned model), so "prune-structured:0.5>torchscript"
measures the pruned network in torch. The graph's inputs are those of the example.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.core.errors import ExportError, message_line
from harness.core.variant import variant_from_file


@dataclass(frozen=True)
class TorchscriptConfig(ExportConfig):
    check_trace: bool = True


class TorchscriptExporter(Exporter):
    name = "torchscript"
    config_class = TorchscriptConfig

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        import torch

        if source is None or source.module is None:
            raise ExportError("torchscript needs a torch module from the previous step (fp32 or prune-*); "
                              "quantized ONNX steps have none")
        t0 = time.perf_counter()
        module = source.module.eval()
        path = ctx.out_dir / f"{ctx.example.name}-{source.variant.variant_id}-torchscript.pt"
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(module, ctx.example.example_inputs, check_trace=self.config.check_trace)
            traced.save(str(path))
        except Exception as exc:
            raise ExportError(f"torch.jit.trace failed: {message_line(exc, 200)}") from None
        variant = variant_from_file(path, name="torchscript", format="torchscript",
                                    precision=source.variant.precision, export_s=time.perf_counter() - t0,
                                    param_count=sum(p.numel() for p in module.parameters()),
                                    info={"traced_from": source.variant.name})
        return Artifact(variant, module)
