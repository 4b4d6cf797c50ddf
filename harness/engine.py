"""The bench engine: export or load variants, measure each in its own worker process, store as it goes.

Order of work, chosen so that bad input fails before anything is written and an interrupted run keeps every
variant already finished:
  1. resolve the device profile, the models and their input shapes (errors here write nothing);
  2. open/migrate the store and record the run as `running`;
  3. export variants (a failed export is stored at once, with its reason);
  4. start one worker per (variant, scenario), one at a time so load times do not contend;
  5. quality pass over the eval data in each variant's worker;
  6. timed rounds, interleaved across workers (rotating the order each round) inside sensor windows;
     a variant is committed in one transaction as soon as its last round is done;
  7. mark the run complete (or failed/interrupted).
"""
from __future__ import annotations

import logging
import secrets
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.device_profiles import load_profile
from harness.device_profiles.base import IdleBaseline, ProfileConfig, WindowReading
from harness.device_profiles.energy import per_inference
from harness.device_profiles.host_load import busy_warning
from harness import environment
from harness.core.errors import InputSpecError, ModelError, UsageError, WorkerError
from harness.inputs import default_batch_size, example_inputs, random_inputs, read_input_specs, resolve_shapes
from harness.plan import BenchConfig, Scenario, scenarios
from harness.core.roofline import roofline_fields
from harness.runtimes import runtime_for_format
from harness.runtimes.base import RuntimeConfig
from harness.core.stats import dispersion, summarize
from harness.store import Store
from harness.store.scenario_queries import insert_loadgen_results, loadgen_row
from harness.store.store import to_json, utcnow
from harness.core.variant import Variant, variant_from_file
from harness.worker import WorkerHandle, WorkerInit

# calibration calls saved as probe inputs next to the FP32 root (capped by harness.meta.sensitivity)
PROBE_CALLS = 256
# the per-layer profiling pass (--profile-layers): calls profiled per variant, and a time cap past the first
PROFILE_CALLS = 50
PROFILE_S = 5.0

log = logging.getLogger(__name__)


def onnx_root(variants: list[Variant]) -> Variant | None:
    """The FP32 ONNX root among a model's variants (the one with no base)."""
    return next((v for v in variants if v.ok and v.format == "onnx" and v.path and not v.base_id), None)


@dataclass
class Job:
    """One (variant, scenario) being measured: its worker and what its rounds have collected."""

    variant: Variant
    scenario: Scenario
    feeds: dict[str, np.ndarray]
    inputs_source: str
    calls: list[dict[str, np.ndarray]] | None = None     # the user's real calls, cycled by the timed loop
    handle: WorkerHandle | None = None
    ready: dict[str, Any] | None = None   # what the worker reported after loading (load time, cold start...)
    error: str | None = None
    rounds: list[np.ndarray] = field(default_factory=list)
    windows: list[WindowReading] = field(default_factory=list)
    maxrss_bytes: int | None = None
    device_timings: list[dict] = field(default_factory=list)
    loadgen: dict[str, Any] | None = None     # LoadGen's parsed result, settings and log dir (LoadGen scenarios)
    cost: Any = None                          # graph_cost.GraphCost of one call, or None with cost_reason
    cost_reason: str | None = None
    layer_profile: dict[str, Any] | None = None   # the runtime's per-layer profile (--profile-layers)
    layer_profile_error: str | None = None
    measurement_id: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def executed_on(self) -> str | None:
        """Where the worker's runtime put the inference: "cpu" for the host CPU, else the torch device ("cuda:0")
        or the onnxruntime provider it got; None before the worker reported."""
        used = self.provider_used(None)
        return "cpu" if used == "CPUExecutionProvider" else used

    def provider_used(self, requested: str | None) -> str | None:
        """The provider onnxruntime actually used, or the torch device (a torch variant has no onnxruntime
        provider); the requested one when the worker did not report."""
        rt = (self.ready or {}).get("runtime") or {}
        if rt.get("device"):
            return str(rt["device"])
        used = rt.get("providers_used") or []
        return str(used[0]) if used else requested


