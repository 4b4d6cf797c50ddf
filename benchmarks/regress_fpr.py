"""False-positive and detection rates of `harness regress` on this machine.

Benches one baseline, then N identical reruns and M reruns of a genuinely slower model (the same conv net with
one more layer: +10 % compute, same variant name, so regress matches it to the baseline's variant), and regresses
every rerun against the baseline with the default gates. Prints the rates and the measured p50 changes.

    python benchmarks/regress_fpr.py                 # 20 identical + 5 slower, about 2.5 minutes on 2 cores
    python benchmarks/regress_fpr.py --identical 40 --slower 10 --extra-layers 2

Not a test: timings are machine-dependent, so this prints figures instead of asserting them.

Reading the figures: the verdict can only be as steady as the machine. It prints the run-to-run noise of the
identical reruns; with a 10 % step many sigma above it (a quiet machine) the targets are 0 false regressions in
20 and the slowdown detected. The shared 2-core CI VM also switches between two speed states about 9 % apart
that last for seconds: a baseline or a whole rerun caught in the other state looks like a 9 % change. Regress
then relies on the round-level bootstrap (rounds straddling both states widen the interval and are named in a
note) and, after 5 earlier runs of the same model file, on the learnt run-to-run noise floor. The defaults here
(and in examples/nightly/nightly.sh), `--rounds 10 --min-duration 3`, spread each run over more of those states:
on this VM they gave 0/20 false regressions and 5/5 detections twice, where `--rounds 5 --min-duration 1` gave
3/20 false regressions.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


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


def bench(model: Path, db: Path, tag: str, args) -> str:
    """One `harness bench` in a fresh process, as a nightly job runs it; returns the run id."""
    cmd = [sys.executable, "-m", "harness", "bench", str(model), "--db", str(db), "--tag", tag,
           "--threads", str(args.threads), "--min-duration", str(args.min_duration), "--rounds", str(args.rounds),
           "--idle", "0", "--no-progress", "--no-quality"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    for line in done.stdout.splitlines():
        if line.startswith("run ") and " complete:" in line:
            return line.split()[1]
    raise SystemExit(f"bench printed no run id: {done.stdout[-500:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--identical", type=int, default=20, help="identical reruns (default 20)")
    ap.add_argument("--slower", type=int, default=5, help="reruns with the slower model (default 5)")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--size", type=int, default=32, help="feature map height and width")
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--extra-layers", type=int, default=1, help="layers added to the slower model (1 = +10 %%)")
    ap.add_argument("--threads", type=int, default=1)
    # the nightly job's measurement length (examples/nightly/nightly.sh): shorter runs are noisier on shared VMs
    ap.add_argument("--min-duration", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--workdir", help="keep the database and models here (default: a temporary directory)")
    args = ap.parse_args()

    from harness.regress.check import regress
    from harness.regress.gates import IMPROVED, REGRESSED, load_gates
    from harness.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        db = work / "fpr.duckdb"
        base_model, slow_model = work / "base" / "convnet.onnx", work / "slow" / "convnet.onnx"
        build_convnet(base_model, args.channels, args.layers, args.size)
        build_convnet(slow_model, args.channels, args.layers + args.extra_layers, args.size)
        gates = load_gates()
        # the same gates without the run-to-run noise floor: what a store with no history of the tag would say
        plain = replace(gates, latency=replace(gates.latency, noise_sigmas=0.0))
        store = Store(db)
        t0 = time.monotonic()
        # every run carries the same tag, as in a real nightly: the run-to-run noise floor of a candidate is
        # learnt from all the earlier nights, slow ones included
        baseline = bench(base_model, db, "nightly", args)
        # alternate identical and slower reruns so slow drift of the machine hits both groups alike
        plan = ["identical"] * args.identical + ["slower"] * args.slower
        order = sorted(range(len(plan)), key=lambda i: (i % max(1, len(plan) // max(1, args.slower)), i))
        results: dict[str, list[tuple[str, float, str]]] = {"identical": [], "slower": []}
        for n, i in enumerate(order, 1):
            kind = plan[i]
            run_id = bench(slow_model if kind == "slower" else base_model, db, "nightly", args)
            p50 = next(c for c in regress(store, baseline, run_id, gates).checks if c.metric == "p50_ms")
            bare = next(c for c in regress(store, baseline, run_id, plain).checks if c.metric == "p50_ms")
            results[kind].append((p50.status, p50.change, bare.status))
            floor = p50.detail["min_effect"]
            print(f"[{n:2d}/{len(plan)}] {kind:9s} p50 {p50.change:+6.1%}  "
                  f"CI {p50.detail['ci_low'] - 1:+6.1%}..{p50.detail['ci_high'] - 1:+6.1%}  "
                  f"min effect {floor:.1%}  -> {p50.status} (without noise floor: {bare.status})", flush=True)
        elapsed = time.monotonic() - t0

    ident, slow = results["identical"], results["slower"]
    fp = sum(s == REGRESSED for s, *_ in ident)
    fi = sum(s == IMPROVED for s, *_ in ident)
    det = sum(s == REGRESSED for s, *_ in slow)
    fp_bare = sum(r[2] == REGRESSED for r in ident)
    det_bare = sum(r[2] == REGRESSED for r in slow)
    print()
    print(f"model: conv net {args.layers} x (3x3, {args.channels} ch, {args.size}x{args.size}) "
          f"(slower: +{args.extra_layers} layer(s), "
          f"+{args.extra_layers / args.layers:.0%} compute), {args.threads} thread(s), "
          f"{args.rounds} rounds x {args.min_duration / args.rounds:.2f} s")
    if ident:
        changes = np.array([c for _, c, *_ in ident])
        print(f"identical reruns: {fp}/{len(ident)} false regressions, {fi}/{len(ident)} false improvements "
              f"({fp_bare}/{len(ident)} false regressions without the noise floor); "
              f"p50 change median {np.median(changes):+.1%}, range {changes.min():+.1%}..{changes.max():+.1%}")
        logs = np.log1p(changes)
        sigma = 1.4826 * np.median(np.abs(logs - np.median(logs)))
        print(f"machine: run-to-run noise of identical reruns {sigma:.1%} (robust sigma of log p50); a 10 % "
              f"step is {0.0953 / sigma if sigma else float('inf'):.1f} sigma")
    if slow:
        changes = np.array([c for _, c, *_ in slow])
        print(f"slower model:     {det}/{len(slow)} detected ({det_bare}/{len(slow)} without the noise floor); "
              f"p50 change median {np.median(changes):+.1%}, "
              f"range {changes.min():+.1%}..{changes.max():+.1%}")
    print(f"elapsed {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
