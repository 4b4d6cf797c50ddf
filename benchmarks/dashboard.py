"""Dashboard speed on a big store: 500 runs and 1,000,000 latency samples (bulk insert through Arrow).

Prints the first render (build the Viewer, load the newest run, make the Bokeh models of the page) and one
interaction (switch to another run and redraw the table, Pareto, tree, latency and behaviour views) in seconds.
Targets: first render <= 3 s, interaction <= 0.3 s. Not a test: timings on a shared VM are noisy.
"""
from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RUNS, VARIANTS, SAMPLES = 500, 4, 1_000_000
NAMES = ["fp32", "int8-static", "fp16", "prune-structured:0.5"]


def build(db: Path) -> None:
    from harness.store import Store

    store = Store(db)
    store.migrate()
    rng = np.random.default_rng(0)
    t0 = datetime(2026, 1, 1)
    runs, variants, measurements, quality = [], [], [], []
    per_meas = SAMPLES // (RUNS * VARIANTS)
    with store.write() as con:
        for r in range(RUNS):
            rid = f"run{r:04d}"
            runs.append({"run_id": rid, "created_at": t0 + timedelta(hours=r), "status": "complete",
                         "tag": "nightly", "model": "digits", "device": "cpu"})
            for i, name in enumerate(NAMES):
                vid = f"{rid}-v{i}"
                variants.append({"run_id": rid, "variant_id": vid, "name": name, "model": "digits",
                                 "precision": "int8" if "int8" in name else "fp32", "base_id": None if i == 0
                                 else f"{rid}-v0", "root_id": f"{rid}-v0", "operation": name,
                                 "size_bytes": int(160_000 / (1 + i)), "status": "ok",
                                 "created_at": t0 + timedelta(hours=r, seconds=i)})
                mid = f"{vid}-m"
                lat = rng.gamma(9.0, 3000.0 / (1 + 0.3 * i), per_meas).astype(np.int64) + 20_000
                measurements.append({"measurement_id": mid, "run_id": rid, "variant_id": vid, "status": "ok",
                                     "batch_size": 1, "count": per_meas, "p50_ms": float(np.median(lat)) / 1e6,
                                     "p90_ms": float(np.percentile(lat, 90)) / 1e6,
                                     "throughput_sps": 1e9 / float(lat.mean()), "peak_rss_bytes": 60 * 2**20})
                quality.append({"run_id": rid, "variant_id": vid, "reference": "task", "metric": "accuracy",
                                "value": 0.99 - 0.002 * i})
                Store.insert_samples(con, mid, [lat])
        for table, rows in (("runs", runs), ("variants", variants), ("measurements", measurements),
                            ("quality", quality)):
            Store.insert_rows(con, table, rows)


def main() -> int:
    from bokeh.document import Document

    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "big.duckdb"
        t = time.perf_counter()
        build(db)
        print(f"built {RUNS} runs, {RUNS * VARIANTS} variants, {SAMPLES:,} samples in {time.perf_counter() - t:.1f} s")
        import panel  # noqa: F401  (import cost is the server's, paid once at start, not per page)

        from harness.reports.dashboard import Dashboard

        t = time.perf_counter()
        app = Dashboard(str(db))
        app.__panel__().get_root(Document())
        first = time.perf_counter() - t
        times = []
        for run_id in list(app.runs["run_id"])[1:6]:
            t = time.perf_counter()
            app.run_id = run_id
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        app.x_metric = "size_bytes"
        axes = time.perf_counter() - t
        interaction = float(np.median(times))
        print(f"first render: {first:.3f} s (target <= 3 s)")
        print(f"interaction (switch run, all views redrawn; median of 5): {interaction * 1000:.0f} ms "
              f"(target <= 300 ms)")
        print(f"interaction (change Pareto axis): {axes * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
