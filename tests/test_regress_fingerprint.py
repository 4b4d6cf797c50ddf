"""Environment comparison between a baseline and a candidate run."""
from __future__ import annotations

import json

from harness.regress.fingerprint import compare_fingerprints, flatten, is_volatile


def _run(**env_overrides):
    env = {
        "host": "orin-01", "pid": 4242, "platform": "Linux-5.15-tegra-aarch64", "python": "3.10.12",
        "libraries": {"onnxruntime-gpu": "1.18.0", "tensorrt": "10.3.0"},
        "onnxruntime_providers": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        "device": {"device": "jetson", "board": "orin-nano-8gb", "l4t": "36.4.0",
                   "nvpmodel": {"name": "15W", "id": 0},
                   "jetson_clocks": {"clocks_locked": True,
                                     "gpu": {"MinFreq": "1020000000", "MaxFreq": "1020000000",
                                             "CurrentFreq": "1020000000"},
                                     "cpus": {"cpu0": {"MinFreq": "1510400", "MaxFreq": "1510400",
                                                       "CurrentFreq": "1510400"}}},
                   "cpu_freq_khz": 1510400},
        "fingerprint_parts": {"device": {"nvpmodel": "15W"}},
        "settings": {"threads": 4, "provider": "TensorrtExecutionProvider", "runtime": "onnxruntime"},
    }
    for dotted, value in env_overrides.items():
        node = env
        *path, last = dotted.split("__")
        for part in path:
            node = node[part]
        node[last] = value
    return {"run_id": "r", "device": "jetson", "environment": json.dumps(env),
            "config": json.dumps({"threads": 4, "provider": None, "tag": "nightly", "db": "x.duckdb"})}


def test_identical_environments_have_no_differences():
    assert compare_fingerprints(_run(), _run()) == []


def test_readings_and_host_details_are_ignored():
    cand = _run(host="orin-02", pid=1, device__cpu_freq_khz=729600)
    cand_env = json.loads(cand["environment"])
    cand_env["device"]["jetson_clocks"]["gpu"]["CurrentFreq"] = "306000000"
    cand["environment"] = json.dumps(cand_env)
    cand["config"] = json.dumps({"threads": 4, "provider": None, "tag": "other", "db": "y.duckdb"})
    assert compare_fingerprints(_run(), cand) == []


def test_power_mode_clocks_versions_threads_and_providers_are_reported():
    cand = _run(device__nvpmodel={"name": "7W", "id": 1}, libraries={"onnxruntime-gpu": "1.19.0",
                                                                     "tensorrt": "10.3.0"},
                settings={"threads": 2, "provider": "CUDAExecutionProvider", "runtime": "onnxruntime"})
    env = json.loads(cand["environment"])
    env["device"]["jetson_clocks"]["clocks_locked"] = False
    env["device"]["jetson_clocks"]["gpu"]["MinFreq"] = "306000000"
    cand["environment"] = json.dumps(env)
    diffs = {d.key: (d.baseline, d.candidate)
             for d in compare_fingerprints(_run(), cand, [(4, "trt", "ort")], [(2, "cuda", "ort")])}
    assert diffs["environment.device.nvpmodel.name"] == ("15W", "7W")
    assert diffs["environment.device.jetson_clocks.clocks_locked"] == (True, False)
    assert diffs["environment.device.jetson_clocks.gpu.MinFreq"] == ("1020000000", "306000000")
    assert diffs["environment.libraries.onnxruntime-gpu"] == ("1.18.0", "1.19.0")
    assert diffs["environment.settings.threads"] == (4, 2)
    assert diffs["environment.settings.provider"] == ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    assert diffs["measurements.threads/provider/runtime"] == (["4/trt/ort"], ["2/cuda/ort"])
    # derived copies are not reported twice
    assert not any(k.startswith("environment.fingerprint_parts") for k in diffs)


def test_a_missing_key_is_a_difference():
    cand = _run()
    env = json.loads(cand["environment"])
    del env["libraries"]["tensorrt"]
    cand["environment"] = json.dumps(env)
    (diff,) = compare_fingerprints(_run(), cand)
    assert diff.key == "environment.libraries.tensorrt" and diff.candidate is None
    assert diff.text() == "environment.libraries.tensorrt: 10.3.0 -> (absent)"


def test_flatten_and_volatile():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {"a.b": 1, "a.c": [1, 2], "d": None}
    assert is_volatile("device.cpu_freq_khz") and is_volatile("pid") and is_volatile("sensors.x")
    assert is_volatile("device.jetson_clocks.gpu.CurrentFreq")
    assert not is_volatile("device.jetson_clocks.gpu.MaxFreq") and not is_volatile("device.nvpmodel.name")
    assert not is_volatile("libraries.onnxruntime") and not is_volatile("settings.threads")
