"""Test helpers shared across files: a loopback client, injected time, bounded waits on a
condition, exception chains, an aiohttp app on loopback, bookable stays of a sandbox, the
counting contract of a usage ledger."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiohttp import web

from maxxton_async import Harvest, MaxxtonClient, MemoryLedger, RetryPolicy
from maxxton_async.models import (
    BookedAccommodationType,
    PersonSubject,
    ReservationCreateRequest,
    Subjects,
)
from maxxton_async.sandbox import Sandbox
from maxxton_async.usage import Ledger, UsageKind

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


async def wait_until(
    predicate: Callable[[], object], limit: float = 10.0, what: str = "the condition"
) -> None:
    """Wait until ``predicate()`` is true, polling every 5 ms for at most ``limit`` seconds.

    A readiness wait, never a timing assertion: the deadline only bounds a test that fails.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"{what} was not reached within {limit} s")
        await asyncio.sleep(0.005)


async def settle(turns: int = 30) -> None:
    """Let ready callbacks run (no wall-clock wait)."""
    for _ in range(turns):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port for the block; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


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


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released): to refuse a connection, or
    to start a server of one's own on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def skip_unless_up(reason: str | None, required_by: str) -> None:
    """Nothing when ``reason`` is None (the service answered); else skip the test, or fail it
    when the environment variable ``required_by`` is ``1`` (CI that must not skip)."""
    if reason is None:
        return
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{required_by}=1 but {reason}")
    pytest.skip(reason)


def sandbox_fixture(seed: int, **options: Any) -> Any:
    """A fixture ``sb``: a started :class:`Sandbox` of ``seed`` (and ``options``) for one test.

    Assigned in a test module as ``sb = sandbox_fixture(seed=5)``.
    """

    @pytest.fixture(name="sb")
    async def sb() -> AsyncIterator[Sandbox]:
        async with Sandbox(seed=seed, **options) as sandbox:
            yield sandbox

    return sb


def client_fixture(**options: Any) -> Any:
    """A fixture ``client``: ``sb.client(**options)`` of the module's ``sb``, open for one test.

    Assigned in a test module as ``client = client_fixture(retry=FAST)``.
    """

    @pytest.fixture(name="client")
    async def client(sb: Sandbox) -> AsyncIterator[MaxxtonClient]:
        async with sb.client(**options) as c:
            yield c

    return client


def available_stays(
    sb: Sandbox, days: int = 60
) -> Iterator[tuple[int, dt.date, int, dict[str, Any]]]:
    """``(resourceId, arrival, duration, availability)`` of each stay the sandbox's truth has
    free in its first ``days`` days, in a fixed order (type, then day, then duration)."""
    data = sb.data
    for rid, cfg in data.resource_config.items():
        for day in range(days):
            arrival = data.start_date + dt.timedelta(days=day)
            for duration in cfg.durations:
                record = data.availability(rid, arrival, duration)
                if record is not None:
                    yield rid, arrival, duration, record


def bookable_stay(
    sb: Sandbox,
    *,
    skip: int = 0,
    days: int = 60,
    min_units: int = 1,
    max_units: int = 99,
    persons: PersonSubject | None = None,
) -> BookedAccommodationType:
    """The ``skip``-th free stay with between ``min_units`` and ``max_units`` free units,
    for ``persons`` (default two adults of 30)."""
    found = (
        (rid, arrival, duration)
        for rid, arrival, duration, record in available_stays(sb, days)
        if min_units <= len(record["units"]) <= max_units
    )
    for index, (rid, arrival, duration) in enumerate(found):
        if index == skip:
            return BookedAccommodationType(
                resource_id=rid,
                arrival_date=arrival,
                duration=duration,
                subjects=Subjects(persons=[persons or PersonSubject(age=30, quantity=2)]),
            )
    raise AssertionError("no such stay in the sandbox")


def sandbox_harvest(
    client: MaxxtonClient, sb: Sandbox, *, days: int, durations: Sequence[int], **kwargs: Any
) -> Harvest:
    """A harvest of the sandbox's first ``days`` arrival days on its WEB channel; ``kwargs``
    add to or override the other :class:`Harvest` arguments."""
    kwargs.setdefault("channel_code", "WEB")
    start = sb.data.start_date
    return Harvest(
        client,
        arrival_from=start,
        arrival_to=start + dt.timedelta(days=days - 1),
        durations=durations,
        **kwargs,
    )


def channel_code(sb: Sandbox) -> str:
    """The code of the sandbox's first distribution channel."""
    code: str = next(iter(sb.data.distribution_channels.values()))["code"]
    return code


def booking(
    sb: Sandbox, stay: BookedAccommodationType | None = None, **kw: Any
) -> ReservationCreateRequest:
    """A create request for ``stay`` (default the first bookable one) by the first customer,
    on the first channel; ``kw`` sets or overrides other fields."""
    kw.setdefault("accommodation_types", [stay or bookable_stay(sb)])
    kw.setdefault("customer_id", next(iter(sb.data.customers)))
    return ReservationCreateRequest(
        distribution_channel_code=channel_code(sb), category_code="DEFAULT", **kw
    )


def with_status(sb: Sandbox, name: str) -> int:
    """The id of a sandbox reservation whose status is ``name``."""
    return next(r for r, rec in sb.data.reservations.items() if rec["statusValue"] == name)


#: 23:00 UTC on the last day of March: the next hour is another day and another month.
LEDGER_AT = datetime(2026, 3, 31, 23, 0, tzinfo=UTC)


async def check_ledger_counts(ledger: Ledger) -> None:
    """What the durable ledgers (SQLite, Redis) keep: day and month counts per scope and
    environment that roll over at UTC midnight, per-day history, the monthly peak in flight,
    the scopes seen."""
    at = LEDGER_AT
    rec = await ledger.record(scope="s", environment="production", kind=UsageKind.CALL, at=at)
    assert (rec.day, rec.month) == (1, 1)
    rec = await ledger.record(
        scope="s", environment="production", kind=UsageKind.TOKEN, at=at, count=4
    )
    assert (rec.day, rec.month) == (5, 5)
    # Next UTC day is in April: new day, new month.
    april = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
    rec = await ledger.record(scope="s", environment="production", kind=UsageKind.RETRY, at=april)
    assert (rec.day, rec.month) == (1, 1)
    # Other environment and scope are separate.
    await ledger.record(scope="s", environment="test", kind=UsageKind.CALL, at=at)
    await ledger.record(scope="t", environment="production", kind=UsageKind.CALL, at=at)
    c = await ledger.counts(scope="s", environment="production", day=at.date())
    assert (c.day, c.month) == (5, 5)
    hist = await ledger.history(
        scope="s", environment="production", start=date(2026, 3, 30), end=date(2026, 4, 1)
    )
    assert [(h.calls, h.tokens, h.retries) for h in hist] == [(0, 0, 0), (1, 4, 0), (0, 0, 1)]
    await ledger.record_peak(scope="s", environment="production", month="2026-03", in_flight=9)
    await ledger.record_peak(scope="s", environment="production", month="2026-03", in_flight=4)
    assert await ledger.peak(scope="s", environment="production", month="2026-03") == 9
    assert await ledger.scopes() == [("s", "production"), ("s", "test"), ("t", "production")]
