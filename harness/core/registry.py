"""Lazy "name -> module:Class" registries (profiles, runtimes, exporters): nothing is imported until it is used,
so optional hardware libraries stay unimported until a user asks for the thing that needs them."""
from __future__ import annotations

import importlib
from typing import Any


def load_entry(registry: dict[str, str], name: str, what: str, error: type[Exception]) -> Any:
    """The object registered under `name`, or `error` naming the known choices."""
    try:
        target = registry[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; choose one of: {', '.join(sorted(registry))}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
