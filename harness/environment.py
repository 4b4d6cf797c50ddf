"""The environment record stored with every run, and the fingerprint that says whether two runs are comparable."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

from harness import __version__

LIBRARIES = ("onnxruntime", "onnxruntime-gpu", "onnx", "torch", "numpy", "duckdb", "tensorrt", "nvidia-ml-py")


def library_versions() -> dict[str, str | None]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return {k: v for k, v in out.items() if v is not None}


def git_sha(cwd: str | None = None) -> str | None:
    """HEAD of the git repository the bench runs in, if any (marked dirty when the tree has changes)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def ort_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def collect(profile, settings: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to reproduce or compare the run. `settings`: threads, provider, runtime..."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "harness_version": __version__,
        "libraries": library_versions(),
        "onnxruntime_providers": ort_providers(),
        "device": profile.describe(),
        "settings": settings,
    }


def fingerprint(profile, env: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The comparable part of the environment and its short hash."""
    parts = {
        "device": profile.fingerprint(),
        "libraries": env["libraries"],
        "settings": {k: env["settings"].get(k) for k in ("runtime", "provider", "threads", "graph_optimization")},
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return parts, digest


def effective_status(status: str, host: str | None, environment_json: str | None) -> str:
    """A run stored as `running` whose process is gone from this host was killed: report it as interrupted."""
    if status != "running" or host != socket.gethostname() or not environment_json:
        return status
    try:
        pid = json.loads(environment_json).get("pid")
    except ValueError:
        return status
    if not pid:
        return status
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:
        pass
    return status
