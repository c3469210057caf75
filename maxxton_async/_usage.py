"""Usage ledgers, the budget, and ``client.usage``.

Maxxton bills per request: the first 750,000 a month (25,000 a day) are free, in
production only; acceptance is free under fair use (guide, "API Pricing"). Token calls
are requests too. So every HTTP attempt the client makes -- token calls and retries
included -- is recorded in a :class:`Ledger` before it reaches the wire, and a
:class:`Budget` reads the ledger to warn, or to refuse before anything is sent.

Ledgers here: :class:`MemoryLedger` (tests, one process). Durable ones live in their own
modules: ``SQLiteLedger`` (the embedded default) and ``RedisLedger`` (fleets).
"""

from __future__ import annotations

import calendar
import enum
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, runtime_checkable

from ._errors import BudgetExceededError

__all__ = [
    "Budget",
    "DayUsage",
    "Ledger",
    "MemoryLedger",
    "Usage",
    "UsageCounts",
    "UsageKind",
    "UsageSnapshot",
    "utc_now",
]

logger = logging.getLogger("maxxton_async.usage")

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


class MemoryLedger:
    """A ledger in process memory: exact, fast, gone at exit. For tests and scripts."""

    def __init__(self) -> None:
        self._days: defaultdict[tuple[str, str, date], defaultdict[UsageKind, int]] = (
            defaultdict(lambda: defaultdict(int))
        )
        self._months: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self._peaks: dict[tuple[str, str, str], int] = {}

    def __repr__(self) -> str:
        return f"<MemoryLedger days={len(self._days)}>"

    async def record(
        self, *, scope: str, environment: str, kind: UsageKind, at: datetime, count: int = 1
    ) -> UsageCounts:
        """Add ``count`` attempts and return the new totals."""
        day = at.astimezone(UTC).date()
        per_kind = self._days[(scope, environment, day)]
        per_kind[kind] += count
        mkey = (scope, environment, month_key(day))
        self._months[mkey] += count
        return UsageCounts(day=sum(per_kind.values()), month=self._months[mkey])

    async def counts(self, *, scope: str, environment: str, day: date) -> UsageCounts:
        """Return the totals for ``day`` and its month."""
        per_kind = self._days.get((scope, environment, day), {})
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
            k = self._days.get((scope, environment, day), {})
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
        hard: when true, a request that would exceed an allowance raises
            :class:`BudgetExceededError` before it is sent.
        bill_acceptance: count acceptance ("test") calls against the allowance too.
        on_warning: called with ``(limit_name, fraction, used, limit)``.
    """

    monthly: int = FREE_MONTHLY
    daily: int = FREE_DAILY
    warn_at: tuple[float, ...] = (0.8, 0.95)
    hard: bool = False
    bill_acceptance: bool = False
    on_warning: Callable[[str, float, int, int], None] | None = None
    _warned: set[tuple[str, str, float]] = field(default_factory=set, init=False, repr=False)

    def applies_to(self, environment: str) -> bool:
        """Whether calls in ``environment`` count against this budget."""
        return environment in BILLED_ENVIRONMENTS or self.bill_acceptance

    def check(self, counts: UsageCounts, *, method: str, path: str) -> None:
        """Raise if one more request would exceed a hard limit (pure, no I/O)."""
        if not self.hard:
            return
        for name, used, limit in (
            ("daily", counts.day, self.daily),
            ("monthly", counts.month, self.monthly),
        ):
            if used + 1 > limit:
                raise BudgetExceededError(
                    f"{name} budget spent: {used} of {limit} requests used",
                    limit_name=name,
                    used=used,
                    limit=limit,
                    method=method,
                    path=path,
                )

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


class Usage:
    """``client.usage``: the ledger and budget of one client's scope and environment.

    The client calls :meth:`before_send` for every HTTP attempt; users call
    :meth:`snapshot` and :meth:`history`.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        scope: str,
        environment: str,
        budget: Budget | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.ledger = ledger
        self.budget = budget if budget is not None else Budget()
        self.scope = scope
        self.environment = environment
        self._clock = clock
        self._peak_recorded: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"<Usage scope={self.scope!r} environment={self.environment!r} "
            f"ledger={type(self.ledger).__name__}>"
        )

    @property
    def billed(self) -> bool:
        """Whether this client's calls count against the budget."""
        return self.budget.applies_to(self.environment)

    async def before_send(self, kind: UsageKind, *, method: str, path: str) -> None:
        """Check the budget, then count one attempt. Called just before the wire."""
        now = self._clock()
        if self.billed and self.budget.hard:
            counts = await self.ledger.counts(
                scope=self.scope, environment=self.environment, day=now.date()
            )
            self.budget.check(counts, method=method, path=path)
        counts = await self.ledger.record(
            scope=self.scope, environment=self.environment, kind=kind, at=now
        )
        if self.billed:
            self.budget.observe(counts, day=now.date())

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
        counts = await self.ledger.counts(
            scope=self.scope, environment=self.environment, day=today
        )
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
