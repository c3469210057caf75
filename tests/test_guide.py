"""The SDK follows the guide where it is explicit: each test runs against the sandbox.

Reservation Flow 5 and 6 (status chart and flow, expected times), Date Fields, New Reservation
(mandatory ``age``), the payment link's required parameters, Filtering (non-nested fields only),
and bookings consuming units (Reservation Flow 6, Event Flow AVAILABILITY_EVENT).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from maxxton_async import (
    BadRequestError,
    F,
    IllegalTransitionError,
    MaxxtonClient,
    MemoryLedger,
    NotFoundError,
    RetryPolicy,
)
from maxxton_async.models import (
    STATUS_FLOW,
    BookedAccommodationType,
    PersonSubject,
    ReservationCreateRequest,
    ReservationStatus,
    SearchRequest,
    StatusAction,
    allowed_actions,
)
from maxxton_async.sandbox import Sandbox, SandboxClient, generate
from tests._support import bookable_stay, booking, client_fixture, sandbox_fixture, with_status

FAST = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.01)
PUT = "PUT /maxxton/v2/reservations/{reservationId}"
LIST = "GET /maxxton/v2/customers"


sb = sandbox_fixture(seed=11)
client = client_fixture(retry=FAST)


def guide_stay(sb: Sandbox, **kw: Any) -> BookedAccommodationType:
    """A bookable stay for one adult of 40 in the first 90 days."""
    return bookable_stay(sb, days=90, persons=PersonSubject(age=40, quantity=1), **kw)


# -- item 1: the status chart of sections 5 and 6 --------------------------------------------


def test_status_flow_models_section_6() -> None:
    s = ReservationStatus
    assert s.DEF_CANCELLED is s.DEFINITIVE_CANCELLED
    assert s.INIT is s.INITIAL
    assert STATUS_FLOW[s.INIT] == {s.DELETED, s.OPTIONAL, s.PROVISIONAL}
    assert STATUS_FLOW[s.CANCELLED] == {s.DEF_CANCELLED, s.PROVISIONAL, s.DEFINITIVE}
    assert s.EXPIRED in STATUS_FLOW[s.OPTIONAL]
    assert s.EXPIRED in STATUS_FLOW[s.QUOTATION]
    assert allowed_actions(s.CANCELLED) == {StatusAction.CANCEL, StatusAction.CONFIRM}


async def test_cancelled_can_be_cancelled_absolutely(sb: Sandbox, client: MaxxtonClient) -> None:
    res_id = with_status(sb, "CANCELLED")
    result = await client.reservations.cancel(res_id, current=ReservationStatus.CANCELLED)
    assert result.status_value == "DEFINITIVE_CANCELLED"
    assert sb.data.reservations[res_id]["status"] == ReservationStatus.DEF_CANCELLED


async def test_cancelled_can_be_booked_again(sb: Sandbox, client: MaxxtonClient) -> None:
    res_id = with_status(sb, "CANCELLED")
    result = await client.reservations.confirm(res_id)  # checked after one GET
    assert result.status_value in ("PROVISIONAL", "DEFINITIVE")


async def test_unknown_move_needs_an_override_and_the_server_judges(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    res_id = with_status(sb, "DEFINITIVE")
    with pytest.raises(IllegalTransitionError):
        await client.reservations.update_status(res_id, "EXPIRE", current=21)
    assert sb.statistics().per_endpoint[PUT] == 0
    with pytest.raises(BadRequestError):
        await client.reservations.update_status(res_id, "EXPIRE", override=True)
    assert sb.statistics().per_endpoint[PUT] == 1  # sent once, refused by the server
    (seen,) = sb.statistics().requests_to(PUT)
    assert seen.status == 400


# -- item 2: expected arrival / departure times ----------------------------------------------


async def test_expected_times_are_put_in_the_guides_format(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    res_id = with_status(sb, "DEFINITIVE")
    arrival = dt.datetime(2027, 3, 1, 15, 30, 0, 123456, tzinfo=dt.UTC)
    departure = dt.datetime(2027, 3, 8, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    await client.reservations.update(res_id, expected_arrival=arrival, expected_departure=departure)
    record = sb.data.reservations[res_id]
    assert record["expectedArrivalDateTime"] == "2027-03-01T15:30:00"
    assert record["expectedDepartureDateTime"] == "2027-03-08T09:00:00"  # in UTC
    again = await client.reservations.get(res_id)
    assert again.expected_arrival_date_time == dt.datetime(2027, 3, 1, 15, 30, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="expectedArrivalDateTime"):
        await client.reservations.update(res_id)


# -- item 3: the guide's date fields ----------------------------------------------------------


async def test_reservation_date_is_read(sb: Sandbox, client: MaxxtonClient) -> None:
    stay = guide_stay(sb)
    created = await client.reservations.create(booking(sb, stay))
    assert created.reservation_date == sb.state.utcnow().date()
    assert created.undecoded is None
    details = await client.reservations.details(created.reservation_id)
    (resource,) = details.reserved_resources
    assert resource.stay_date_from == stay.arrival_date
    assert resource.stay_date_to == stay.arrival_date + dt.timedelta(days=stay.duration)


# -- item 7: mandatory age, required payment-link parameters, create body ---------------------


def test_age_is_mandatory_and_create_status_is_checked() -> None:
    with pytest.raises(TypeError, match="age"):
        PersonSubject(quantity=2)  # type: ignore[call-arg]
    with pytest.raises(msgspec.ValidationError, match="age"):
        msgspec.json.decode(b'{"quantity":2}', type=PersonSubject)
    stay = BookedAccommodationType(resource_id=1, arrival_date=dt.date(2027, 1, 1), duration=3)
    with pytest.raises(ValueError, match="CONFIRMED"):
        ReservationCreateRequest(
            distribution_channel_code="WEB",
            category_code="STD",
            accommodation_types=[stay],
            customer_id=1,
            status_value="CONFIRMED",
        )
    assert "paymentTermSetId" not in ReservationCreateRequest.__struct_encode_fields__


# -- item 8: filters on non-nested fields only ------------------------------------------------


async def test_nested_filter_is_refused_before_the_wire(sb: Sandbox, client: MaxxtonClient) -> None:
    with pytest.raises(ValueError, match="nested"):
        await client.customers.list(filter="mailAddress.city:Ede")
    with pytest.raises(ValueError, match="nested"):
        await client.customers.list(filter=F("mailAddress.city") == "Ede")
    assert sb.statistics().per_endpoint[LIST] == 0
    page = await client.customers.list(filter=F("lastName").contains("a"), size=5)
    assert page.content


# -- bookings consume units -------------------------------------------------------------------


async def test_booked_unit_is_gone_and_double_booking_is_refused(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    stay = guide_stay(sb, min_units=2)
    before = sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration)
    assert before is not None
    first = await client.reservations.create(booking(sb, stay))
    after = sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration)
    assert after is not None
    assert first.unit_id not in [u["unitId"] for u in after["units"]]
    assert len(after["units"]) == len(before["units"]) - 1
    taken = msgspec.structs.replace(stay, unit_id=first.unit_id)
    with pytest.raises(BadRequestError, match="not available"):
        await client.reservations.create(booking(sb, taken))


async def test_last_unit_emits_availability_event(sb: Sandbox, client: MaxxtonClient) -> None:
    stay = guide_stay(sb, max_units=1)
    events = len(sb.data.events)
    await client.reservations.create(booking(sb, stay))
    new = sb.data.events[events:]
    assert [e["eventType"] for e in new][-1] == "AVAILABILITY_EVENT"
    assert new[-1]["entityId"] == stay.resource_id
    assert sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration) is None
    with pytest.raises(BadRequestError, match="not available"):
        await client.reservations.create(booking(sb, stay))


async def test_optional_holds_quotation_does_not(sb: Sandbox, client: MaxxtonClient) -> None:
    stay = guide_stay(sb, max_units=1)
    quote = await client.reservations.create(booking(sb, stay, status_value="QUOTATION"))
    assert sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration) is not None
    optional = await client.reservations.create(booking(sb, stay, status_value="OPTIONAL"))
    assert sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration) is None
    # "some other guests can also book the reservation and then it is no longer available to
    # the guest who created a QUOTATION reservation" (guide, 6).
    with pytest.raises(BadRequestError, match="no longer available"):
        await client.reservations.confirm(quote.reservation_id, current=ReservationStatus.QUOTATION)
    # Declining the OPTIONAL one gives the unit back; the quotation can then be confirmed.
    await client.reservations.decline(optional.reservation_id, current=ReservationStatus.OPTIONAL)
    assert sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration) is not None
    done = await client.reservations.confirm(
        quote.reservation_id, current=ReservationStatus.QUOTATION
    )
    assert done.status_value == "PROVISIONAL"
    assert sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration) is None


# -- API-user scoping (setup page) ------------------------------------------------------------


async def test_a_key_with_a_predefined_channel_and_category_sees_and_books_only_those() -> None:
    probe = generate(11, "demo")
    channels = sorted(probe.distribution_channels)
    own, other = channels[0], channels[1]
    scoped = SandboxClient(
        "sandbox-secret", distribution_channel_id=own, reservation_category="DEFAULT"
    )
    clients: dict[str, str | SandboxClient] = {"sandbox": "sandbox-secret", "scoped": scoped}
    async with (
        Sandbox(seed=11, clients=clients) as sb,
        MaxxtonClient(
            "scoped", "sandbox-secret", sb.scope, base_url=sb.base_url, ledger=MemoryLedger()
        ) as client,
    ):
        mine = [r async for r in client.reservations.iterate(page_size=500)]
        assert mine
        assert {r.distribution_channel_id for r in mine} == {own}
        expected = sum(
            1 for r in sb.data.reservations.values() if r["distributionChannelId"] == own
        )
        assert len(mine) == expected
        foreign = next(
            r for r, rec in sb.data.reservations.items() if rec["distributionChannelId"] == other
        )
        with pytest.raises(NotFoundError):
            await client.reservations.get(foreign)
        with pytest.raises(BadRequestError, match="does not match"):
            await client.reservations.add_payment(foreign, 10.0, "CASH")
        channels_seen = await client.distribution_channels.list()
        assert [c.distribution_channel_id for c in channels_seen.content] == [own]
        stay = guide_stay(sb)
        own_code = sb.data.distribution_channels[own]["code"]
        other_code = sb.data.distribution_channels[other]["code"]
        foreign_booking = msgspec.structs.replace(
            booking(sb, stay), distribution_channel_code=other_code
        )
        with pytest.raises(BadRequestError, match="distribution channel"):
            await client.reservations.create(foreign_booking)
        wrong_category = msgspec.structs.replace(
            booking(sb, stay), distribution_channel_code=own_code, category_code="OTHER"
        )
        with pytest.raises(BadRequestError, match="reservation category"):
            await client.reservations.create(wrong_category)
        made = await client.reservations.create(
            msgspec.structs.replace(booking(sb, stay), distribution_channel_code=own_code)
        )
        assert made.distribution_channel_id == own
        # The search needs no distributionChannelId: the token carries it (reference).
        found = await client.search.accommodation_types(
            SearchRequest(arrival_date=stay.arrival_date, duration=stay.duration)
        )
        assert found.result


# -- error answers as the reference describes them -------------------------------------------


async def test_not_found_carries_the_references_text(sb: Sandbox, client: MaxxtonClient) -> None:
    missing = max(sb.data.customers) + 1000
    with pytest.raises(NotFoundError) as info:
        await client.customers.get(missing)
    # Reference, Get customer: 404 "No customer found for given customer id."
    assert info.value.status == 404
    assert b"No customer found for given customer id." in (info.value.body or b"")


async def test_the_sandbox_refuses_a_person_without_age(sb: Sandbox, client: MaxxtonClient) -> None:
    stay = guide_stay(sb)
    body = msgspec.json.decode(msgspec.json.encode(booking(sb, stay)))
    body["accommodationTypes"][0]["subjects"] = {"persons": [{"quantity": 2}]}
    with pytest.raises(BadRequestError, match="age"):
        await client.request("POST", "/maxxton/v2/reservations/proposals", json=body)
