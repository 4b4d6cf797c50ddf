"""What a bench run will do: its settings (BenchConfig) and the scenarios each variant is measured in."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.device_profiles.base import DEFAULT_IDLE_DURATION_S, DEFAULT_SAMPLE_INTERVAL_S


@dataclass(frozen=True)
class BenchConfig:
    """All settings of one `harness bench` run; stored as the run's config."""

    models: tuple[str, ...] = ()          # ONNX files; empty: the example's exported variants
    example: str = "digits"
    recipes: tuple[str, ...] | None = None
    device: str = "cpu"
    runtime: str = "onnxruntime"
    provider: str | None = None
    graph_optimization: str = "all"
    threads: int | None = None
    batch_sizes: tuple[int, ...] = ()     # empty: the model's own fixed batch, else 1
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dims: dict[str, int] = field(default_factory=dict)     # --dim SYMBOL=N
    inputs: str | None = None                              # --inputs FILE.npz: real calls for ONNX files
    labels: str | None = None                              # --labels FILE.npy: class per instance of the calls
    # enough for a meaningful p90/p95 (64/130 samples) even for slow models; fast ones get far more from the
    # duration floor
    min_iterations: int = 200
    min_duration_s: float = 1.0
    warmup_iterations: int = 10
    warmup_s: float = 0.1
    rounds: int = 3
    seed: int = 0
    tag: str | None = None
    db: str = "harness.duckdb"
    artifacts_dir: str | None = None
    lock_timeout_s: float = 60.0
    quality: bool = True
    sample_interval_s: float = DEFAULT_SAMPLE_INTERVAL_S
    idle_s: float = DEFAULT_IDLE_DURATION_S
    exclusive: bool = False
    lock_clocks: bool = False
    gpu_index: int = 0
    progress: bool = True
    # "harness": harness's own single-stream loop; otherwise an MLPerf LoadGen scenario
    # (single-stream | multi-stream | offline | server) run once per variant, see harness/scenarios/
    scenario: str = "harness"
    target_qps: float | None = None
    target_latency_ms: float | None = None
    samples_per_query: int | None = None
    # after each variant's timed rounds, a profiling pass per layer and the error of each layer against the
    # FP32 root (harness.profiling); never inside the timed rounds
    profile_layers: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scenario:
    """One way of running a variant: the unit a measurement row describes."""

    batch_size: int
    threads: int | None
    runtime: str
    provider: str
    graph_optimization: str

    @property
    def label(self) -> str:
        return f"bs{self.batch_size}" + (f"/t{self.threads}" if self.threads else "")


def scenarios(config: BenchConfig, provider: str, default_batch: int = 1, runtime: str | None = None
              ) -> list[Scenario]:
    return [Scenario(b, config.threads, runtime or config.runtime, provider, config.graph_optimization)
            for b in (config.batch_sizes or (default_batch,))]
