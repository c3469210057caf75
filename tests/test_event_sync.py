"""Event sync against the sandbox: grouping, MERGE, at-least-once checkpoints, batching savings."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from maxxton_async.events import (
    DEFAULT_REFRESH,
    EVENTS_PATH,
    AvailabilityRefresh,
    EventBatch,
    EventCursor,
    EventSync,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
    group_events,
)
from maxxton_async.models import Customer, Event, Reservation
from maxxton_async.sandbox import Sandbox
from tests._support import sandbox_fixture

REFRESH_ROUTES = {
    f"GET {spec.path}"
    for entry in DEFAULT_REFRESH.values()
    for spec in (entry.values() if isinstance(entry, dict) else [entry])
    if not spec.per_id
}


sb = sandbox_fixture(seed=5)


def refresh_calls_at_server(sb: Sandbox) -> int:
    return sum(n for route, n in sb.statistics().per_endpoint.items() if route in REFRESH_ROUTES)


def ev(
    event_id: int, event_type: str, entity_id: int, action: str = "UPDATE", old: int | None = None
) -> Event:
    return Event(
        event_id=event_id,
        event_type=event_type,
        entity_id=entity_id,
        entity_action=action,
        old_entity_id=old,
    )


def test_cursor_is_the_event_id() -> None:
    cursor = EventCursor()
    assert cursor.filter(None) is None
    flt = cursor.filter(41)
    assert flt is not None
    assert flt.params() == ["eventId>41"]
    assert cursor.sort() == "eventId,asc"
    assert EventCursor(field="id").filter(3).params() == ["id>3"]  # type: ignore[union-attr]


def test_group_events_dedupes_ids_and_handles_merge() -> None:
    events = [
        ev(1, "CUSTOMER_EVENT", 7),
        ev(2, "RESERVATION_EVENT", 50),
        ev(3, "CUSTOMER_EVENT", 9),
        ev(4, "CUSTOMER_EVENT", 7),
        ev(5, "CUSTOMER_EVENT", 5, "MERGE", old=9),
        ev(6, "RESERVATION_EVENT", 50),
    ]
    groups = {g.event_type: g for g in group_events(events)}
    customers = groups["CUSTOMER_EVENT"]
    assert customers.ids == [7, 5]  # 9 was merged away: never refreshed
    assert customers.merged == {9: 5}
    assert [e.event_id for e in customers.events] == [1, 3, 4, 5]
    assert groups["RESERVATION_EVENT"].ids == [50]


async def test_sync_matches_mutations_including_merge(sb: Sandbox) -> None:
    async with sb.client() as client:
        sync = EventSync(client, MemoryCheckpointStore())
        latest = await sync.start_at_latest()
        assert latest == len(sb.data.events)
        mutations = sb.mutate(48)  # three rounds of the 16 types: UPDATE, CREATE, MERGE
        batches = [b async for b in sync.batches()]
        assert await sync.position() == mutations[-1]["eventId"]
    events = [e for b in batches for e in b.events]
    assert [e.event_id for e in events] == [m["eventId"] for m in mutations]
    seen = {(c.event_type, i) for b in batches for c in b.changes for i in c.ids}
    merges = [m for m in mutations if m["entityAction"] == "MERGE"]
    assert merges
    expected = {(m["eventType"], m["entityId"]) for m in mutations}
    assert seen == expected - {("CUSTOMER_EVENT", m["oldEntityId"]) for m in merges}
    customers = [c for b in batches for c in b.by_type("CUSTOMER_EVENT")]
    for merge in merges:
        survivor, gone = merge["entityId"], merge["oldEntityId"]
        assert any(gone in c.removed for c in customers)
        refreshed = [c.entities[survivor] for c in customers if survivor in c.entities]
        assert refreshed
        assert isinstance(refreshed[0], Customer)
        assert gone not in sb.data.customers
    # Refreshed entities are the sandbox's current truth.
    for batch in batches:
        for change in batch.by_type("RESERVATION_EVENT"):
            for rid, res in change.entities.items():
                assert isinstance(res, Reservation)
                assert res.status_value == sb.data.reservations[rid]["statusValue"]
        for change in batch.changes:
            if change.refreshed and change.event_type != "CUSTOMER_EVENT":
                assert not change.removed  # nothing else was deleted
            if change.event_type == "AVAILABILITY_EVENT":
                assert not change.refreshed
                assert change.ids


async def test_crash_before_commit_redelivers_the_same_batch(sb: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite"
    async with sb.client() as client:
        async with EventSync(client, path, batch_size=100) as sync:
            first_ids: list[int] = []

            async def consume() -> None:
                async for batch in sync.batches():
                    first_ids.extend(e.event_id for e in batch.events)
                    assert batch.changes
                    assert batch.refresh_calls > 0  # refreshed...
                    raise RuntimeError("crash")  # ...and then the process dies

            with pytest.raises(RuntimeError, match="crash"):
                await consume()
            assert await sync.position() is None
        # A new process with the same checkpoint file gets the same batch again.
        async with EventSync(client, path, batch_size=100) as again:
            redelivered: EventBatch | None = None
            async for batch in again.batches():
                redelivered = batch
                await batch.commit()
                break
            assert redelivered is not None
            assert [e.event_id for e in redelivered.events] == first_ids
            assert await again.position() == first_ids[-1]
            # The next batch starts after the committed one.
            async for batch in again.batches(max_batches=1):
                assert batch.events[0].event_id == first_ids[-1] + 1
    store = SQLiteCheckpointStore(path)
    assert await store.get("events") == first_ids[-1] + 100
    await store.aclose()


async def test_batching_costs_at_most_a_tenth_of_per_event_refresh(sb: Sandbox) -> None:
    async with sb.client() as client:
        sync = EventSync(client)
        events = 0
        async for batch in sync.batches():
            events += len(batch.events)
    assert events == len(sb.data.events) == 1000
    per_event = sync.statistics().per_event_calls
    at_server = refresh_calls_at_server(sb)
    assert per_event > 400  # one GET per event of a refreshable type
    assert at_server == sync.statistics().refresh_calls
    assert at_server * 10 <= per_event
    assert sync.statistics().calls_saved == per_event - at_server
    assert sb.statistics().per_endpoint[f"GET {EVENTS_PATH}"] == sync.statistics().event_calls == 2


async def test_run_polls_until_stopped_and_commits(sb: Sandbox) -> None:
    async with sb.client() as client:
        sync = EventSync(client, batch_size=400)
        await sync.start_at_latest()
        seen: list[int] = []
        # mutate() may append follow-up AVAILABILITY_EVENTs (an offer's new discount reprices
        # every type it applies to), so count the events it returned, not the changes.
        emitted = len(sb.mutate(5))

        async def handler(batch: EventBatch) -> None:
            nonlocal emitted
            seen.extend(e.event_id for e in batch.events)
            if len(seen) >= 10:
                sync.stop()
            else:
                emitted += len(sb.mutate(5))  # more changes arrive between passes

        stats = await asyncio.wait_for(sync.run(handler, interval=0.01), 30)
        assert len(seen) == emitted >= 10
        assert await sync.position() == seen[-1] == len(sb.data.events)
        assert stats.passes == 2
        assert stats.committed >= 2


async def test_run_with_external_stop_event_and_max_passes(sb: Sandbox) -> None:
    async with sb.client() as client:
        sync = EventSync(client)
        stop = asyncio.Event()
        stop.set()
        stats = await sync.run(lambda b: None, interval=5, stop=stop)
        assert stats.passes == 0
        calls: list[int] = []
        stats = await sync.run(lambda b: calls.append(len(b.events)), interval=0, max_passes=1)
        assert stats.passes == 1
        assert sum(calls) == 1000


async def test_availability_events_can_be_refreshed(sb: Sandbox) -> None:
    start = sb.data.start_date
    query = AvailabilityRefresh(start, start + dt.timedelta(days=13), (7,), channel_code="WEB")
    async with sb.client() as client:
        sync = EventSync(client, availability=query)
        await sync.start_at_latest()
        sb.mutate(4)  # the 4th type of the guide's list is AVAILABILITY_EVENT
        batches = [b async for b in sync.batches()]
    changes = [c for b in batches for c in b.by_type("AVAILABILITY_EVENT")]
    assert len(changes) == 1
    (rid,) = changes[0].ids
    records = changes[0].entities[rid]
    want = [
        start + dt.timedelta(days=i)
        for i in range(14)
        if sb.data.availability(rid, start + dt.timedelta(days=i), 7) is not None
    ]
    assert [r.arrival_date for r in records] == want
