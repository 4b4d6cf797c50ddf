"""Files in the earlier tools' formats, written per their documentation (not produced by harness):

- a Compress and Compare models.json as its README and model_map.ts describe it: continuous, ordinal and
  nominal parameter specs, metric definitions with primary/format/unit/min/max, null metric values, null base
  and operation (as hand-written files carry them), tags, a provenance chain six models deep, a model whose base
  is not in the file;
- Compression Board benchmark JSON: {model: {fp32, int8, model_info}} with its per-side keys, one model
  without an int8 side and one without an fp32 side.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

CC_DOC = {
    "operations": [
        {"name": "Pruning", "parameters": {"sparsity": {"type": "continuous", "min": 0, "max": 1, "format": ".0%"}}},
        {"name": "Selective Pruning", "parameters": {
            "sparsity": {"type": "continuous", "min": 0, "max": 1},
            "layers": {"type": "ordinal", "options": ["attention", "feedforward"]}}},
        {"name": "Quantize", "parameters": {"amount": {"type": "nominal", "options": ["int8", "fp16"]}}},
        {"name": "Train", "parameters": {"epochs": {"type": "continuous", "min": 1, "max": 100}}},
    ],
    "metrics": [
        {"name": "Top-1 Accuracy", "primary": True, "format": ".2~%", "min": 0.0, "max": 1.0},
        {"name": "Latency", "primary": True, "unit": "ms", "min": 0.0, "max": None},
        {"name": "Model Size", "primary": True, "format": ".2~s"},
        {"name": "Sparsity", "format": ".2%", "min": 0.0, "max": 1.0},
    ],
    "models": [
        {"id": "base", "base": None, "operation": None,
         "metrics": {"Top-1 Accuracy": 0.91, "Latency": 12.5, "Model Size": 1017000, "Sparsity": 0.0}},
        {"id": "p1", "base": "base", "operation": {"name": "Pruning", "parameters": {"sparsity": 0.3}},
         "metrics": {"Top-1 Accuracy": 0.9, "Latency": None, "Model Size": 812000, "Sparsity": 0.3},
         "tag": "Prune (30%)"},
        {"id": "p1-t", "base": "p1", "operation": {"name": "Train", "parameters": {"epochs": 5}},
         "metrics": {"Top-1 Accuracy": 0.905, "Latency": 12.1, "Model Size": None, "Sparsity": 0.3}},
        {"id": "p1-t-sp", "base": "p1-t",
         "operation": {"name": "Selective Pruning", "parameters": {"sparsity": 0.5, "layers": "attention"}},
         "metrics": {"Top-1 Accuracy": 0.88, "Latency": 11.0, "Model Size": 600000, "Sparsity": 0.5}},
        {"id": "p1-t-sp-t", "base": "p1-t-sp", "operation": {"name": "Train", "parameters": {"epochs": 10}},
         "metrics": {"Top-1 Accuracy": 0.897, "Latency": 10.9, "Model Size": 600000, "Sparsity": 0.5}},
        {"id": "p1-t-sp-t-q", "base": "p1-t-sp-t",
         "operation": {"name": "Quantize", "parameters": {"amount": "int8"}},
         "metrics": {"Top-1 Accuracy": 0.893, "Latency": 4.2, "Model Size": 160000, "Sparsity": 0.5},
         "tag": "Quantize (int8)", "notes": {"owner": "kim", "ticket": 42}},
        {"id": "orphan", "base": "deleted-model", "operation": {"name": "Quantize", "parameters": {"amount": "fp16"}},
         "metrics": {"Top-1 Accuracy": None, "Latency": 7.0}},
    ],
}

CB_DOC = {
    "resnet18": {
        "fp32": {"accuracy": 89.7, "f1_score": 0.893, "latency_mean_ms": 41.2, "latency_std_ms": 1.3,
                 "model_size_mb": 44.59, "memory_usage_mb": 512.5, "gpu_memory_usage_mb": 0.0,
                 "energy_consumption_mw": 15000.0, "evaluated_on": "cpu", "sensitivity": 0.91},
        "int8": {"accuracy": 89.1, "f1_score": 0.887, "latency_mean_ms": 13.7, "latency_std_ms": 0.6,
                 "model_size_mb": 11.3, "memory_usage_mb": 301.25, "gpu_memory_usage_mb": 0.0,
                 "energy_consumption_mw": 12500.0, "evaluated_on": "cpu", "sensitivity": 0.9},
        "model_info": {"library": "torchvision", "category": "classification", "input_shape": [3, 224, 224]},
    },
    "mobilenet_v2": {   # quantization failed for this one: no int8 side
        "fp32": {"accuracy": 71.9, "latency_mean_ms": 9.1, "model_size_mb": 13.6, "evaluated_on": "cpu"},
        "model_info": {"library": "torchvision"},
    },
    "tiny_int8_only": {
        "int8": {"accuracy": 65.0, "latency_mean_ms": 1.2, "model_size_mb": 0.5, "evaluated_on": "cpu"},
    },
}


def write_cc(directory: Path, doc: dict | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "models.json").write_text(json.dumps(copy.deepcopy(doc or CC_DOC), indent=2))
    return directory


def write_cb(path: Path, doc: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(copy.deepcopy(doc or CB_DOC), indent=2))
    return path
