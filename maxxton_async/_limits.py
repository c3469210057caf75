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
import collections
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, runtime_checkable

import anyio

__all__ = [
    "AdaptiveCap",
    "AdaptiveLimiter",
    "AnyioLimiter",
    "Limiter",
    "LimiterStatistics",
    "LocalLimiter",
]


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    """A point-in-time view of a limiter.

    Attributes:
        capacity: the most slots that may be held at once.
        in_flight: slots held now (by this process, for shared limiters).
        waiting: tasks of this process waiting for a slot.
        peak_in_flight: the most slots this process held at once since creation.
        effective_capacity: the cap in force now (lower than ``capacity`` after the
            server's 429s, for adaptive limiters); ``None`` means ``capacity``.
    """

    capacity: int
    in_flight: int
    waiting: int
    peak_in_flight: int
    effective_capacity: int | None = None


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


@runtime_checkable
class AdaptiveLimiter(Limiter, Protocol):
    """A :class:`Limiter` that adapts its cap to the server's answers."""

    def throttled(self, permit: object = None) -> None:
        """The server answered 429 to the attempt that holds ``permit`` (``None``: unknown)."""
        ...

    def succeeded(self) -> None:
        """The server answered something else."""
        ...


class _SlotContext:
    """``async with limiter.slot():`` without a generator frame per request (hot path)."""

    __slots__ = ("_acquire", "_release")

    def __init__(
        self, acquire: Callable[[], Awaitable[object]], release: Callable[[], None]
    ) -> None:
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


class AdaptiveCap:
    """Additive increase, multiplicative decrease of the cap, on the server's 429s.

    Other software behind the same IP may hold some of Maxxton's 15 slots. A 429 while we
    hold fewer than our cap means the real cap is lower: the effective cap drops to
    ``decrease`` times what was in flight, rounded up but at least one below it (and at
    least 1), once per window: 429s answering requests sent before the drop do not drop it
    again, while one answering a request sent since does, at once. It then grows by one slot
    for every ``increase_every`` answers that were not 429, back up to the configured cap;
    the step back to the level that met the last 429 takes ``PROBE_FACTOR`` times as many
    (that probe costs a 429 whenever the other software still holds its slots). botocore's
    adaptive retry mode is the model; this one adapts concurrency, not rate.

    Pure bookkeeping (no I/O, no clock): :class:`LocalLimiter` applies it in-process, and
    a fleet limiter can keep the same figures in Redis.

    Args:
        ceiling: the configured cap (the effective cap never exceeds it).
        decrease: the factor applied on a 429 (0 < decrease < 1).
        increase_every: answers without 429 per slot of growth.
    """

    #: How many times ``increase_every`` the step back to the level of the last 429 takes.
    PROBE_FACTOR = 4

    def __init__(self, ceiling: int, *, decrease: float = 0.85, increase_every: int = 200) -> None:
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be between 0 and 1, got {decrease}")
        if increase_every < 1:
            raise ValueError(f"increase_every must be at least 1, got {increase_every}")
        self.ceiling = ceiling
        self.decrease = decrease
        self.increase_every = increase_every
        self.cap = ceiling
        self._good = 0
        # Answers still due for requests that were on the wire at the last drop: their
        # 429s say nothing new, so they do not drop the cap again.
        self._due = 0
        self._failed = ceiling + 1  # in flight at the last drop (the level that met a 429)
        self.decreases = 0

    def __repr__(self) -> str:
        return f"<AdaptiveCap {self.cap}/{self.ceiling}>"

    def throttled(self, in_flight: int, *, sent_at: int | None = None) -> int:
        """A 429 arrived while ``in_flight`` requests (its own included) were held.

        ``sent_at`` is what :attr:`decreases` was when the refused request took its slot,
        for a limiter that keeps it per request: sent before the last drop, the 429 says
        nothing new; sent since, it says the cap is still too high. Without it the window
        is counted instead: the next ``in_flight - 1`` answers are taken as sent before
        the drop (which also swallows the 429s of requests sent after it, so the cap
        comes down more slowly: measured 31-35 refusals to settle 15 -> 10, against 12
        with ``sent_at``).
        """
        if sent_at is not None:
            if sent_at < self.decreases:
                return self.cap  # sent before the last drop: already accounted for
        elif self._due > 0:
            self._due -= 1  # sent before the last drop: already accounted for
            return self.cap
        # Rounded up, and at least one below what was in flight: rounding down dropped two
        # slots at once near Maxxton's caps (11 x 0.85 -> 9 when 10 fit), so the cap spent
        # half of every probing cycle a slot below the real one.
        lower = min(in_flight - 1, math.ceil(in_flight * self.decrease - 1e-9))
        self.cap = max(1, min(self.cap, lower))
        self._good = 0
        self._due = 0 if sent_at is not None else in_flight - 1
        self._failed = in_flight
        self.decreases += 1
        return self.cap

    def succeeded(self) -> int:
        """An answer that was not 429; the new cap."""
        if self._due > 0:
            self._due -= 1
        if self.cap < self.ceiling:
            self._good += 1
            every = self.increase_every
            if self.cap + 1 == self._failed:
                every *= self.PROBE_FACTOR
            if self._good >= every:
                self._good = 0
                self.cap += 1
        return self.cap


