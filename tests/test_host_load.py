"""The host-load sensor sees a real busy neighbour (a spinning process) while the timed worker sleeps."""
import subprocess
import sys
import time

from harness.device_profiles.host_load import HostLoadSensor, busy_warning


def test_a_spinning_neighbour_is_counted_and_flagged():
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    hog = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)  # let the hog get going
        sensor = HostLoadSensor()
        sensor.start(worker.pid)
        t0 = time.perf_counter()
        time.sleep(1.0)
        out = sensor.stop(time.perf_counter() - t0)
    finally:
        hog.kill()
        worker.kill()
        hog.wait()
        worker.wait()
    assert out["extra"]["worker_cpu_cores"] < 0.1          # the worker slept
    assert out["extra"]["other_cpu_cores"] > 0.5           # the hog spun one core
    warning = busy_warning([out["extra"], {"other_cpu_cores": 0.0, "steal_cores": 0.0}])
    assert warning.startswith("host busy while timing: other processes used up to") and "in 1 of 2 rounds" in warning
    assert busy_warning([{"other_cpu_cores": 0.01, "steal_cores": 0.0}]) is None


def test_window_around_this_process_counts_it_once():
    import os

    sensor = HostLoadSensor()
    cpu0, t0 = time.process_time(), time.perf_counter()
    sensor.start(os.getpid())
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass
    duration = time.perf_counter() - t0
    out = sensor.stop(duration)
    # what this process really got (on a loaded host, less than a core): the sensor must report that as the
    # worker's share, not zero and not twice
    own_cores = (time.process_time() - cpu0) / duration
    assert own_cores > 0.05
    assert abs(out["extra"]["worker_cpu_cores"] - own_cores) < 0.15
