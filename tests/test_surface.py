"""The public surface is honest: the exception tree drawn in ``_errors``'s docstring is the
real one, and ``__all__`` lists exactly what each public module exports (httpx's
``tests/test_exported_members.py`` is the model)."""

from __future__ import annotations

import builtins
import importlib
import inspect
import re

import pytest

import maxxton_async
from maxxton_async import MaxxtonError, _errors

PUBLIC_MODULES = [
    "maxxton_async",
    "maxxton_async.transport",
    "maxxton_async.limits",
    "maxxton_async.models",
    "maxxton_async.events",
    "maxxton_async.harvest",
    "maxxton_async.webhooks",
    "maxxton_async.testing",
    "maxxton_async.usage",
    "maxxton_async.auth",
    "maxxton_async.pagination",
    "maxxton_async.index_sync",
    "maxxton_async.otel",
]


def drawn_tree() -> dict[str, str]:
    """``{class name: parent name}`` as the module docstring draws it."""
    doc = _errors.__doc__ or ""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        m = re.match(r"^(\s*)(?:[│ ]*)(?:├──|└──)\s+(\w+)", line)
        root = re.match(r"^\s{4}(MaxxtonError)\s*$", line)
        if root:
            stack = [(-1, "MaxxtonError")]
            continue
        if not m:
            continue
        depth = line.index(m.group(2))
        name = m.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_the_drawn_exception_tree_is_the_real_one() -> None:
    drawn = drawn_tree()
    real = {
        name: cls
        for name, cls in vars(_errors).items()
        if inspect.isclass(cls)
        and issubclass(cls, MaxxtonError)
        and cls is not MaxxtonError
        and name == cls.__name__
    }
    assert set(drawn) == set(real), set(drawn) ^ set(real)
    for name, cls in real.items():
        family = [b for b in cls.__bases__ if issubclass(b, MaxxtonError)]
        assert [b.__name__ for b in family] == [drawn[name]], name


def test_the_timeout_error_is_a_builtin_timeout_error_under_its_own_name() -> None:
    assert issubclass(maxxton_async.RequestTimeoutError, builtins.TimeoutError)
    assert maxxton_async.RequestTimeoutError.__name__ != "TimeoutError"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_the_public_members(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert len(exported) == len(module.__all__), "duplicates in __all__"
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names {member!r}, which is missing"
    # Every public class or function defined in the module itself is listed.
    defined = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", None) == name
    }
    assert defined <= exported, sorted(defined - exported)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_is_documented(name: str) -> None:
    module = importlib.import_module(name)
    missing = [
        member
        for member in module.__all__
        if (inspect.isclass(getattr(module, member)) or inspect.isfunction(getattr(module, member)))
        and not (getattr(module, member).__doc__ or "").strip()
    ]
    assert missing == []


def test_statistics_is_the_one_name_for_counters() -> None:
    import datetime as dt

    from maxxton_async import EventSync, Harvest, MaxxtonClient, MemoryLedger
    from maxxton_async.events import MemoryCheckpointStore

    client = MaxxtonClient("a", "b", "c", ledger=MemoryLedger())
    sync = EventSync(client, MemoryCheckpointStore())
    harvest = Harvest(
        client, arrival_from=dt.date(2027, 1, 1), arrival_to=dt.date(2027, 1, 31), durations=[7]
    )
    assert sync.statistics().passes == 0
    assert harvest.statistics().peak_held_chunks == 0
    assert client.statistics().requests_sent == 0
    # One name for counters everywhere: no ``stats`` beside ``statistics()``.
    from maxxton_async import IndexSync, PostgresPriceIndex, SQLitePriceIndex
    from maxxton_async.sandbox import Sandbox

    for cls in (EventSync, Harvest, IndexSync, SQLitePriceIndex, PostgresPriceIndex, Sandbox):
        assert callable(getattr(cls, "statistics", None)), cls
        assert not hasattr(cls, "stats"), cls
    assert not hasattr(sync, "stats")
    assert not hasattr(harvest, "stats")
