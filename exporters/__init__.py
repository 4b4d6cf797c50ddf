"""Exporters, loaded lazily by name. Adding an exporter is adding a file and a line in EXPORTERS."""
from __future__ import annotations

from harness.errors import UsageError
from harness.registry import load_entry

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
    return load_entry(EXPORTERS, name, "exporter", UsageError)
