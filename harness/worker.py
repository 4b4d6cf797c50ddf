"""The measurement worker: one fresh process per (variant, scenario).

The parent (engine) drives it over a pipe: after `ready` it asks for warmup, timed rounds and inference over the
eval set; the parent opens sensor windows around each timed round only. The worker imports nothing heavy
before it is spawned, and exits on its own when the parent's end of the pipe closes (parent killed).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.core.errors import HarnessError, WorkerError, first_line
from harness.runtimes.base import RuntimeConfig


@dataclass(frozen=True)
class WorkerInit:
    path: str
    runtime: RuntimeConfig
    feeds: dict[str, np.ndarray]
    env: dict[str, str] = field(default_factory=dict)
    # the user's real calls (--inputs): the timed loop cycles through them; `feeds` is the first
    calls: list[dict[str, np.ndarray]] | None = None


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _maxrss_bytes() -> int:
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _has_nan(outputs: list[np.ndarray]) -> bool:
    return any(o.dtype.kind == "f" and not np.all(np.isfinite(o)) for o in outputs)


def _cycling_step(runtime, calls: list[dict[str, np.ndarray]]):
    """One step per call, taken in turn: real inputs vary, and a model's time may depend on them."""
    import itertools

    steps = itertools.cycle([runtime.make_step(c) for c in calls])
    return lambda: next(steps)()


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    # scalar outputs (one per call) are stacked; everything else is joined along its first axis
    return np.stack(arrays) if arrays[0].ndim == 0 else np.concatenate(arrays)


def _error_text(exc: BaseException, what: str) -> str:
    """onnxruntime's exceptions carry a long C++ prefix; keep the status message a user can act on."""
    if "ONNXRuntimeError" in str(exc):
        from harness.runtimes.onnxruntime_runtime import summarize_ort_error

        return f"{what}: {summarize_ort_error(exc)}"
    return first_line(exc, 300)


def worker_main(conn, init: WorkerInit) -> None:
    from harness.core.native_log import NativeStderr, with_log
    from harness.runtimes import runtime_class
    from harness.timing import timed_loop, warmup

    os.environ.update(init.env)
    # onnxruntime's C++ logger writes ANSI-coloured lines to fd 2: they belong in the error, not the terminal
    native = NativeStderr().start()

    def send(msg):
        if msg[0] == "error":
            msg = ("error", with_log(msg[1], native.take()))
        else:
            native.take()
        conn.send(msg)

    try:
        rss_before = _rss()
        runtime = runtime_class(init.runtime.name)(init.runtime)
        t0 = time.perf_counter()
        runtime.load(init.path)
        load_ms = (time.perf_counter() - t0) * 1e3
        rss_loaded = _rss()
        step = _cycling_step(runtime, init.calls) if init.calls and len(init.calls) > 1 else \
            runtime.make_step(init.feeds)
        t0 = time.perf_counter()
        step()
        cold_first_ms = (time.perf_counter() - t0) * 1e3
        outputs = runtime.infer(init.feeds)
        send(("ready", {
            "pid": os.getpid(), "load_ms": load_ms, "cold_first_ms": cold_first_ms,
            "model_load_rss_bytes": rss_loaded - rss_before, "nan_outputs": _has_nan(outputs),
            "output_shapes": [list(o.shape) for o in outputs], "runtime": runtime.describe(),
        }))
    except HarnessError as exc:
        send(("error", str(exc)))
        return
    except Exception as exc:  # report, don't traceback: the parent turns it into a one-line failure
        send(("error", _error_text(exc, "first inference failed")))
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # parent went away
        kind = msg[0]
        try:
            if kind == "warmup":
                _, iterations, duration_s = msg
                count = warmup(step, iterations, duration_s)
                runtime.device_timings()  # drop the warmup's device timings: only timed calls are reported
                send(("warmup", count))
            elif kind == "time":
                _, iterations, duration_s = msg
                lat = timed_loop(step, iterations, duration_s)
                send(("time", {"latencies_ns": lat, "maxrss_bytes": _maxrss_bytes(),
                                    "device_timings": runtime.device_timings()}))
            elif kind == "loadgen":
                from harness.scenarios.loadgen_scenario import run_loadgen

                _, settings, log_dir = msg
                result = run_loadgen(step, settings, log_dir)
                result.update(maxrss_bytes=_maxrss_bytes(), device_timings=runtime.device_timings())
                conn.send(("loadgen", result))
            elif kind == "profile_layers":
                _, iterations, duration_s = msg
                send(("profile_layers", runtime.profile_layers(init.calls or [init.feeds], iterations,
                                                               duration_s)))
            elif kind == "infer":
                _, batches = msg
                per_batch = [runtime.infer(b) for b in batches]
                outs = [_concat([b[i] for b in per_batch]) for i in range(len(per_batch[0]))]
                send(("infer", outs))
            elif kind == "stop":
                runtime.close()
                send(("stopped", None))
                return
            else:
                send(("error", f"unknown worker command {kind!r}"))
        except HarnessError as exc:
            send(("error", str(exc)))
        except Exception as exc:
            send(("error", _error_text(exc, f"{kind} failed")))


class WorkerHandle:
    """The parent's side of one worker process."""

    def __init__(self, init: WorkerInit, start_timeout_s: float = 600.0):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, init), daemon=True)
        self.process.start()
        child.close()
        self.ready = self._expect("ready", start_timeout_s)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _died(self) -> WorkerError:
        code = self.process.exitcode if not self.process.is_alive() else None
        self.process.join(1)
        code = self.process.exitcode if code is None else code
        return WorkerError(f"worker process died (exit code {code}); the runtime may have crashed or run out of "
                           "memory")

    def _send(self, msg: tuple) -> None:
        # a worker that died since the last answer closed its end: writing raises EPIPE, which is the same failure
        try:
            self._conn.send(msg)
        except OSError:
            raise self._died() from None

    def _expect(self, kind: str, timeout_s: float | None = None) -> Any:
        if timeout_s is not None and not self._conn.poll(timeout_s):
            self.kill()
            raise WorkerError(f"worker did not answer {kind!r} within {timeout_s:g} s")
        try:
            got, payload = self._conn.recv()
        except (EOFError, OSError):
            raise self._died() from None
        if got == "error":
            raise WorkerError(payload)
        if got != kind:
            raise WorkerError(f"worker protocol error: expected {kind!r}, got {got!r}")
        return payload

    def warmup(self, iterations: int, duration_s: float) -> int:
        self._send(("warmup", iterations, duration_s))
        return self._expect("warmup")

    def time(self, iterations: int, duration_s: float) -> dict[str, Any]:
        self._send(("time", iterations, duration_s))
        return self._expect("time")

    def loadgen(self, settings, log_dir: str) -> dict[str, Any]:
        """One LoadGen test against this worker's variant (harness/scenarios/loadgen_scenario.py)."""
        self._conn.send(("loadgen", settings, log_dir))
        return self._expect("loadgen")

    def profile_layers(self, iterations: int, duration_s: float) -> dict[str, Any]:
        """The runtime's per-layer profile (harness.profiling), taken after the timed rounds."""
        self._send(("profile_layers", iterations, duration_s))
        return self._expect("profile_layers")

    def infer(self, batches: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
        self._send(("infer", batches))
        return self._expect("infer")

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self._conn.send(("stop",))
                self._expect("stopped", 30)
            except (WorkerError, OSError, BrokenPipeError):
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.kill()
        self._conn.close()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
