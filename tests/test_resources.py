"""Resource namespaces against the sandbox (a real aiohttp server on loopback).

The sandbox's dataset (``sb.data``) is the truth every answer is compared with; its request
log (``sb.statistics()``) shows what reached the wire.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from maxxton_async import F, MaxxtonClient, NotFoundError, RetryPolicy
from maxxton_async.models import (
    ArrivalRangeSearchRequest,
    AvailabilityRecord,
    Event,
    SearchRequest,
)
from maxxton_async.resources import Found, ListResource, Missing
from maxxton_async.sandbox import Sandbox
from tests._support import sandbox_fixture

FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.01)


def make_client(sb: Sandbox, **kw: Any) -> MaxxtonClient:
    kw.setdefault("retry", FAST)
    return sb.client(**kw)


sb = sandbox_fixture(seed=3)


@pytest.fixture
async def client(sb: Sandbox) -> AsyncIterator[MaxxtonClient]:
    async with make_client(sb) as c:
        yield c


@dataclass(frozen=True)
class Ns:
    attr: str  # client attribute
    data: str  # SandboxData attribute
    path: str  # path segment
    id_field: str  # wire name
    id_attr: str  # model attribute
    archivable: bool
    no_content: bool  # answers 204 when nothing matches


NAMESPACES = [
    Ns("customers", "customers", "customers", "customerId", "customer_id", False, False),
    Ns(
        "reservations",
        "reservations",
        "reservations",
        "reservationId",
        "reservation_id",
        False,
        True,
    ),
    Ns(
        "accommodation_types",
        "accommodation_types",
        "accommodationtypes",
        "resourceId",
        "resource_id",
        True,
        False,
    ),
    Ns("units", "units", "units", "unitId", "unit_id", True, False),
    Ns("locations", "locations", "locations", "locationId", "location_id", True, False),
    Ns(
        "distribution_channels",
        "distribution_channels",
        "distributionchannels",
        "distributionChannelId",
        "distribution_channel_id",
        True,
        True,
    ),
    Ns("offers", "offers", "offers", "resourceId", "resource_id", True, False),
    Ns("owners", "owners", "owners", "ownerId", "owner_id", False, False),
]


def visible_ids(sb: Sandbox, ns: Ns) -> list[int]:
    """Ids a caller without ``x-show-archived`` sees, ascending (the sandbox's truth)."""
    records: dict[int, dict[str, Any]] = getattr(sb.data, ns.data)
    return sorted(
        rid for rid, rec in records.items() if not (ns.archivable and rec.get("archived"))
    )


def resource(client: MaxxtonClient, ns: Ns) -> ListResource[Any]:
    res: ListResource[Any] = getattr(client, ns.attr)
    return res


def queries(sb: Sandbox, route: str) -> list[dict[str, list[str]]]:
    return [urllib.parse.parse_qs(r.query) for r in sb.statistics().requests_to(route)]


@pytest.mark.parametrize("ns", NAMESPACES, ids=lambda n: n.attr)
async def test_get_returns_the_record_and_404_raises(
    sb: Sandbox, client: MaxxtonClient, ns: Ns
) -> None:
    ids = visible_ids(sb, ns)
    res = resource(client, ns)
    record = await res.get(ids[1])
    assert getattr(record, ns.id_attr) == ids[1]
    assert type(record) is res._model
    with pytest.raises(NotFoundError) as info:
        await res.get(ids[-1] + 10_000)
    assert info.value.status == 404
    assert info.value.path == f"/maxxton/v2/{ns.path}/{ids[-1] + 10_000}"
    with pytest.raises(TypeError):
        await res.get("1/../2")  # type: ignore[arg-type]


@pytest.mark.parametrize("ns", NAMESPACES, ids=lambda n: n.attr)
async def test_list_with_filter_and_sort(sb: Sandbox, client: MaxxtonClient, ns: Ns) -> None:
    ids = visible_ids(sb, ns)
    middle = ids[len(ids) // 2]
    res = resource(client, ns)
    page = await res.list(size=3, filter=F(ns.id_field) <= middle, sort=f"{ns.id_field},desc")
    expected = [i for i in ids if i <= middle]
    assert page.total_elements == len(expected)
    assert [getattr(x, ns.id_attr) for x in page.content] == sorted(expected, reverse=True)[:3]
    assert page.number == 0
    q = queries(sb, f"GET /maxxton/v2/{ns.path}")[-1]
    assert q["filter"] == [f"{ns.id_field}<:{middle}"]
    assert q["sort"] == [f"{ns.id_field},desc"]
    assert q["size"] == ["3"]
    second = await res.list(1, 3, F(ns.id_field) <= middle, f"{ns.id_field},desc")
    assert [getattr(x, ns.id_attr) for x in second.content] == sorted(expected, reverse=True)[3:6]


@pytest.mark.parametrize("ns", NAMESPACES, ids=lambda n: n.attr)
async def test_list_empty_result_is_an_empty_page(
    sb: Sandbox, client: MaxxtonClient, ns: Ns
) -> None:
    res = resource(client, ns)
    page = await res.list(size=5, filter=F(ns.id_field) < 0)
    assert page.content == []
    assert page.total_elements == 0
    assert page.is_last
    statuses = [r.status for r in sb.statistics().requests_to(f"GET /maxxton/v2/{ns.path}")]
    # Reservations and distribution channels answer 204 with no body (reference); the others
    # an empty envelope. Both read as the same empty page.
    assert statuses == [204 if ns.no_content else 200]
    assert await res.iterate(filter=F(ns.id_field) < 0).collect() == []


@pytest.mark.parametrize("ns", NAMESPACES, ids=lambda n: n.attr)
async def test_iterate_walks_several_pages_in_order(
    sb: Sandbox, client: MaxxtonClient, ns: Ns
) -> None:
    ids = visible_ids(sb, ns)[:23]
    res = resource(client, ns)
    got = [
        getattr(x, ns.id_attr)
        async for x in res.iterate(
            filter=F(ns.id_field) <= ids[-1], sort=f"{ns.id_field},asc", page_size=4
        )
    ]
    assert got == ids
    pages = queries(sb, f"GET /maxxton/v2/{ns.path}")
    assert sorted(int(q["page"][0]) for q in pages) == list(range((len(ids) + 3) // 4))
    assert {q["size"][0] for q in pages} == {"4"}


async def test_iterate_without_prefetch_and_extra_params(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    wanted = next(iter(sb.data.customers.values()))["mailAddress"]["email"]
    # ``email`` is a query parameter of Get all customers (reference), passed through.
    found = await client.customers.iterate(prefetch=False, page_size=2, email=wanted).collect()
    assert [c.mail_address.email for c in found if c.mail_address] == [wanted]
    assert queries(sb, "GET /maxxton/v2/customers")[0]["email"] == [wanted]


async def test_get_many_chunks_orders_and_answers_duplicates(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    known = sorted(sb.data.reservations)[:8]
    missing = [known[-1] + 50_000, known[-1] + 50_001]
    asked = [known[3], missing[0], known[0], known[3], *known[4:], missing[1], known[1], known[2]]
    outcomes = await client.reservations.get_many(asked, max_ids=3)
    assert [o.id for o in outcomes] == asked
    for outcome in outcomes:
        if outcome.id in missing:
            assert isinstance(outcome, Missing)
            assert not outcome.found
        else:
            assert isinstance(outcome, Found)
            assert outcome.found
            assert outcome.value.reservation_id == outcome.id
            truth = sb.data.reservations[outcome.id]
            assert outcome.value.status_value == truth["statusValue"]
    # 10 distinct ids in chunks of at most 3: 4 requests, each one batch filter.
    seen = queries(sb, "GET /maxxton/v2/reservations")
    assert len(seen) == 4
    asked_on_wire: list[int] = []
    for q in seen:
        (flt,) = q["filter"]
        assert flt.startswith("reservationId:[")
        assert flt.endswith("]")
        chunk = [int(x) for x in flt[len("reservationId:[") : -1].split(",")]
        assert len(chunk) <= 3
        asked_on_wire.extend(chunk)
    assert sorted(asked_on_wire) == sorted(set(asked))  # each distinct id asked once


async def test_get_many_follows_pages_inside_a_chunk() -> None:
    # The server caps the page size at 2, so each chunk of 5 ids takes 3 pages.
    async with Sandbox(seed=3, max_page_size=2) as sb, make_client(sb) as client:
        ids = sorted(sb.data.customers)[:10]
        outcomes = await client.customers.get_many(ids, max_ids=5)
        assert [o.id for o in outcomes] == ids
        assert all(isinstance(o, Found) for o in outcomes)
        seen = queries(sb, "GET /maxxton/v2/customers")
        assert len(seen) == 6
        assert sorted(q["page"][0] for q in seen) == ["0", "0", "1", "1", "2", "2"]


async def test_get_many_of_nothing_sends_nothing(sb: Sandbox, client: MaxxtonClient) -> None:
    assert await client.units.get_many([]) == []
    assert sb.statistics().requests_total == 0


@pytest.mark.parametrize("ns", NAMESPACES, ids=lambda n: n.attr)
async def test_get_many_uses_the_guides_id_field(
    sb: Sandbox, client: MaxxtonClient, ns: Ns
) -> None:
    ids = visible_ids(sb, ns)[:3]
    outcomes = await resource(client, ns).get_many([*ids, 987_654_321])
    assert [o.found for o in outcomes] == [True, True, True, False]
    (q,) = queries(sb, f"GET /maxxton/v2/{ns.path}")
    assert q["filter"] == [f"{ns.id_field}:[{','.join(map(str, [*ids, 987_654_321]))}]"]


async def test_details(sb: Sandbox, client: MaxxtonClient) -> None:
    res_id = sorted(sb.data.reservations)[5]
    details = await client.reservations.details(res_id)
    truth = sb.data.reservations[res_id]
    assert details.reservation_id == res_id
    assert details.customer is not None
    assert details.customer.customer_id == truth["customerId"]
    assert details.reserved_resources[0].resource_id == truth["resourceId"]
    only = await client.reservations.details(res_id, return_sections=["CUSTOMERBILL"])
    assert only.customer is None
    assert only.customer_bill[0].total == truth["totalPrice"]
    rid = visible_ids(sb, NAMESPACES[2])[0]
    at = await client.accommodation_types.details(rid)
    assert at["resourceId"] == rid
    assert isinstance(at["units"], list)
    with pytest.raises(NotFoundError):
        await client.reservations.details(max(sb.data.reservations) + 1)


# -- events -----------------------------------------------------------------------------------


async def test_events_after_cursor(sb: Sandbox, client: MaxxtonClient) -> None:
    total = len(sb.data.events)
    page = await client.events.list(after_event_id=total - 5, size=3)
    assert [e.event_id for e in page.content] == [total - 4, total - 3, total - 2]
    assert page.total_elements == 5
    q = queries(sb, "GET /maxxton/v2/events")[-1]
    assert q["filter"] == [f"eventId>{total - 5}"]
    assert q["sort"] == ["eventId,asc"]

    tail = await client.events.iterate(after_event_id=total - 25, page_size=10).collect()
    assert [e.event_id for e in tail] == list(range(total - 24, total + 1))
    assert all(isinstance(e, Event) for e in tail)
    truth = sb.data.events[-1]
    assert tail[-1].event_type == truth["eventType"]
    assert tail[-1].entity_id == truth["entityId"]

    only = await client.events.list(
        after_event_id=0, filter=F("eventType") == "CUSTOMER_EVENT", size=2000
    )
    expected = [e["eventId"] for e in sb.data.events if e["eventType"] == "CUSTOMER_EVENT"]
    assert [e.event_id for e in only.content] == expected
    assert await client.events.latest_id() == total

    sb.mutate(3)
    new = await client.events.iterate(after_event_id=total).collect()
    assert [e.event_id for e in new] == [total + 1, total + 2, total + 3]


# -- availability ---------------------------------------------------------------------------


def availability_truth(
    sb: Sandbox,
    first: dt.date,
    last: dt.date,
    *,
    resource_id: int | None = None,
    durations: list[int] | None = None,
) -> list[AvailabilityRecord]:
    """What the sandbox's availability function says, in the app's order."""
    data = sb.data
    out: list[dict[str, Any]] = []
    types = [resource_id] if resource_id is not None else list(data.accommodation_types)
    for rid in types:
        cfg = data.resource_config[rid]
        for day in range((last - first).days + 1):
            arrival = first + dt.timedelta(days=day)
            for duration in durations or cfg.durations:
                rec = data.availability(rid, arrival, duration, all_prices=False)
                if rec is not None:
                    out.append(rec)
    return msgspec.json.decode(msgspec.json.encode(out), type=list[AvailabilityRecord])


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_availability_matches_the_sandbox_truth(
    sb: Sandbox, client: MaxxtonClient, method: str
) -> None:
    first = sb.data.start_date + dt.timedelta(days=10)
    last = first + dt.timedelta(days=6)
    records = await client.availability.get(
        arrival_from=first,
        arrival_to=last,
        distribution_channel_code=next(iter(sb.data.distribution_channels.values()))["code"],
        method=method,  # type: ignore[arg-type]
    )
    truth = availability_truth(sb, first, last)
    assert len(truth) > 10
    assert records == truth
    assert (
        sb.statistics().per_endpoint[f"{method} /maxxton/v2/accommodationtypes/availability"] == 1
    )
    if method == "GET":
        (q,) = queries(sb, "GET /maxxton/v2/accommodationtypes/availability")
        assert q["arrivalDateFrom"] == [first.isoformat()]
        assert q["arrivalDateTo"] == [last.isoformat()]


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_availability_one_type_several_durations(
    sb: Sandbox, client: MaxxtonClient, method: str
) -> None:
    rid = next(r for r, at in sb.data.accommodation_types.items() if not at["archived"])
    durations = list(sb.data.resource_config[rid].durations[:2])
    channel_id = next(iter(sb.data.distribution_channels))
    first = sb.data.start_date
    last = first + dt.timedelta(days=27)
    records = await client.availability.get(
        resource_id=rid,
        arrival_from=first,
        arrival_to=last,
        duration=durations,
        distribution_channel_id=channel_id,
        method=method,  # type: ignore[arg-type]
        includeAllPrices=True,
    )
    assert records
    assert {r.resource_id for r in records} == {rid}
    assert {r.duration for r in records} <= set(durations)
    data = sb.data
    for rec in records:
        truth = data.availability(rec.resource_id, rec.arrival_date, rec.duration)
        assert truth is not None
        assert [p.price for p in rec.prices] == [p["price"] for p in truth["prices"]]
    assert len(records) == len(
        availability_truth(sb, first, last, resource_id=rid, durations=durations)
    )


async def test_availability_rejects_bad_input_before_the_wire(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    day = sb.data.start_date
    with pytest.raises(ValueError, match="not both"):
        await client.availability.get(
            arrival_from=day,
            arrival_to=day,
            distribution_channel_code="WEB",
            distribution_channel_id=1,
        )
    with pytest.raises(ValueError, match="arrivalDateTo"):
        await client.availability.get(arrival_from=day, arrival_to=day - dt.timedelta(days=1))
    with pytest.raises(ValueError, match="method"):
        await client.availability.get(arrival_from=day, arrival_to=day, method="PATCH")  # type: ignore[arg-type]
    assert sb.statistics().requests_total == 0


async def test_availability_post_is_retried_as_read_only(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    await client.units.list(size=1)  # authenticate first, so the fault hits the POST
    sb.faults.update(drop_next=1)
    day = sb.data.start_date
    records = await client.availability.get(arrival_from=day, arrival_to=day, method="POST")
    assert records == availability_truth(sb, day, day)
    assert sb.statistics().per_endpoint["POST /maxxton/v2/accommodationtypes/availability"] == 2


# -- search ---------------------------------------------------------------------------------


async def test_search_for_one_arrival_date(sb: Sandbox, client: MaxxtonClient) -> None:
    arrival = sb.data.start_date + dt.timedelta(days=14)
    channel = next(iter(sb.data.distribution_channels))
    result = await client.search.accommodation_types(
        SearchRequest(
            distribution_channel_id=channel, arrival_date=arrival, filter_options=["locations"]
        ),
        sort="offer_price_desc",
    )
    truth = {
        (rid, d)
        for rid, cfg in sb.data.resource_config.items()
        for d in cfg.durations
        if sb.data.availability(rid, arrival, d) is not None
    }
    assert truth
    assert {(i.resource_id, i.duration) for i in result.result} == truth
    assert all(i.arrival_date == arrival for i in result.result)
    prices = [i.price for i in result.result]
    assert prices == sorted(prices, reverse=True)  # type: ignore[type-var]
    assert result.filter_options is not None
    assert "locations" in result.filter_options
    (q,) = queries(sb, "POST /maxxton/v2/accommodationtypes/search")
    assert q["sort"] == ["offer_price_desc"]


async def test_arrival_range_search(sb: Sandbox, client: MaxxtonClient) -> None:
    first = sb.data.start_date + dt.timedelta(days=3)
    channel = next(iter(sb.data.distribution_channels))
    rid = next(r for r, at in sb.data.accommodation_types.items() if not at["archived"])
    result = await client.search.arrival_range(
        ArrivalRangeSearchRequest(
            distribution_channel_id=channel,
            arrival_date_from=first,
            number_of_days_in_result=30,
            resource_ids=[rid],
        )
    )
    truth = {
        (first + dt.timedelta(days=n), d)
        for n in range(30)
        for d in sb.data.resource_config[rid].durations
        if sb.data.availability(rid, first + dt.timedelta(days=n), d) is not None
    }
    assert truth
    assert {(i.arrival_date, i.duration) for i in result.result} == truth
    assert {i.resource_id for i in result.result} == {rid}


async def test_arrival_range_over_30_days_is_refused_before_the_wire(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    first = sb.data.start_date
    with pytest.raises(ValueError, match="30"):
        ArrivalRangeSearchRequest(
            distribution_channel_id=1, arrival_date_from=first, number_of_days_in_result=31
        )
    request = ArrivalRangeSearchRequest(
        distribution_channel_id=1, arrival_date_from=first, number_of_days_in_result=30
    )
    request.number_of_days_in_result = 31  # structs are mutable: checked again on send
    with pytest.raises(ValueError, match="30"):
        await client.search.arrival_range(request)
    assert sb.statistics().requests_total == 0  # not even the token call