@dataclass(frozen=True)
class BenchResult:
    run_id: str
    status: str
    variants: int
    failed: list[str]


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _unique_names(paths: list[str]) -> list[str]:
    names, seen = [], {}
    for p in paths:
        stem = Path(p).stem
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return names


class Engine:
    def __init__(self, config: BenchConfig, echo: Callable[[str], None] | None = None):
        self.config = config
        self._profile_warnings: list[str] = []
        self._peaks = None
        self._host_peaks = None
        self._artifacts: Path | None = None
        self.echo = echo or (lambda msg: print(msg, file=sys.stderr))
        self.store = Store(config.db, lock_timeout_s=config.lock_timeout_s)
        self._qualities: dict[str | None, Any] = {}     # root variant id (None: the example) -> QualityPass
        self._sources: dict[str, Any] = {}              # root variant id -> OnnxFileModel

    # -- 1. resolve everything that can fail on bad input ------------------------------------------------------
    def _profile(self):
        from harness.device_profiles.replay import replay_settings, replay_warning

        c = self.config
        # HARNESS_SYSFS_ROOT / HARNESS_TOOLS_DIR: a fake or copied board for testing and replay (harness.device_profiles.replay)
        root, options, replaced = replay_settings()
        profile = load_profile(c.device, ProfileConfig(
            root=root, sample_interval_s=c.sample_interval_s, idle_duration_s=c.idle_s, exclusive=c.exclusive,
            lock_clocks=c.lock_clocks, gpu_index=c.gpu_index, options=options))
        warning = replay_warning(replaced)
        if warning:
            profile.run_warnings.append(warning)
        self._replayed = replaced
        return profile

    def _user_models(self) -> list[Any]:
        """Every model file with its inputs checked (shapes, --dim, --inputs, --labels): errors here write
        nothing."""
        from harness.onnx_model import load_models

        return load_models(self.config, _unique_names(list(self.config.models)))

    def _recipes_for(self, default: list[str]) -> list[str]:
        """The --recipe list with `default` expanded to the model's standard set (no duplicates)."""
        out: list[str] = []
        for r in self.config.recipes or []:
            for item in (default if r.strip() == "default" else [r]):
                if item not in out:
                    out.append(item)
        return out

    def _user_recipes(self) -> list[str]:
        from harness.exporters.recipes import parse_recipe
        from harness.onnx_model import default_recipes

        recipes = self._recipes_for(default_recipes(self.config.device))
        for r in recipes:
            parse_recipe(r)       # a typo fails before anything is written
        return recipes

    def _user_variants(self, models, artifacts: Path, profile, run_id: str) -> list[Variant]:
        recipes = self._user_recipes()
        variants: list[Variant] = []
        for m in models:
            info = {"source": str(m.path), "inputs": m.inputs.source if m.inputs is not None else None}
            root = variant_from_file(m.path, name=m.name, model=m.name, operation="user", info=info)
            root = root.with_(root_id=root.variant_id)
            self._sources[root.variant_id] = m
            if not recipes:
                variants.append(root)
                continue
            variants += self._export(m, artifacts, profile, run_id, recipes=recipes, root=root)
        return variants

    @staticmethod
    def _graph_path(variant: Variant, by_id: dict[str, Variant]) -> str:
        """The ONNX file whose graph declares the variant's inputs: its own, or (for TensorRT engines and
        TorchScript files) the ONNX variant it was built from."""
        v = variant
        while v.format != "onnx" and v.base_id in by_id:
            v = by_id[v.base_id]
        if v.format != "onnx" or not v.path:
            raise ModelError(f"{variant.name}: cannot find the ONNX graph that declares its inputs")
        return v.path

    def _feeds(self, specs, batch_size: int, example, data) -> tuple[dict[str, np.ndarray], str]:
        if data is not None:
            return example_inputs(data.inputs, specs, batch_size), f"example:{example.name}"
        shapes = resolve_shapes(specs, batch_size, self.config.input_shapes, self.config.dims)
        return random_inputs(specs, shapes, self.config.seed), f"random(seed={self.config.seed})"

    def _quality_of(self, variant: Variant):
        return self._qualities.get(variant.root_id or variant.variant_id, self._qualities.get(None))

    def _example_drift_data(self, example, variants: list[Variant]):
        """Seeded random calls for the drift of an example that ships no eval data (labelled as random)."""
        from harness.onnx_model import RandomCalls

        root = onnx_root(variants)
        if root is None:
            return None
        specs = read_input_specs(root.path)
        return RandomCalls(specs, lambda b: resolve_shapes(specs, b, self.config.input_shapes, self.config.dims),
                           self.config.seed)

    # -- the run -----------------------------------------------------------------------------------------------
    def run(self) -> BenchResult:
        c = self.config
        if c.scenario != "harness":
            from harness.scenarios.loadgen_scenario import require_loadgen

            require_loadgen()   # before anything is written
        profile = self._profile()
        example = None
        user_models: list[Any] = []
        if c.models:
            user_models = self._user_models()
            self._user_recipes()
        else:
            from harness.examples import load_example

            if c.inputs or c.labels:
                raise UsageError("--inputs/--labels are for ONNX files given on the command line; an example "
                                 "brings its own data")
            example = load_example(c.example)
        self.store.migrate()

        run_id = new_run_id()
        artifacts = Path(c.artifacts_dir or Path(c.db).resolve().parent / "harness-artifacts") / run_id
        provider = c.provider or profile.default_providers()[0]
        settings = {"runtime": c.runtime, "provider": provider, "threads": c.threads,
                    "graph_optimization": c.graph_optimization, "batch_sizes": list(c.batch_sizes)}
        env = environment.collect(profile, settings)
        if getattr(self, "_replayed", None):
            env["replay"] = dict(self._replayed)
        fp_parts, fp = environment.fingerprint(profile, env)
        env["fingerprint_parts"] = fp_parts
        self._artifacts = artifacts
        self._peaks = self._device_peaks(c.device, env.get("device") or {})
        env["device_peaks"] = self._peaks.as_dict()
        model_name = example.name if example else ",".join(m.name for m in user_models)
        hdf5_path = str(artifacts / "outputs.h5") if example is not None and c.quality else None
        self.store.create_run({
            "run_id": run_id, "created_at": utcnow(), "finished_at": None, "status": "running", "tag": c.tag,
            "model": model_name, "device": c.device, "host": env["host"], "git_sha": environment.git_sha(),
            "harness_version": env["harness_version"], "fingerprint": fp, "environment": to_json(env),
            "config": to_json(c.as_dict()), "hdf5_path": hdf5_path,
        })
        self.echo(f"run {run_id}: {model_name} on {c.device} -> {c.db}")
        jobs: list[Job] = []
        status = "failed"
        try:
            profile.setup()
            self._profile_warnings = profile.run_warnings
            for w in profile.run_warnings:
                self.echo(f"warning: {w}")
            idle = profile.measure_idle()
            if idle.power_mw is not None:
                self.echo(f"idle power {idle.power_mw:.0f} mW ({idle.source})")
            if example is not None:
                artifacts.mkdir(parents=True, exist_ok=True)
                variants = self._export(example, artifacts, profile, run_id)
            else:
                variants = self._user_variants(user_models, artifacts, profile, run_id)
            # built once: it is the measured inputs of every variant and the quality pass's data
            data = example.eval_data() if example is not None else None
            if c.quality:
                from harness.quality import QualityPass

                if example is not None:
                    q_data = data if data is not None else self._example_drift_data(example, variants)
                    self._qualities[None] = QualityPass(example, q_data, hdf5_path if data is not None else None)
                for root_id, m in self._sources.items():
                    self._qualities[root_id] = QualityPass(m, m.eval_data(), None)
            by_id = {v.variant_id: v for v in variants}
            jobs = self._start_jobs(variants, example, data, provider)
            self._count_graphs(jobs, by_id)
            if self._qualities:
                self._quality(jobs)
            self._measure(jobs, profile, idle, run_id, by_id)
            failed = [f"{j.variant.name} [{j.scenario.label}]: {j.error}" for j in jobs if j.error]
            failed += [f"{v.name}: export failed: {v.error}" for v in variants if v.status == "failed"]
            ok_jobs = [j for j in jobs if not j.error]
            status = "complete" if ok_jobs else "failed"
            for q in self._qualities.values():
                q.close()
            return BenchResult(run_id, status, len(variants), failed)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            for job in jobs:
                if job.handle is not None:
                    job.handle.stop()
            try:
                profile.teardown()
            finally:
                if profile.run_warnings:
                    env["run_warnings"] = list(profile.run_warnings)
                    self.store.update_run(run_id, environment=to_json(env))
                    for w in profile.run_warnings:
                        self.echo(f"warning: {w}")
                self.store.finish_run(run_id, status)

    # -- 3. export ---------------------------------------------------------------------------------------------
    def _export(self, example, out_dir: Path, profile, run_id: str, recipes: list[str] | None = None,
                root: Variant | None = None) -> list[Variant]:
        from harness.exporters.base import Artifact, ExportContext
        from harness.exporters.recipes import build_variants

        if recipes is None:
            recipes = self._recipes_for(list(example.default_recipes)) or list(example.default_recipes)
        ctx = ExportContext(example=example, out_dir=out_dir, target_device=self.config.device,
                            target_info=profile.describe(), seed=self.config.seed)
        self.echo(f"exporting {len(recipes)} variant(s) of {example.name}: {', '.join(recipes)}")
        if root is not None and getattr(example, "calibration_is_random", False) and \
                any("int8-static" in r for r in recipes):
            self.echo(f"  warning: int8-static is calibrated on {example.calibration_source}, not real data; "
                      "give --inputs FILE.npz")
        variants = build_variants(example, recipes, ctx, progress=lambda name: self.echo(f"  exported {name}"),
                                  root=Artifact(root, None) if root is not None else None)
        self._write_probe(example, variants, out_dir)
        for v in variants:
            if v.ok and v.info.get("no_effect"):
                self.echo(f"  {v.name}: no effect: {v.info['no_effect']}")
            if not v.ok:
                self.echo(f"  {v.name}: export {v.status}: {v.error}")
                with self.store.write() as con:
                    self.store.insert_rows(con, "variants", [v.row(run_id, utcnow())])
        return variants

    def _write_probe(self, example, variants: list[Variant], out_dir: Path) -> None:
        """Real inputs next to the FP32 ONNX root (`<root>.probe.npz`): what the predictor's data-dependent
        features run the model on (harness.meta.sensitivity). Only real data (random calibration inputs say
        nothing of how the model's decisions react to a perturbation), and only next to a root this run exported
        (a user's own ONNX file stays where it is, with nothing written beside it)."""
        from harness.meta.sensitivity import probe_path, write_probe

        if example.calibration is None or getattr(example, "calibration_is_random", False):
            return
        root = onnx_root(variants)
        if root is None or not Path(root.path).resolve().is_relative_to(out_dir.resolve()) or \
                probe_path(root.path).is_file():
            return
        try:
            write_probe(root.path, example.calibration(PROBE_CALLS))
        except Exception as exc:   # optional: the data features are then missing, the run goes on
            self.echo(f"  note: no probe inputs saved next to the FP32 root ({exc}); predictions for this model "
                      "will lack the data-dependent features")

    # -- 4. workers --------------------------------------------------------------------------------------------
    def _start_jobs(self, variants: list[Variant], example, data, provider: str) -> list[Job]:
        c = self.config
        by_id = {v.variant_id: v for v in variants}
        options = {"free_dimension_overrides": dict(c.dims)} if c.dims else {}
        jobs = []
        for v in variants:
            if not v.ok:
                continue
            runtime = runtime_for_format(v.format, c.runtime)
            source_model = self._sources.get(v.root_id or v.variant_id)
            real = source_model.inputs if source_model is not None else None
            try:
                specs = read_input_specs(self._graph_path(v, by_id))
            except ModelError as exc:
                jobs.append(Job(v, scenarios(c, provider, runtime=runtime)[0], {}, "", error=str(exc)))
                continue
            default_batch = real.batch_size if real is not None else default_batch_size(specs, c.dims)
            for sc in scenarios(c, provider, default_batch, runtime):
                calls = None
                try:
                    if real is not None:
                        calls, feeds, source = real.calls, real.calls[0], real.source
                    else:
                        feeds, source = self._feeds(specs, sc.batch_size, example, data)
                except (InputSpecError, ModelError) as exc:
                    jobs.append(Job(v, sc, {}, "", error=str(exc)))
                    continue
                job = Job(v, sc, feeds, source, calls=calls)
                rc = RuntimeConfig(name=runtime, provider=provider, threads=c.threads,
                                   graph_optimization=c.graph_optimization, device_index=c.gpu_index,
                                   options=options if runtime == "onnxruntime" else {})
                try:
                    job.handle = WorkerHandle(WorkerInit(v.path, rc, feeds, calls=calls))
                    job.ready = job.handle.ready
                except WorkerError as exc:
                    job.error = str(exc)
                    if source_model is not None and real is None:
                        # e.g. a scalar sample rate that must be 16000: random values take the wrong branch
                        job.error += "; its inputs were seeded random data: give real ones with --inputs FILE.npz"
                    self.echo(f"  {v.name} [{sc.label}]: {exc}")
                jobs.append(job)
        return jobs

    def _host_cpu_peaks(self):
        """The host CPU's measured peak (cached per host), for variants that ran on the host CPU of a GPU host."""
        if self._host_peaks is None:
            from harness.device_profiles import load_profile
            from harness.device_profiles.base import ProfileConfig

            self._host_peaks = self._device_peaks("cpu", load_profile("cpu", ProfileConfig()).describe())
        return self._host_peaks

    @staticmethod
    def _device_peaks(device: str, describe: dict[str, Any]):
        """The device's peak rates for the roofline; never stops a run (null plus the reason instead)."""
        from harness.device_profiles.peaks import DevicePeaks, device_peaks

        try:
            return device_peaks(device, describe)
        except Exception as exc:  # a peak is context for the figures, not a reason to lose them
            return DevicePeaks.unavailable(f"device peak unavailable: {type(exc).__name__}: {exc}")

    def _count_graphs(self, jobs: list[Job], by_id: dict[str, Variant]) -> None:
        """MACs and bytes of one call of each job, from its ONNX graph at the measured input shapes."""
        from harness.core.graph_cost import count_graph

        cache: dict[tuple, tuple] = {}
        for job in jobs:
            if job.error:
                continue
            shapes = {k: tuple(v.shape) for k, v in job.feeds.items()}
            key = (job.variant.variant_id, tuple(sorted(shapes.items())))
            if key not in cache:
                try:
                    cache[key] = (count_graph(self._graph_path(job.variant, by_id), shapes), None)
                except Exception as exc:  # an uncountable graph leaves the roofline null, with the reason
                    cache[key] = (None, f"graph not counted: {type(exc).__name__}: {str(exc)[:200]}")
            job.cost, job.cost_reason = cache[key]

    # -- 5. quality --------------------------------------------------------------------------------------------
    def _quality(self, jobs: list[Job]) -> None:
        seen = set()
        # the root first: drift of every other variant is measured against it
        ordered = sorted(jobs, key=lambda j: j.variant.base_id is not None)
        for job in ordered:
            quality = self._quality_of(job.variant)
            if quality is None or quality.eval_data is None:
                continue
            if job.error or job.variant.variant_id in seen:
                continue
            seen.add(job.variant.variant_id)
            try:
                outputs = job.handle.infer(quality.eval_data.batches(job.scenario.batch_size))
            except WorkerError as exc:
                self.echo(f"  {job.variant.name}: quality pass failed: {exc}")
                continue
            quality.add(job.variant, outputs)

    # -- 6. timed rounds ---------------------------------------------------------------------------------------
    def _measure(self, jobs: list[Job], profile, idle: IdleBaseline, run_id: str, by_id: dict[str, Variant]
                 ) -> None:
        c = self.config
        live = [j for j in jobs if not j.error]
        per_round_iters = max(1, -(-c.min_iterations // c.rounds))
        per_round_s = c.min_duration_s / c.rounds
        remaining = {}
        for j in jobs:
            remaining[j.variant.variant_id] = remaining.get(j.variant.variant_id, 0) + 1
        bar = None
        if c.progress:
            from tqdm import tqdm

            bar = tqdm(total=len(live) * c.rounds, desc="measuring", unit="round", file=sys.stderr,
                       disable=None, leave=False)
        try:
            # variants whose every job failed to start are committed now
            for j in jobs:
                if j.error:
                    remaining[j.variant.variant_id] -= 1
                    if remaining[j.variant.variant_id] == 0:
                        self._commit(run_id, j.variant, jobs, profile, idle, by_id)
            for r in range(c.rounds):
                order = live[r % len(live):] + live[:r % len(live)] if live else []
                for job in order:
                    if job.error:
                        continue
                    try:
                        job.handle.warmup(c.warmup_iterations, c.warmup_s)
                        key = f"{job.measurement_id}:{r}"
                        settings = self._loadgen_settings() if c.scenario != "harness" else None
                        log_dir = str(self._loadgen_dir(job)) if settings else None
                        profile.begin_window(key, job.handle.pid)
                        try:
                            if settings is not None:
                                result = job.handle.loadgen(settings, log_dir)
                            else:
                                result = job.handle.time(per_round_iters, per_round_s)
                        finally:
                            reading = profile.end_window(key)
                        if settings is not None:
                            job.loadgen = result
                            # samples: the time of each inference under LoadGen's load, the same quantity
                            # harness's own loop times; LoadGen's query latencies are in its own figures
                            result["latencies_ns"] = result["compute_ns"]
                        job.rounds.append(result["latencies_ns"])
                        job.windows.append(reading)
                        job.maxrss_bytes = result["maxrss_bytes"]
                        if result.get("device_timings"):
                            job.device_timings.append(result["device_timings"])
                    except WorkerError as exc:
                        job.error = str(exc)
                        self.echo(f"  {job.variant.name} [{job.scenario.label}]: {exc}")
                    if bar is not None:
                        bar.update(1)
                    if r == c.rounds - 1 and not job.error and c.profile_layers:
                        self._profile_layers(job, jobs)
                    if r == c.rounds - 1 or job.error:
                        remaining[job.variant.variant_id] -= 1
                        if remaining[job.variant.variant_id] == 0:
                            self._commit(run_id, job.variant, jobs, profile, idle, by_id)
                        if job.handle is not None:
                            job.handle.stop()
                            job.handle = None
        finally:
            if bar is not None:
                bar.close()

    def _profile_layers(self, job: Job, jobs: list[Job]) -> None:
        """The per-layer pass of a variant's first scenario, in its worker, right after its last timed round."""
        first = next(j for j in jobs if j.variant.variant_id == job.variant.variant_id)
        if first is not job:
            return
        try:
            job.layer_profile = job.handle.profile_layers(PROFILE_CALLS, PROFILE_S)
        except WorkerError as exc:
            job.layer_profile_error = str(exc)
            self.echo(f"  {job.variant.name}: no per-layer profile: {exc}")

    def _layer_profile_rows(self, run_id: str, variant: Variant, mine: list[Job], by_id: dict[str, Variant]
                            ) -> list[dict[str, Any]]:
        """Rows of `layer_profile` for one variant: its profile matched to the FP32 root's layers, and each
        layer's error against the root on the run's quality inputs (harness.profiling)."""
        from harness.profiling.layer_error import layer_errors
        from harness.profiling.layer_map import load_root_layers
        from harness.profiling.layer_rows import layer_profile_rows

        job = next((j for j in mine if j.layer_profile is not None), None)
        root = by_id.get(variant.root_id or "") or variant
        try:
            root_path = self._graph_path(root, by_id)
            layers = load_root_layers(root_path)
        except Exception as exc:   # a view of the run: its measurements are kept whatever happens here
            self.echo(f"  {variant.name}: no per-layer rows: the root graph cannot be read ({exc})")
            return []
        errors, source = None, None
        quality = self._quality_of(variant)
        data = quality.eval_data if quality is not None else None
        if root is not variant and data is not None and variant.format == "onnx" and variant.path:
            source = getattr(data, "source", None) or f"example:{quality.example.name} eval data"
            try:
                errors = layer_errors(root_path, variant.path, layers, data.batches(1))
            except Exception as exc:
                self.echo(f"  {variant.name}: no per-layer error: {type(exc).__name__}: {str(exc)[:200]}")
        if job is None and not errors:
            return []
        return layer_profile_rows(run_id, variant.variant_id, job.measurement_id if job else None, layers,
                                  job.layer_profile if job else None, errors, source)

    def _loadgen_settings(self):
        from harness.scenarios.loadgen_scenario import LoadgenSettings

        c = self.config
        return LoadgenSettings(scenario=c.scenario, min_duration_ms=int(round(c.min_duration_s * 1000)),
                               min_query_count=c.min_iterations, target_qps=c.target_qps,
                               target_latency_ms=c.target_latency_ms, samples_per_query=c.samples_per_query,
                               seed=c.seed)

    def _loadgen_dir(self, job: Job) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in job.variant.name)
        return self._artifacts / "loadgen" / f"{safe}-{job.scenario.label.replace('/', '-')}-{job.measurement_id}"

    # -- commit one variant --------------------------------------------------------------------------------------
    def _commit(self, run_id: str, variant: Variant, jobs: list[Job], profile, idle: IdleBaseline,
                by_id: dict[str, Variant]) -> None:
        quality = self._quality_of(variant)
        mine = [j for j in jobs if j.variant.variant_id == variant.variant_id]
        rows = [self._measurement_row(run_id, j, idle) for j in mine]
        q_rows, l_rows = quality.rows(run_id, variant, by_id) if quality is not None else ([], [])
        a_rows = quality.activation_rows(run_id, variant, by_id) if quality is not None else []
        p_rows = self._layer_profile_rows(run_id, variant, mine, by_id) if self.config.profile_layers else []
        with self.store.write() as con:
            self.store.insert_rows(con, "variants", [variant.row(run_id, utcnow())])
            self.store.insert_rows(con, "measurements", rows)
            for j in mine:
                if j.rounds:
                    self.store.insert_samples(con, j.measurement_id, j.rounds)
            self.store.insert_rows(con, "quality", q_rows)
            self.store.insert_rows(con, "layers", l_rows)
            self.store.insert_rows(con, "activations", a_rows)
            self.store.insert_rows(con, "layer_profile", p_rows)
            lg_rows = [loadgen_row(j.measurement_id, run_id, j.loadgen["summary"], j.loadgen["settings"],
                                   j.loadgen["log_dir"]) for j in mine if j.loadgen and not j.error]
            insert_loadgen_results(con, lg_rows)
        for j, row in zip(mine, rows):
            if row["status"] == "ok":
                self.echo(f"  {variant.name:<40} {j.scenario.label:<6} p50 {row['p50_ms']:.4f} ms  "
                          f"p90 {row['p90_ms']:.4f} ms  n={row['count']}")
                if j.loadgen:
                    s = j.loadgen["summary"]
                    qps = f"{s['qps']:.1f}" if s["qps"] is not None else "-"
                    why = f" ({'; '.join(s['reasons'])})" if s["reasons"] else ""
                    ms = {k: "-" if s[k] is None else f"{s[k]:.4f}" for k in ("p90_ms", "p99_ms")}
                    self.echo(f"    LoadGen {s['scenario']}: {s['verdict']}{why}  qps {qps}  "
                              f"p90 {ms['p90_ms']} ms  p99 {ms['p99_ms']} ms  logs {j.loadgen['log_dir']}")

    def _measurement_row(self, run_id: str, job: Job, idle: IdleBaseline) -> dict[str, Any]:
        sc = job.scenario
        ready = job.ready
        row: dict[str, Any] = {
            "measurement_id": job.measurement_id, "run_id": run_id, "variant_id": job.variant.variant_id,
            "runtime": sc.runtime, "graph_optimization": sc.graph_optimization,
            "provider": job.provider_used(sc.provider),
            "batch_size": sc.batch_size, "threads": sc.threads, "inputs_source": job.inputs_source,
            "rounds": len(job.rounds), "warmup": self.config.warmup_iterations, "created_at": utcnow(),
            "idle_power_mw": idle.power_mw, "scenario": self.config.scenario,
        }
        if ready:
            row.update({k: ready[k] for k in ("load_ms", "cold_first_ms", "model_load_rss_bytes")})
        job_warnings = [f"no per-layer profile: {job.layer_profile_error}"] if job.layer_profile_error else []
        if job.error or not job.rounds:
            row.update(status="failed", error=job.error or "no timed rounds completed",
                       warnings=to_json([]), energy_reason=None)
            return row
        lat = np.concatenate(job.rounds)
        stats = summarize(lat, sc.batch_size)
        spread = dispersion(job.rounds)
        warnings = list(stats.warnings) + list(spread.warnings) + job_warnings
        calls_per_s = stats.throughput_ips
        if job.loadgen:
            summary = job.loadgen["summary"]
            summary = summary if isinstance(summary, dict) else summary.as_dict()
            job.loadgen["summary"] = summary
            if summary["qps"] is not None:
                calls_per_s = summary["qps"]   # LoadGen's rate (one sample = one call), not busy time
            # LoadGen's notes about its own log buffer say nothing about the measurement
            warnings.extend(f"LoadGen: {w}" for w in summary["warnings"] if "Logging allocation" not in w)
        if ready and ready.get("nan_outputs"):
            warnings.append("outputs contain NaN or Inf")
        peak_rss = [w.peak_rss_bytes for w in job.windows if w.peak_rss_bytes is not None]
        dev_mem = [w.device_memory_peak_bytes for w in job.windows if w.device_memory_peak_bytes is not None]
        energies = [w.energy_mj for w in job.windows]
        duration_s = sum(w.duration_s for w in job.windows)
        energy = sum(energies) if energies and all(e is not None for e in energies) else None
        reason = None
        # e.g. ONNX variants on a GPU host without onnxruntime-gpu (--provider CPUExecutionProvider)
        on_host = self.config.device != "cpu" and job.executed_on == "cpu"
        if on_host and self.config.device == "nvidia-gpu":
            # NVML sees the GPU board: its energy and memory during the window are not this inference's
            energy, dev_mem = None, []
            reason = "the variant ran on the host CPU; NVML measures the GPU board only"
        elif energy is None:
            reason = next((w.energy_reason for w in job.windows if w.energy_reason), "no energy reading")
        total, above = per_inference(energy, int(lat.size), idle.power_mw, duration_s)
        for w in job.windows:
            warnings.extend(w.warnings)
        busy = busy_warning([w.extra for w in job.windows])
        if busy:
            warnings.append(busy)
        warnings.extend(self._profile_warnings)
        throttled = [w.throttled for w in job.windows if w.throttled is not None]
        row.update(stats.as_dict())
        row.update(throughput_ips=calls_per_s, throughput_sps=calls_per_s * sc.batch_size)
        if on_host:
            # the device's datasheet peak (and a GPU board's energy) say nothing about an inference the host ran
            warnings.append(f"ran on the host CPU, not on the {self.config.device}: its roofline is against the "
                            "host's measured peak" + ("; NVML's GPU-board energy and memory do not include it, so "
                                                      "they are null" if self.config.device == "nvidia-gpu"
                                                      else ""))
        peaks = self._host_cpu_peaks() if on_host else self._peaks
        row.update(roofline_fields(job.cost, job.cost_reason, calls_per_s, job.variant.precision, peaks))
        row.update(spread.as_dict())
        row.update({
            "status": "ok", "error": None, "peak_rss_bytes": max(peak_rss) if peak_rss else None,
            "maxrss_bytes": job.maxrss_bytes, "device_memory_peak_bytes": max(dev_mem) if dev_mem else None,
            "energy_mj": energy, "energy_source": job.windows[0].energy_source,
            "energy_scope": job.windows[0].energy_scope, "energy_reason": reason,
            "energy_per_inference_mj": total, "energy_above_idle_per_inference_mj": above,
            "avg_power_mw": energy / duration_s if energy is not None and duration_s > 0 else None,
            "throttled": any(throttled) if throttled else None,
            "sensors": to_json({"windows": [w.extra for w in job.windows], "runtime": ready.get("runtime"),
                                "device_timings": job.device_timings or None, "idle_reason": idle.reason}),
            "warnings": to_json(sorted(set(warnings), key=warnings.index)),
        })
        return row


def run_bench(config: BenchConfig, echo: Callable[[str], None] | None = None) -> BenchResult:
    return Engine(config, echo).run()
