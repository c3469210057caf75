"""Usage ledgers, the budget, and ``client.usage``.

Maxxton bills per request: the first 750,000 a month (25,000 a day) are free, in
production only; acceptance is free under fair use (guide, "API Pricing"). Token calls
are requests too. So every HTTP attempt the client makes -- token calls and retries
included -- is recorded in a :class:`Ledger` before it reaches the wire, and a
:class:`Budget` reads the ledger to warn, or to refuse before anything is sent.

Ledgers here: :class:`MemoryLedger` (tests, one process). Durable ones live in their own
modules: ``SQLiteLedger`` (the embedded default, ``_sqlite.py``) and ``RedisLedger``
(fleets, ``_redis.py``).

A hard budget must send nothing once spent, even when several processes share one
ledger. Reading the count and then recording would let every process that read "one
left" send, so ledgers that can do better implement :class:`BoundedLedger`: one atomic
check-and-increment (a ``BEGIN IMMEDIATE`` transaction in SQLite, a Lua script in Redis).
For a plain :class:`Ledger`, :class:`Usage` falls back to read-then-record, which can
overshoot a hard limit by at most the number of attempts that were between their read
and their record at the moment the limit was reached (one per concurrent sender).
"""

from __future__ import annotations

import abc
import asyncio
import calendar
import enum
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._errors import BudgetExceededError, LedgerUnavailableError

if TYPE_CHECKING:
    from ._pacing import Pacing

__all__ = [
    "BoundedLedger",
    "Budget",
    "DayUsage",
    "DeferredLedger",
    "Ledger",
    "MemoryLedger",
    "Reservation",
    "Usage",
    "UsageCounts",
    "UsageKind",
    "UsageSnapshot",
    "WriteBehindLedger",
    "month_key",
    "utc_now",
]

logger = logging.getLogger("maxxton_async.usage")

#: A limit no count reaches (fits SQLite's 64-bit integers and Lua's doubles exactly).
_UNBOUNDED = 10**15
FREE_MONTHLY = 750_000
FREE_DAILY = 25_000
BILLED_ENVIRONMENTS = frozenset({"production"})


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
    ) -> UsageCounts:
        day = (at if at.tzinfo is UTC else at.astimezone(UTC)).date()
        per_kind = self._days[(scope, environment, day)]
        per_kind[kind] += count
        month = self._month_keys.get(day)
        if month is None:
            month = self._month_keys[day] = month_key(day)
        mkey = (scope, environment, month)
        self._months[mkey] += count
        return UsageCounts(day=sum(per_kind.values()), month=self._months[mkey])

    async def record(
        self, *, scope: str, environment: str, kind: UsageKind, at: datetime, count: int = 1
    ) -> UsageCounts:
        """Add ``count`` attempts and return the new totals."""
        return self._add(scope, environment, kind, at, count)

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
        counts = self._add(scope, environment, kind, at, count)
        if on_counted is not None:
            on_counted(counts)
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
        out = []
        day = start
        while day <= end:
            k: dict[UsageKind, int] = self._days.get((scope, environment, day), {})
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


@dataclass(frozen=True, slots=True)
class UsageSnapshot:
    """What ``await client.usage.snapshot()`` returns.

    ``free_left_*`` and ``projected_overage`` are about billed requests, so they stay at
    the full allowance and 0 outside production unless the budget bills acceptance.
    """

    environment: str
    scope: str
    at: datetime
    today: int
    month: int
    free_left_today: int
    free_left_month: int
    projected_month: int
    projected_overage: int
    peak_in_flight: int
    billed: bool


@dataclass
class Budget:
    """Limits and warnings on billed requests.

    Args:
        monthly: the month's allowance (Maxxton's free tier: 750,000).
        daily: the day's allowance (free tier: 25,000).
        warn_at: fractions of either allowance at which one warning is logged (and
            ``on_warning`` called), once per threshold, period and process.
        hard: when true, a request that would exceed the monthly allowance (and the daily
            one, see ``hard_daily``) raises :class:`BudgetExceededError` before it is sent.
        hard_daily: whether ``hard`` enforces the daily figure too. ``None`` (the default)
            enforces it only when you set ``daily`` yourself: the guide's "750,000
            requests per month (25,000 requests per day)" (API Pricing) states one
            allowance two ways, and the month is what is billed, so the free tier's daily
            figure only warns unless you ask otherwise.
        bill_acceptance: count acceptance ("test") calls against the allowance too.
        on_warning: called with ``(limit_name, fraction, used, limit)``.

    Acceptance calls are always counted (under their own environment key, so they never
    mix with production's), but only billed -- warned about, limited, projected as
    overage -- when ``bill_acceptance`` is true. The guide: "The number of requests only
    applies to the production API (api.maxxton.net)" (API Pricing).
    """

    monthly: int = FREE_MONTHLY
    daily: int = FREE_DAILY
    warn_at: tuple[float, ...] = (0.8, 0.95)
    hard: bool = False
    bill_acceptance: bool = False
    on_warning: Callable[[str, float, int, int], None] | None = None
    hard_daily: bool | None = None
    _warned: set[tuple[str, str, float]] = field(default_factory=set, init=False, repr=False)

    @property
    def enforces_daily(self) -> bool:
        """Whether a hard budget refuses past the daily figure (see ``hard_daily``)."""
        if self.hard_daily is not None:
            return self.hard_daily
        return self.daily != FREE_DAILY

    @property
    def daily_limit(self) -> int:
        """The daily figure a hard budget enforces (unbounded when it only warns)."""
        return self.daily if self.enforces_daily else _UNBOUNDED

    def applies_to(self, environment: str) -> bool:
        """Whether calls in ``environment`` count against this budget."""
        return environment in BILLED_ENVIRONMENTS or self.bill_acceptance

    def check(self, counts: UsageCounts, *, method: str, path: str, count: int = 1) -> None:
        """Raise if ``count`` more requests would exceed a hard limit (pure, no I/O)."""
        if not self.hard:
            return
        error = self.exceeded(counts, method=method, path=path, count=count)
        if error is not None:
            raise error

    def exceeded(
        self, counts: UsageCounts, *, method: str, path: str, count: int = 1
    ) -> BudgetExceededError | None:
        """The error to raise if ``count`` more requests would pass a limit, else ``None``.

        Unlike :meth:`check` this ignores :attr:`hard`: it answers "is it spent?".
        """
        for name, used, limit in (
            ("daily", counts.day, self.daily_limit),
            ("monthly", counts.month, self.monthly),
        ):
            if used + count > limit:
                return BudgetExceededError(
                    f"{name} budget spent: {used} of {limit} requests used",
                    limit_name=name,
                    used=used,
                    limit=limit,
                    method=method,
                    path=path,
                )
        return None

    def observe(self, counts: UsageCounts, *, day: date) -> None:
        """Emit the warnings that ``counts`` crosses, once per threshold and period."""
        for name, used, limit, period in (
            ("daily", counts.day, self.daily, day.isoformat()),
            ("monthly", counts.month, self.monthly, month_key(day)),
        ):
            if limit <= 0:
                continue
            for fraction in self.warn_at:
                key = (name, period, fraction)
                if used >= fraction * limit and key not in self._warned:
                    self._warned.add(key)
                    logger.warning(
                        "Maxxton %s budget: %d of %d requests used (%.0f%%)",
                        name,
                        used,
                        limit,
                        100 * used / limit,
                    )
                    if self.on_warning is not None:
                        self.on_warning(name, fraction, used, limit)


class Reservation:
    """One attempt's unit, counted before the call queued for a slot.

    Created by :meth:`Usage.reserve`. The send path awaits :meth:`commit` just before the
    request leaves (count before the wire), or calls :meth:`give_back` when it will not be
    sent (bill what reaches the wire, once).
    """

    __slots__ = ("_at", "_future", "_kind", "_settled", "_usage")

    def __init__(
        self,
        usage: Usage,
        kind: UsageKind,
        at: datetime,
        future: asyncio.Future[None] | None,
    ) -> None:
        self._usage = usage
        self._kind = kind
        self._at = at
        self._future = future
        self._settled = False

    def __repr__(self) -> str:
        state = "settled" if self._settled else "open"
        return f"<Reservation {self._kind} {state}>"

    @property
    def kind(self) -> UsageKind:
        """What the attempt is for."""
        return self._kind

    async def commit(self) -> None:
        """Wait until the count is durable in the ledger.

        Raises:
            LedgerUnavailableError: the count could not be written; do not send.
        """
        future = self._future
        if future is not None and not future.done():
            # Shielded: one cancelled sender must not fail the whole batch's future.
            await asyncio.shield(future)
        elif future is not None:
            future.result()

    def keep(self) -> None:
        """The unit stays as counted: the attempt went on the wire (or its count was
        dropped together with a failed ledger write, so there is nothing to give back)."""
        self._settled = True

    def give_back(self) -> None:
        """The attempt will not be sent: uncount it. Idempotent; never waits."""
        if self._settled:
            return
        self._settled = True
        self._usage._give_back(self._kind, self._at)


