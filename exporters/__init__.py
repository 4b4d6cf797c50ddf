"""Exporters, loaded lazily by name. Adding an exporter is adding a file and a line in EXPORTERS."""
from __future__ import annotations

import importlib

from harness.errors import UsageError

EXPORTERS: dict[str, str] = {
    "fp32": "exporters.fp32:Fp32Exporter",
}


def exporter_class(name: str):
    try:
        target = EXPORTERS[name]
    except KeyError:
        raise UsageError(f"unknown exporter {name!r}; choose one of: {', '.join(sorted(EXPORTERS))}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
