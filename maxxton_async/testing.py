"""Test helpers: start a sandbox in your own tests in two lines.

With pytest (and pytest-asyncio)::

    from maxxton_async.testing import sandbox_fixture

    sandbox = sandbox_fixture(seed=1, latency=0.01)   # a fixture named "sandbox"

    async def test_my_sync(sandbox):
        async with sandbox.client() as client:   # the sandbox's URL and credentials
            ...

Without pytest::

    async with sandbox(seed=1) as sb, sb.client() as client:
        ...

``sb.client()`` counts usage in a :class:`~maxxton_async.MemoryLedger` unless given
``ledger=``, so sandbox runs never land in the durable default ledger (the one real calls
are counted in). A client built by hand with ``base_url=sb.base_url`` and no ``ledger=``
counts into that default like any other client.

pytest is imported only when :func:`sandbox_fixture` is called, so importing this module never
needs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from .sandbox import Faults, Sandbox, SandboxSize

__all__ = ["Faults", "Sandbox", "SandboxSize", "sandbox", "sandbox_fixture"]


def sandbox(**kwargs: Any) -> Sandbox:
    """A :class:`Sandbox` to use as ``async with sandbox(...) as sb`` (same arguments)."""
    return Sandbox(**kwargs)


def sandbox_fixture(*, name: str | None = None, **kwargs: Any) -> Callable[..., Any]:
    """A pytest-asyncio fixture yielding a started :class:`Sandbox` built with ``kwargs``.

    Assign it to a module-level name (that name becomes the fixture's name) or pass ``name``.
    Each test gets a fresh sandbox (function scope), so counters and data never leak.
    """
    import pytest_asyncio

    async def _sandbox() -> AsyncIterator[Sandbox]:
        async with Sandbox(**kwargs) as sb:
            yield sb

    fixture: Callable[..., Any] = (
        pytest_asyncio.fixture(name=name)(_sandbox)
        if name is not None
        else pytest_asyncio.fixture(_sandbox)
    )
    return fixture
