"""Signed webhook deliveries to a receiver on loopback (guide, Webhooks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

from maxxton_async.models import WebhookEventType, WebhookNotification
from maxxton_async.sandbox import Sandbox, sign, verify
from maxxton_async.webhooks import is_valid_signature, webhook_app
from maxxton_async.webhooks import sign as sdk_sign
from tests._support import serve_app

from ._helpers import booking_body
from .conftest import API

SECRET = "whsec-test"


class Receiver:
    """A loopback aiohttp server recording what it receives; fails the first ``fail`` POSTs."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[tuple[bytes, str]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((body, request.headers.get("webhook-signature", "")))
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=503)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    async with serve_app(app) as base_url:
        rec.url = f"{base_url}/hook"
        yield rec


def test_signature_matches_the_guides_format() -> None:
    header = sign(b'{"a":1}', SECRET)
    assert header.startswith("v1,")
    assert verify(b'{"a":1}', header, SECRET)
    assert not verify(b'{"a":2}', header, SECRET)
    assert not verify(b'{"a":1}', header, "other")
    assert not verify(b'{"a":1}', None, SECRET)


def test_sandbox_names_are_the_sdks_signing() -> None:
    # One implementation: the sandbox's sender signs exactly as the SDK's receiver checks.
    body = b'{"notificationId":"1"}'
    assert sign(body, SECRET) == sdk_sign(body, SECRET)
    assert is_valid_signature(body, sign(body, SECRET), SECRET)


async def test_status_change_is_delivered_signed(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str], receiver: Receiver
) -> None:
    webhook_id = sb.register_webhook(receiver.url, SECRET, name="Test hook")
    res_id = next(
        r["reservationId"]
        for r in sb.data.reservations.values()
        if r["statusValue"] == "DEFINITIVE"
    )
    async with http.put(
        f"{API}/reservations/{res_id}", json={"statusValue": "CHECKED_IN"}, headers=auth
    ) as resp:
        assert resp.status == 200
    await sb.wait_webhooks()
    assert len(receiver.received) == 1
    body, signature = receiver.received[0]
    assert verify(body, signature, SECRET)
    container: dict[str, Any] = msgspec.json.decode(body)
    assert container["webhookId"] == webhook_id
    assert container["webhookName"] == "Test hook"
    assert container["type"] == "reservation.status_change"
    assert container["data"]["reservation"]["reservationId"] == res_id
    assert container["data"]["reservation"]["statusValue"] == "CHECKED_IN"
    assert {"notificationId", "eventOccurred", "sentDate"} <= container.keys()
    (delivery,) = sb.statistics().webhooks
    assert delivery.delivered
    assert delivery.attempts == 1


async def test_retry_on_5xx_is_bounded(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str], receiver: Receiver
) -> None:
    receiver.fail = 1
    sb.register_webhook(receiver.url, SECRET)
    async with http.post(f"{API}/reservations", json=booking_body(sb), headers=auth) as resp:
        assert resp.status == 200
    await sb.wait_webhooks()
    assert len(receiver.received) == 2
    (delivery,) = sb.statistics().webhooks
    assert (delivery.attempts, delivery.status, delivery.delivered) == (2, 204, True)
    receiver.fail = 10
    sb.mutate(16)  # one RESERVATION_EVENT with a status change among them
    await sb.wait_webhooks()
    last = sb.statistics().webhooks[-1]
    assert last.attempts == sb.state.webhooks.max_attempts
    assert not last.delivered


async def test_register_via_admin(
    sb: Sandbox, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    async with http.post(
        "/_sandbox/webhooks",
        json={"url": receiver.url, "secret": SECRET, "types": ["reservation.bill_change"]},
    ) as r:
        assert (await r.json())["webhookId"] == 1
    async with http.post("/_sandbox/webhooks", json={"url": receiver.url}) as r:
        assert r.status == 400
    async with http.post("/_sandbox/webhooks", json={"url": receiver.url, "secret": ""}) as r:
        assert r.status == 400
        assert "secret" in (await r.json())["error"]
    # Only bill changes were asked for: the first round's status change is not sent...
    sb.mutate(16)
    await sb.wait_webhooks()
    assert receiver.received == []
    # ...the third round's bill change is (rounds rotate status, stay period, bill).
    sb.mutate(32)
    await sb.wait_webhooks()
    assert [msgspec.json.decode(body)["type"] for body, _ in receiver.received] == [
        "reservation.bill_change"
    ]


async def test_stay_period_and_bill_changes_reach_an_sdk_receiver(sb: Sandbox) -> None:
    got: dict[WebhookEventType, list[WebhookNotification]] = {}

    async def record(note: WebhookNotification) -> None:
        assert note.event_type is not None
        got.setdefault(note.event_type, []).append(note)

    # The SDK's own receiver: it verifies the signature before any handler runs.
    app = webhook_app(
        SECRET, {WebhookEventType.STAY_PERIOD_CHANGE: record, WebhookEventType.BILL_CHANGE: record}
    )
    async with serve_app(app) as base_url:
        url = f"{base_url}/webhooks"
        sb.register_webhook(
            url, SECRET, types=("reservation.stay_period_change", "reservation.bill_change")
        )
        before = {rid: dict(r) for rid, r in sb.data.reservations.items()}
        events = sb.mutate(48)  # three rounds: status, stay period, bill change
        await sb.wait_webhooks()
    changed = [e["entityId"] for e in events if e["eventType"] == "RESERVATION_EVENT"]
    assert len(changed) == 3
    deliveries = list(sb.statistics().webhooks)
    assert sorted(d.type for d in deliveries) == [
        "reservation.bill_change",
        "reservation.stay_period_change",
    ]
    assert all((d.delivered, d.status, d.attempts) == (True, 200, 1) for d in deliveries)

    (stay,) = got[WebhookEventType.STAY_PERIOD_CHANGE]
    moved = stay.data.reservation
    assert moved is not None
    assert moved.reservation_id == changed[1]
    old = before[moved.reservation_id]
    shift = moved.arrival_date - dt.date.fromisoformat(old["arrivalDate"])
    assert shift.days in (-14, -7, 7, 14)
    assert moved.departure_date - dt.date.fromisoformat(old["departureDate"]) == shift
    assert moved.total_price == old["totalPrice"]  # a pure move: no bill change with it
    assert (
        sb.data.reservations[moved.reservation_id]["arrivalDate"] == moved.arrival_date.isoformat()
    )

    (bill,) = got[WebhookEventType.BILL_CHANGE]
    billed = bill.data.reservation
    assert billed is not None
    assert billed.reservation_id == changed[2]
    assert billed.total_price != before[billed.reservation_id]["totalPrice"]
    assert sb.data.reservations[billed.reservation_id]["totalPrice"] == billed.total_price
    assert stay.notification_id != bill.notification_id
