"""Test helpers shared across files: a loopback client, injected time, bounded waits on a
condition, exception chains."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from maxxton_async import MaxxtonClient, MemoryLedger, RetryPolicy

FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.002)


def make(base_url: str, creds: dict[str, str], **kw: Any) -> MaxxtonClient:
    """A client on loopback with fast retries and a memory ledger unless told otherwise."""
    kw.setdefault("retry", FAST)
    kw.setdefault("ledger", MemoryLedger())
    return MaxxtonClient(**creds, base_url=base_url, **kw)


class FakeTime:
    """An injected clock and sleep: backoffs and cool-downs pass without waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def wait_until(
    predicate: Callable[[], object], limit: float = 10.0, what: str = "the condition"
) -> None:
    """Wait until ``predicate()`` is true, polling every 5 ms for at most ``limit`` seconds.

    A readiness wait, never a timing assertion: the deadline only bounds a test that fails.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"{what} was not reached within {limit} s")
        await asyncio.sleep(0.005)


async def settle(turns: int = 30) -> None:
    """Let ready callbacks run (no wall-clock wait)."""
    for _ in range(turns):
        await asyncio.sleep(0)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend(x for x in (e.__cause__, e.__context__) if x is not None)
        stack.extend(getattr(e, "exceptions", ()))
