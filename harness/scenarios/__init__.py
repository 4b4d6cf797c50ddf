"""Measurement scenarios other than harness's own single-stream loop (harness/timing.py)."""
