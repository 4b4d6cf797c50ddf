"""fp32: the torch model exported to a single ONNX file, checked against torch on the example inputs."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.core.errors import ExportError, message_line
from harness.core.variant import variant_from_file

TWO_GB = 2 * 1024**3


@dataclass(frozen=True)
class Fp32Config(ExportConfig):
    opset: int = 17
    exporter: str = "torchscript"      # torchscript (fast) | dynamo; falls back to dynamo when torchscript fails
    parity_atol: float = 1e-4


def export_onnx(module, ctx: ExportContext, path, opset: int, exporter: str) -> None:
    """torch -> ONNX with a dynamic batch axis on every input and output, weights inside the one file."""
    import torch

    ex = ctx.example
    module.eval()
    if exporter == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = {n: {0: "batch"} for n in [*ex.input_names, *ex.output_names]}
            torch.onnx.export(module, ex.example_inputs, str(path), input_names=ex.input_names,
                              output_names=ex.output_names, dynamic_axes=axes, opset_version=opset, dynamo=False)
        return
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(module, ex.example_inputs, str(path), input_names=ex.input_names,
                      output_names=ex.output_names, dynamic_shapes=tuple({0: batch} for _ in ex.example_inputs),
                      opset_version=opset, dynamo=True, external_data=False, verbose=False)


def parity(module, path, ctx: ExportContext) -> float:
    """Max abs difference between torch and onnxruntime outputs on the example inputs."""
    import onnxruntime as ort
    import torch

    ex = ctx.example
    with torch.no_grad():
        ref = module(*ex.example_inputs)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(ex.input_names, ex.example_inputs)}
    outs = sess.run(None, feeds)
    return float(max(np.max(np.abs(np.asarray(o, dtype=np.float64) - r.detach().numpy().astype(np.float64)))
                     for o, r in zip(outs, ref)))


class Fp32Exporter(Exporter):
    name = "fp32"
    config_class = Fp32Config

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        cfg: Fp32Config = self.config
        t0 = time.perf_counter()
        module = source.module if source is not None and source.module is not None else ctx.example.build_model()
        path = ctx.out_dir / f"{ctx.example.name}-fp32.onnx"
        try:
            try:
                export_onnx(module, ctx, path, cfg.opset, cfg.exporter)
            except Exception:
                if cfg.exporter != "torchscript":
                    raise
                export_onnx(module, ctx, path, cfg.opset, "dynamo")
        except Exception as exc:
            raise ExportError(f"torch -> ONNX export failed: {message_line(exc, 200)}") from None
        if path.stat().st_size >= TWO_GB:
            raise ExportError(f"{path} is over 2 GB; protobuf cannot hold it in one file")
        max_abs = parity(module, path, ctx)
        warns = [] if max_abs <= cfg.parity_atol else [
            f"ONNX output differs from torch by {max_abs:.3g} (> {cfg.parity_atol:g})"]
        variant = variant_from_file(
            path, name="fp32", model=ctx.example.name, precision="fp32", operation="export",
            params=self.params(), export_s=time.perf_counter() - t0,
            info={"parity_max_abs": max_abs, "parity_atol": cfg.parity_atol, "warnings": warns})
        variant = variant.with_(root_id=variant.variant_id)
        return Artifact(variant, module)
