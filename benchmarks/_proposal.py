"""A proposed in-process limiter, measured beside ``LocalLimiter`` (not used by the SDK).

``LocalLimiter`` wraps ``anyio.CapacityLimiter``: each acquisition creates a borrower object,
enters an ``asynccontextmanager`` generator and, even when a slot is free, passes through
anyio's shielded checkpoint (one extra event-loop pass); ``statistics()`` copies the set of
borrowers. This limiter keeps the same contract (FIFO waiters, one task may hold several
slots, counts without I/O) on an ``asyncio.Semaphore`` and two integers, so the benchmarks
can show what switching would buy, side by side in one run.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from maxxton_async._limits import LimiterStatistics

__all__ = ["SemaphoreLimiter"]


class _Slot:
    __slots__ = ("_limiter",)

    def __init__(self, limiter: SemaphoreLimiter) -> None:
        self._limiter = limiter

    async def __aenter__(self) -> None:
        lim = self._limiter
        lim._waiting += 1
        try:
            await lim._semaphore.acquire()
        finally:
            lim._waiting -= 1
        lim._held += 1
        if lim._held > lim._peak:
            lim._peak = lim._held

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lim = self._limiter
        lim._held -= 1
        lim._semaphore.release()


class SemaphoreLimiter:
    """``LocalLimiter``'s contract on ``asyncio.Semaphore`` (FIFO since Python 3.11.1)."""

    def __init__(self, capacity: int = 15) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._semaphore = asyncio.Semaphore(capacity)
        self._held = 0
        self._waiting = 0
        self._peak = 0

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once."""
        return self._capacity

    def slot(self) -> _Slot:
        """Wait for a free slot and hold it for the ``async with`` body."""
        return _Slot(self)

    def statistics(self) -> LimiterStatistics:
        """In-flight, waiting and peak counts (plain integers, no copies)."""
        return LimiterStatistics(self._capacity, self._held, self._waiting, self._peak)

    async def aclose(self) -> None:
        """Nothing to release."""
