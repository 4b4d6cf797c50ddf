"""The worker process seen from the parent: a worker that crashes, and one that does not start in time, become
one-line WorkerErrors (never a hang, a traceback or a leftover process)."""
import os
import signal

import numpy as np
import pytest

from harness.core.errors import WorkerError
from harness.runtimes.base import RuntimeConfig
from harness.worker import WorkerHandle, WorkerInit
from helpers import make_mlp_onnx

FEEDS = {"x": np.ones((1, 64), dtype=np.float32)}


def _init(tmp_path) -> WorkerInit:
    path = make_mlp_onnx(tmp_path / "m.onnx")
    return WorkerInit(str(path), RuntimeConfig(name="onnxruntime", provider="CPUExecutionProvider"), FEEDS)


def test_crashed_worker_is_a_worker_error_naming_the_exit(tmp_path):
    handle = WorkerHandle(_init(tmp_path))
    try:
        assert handle.time(5, 0.0)["latencies_ns"].size == 5
        os.kill(handle.pid, signal.SIGKILL)        # as the OOM killer or a segfaulting runtime would
        handle.process.join(10)
        with pytest.raises(WorkerError, match=r"worker process died \(exit code -9\)"):
            handle.time(5, 0.0)
        with pytest.raises(WorkerError, match="died"):
            handle.warmup(1, 0.0)
    finally:
        handle.stop()
    assert not handle.process.is_alive()


def test_worker_start_timeout_kills_the_process(tmp_path):
    # a spawned interpreter needs far more than 1 ms to import onnxruntime and load a model
    with pytest.raises(WorkerError, match=r"did not answer 'ready' within 0.001 s") as err:
        WorkerHandle(_init(tmp_path), start_timeout_s=0.001)
    assert "\n" not in str(err.value)
    # the handle is gone, but no worker process may outlive it
    import multiprocessing as mp

    assert not [p for p in mp.active_children() if p.is_alive()]
