"""Tolerant where the guide is silent: odd records in a page, a harvest and an event batch.

Each test puts deliberately odd records (ints for objects, a missing guessed field, an unknown
enum value, an extra nested section) among good ones and asserts that every other record
arrives and the odd one is reported (``track_decoding``, ``Page.set_aside``,
``EventBatch.set_aside``, ``Tolerant.undecoded``). Documented fields stay strict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from maxxton_async import MaxxtonClient, MemoryLedger, ResponseDecodeError, RetryPolicy
from maxxton_async.events import EventSync, MemoryCheckpointStore
from maxxton_async.harvest import Harvest
from maxxton_async.models import (
    AvailabilityRecord,
    Event,
    Page,
    decode,
    decode_report,
    track_decoding,
)
from maxxton_async.sandbox import Sandbox
from tests._counting_server import CLIENT_ID, CLIENT_SECRET, SCOPE, CountingServer, Scripted

FAST = RetryPolicy(max_attempts=1, backoff_base=0.001, backoff_max=0.01)


def _event(event_id: int, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "eventId": event_id,
        "eventType": "RESERVATION_EVENT",
        "entityId": 500 + event_id,
        "entityType": "RESERVATION",
        "entityAction": "UPDATE",
        "creationDate": "2027-01-01T10:00:00Z",
    }
    base.update(extra)
    return base


def _page(content: list[dict[str, Any]]) -> bytes:
    return msgspec.json.encode(
        {
            "content": content,
            "number": 0,
            "size": 20,
            "totalElements": len(content),
            "totalPages": 1,
            "last": True,
        }
    )


ODD_EVENTS = [
    _event(1),
    {k: v for k, v in _event(2).items() if k != "eventType"},  # guessed field missing
    _event(3, eventType="SOMETHING_NEW_EVENT", entityAction="ARCHIVE"),  # unknown enum values
    _event(4, details={"nested": {"deep": [1, 2, {"x": None}]}}),  # extra nested section
    _event(5, creationDate=1767225600),  # int where a date-time was guessed
    _event(6),
]


def test_a_page_delivers_every_other_record_and_sets_the_odd_one_aside() -> None:
    before = decode_report().set_aside
    with track_decoding() as report:
        page = decode(Page[Event], _page(ODD_EVENTS))
    assert [e.event_id for e in page.content] == [1, 3, 4, 5, 6]
    assert page.content[1].event_type == "SOMETHING_NEW_EVENT"
    assert page.content[1].entity_action == "ARCHIVE"
    assert page.content[3].creation_date is None  # delivered, the guessed part kept raw
    assert page.content[3].undecoded == {"creationDate": msgspec.Raw(b"1767225600")}
    (aside,) = page.set_aside
    assert aside.model == "Event"
    assert "eventType" in aside.reason
    assert msgspec.json.decode(aside.raw)["eventId"] == 2
    assert report.set_aside == 1
    assert report.repaired == 1
    assert sum(report.reasons.values()) == 2
    assert decode_report().set_aside == before + 1  # the process-wide report counts too


def test_a_documented_field_stays_strict() -> None:
    bad = [*ODD_EVENTS[:1], _event(7, entityId="not-a-number")]
    with pytest.raises(ResponseDecodeError) as info:
        decode(Page[Event], _page(bad))
    assert "$.content[1].entityId" in info.value.detail


def test_availability_units_as_plain_ids_keep_the_record() -> None:
    good = {
        "resourceId": 1,
        "arrivalDate": "2027-01-04",
        "departureDate": "2027-01-11",
        "duration": 7,
        "prices": [{"price": 700.0, "offerId": None}],
        "units": [{"unitId": 10, "code": "A-1"}],
    }
    odd = {**good, "resourceId": 2, "units": [101, 102], "prices": [650.0]}
    with track_decoding() as report:
        records = decode(list[AvailabilityRecord], msgspec.json.encode([good, odd]))
    assert [r.resource_id for r in records] == [1, 2]
    assert records[0].units[0].unit_id == 10
    assert records[1].units == []
    assert records[1].prices == []
    assert records[1].undecoded is not None
    assert msgspec.json.decode(records[1].undecoded["units"]) == [101, 102]
    assert msgspec.json.decode(records[1].undecoded["prices"]) == [650.0]
    assert report.repaired == 1  # one record, two parts kept raw
    assert report.set_aside == 0


# -- a harvest against an independent server ------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    async with CountingServer() as srv:
        yield srv


async def test_a_harvest_goes_on_when_units_are_plain_ids(server: CountingServer) -> None:
    records = []
    for rid in (1, 2):
        for day in (4, 11):
            records.append(
                {
                    "resourceId": rid,
                    "arrivalDate": f"2027-01-{day:02d}",
                    "departureDate": f"2027-01-{day + 7:02d}",
                    "duration": 7,
                    "prices": [{"price": 500.0 + day}],
                    # The independent server's shape: ids, not {unitId, code} objects.
                    "units": [100 + day, 200 + day] if rid == 2 else [{"unitId": day}],
                }
            )
    server.script.append(
        Scripted(200, msgspec.json.encode([r for r in records if r["resourceId"] == 1]))
    )
    server.script.append(
        Scripted(200, msgspec.json.encode([r for r in records if r["resourceId"] == 2]))
    )
    async with MaxxtonClient(
        CLIENT_ID,
        CLIENT_SECRET,
        SCOPE,
        base_url=server.base_url,
        ledger=MemoryLedger(),
        retry=FAST,
    ) as client:
        job = Harvest(
            client,
            arrival_from=dt.date(2027, 1, 1),
            arrival_to=dt.date(2027, 1, 20),
            durations=[7],
            resource_ids=[1, 2],
            channel_code="WEB",
            concurrency=1,
        )
        with track_decoding() as report:
            got = [r async for r in job.records()]
    assert len(got) == 4  # every record arrived
    odd = [r for r in got if r.resource_id == 2]
    assert all(r.units == [] and r.undecoded is not None for r in odd)
    assert [r.prices[0].price for r in odd] == [504.0, 511.0]  # the rest is typed
    assert report.repaired == 2
    assert any("units" in key for key in report.reasons)


# -- an event batch against the sandbox ------------------------------------------------------


async def test_an_event_batch_goes_on_and_moves_past_the_odd_event() -> None:
    async with (
        Sandbox(seed=3) as sb,
        sb.client() as client,
    ):
        sync = EventSync(client, MemoryCheckpointStore())
        start = await sync.start_at_latest()
        rid = next(iter(sb.data.reservations))
        odd = [
            _event(start + 1, entityId=rid),
            {k: v for k, v in _event(start + 2, entityId=rid).items() if k != "eventType"},
            _event(start + 3, entityId=rid, eventType="BRAND_NEW_EVENT", extra={"a": [1]}),
            _event(start + 4, entityId=rid, creationDate={"when": "later"}),
        ]
        sb.data.events.extend(odd)
        sb.data.version += 1
        with track_decoding() as report:
            batches = [b async for b in sync.batches()]
        assert await sync.position() == start + 4  # past the set-aside event too
    (batch,) = batches
    assert [e.event_id for e in batch.events] == [start + 1, start + 3, start + 4]
    assert len(batch.set_aside) == 1
    assert msgspec.json.decode(batch.set_aside[0].raw)["eventId"] == start + 2
    assert [e.event_id for e in batch.repaired] == [start + 4]
    (reservations,) = batch.by_type("RESERVATION_EVENT")
    assert rid in reservations.entities  # the good events were refreshed as usual
    assert batch.by_type("BRAND_NEW_EVENT")[0].ids == [rid]  # reported, not refreshed
    assert sync.statistics().set_aside == 1
    assert sync.statistics().repaired == 1
    assert report.set_aside == 1
    assert report.repaired == 1
