"""Reservation writes: proposal, create, the transition chart (guide, Reservation Flow)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from maxxton_async.sandbox import TRANSITIONS, Sandbox
from maxxton_async.sandbox._transitions import IllegalTransition, next_status

from ._helpers import booking_body
from .conftest import API

ACTIONS = ("CONFIRM", "DECLINE", "CANCEL", "CHECKED_IN", "CHECKED_OUT")
STATUSES = (
    "QUOTATION",
    "OPTIONAL",
    "REQUEST",
    "PROVISIONAL",
    "DEFINITIVE",
    "CHECKED_IN",
    "CHECKED_OUT",
    "CANCELLED",
    "DECLINED",
)


def test_chart_is_the_guides() -> None:
    legal = {(s, a) for s in STATUSES for a in ACTIONS if (s, a) in TRANSITIONS}
    assert legal == {
        ("QUOTATION", "CONFIRM"),
        ("QUOTATION", "DECLINE"),
        ("OPTIONAL", "CONFIRM"),
        ("OPTIONAL", "DECLINE"),
        ("REQUEST", "CONFIRM"),
        ("REQUEST", "DECLINE"),
        ("PROVISIONAL", "CANCEL"),
        ("PROVISIONAL", "DECLINE"),
        ("DEFINITIVE", "CANCEL"),
        ("DEFINITIVE", "CHECKED_IN"),
        ("CHECKED_IN", "CHECKED_OUT"),
        # Guide, Reservation Flow 6: out of CANCELLED to DEF_CANCELLED or back.
        ("CANCELLED", "CANCEL"),
        ("CANCELLED", "CONFIRM"),
    }
    assert next_status("OPTIONAL", "CONFIRM") == "PROVISIONAL"
    assert next_status("CANCELLED", "CANCEL") == "DEFINITIVE_CANCELLED"
    with pytest.raises(IllegalTransition):
        next_status("CHECKED_OUT", "CANCEL")


async def _put(
    http: aiohttp.ClientSession, auth: dict[str, str], res_id: int, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.put(f"{API}/reservations/{res_id}", json=body, headers=auth) as resp:
        return resp.status, await resp.json()


def _with_status(sb: Sandbox, status: str) -> int:
    return next(rid for rid, r in sb.data.reservations.items() if r["statusValue"] == status)


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        ("DEFINITIVE", "CHECKED_IN", "CHECKED_IN"),
        ("CHECKED_IN", "CHECKED_OUT", "CHECKED_OUT"),
        ("PROVISIONAL", "CANCEL", "CANCELLED"),
        ("QUOTATION", "DECLINE", "DECLINED"),
        ("REQUEST", "CONFIRM", "PROVISIONAL"),
    ],
)
async def test_legal_transition(
    sb: Sandbox,
    http: aiohttp.ClientSession,
    auth: dict[str, str],
    status: str,
    action: str,
    expected: str,
) -> None:
    res_id = _with_status(sb, status)
    events = len(sb.data.events)
    code, body = await _put(http, auth, res_id, {"statusValue": action})
    assert code == 200
    assert body["statusValue"] == expected
    assert sb.data.reservations[res_id]["statusValue"] == expected
    assert sb.data.events[-1]["eventType"] == "RESERVATION_EVENT"
    assert sb.data.events[-1]["entityId"] == res_id
    assert len(sb.data.events) == events + 1


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("CHECKED_OUT", "CANCEL"),
        ("DEFINITIVE", "DECLINE"),
        ("PROVISIONAL", "CHECKED_IN"),
        ("CANCELLED", "CHECKED_IN"),  # from CANCELLED only CANCEL or CONFIRM (guide, 6)
        ("DEFINITIVE", "FLY_TO_MOON"),
    ],
)
async def test_illegal_transition_is_400(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str], status: str, action: str
) -> None:
    res_id = _with_status(sb, status)
    code, body = await _put(http, auth, res_id, {"statusValue": action})
    assert code == 400
    assert status in body["message"]
    assert sb.data.reservations[res_id]["statusValue"] == status


async def test_cancellation_reason_rules(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    res_id = _with_status(sb, "DEFINITIVE")
    code, _ = await _put(
        http, auth, res_id, {"statusValue": "CHECKED_IN", "cancellationReason": "x"}
    )
    assert code == 400
    code, _ = await _put(
        http, auth, res_id, {"statusValue": "CANCEL", "cancellationReason": "x" * 4001}
    )
    assert code == 400
    code, _ = await _put(http, auth, 1, {"statusValue": "CANCEL"})
    assert code == 404


async def test_proposal_stores_nothing(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    before = (len(sb.data.reservations), len(sb.data.events))
    async with http.post(
        f"{API}/reservations/proposals", json=booking_body(sb), headers=auth
    ) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert "reservationId" not in body
    assert body["totalPrice"] > 0
    assert body["units"]
    assert (len(sb.data.reservations), len(sb.data.events)) == before


async def test_create_reservation_and_read_it_back(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    body = booking_body(sb, statusValue="OPTIONAL", externalBookingReference="MY-1")
    async with http.post(f"{API}/reservations", json=body, headers=auth) as resp:
        assert resp.status == 200
        created = await resp.json()
    res_id = created["reservationId"]
    assert created["statusValue"] == "OPTIONAL"
    assert created["status"] == 11
    assert sb.data.reservations[res_id] == created
    assert sb.data.events[-2]["eventType"] == "RESERVATION_EVENT"
    assert sb.data.events[-2]["entityAction"] == "CREATE"
    # The OPTIONAL booking holds a unit: the type's availability changed (guide, Event Flow).
    assert sb.data.events[-1]["eventType"] == "AVAILABILITY_EVENT"
    assert sb.data.events[-1]["entityId"] == created["resourceId"]
    async with http.get(f"{API}/reservations/{res_id}/details", headers=auth) as resp:
        details = await resp.json()
    assert details["customer"]["customerId"] == body["customerId"]
    assert details["reservedResources"][0]["resourceId"] == created["resourceId"]
    code, changed = await _put(http, auth, res_id, {"statusValue": "CONFIRM"})
    assert (code, changed["statusValue"]) == (200, "PROVISIONAL")
    async with http.get(
        f"{API}/reservations/{res_id}/paymentlink",
        params={"currencyCode": "EUR", "payerType": "CUSTOMER"},
        headers=auth,
    ) as resp:
        link = await resp.json()
    assert link["reservationId"] == res_id
    assert link["paymentLink"].startswith("https://")
    async with http.get(
        f"{API}/reservations/{res_id}/paymentlink", params={"currencyCode": "EUR"}, headers=auth
    ) as resp:
        assert resp.status == 400


@pytest.mark.parametrize(
    "change",
    [
        {"distributionChannelCode": None},
        {"distributionChannelCode": "NOPE"},
        {"customerId": 1},
        {"statusValue": "DEFINITIVE"},
        {"accommodationTypes": [{"resourceId": 1000, "arrivalDate": "1999-01-01", "duration": 7}]},
    ],
)
async def test_refused_bookings(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str], change: dict[str, Any]
) -> None:
    body = {**booking_body(sb), **change}
    before = len(sb.data.reservations)
    async with http.post(f"{API}/reservations", json=body, headers=auth) as resp:
        assert resp.status == 400
    assert len(sb.data.reservations) == before


async def test_payment_makes_provisional_definitive(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    res_id = _with_status(sb, "PROVISIONAL")
    url = f"{API}/reservations/{res_id}/payments"
    async with http.post(url, json={"paymentMethodCode": "IDEAL"}, headers=auth) as resp:
        assert resp.status == 400
    async with http.post(
        url, json={"paymentMethodCode": "IDEAL", "amount": 100.0, "remark": 7}, headers=auth
    ) as resp:
        assert resp.status == 400
    assert sb.data.reservations[res_id]["status"] == 12  # refused payments change nothing
    missing = f"{API}/reservations/{max(sb.data.reservations) + 1}/payments"
    async with http.post(
        missing, json={"paymentMethodCode": "IDEAL", "amount": 1.0}, headers=auth
    ) as resp:
        assert resp.status == 404
    async with http.post(
        url,
        json={"paymentMethodCode": "IDEAL", "amount": 100, "pspReferenceNumber": "PSP-9"},
        headers=auth,
    ) as resp:
        assert resp.status == 200
        paid = await resp.json()
    assert paid["statusValue"] == "DEFINITIVE"
    assert (paid["reservationId"], paid["amount"], paid["currencyCode"]) == (res_id, 100.0, "EUR")
    assert (paid["pspReferenceNumber"], paid["remark"]) == ("PSP-9", None)
    assert isinstance(paid["paymentId"], int)
    assert sb.data.reservations[res_id]["status"] == 21
    code, body = await _put(http, auth, res_id, {"statusValue": "CHECKED_IN"})
    assert (code, body["statusValue"]) == (200, "CHECKED_IN")
