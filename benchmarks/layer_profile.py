"""The per-layer profile (`harness bench --profile-layers`) on two models, through the real engine:

- the ResNet-18-shaped example (224x224, batch 1) under int8-static;
- a model with an accuracy cliff under all-ops INT8: by default tests/graph_kinds' classifier whose LayerNorm and
  GELU are written out in element-wise ops (as JAX/TF exports write them), with its calls and labels; or your own
  ONNX file with --model/--inputs/--labels.

For each variant it prints the sum of the per-layer times over the measured p50 (what profiling itself costs:
every kernel is recorded, so small kernels look slower than they run in the timed loop), and the top 3 layers by
time added over the FP32 root and by error added.

    python benchmarks/layer_profile.py [--skip-resnet] [--model M.onnx --inputs calls.npz --labels labels.npy]
        [--threads 1] [--min-duration 2]

Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench(db: str, threads: int, min_duration: float, **kw) -> str:
    from harness.engine import run_bench
    from harness.plan import BenchConfig

    config = BenchConfig(db=db, threads=threads, min_duration_s=min_duration, rounds=3, idle_s=0.0,
                         progress=False, profile_layers=True, **kw)
    result = run_bench(config, echo=lambda msg: None)
    if result.status != "complete":
        raise SystemExit(f"bench failed: {result.failed}")
    return result.run_id


def report(db: str, run_id: str, title: str) -> None:
    from harness.core.comparison import against_base
    from harness.core.layer_diagnosis import lossiest_layers, slowest_layers, time_added_ms
    from harness.store import Store
    from harness.store.queries import comparison_rows, layer_profile_rows

    store = Store(db)
    rows = layer_profile_rows(store, run_id)
    variants, measurements, quality = comparison_rows(store, run_id)
    root = next(v for v in variants if not v.get("base_id"))
    compared = {c["variant_id"]: c for c in against_base(variants, measurements, quality, base=root["variant_id"])}
    p50 = {m["variant_id"]: m["p50_ms"] for m in measurements if m.get("status") == "ok"}
    print(f"\n== {title} (run {run_id})")
    for vid in dict.fromkeys(r["variant_id"] for r in rows):
        mine = [r for r in rows if r["variant_id"] == vid]
        total = sum(r["time_ms"] or 0.0 for r in mine)
        c = compared.get(vid, {})
        quality_text = ""
        if c.get("quality") is not None:
            quality_text = f"  {c.get('quality_metric')} {100 * c['quality']:.1f} %"
        print(f"{mine[0]['variant']}: p50 {p50.get(vid, float('nan')):.4f} ms, layers sum {total:.4f} ms, "
              f"sum/p50 {total / p50[vid] if p50.get(vid) else float('nan'):.2f}"
              + (f", speedup {c['speedup_p50']:.2f}x" if c.get("speedup_p50") else "") + quality_text)
        if all(r.get("base_time_ms") is None for r in mine):     # the FP32 root: its own slowest layers
            for r in sorted(mine, key=lambda r: -(r["time_ms"] or 0.0))[:3]:
                print(f"   time        {r['time_ms']:.4f} ms  {r['layer']}  [{r['ran_as']}, {r['precision']}]")
            continue
        for r in slowest_layers(mine):
            print(f"   time added  {time_added_ms(r):+.4f} ms  {r['layer']}  [{r['ran_as']}, {r['precision']}]")
        for r in lossiest_layers(mine):
            added = r.get("error_added")
            print(f"   error added {added if added is not None else float('nan'):+.4f} (rel L2 {r['rel_l2']:.4f})"
                  f"  {r['layer']}  [{r['ran_as'] or r['op_type']}, {r['precision']}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--model", help="an ONNX file with an accuracy cliff (default: the written-out LN/GELU net)")
    ap.add_argument("--inputs")
    ap.add_argument("--labels")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-duration", type=float, default=2.0)
    args = ap.parse_args()
    print(f"host {platform.node()} {platform.machine()} {platform.processor() or ''}; threads {args.threads}")
    with tempfile.TemporaryDirectory(prefix="harness-layer-bench-") as tmp:
        db = str(Path(tmp) / "h.duckdb")
        if not args.skip_resnet:
            run_id = bench(db, args.threads, args.min_duration, example="resnet18",
                           recipes=("int8-static", "int8-static:op_types=all"))
            report(db, run_id, "ResNet-18-shaped example, int8-static (auto and all op types)")
        model, inputs, labels = args.model, args.inputs, args.labels
        if model is None:
            from tests.graph_kinds import make_calls, make_written_out_ln_gelu

            model = str(make_written_out_ln_gelu(Path(tmp) / "written_out_ln_gelu.onnx"))
            npz, lab = make_calls(Path(model), Path(tmp) / "calls.npz", n=64)
            inputs, labels = str(npz), str(lab)
        run_id = bench(db, args.threads, args.min_duration, models=(model,), inputs=inputs, labels=labels,
                       recipes=("int8-static", "int8-static:op_types=all"))
        report(db, run_id, f"{Path(model).name}: int8-static auto vs all op types")


if __name__ == "__main__":
    main()
