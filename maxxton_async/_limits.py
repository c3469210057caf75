"""Concurrency limiters: how many requests may be on the wire at once.

Maxxton allows at most 15 concurrent calls per IP (guide, "API Pricing": "The number of
concurrent calls is limited to the maximum number per IP, by default this is 15"). A
:class:`Limiter` hands out *slots*; the client holds one only while a request is on the
wire, never while it waits for a token or sleeps before a retry.

:class:`LocalLimiter` caps one process (:class:`AnyioLimiter` too, on anyio).
``maxxton_async.RedisLimiter`` (extra ``redis``) caps every process and host that shares
one egress IP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["AnyioLimiter", "Limiter", "LimiterStatistics", "LocalLimiter"]


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

    The client takes a permit with :meth:`acquire` and hands it back with :meth:`release`
    from wherever the exchange ends: a caller cancelled while its request is on the wire
    returns at once, but its slot is released only when the server has answered (the
    cap is what the server counts), so acquiring and releasing are separate calls.
    ``slot()`` is the same pair as an async context manager, for user code.
    """

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once."""
        ...

    async def acquire(self) -> object:
        """Wait for a free slot and return its permit.

        Cancel-safe: when cancelled (or failing) it raises holding nothing.
        """
        ...

    def release(self, permit: object) -> None:
        """Give a permit back. Never waits: any I/O happens in the background."""
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


class _SlotContext:
    """``async with limiter.slot():`` without a generator frame per request (hot path)."""

    __slots__ = ("_acquire", "_release")

    def __init__(self, acquire: Callable[[], Awaitable[None]], release: Callable[[], None]) -> None:
        self._acquire = acquire
        self._release = release

    async def __aenter__(self) -> None:
        await self._acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()


#: The permit of an in-process limiter: slots are interchangeable, so one object serves.
_LOCAL_PERMIT: object = object()


class LocalLimiter:
    """An in-process cap: a first-come, first-served :class:`asyncio.Semaphore`.

    Waiters are served in arrival order, so no caller starves under load.

    Why not :class:`anyio.CapacityLimiter` (which DESIGN.md first named): it checkpoints
    twice on every acquire, yielding to the event loop even when a slot is free. Measured
    on the 2-core benchmark machine: 9.8 µs per acquire/release against 1.1 µs for the
    semaphore, which cost the SDK 0.95x of a hand-written client's throughput at 2 ms
    latency and 1.31x its CPU per request (``benchmarks/results.md``).
    :class:`AnyioLimiter` keeps the CapacityLimiter for code that wants to share one
    limiter with anyio primitives.

    Args:
        capacity: slots available at once; Maxxton's per-IP default is 15.
    """

    def __init__(self, capacity: int = 15) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        self._semaphore = asyncio.Semaphore(capacity)
        self._in_flight = 0
        self._waiting = 0
        self._peak = 0
        self._context = _SlotContext(self._acquire, self._release)

    def __repr__(self) -> str:
        return (
            f"<LocalLimiter capacity={self._capacity} in_flight={self._in_flight} "
            f"waiting={self._waiting}>"
        )

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once."""
        return self._capacity

    async def _acquire(self) -> None:
        semaphore = self._semaphore
        if semaphore.locked():
            self._waiting += 1
            try:
                await semaphore.acquire()
            finally:
                self._waiting -= 1
        else:
            await semaphore.acquire()
        self._in_flight += 1
        if self._in_flight > self._peak:
            self._peak = self._in_flight

    def _release(self) -> None:
        self._in_flight -= 1
        self._semaphore.release()

    async def acquire(self) -> object:
        """Wait for a free slot (first come, first served); return its permit."""
        await self._acquire()
        return _LOCAL_PERMIT

    def release(self, permit: object) -> None:
        """Give a slot back."""
        self._release()

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for a free slot and hold it for the ``async with`` body."""
        return self._context

    def statistics(self) -> LimiterStatistics:
        """Return in-flight, waiting and peak counts."""
        return LimiterStatistics(self._capacity, self._in_flight, self._waiting, self._peak)

    async def aclose(self) -> None:
        """Nothing to release; present for the :class:`Limiter` protocol."""


class AnyioLimiter:
    """An in-process cap on :class:`anyio.CapacityLimiter` (slower; see :class:`LocalLimiter`).

    Pass an existing limiter to share one cap with other anyio-based code.

    Args:
        capacity: slots available at once (ignored when ``limiter`` is given).
        limiter: an existing :class:`anyio.CapacityLimiter` to draw slots from.
    """

    def __init__(self, capacity: int = 15, *, limiter: anyio.CapacityLimiter | None = None) -> None:
        if limiter is None and capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._limiter = limiter
        self._capacity = int(limiter.total_tokens) if limiter is not None else capacity
        self._peak = 0

    def __repr__(self) -> str:
        s = self.statistics()
        return f"<AnyioLimiter capacity={s.capacity} in_flight={s.in_flight} waiting={s.waiting}>"

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once."""
        return self._capacity

    def _get(self) -> anyio.CapacityLimiter:
        # Created lazily: it must be made inside a running event loop.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._capacity)
        return self._limiter

    async def acquire(self) -> object:
        """Wait for a free slot; the permit is the borrower that holds it."""
        limiter = self._get()
        # A fresh borrower per slot: one task may hold several slots at once (a
        # paginator's look-ahead), which anyio forbids for a single borrower.
        borrower = object()
        await limiter.acquire_on_behalf_of(borrower)
        held = int(limiter.borrowed_tokens)
        if held > self._peak:
            self._peak = held
        return borrower

    def release(self, permit: object) -> None:
        """Give the borrower's slot back."""
        self._get().release_on_behalf_of(permit)

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        permit = await self.acquire()
        try:
            yield
        finally:
            self.release(permit)

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
