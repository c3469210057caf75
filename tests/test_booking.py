"""The booking flow against the sandbox: proposal, create, status changes, payments.

Guide, Reservation Flow: a proposal stores nothing (3); creating stores (4) and must never be
sent twice; status changes follow the chart (5) and are checked before the wire; a payment
makes the reservation DEFINITIVE (6) and, like a create, is never sent twice.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse

import pytest

from maxxton_async import (
    BadRequestError,
    IllegalTransitionError,
    MaxxtonClient,
    NotFoundError,
    OutcomeUnknownError,
)
from maxxton_async.models import (
    PayerType,
    PaymentResult,
    Reservation,
    ReservationProposalRequest,
    ReservationStatus,
    StatusAction,
)
from maxxton_async.sandbox import Sandbox
from tests._support import (
    FAST,
    bookable_stay,
    booking,
    channel_code,
    client_fixture,
    sandbox_fixture,
    with_status,
)

PUT = "PUT /maxxton/v2/reservations/{reservationId}"
GET_ONE = "GET /maxxton/v2/reservations/{reservationId}"
CREATE = "POST /maxxton/v2/reservations"
PAY = "POST /maxxton/v2/reservations/{reservationId}/payments"


sb = sandbox_fixture(seed=5)
client = client_fixture(retry=FAST)


async def test_proposal_create_confirm_check_in_check_out(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    stay = bookable_stay(sb)
    customer_id = next(iter(sb.data.customers))
    count = len(sb.data.reservations)
    proposal = await client.reservations.propose(
        ReservationProposalRequest(
            distribution_channel_code=channel_code(sb),
            category_code="DEFAULT",
            accommodation_types=[stay],
            customer_id=customer_id,
        )
    )
    truth = sb.data.availability(stay.resource_id, stay.arrival_date, stay.duration)
    assert truth is not None
    assert proposal.arrival_date == stay.arrival_date
    assert proposal.departure_date == stay.arrival_date + dt.timedelta(days=stay.duration)
    assert proposal.total_price == truth["prices"][0]["priceInclusive"]
    assert len(sb.data.reservations) == count  # a proposal stores nothing (guide, 3)

    created = await client.reservations.create(
        booking(
            sb,
            accommodation_types=[stay],
            status_value="OPTIONAL",
            external_booking_reference="EXT-flow-1",
        )
    )
    assert len(sb.data.reservations) == count + 1
    assert created.known_status is ReservationStatus.OPTIONAL
    assert created.reservation_number
    assert created.external_booking_reference == "EXT-flow-1"
    assert created.total_price == proposal.total_price

    answer = await client.reservations.confirm(created)  # status known: no GET before the PUT
    assert answer.reservation_id == created.reservation_id
    assert answer.status_value == "PROVISIONAL"
    assert sb.statistics().per_endpoint[GET_ONE] == 0
    read = await client.reservations.get(created.reservation_id)
    assert read.known_status is ReservationStatus.PROVISIONAL

    # A payment turns PROVISIONAL into DEFINITIVE (guide, 6).
    payment = await client.reservations.add_payment(
        created, created.total_price or 0.0, "IDEAL", psp_reference_number="PSP-flow-1"
    )
    assert isinstance(payment, PaymentResult)
    assert payment.reservation_id == created.reservation_id
    assert payment.status_value == "DEFINITIVE"
    assert (payment.amount, payment.currency_code) == (created.total_price, "EUR")
    assert payment.psp_reference_number == "PSP-flow-1"
    assert sb.data.reservations[created.reservation_id]["statusValue"] == "DEFINITIVE"

    await client.reservations.check_in(created.reservation_id)  # status unknown: one GET
    assert sb.statistics().per_endpoint[GET_ONE] == 2
    assert (await client.reservations.get(created.reservation_id)).known_status is (
        ReservationStatus.CHECKED_IN
    )
    await client.reservations.check_out(
        created.reservation_id, current=ReservationStatus.CHECKED_IN
    )
    final = await client.reservations.get(created.reservation_id)
    assert final.known_status is ReservationStatus.CHECKED_OUT
    assert sb.statistics().per_endpoint[PUT] == 3
    assert sb.statistics().per_endpoint[CREATE] == 1
    assert sb.statistics().per_endpoint[PAY] == 1


async def test_add_payment_sends_the_references_body(sb: Sandbox, client: MaxxtonClient) -> None:
    res_id = with_status(sb, "PROVISIONAL")
    payment = await client.reservations.add_payment(
        res_id, 25, "CREDITCARD", currency_code="USD", remark="deposit"
    )
    # Fields of "Create payments for a reservation" (reference), echoed by the sandbox.
    assert (payment.payment_method_code, payment.amount) == ("CREDITCARD", 25.0)
    assert (payment.currency_code, payment.remark) == ("USD", "deposit")
    assert payment.psp_reference_number is None
    assert payment.payment_id is not None
    # A second payment on a DEFINITIVE reservation is recorded and leaves the status alone.
    again = await client.reservations.add_payment(res_id, 10.5, "CREDITCARD")
    assert again.status_value == "DEFINITIVE"
    assert again.currency_code == "EUR"  # omitted: the reservation's currency
    assert again.payment_id != payment.payment_id
    assert sb.statistics().per_endpoint[PAY] == 2


async def test_add_payment_refuses_bad_input(sb: Sandbox, client: MaxxtonClient) -> None:
    res_id = with_status(sb, "PROVISIONAL")
    with pytest.raises(ValueError, match="paymentMethodCode"):
        await client.reservations.add_payment(res_id, 10.0, "")
    with pytest.raises(ValueError, match="finite"):
        await client.reservations.add_payment(res_id, float("nan"), "IDEAL")
    assert sb.statistics().requests_total == 0  # refused before the wire
    with pytest.raises(BadRequestError, match="amount"):
        await client.reservations.add_payment(res_id, -5.0, "IDEAL")
    with pytest.raises(NotFoundError):
        await client.reservations.add_payment(max(sb.data.reservations) + 1, 5.0, "IDEAL")
    assert sb.data.reservations[res_id]["statusValue"] == "PROVISIONAL"


@pytest.mark.parametrize("after_handler", [True, False])
async def test_add_payment_is_never_resent_when_its_answer_is_lost(
    sb: Sandbox, client: MaxxtonClient, after_handler: bool
) -> None:
    res_id = with_status(sb, "PROVISIONAL")
    await client.units.list(size=1)  # authenticate first: the fault is for the payment
    sb.faults.update(drop_next=1, drop_after_handler=after_handler)
    with pytest.raises(OutcomeUnknownError) as info:
        await client.reservations.add_payment(res_id, 50.0, "IDEAL")
    assert (info.value.method, info.value.path) == (
        "POST",
        f"/maxxton/v2/reservations/{res_id}/payments",
    )
    assert sb.statistics().per_endpoint[PAY] == 1  # exactly one POST: a resend could pay twice
    # What the user is told to do: re-read the reservation before paying again.
    status = (await client.reservations.get(res_id)).known_status
    if after_handler:  # the payment was recorded, only the answer was lost
        assert status is ReservationStatus.DEFINITIVE
    else:
        assert status is ReservationStatus.PROVISIONAL


@pytest.mark.parametrize("how", ["current", "reservation", "fetch"])
async def test_illegal_transition_raises_and_sends_no_put(
    sb: Sandbox, client: MaxxtonClient, how: str
) -> None:
    res_id = with_status(sb, "CHECKED_OUT")
    target: int | Reservation = res_id
    current: int | None = None
    if how == "current":
        current = ReservationStatus.CHECKED_OUT
    elif how == "reservation":
        target = Reservation(reservation_id=res_id, status=ReservationStatus.CHECKED_OUT)
    with pytest.raises(IllegalTransitionError, match="CHECKED_OUT"):
        await client.reservations.confirm(target, current=current)
    assert sb.statistics().per_endpoint[PUT] == 0
    # Fetch-free when the status is given; exactly one GET otherwise.
    assert sb.statistics().per_endpoint[GET_ONE] == (1 if how == "fetch" else 0)
    if how != "fetch":
        assert sb.statistics().requests_total == 0
    assert sb.data.reservations[res_id]["statusValue"] == "CHECKED_OUT"


async def test_every_action_checks_the_chart(sb: Sandbox, client: MaxxtonClient) -> None:
    r = client.reservations
    definitive = with_status(sb, "DEFINITIVE")
    cases = [
        (r.check_out, definitive),  # DEFINITIVE -> CHECKED_OUT skips CHECKED_IN
        (r.decline, definitive),  # only CANCEL or CHECKED_IN from DEFINITIVE
        (r.confirm, with_status(sb, "PROVISIONAL")),
        (r.check_in, with_status(sb, "PROVISIONAL")),  # not paid yet
        (r.cancel, with_status(sb, "OPTIONAL")),
        # From CANCELLED only CANCEL (DEF_CANCELLED) and CONFIRM (guide, 6) are moves.
        (r.decline, with_status(sb, "CANCELLED")),
        (r.check_in, with_status(sb, "CANCELLED")),
    ]
    for method, res_id in cases:
        with pytest.raises(IllegalTransitionError):
            await method(res_id)
    assert sb.statistics().per_endpoint[PUT] == 0
    with pytest.raises(IllegalTransitionError, match="unknown status action"):
        await r.update_status(definitive, "UPGRADE", current=21)
    with pytest.raises(NotFoundError):
        await r.confirm(max(sb.data.reservations) + 1)


async def test_decline_and_cancel_send_the_reason(sb: Sandbox, client: MaxxtonClient) -> None:
    optional = with_status(sb, "OPTIONAL")
    answer = await client.reservations.decline(optional, "guest changed plans")
    assert answer.status_value == "DECLINED"
    assert sb.data.reservations[optional]["cancellationReason"] == "guest changed plans"
    declined = await client.reservations.get(optional)
    assert declined.known_status is ReservationStatus.DECLINED
    assert declined.cancellation_reason == "guest changed plans"
    definitive = with_status(sb, "DEFINITIVE")
    answer = await client.reservations.cancel(definitive, "storm", current=21)
    assert answer.status_value == "CANCELLED"
    assert sb.data.reservations[definitive]["statusValue"] == "CANCELLED"
    cancelled = await client.reservations.details(definitive, return_sections=["CUSTOMERBILL"])
    assert cancelled.cancellation_reason == "storm"
    # A reservation never cancelled has no reason.
    assert (await client.reservations.get(with_status(sb, "REQUEST"))).cancellation_reason is None
    with pytest.raises(ValueError, match="CANCEL or DECLINE"):
        await client.reservations.update_status(
            with_status(sb, "REQUEST"), StatusAction.CONFIRM, reason="nope"
        )


async def test_server_still_refuses_what_a_stale_status_allowed(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    # The caller's status is stale: the local check passes, the server's chart refuses (400).
    res_id = with_status(sb, "CHECKED_OUT")
    with pytest.raises(BadRequestError):
        await client.reservations.confirm(res_id, current=ReservationStatus.OPTIONAL)
    assert sb.statistics().per_endpoint[PUT] == 1


@pytest.mark.parametrize("after_handler", [True, False])
async def test_create_is_never_retried_when_the_connection_drops(
    sb: Sandbox, client: MaxxtonClient, after_handler: bool
) -> None:
    await client.units.list(size=1)  # authenticate first: the fault is for the POST
    before = len(sb.data.reservations)
    sb.faults.update(drop_next=1, drop_after_handler=after_handler)
    ref = f"EXT-drop-{after_handler}"
    with pytest.raises(OutcomeUnknownError) as info:
        await client.reservations.create(booking(sb, external_booking_reference=ref))
    assert info.value.method == "POST"
    assert sb.statistics().per_endpoint[CREATE] == 1  # exactly one POST: never resent
    # What the user is told to do: look the reference up before sending again.
    found = await client.reservations.find_by_reference(ref)
    (q,) = [r.query for r in sb.statistics().requests_to("GET /maxxton/v2/reservations")]
    assert urllib.parse.parse_qs(q)["filter"] == [f"externalBookingReference::{ref}"]
    if after_handler:  # the server booked, only the answer was lost
        assert len(sb.data.reservations) == before + 1
        assert [r.external_booking_reference for r in found] == [ref]
    else:
        assert len(sb.data.reservations) == before
        assert found == []


async def test_proposal_is_retried_because_it_is_read_only(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    await client.units.list(size=1)
    sb.faults.update(drop_next=1)
    request = ReservationProposalRequest(
        distribution_channel_code=channel_code(sb),
        category_code="DEFAULT",
        accommodation_types=[bookable_stay(sb, skip=3)],
        customer_id=next(iter(sb.data.customers)),
    )
    proposal = await client.reservations.propose(request, returnUnits=True)
    assert proposal.units
    assert sb.statistics().per_endpoint["POST /maxxton/v2/reservations/proposals"] == 2


async def test_create_refused_by_the_server(sb: Sandbox, client: MaxxtonClient) -> None:
    bad = booking(sb, customer_id=max(sb.data.customers) + 1_000)
    with pytest.raises(BadRequestError, match="customer"):
        await client.reservations.create(bad)
    assert sb.statistics().per_endpoint[CREATE] == 1


async def test_payment_link(sb: Sandbox, client: MaxxtonClient) -> None:
    res_id = with_status(sb, "PROVISIONAL")
    link = await client.reservations.payment_link(
        res_id, currency_code="EUR", payer_type=PayerType.CUSTOMER
    )
    record = sb.data.reservations[res_id]
    assert link.reservation_id == res_id
    assert link.amount == record["totalPrice"]
    assert link.currency_code == "EUR"
    assert record["reservationNumber"] in link.payment_link
    (seen,) = sb.statistics().requests_to(
        "GET /maxxton/v2/reservations/{reservationId}/paymentlink"
    )
    assert "currencyCode=EUR" in seen.query
    assert "payerType=CUSTOMER" in seen.query
    agent = await client.reservations.payment_link(
        res_id, currency_code="USD", payer_type="AGENT", returnUrl="https://example.test/back"
    )
    assert agent.currency_code == "USD"
    assert "payer=AGENT" in agent.payment_link
    with pytest.raises(ValueError, match="GUEST"):
        await client.reservations.payment_link(res_id, currency_code="EUR", payer_type="GUEST")
    with pytest.raises(NotFoundError):
        await client.reservations.payment_link(
            max(sb.data.reservations) + 1, currency_code="EUR", payer_type="CUSTOMER"
        )


async def test_payment_link_parameters_are_asked_for_not_defaulted(
    sb: Sandbox, client: MaxxtonClient
) -> None:
    # Reference, Get paymentlink for a reservation: currencyCode and payerType are required;
    # the SDK used to fill in EUR/CUSTOMER silently.
    res_id = with_status(sb, "PROVISIONAL")
    with pytest.raises(TypeError, match="currency_code"):
        await client.reservations.payment_link(res_id)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="currency_code"):
        await client.reservations.payment_link(res_id, currency_code=" ", payer_type="AGENT")
    assert (
        sb.statistics().per_endpoint["GET /maxxton/v2/reservations/{reservationId}/paymentlink"]
        == 0
    )
