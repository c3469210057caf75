"""Usage ledgers: durable counters of every billed HTTP attempt.

Maxxton bills per request (guide, "API Pricing"), token calls and retries included, so the
client counts every attempt in a :class:`Ledger` before it reaches the wire. Here: the
protocols, the group-commit write path the durable stores share (:class:`WriteBehind`,
:class:`WriteBehindLedger`), and :class:`MemoryLedger` (tests, one process). The durable
stores live beside their engines: ``SQLiteLedger`` (the embedded default, ``_sqlite.py``)
and ``RedisLedger`` (fleets, ``_redis.py``).

A hard budget must send nothing once spent, even when several processes share one
ledger. Reading the count and then recording would let every process that read "one
left" send, so ledgers that can do better implement :class:`BoundedLedger`: one atomic
check-and-increment (a ``BEGIN IMMEDIATE`` transaction in SQLite, a Lua script in Redis).
"""

from __future__ import annotations

import abc
import asyncio
import enum
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from ._errors import LedgerUnavailableError

__all__ = [
    "BatchKey",
    "BoundedLedger",
    "DayUsage",
    "DeferredLedger",
    "Ledger",
    "MemoryLedger",
    "TotalsKey",
    "UsageCounts",
    "UsageKind",
    "WriteBehind",
    "WriteBehindLedger",
    "month_key",
    "usage_days",
    "utc_now",
]

logger = logging.getLogger("maxxton_async.usage")


def utc_now() -> datetime:
    """The default clock: an aware UTC datetime."""
    return datetime.now(UTC)


class UsageKind(enum.StrEnum):
    """What an HTTP attempt was for. Every kind is a billed request."""

    CALL = "call"
    """A first attempt of an API call."""
    RETRY = "retry"
    """A repeated attempt (retry policy, 401 replay, or aiohttp's own resend)."""
    TOKEN = "token"
    """A ``POST /maxxton/v2/authenticate``."""


@dataclass(frozen=True, slots=True)
class UsageCounts:
    """Requests counted for one scope and environment.

    Attributes:
        day: all kinds, on the given UTC day.
        month: all kinds, in that day's calendar month.
    """

    day: int
    month: int


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One UTC day of usage, by kind."""

    day: date
    calls: int = 0
    retries: int = 0
    tokens: int = 0

    @property
    def total(self) -> int:
        """All requests of the day."""
        return self.calls + self.retries + self.tokens


def month_key(day: date) -> str:
    """``YYYY-MM`` for the calendar month of ``day``."""
    return f"{day.year:04d}-{day.month:02d}"


@runtime_checkable
class Ledger(Protocol):
    """Durable counters of HTTP attempts, keyed by scope, environment, UTC day and kind.

    Implementations must be exact under concurrent writers of their kind (tasks for
    memory, processes for SQLite, hosts for Redis).
    """

    async def record(
        self, *, scope: str, environment: str, kind: UsageKind, at: datetime, count: int = 1
    ) -> UsageCounts:
        """Add ``count`` attempts at ``at`` (aware UTC) and return the new day/month totals."""
        ...

    async def counts(self, *, scope: str, environment: str, day: date) -> UsageCounts:
        """Return the totals for ``day`` and its month."""
        ...

    async def history(
        self, *, scope: str, environment: str, start: date, end: date
    ) -> list[DayUsage]:
        """Return one :class:`DayUsage` per day from ``start`` to ``end`` inclusive."""
        ...

    async def record_peak(
        self, *, scope: str, environment: str, month: str, in_flight: int
    ) -> None:
        """Raise the month's recorded peak concurrency to ``in_flight`` if higher."""
        ...

    async def peak(self, *, scope: str, environment: str, month: str) -> int:
        """The month's highest recorded concurrency (0 when none)."""
        ...

    async def aclose(self) -> None:
        """Flush and release resources. Idempotent."""
        ...


