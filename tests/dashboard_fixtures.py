"""Fixtures for the dashboard, report and TensorBoard tests: one real `harness bench` per session, and the
dashboard served by the real CLI on a free loopback port.

Import the fixtures into a test module with `from dashboard_fixtures import *  # noqa: F403`.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

BENCH_SETTINGS = ["--min-duration", "0.2", "--rounds", "2", "--idle", "0", "--no-progress"]

__all__ = ["dash_db", "free_port", "harness", "serve_dashboard"]


def harness(*args: str, cwd: Path | str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real CLI in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def dash_db(tmp_path_factory) -> Path:
    """A DuckDB filled by one real default bench of the digits example (all variants, quality pass, HDF5)."""
    d = tmp_path_factory.mktemp("dashboard_bench")
    db = d / "bench.duckdb"
    proc = harness("bench", "--db", str(db), "--tag", "nightly", *BENCH_SETTINGS, cwd=d)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return db


# built once per test process, however many modules import the fixture (a session fixture star-imported into
# several modules is a separate fixture, and a separate bench, in each)
_PROFILED: dict[str, Path] = {}


@pytest.fixture(scope="session")
def profiled_db(tmp_path_factory) -> Path:
    """A DuckDB with a per-layer profile: one real `harness bench --profile-layers` of the digits example with
    int8-static and fp16 (about a minute). Import it by name, not with the star import."""
    if "db" not in _PROFILED:
        d = tmp_path_factory.mktemp("profiled_bench")
        db = d / "bench.duckdb"
        proc = harness("bench", "--recipe", "int8-static", "--recipe", "fp16", "--profile-layers", "--db", str(db),
                       "--min-duration", "0.1", "--min-iterations", "20", "--rounds", "1", "--warmup", "2",
                       "--idle", "0", "--no-progress", cwd=d)
        assert proc.returncode == 0, proc.stderr[-3000:]
        _PROFILED["db"] = db
    return _PROFILED["db"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class serve_dashboard:
    """`harness dashboard --no-show` in a subprocess on a free 127.0.0.1 port; stopped on exit."""

    def __init__(self, db: Path | str, refresh_s: float = 1.0):
        self.db, self.refresh_s = str(db), refresh_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "serve_dashboard":
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "dashboard", "--db", self.db, "--port", str(self.port), "--no-show",
             "--refresh", str(self.refresh_s)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dashboard exited: {self.proc.stdout.read()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url, timeout=10):
                    return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError("dashboard did not start within 90 s")

    def output(self) -> str:
        return self.proc.stdout.read() if self.proc and self.proc.stdout else ""

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
