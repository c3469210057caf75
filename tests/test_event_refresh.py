"""Event refresh follows the guide's Event Flow: batch endpoints for additions and allotments,
per-id endpoints only when opted in (cost stated first), refused groups reported alone."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest

from maxxton_async import MaxxtonClient, MemoryLedger, NotFoundError, PermissionDeniedError
from maxxton_async._endpoints import ENTITIES, REFRESH
from maxxton_async.events import (
    DEFAULT_REFRESH,
    PER_ID_EVENT_TYPES,
    EventSync,
    MemoryCheckpointStore,
    RefreshSpec,
)
from maxxton_async.models import EventType, Reservation
from maxxton_async.sandbox import Sandbox, SandboxClient

ADDITIONS_AT = "GET /maxxton/v2/accommodationtypes/additions"
ADDITIONS_OFFER = "GET /maxxton/v2/offers/additions"
ALLOTMENTS = "GET /maxxton/v2/allotments"
ADDON = "GET /maxxton/v2/add-ons/{resourceId}"


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox(
        seed=9,
        clients={
            "sandbox": "sandbox-secret",
            # An API key without GET permission on allotments (setup page, Permissions).
            "no-allotments": SandboxClient("sandbox-secret", denied=("/maxxton/v2/allotments",)),
        },
    ) as sandbox:
        yield sandbox


def client_for(sb: Sandbox, client_id: str = "sandbox") -> MaxxtonClient:
    return MaxxtonClient(
        client_id, "sandbox-secret", sb.scope, base_url=sb.base_url, ledger=MemoryLedger()
    )


def _events(sb: Sandbox, *items: tuple[str, int, str]) -> None:
    when = sb.state.utcnow()
    for event_type, entity_id, entity_type in items:
        sb.data.add_event(event_type, entity_id, entity_type, "UPDATE", when)


def test_one_catalogue_serves_namespaces_and_refresh() -> None:
    from maxxton_async import resources

    assert resources.Reservations._path == ENTITIES["reservations"].path
    assert resources.Offers._id_field == ENTITIES["offers"].id_field
    assert DEFAULT_REFRESH is REFRESH
    spec = REFRESH[EventType.RESERVATION_EVENT][None]
    assert spec.path == ENTITIES["reservations"].path
    assert spec.model is Reservation
    # Every event type of the guide has an entry except AVAILABILITY (the harvest refreshes it).
    assert set(REFRESH) == set(EventType) - {EventType.AVAILABILITY_EVENT}
    assert {t for t, entry in REFRESH.items() if all(s.per_id for s in entry.values())} == set(
        PER_ID_EVENT_TYPES
    )


async def test_additions_and_allotments_are_refreshed_in_batches(sb: Sandbox) -> None:
    types = list(sb.data.accommodation_types)[:5]
    offers = list(sb.data.offers)[:3]
    async with client_for(sb) as client:
        sync = EventSync(client, MemoryCheckpointStore())
        await sync.start_at_latest()
        _events(
            sb,
            *[("ADDITION_EVENT", rid, "ACCOMMODATIONTYPE") for rid in types],
            *[("ADDITION_EVENT", rid, "OFFER") for rid in offers],
            *[("ALLOTMENT_EVENT", rid, "ACCOMMODATIONTYPE") for rid in types],
        )
        (batch,) = [b async for b in sync.batches()]
    groups = {(c.event_type, c.entity_type): c for c in batch.changes}
    at = groups[("ADDITION_EVENT", "ACCOMMODATIONTYPE")]
    assert at.refreshed
    assert at.error is None
    assert set(at.entities) == set(types)
    for rid, additions in at.entities.items():
        assert additions
        assert all(a["resourceId"] == rid for a in additions)
    assert set(groups[("ADDITION_EVENT", "OFFER")].entities) == set(offers)
    assert set(groups[("ALLOTMENT_EVENT", "ACCOMMODATIONTYPE")].entities) == set(types)
    # One call per endpoint for the whole group, with the guide's filter.
    for route in (ADDITIONS_AT, ADDITIONS_OFFER, ALLOTMENTS):
        assert sb.statistics().per_endpoint[route] == 1
    (call,) = sb.statistics().requests_to(ALLOTMENTS)
    flt = urllib.parse.parse_qs(call.query)["filter"][0]
    assert flt == "resourceId:[" + ",".join(map(str, types)) + "]"


async def test_per_id_refresh_is_opt_in_and_costed_first(
    sb: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    addons = sb.data.addon_ids[:3]
    missing = max(sb.data.addon_ids) + 1
    rid = next(iter(sb.data.accommodation_types))
    unit = next(iter(sb.data.units))
    items = [
        *[("ADDON_EVENT", a, "ADDON") for a in [*addons, missing]],
        ("IMPLY_EVENT", rid, "ACCOMMODATIONTYPE"),
        ("IMPLY_EVENT", unit, "UNIT"),
        ("RATE_EVENT", rid, "ACCOMMODATIONTYPE"),
        ("RENTABILITY_EVENT", rid, "ACCOMMODATIONTYPE"),
        ("RESERVABILITY_EVENT", unit, "UNIT"),
    ]
    async with client_for(sb) as client:
        plain = EventSync(client, MemoryCheckpointStore())
        await plain.start_at_latest()
        _events(sb, *items)
        (batch,) = [b async for b in plain.batches()]
        assert all(not c.refreshed and c.spec is None for c in batch.changes)
        assert sb.statistics().per_endpoint[ADDON] == 0  # nothing per id without opting in

        opted = EventSync(client, MemoryCheckpointStore(), per_id=True)
        await opted.store.put(opted.name, batch.position - len(items))
        with caplog.at_level(logging.INFO, logger="maxxton_async.events"):
            (again,) = [b async for b in opted.batches()]
    addon = again.by_type("ADDON_EVENT")[0]
    assert addon.planned_calls == 4  # stated before it ran ...
    assert any("one call per id: 4 calls" in r.getMessage() for r in caplog.records)
    assert sb.statistics().per_endpoint[ADDON] == 4  # ... and what it cost
    assert set(addon.entities) == set(addons)
    assert addon.removed == [missing]  # 404 for that id: gone
    implies = {c.entity_type: c for c in again.by_type("IMPLY_EVENT")}
    assert implies["UNIT"].entities[unit][0]["unitId"] == unit
    assert implies["ACCOMMODATIONTYPE"].entities[rid][0]["resourceId"] == rid
    assert again.by_type("RATE_EVENT")[0].entities[rid]
    assert again.by_type("RENTABILITY_EVENT")[0].entities[rid]["resourceId"] == rid
    assert again.by_type("RESERVABILITY_EVENT")[0].entities[unit]["unitId"] == unit
    assert sb.statistics().per_endpoint["GET /maxxton/v2/accommodationtype/{resourceId}/rates"] == 1


async def test_a_refused_group_is_reported_and_the_others_go_on(sb: Sandbox) -> None:
    rid = next(iter(sb.data.accommodation_types))
    res_id = next(iter(sb.data.reservations))
    broken: dict[str, Any] = {
        **REFRESH,
        EventType.OFFER_EVENT: RefreshSpec("/maxxton/v2/no-such-list", "resourceId"),
    }
    async with client_for(sb, "no-allotments") as client:
        sync = EventSync(client, MemoryCheckpointStore(), refresh=broken)
        await sync.start_at_latest()
        _events(
            sb,
            ("ALLOTMENT_EVENT", rid, "ACCOMMODATIONTYPE"),
            ("OFFER_EVENT", next(iter(sb.data.offers)), "OFFER"),
            ("RESERVATION_EVENT", res_id, "RESERVATION"),
        )
        (batch,) = [b async for b in sync.batches()]
        assert await sync.position() == batch.position  # committed: the batch went on
    allotments = batch.by_type("ALLOTMENT_EVENT")[0]
    assert isinstance(allotments.error, PermissionDeniedError)
    assert not allotments.refreshed
    assert allotments.removed == []  # a refused group says nothing about deletions
    assert isinstance(batch.by_type("OFFER_EVENT")[0].error, NotFoundError)
    (reservations,) = batch.by_type("RESERVATION_EVENT")
    assert reservations.refreshed
    assert res_id in reservations.entities
    assert {c.event_type for c in batch.failed} == {"ALLOTMENT_EVENT", "OFFER_EVENT"}
    assert sync.statistics().failed_groups == 2


async def test_namespaces_read_additions_and_allotments(sb: Sandbox) -> None:
    types = list(sb.data.accommodation_types)[:4]
    offer = next(iter(sb.data.offers))
    async with client_for(sb) as client:
        additions = await client.accommodation_types.additions(types)
        allotments = await client.accommodation_types.allotments(types)
        offer_additions = await client.offers.additions([offer])
    assert set(additions) == set(types)
    assert set(allotments) == set(types)
    assert all(a["resourceId"] == offer for a in offer_additions[offer])
