"""The `harness` command line. Each subcommand lives in its own module under harness/commands/ and exposes
`register(subparsers)`, which adds its parser and sets `func(args) -> int`. Modules are imported only to build the
parser; heavy imports (onnxruntime, torch, panel) happen inside `func`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from harness import __version__
from harness.core.errors import HarnessError

# one module per subcommand; adding a command is adding a file and a line here
COMMAND_MODULES = [
    "harness.commands.bench",
    "harness.commands.runs",
    "harness.commands.export",
    "harness.commands.devices",
    "harness.commands.migrate",
    "harness.commands.regress",
    "harness.commands.baseline",
    "harness.commands.history",
    "harness.commands.dashboard",
    "harness.commands.report",
    "harness.commands.tensorboard",
    "harness.commands.compare",
    "harness.commands.layers",
    "harness.commands.node",
    "harness.commands.power",
    "harness.commands.sweep",
    "harness.commands.predict",
    "harness.commands.recommend",
    "harness.commands.import_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Benchmark compressed ML models on the device they will run on.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()      # inside the try: a closed pipe must surface here, not at interpreter exit
        return code
    except HarnessError as exc:
        if args.verbose:
            raise
        print(f"harness: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("harness: interrupted; finished variants are kept in the database", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader of our output went away (`harness show --json | head -1`): stop quietly, like other Unix tools.
    stdout is pointed at /dev/null so the interpreter's final flush cannot raise a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 128 + 13     # what a shell reports for a process ended by SIGPIPE


if __name__ == "__main__":
    raise SystemExit(main())
