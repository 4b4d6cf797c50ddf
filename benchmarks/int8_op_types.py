"""Which op types should int8-static wrap in Q/DQ on this machine? Latency and accuracy of three choices.

For each model: (i) all op types the quantizer supports (the library default), (ii) weight layers only
(Conv/ConvTranspose/MatMul/Gemm), (iii) weight layers + the ops onnxruntime's x86 CPU provider fuses into integer
kernels (Add/Mul -> QLinearAdd/QLinearMul, pooling, Concat, data movement). p50 latency at batch 1, 1 thread,
interleaved with FP32 in one process; top-1 agreement with FP32 over the eval calls. Models: the ResNet-18
example (224x224), and tests/graph_kinds.py's written-out LayerNorm/GELU classifier and MobileNetV3 block.

    python benchmarks/int8_op_types.py [--rounds 15] [--skip-resnet]

Prints figures; asserts nothing. The decision and a dated table are in docs/int8.md.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compression import interleaved_p50, session  # noqa: E402  (same timing loop as benchmarks/compression.py)


def choices() -> dict[str, str]:
    from harness.exporters.int8_op_types import WEIGHT_OPS, X86_FUSED_OPS

    return {"(i) all op types": "int8-static:op_types=all",
            "(ii) weight layers": "int8-static:op_types=" + "+".join(WEIGHT_OPS),
            "(iii) weights + x86-fused": "int8-static:op_types=" + "+".join(X86_FUSED_OPS)}


def export(model, recipes: list[str], out: Path, root=None) -> dict:
    from harness.exporters.base import ExportContext
    from harness.exporters.recipes import build_variants

    ctx = ExportContext(example=model, out_dir=out, target_device="cpu",
                        target_info={"machine": platform.machine()})
    vs = {v.name: v for v in build_variants(model, recipes, ctx, root=root)}
    for r in recipes:
        if not vs[r].ok:
            raise SystemExit(f"{r}: {vs[r].status}: {vs[r].error}")
    return vs


def file_model(path: Path, npz: Path):
    from harness.inputs import read_input_specs, resolve_shapes
    from harness.onnx_model import OnnxFileModel, read_outputs
    from harness.user_inputs import load_inputs

    specs = read_input_specs(str(path))
    return OnnxFileModel(name=path.stem, path=str(path), specs=specs, outputs=read_outputs(str(path)),
                         shapes_for=lambda b: resolve_shapes(specs, b, {}, {}), batch_size=1,
                         inputs=load_inputs(str(npz), specs))


def top1(path: str, calls: list[dict]) -> np.ndarray:
    s = session(path)
    return np.array([int(np.argmax(s.run(None, c)[0])) for c in calls])


def report(title: str, paths: dict[str, str], calls: list[dict], rounds: int, iters: int, infos: dict) -> None:
    p50 = interleaved_p50(paths, calls[0], rounds, iters)
    ref = top1(paths["fp32"], calls)
    print(f"\n{title}: batch 1, 1 thread, agreement over {len(calls)} calls")
    print(f"{'variant':<28} {'p50 ms':>8} {'vs FP32':>8} {'top-1 agree':>11} {'integer ops':>11}  op types with Q/DQ")
    for k, p in paths.items():
        agree = float((top1(p, calls) == ref).mean()) if k != "fp32" else 1.0
        info = infos.get(k, {})
        fused = info.get("fusion", {})
        ops = "+".join(info.get("op_types", [])) or "-"
        integer = f"{fused.get('integer_ops', 0)}/{fused.get('integer_ops', 0) + fused.get('float_ops', 0)}" \
            if fused else "-"
        print(f"{k:<28} {p50[k]:8.3f} {p50[k] / p50['fp32']:7.2f}x {agree:10.1%} {integer:>11}  {ops}")


def graph_kind(name: str, build, tmp: Path, args) -> None:
    from graph_kinds import make_calls

    from harness.core.variant import variant_from_file
    from harness.exporters.base import Artifact

    path = build(tmp / f"{name}.onnx")
    npz, _ = make_calls(path, tmp / f"{name}.npz", n=args.calls)
    model = file_model(path, npz)
    root = variant_from_file(str(path), name=name, model=name, operation="user")
    vs = export(model, list(choices().values()), tmp / name, root=Artifact(root, None))
    data = np.load(npz)
    calls = [{k: data[k][i] for k in data.files} for i in range(args.calls)]
    paths = {"fp32": str(path), **{label: vs[r].path for label, r in choices().items()}}
    report(name, paths, calls, args.rounds, args.iters * 20,
           {label: vs[r].info for label, r in choices().items()})


def resnet(tmp: Path, args) -> None:
    from harness.examples import load_example

    ex = load_example("resnet18")
    vs = export(ex, ["fp32", *choices().values()], tmp / "resnet18")
    data = ex.eval_data().inputs["input"]
    calls = [{"input": data[i:i + 1]} for i in range(min(len(data), args.calls))]
    paths = {"fp32": vs["fp32"].path, **{label: vs[r].path for label, r in choices().items()}}
    report("resnet18 (224x224)", paths, calls, args.rounds, args.iters,
           {label: vs[r].info for label, r in choices().items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--iters", type=int, default=6, help="timed calls per model per round (x20 for tiny graphs)")
    parser.add_argument("--calls", type=int, default=64, help="calls for the agreement with FP32")
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    import onnxruntime as ort
    from graph_kinds import make_mobilenetv3_block, make_written_out_ln_gelu

    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    vnni = sorted(flags & {"avx512_vnni", "avx_vnni", "amx_int8"}) or ["no VNNI"]
    print(f"onnxruntime {ort.__version__}, {platform.machine()}, {platform.processor() or 'cpu'}, "
          f"{'avx2' if 'avx2' in flags else 'no avx2'}, {', '.join(vnni)}")
    with tempfile.TemporaryDirectory(prefix="harness-optypes-") as tmp:
        tmp = Path(tmp)
        graph_kind("written_out_ln_gelu", make_written_out_ln_gelu, tmp, args)
        graph_kind("mobilenetv3_block", make_mobilenetv3_block, tmp, args)
        if not args.skip_resnet:
            resnet(tmp, args)


if __name__ == "__main__":
    main()