@runtime_checkable
class BoundedLedger(Ledger, Protocol):
    """A :class:`Ledger` that can check a limit and count in one atomic step.

    Hard budgets use it so that concurrent writers (processes, hosts) cannot overshoot.
    """

    async def record_within(
        self,
        *,
        scope: str,
        environment: str,
        kind: UsageKind,
        at: datetime,
        daily: int,
        monthly: int,
        count: int = 1,
    ) -> tuple[bool, UsageCounts]:
        """Count ``count`` attempts only if both totals stay within ``daily``/``monthly``.

        Returns ``(True, new totals)`` when counted, ``(False, current totals)`` when the
        attempts would exceed a limit (then nothing was counted).
        """
        ...


@runtime_checkable
class DeferredLedger(Ledger, Protocol):
    """A :class:`Ledger` that can count without making the sender wait for the store.

    A durable store costs a thread hop (SQLite) or a round trip (Redis) per statement,
    100 µs or more; grouping every count of one event-loop turn into one write makes the
    per-call cost a dict update plus a share of one transaction. The client awaits the
    returned future before the attempt leaves (count before the wire). Reads
    (``counts``, ``history``) flush first, so they see their own writes.
    """

    def record_later(
        self,
        *,
        scope: str,
        environment: str,
        kind: UsageKind,
        at: datetime,
        count: int = 1,
        on_counted: Callable[[UsageCounts], None] | None = None,
    ) -> asyncio.Future[None]:
        """Queue ``count`` attempts (negative to give back ones that never left).

        Returns a future resolved once they are committed; ``on_counted`` gets the totals.
        Every count queued in one event-loop turn is written by one transaction.
        """
        ...

    async def flush(self) -> None:
        """Write every queued count now."""
        ...


BatchKey = tuple[str, str, date, UsageKind]
TotalsKey = tuple[str, str, date]


