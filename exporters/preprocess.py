"""The graph the quantizers see: onnxruntime's own pre-processing before Q/DQ is placed.

Graphs exported from Paddle, TF or older torch keep BatchNormalization as its own node after every Conv. In FP32,
onnxruntime folds it into the Conv when it builds the session; in a QDQ graph it cannot, because the quantizer
put the Conv's output Q/DQ pair between them. The BatchNorm then runs in float between a DequantizeLinear and a
QuantizeLinear, with a layout Transpose on either side of every integer Conv: the MobileNetV3-style text
orientation classifier of rapidocr ran 6.8x slower in INT8 than in FP32 that way (the per-layer profile showed
"Transpose + QLinearConv + DequantizeLinear + BatchNormalization" on every Conv). onnxruntime's
`quant_pre_process` folds BatchNorm and constants (basic graph optimisations) and runs ONNX shape inference, which
is what its documentation asks for before `quantize_static`. Symbolic shape inference is skipped: it fails on
BERT-like graphs (DESIGN.md). When pre-processing fails, the graph is quantized as it is, with a note.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from harness.core.errors import message_line


def preprocessed(src: str | Path, out_dir: str | Path) -> tuple[Path, str | None]:
    """(the pre-processed copy under out_dir/preprocessed/, None), or (src, why not) when it cannot be made."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from harness.exporters.onnx_tools import check_loads, quiet_logging, scratch_dir

    src = Path(src)
    digest = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:8]
    out = Path(out_dir).resolve() / "preprocessed" / digest / src.name
    if out.exists():
        return out, None
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with scratch_dir(), quiet_logging():
            quant_pre_process(str(src.resolve()), str(out), skip_symbolic_shape=True)
        check_loads(out)
    except Exception as exc:   # onnxruntime raises its own and onnx's exception types alike
        out.unlink(missing_ok=True)
        return src, f"quantized without onnxruntime's pre-processing (it failed: {message_line(exc, 160)})"
    return out, None
