"""Shipped examples, loaded lazily by name; a user's own model is loaded from `module:function`."""
from __future__ import annotations

import importlib

from harness.errors import UsageError

EXAMPLES: dict[str, str] = {
    "digits": "examples.digits.model:make_example",
    "resnet18": "examples.resnet18.model:make_example",
    "minilm": "examples.minilm.model:make_example",
}


def load_example(ref: str):
    """Return the Example named `ref` (a shipped example) or built by `module:function`."""
    target = EXAMPLES.get(ref, ref)
    module, sep, func = target.partition(":")
    if not sep:
        raise UsageError(f"unknown example {ref!r}; choose one of {', '.join(sorted(EXAMPLES))} "
                         "or give your own as module:function")
    try:
        factory = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot load example {ref!r}: {exc}") from None
    return factory()
