"""Exporter interface. Each exporter is one file: a config dataclass and a class with `export`.

Recipes chain exporters ("prune-structured:0.5>int8-static"); what flows between steps is an `Artifact`: the
Variant record of the step's output plus, where the step produced one, the torch module (pruning works on torch
modules, quantization on ONNX files).
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.core.errors import UsageError
from harness.core.variant import Variant


@dataclass
class Artifact:
    variant: Variant
    module: Any = None   # torch.nn.Module when the step produced one


@dataclass(frozen=True)
class ExportContext:
    """What every exporter may use: the example (model factory + data), where to write, and the target device."""

    example: Any                          # harness.examples.base.Example
    out_dir: Path
    target_device: str = "cpu"            # device profile name; decides e.g. U8S8 (x86 CPU) vs S8S8 (GPU/TensorRT)
    target_info: dict[str, Any] = field(default_factory=dict)   # the profile's describe()
    seed: int = 0


@dataclass(frozen=True)
class ExportConfig:
    """Base for exporter configs; subclasses add fields with defaults."""


class Exporter(ABC):
    name: ClassVar[str]
    config_class: ClassVar[type] = ExportConfig

    def __init__(self, config: ExportConfig | None = None):
        self.config = config or self.config_class()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Exporter":
        names = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = set(params) - names
        if unknown:
            raise UsageError(f"{cls.name}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(names)) or 'none'}")
        return cls(cls.config_class(**params))

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    @abstractmethod
    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        """Produce the variant from `source` (None for the root exporter). Raise ExportError on failure."""
