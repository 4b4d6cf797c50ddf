"""Upgrade a graph whose opset is too old for what a recipe writes, before the recipe runs.

Per-channel DequantizeLinear (the `axis` attribute) needs opset 13: an opset-11 detector quantized per channel
gave "Unrecognized attribute: axis for operator DequantizeLinear" at load. onnxruntime's quantizer writes
QuantizeLinear/DequantizeLinear (opset 10) and ConvInteger/MatMulInteger (opset 10) too. `ensure_opset` converts
the graph with onnx.version_converter into the run's out dir; when the converter cannot, it returns the file
unchanged with the reason, and the caller falls back to what the old opset can hold (per-tensor scales).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import message_line
from harness.exporters.onnx_tools import check_loads

# what each ONNX opset a recipe writes first appeared in
PER_CHANNEL_QDQ_OPSET = 13   # QuantizeLinear/DequantizeLinear `axis`
QDQ_OPSET = 10               # QuantizeLinear/DequantizeLinear, ConvInteger, MatMulInteger


@dataclass(frozen=True)
class OpsetResult:
    path: Path                       # the file to work on: the source, or its upgraded copy
    from_opset: int
    to_opset: int                    # == from_opset when nothing was (or could be) changed
    failure: str | None = None       # why the upgrade was not possible (the caller falls back)

    @property
    def upgraded(self) -> dict[str, int] | None:
        """{"from": 11, "to": 13} for variant.info["opset_upgraded"], or None."""
        return {"from": self.from_opset, "to": self.to_opset} if self.to_opset != self.from_opset else None


def default_opset(model) -> int:
    """The version of the default ("" / ai.onnx) domain the graph imports."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def ensure_opset(src: str | Path, min_opset: int, out_dir: str | Path) -> OpsetResult:
    """`src` itself when its opset is >= min_opset; else a copy converted to min_opset under out_dir/opset-<n>/
    (checked by onnx and by onnxruntime loading it); else `src` with `failure` set."""
    import onnx

    src = Path(src)
    model = onnx.load(str(src), load_external_data=False)
    current = default_opset(model)
    if current >= min_opset:
        return OpsetResult(src, current, current)
    digest = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:8]
    out = Path(out_dir) / f"opset-{min_opset}" / digest / src.name
    if out.exists():
        return OpsetResult(out.resolve(), current, min_opset)
    try:
        from onnx import version_converter

        converted = version_converter.convert_version(onnx.load(str(src)), min_opset)
        # an older IR version would declare an opset it predates (onnx's own version table says which)
        needed = onnx.helper.find_min_ir_version_for([onnx.helper.make_opsetid("", min_opset)])
        converted.ir_version = max(converted.ir_version, needed)
        onnx.checker.check_model(converted)
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(converted, str(out))
        check_loads(out)
    except Exception as exc:   # the converter raises RuntimeError/ValidationError/C++ errors alike
        out.unlink(missing_ok=True)
        return OpsetResult(src, current, current, failure=f"onnx.version_converter could not take opset {current} "
                                                          f"to {min_opset}: {message_line(exc, 160)}")
    return OpsetResult(out.resolve(), current, min_opset)

