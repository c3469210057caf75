"""Usage, Budget and Pacing with injected clocks (no sleeping, no wall-clock asserts)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from maxxton_async import Budget, BudgetExceededError, MemoryLedger, Pacing, SQLiteLedger
from maxxton_async.usage import BoundedLedger, DeferredLedger, Ledger, Usage, UsageCounts, UsageKind


class Clock:
    """A settable clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class ReadThenRecordLedger:
    """A plain Ledger (not Bounded, not Deferred): exercises Usage's fallback path."""

    def __init__(self) -> None:
        self.inner = MemoryLedger()

    async def record(self, **kw: object) -> UsageCounts:
        return await self.inner.record(**kw)  # type: ignore[arg-type]

    async def counts(self, **kw: object) -> UsageCounts:
        return await self.inner.counts(**kw)  # type: ignore[arg-type]

    async def history(self, **kw: object) -> object:
        return await self.inner.history(**kw)  # type: ignore[arg-type]

    async def record_peak(self, **kw: object) -> None:
        await self.inner.record_peak(**kw)  # type: ignore[arg-type]

    async def peak(self, **kw: object) -> int:
        return await self.inner.peak(**kw)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """The inner ledger belongs to the test, which closes it."""


def test_protocols_are_recognised(tmp_path: object) -> None:
    assert isinstance(MemoryLedger(), BoundedLedger)
    assert isinstance(MemoryLedger(), DeferredLedger)  # counts at once; nothing to batch
    sqlite = SQLiteLedger(str(tmp_path) + "/u.db")  # type: ignore[operator]
    assert isinstance(sqlite, BoundedLedger)
    assert isinstance(sqlite, DeferredLedger)
    assert isinstance(ReadThenRecordLedger(), Ledger)
    assert not isinstance(ReadThenRecordLedger(), BoundedLedger)


async def test_day_and_month_rollover_with_injected_clock() -> None:
    clock = Clock(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC))
    usage = Usage(MemoryLedger(), scope="abc", environment="production", clock=clock)
    for _ in range(3):
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    snap = await usage.snapshot()
    assert (snap.today, snap.month) == (3, 3)

    clock.at = datetime(2026, 2, 1, 0, 0, 1, tzinfo=UTC)  # next day, next month
    await usage.before_send(UsageKind.TOKEN, method="POST", path="/maxxton/v2/authenticate")
    snap = await usage.snapshot()
    assert (snap.today, snap.month) == (1, 1)

    clock.at = datetime(2026, 2, 2, 12, tzinfo=UTC)  # next day, same month
    await usage.before_send(UsageKind.RETRY, method="GET", path="/x")
    snap = await usage.snapshot()
    assert (snap.today, snap.month) == (1, 2)

    hist = await usage.history(days=4)
    assert [d.day for d in hist] == [date(2026, 1, 30) + timedelta(days=i) for i in range(4)]
    assert [d.total for d in hist] == [0, 3, 1, 1]
    assert hist[2].tokens == 1
    assert hist[3].retries == 1


async def test_snapshot_projection_and_free_left() -> None:
    # 10 days into a 30-day month with 100,000 requests: projects 300,000.
    clock = Clock(datetime(2026, 4, 11, 0, 0, tzinfo=UTC))
    ledger = MemoryLedger()
    await ledger.record(
        scope="s",
        environment="production",
        kind=UsageKind.CALL,
        at=datetime(2026, 4, 5, tzinfo=UTC),
        count=100_000,
    )
    await ledger.record(
        scope="s", environment="production", kind=UsageKind.CALL, at=clock.at, count=1_000
    )
    usage = Usage(
        ledger, scope="s", environment="production", clock=clock, budget=Budget(monthly=200_000)
    )
    snap = await usage.snapshot()
    assert snap.today == 1_000
    assert snap.month == 101_000
    assert snap.free_left_today == 24_000
    assert snap.free_left_month == 99_000
    assert snap.projected_month == 303_000
    assert snap.projected_overage == 103_000
    assert snap.billed


async def test_acceptance_counted_separately_and_not_billed() -> None:
    clock = Clock(datetime(2026, 3, 3, tzinfo=UTC))
    ledger = MemoryLedger()
    prod = Usage(ledger, scope="s", environment="production", clock=clock)
    test = Usage(
        ledger, scope="s", environment="test", clock=clock, budget=Budget(daily=1, hard=True)
    )
    for _ in range(5):  # a hard budget of 1 does not apply to acceptance
        await test.before_send(UsageKind.CALL, method="GET", path="/x")
    await prod.before_send(UsageKind.CALL, method="GET", path="/x")
    t, p = await test.snapshot(), await prod.snapshot()
    assert (t.today, p.today) == (5, 1)
    assert not t.billed
    assert t.free_left_today == 1
    assert t.projected_overage == 0
    billed = Usage(
        ledger,
        scope="s",
        environment="test",
        clock=clock,
        budget=Budget(daily=5, hard=True, bill_acceptance=True),
    )
    with pytest.raises(BudgetExceededError):
        await billed.before_send(UsageKind.CALL, method="GET", path="/x")


