"""How many boards one fleet head can take in: records per second into its DuckDB store.

In a fleet bench every board's records (variant, measurement, quality and raw-sample rows) come back to the
head, which writes them in one transaction per board (harness.store.fleet.write_board_records) — the same call
`harness bench --cluster` makes. This script builds board answers of realistic shape (the row dicts and int64
latency arrays a board's RecordingStore holds), writes them into a fresh store and prints:

  boards/s, measurement rows/s and sample rows/s at the head; ms per board; file size per board; and how long
  exporting the samples to Parquet (the sharded-store path at 1,000 boards) takes.

    python benchmarks/fleet_store.py                       # two shapes: 1,000 and 50,000 samples per measurement
    python benchmarks/fleet_store.py --boards 100 --variants 7 --samples 2000

Figures depend on the machine and its load; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.store import Store  # noqa: E402
from harness.store import fleet as fleet_store  # noqa: E402
from harness.store.store import to_json, utcnow  # noqa: E402


def board_answer(run_id: str, board: str, variant_ids: list[str], samples: int, rounds: int, rng) -> dict:
    """The rows one board sends back for `variant_ids`, as the engine builds them (stats columns filled)."""
    measurements, sample_sets, quality = [], [], []
    for vid in variant_ids:
        mid = secrets.token_hex(8)
        lat = rng.integers(20_000, 40_000, size=samples, dtype=np.int64)
        per = np.array_split(lat, rounds)
        ms = lat / 1e6
        measurements.append({
            "measurement_id": mid, "run_id": run_id, "variant_id": vid, "runtime": "onnxruntime",
            "provider": "CPUExecutionProvider", "graph_optimization": "all", "batch_size": 1, "threads": None,
            "inputs_source": "example:digits", "status": "ok", "error": None, "load_ms": 12.0, "cold_first_ms": 1.0,
            "model_load_rss_bytes": 10_000_000, "peak_rss_bytes": 200_000_000, "maxrss_bytes": 210_000_000,
            "device_memory_peak_bytes": None, "rounds": rounds, "warmup": 10, "count": samples,
            "min_ms": float(ms.min()), "mean_ms": float(ms.mean()), "std_ms": float(ms.std()),
            "cv": float(ms.std() / ms.mean()), "p50_ms": float(np.percentile(ms, 50)),
            "p90_ms": float(np.percentile(ms, 90)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "p999_ms": float(np.percentile(ms, 99.9)),
            "max_ms": float(ms.max()), "throughput_ips": 1e3 / float(ms.mean()), "throughput_sps": 1e3 / float(ms.mean()),
            "energy_mj": 1500.0, "energy_source": "ina3221", "energy_scope": "module input: VDD_IN",
            "energy_reason": None, "energy_per_inference_mj": 0.1, "avg_power_mw": 3000.0, "throttled": False,
            "sensors": to_json({"windows": [{"clock_mhz": 1500}] * rounds}), "warnings": to_json([]),
            "created_at": utcnow(), "idle_power_mw": 2000.0, "energy_above_idle_per_inference_mj": 0.03,
            "node": "n" * 56, "host": f"host-{board}", "board": board})
        sample_sets.append((mid, per))
        quality += [{"run_id": run_id, "variant_id": vid, "reference": ref, "reference_id": None, "metric": m,
                     "value": 0.97, "detail": None, "board": board}
                    for ref, m in (("task", "accuracy"), ("root", "top1_agreement"), ("root", "kl_divergence"))]
    return {"measurements": measurements, "samples": sample_sets, "quality": quality}


def measure(boards: int, variants: int, samples: int, rounds: int, folder: Path) -> dict:
    rng = np.random.default_rng(0)
    store = Store(folder / f"fleet-{boards}x{variants}x{samples}.duckdb")
    store.migrate()
    run_id = "bench-" + secrets.token_hex(2)
    store.create_run({"run_id": run_id, "created_at": utcnow(), "status": "running", "device": "jetson"})
    variant_ids = [secrets.token_hex(8) for _ in range(variants)]
    fleet_store.insert_variants(store, [{"run_id": run_id, "variant_id": v, "name": f"v{i}", "status": "ok"}
                                        for i, v in enumerate(variant_ids)])
    answers = [board_answer(run_id, f"board-{b:04d}", variant_ids, samples, rounds, rng) for b in range(boards)]
    per_board_s = []
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for a in answers:
        t = time.perf_counter()
        fleet_store.write_board_records(store, run_id, [], a["measurements"], a["samples"], a["quality"], [])
        per_board_s.append(time.perf_counter() - t)
    total_s = time.perf_counter() - t0
    cpu_s = time.process_time() - cpu0
    size = store.path.stat().st_size
    out_dir = folder / "parquet"
    out_dir.mkdir(exist_ok=True)
    import duckdb

    t = time.perf_counter()
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        con.execute(f"COPY (SELECT * FROM samples) TO '{out_dir / 'samples.parquet'}' (FORMAT parquet)")
    finally:
        con.close()
    parquet_s = time.perf_counter() - t
    n_meas = boards * variants
    return {"boards": boards, "variants": variants, "samples": samples, "total_s": total_s, "cpu_s": cpu_s,
            "boards_per_s": boards / total_s, "measurements_per_s": n_meas / total_s,
            "samples_per_s": n_meas * samples / total_s, "ms_per_board_p50": 1e3 * float(np.median(per_board_s)),
            "ms_per_board_max": 1e3 * max(per_board_s), "db_bytes_per_board": size / boards,
            "parquet_s": parquet_s,
            "parquet_bytes_per_board": (out_dir / "samples.parquet").stat().st_size / boards}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", type=int, default=100)
    ap.add_argument("--variants", type=int, default=7)
    ap.add_argument("--samples", type=int, action="append",
                    help="raw samples per measurement (repeatable; default 1000 and 50000)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for samples in args.samples or [1000, 50_000]:
            r = measure(args.boards, args.variants, samples, args.rounds, Path(tmp))
            print(f"{r['boards']} boards x {r['variants']} variants x {r['samples']:,} samples: "
                  f"{r['total_s']:.2f} s ({r['cpu_s']:.2f} s CPU) -> {r['boards_per_s']:.1f} boards/s, "
                  f"{r['measurements_per_s']:.0f} measurement rows/s, {r['samples_per_s'] / 1e6:.2f} M sample rows/s; "
                  f"per board p50 {r['ms_per_board_p50']:.1f} ms (max {r['ms_per_board_max']:.1f}); "
                  f"{r['db_bytes_per_board'] / 1e6:.2f} MB/board in DuckDB; samples -> Parquet "
                  f"{r['parquet_s']:.2f} s ({r['parquet_bytes_per_board'] / 1e6:.2f} MB/board)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
