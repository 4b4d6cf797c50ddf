"""Which MAC counter is right? Counts MACs of hand-countable graphs and the shipped examples with harness's own
counter (harness/graph_cost.py) and, when installed, with onnx-tool, next to the figure known by hand; then
measures this host's CPU peak once (not cached) the way `harness bench` does.

    python benchmarks/roofline_counts.py        # pip install onnx-tool for its column
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    from harness.device_profiles.peaks import measure_cpu_peaks
    from harness.core.graph_cost import count_graph, onnx_tool_macs
    from harness.core.import_utils import is_onnx_tool_available
    from roofline_models import make_conv_net, make_matmul

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [("conv net (hand)", make_conv_net(tmp / "conv.onnx"), {"x": (1, 1, 8, 8)}, 4 * 8 * 8 * 9 + 2560),
                 ("matmul (hand)", make_matmul(tmp / "mm.onnx"), {"a": (2, 3, 4)}, 2 * 3 * 5 * 4)]
        from harness.examples import load_example
        from harness.exporters.base import ExportContext
        from harness.exporters.fp32 import Fp32Exporter

        for name in ("digits", "resnet18"):
            example = load_example(name)
            art = Fp32Exporter().export(None, ExportContext(example=example, out_dir=tmp))
            shapes = {n: tuple(t.shape) for n, t in zip(example.input_names, example.example_inputs)}
            cases.append((name, Path(art.variant.path), shapes, None))
        print(f"{'graph':<18} {'known':>14} {'harness':>14} {'onnx-tool':>14}  harness bytes (weights+activations)")
        for name, path, shapes, known in cases:
            cost = count_graph(path, shapes)
            tool = onnx_tool_macs(str(path), shapes) if is_onnx_tool_available() else None
            print(f"{name:<18} {known if known is not None else '-':>14} {cost.macs:>14,} "
                  f"{tool if tool is not None else 'not installed':>14}  {cost.bytes:,} "
                  f"({cost.weight_bytes:,} + {cost.activation_bytes:,})")
    peaks = measure_cpu_peaks()
    print(f"measured peak: fp32 {peaks.gops['fp32']:.1f} GFLOPS, int8 {peaks.gops['int8']:.1f} GOPS, "
          f"copy {peaks.bandwidth_gbps:.1f} GB/s (load {peaks.detail['load_1min_before']:.1f} on "
          f"{peaks.detail['logical_cores']} cores, {peaks.detail['measure_s']} s)")


if __name__ == "__main__":
    main()
