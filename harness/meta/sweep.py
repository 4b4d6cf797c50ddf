"""`harness sweep`: a grid of recipes (method x level) over models, each point a normal bench variant.

Every point is exported and measured by the bench engine, so it lands in the store as an ordinary variant with
its provenance (base, operation, params). A sweep is resumable: a (model, recipe, device) that the store already
holds from an earlier sweep is not redone. Points are measured in small bench runs ("chunks"), each with its own
FP32 root measured interleaved with the chunk's variants, so every latency ratio compares two measurements taken
side by side; `--budget-s` stops before starting a chunk that would begin after the budget.

Timing per point is deliberately short (defaults: 10 rounds, 60 calls / 0.2 s at least): enough for a median
latency ratio, far from the rigour of `harness bench` defaults. The runs are tagged `sweep`. The time is cut into
many short rounds because, on a shared VM, a microsecond-scale model's speed drifts by up to ~1.7x within a
second (measured: the same lenet graph at 15-27 us in back-to-back processes, 20-27 us across 0.1 s windows
of one process); with 2 rounds a chunk's root and its variants were timed up to a second apart, and
variants with the FP32 root's very compute (unstructured pruning) came out at 0.61-1.63x FP32. With 10
rounds and a 0.02 s re-warm per round the same chunk takes the same wall time and those ratios stay within
about +-6 % (benchmarks/sweep_noise.py).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from harness.core.errors import UsageError

from harness.meta.grid import DEFAULT_GRID, MINILM_GRID  # noqa: F401  (re-exported: `harness sweep` defaults)

if TYPE_CHECKING:
    from harness.plan import BenchConfig

SWEEP_TAG = "sweep"


@dataclass(frozen=True)
class SweepConfig:
    examples: tuple[str, ...]
    recipes: tuple[str, ...] | None = None    # None: DEFAULT_GRID (MINILM_GRID for MiniLM)
    device: str = "cpu"
    db: str = "harness.duckdb"
    artifacts_dir: str | None = None
    lock_timeout_s: float = 60.0
    budget_s: float | None = None
    chunk_size: int = 8
    threads: int | None = 1                   # one thread: ratios less disturbed by a busy machine
    min_iterations: int = 60
    min_duration_s: float = 0.2
    rounds: int = 10                          # many short rounds: root and variants see the same machine
    warmup_iterations: int = 5
    warmup_s: float = 0.02                    # re-warm per round (a few hundred calls of a small model)
    progress: bool = True


@dataclass
class SweepResult:
    measured: list[tuple[str, str]] = field(default_factory=list)       # (model, recipe) measured now
    already: list[tuple[str, str]] = field(default_factory=list)        # found in the store
    left: list[tuple[str, str]] = field(default_factory=list)           # not started: budget
    failed: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    budget_hit: bool = False


def grid_for(example, recipes: tuple[str, ...] | None) -> list[str]:
    if recipes:
        return list(dict.fromkeys(recipes))
    return list(MINILM_GRID if example.task == "embedding" else DEFAULT_GRID)


def chunks(recipes: list[str], size: int) -> list[list[str]]:
    """Chains go with their prefix (exported once per run); groups are packed into runs of about `size`."""
    groups: dict[str, list[str]] = {}
    for r in recipes:
        if r.strip() == "fp32":
            continue   # every run measures the root anyway
        groups.setdefault(r.split(">")[0].strip(), []).append(r)
    out: list[list[str]] = []
    for group in groups.values():
        if out and len(out[-1]) + len(group) <= size:
            out[-1].extend(group)
        else:
            out.append(list(group))
    return out


def chunk_bench(config: SweepConfig, example: str, recipes) -> BenchConfig:
    """The bench run of one chunk: its FP32 root and `recipes`, timed with the sweep's settings."""
    from harness.plan import BenchConfig

    return BenchConfig(
        example=example, recipes=("fp32", *recipes), device=config.device, threads=config.threads,
        min_iterations=config.min_iterations, min_duration_s=config.min_duration_s, rounds=config.rounds,
        warmup_iterations=config.warmup_iterations, warmup_s=config.warmup_s, tag=SWEEP_TAG, db=config.db,
        artifacts_dir=config.artifacts_dir, lock_timeout_s=config.lock_timeout_s, idle_s=0.5, progress=False)


def run_sweep(config: SweepConfig, echo: Callable[[str], None] | None = None) -> SweepResult:
    import os
    from pathlib import Path

    from harness.examples import load_example
    from harness.engine import Engine
    from harness.store import Store
    from harness.store.meta import sweep_done

    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    if config.budget_s is not None and config.budget_s <= 0:
        raise UsageError("--budget-s must be positive")
    if config.chunk_size < 1:
        raise UsageError("--chunk-size must be >= 1")
    artifacts = Path(config.artifacts_dir or Path(config.db).resolve().parent / "harness-artifacts")
    # zoo weights are cached under the artifacts directory (examples/zoo)
    os.environ.setdefault("HARNESS_ZOO_CACHE", str(artifacts / "zoo-weights"))
    store = Store(config.db, lock_timeout_s=config.lock_timeout_s)
    store.migrate()
    loaded = [(ref, load_example(ref)) for ref in config.examples]   # a bad name fails before any work
    from harness.exporters.recipes import parse_recipe

    plan: list[tuple[str, object, list[str], list[list[str]]]] = []
    result = SweepResult()
    for ref, ex in loaded:
        grid = grid_for(ex, config.recipes)
        for r in grid:
            parse_recipe(r)   # a typo fails up front
        done = sweep_done(store, ex.name, config.device)
        todo = [r for r in grid if r not in done]
        result.already += [(ex.name, r) for r in grid if r in done]
        plan.append((ref, ex, todo, chunks(todo, config.chunk_size)))
    total = sum(len(todo) for _, _, todo, _ in plan)
    echo(f"sweep: {total} point(s) to measure on {config.device}, {len(result.already)} already in {config.db}")
    bar = None
    if config.progress and total:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="sweep", unit="point", file=sys.stderr, disable=None)
    t0 = time.monotonic()
    try:
        for ref, ex, todo, parts in plan:
            if not todo:
                continue
            # the root alone when it is the only point missing
            parts = parts or [[]]
            for part in parts:
                if config.budget_s is not None and time.monotonic() - t0 >= config.budget_s:
                    result.budget_hit = True
                    result.left += [(ex.name, r) for r in part]
                    continue
                bench = chunk_bench(config, ref, part)
                if bar is not None:
                    bar.set_postfix_str(f"{ex.name}: {', '.join(part) or 'fp32'}"[:60])
                lines: list[str] = []
                outcome = Engine(bench, echo=lines.append).run()
                result.runs.append(outcome.run_id)
                result.failed += [f"{ex.name}: {f}" for f in outcome.failed]
                points = list(part)
                if "fp32" in todo and (ex.name, "fp32") not in result.measured:
                    points.insert(0, "fp32")
                result.measured += [(ex.name, p) for p in points]
                if bar is not None:
                    bar.update(len(points))
    finally:
        if bar is not None:
            bar.close()
    return result
