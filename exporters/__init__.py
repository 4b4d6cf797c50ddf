"""Exporters, loaded lazily by name. Adding an exporter is adding a file and a line in EXPORTERS."""
from __future__ import annotations

from harness.core.errors import UsageError
from harness.core.registry import load_entry

EXPORTERS: dict[str, str] = {
    "fp32": "harness.exporters.fp32:Fp32Exporter",
    "int8-static": "harness.exporters.int8_static:Int8StaticExporter",
    "int8-dynamic": "harness.exporters.int8_dynamic:Int8DynamicExporter",
    "fp16": "harness.exporters.fp16:Fp16Exporter",
    "prune-unstructured": "harness.exporters.prune_unstructured:PruneUnstructuredExporter",
    "prune-structured": "harness.exporters.prune_structured:PruneStructuredExporter",
    "tensorrt": "harness.exporters.tensorrt_engine:TensorrtEngineExporter",
    "torchscript": "harness.exporters.torchscript:TorchscriptExporter",
}


def exporter_class(name: str):
    return load_entry(EXPORTERS, name, "exporter", UsageError)