@pytest.mark.parametrize("ledger_kind", ["memory", "read-then-record", "sqlite"])
async def test_hard_budget_sends_nothing_once_spent(ledger_kind: str, tmp_path: object) -> None:
    ledger: Ledger
    if ledger_kind == "memory":
        ledger = MemoryLedger()
    elif ledger_kind == "sqlite":
        ledger = SQLiteLedger(str(tmp_path) + "/u.db")  # type: ignore[operator]
    else:
        ledger = ReadThenRecordLedger()
    usage = Usage(ledger, scope="s", environment="production", budget=Budget(daily=7, hard=True))
    sent = 0

    async def send() -> None:
        nonlocal sent
        await usage.before_send(UsageKind.CALL, method="GET", path="/maxxton/v2/units")
        sent += 1  # stands for the request reaching the wire

    errors: list[BudgetExceededError] = []
    for _ in range(20):
        try:
            await send()
        except BudgetExceededError as exc:
            errors.append(exc)
    refused = len(errors)
    assert {(e.limit_name, e.used, e.limit, e.path) for e in errors} == {
        ("daily", 7, 7, "/maxxton/v2/units")
    }
    assert sent == 7
    assert refused == 13
    assert (await usage.snapshot()).today == 7  # refused attempts are not counted
    await ledger.aclose()


async def test_warnings_once_per_threshold(
    caplog: pytest.LogCaptureFixture, tmp_path: object
) -> None:
    seen: list[tuple[str, float, int, int]] = []
    ledger = SQLiteLedger(str(tmp_path) + "/u.db")  # type: ignore[operator]
    usage = Usage(
        ledger,
        scope="s",
        environment="production",
        budget=Budget(
            daily=10, monthly=1000, warn_at=(0.5, 0.9), on_warning=lambda *a: seen.append(a)
        ),
    )
    with caplog.at_level(logging.WARNING, logger="maxxton_async.usage"):
        for _ in range(10):
            await usage.before_send(UsageKind.CALL, method="GET", path="/x")
            await ledger.flush()  # deferred counting: make each write land before the next
    assert [(n, f) for n, f, _, _ in seen] == [("daily", 0.5), ("daily", 0.9)]
    assert seen[0][2] == 5
    assert seen[1][2] == 9
    assert sum("daily budget" in r.getMessage() for r in caplog.records) == 2
    await ledger.aclose()


def test_warnings_follow_a_new_day_and_changed_settings() -> None:
    """observe() skips the threshold loop while nothing can be crossed; a new day, a new
    month or a changed figure must still warn."""
    seen: list[tuple[str, float, int]] = []

    def record(name: str, fraction: float, used: int, limit: int) -> None:
        seen.append((name, fraction, used))

    budget = Budget(daily=10, monthly=100, warn_at=(0.5,), on_warning=record)
    day = date(2026, 3, 30)
    for used in range(1, 8):
        budget.observe(UsageCounts(day=used, month=used), day=day)
    assert seen == [("daily", 0.5, 5)]
    day += timedelta(days=1)  # a new day: its own warnings
    for used in range(1, 6):
        budget.observe(UsageCounts(day=used, month=10 + used), day=day)
    assert seen == [("daily", 0.5, 5)] * 2
    budget.warn_at = (0.5, 0.7, 0.9)  # new thresholds, one of them passed at 7
    budget.observe(UsageCounts(day=7, month=17), day=day)
    assert seen[-1] == ("daily", 0.7, 7)
    budget.daily = 7  # a lower figure: 7 is past 90% of it
    budget.observe(UsageCounts(day=7, month=17), day=day)
    assert seen[-1] == ("daily", 0.9, 7)
    budget.observe(UsageCounts(day=1, month=50), day=day + timedelta(days=1))  # April
    assert seen[-1] == ("monthly", 0.5, 50)
    assert len(seen) == 5


async def test_peak_in_flight_recorded_per_month() -> None:
    clock = Clock(datetime(2026, 5, 31, tzinfo=UTC))
    usage = Usage(MemoryLedger(), scope="s", environment="production", clock=clock)
    for n in (3, 9, 4):
        await usage.observe_in_flight(n)
    assert (await usage.snapshot()).peak_in_flight == 9
    clock.at = datetime(2026, 6, 1, tzinfo=UTC)
    assert (await usage.snapshot()).peak_in_flight == 0
    await usage.observe_in_flight(2)
    assert (await usage.snapshot()).peak_in_flight == 2


def test_spread_rate_is_remaining_over_seconds_left() -> None:
    noon = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert Pacing.spread_rate(43_200, noon) == pytest.approx(1.0)
    assert Pacing.spread_rate(0, noon) == 0.0


async def test_spread_pacing_follows_the_ledger() -> None:
    clock = Clock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    ledger = MemoryLedger()
    # 25,000 free a day; 3,400 used: 21,600 left over 43,200 s = 0.5/s.
    await ledger.record(
        scope="s", environment="production", kind=UsageKind.CALL, at=clock.at, count=3_400
    )
    pacing = Pacing.spread_daily_allowance(refresh=60)
    usage = Usage(ledger, scope="s", environment="production", clock=clock, pacing=pacing)
    await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    assert pacing.current_rate == pytest.approx(0.5)
    # Within the refresh interval the rate is kept (no ledger read per call) ...
    await ledger.record(
        scope="s", environment="production", kind=UsageKind.CALL, at=clock.at, count=21_599
    )
    clock.at += timedelta(seconds=30)
    assert pacing.current_rate == pytest.approx(0.5)
    # ... after it, the spent allowance drops the rate to the floor.
    clock.at += timedelta(seconds=31)
    # A new rate makes a new bucket, whose first slot is free: no real waiting here.
    await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    assert pacing.current_rate == pytest.approx(0.1)


async def test_fixed_rate_pacing_counts_after_waiting() -> None:
    usage = Usage(
        MemoryLedger(), scope="s", environment="production", pacing=Pacing.rate(10_000, burst=5)
    )
    for _ in range(5):  # the burst passes without waiting
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    assert (await usage.snapshot()).today == 5
    with pytest.raises(ValueError, match="per_second"):
        Pacing.rate(0)
