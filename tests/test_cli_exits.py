"""How the CLI ends when the world around it is not as expected: a missing optional extra, a closed pipe."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from harness import cli
from harness.core import import_utils


def test_dashboard_without_its_extra_is_one_line(monkeypatch, capsys, tmp_path):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):       # the import boundary: panel is not installed
        return None if name.split(".")[0] == "panel" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    import_utils._has.cache_clear()
    try:
        code = cli.main(["dashboard", "--no-show", "--db", str(tmp_path / "none.duckdb")])
    finally:
        import_utils._has.cache_clear()
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("harness: error: ")
    assert "pip install 'harness[dashboard]'" in err and "Traceback" not in err


def test_output_into_a_closed_pipe_ends_quietly(default_bench_db):
    read_end, write_end = os.pipe()
    os.close(read_end)                          # the reader is gone before we write anything (`| head -0`)
    try:
        proc = subprocess.run([sys.executable, "-m", "harness", "show", "latest", "--json", "--db",
                               str(default_bench_db)], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=300)
    finally:
        os.close(write_end)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 141


def test_head_of_show_json_has_no_traceback(default_bench_db):
    proc = subprocess.run(f"'{sys.executable}' -m harness show latest --json --db '{default_bench_db}' | head -1",
                          shell=True, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "{"
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr
