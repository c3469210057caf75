"""The price index on SQLite and PostgreSQL: full harvests in both modes against the sandbox's
truth, the index sync from events (mutations, bookings), crash safety, implied costs, query
helpers, several writers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from maxxton_async import IndexSync, MaxxtonClient
from maxxton_async.events import SQLiteCheckpointStore
from maxxton_async.harvest import (
    AVAILABILITY_PATH,
    Harvest,
    HarvestChunk,
    PostgresPriceIndex,
    PriceIndex,
    SQLitePriceIndex,
)
from maxxton_async.models import AvailabilityRecord, StayImplies
from maxxton_async.sandbox import Sandbox
from tests._support import sandbox_fixture, sandbox_harvest

from ._pg_util import drop_schema, require_postgres, unique_schema

#: The wire path of the implies call (guide, Reservation Flow option 2).
IMPLIES_PATH = "/maxxton/v2/accommodationtypes/availability/implies"

DURATIONS = (3, 7)
DAYS = 60  # two 30-day windows
IndexFactory = Callable[[], Awaitable[PriceIndex]]


sb = sandbox_fixture(seed=5)


@pytest.fixture(params=["sqlite", "postgres"])
async def new_index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[IndexFactory]:
    """Makes empty price indexes of the parametrised backend (closed and dropped after)."""
    made: list[PriceIndex] = []
    schemas: list[str] = []
    url = await require_postgres() if request.param == "postgres" else ""

    async def make() -> PriceIndex:
        index: PriceIndex
        if request.param == "sqlite":
            index = SQLitePriceIndex(tmp_path / f"index-{len(made)}.sqlite")
        else:
            schemas.append(unique_schema("idx"))
            index = PostgresPriceIndex(url, schema=schemas[-1])
        made.append(index)
        return index

    yield make
    for index in made:
        await index.aclose()
    for schema in schemas:
        await drop_schema(url, schema)


def make(client: MaxxtonClient, sb: Sandbox, **kwargs: Any) -> Harvest:
    return sandbox_harvest(client, sb, days=DAYS, durations=DURATIONS, **kwargs)


def truth(sb: Sandbox) -> dict[tuple[int, dt.date, int], tuple[float, int]]:
    """The sandbox's own availability: (cheapest price, free units) per bookable stay."""
    out = {}
    start = sb.data.start_date
    for rid in sb.data.accommodation_types:
        for day in range(DAYS):
            arrival = start + dt.timedelta(days=day)
            for d in DURATIONS:
                rec = sb.data.availability(rid, arrival, d)
                if rec is not None:
                    out[(rid, arrival, d)] = (
                        min(p["price"] for p in rec["prices"]),
                        len(rec["units"]),
                    )
    return out


async def content(index: PriceIndex) -> dict[tuple[int, dt.date, int], tuple[float, int]]:
    """The index's stays as (cheapest price, free units) per stay."""
    out = {}
    for rid, *_ in {(r, 0) for r, _a, _d, _p in await index.stays()}:
        for s in await index.availability(rid):
            assert s.min_price is not None
            out[(s.resource_id, s.arrival_date, s.duration)] = (s.min_price, s.units)
    return out


def availability_calls(sb: Sandbox) -> int:
    return sum(
        len(sb.statistics().requests_to(f"{m} {AVAILABILITY_PATH}")) for m in ("GET", "POST")
    )


# -- full harvests ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["portfolio", "per-type"])
async def test_full_harvest_in_each_mode_equals_the_truth_at_the_planned_calls(
    sb: Sandbox, new_index: IndexFactory, mode: str
) -> None:
    index = await new_index()
    async with sb.client() as client:
        job = make(client, sb, mode=mode)
        result = await job.run(index)
        again = await make(client, sb, mode=mode).run(index)  # resumes: nothing left
    assert result.complete
    assert availability_calls(sb) == result.plan.calls
    listed = [t for t in sb.data.accommodation_types.values() if not t["archived"]]
    assert result.plan.calls == (2 if mode == "portfolio" else 2 * len(listed))
    assert again.plan.calls == 0
    want = truth(sb)
    got = await content(index)
    assert got.keys() == want.keys()  # no loss, no duplicate (keys are unique)
    assert got == want
    stats = await index.statistics()
    assert stats.stays == len(want) == result.records


# -- freshness from events ----------------------------------------------------------------


def week_booking(sb: Sandbox, rid: int, arrival: dt.date, **stay: Any) -> dict[str, Any]:
    """A POST /reservations body for a week at ``rid`` from ``arrival``; ``stay`` adds to its
    accommodation type (a unit, subjects)."""
    return {
        "distributionChannelCode": "WEB",
        "categoryCode": "STD",
        "customerId": next(iter(sb.data.customers)),
        "accommodationTypes": [
            {"resourceId": rid, "arrivalDate": arrival.isoformat(), "duration": 7, **stay}
        ],
    }


async def book_the_last_unit(client: MaxxtonClient, sb: Sandbox) -> tuple[int, dt.date, int]:
    """Book every free unit of one stay; returns the stay (it leaves the availability)."""
    start = sb.data.start_date
    for day in range(DAYS):
        arrival = start + dt.timedelta(days=day)
        for rid in sorted(sb.data.accommodation_types):
            rec = sb.data.availability(rid, arrival, 7)
            if rec is None or len(rec["units"]) > 2:
                continue
            for unit in rec["units"]:
                body = week_booking(sb, rid, arrival, unitId=unit["unitId"])
                await client.request("POST", "/maxxton/v2/reservations", json=body)
            assert sb.data.availability(rid, arrival, 7) is None
            return rid, arrival, 7
    raise AssertionError("no stay with at most two free units")


@pytest.mark.parametrize("refresh", ["auto", "per-type"])
async def test_after_changes_one_pass_makes_the_index_equal_a_fresh_harvest(
    sb: Sandbox, new_index: IndexFactory, tmp_path: Path, refresh: str
) -> None:
    index = await new_index()
    async with sb.client() as client:
        sync = IndexSync(make(client, sb), index, tmp_path / "events.sqlite", refresh=refresh)  # type: ignore[arg-type]
        first = await sync.sync_once()  # marks the feed's end, then the full harvest
        assert first.full
        assert first.committed
        # token + the feed's end + 2 portfolio windows + one (empty) events page: windows + 3
        assert first.calls == 1 + 1 + 2 + 1
        before = await content(index)

        events = sb.mutate(32)  # every event type twice: repricing, offers, rentability, ...
        booked = await book_the_last_unit(client, sb)
        sb.reset_stats()
        second = await sync.sync_once()
        served = sb.statistics().requests_total
        served_availability = availability_calls(sb)
        after = await content(index)

        fresh_index = await new_index()
        await make(client, sb, job="fresh").run(fresh_index)
        fresh = await content(fresh_index)
    changed = {e["entityId"] for e in events if e["eventType"] == "AVAILABILITY_EVENT"}
    assert booked[0] in second.changed
    assert changed <= set(second.changed)
    assert second.committed
    assert await sync.position() == len(sb.data.events)
    assert after == fresh
    assert after == truth(sb)
    # The changes removed, added and repriced stays, and the pass applied all three.
    assert booked in before
    assert booked not in after
    assert before.keys() - after.keys()
    assert after.keys() - before.keys()
    assert any(after[k][0] != before[k][0] for k in after.keys() & before.keys())
    # Calls: one event page, then the refresh: one portfolio POST per window ("auto", several
    # types changed), or one GET per changed type and window.
    windows = 2
    refresh_calls = windows if refresh == "auto" else windows * len(second.changed)
    assert second.mode == ("portfolio" if refresh == "auto" else "per-type")
    assert second.calls == 1 + refresh_calls == served
    assert served_availability == refresh_calls


async def test_one_changed_type_is_refetched_alone(sb: Sandbox, tmp_path: Path) -> None:
    index = SQLitePriceIndex(tmp_path / "p.sqlite")
    async with sb.client() as client, IndexSync(make(client, sb), index) as sync:
        await sync.sync_once()
        rid = next(iter(sb.data.resource_config))
        sb.data.resource_config[rid].revision += 1
        sb.data.add_event(
            "AVAILABILITY_EVENT", rid, "ACCOMMODATIONTYPE", "UPDATE", sb.state.utcnow()
        )
        sb.reset_stats()
        the_pass = await sync.sync_once()
        quiet = await sync.sync_once()
        got = await content(index)
    await index.aclose()
    assert the_pass.changed == (rid,)
    assert the_pass.mode == "per-type"
    assert len(sb.statistics().requests_to(f"GET {AVAILABILITY_PATH}")) == 2  # one per window
    assert quiet.mode is None
    assert quiet.events == 0
    assert quiet.calls == 1
    assert got == truth(sb)


class CrashingIndex:
    """A price index whose process "dies" at its first write after arming."""

    def __init__(self, inner: PriceIndex) -> None:
        self.inner = inner
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def replace(
        self,
        chunk: HarvestChunk,
        records: Sequence[AvailabilityRecord],
        *,
        costs: Sequence[StayImplies] | None = None,
        job: str | None = None,
        fetched_at: float | None = None,
    ) -> None:
        if self.armed:
            raise SystemExit("killed between fetch and write")
        await self.inner.replace(chunk, records, costs=costs, job=job, fetched_at=fetched_at)


async def test_a_crash_between_fetch_and_write_loses_nothing(
    sb: Sandbox, new_index: IndexFactory, tmp_path: Path
) -> None:
    index = await new_index()
    checkpoint = tmp_path / "events.sqlite"
    async with sb.client() as client:
        crashing = CrashingIndex(index)
        sync = IndexSync(make(client, sb), crashing, checkpoint)  # type: ignore[arg-type]
        await sync.sync_once()
        mark = await sync.position()
        sb.mutate(32)
        crashing.armed = True
        with pytest.raises(SystemExit):
            await sync.sync_once()
        await sync.aclose()
        store = SQLiteCheckpointStore(checkpoint)
        assert await store.get("index") == mark  # nothing committed
        await store.aclose()
        # A new process: same checkpoint, same index.
        restarted = IndexSync(make(client, sb), index, checkpoint)
        the_pass = await restarted.sync_once()
        await restarted.aclose()
    assert the_pass.committed
    assert the_pass.events > 0
    assert await content(index) == truth(sb)


async def test_max_age_forces_a_full_refresh(sb: Sandbox, tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    index = SQLitePriceIndex(tmp_path / "p.sqlite")
    async with sb.client() as client:
        harvest = make(client, sb, clock=lambda: now[0])
        sync = IndexSync(harvest, index, max_age=3600, clock=lambda: now[0])
        await sync.sync_once()
        quiet = await sync.sync_once()
        now[0] += 3601
        sb.reset_stats()
        due = await sync.sync_once()
    await index.aclose()
    assert quiet.mode is None
    assert due.full
    assert due.mode == "portfolio"
    assert due.changed == ()
    assert len(sb.statistics().requests_to(f"POST {AVAILABILITY_PATH}")) == 2


# -- implied costs and query helpers ------------------------------------------------------


async def test_implied_costs_are_stored_and_returned_by_the_query_helpers(
    sb: Sandbox, new_index: IndexFactory
) -> None:
    index = await new_index()
    async with sb.client() as client:
        result = await make(client, sb, implies=True).run(index)
    assert result.plan.calls == 4  # 2 windows x (availability + implies)
    assert len(sb.statistics().requests_to(f"POST {IMPLIES_PATH}")) == 2
    want = truth(sb)
    start = sb.data.start_date
    cheapest = await index.cheapest(start, start + dt.timedelta(days=DAYS - 1), 7)
    assert cheapest
    for stay in cheapest:
        costs = sb.data.implies(stay.resource_id, stay.arrival_date, 7)
        assert costs is not None
        expected = round(sum(c["price"] for c in costs["implies"]), 2)
        assert stay.implied_total == pytest.approx(expected)
        assert stay.total == pytest.approx(stay.min_price + expected)  # type: ignore[operator]
        # It is the cheapest of its type by what a guest pays.
        totals = []
        for (rid, arrival, d), (price, _) in want.items():
            if rid == stay.resource_id and d == 7:
                c = sb.data.implies(rid, arrival, d)
                assert c is not None
                totals.append(price + sum(x["price"] for x in c["implies"]))
        assert stay.total == pytest.approx(min(totals))
        items = await index.implied_costs(stay.resource_id, stay.arrival_date, 7)
        assert [(i.addon_id, i.price) for i in items] == [
            (c["addonId"], c["price"]) for c in costs["implies"]
        ]
    assert {s.resource_id for s in cheapest} == {k[0] for k in want if k[2] == 7}
    top3 = await index.cheapest(start, start + dt.timedelta(days=DAYS - 1), 7, per_type=3)
    assert len(top3) > len(cheapest)
    some = cheapest[0]
    prices = await index.prices(some.resource_id, some.arrival_date, 7)
    assert prices[0].price == some.min_price
    assert [p.price for p in prices] == sorted(p.price for p in prices)
    ages = await index.data_age()
    assert {a.resource_id for a in ages} == {k[0] for k in want}
    assert all(a.stays > 0 and a.oldest <= a.newest for a in ages)
    assert (await index.statistics()).implied_costs == 3 * len(want)


async def test_an_imply_event_refreshes_the_mandatory_costs(sb: Sandbox, tmp_path: Path) -> None:
    index = SQLitePriceIndex(tmp_path / "p.sqlite")
    async with sb.client() as client:
        sync = IndexSync(make(client, sb, implies=True), index)
        await sync.sync_once()
        rid = next(
            r for r, c in sb.data.resource_config.items() if any(k[0] == r for k in truth(sb))
        )
        sb.data.resource_config[rid].cleaning_fee += 10
        sb.data.add_event("IMPLY_EVENT", rid, "ACCOMMODATIONTYPE", "UPDATE", sb.state.utcnow())
        the_pass = await sync.sync_once()
        stay = (await index.availability(rid))[0]
    await index.aclose()
    costs = sb.data.implies(rid, stay.arrival_date, stay.duration)
    assert costs is not None
    assert the_pass.changed == (rid,)
    assert stay.implied_total == pytest.approx(sum(c["price"] for c in costs["implies"]))


# -- several writers ----------------------------------------------------------------------


async def test_several_writers_of_overlapping_chunks_leave_one_consistent_window(
    sb: Sandbox, new_index: IndexFactory
) -> None:
    """Writers replacing the same window concurrently (a harvest and an index sync, or two
    processes) never interleave: the window ends up as exactly one writer's stays."""
    a, b = await new_index(), await new_index()
    if isinstance(a, PostgresPriceIndex) and isinstance(b, PostgresPriceIndex):
        b = PostgresPriceIndex(a.dsn, schema=a.schema)  # a second pool on the same tables
    async with sb.client() as client:
        job = make(client, sb)
        chunk = job.chunks_for(None)[0]
        records = await job.fetch(chunk)
    half = len(records) // 2
    versions = [records[:half], records[half:], records]
    writes = [(a if i % 2 else b).replace(chunk, versions[i % 3]) for i in range(12)]
    await asyncio.gather(*writes)
    got = {(r, d_, d) for r, d_, d, _ in await a.stays()}
    keys = [{(r.resource_id, r.arrival_date, r.duration) for r in v} for v in versions]
    assert got in keys
    if b is not a:
        await b.aclose()


async def test_client_availability_implies_answers_every_stays_costs(sb: Sandbox) -> None:
    from maxxton_async.models import AvailabilityRequest

    start = sb.data.start_date
    request = AvailabilityRequest(
        arrival_date_from=start,
        arrival_date_to=start + dt.timedelta(days=6),
        duration=[7],
        distribution_channel_code="WEB",
    )
    async with sb.client() as client:
        items = await client.availability.implies(request)
        stays = await client.availability.query(request, method="POST")
    assert {(i.resource_id, i.arrival_date) for i in items} == {
        (r.resource_id, r.arrival_date) for r in stays
    }
    first = items[0]
    want = sb.data.implies(first.resource_id, first.arrival_date, 7)
    assert want is not None
    assert first.total == pytest.approx(sum(c["price"] for c in want["implies"]))
    assert len({r.resource_id for r in stays}) > 1  # one POST, several types


async def test_a_forced_full_pass_and_a_subset_of_types(sb: Sandbox, tmp_path: Path) -> None:
    index = SQLitePriceIndex(tmp_path / "p.sqlite")
    ids = sorted(sb.data.resource_config)[:2]
    async with sb.client() as client:
        sync = IndexSync(make(client, sb, resource_ids=ids), index)  # per-type, two types
        first = await sync.sync_once()
        assert first.chunks == 4  # 2 types x 2 windows
        other = sorted(sb.data.resource_config)[5]
        now = sb.state.utcnow()
        sb.data.add_event("AVAILABILITY_EVENT", other, "ACCOMMODATIONTYPE", "UPDATE", now)
        ignored = await sync.sync_once()
        sb.data.add_event("AVAILABILITY_EVENT", ids[0], "ACCOMMODATIONTYPE", "UPDATE", now)
        one = await sync.sync_once()
        sb.reset_stats()
        forced = await sync.sync_once(full=True)
    await index.aclose()
    assert ignored.events == 1
    assert ignored.changed == ()
    assert ignored.mode is None
    assert one.changed == (ids[0],)
    assert one.chunks == 2
    assert forced.full
    assert forced.mode == "per-type"
    assert forced.chunks == 4 == len(sb.statistics().requests_to(f"GET {AVAILABILITY_PATH}"))


async def test_bookings_and_cancellations_reach_the_index(
    sb: Sandbox, new_index: IndexFactory
) -> None:
    index = await new_index()
    start = sb.data.start_date
    async with sb.client() as client, IndexSync(make(client, sb), index) as sync:
        await sync.sync_once()
        # A stay with several free units: booking one changes the count, not the stay's presence.
        rid, arrival = next(
            (r, start + dt.timedelta(days=i))
            for i in range(DAYS)
            for r in sorted(sb.data.resource_config)
            if (rec := sb.data.availability(r, start + dt.timedelta(days=i), 7))
            and len(rec["units"]) >= 3
        )
        body = week_booking(sb, rid, arrival, subjects={"persons": [{"age": 30, "quantity": 1}]})
        created = await client.request("POST", "/maxxton/v2/reservations", json=body)
        booked = await sync.sync_once()
        units_booked = (await index.availability(rid, arrival, arrival, 7))[0].units
        await client.request(
            "PUT",
            f"/maxxton/v2/reservations/{created['reservationId']}",
            json={"statusValue": "CANCEL"},
        )
        cancelled = await sync.sync_once()
        units_back = (await index.availability(rid, arrival, arrival, 7))[0].units
    assert booked.changed == (rid,)
    assert cancelled.changed == (rid,)
    assert units_back == units_booked + 1
    assert await content(index) == truth(sb)
