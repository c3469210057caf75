"""Concurrency limiters: how many requests may be on the wire at once.

Maxxton allows at most 15 concurrent calls per IP (guide, "API Pricing": "The number of
concurrent calls is limited to the maximum number per IP, by default this is 15"). A
:class:`Limiter` hands out *slots*; the client holds one only while a request is on the
wire, never while it waits for a token or sleeps before a retry.

:class:`LocalLimiter` caps one process. ``maxxton_async.RedisLimiter`` (extra ``redis``)
caps every process and host that shares one egress IP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["Limiter", "LimiterStatistics", "LocalLimiter"]


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    """A point-in-time view of a limiter.

    Attributes:
        capacity: the most slots that may be held at once.
        in_flight: slots held now (by this process, for shared limiters).
        waiting: tasks of this process waiting for a slot.
        peak_in_flight: the most slots this process held at once since creation.
    """

    capacity: int
    in_flight: int
    waiting: int
    peak_in_flight: int


@runtime_checkable
class Limiter(Protocol):
    """What the client needs from a concurrency limiter.

    ``slot()`` returns an async context manager; the slot is held for the body of the
    ``async with`` and given back on exit, whether the body raised or not.
    """

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once."""
        ...

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for a free slot and hold it for the ``async with`` body."""
        ...

    def statistics(self) -> LimiterStatistics:
        """Return in-flight, waiting and peak counts (no I/O)."""
        ...

    async def aclose(self) -> None:
        """Release resources (connections, background tasks). Idempotent."""
        ...


class LocalLimiter:
    """An in-process cap built on :class:`anyio.CapacityLimiter`.

    Waiters are served first come, first served, so no caller starves under load.

    Args:
        capacity: slots available at once; Maxxton's per-IP default is 15.
    """

    def __init__(self, capacity: int = 15) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._limiter: anyio.CapacityLimiter | None = None
        self._peak = 0

    def __repr__(self) -> str:
        s = self.statistics()
        return f"<LocalLimiter capacity={s.capacity} in_flight={s.in_flight} waiting={s.waiting}>"

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once."""
        return self._capacity

    def _get(self) -> anyio.CapacityLimiter:
        # Created lazily: a CapacityLimiter binds to the event loop that first uses it,
        # and clients are often constructed outside any loop.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._capacity)
        return self._limiter

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        limiter = self._get()
        # A fresh borrower object per slot: one task may hold several slots at once
        # (e.g. a paginator's look-ahead), which anyio forbids for the same borrower.
        borrower = object()
        await limiter.acquire_on_behalf_of(borrower)
        try:
            held = int(limiter.borrowed_tokens)
            if held > self._peak:
                self._peak = held
            yield
        finally:
            limiter.release_on_behalf_of(borrower)

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for a free slot and hold it for the ``async with`` body."""
        return self._slot()

    def statistics(self) -> LimiterStatistics:
        """Return in-flight, waiting and peak counts."""
        if self._limiter is None:
            return LimiterStatistics(self._capacity, 0, 0, self._peak)
        st = self._limiter.statistics()
        return LimiterStatistics(
            capacity=self._capacity,
            in_flight=st.borrowed_tokens,
            waiting=st.tasks_waiting,
            peak_in_flight=self._peak,
        )

    async def aclose(self) -> None:
        """Nothing to release; present for the :class:`Limiter` protocol."""
