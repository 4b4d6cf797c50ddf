"""Subcommands of the `harness` CLI, one module each (see harness/cli.py)."""