class Usage:
    """``client.usage``: the ledger and budget of one client's scope and environment.

    The client calls :meth:`before_send` for every HTTP attempt; users call
    :meth:`snapshot` and :meth:`history`.

    Args:
        ledger: where attempts are counted (``SQLiteLedger`` is the client's default).
        scope: the concern counted (Maxxton's ``scope``, i.e. the customer's concern).
        environment: ``"production"`` or ``"test"``; counted separately.
        budget: warnings and hard limits; default: Maxxton's free tier, warn only.
        clock: returns an aware UTC datetime; inject one in tests.
        pacing: an optional :class:`~maxxton_async.Pacing`; :meth:`before_send` awaits it
            before counting, so requests are spread out instead of sent in bursts.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        scope: str,
        environment: str,
        budget: Budget | None = None,
        clock: Callable[[], datetime] = utc_now,
        pacing: Pacing | None = None,
    ) -> None:
        self._ledger = ledger
        self._bounded: BoundedLedger | None = None
        self._deferred: DeferredLedger | None = None
        self.ledger = ledger
        self.budget = budget if budget is not None else Budget()
        self.scope = scope
        self.environment = environment
        self.pacing = pacing
        self._clock = clock
        self._peak_recorded: dict[str, int] = {}
        # The month of the latest attempt, kept by before_send (which reads the clock
        # anyway) so that is_new_peak costs no clock read on the hot path.
        self._day = clock().date()
        self._month = month_key(self._day)
        self._observers: dict[date, Callable[[UsageCounts], None]] = {}
        self._background: set[asyncio.Task[UsageCounts]] = set()
        #: The latest billed totals this process saw (``None`` before any), for gauges.
        self.last_counts: UsageCounts | None = None

    @property
    def ledger(self) -> Ledger:
        """The ledger counted into."""
        return self._ledger

    @ledger.setter
    def ledger(self, ledger: Ledger) -> None:
        self._ledger = ledger
        # Resolved once: isinstance() on a runtime protocol costs microseconds per call.
        self._bounded = ledger if isinstance(ledger, BoundedLedger) else None
        self._deferred = ledger if isinstance(ledger, DeferredLedger) else None

    def __repr__(self) -> str:
        return (
            f"<Usage scope={self.scope!r} environment={self.environment!r} "
            f"ledger={type(self.ledger).__name__}>"
        )

    @property
    def billed(self) -> bool:
        """Whether this client's calls count against the budget."""
        return self.budget.applies_to(self.environment)

    async def pace(self) -> None:
        """Wait for the pacer, if any (the send path's pacing step, before the budget)."""
        if self.pacing is not None:
            await self.pacing.wait(now=self._clock, remaining_today=self._free_left_today)

    async def reserve(self, kind: UsageKind, *, method: str, path: str) -> Reservation:
        """Check the budget and count one attempt, before it queues for a slot.

        The count may still be in the ledger's current group-commit batch: await
        :meth:`Reservation.commit` before sending. An attempt that will not be sent after
        all (its caller was cancelled while it queued) gives its unit back with
        :meth:`Reservation.give_back`, so the ledger equals what reached the wire.

        Raises:
            BudgetExceededError: a hard budget is spent; nothing was counted.
        """
        now = self._clock()
        day = now.date()
        if day != self._day:
            self._day, self._month = day, month_key(day)
        billed = self.billed
        if billed and self.budget.hard:
            counts = await self._settle(
                self._record_hard(kind, now, method=method, path=path), kind, now
            )
        elif self._deferred is not None:
            # No hard limit to enforce: join this turn's batch, warn once written.
            future = self._deferred.record_later(
                scope=self.scope,
                environment=self.environment,
                kind=kind,
                at=now,
                on_counted=self._observer(day) if billed else None,
            )
            return Reservation(self, kind, now, future)
        else:
            counts = await self._settle(
                self.ledger.record(
                    scope=self.scope, environment=self.environment, kind=kind, at=now
                ),
                kind,
                now,
            )
        if billed:
            self.last_counts = counts
            self.budget.observe(counts, day=day)
        return Reservation(self, kind, now, None)

    async def _settle(
        self, write: Awaitable[UsageCounts], kind: UsageKind, at: datetime
    ) -> UsageCounts:
        """Await a counting write; if the caller is cancelled meanwhile, let the write
        finish and give its unit back, so a cancelled call is never billed."""
        task = asyncio.ensure_future(write)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:

            def undo(done: asyncio.Future[UsageCounts]) -> None:
                if not done.cancelled() and done.exception() is None:
                    self._give_back(kind, at)

            task.add_done_callback(undo)
            raise

    def _give_back(self, kind: UsageKind, at: datetime) -> None:
        if self._deferred is not None:
            self._deferred.record_later(
                scope=self.scope, environment=self.environment, kind=kind, at=at, count=-1
            )
            return
        task = asyncio.get_running_loop().create_task(
            self.ledger.record(
                scope=self.scope, environment=self.environment, kind=kind, at=at, count=-1
            )
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def flush(self) -> None:
        """Write every queued count and give-back now."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._deferred is not None:
            await self._deferred.flush()

    async def before_send(self, kind: UsageKind, *, method: str, path: str) -> None:
        """Pace, check the budget and count one attempt durably (:meth:`pace`,
        :meth:`reserve`, :meth:`Reservation.commit` in one call).

        Raises:
            BudgetExceededError: a hard budget is spent; the attempt was not counted and
                must not be sent.
        """
        await self.pace()
        reservation = await self.reserve(kind, method=method, path=path)
        await reservation.commit()

    async def _record_hard(
        self, kind: UsageKind, now: datetime, *, method: str, path: str
    ) -> UsageCounts:
        budget = self.budget
        if self._bounded is not None:
            # One atomic check-and-increment: exact across processes and hosts.
            ok, counts = await self._bounded.record_within(
                scope=self.scope,
                environment=self.environment,
                kind=kind,
                at=now,
                daily=budget.daily_limit,
                monthly=budget.monthly,
            )
            if not ok:
                error = budget.exceeded(counts, method=method, path=path)
                if error is None:  # pragma: no cover - the ledger disagrees with the budget
                    error = BudgetExceededError(
                        "budget spent",
                        limit_name="daily",
                        used=counts.day,
                        limit=budget.daily,
                        method=method,
                        path=path,
                    )
                raise error
            return counts
        # Read-then-record: concurrent senders racing at the limit may overshoot it by
        # at most one attempt each (see the module docstring).
        counts = await self.ledger.counts(
            scope=self.scope, environment=self.environment, day=now.date()
        )
        budget.check(counts, method=method, path=path)
        return await self.ledger.record(
            scope=self.scope, environment=self.environment, kind=kind, at=now
        )

    def _observer(self, day: date) -> Callable[[UsageCounts], None]:
        cached = self._observers.get(day)
        if cached is None:
            budget = self.budget

            def observe(counts: UsageCounts) -> None:
                self.last_counts = counts
                budget.observe(counts, day=day)

            self._observers = {day: observe}
            cached = observe
        return cached

    async def _free_left_today(self) -> int:
        """Billed requests still free today (for pacing); unbounded when not billed."""
        if not self.billed:
            return self.budget.daily
        counts = await self.ledger.counts(
            scope=self.scope, environment=self.environment, day=self._clock().date()
        )
        return max(self.budget.daily - counts.day, 0)

    def is_new_peak(self, in_flight: int) -> bool:
        """Whether ``in_flight`` beats the peak recorded for the current month (no I/O).

        The client asks this for every request and awaits :meth:`observe_in_flight` only
        when it is true; a new month starts from zero, so its peak is recorded too.
        """
        return in_flight > self._peak_recorded.get(self._month, 0)

    async def observe_in_flight(self, in_flight: int) -> None:
        """Record a new peak of concurrent requests for the month (cheap when not a peak)."""
        month = month_key(self._clock().date())
        if in_flight <= self._peak_recorded.get(month, 0):
            return
        self._peak_recorded[month] = in_flight
        await self.ledger.record_peak(
            scope=self.scope, environment=self.environment, month=month, in_flight=in_flight
        )

    async def snapshot(self) -> UsageSnapshot:
        """Today's and this month's counts, free allowance left, and a month-end projection.

        The projection extrapolates the month's count at its average rate so far.
        """
        now = self._clock()
        today = now.date()
        counts = await self.ledger.counts(scope=self.scope, environment=self.environment, day=today)
        peak = await self.ledger.peak(
            scope=self.scope, environment=self.environment, month=month_key(today)
        )
        days_in_month = calendar.monthrange(today.year, today.month)[1]
        month_start = datetime(today.year, today.month, 1, tzinfo=UTC)
        elapsed_days = max((now - month_start).total_seconds() / 86400, 1 / 24)
        projected = round(counts.month * days_in_month / elapsed_days)
        projected = max(projected, counts.month)
        billed = self.billed
        budget = self.budget
        return UsageSnapshot(
            environment=self.environment,
            scope=self.scope,
            at=now,
            today=counts.day,
            month=counts.month,
            free_left_today=max(budget.daily - counts.day, 0) if billed else budget.daily,
            free_left_month=max(budget.monthly - counts.month, 0) if billed else budget.monthly,
            projected_month=projected,
            projected_overage=max(projected - budget.monthly, 0) if billed else 0,
            peak_in_flight=peak,
            billed=billed,
        )

    async def history(self, days: int = 30) -> list[DayUsage]:
        """The last ``days`` UTC days, oldest first, today included."""
        today = self._clock().date()
        return await self.ledger.history(
            scope=self.scope,
            environment=self.environment,
            start=today - timedelta(days=days - 1),
            end=today,
        )
