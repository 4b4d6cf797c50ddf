import time

from harness.timing import timed_loop, warmup


def test_loop_meets_both_minimums():
    calls = []
    t0 = time.perf_counter()
    lat = timed_loop(lambda: calls.append(1), min_iterations=50, min_duration_s=0.05)
    elapsed = time.perf_counter() - t0
    assert len(lat) == len(calls) >= 50
    assert elapsed >= 0.05
    assert (lat > 0).all()


def test_iteration_minimum_wins_for_slow_steps():
    lat = timed_loop(lambda: time.sleep(0.002), min_iterations=5, min_duration_s=0.0)
    assert len(lat) == 5
    assert lat.min() >= 2_000_000  # each call slept at least 2 ms


def test_max_iterations_caps_the_loop():
    assert len(timed_loop(lambda: None, min_iterations=10, min_duration_s=10.0, max_iterations=100)) == 100


def test_warmup_counts_iterations():
    assert warmup(lambda: None, 7, 0.0) == 7
