"""``client.usage``: the ledger and the budget of one client, and the reservation of
each attempt's unit.

Every HTTP attempt is counted before it reaches the wire (:meth:`Usage.reserve`, then
:meth:`Reservation.commit` once the count is durable); an attempt that never left gives
its unit back. The ledger (``_ledger.py``) stores the counts; the budget (``_budget.py``)
reads them. For a plain :class:`Ledger` (no atomic check), a hard budget falls back to
read-then-record, which can overshoot by at most one attempt per concurrent sender.
"""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from ._budget import BILLED_ENVIRONMENTS, FREE_DAILY, FREE_MONTHLY, Budget
from ._errors import BudgetExceededError
from ._ledger import (
    BatchKey,
    BoundedLedger,
    DayUsage,
    DeferredLedger,
    Ledger,
    MemoryLedger,
    TotalsKey,
    UsageCounts,
    UsageKind,
    WriteBehind,
    WriteBehindLedger,
    month_key,
    utc_now,
)

if TYPE_CHECKING:
    from ._pacing import Pacing

__all__ = [
    "BILLED_ENVIRONMENTS",
    "FREE_DAILY",
    "FREE_MONTHLY",
    "BatchKey",
    "BoundedLedger",
    "Budget",
    "DayUsage",
    "DeferredLedger",
    "Ledger",
    "MemoryLedger",
    "Reservation",
    "TotalsKey",
    "Usage",
    "UsageCounts",
    "UsageKind",
    "UsageSnapshot",
    "WriteBehind",
    "WriteBehindLedger",
    "month_key",
    "utc_now",
]


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

    @property
    def durable(self) -> bool:
        """Whether the count is already written, so :meth:`commit` has nothing to wait for
        (a memory ledger, or a batch that has landed). Read without I/O on the hot path."""
        future = self._future
        return future is None or (
            future.done() and not future.cancelled() and future.exception() is None
        )

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
