"""False alarms (in both directions) and detection rates of `harness regress` on this machine.

For each condition, benches one baseline, then N identical reruns and M reruns of a genuinely slower model (the
same conv net with one more layer: +10 % compute, same variant name, so regress matches it to the baseline's
variant), and regresses every rerun against the baseline with the default gates. Counts, per condition: identical
reruns called regressed (false regression), improved (false improvement) or inconclusive; slower reruns called
regressed (detected), inconclusive or anything else (missed).

Conditions: the interactive defaults (`harness bench`: 3 rounds over 1 s) and the nightly settings (10 rounds over
3 s), each on the machine as it is ("quiet") and with a noisy neighbour (benchmarks/noisy_neighbour.py: one core
burnt in seeded bursts of 0.2-1.5 s, 0.3-2.3 s apart, as another job on a shared CI runner).

    python benchmarks/regress_fpr.py                              # 4 conditions x (20 identical + 5 slower)
    python benchmarks/regress_fpr.py --conditions nightly-noisy --identical 10 --slower 5

Not a test: timings are machine-dependent, so this prints figures instead of asserting them. Targets (issue 15):
at most 1 in 20 identical pairs flagged either way with the defaults, 0 in 20 with the nightly settings, and the
10 % slowdown detected in at least 4 of 5 with the nightly settings.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noisy_neighbour import NoisyNeighbour  # noqa: E402

CONDITIONS = {"default-quiet": (3, 1.0, False), "default-noisy": (3, 1.0, True),
              "nightly-quiet": (10, 3.0, False), "nightly-noisy": (10, 3.0, True)}


def build_convnet(path: Path, channels: int, layers: int, size: int, seed: int = 0) -> None:
    """A stack of 3x3 Conv+Relu at constant shape. Every layer is the same amount of work, so one extra layer is
    a real, known slowdown (+1/layers). Weights are a few tens of KB, so the net is compute-bound and
    cache-resident: a memory-bound model (a wide MLP) also measures the neighbours' memory bandwidth, which on a
    shared VM varies by tens of percent from run to run."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((channels, channels, 3, 3)) / np.sqrt(9 * channels)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        prev = f"r{i}"
    shape = [1, channels, size, size]
    graph = helper.make_graph(nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def bench(model: Path, db: Path, tag: str, args, rounds: int, min_duration: float) -> str:
    """One `harness bench` in a fresh process, as a nightly job runs it; returns the run id."""
    cmd = [sys.executable, "-m", "harness", "bench", str(model), "--db", str(db), "--tag", tag,
           "--threads", str(args.threads), "--min-duration", str(min_duration), "--rounds", str(rounds),
           "--idle", "0", "--no-progress", "--no-quality"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    for line in done.stdout.splitlines():
        if line.startswith("run ") and " complete:" in line:
            return line.split()[1]
    raise SystemExit(f"bench printed no run id: {done.stdout[-500:]}")


def run_condition(name: str, args, work: Path, base_model: Path, slow_model: Path) -> dict:
    from harness.regress.check import regress
    from harness.regress.gates import load_gates
    from harness.store import Store

    rounds, min_duration, noisy = CONDITIONS[name]
    db = work / f"{name}.duckdb"
    gates = load_gates()
    store = Store(db)
    results: dict[str, list[tuple[str, float, str]]] = {"identical": [], "slower": []}
    t0 = time.monotonic()
    with NoisyNeighbour(seed=args.seed, seconds=3600) if noisy else _Nothing():
        # every run carries the same tag, as in a real nightly
        baseline = bench(base_model, db, "nightly", args, rounds, min_duration)
        # alternate identical and slower reruns so slow drift of the machine hits both groups alike
        plan = ["identical"] * args.identical + ["slower"] * args.slower
        order = sorted(range(len(plan)), key=lambda i: (i % max(1, len(plan) // max(1, args.slower)), i))
        for n, i in enumerate(order, 1):
            kind = plan[i]
            run_id = bench(slow_model if kind == "slower" else base_model, db, "nightly", args, rounds, min_duration)
            p50 = next(c for c in regress(store, baseline, run_id, gates).checks if c.metric == "p50_ms")
            results[kind].append((p50.status, p50.change, p50.message))
            print(f"  {name} [{n:2d}/{len(plan)}] {kind:9s} p50 {p50.change:+6.1%} -> {p50.status:12s} "
                  f"{p50.message.split('; ', 1)[-1][:110]}", flush=True)
    return {"name": name, "rounds": rounds, "min_duration": min_duration, "noisy": noisy, "results": results,
            "elapsed_s": time.monotonic() - t0}


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def summary_lines(cond: dict) -> list[str]:
    ident, slow = cond["results"]["identical"], cond["results"]["slower"]
    fr = sum(s == "regressed" for s, *_ in ident)
    fi = sum(s == "improved" for s, *_ in ident)
    inc = sum(s == "inconclusive" for s, *_ in ident)
    det = sum(s == "regressed" for s, *_ in slow)
    sinc = sum(s == "inconclusive" for s, *_ in slow)
    where = "noisy neighbour" if cond["noisy"] else "no added load"
    lines = [f"{cond['name']:14s} ({cond['rounds']} rounds over {cond['min_duration']:g} s, {where}): "
             f"identical {fr + fi}/{len(ident)} flagged ({fr} regressed, {fi} improved; {inc} inconclusive); "
             f"10 % slower {det}/{len(slow)} detected ({sinc} inconclusive); {cond['elapsed_s']:.0f} s"]
    if ident:
        changes = np.array([c for _, c, _ in ident])
        lines.append(f"{'':14s} identical p50 change median {np.median(changes):+.1%}, "
                     f"range {changes.min():+.1%}..{changes.max():+.1%}")
    if slow:
        changes = np.array([c for _, c, _ in slow])
        lines.append(f"{'':14s} slower p50 change median {np.median(changes):+.1%}, "
                     f"range {changes.min():+.1%}..{changes.max():+.1%}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identical", type=int, default=20, help="identical reruns per condition (default 20)")
    ap.add_argument("--slower", type=int, default=5, help="reruns with the slower model per condition (default 5)")
    ap.add_argument("--conditions", default=",".join(CONDITIONS),
                    help=f"comma-separated, from {', '.join(CONDITIONS)} (default: all)")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--size", type=int, default=32, help="feature map height and width")
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--extra-layers", type=int, default=1, help="layers added to the slower model (1 = +10 %%)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1, help="seed of the noisy neighbour's bursts")
    ap.add_argument("--workdir", help="keep the databases and models here (default: a temporary directory)")
    args = ap.parse_args()
    names = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONDITIONS]
    if unknown:
        ap.error(f"unknown condition(s) {', '.join(unknown)}; use {', '.join(CONDITIONS)}")

    done = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        base_model, slow_model = work / "base" / "convnet.onnx", work / "slow" / "convnet.onnx"
        build_convnet(base_model, args.channels, args.layers, args.size)
        build_convnet(slow_model, args.channels, args.layers + args.extra_layers, args.size)
        for name in names:
            done.append(run_condition(name, args, work, base_model, slow_model))
            print("\n".join(summary_lines(done[-1])), flush=True)

    print()
    print(f"model: conv net {args.layers} x (3x3, {args.channels} ch, {args.size}x{args.size}) "
          f"(slower: +{args.extra_layers} layer(s), +{args.extra_layers / args.layers:.0%} compute), "
          f"{args.threads} thread(s); host: {os.cpu_count()} CPUs, load average at the end "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for cond in done:
        print("\n".join(summary_lines(cond)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
