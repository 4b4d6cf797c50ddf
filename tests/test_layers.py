"""The layering is one-way: every module's imports (module-level and inside functions) point down the stack.

    core  <-  device_profiles, runtimes, store, examples, exporters  <-  reports  <-  engine  <-  commands/CLI

Within the second layer only exporters may import runtimes (the TensorRT plan and CUDA buffers live in
runtimes); the other packages of that layer import core only. The old top-level import names (exporters,
reports, ...) are gone: everything installs under `harness.`.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder on disk -> import name of its package (pyproject.toml maps the design card's folders under harness.)
PACKAGE_DIRS = {"harness": "harness", "exporters": "harness.exporters", "device_profiles": "harness.device_profiles",
                "reports": "harness.reports", "examples": "harness.examples"}
OLD_TOP_LEVEL = {"exporters", "device_profiles", "reports", "examples"}

# (layer rank, group); a module may import its own group, any lower rank, and the extra edges below
GROUPS = {
    "harness.core": (0, "core"),
    "harness.device_profiles": (1, "device_profiles"),
    "harness.runtimes": (1, "runtimes"),
    "harness.store": (1, "store"),
    "harness.examples": (1, "examples"),
    "harness.exporters": (1, "exporters"),
    "harness.reports": (2, "reports"),
    # predict/recommend read stored measurements and a stored predictor (the dashboard's Recommend tab uses them);
    # only the sweep, which runs benches, and the sizing, which exports and rebuilds examples, sit with the engine
    "harness.meta": (2, "meta"), "harness.meta.sweep": (3, "engine"), "harness.meta.sizing": (3, "engine"),
    "harness.engine": (3, "engine"), "harness.plan": (3, "engine"), "harness.worker": (3, "engine"),
    "harness.timing": (3, "engine"), "harness.quality": (3, "engine"), "harness.inputs": (3, "engine"),
    "harness.layers": (3, "engine"), "harness.environment": (3, "engine"), "harness.regress": (3, "engine"),
    "harness.fleet": (3, "engine"),
    "harness.user_inputs": (3, "engine"), "harness.onnx_model": (3, "engine"),
    "harness.scenarios": (3, "engine"),     # LoadGen scenarios, run inside the worker
    "harness.commands": (4, "commands"), "harness.cli": (4, "commands"), "harness.__main__": (4, "commands"),
    # the earlier tools' file formats (read into / written from the store), and what builds on them
    "harness.interop": (2, "interop"),
    "harness.monitor": (3, "engine"), "harness.monitor_bench": (3, "engine"), "harness.activations": (3, "engine"),
    # the per-layer profile's parent side: matching kernels to the root's layers, the per-layer error (it runs
    # both graphs through harness.activations); the profilers themselves run in the worker (harness.runtimes)
    "harness.profiling": (3, "engine"),
}
# exporters build TensorRT plans with the runtimes' helpers; the dashboard's Recommend tab asks harness.meta
EXTRA_EDGES = {("exporters", "runtimes"), ("reports", "meta")}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    parts[0] = PACKAGE_DIRS[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for folder in PACKAGE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, with its line, at any depth (function-level imports count too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # `from harness import engine` imports harness.engine
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names] if target in (
                "harness", "harness.core", "harness.store", "harness.runtimes") else [(node.lineno, target)]
    return out


def group_of(module: str) -> tuple[int, str] | None:
    best = None
    for prefix, group in GROUPS.items():
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, group)
    return best[1] if best else None


def test_every_module_has_a_layer():
    unplaced = [m for m in modules() if m != "harness" and group_of(m) is None]
    assert not unplaced, f"modules outside every layer (add them to GROUPS): {unplaced}"


def test_imports_point_down_the_layers():
    violations = []
    for name, path in modules().items():
        mine = group_of(name)
        for line, target in imports_of(name, path):
            if target.split(".")[0] in OLD_TOP_LEVEL:
                violations.append(f"{path.relative_to(ROOT)}:{line} imports old top-level name {target}")
                continue
            if not target.startswith("harness") or target in ("harness", "harness.__version__"):
                continue
            theirs = group_of(target)
            if mine is None or theirs is None or theirs[1] == mine[1]:
                continue
            if theirs[0] < mine[0] or (mine[1], theirs[1]) in EXTRA_EDGES:
                continue
            violations.append(f"{path.relative_to(ROOT)}:{line} ({mine[1]}) imports {target} ({theirs[1]})")
    assert not violations, "imports against the layer order:\n" + "\n".join(violations)


def test_core_imports_only_core_and_third_party():
    for name, path in modules().items():
        if not name.startswith("harness.core"):
            continue
        for line, target in imports_of(name, path):
            assert not target.startswith("harness") or target.startswith("harness.core"), (path, line, target)


@pytest.mark.parametrize("name", ["harness.exporters.fp32", "harness.reports.metrics", "harness.examples.base",
                                  "harness.device_profiles.cpu", "harness.runtimes.tensorrt_plan"])
def test_mapped_packages_import_under_the_harness_namespace(name):
    import importlib

    mod = importlib.import_module(name)
    assert mod.__name__ == name


def test_every_package_is_declared_for_installation():
    """A non-editable `pip install .` installs only the packages pyproject.toml lists: a folder with an
    __init__.py that is missing there imports from a checkout but not from a wheel."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {module_name(init) for folder in PACKAGE_DIRS for init in (ROOT / folder).rglob("__init__.py")}
    assert not on_disk - declared, f"packages missing from pyproject.toml: {sorted(on_disk - declared)}"
    assert not declared - on_disk, f"declared packages with no folder: {sorted(declared - on_disk)}"