class WriteBehind:
    """Aggregates counts in memory and writes them in batches through ``apply``.

    Shared by the durable ledgers. ``apply`` receives ``{(scope, environment, day, kind):
    n}`` and returns the new totals per ``(scope, environment, day)``.

    This is group commit: every count queued during one event-loop turn joins one batch,
    written by one transaction, and :meth:`add` returns a future that resolves when that
    batch is committed. The client awaits it before the attempt goes out, so a process
    killed at any moment may leave counted-but-unsent attempts, never sent-but-uncounted
    ones. When a write fails, the future fails with
    :class:`~maxxton_async.LedgerUnavailableError` (the senders waiting on it do not
    send) and the batch's positive counts are dropped with their sends; give-backs
    (negative counts) are kept for the next write, so the ledger errs on the high side.
    """

    def __init__(
        self, apply: Callable[[dict[BatchKey, int]], Awaitable[dict[TotalsKey, UsageCounts]]]
    ) -> None:
        self._apply = apply
        self._pending: dict[BatchKey, int] = {}
        self._waiter: asyncio.Future[None] | None = None
        # A dict used as an ordered set: one callback per (totals, observer), however
        # many calls were queued with it.
        self._callbacks: dict[tuple[TotalsKey, Callable[[UsageCounts], None]], None] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None

    def add(
        self,
        key: BatchKey,
        count: int,
        on_counted: Callable[[UsageCounts], None] | None,
    ) -> asyncio.Future[None]:
        """Queue ``count`` under ``key``; the future resolves once it is committed."""
        self._pending[key] = self._pending.get(key, 0) + count
        if on_counted is not None:
            self._callbacks[(key[:3], on_counted)] = None
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            waiter.add_done_callback(_retrieve)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._background())
        return waiter

    async def _background(self) -> None:
        try:
            await self.flush()
        except Exception:
            logger.exception("usage ledger write failed")

    async def flush(self) -> None:
        """Write everything queued; raise if the store fails."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # Bounded: each pass writes what was queued when it started; new counts
            # queued meanwhile are picked up by at most a few further passes.
            for _ in range(100):
                if not self._pending:
                    return
                batch, self._pending = self._pending, {}
                waiter, self._waiter = self._waiter, None
                callbacks, self._callbacks = self._callbacks, {}
                batch = {key: n for key, n in batch.items() if n != 0}
                try:
                    totals = await self._apply(batch) if batch else {}
                except BaseException as exc:
                    for key, n in batch.items():
                        if n < 0:
                            self._pending[key] = self._pending.get(key, 0) + n
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(
                            LedgerUnavailableError(
                                f"the usage ledger could not count this attempt "
                                f"({type(exc).__name__}: {exc}); it was not sent"
                            )
                        )
                    raise
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                for tkey, callback in callbacks:
                    counts = totals.get(tkey)
                    if counts is not None:
                        try:
                            callback(counts)
                        except Exception:
                            logger.exception("usage callback failed")

    @property
    def pending(self) -> int:
        """Attempts queued and not yet written."""
        return sum(self._pending.values())


def _retrieve(future: asyncio.Future[None]) -> None:
    # A batch nobody awaits any more (its senders were cancelled) must not log
    # "exception was never retrieved"; the failure is logged once by the flush.
    if not future.cancelled():
        future.exception()


class WriteBehindLedger(abc.ABC):
    """Base of the durable ledgers: everything but the store's own batched write.

    A subclass implements :meth:`_apply` (one transaction or pipeline for a batch of
    counts) and gets :meth:`record`, :meth:`record_later`, :meth:`flush` and
    :attr:`pending` from it, so that SQLite and Redis count the same way.
    """

    def __init__(self) -> None:
        self._behind = WriteBehind(self._apply)

    @abc.abstractmethod
    async def _apply(self, batch: dict[BatchKey, int]) -> dict[TotalsKey, UsageCounts]:
        """Add every count of ``batch`` atomically; return the new totals per day key."""

    async def record(
        self, *, scope: str, environment: str, kind: UsageKind, at: datetime, count: int = 1
    ) -> UsageCounts:
        """Add ``count`` attempts now and return the new day and month totals."""
        day = at.astimezone(UTC).date()
        totals = await self._apply({(scope, environment, day, kind): count})
        return totals[(scope, environment, day)]

    def record_later(
        self,
        *,
        scope: str,
        environment: str,
        kind: UsageKind,
        at: datetime,
        count: int = 1,
        on_counted: Callable[[UsageCounts], None] | None = None,
    ) -> asyncio.Future[None]:
        """Queue ``count`` attempts; they are written together within one event-loop turn.

        Returns a future that resolves when they are committed (group commit).
        """
        day = at.astimezone(UTC).date()
        return self._behind.add((scope, environment, day, kind), count, on_counted)

    async def flush(self) -> None:
        """Write every queued count now."""
        await self._behind.flush()

    @property
    def pending(self) -> int:
        """Attempts queued by :meth:`record_later` and not yet written."""
        return self._behind.pending


def usage_days(
    # Any: SQLite and Redis key the kinds by their text, the memory ledger by UsageKind.
    start: date,
    end: date,
    per_kind: Callable[[date], Mapping[Any, int]],
) -> list[DayUsage]:
    """One :class:`DayUsage` per day from ``start`` to ``end`` inclusive; ``per_kind(day)``
    gives that day's counts by kind (missing kinds count zero). Every ledger's history."""
    out = []
    day = start
    while day <= end:
        k = per_kind(day)
        out.append(
            DayUsage(
                day,
                calls=k.get(UsageKind.CALL, 0),
                retries=k.get(UsageKind.RETRY, 0),
                tokens=k.get(UsageKind.TOKEN, 0),
            )
        )
        day += timedelta(days=1)
    return out


class MemoryLedger:
    """A ledger in process memory: exact, fast, gone at exit. For tests and scripts."""

    def __init__(self) -> None:
        self._days: defaultdict[tuple[str, str, date], defaultdict[UsageKind, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        self._months: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self._month_keys: dict[date, str] = {}
        self._peaks: dict[tuple[str, str, str], int] = {}
        self._done: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<MemoryLedger days={len(self._days)}>"

    def _add(
        self, scope: str, environment: str, kind: UsageKind, at: datetime, count: int
    ) -> tuple[dict[UsageKind, int], tuple[str, str, str]]:
        """Count; return the day's per-kind counts and the month's key (for :meth:`_counts`)."""
        day = (at if at.tzinfo is UTC else at.astimezone(UTC)).date()
        per_kind = self._days[(scope, environment, day)]
        per_kind[kind] += count
        month = self._month_keys.get(day)
        if month is None:
            month = self._month_keys[day] = month_key(day)
        mkey = (scope, environment, month)
        self._months[mkey] += count
        return per_kind, mkey

    def _counts(self, per_kind: dict[UsageKind, int], mkey: tuple[str, str, str]) -> UsageCounts:
        return UsageCounts(day=sum(per_kind.values()), month=self._months[mkey])

    async def record(
        self, *, scope: str, environment: str, kind: UsageKind, at: datetime, count: int = 1
    ) -> UsageCounts:
        """Add ``count`` attempts and return the new totals."""
        return self._counts(*self._add(scope, environment, kind, at, count))

    def record_later(
        self,
        *,
        scope: str,
        environment: str,
        kind: UsageKind,
        at: datetime,
        count: int = 1,
        on_counted: Callable[[UsageCounts], None] | None = None,
    ) -> asyncio.Future[None]:
        """Count now (memory needs no batching); the returned future is already done."""
        per_kind, mkey = self._add(scope, environment, kind, at, count)
        if on_counted is not None:
            # Totals only for a listener (a billed call's budget warnings): summing them
            # for every unbilled call would be wasted.
            on_counted(self._counts(per_kind, mkey))
        done = self._done
        if done is None:
            done = self._done = asyncio.get_running_loop().create_future()
            done.set_result(None)
        return done

    async def flush(self) -> None:
        """Nothing is ever queued."""

    async def record_within(
        self,
        *,
        scope: str,
        environment: str,
        kind: UsageKind,
        at: datetime,
        daily: int,
        monthly: int,
        count: int = 1,
    ) -> tuple[bool, UsageCounts]:
        """Count only within the limits; atomic because nothing here awaits."""
        day = at.astimezone(UTC).date()
        current = await self.counts(scope=scope, environment=environment, day=day)
        if current.day + count > daily or current.month + count > monthly:
            return False, current
        counts = await self.record(
            scope=scope, environment=environment, kind=kind, at=at, count=count
        )
        return True, counts

    async def counts(self, *, scope: str, environment: str, day: date) -> UsageCounts:
        """Return the totals for ``day`` and its month."""
        per_kind: dict[UsageKind, int] = self._days.get((scope, environment, day), {})
        return UsageCounts(
            day=sum(per_kind.values()),
            month=self._months.get((scope, environment, month_key(day)), 0),
        )

    async def history(
        self, *, scope: str, environment: str, start: date, end: date
    ) -> list[DayUsage]:
        """One entry per day from ``start`` to ``end`` inclusive."""
        empty: dict[UsageKind, int] = {}
        return usage_days(start, end, lambda day: self._days.get((scope, environment, day), empty))

    async def record_peak(
        self, *, scope: str, environment: str, month: str, in_flight: int
    ) -> None:
        """Raise the month's peak if ``in_flight`` is higher."""
        key = (scope, environment, month)
        if in_flight > self._peaks.get(key, 0):
            self._peaks[key] = in_flight

    async def peak(self, *, scope: str, environment: str, month: str) -> int:
        """The month's recorded peak."""
        return self._peaks.get((scope, environment, month), 0)

    async def aclose(self) -> None:
        """Nothing to release."""
