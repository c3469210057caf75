"""The package reads top to bottom: no module imports from a layer above its own.

The layers, drawn in ``docs/architecture.md`` ("The modules"), bottom first:

0. foundations: errors, version, logging, filters, retry rules, the models;
1. the send path's parts and the stores: transport, the secret scrubber, auth, limiters,
   ledgers, budget, usage, pacing, observers, the endpoint catalogue, pagination,
   checkpoints;
2. the client, its resource namespaces and the batch lookup they share (they know each
   other, and nothing above);
3. features built on the namespaces: event sync, harvest, price indexes, index sync,
   webhooks, OpenTelemetry;
4. what applications and tools touch first: the package's top level, the public re-export
   modules, the sandbox, the CLI.

The edges are read from the source (``import`` and ``from … import`` anywhere in a module,
lazy and ``TYPE_CHECKING`` ones included): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "maxxton_async"

LAYERS: dict[int, set[str]] = {
    0: {
        "_errors",
        "_version",
        "_logs",
        "_filters",
        "_retry",
        "models",
    },
    1: {
        "_transport",
        "_secrets",
        "_pyreqwest",
        "_auth",
        "_limits",
        "_redis_limiter",
        "_ledger",
        "_budget",
        "_usage",
        "_sqlite",
        "_redis",
        "_pacing",
        "_observe",
        "_endpoints",
        "_pagination",
        "_checkpoint",
        "_speed",
        "_settings",
    },
    2: {"_client", "resources", "_lookup"},
    3: {
        "events",
        "harvest",
        "_harvest_plan",
        "_harvest_sinks",
        "_pg_index",
        "index_sync",
        "webhooks",
        "otel",
    },
    4: {
        "",  # the package's __init__
        "__main__",
        "auth",
        "limits",
        "pagination",
        "transport",
        "usage",
        "testing",
        "sandbox",
        "cli",
    },
}


def _modules() -> dict[str, Path]:
    """Dotted names relative to the package (``""`` is the package itself)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _layer(module: str) -> int:
    top = module.split(".")[0]
    for number, names in LAYERS.items():
        if top in names:
            return number
    raise AssertionError(f"maxxton_async.{module} is in no layer: add it to LAYERS")


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif (node.module or "").startswith("maxxton_async"):
                target = node.module.removeprefix("maxxton_async").lstrip(".")  # type: ignore[union-attr]
            else:
                continue
            # ``from . import resources`` depends on the submodule; ``from ._x import y`` on
            # the module ``_x``.
            subs = [f"{target}.{a.name}".lstrip(".") for a in node.names]
            names = [n for n in subs if n in known] or [target]
        elif isinstance(node, ast.Import):
            names = [
                a.name.removeprefix("maxxton_async").lstrip(".")
                for a in node.names
                if a.name.startswith("maxxton_async")
            ]
        found.update(n for n in names if n in known and n != module)
    return found


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_no_module_imports_from_a_higher_layer() -> None:
    modules = _modules()
    upward = []
    edges = 0
    for module, path in modules.items():
        for target in _imports(module, path, set(modules)):
            edges += 1
            if _layer(target) > _layer(module):
                upward.append(f"{module or 'maxxton_async'} (layer {_layer(module)}) imports "
                              f"{target} (layer {_layer(target)})")  # fmt: skip
    assert edges > 100  # the graph was read, not silently empty
    assert upward == []


@pytest.mark.parametrize(
    ("module", "target"),
    [("_ledger", "_client"), ("resources._events", "events"), ("_client", "harvest")],
)
def test_the_check_sees_an_upward_edge(module: str, target: str) -> None:
    # The rule itself: these would be upward edges, so the check above can fail.
    assert _layer(target) > _layer(module)
