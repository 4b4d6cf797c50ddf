"""Shipped examples, loaded lazily by name; a user's own model is loaded from `module:function`.

Shipped: `digits` (small CNN trained in seconds; accuracy, flips), `resnet18` (ResNet-18-shaped, random weights,
224x224; latency and size only), `minilm` (MiniLM-L6 sentence embeddings, offline; cosine to FP32).

Bringing your own model
-----------------------
Write a function that returns a `harness.examples.base.Example` (the model factory plus the data provider) and pass it
as `harness bench --example mypkg.mymodel:make_example` (the module must be importable, e.g. on PYTHONPATH):

    import numpy as np, torch
    from harness.examples.base import EvalData, Example

    def make_example() -> Example:
        x_eval, y_eval = np.load("eval.npz").values()           # float32 (N, 3, 64, 64), int64 (N,)
        return Example(
            name="mynet", task="classification",                 # or "embedding", or "none" (latency only)
            build_model=lambda: torch.load("mynet.pt", weights_only=False).eval(),   # FP32 torch module
            example_inputs=(torch.zeros(1, 3, 64, 64),),         # batch 1, for export and shape inference
            input_names=["input"], output_names=["logits"],      # first axis of each is the batch axis
            eval_data=lambda: EvalData(inputs={"input": x_eval}, labels=y_eval, instances=x_eval[:, 0]),
            calibration=lambda n: [{"input": x_eval[i:i + 1]} for i in range(min(n, len(x_eval)))],
            fine_tune=None,                                      # callable(module) -> module, after pruning
            default_recipes=["fp32", "int8-static", "fp16", "prune-structured:0.5>int8-static"],
        )

- `calibration(n)` returns up to n feed dicts for static quantization; each array must match the ONNX input's
  dtype and fixed dimensions, or int8-static fails with an error naming the input and the expected shape/dtype.
- `eval_data()` feeds the quality pass: accuracy and per-class accuracy from `labels`; drift against the base and
  the FP32 root from the outputs. `instances` (HxW images or a list of strings) are stored for the dashboard.
- `fine_tune(module)` is called by `prune-structured` (fine_tune=true by default) to recover accuracy.
- Structured pruning needs a forward() that torch.fx can trace; layers feeding residual adds keep their width.
"""
from __future__ import annotations

import importlib

from harness.core.errors import UsageError

EXAMPLES: dict[str, str] = {
    "digits": "harness.examples.digits.model:make_example",
    "resnet18": "harness.examples.resnet18.model:make_example",
    "minilm": "harness.examples.minilm.model:make_example",
}
# the architecture zoo of `harness sweep` (examples/zoo): five digits families and MiniLM
from harness.examples.zoo import ZOO as _ZOO  # noqa: E402  (a plain dict of names; imports nothing heavy)

EXAMPLES.update(_ZOO)


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
