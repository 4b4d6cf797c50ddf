"""prune-unstructured: global magnitude pruning of Conv/Linear weights, made permanent, then exported to ONNX.

On a model that came as an ONNX file (no torch module) the same global magnitude pruning acts on the graph's
weight initializers instead (harness.exporters.onnx_prune).

The zeros stay in dense tensors: dense kernels do the same work, so there is no speedup and the file keeps its
size; only the gzip-compressed size shrinks. It shows what sparsity costs in accuracy, and feeds sparse runtimes.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.exporters.fp32 import export_onnx, parity
from harness.exporters.onnx_tools import output_path
from harness.core.errors import ExportError, first_line
from harness.core.variant import variant_from_file

NOTE = ("unstructured zeros stay in dense tensors: dense kernels gain no speed and the file does not shrink; "
        "only the gzip size does")


@dataclass(frozen=True)
class PruneUnstructuredConfig(ExportConfig):
    sparsity: float = 0.5
    opset: int = 17


def prunable_weights(module) -> list:
    import torch.nn as nn

    return [(name, m) for name, m in module.named_modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and m.weight is not None]


def require_module(source: Artifact | None, ctx: ExportContext, exporter: str):
    """A private copy of the torch module to prune (the source's module is shared with sibling chains)."""
    if source is not None and source.module is None:
        raise ExportError(f"{exporter} works on the torch model; put it before ONNX-level steps "
                          f"(quantization, fp16) in the recipe")
    module = source.module if source is not None else ctx.example.build_model()
    return copy.deepcopy(module).eval()


def global_magnitude_prune(module, sparsity: float) -> int:
    """Zero the `sparsity` fraction of smallest-magnitude weights across all Conv/Linear layers; returns zeros."""
    import torch

    layers = prunable_weights(module)
    if not layers:
        raise ExportError("prune-unstructured: the model has no Conv or Linear layers to prune")
    with torch.no_grad():
        flat = torch.cat([m.weight.detach().abs().flatten() for _, m in layers])
        k = int(round(sparsity * flat.numel()))
        if k == 0:
            return 0
        threshold = torch.kthvalue(flat, k).values
        zeros = 0
        for _, m in layers:
            # weights tied at the threshold (typically zeros already) all go: sparsity may exceed the target a bit
            mask = m.weight.abs() > threshold
            m.weight.mul_(mask)
            zeros += int((~mask).sum())
    return zeros


class PruneUnstructuredExporter(Exporter):
    name = "prune-unstructured"
    config_class = PruneUnstructuredConfig

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        cfg: PruneUnstructuredConfig = self.config
        if not 0.0 <= cfg.sparsity < 1.0:
            raise ExportError(f"prune-unstructured: sparsity must be in [0, 1), got {cfg.sparsity}")
        t0 = time.perf_counter()
        if source is not None and source.module is None:
            return self._export_graph(source, ctx, t0)
        module = require_module(source, ctx, self.name)
        zeros = global_magnitude_prune(module, cfg.sparsity)
        out = output_path(ctx, source.variant.path if source else None, self.name, self.params())
        try:
            export_onnx(module, ctx, out, cfg.opset, "torchscript")
        except Exception as exc:
            raise ExportError(f"prune-unstructured: ONNX export failed: {first_line(exc)}") from None
        info = {"pruned_weights": zeros, "target_sparsity": cfg.sparsity, "parity_max_abs": parity(module, out, ctx),
                "note": NOTE, "warnings": []}
        variant = variant_from_file(out, name=self.name, model=ctx.example.name, precision="fp32",
                                    operation=self.name, params=self.params(), export_s=time.perf_counter() - t0,
                                    info=info)
        return Artifact(variant, module)

    def _export_graph(self, source: Artifact, ctx: ExportContext, t0: float) -> Artifact:
        """Magnitude pruning of the ONNX graph's weight initializers (the source has no torch module)."""
        from harness.exporters.onnx_prune import prune_file
        from harness.exporters.onnx_tools import check_loads, require_onnx_source

        cfg: PruneUnstructuredConfig = self.config
        src = require_onnx_source(source, self.name, ctx)
        out = output_path(ctx, src, self.name, self.params())
        try:
            pruned = prune_file(src, out, cfg.sparsity)
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"prune-unstructured: {first_line(exc)}") from None
        check_loads(out)
        notes = pruned.pop("notes", [])
        info = {**pruned, "target_sparsity": cfg.sparsity, "method": "onnx-initializers", "note": NOTE,
                "warnings": notes}
        variant = variant_from_file(out, name=self.name, model=ctx.example.name, precision=source.variant.precision,
                                    operation=self.name, params=self.params(), export_s=time.perf_counter() - t0,
                                    info=info)
        return Artifact(variant, None)
