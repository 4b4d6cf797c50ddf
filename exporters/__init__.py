"""Exporters, loaded lazily by name. Adding an exporter is adding a file and a line in EXPORTERS."""
from __future__ import annotations

import importlib

from harness.errors import UsageError

EXPORTERS: dict[str, str] = {
    "fp32": "exporters.fp32:Fp32Exporter",
    "int8-static": "exporters.int8_static:Int8StaticExporter",
    "int8-dynamic": "exporters.int8_dynamic:Int8DynamicExporter",
    "fp16": "exporters.fp16:Fp16Exporter",
    "prune-unstructured": "exporters.prune_unstructured:PruneUnstructuredExporter",
    "prune-structured": "exporters.prune_structured:PruneStructuredExporter",
    "tensorrt": "exporters.tensorrt_engine:TensorrtEngineExporter",
    "torchscript": "exporters.torchscript:TorchscriptExporter",
}


def exporter_class(name: str):
    try:
        target = EXPORTERS[name]
    except KeyError:
        raise UsageError(f"unknown exporter {name!r}; choose one of: {', '.join(sorted(EXPORTERS))}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
