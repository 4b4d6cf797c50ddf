"""Importing harness and building its CLI must not import hardware libraries or probe hardware."""
import subprocess
import sys

HEAVY = ["pynvml", "tensorrt", "pycuda", "cuda", "torch", "onnxruntime", "panel", "bokeh", "tensorboardX", "h5py",
         "ray"]


def test_import_and_cli_parser_stay_light():
    code = (
        "import sys, harness, harness.cli, harness.device_profiles, harness.exporters, harness.examples, harness.reports\n"
        "harness.cli.build_parser()\n"
        "from harness.device_profiles import PROFILES, profile_class\n"
        "[profile_class(n) for n in PROFILES]\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at import time: {out.stdout.strip()}"


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True, check=True)
    for command in ("bench", "runs", "show", "export", "devices", "migrate"):
        assert command in out.stdout
