"""MLPerf LoadGen scenarios (SingleStream, MultiStream, Offline, Server) run inside the measurement worker.

The worker process hosts the system under test: LoadGen issues queries, this module runs the variant's `step`
(one inference at the scenario's batch size per LoadGen sample) and reports completion. LoadGen owns the clock
and the verdict; its summary and detail logs are written to a directory the engine keeps as the run's artifact,
and `parse_detail_log` reads the verdict back from the structured (`:::MLLOG`) detail log.

Every LoadGen sample maps to the same prepared feeds, exactly as harness's own loop times one prepared input:
the two are comparable call for call (benchmarks/loadgen_agreement.py).
"""
from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.core import import_utils
from harness.core.errors import HarnessError, UsageError

SCENARIOS = {"single-stream": "SingleStream", "multi-stream": "MultiStream", "offline": "Offline",
             "server": "Server"}
HARNESS_LOOP = "harness"     # the default: harness's own single-stream loop, not LoadGen
QSL_SAMPLES = 1024           # LoadGen picks sample indices from this set; all map to the same prepared feeds
SUMMARY_FILE = "mlperf_log_summary.txt"
DETAIL_FILE = "mlperf_log_detail.txt"


# LoadGen sizes Offline's one query as expected QPS x min duration. An estimate from calls timed just before the
# run that comes out slower than the steady state (a GPU clocking up, caches warming) makes the query finish
# before the minimum duration, which LoadGen rules INVALID ("increase expected QPS"); seen on an H200 with
# ResNet-18 at batch 1. The estimate is therefore raised by this factor when the user gives no --target-qps.
OFFLINE_QPS_HEADROOM = 1.5
EARLY_STOPPING_P99_QUERIES = 662   # LoadGen's early stopping judges a p99 only from this many queries on


def require_loadgen() -> None:
    """One actionable line (MissingExtraError) when LoadGen is absent; checked before anything is written."""
    import_utils.require_loadgen()


@dataclass(frozen=True)
class LoadgenSettings:
    """What harness asks of LoadGen; mapped onto mlperf_loadgen.TestSettings by `make_test_settings`.

    None means "LoadGen's default" for targets, or "estimate from calls timed just before the run" for the
    expected latency/QPS hints LoadGen uses to size the run (recorded in the effective settings).
    """

    scenario: str                           # single-stream | multi-stream | offline | server
    min_duration_ms: int = 1000
    min_query_count: int = 200
    target_qps: float | None = None         # server: server_target_qps; offline: offline_expected_qps
    target_latency_ms: float | None = None  # server: latency bound; single/multi-stream: expected latency hint
    samples_per_query: int | None = None    # multi-stream
    max_duration_ms: int = 0                # 0: no cap (LoadGen's default)
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def validate_options(scenario: str, target_qps: float | None, target_latency_ms: float | None,
                     samples_per_query: int | None) -> None:
    """Options that do not apply to the chosen scenario are refused, never silently ignored."""
    if scenario == HARNESS_LOOP:
        given = [n for n, v in (("--target-qps", target_qps), ("--target-latency-ms", target_latency_ms),
                                ("--samples-per-query", samples_per_query)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} only apply to LoadGen scenarios: add --scenario "
                             "single-stream|multi-stream|offline|server")
        return
    if scenario not in SCENARIOS:
        raise UsageError(f"unknown --scenario {scenario!r}: choose single-stream, multi-stream, offline or server")
    if target_qps is not None and scenario not in ("server", "offline"):
        raise UsageError(f"--target-qps applies to the server and offline scenarios, not {scenario}")
    if target_latency_ms is not None and scenario == "offline":
        raise UsageError("--target-latency-ms does not apply to the offline scenario (it has no latency bound)")
    if samples_per_query is not None and scenario != "multi-stream":
        raise UsageError(f"--samples-per-query applies to the multi-stream scenario, not {scenario}")
    for name, value in (("--target-qps", target_qps), ("--target-latency-ms", target_latency_ms),
                        ("--samples-per-query", samples_per_query)):
        if value is not None and value <= 0:
            raise UsageError(f"{name} must be positive, got {value}")


def make_test_settings(lg, s: LoadgenSettings, expected_latency_ns: float) -> tuple[Any, dict[str, Any]]:
    """mlperf_loadgen.TestSettings for `s`, and the values set (stored as the run's LoadGen settings)."""
    ts = lg.TestSettings()
    ts.scenario = getattr(lg.TestScenario, SCENARIOS[s.scenario])
    ts.mode = lg.TestMode.PerformanceOnly
    applied: dict[str, Any] = {"scenario": SCENARIOS[s.scenario], "mode": "PerformanceOnly",
                               "min_duration_ms": int(s.min_duration_ms), "min_query_count": int(s.min_query_count),
                               "max_duration_ms": int(s.max_duration_ms)}
    ts.min_duration_ms = int(s.min_duration_ms)
    ts.min_query_count = int(s.min_query_count)
    ts.max_duration_ms = int(s.max_duration_ms)
    ts.qsl_rng_seed = ts.sample_index_rng_seed = ts.schedule_rng_seed = int(s.seed)
    expected_ns = max(1.0, float(expected_latency_ns))
    if s.scenario == "single-stream":
        value = s.target_latency_ms * 1e6 if s.target_latency_ms else expected_ns
        ts.single_stream_expected_latency_ns = int(value)
        applied["single_stream_expected_latency_ns"] = int(value)
    elif s.scenario == "multi-stream":
        n = s.samples_per_query or ts.multi_stream_samples_per_query
        ts.multi_stream_samples_per_query = int(n)
        value = s.target_latency_ms * 1e6 if s.target_latency_ms else expected_ns * n
        ts.multi_stream_expected_latency_ns = int(value)
        applied.update(multi_stream_samples_per_query=int(n), multi_stream_expected_latency_ns=int(value))
    elif s.scenario == "offline":
        qps = s.target_qps or OFFLINE_QPS_HEADROOM * 1e9 / expected_ns
        ts.offline_expected_qps = float(qps)
        applied["offline_expected_qps"] = float(qps)
        if not s.target_qps:
            applied["offline_expected_qps_headroom"] = OFFLINE_QPS_HEADROOM
    elif s.scenario == "server":
        if s.target_qps:
            ts.server_target_qps = float(s.target_qps)
        if s.target_latency_ms:
            ts.server_target_latency_ns = int(s.target_latency_ms * 1e6)
        applied.update(server_target_qps=float(ts.server_target_qps),
                       server_target_latency_ns=int(ts.server_target_latency_ns),
                       server_target_latency_percentile=float(ts.server_target_latency_percentile))
    return ts, applied


class _SystemUnderTest:
    """LoadGen's SUT around one `step`. SingleStream/MultiStream run inline in LoadGen's issue call (LoadGen
    waits for each query anyway, and inline keeps the per-call overhead that of harness's own loop); Offline and
    Server hand samples to one inference thread so LoadGen's issue thread keeps its schedule (Poisson arrivals)."""

    def __init__(self, lg, step: Callable[[], Any], threaded: bool):
        self._lg = lg
        self._step = step
        self.latencies_ns: list[int] = []     # per sample: LoadGen handed it over -> completed (SUT side)
        self.compute_ns: list[int] = []       # per sample: the inference itself
        self.error: str | None = None
        self._threaded = threaded
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, daemon=True) if threaded else None

    def start(self) -> None:
        if self._thread is not None:
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()

    def issue(self, query_samples) -> None:
        t_issue = time.perf_counter_ns()
        if self._threaded:
            self._queue.put((t_issue, list(query_samples)))
        else:
            self._run(t_issue, query_samples)

    def flush(self) -> None:
        pass

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._run(*item)

    def _run(self, t_issue: int, samples) -> None:
        lg, step, clock = self._lg, self._step, time.perf_counter_ns
        for qs in samples:
            t0 = clock()
            try:
                step()
            except Exception as exc:  # still complete the sample, or LoadGen waits forever
                self.error = self.error or f"{type(exc).__name__}: {exc}"
            t1 = clock()
            lg.QuerySamplesComplete([lg.QuerySampleResponse(qs.id, 0, 0)])
            self.compute_ns.append(t1 - t0)
            self.latencies_ns.append(t1 - t_issue)


