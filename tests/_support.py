"""Test helpers shared across files: a loopback client, injected time, exception chains."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
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