class LocalLimiter:
    """An in-process cap: first come, first served, optionally adaptive.

    Waiters are served in arrival order, so no caller starves under load. With
    ``adaptive`` (the default) the effective cap follows the server's 429s
    (:class:`AdaptiveCap`); :meth:`statistics` reports it.

    Why not :class:`anyio.CapacityLimiter`: it checkpoints twice on every acquire,
    yielding to the event loop even when a slot is free (measured on the 2-core benchmark
    machine: 9.8 µs per acquire/release against about 1 µs here).
    :class:`AnyioLimiter` keeps the CapacityLimiter for code that wants to share one
    limiter with anyio primitives.

    Args:
        capacity: slots available at once; Maxxton's per-IP default is 15.
        adaptive: lower the cap on 429s and grow it back (``True``, the default), or an
            :class:`AdaptiveCap` with other settings, or ``False`` for a fixed cap.
    """

    def __init__(self, capacity: int = 15, *, adaptive: bool | AdaptiveCap = True) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        if adaptive is True:
            adaptive = AdaptiveCap(capacity)
        self._adaptive: AdaptiveCap | None = adaptive or None
        self._limit = capacity if self._adaptive is None else self._adaptive.cap
        # The permit a call takes: when adaptive, the number of drops so far, so that a 429
        # can tell whether its request went out before the last drop (see throttled()).
        self._permit: object = _LOCAL_PERMIT if self._adaptive is None else self._adaptive.decreases
        self._in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._peak = 0
        self._context = _SlotContext(self.acquire, self._release)

    def __repr__(self) -> str:
        return (
            f"<LocalLimiter capacity={self._capacity} effective={self._limit} "
            f"in_flight={self._in_flight} waiting={len(self._waiters)}>"
        )

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once."""
        return self._capacity

    @property
    def adaptive(self) -> AdaptiveCap | None:
        """The adaptive cap, or ``None`` for a fixed one."""
        return self._adaptive

    async def acquire(self) -> object:
        """Wait for a free slot (first come, first served); return its permit."""
        # One frame, no helper: a pending call's memory is mostly its frames.
        if self._in_flight < self._limit and not self._waiters:
            self._in_flight += 1
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # Granted and cancelled in the same turn: pass the slot on.
                    self._in_flight -= 1
                    self._wake()
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                raise
        if self._in_flight > self._peak:
            self._peak = self._in_flight
        return self._permit

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self._in_flight < self._limit:
            waiter = waiters.popleft()
            if not waiter.done():
                self._in_flight += 1  # counted for the waiter, before it runs
                waiter.set_result(None)

    def _release(self) -> None:
        self._in_flight -= 1
        if self._waiters:
            self._wake()

    def release(self, permit: object) -> None:
        """Give a slot back."""
        self._release()

    def throttled(self, permit: object = None) -> None:
        """The server answered 429 to the attempt holding ``permit``: lower the effective
        cap (when adaptive), unless that attempt went out before the last drop."""
        adaptive = self._adaptive
        if adaptive is not None:
            # Called while the attempt that got the 429 still holds its slot.
            self._limit = adaptive.throttled(
                min(self._limit, self._in_flight),
                sent_at=permit if type(permit) is int else None,
            )
            self._permit = adaptive.decreases

    def succeeded(self) -> None:
        """An answer that was not 429: let the effective cap grow back (when adaptive)."""
        adaptive = self._adaptive
        if adaptive is not None and self._limit < self._capacity:
            self._limit = adaptive.succeeded()
            if self._waiters:
                self._wake()

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for a free slot and hold it for the ``async with`` body."""
        return self._context

    def statistics(self) -> LimiterStatistics:
        """Return in-flight, waiting, peak counts and the effective cap."""
        return LimiterStatistics(
            self._capacity, self._in_flight, len(self._waiters), self._peak, self._limit
        )

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