def _expected_latency_ns(step: Callable[[], Any], calls: int = 5, seconds: float = 0.1) -> float:
    """LoadGen sizes its run from an expected latency/QPS: the median of calls timed just before the run (after
    the warmup), at least `calls` of them and at least `seconds` long, so µs-scale models are not sized from
    five cold-ish calls."""
    clock = time.perf_counter_ns
    times: list[int] = []
    end = clock() + int(seconds * 1e9)
    while len(times) < calls or (clock() < end and len(times) < 10_000):
        t0 = clock()
        step()
        times.append(clock() - t0)
    return float(np.median(times))


def run_loadgen(step: Callable[[], Any], settings: LoadgenSettings, log_dir: str | Path) -> dict[str, Any]:
    """Run one LoadGen test against `step`; returns the parsed summary, the applied settings and the SUT-side
    per-sample latencies. The LoadGen logs stay in `log_dir`."""
    require_loadgen()
    import mlperf_loadgen as lg

    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    expected_ns = _expected_latency_ns(step)
    ts, applied = make_test_settings(lg, settings, expected_ns)
    applied["expected_latency_ns_measured"] = int(expected_ns)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(log_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False    # the trace grows with every query and nothing here reads it
    sut_impl = _SystemUnderTest(lg, step, threaded=settings.scenario in ("offline", "server"))
    sut = lg.ConstructSUT(sut_impl.issue, sut_impl.flush)
    qsl = lg.ConstructQSL(QSL_SAMPLES, QSL_SAMPLES, lambda idx: None, lambda idx: None)
    sut_impl.start()
    t0 = time.perf_counter()
    try:
        lg.StartTestWithLogSettings(sut, qsl, ts, log_settings)
    finally:
        duration_s = time.perf_counter() - t0
        sut_impl.stop()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if sut_impl.error:
        raise HarnessError(f"inference failed during the LoadGen run: {sut_impl.error}")
    summary = parse_detail_log(log_dir / DETAIL_FILE).as_dict()
    capacity_qps = 1e9 / expected_ns
    if settings.scenario == "server" and applied["server_target_qps"] > capacity_qps:
        # LoadGen still issues every query and waits for it: said here, since it explains a long, INVALID run
        summary["warnings"] = list(summary["warnings"]) + [
            f"target {applied['server_target_qps']:g} QPS exceeds the ~{capacity_qps:.1f} QPS one inference at a "
            "time can serve (measured just before the run)"]
    return {"summary": summary, "settings": applied, "log_dir": str(log_dir), "duration_s": duration_s,
            "latencies_ns": np.asarray(sut_impl.latencies_ns, dtype=np.int64),
            "compute_ns": np.asarray(sut_impl.compute_ns, dtype=np.int64)}


# -- reading LoadGen's verdict back --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadgenSummary:
    """LoadGen's result for one run, as its detail log states it (latencies converted to ms)."""

    scenario: str
    valid: bool
    verdict: str                            # VALID | INVALID
    reasons: tuple[str, ...]                # why INVALID, in LoadGen's terms; empty when VALID
    query_count: int | None
    samples_per_query: int | None
    qps: float | None                       # the scenario's throughput figure (see `qps_source`)
    qps_source: str | None
    min_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p97_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    target_qps: float | None
    target_latency_ms: float | None
    target_latency_percentile: float | None
    early_stopping: str | None
    loadgen_version: str | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    per_query: dict[str, float | None] = field(default_factory=dict)   # multi-stream per-query percentiles

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_mllog(path: str | Path) -> tuple[dict[str, Any], list[str], list[str]]:
    """Key -> value of a LoadGen detail log (last occurrence wins), plus its error and warning messages."""
    values: dict[str, Any] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for line in Path(path).read_text(errors="replace").splitlines():
        if not line.startswith(":::MLLOG "):
            continue
        try:
            rec = json.loads(line[len(":::MLLOG "):])
        except json.JSONDecodeError:
            continue
        key, value = rec.get("key"), rec.get("value")
        meta = rec.get("metadata") or {}
        if meta.get("is_error"):
            errors.append(f"{key}: {value}")
        elif meta.get("is_warning"):
            warnings.append(f"{key}: {value}")
        values[key] = value
    return values, errors, warnings


def _ms(value: Any) -> float | None:
    return None if value is None else float(value) / 1e6


def parse_detail_log(path: str | Path) -> LoadgenSummary:
    """The verdict, its reasons, percentiles and throughput from `mlperf_log_detail.txt`."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"LoadGen wrote no detail log at {path}")
    v, errors, warnings = read_mllog(path)
    scenario = v.get("effective_scenario") or v.get("requested_scenario") or "?"
    verdict = str(v.get("result_validity", "INVALID"))
    reasons: list[str] = []
    pct = v.get("effective_target_latency_percentile")
    target_ns = v.get("effective_target_latency_ns")
    if v.get("result_perf_constraints_met") is False:
        key = f"result_{float(pct) * 100:.2f}_percentile_latency_ns" if pct else None
        seen = v.get(key) if key else None
        detail = (f": {float(pct) * 100:g}th percentile latency {float(seen) / 1e6:.3f} ms > bound "
                  f"{float(target_ns) / 1e6:.3f} ms" if seen is not None and target_ns else "")
        reasons.append("Performance constraints satisfied: NO" + detail)
    if v.get("result_min_duration_met") is False:
        reasons.append(f"Min duration satisfied: NO (min {v.get('effective_min_duration_ms')} ms)")
    if v.get("result_min_queries_met") is False:
        reasons.append(f"Min queries satisfied: NO (min {v.get('effective_min_query_count')} queries)")
    if v.get("early_stopping_met") is False:
        text = " ".join(str(v.get("early_stopping_result") or "").split())
        reasons.append("Early stopping satisfied: NO" + (f" ({text})" if text else ""))
    recommendation = " ".join(str(v.get("result_invalid_reason") or "").split())
    if recommendation:
        reasons.append(f"Recommendation: {recommendation}")
    if errors:
        reasons.extend(f"LoadGen error: {e}" for e in errors)
    if verdict != "VALID" and not reasons:
        reasons.append("LoadGen marked the result INVALID without a reason in its detail log")
    qps, source = None, None
    for key in ("result_samples_per_second", "result_completed_samples_per_sec", "result_qps_with_loadgen_overhead"):
        if v.get(key) is not None:
            qps, source = float(v[key]), key
            break
    per_query = {k.replace("result_", "").replace("_per_query_latency_ns", "_ms"): _ms(val)
                 for k, val in v.items() if k.endswith("_per_query_latency_ns")}
    return LoadgenSummary(
        scenario=scenario, valid=verdict == "VALID", verdict=verdict,
        reasons=tuple(reasons) if verdict != "VALID" else (), query_count=v.get("result_query_count"),
        samples_per_query=v.get("effective_samples_per_query"), qps=qps, qps_source=source,
        min_ms=_ms(v.get("result_min_latency_ns")), mean_ms=_ms(v.get("result_mean_latency_ns")),
        p50_ms=_ms(v.get("result_50.00_percentile_latency_ns")), p90_ms=_ms(v.get("result_90.00_percentile_latency_ns")),
        p95_ms=_ms(v.get("result_95.00_percentile_latency_ns")), p97_ms=_ms(v.get("result_97.00_percentile_latency_ns")),
        p99_ms=_ms(v.get("result_99.00_percentile_latency_ns")),
        p999_ms=_ms(v.get("result_99.90_percentile_latency_ns")), max_ms=_ms(v.get("result_max_latency_ns")),
        target_qps=float(v["effective_target_qps"]) if v.get("effective_target_qps") is not None else None,
        target_latency_ms=_ms(target_ns) if target_ns else None,
        target_latency_percentile=float(pct) if pct is not None else None,
        early_stopping=" ".join(str(v.get("early_stopping_result") or "").split()) or None,
        loadgen_version=v.get("loadgen_version"), errors=tuple(errors), warnings=tuple(warnings),
        per_query=per_query)
