"""Webhooks end to end: the sandbox signs and sends, our receiver verifies and dispatches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import msgspec
from aiohttp import web

from maxxton_async.models import WebhookEventType, WebhookNotification
from maxxton_async.sandbox import Sandbox
from maxxton_async.webhooks import BasicAuth, OAuth2Tokens, ReplayGuard, sign, webhook_app
from tests._support import serve_app

SECRET = "whsec-test-secret"


@asynccontextmanager
async def receiver(app: web.Application) -> AsyncIterator[str]:
    async with serve_app(app) as base_url:
        yield f"{base_url}/webhooks"


def optional_reservation(sb: Sandbox) -> int:
    return next(r for r, rec in sb.data.reservations.items() if rec["statusValue"] == "OPTIONAL")


async def confirm(sb: Sandbox, res_id: int) -> None:
    async with sb.client() as client:
        await client.reservations.confirm(res_id)


async def test_status_change_is_delivered_verified_and_typed() -> None:
    got: list[WebhookNotification] = []

    async def on_status(note: WebhookNotification) -> None:
        got.append(note)

    app = webhook_app(SECRET, {WebhookEventType.STATUS_CHANGE: on_status})
    async with receiver(app) as url, Sandbox(seed=5) as sb:
        sb.register_webhook(url, SECRET)
        res_id = optional_reservation(sb)
        await confirm(sb, res_id)
        await sb.wait_webhooks()
        (delivery,) = [
            d for d in sb.statistics().webhooks if d.type.startswith("reservation.status")
        ]
        assert (delivery.delivered, delivery.status, delivery.attempts) == (True, 200, 1)
    (note,) = got
    assert note.event_type is WebhookEventType.STATUS_CHANGE
    assert note.data.reservation is not None
    assert note.data.reservation.reservation_id == res_id
    assert note.notification_id == delivery.notification_id


async def test_wrong_secret_is_refused_and_never_dispatched() -> None:
    got: list[WebhookNotification] = []

    async def on_status(note: WebhookNotification) -> None:
        got.append(note)

    app = webhook_app("another-secret", {WebhookEventType.STATUS_CHANGE: on_status})
    async with receiver(app) as url, Sandbox(seed=5) as sb:
        sb.register_webhook(url, SECRET)
        await confirm(sb, optional_reservation(sb))
        await sb.wait_webhooks()
        (delivery,) = list(sb.statistics().webhooks)
        assert delivery.status == 401
        assert not delivery.delivered
    assert got == []


async def test_failing_handler_answers_5xx_so_the_sender_retries() -> None:
    calls = 0

    async def flaky(note: WebhookNotification) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database unavailable")

    app = webhook_app(SECRET, {WebhookEventType.STATUS_CHANGE: flaky})
    async with receiver(app) as url, Sandbox(seed=5) as sb:
        sb.register_webhook(url, SECRET)
        await confirm(sb, optional_reservation(sb))
        await sb.wait_webhooks()
        (delivery,) = list(sb.statistics().webhooks)
        # Nothing accepted was lost: the first answer was a 5xx, the redelivery succeeded.
        assert (delivery.delivered, delivery.status, delivery.attempts) == (True, 200, 2)
    assert calls == 2


# -- guide, Webhooks: every data section, receiver authentication, replay protection ---------


def test_every_data_section_is_kept_typed_or_raw() -> None:
    from maxxton_async.models import decode_report
    from maxxton_async.webhooks import parse

    body = msgspec.json.encode(
        {
            "notificationId": "77",
            "webhookId": 1,
            "webhookName": "x",
            "type": "reservation.payment_received",
            "data": {
                "reservation": {"reservationId": 5, "status": 21, "statusValue": "DEFINITIVE"},
                "customer": {"customerId": 9, "lastName": "Jansen"},
                "location": {"locationId": 3},
                "unit": 12345,  # not the REST shape: kept raw, the delivery goes on
                "customerBill": [{"description": "Stay", "total": 100.0}],
                "payments": [{"paymentId": 1, "amount": 100.0}],
                "instalments": [{"amount": 50.0, "dueDate": "2027-01-01"}],
            },
        }
    )
    before = decode_report().repaired
    note = parse(body)
    assert note.body == body  # handlers get the raw body
    assert note.data.reservation is not None
    assert note.data.reservation.reservation_id == 5
    assert note.data.customer is not None
    assert note.data.customer.customer_id == 9
    assert note.data.location is not None
    assert note.data.unit is None
    assert note.data.undecoded is not None
    assert msgspec.json.decode(note.data.undecoded["unit"]) == 12345
    assert set(note.sections) == {
        "reservation",
        "customer",
        "location",
        "unit",
        "customerBill",
        "payments",
        "instalments",
    }
    assert note.section("payments") == [{"paymentId": 1, "amount": 100.0}]
    assert note.section("agentBill") is None
    assert decode_report().repaired > before


async def _deliver_twice(basic: BasicAuth | None, oauth: OAuth2Tokens | None) -> list[str]:
    got: list[str] = []

    async def on_status(note: WebhookNotification) -> None:
        got.append(note.notification_id)

    app = webhook_app(
        SECRET,
        {WebhookEventType.STATUS_CHANGE: on_status},
        basic=basic,
        oauth=oauth,
        replay=ReplayGuard(),
    )
    async with receiver(app) as url, Sandbox(seed=5) as sb:
        token_url = url.replace("/webhooks", "/oauth/token")
        sb.register_webhook(
            url,
            SECRET,
            basic=(basic.username, basic.password) if basic else None,
            oauth=(token_url, "maxxton", "oauth-secret") if oauth else None,
        )
        await confirm(sb, optional_reservation(sb))
        await sb.wait_webhooks()
        (delivery,) = [
            d for d in sb.statistics().webhooks if d.type.startswith("reservation.status")
        ]
        assert (delivery.delivered, delivery.status) == (True, 200)
        # The same delivery again (a replay): dropped by the guard, the handler not called.
        body = msgspec.json.encode(
            {"notificationId": delivery.notification_id, "type": "reservation.status_change"}
        )
        headers = {"webhook-signature": sign(body, SECRET)}
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 401  # no credentials: refused before anything else
            if basic is not None:
                headers["Authorization"] = basic.header()
            else:
                async with http.post(
                    token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": "maxxton",
                        "client_secret": "oauth-secret",
                    },
                ) as resp:
                    headers["Authorization"] = "Bearer " + (await resp.json())["access_token"]
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200
                assert (await resp.json())["status"] == "duplicate"
    return got


async def test_basic_authentication_and_replay_protection() -> None:
    got = await _deliver_twice(BasicAuth("maxxton", "basic-password"), None)
    assert len(got) == 1


async def test_oauth2_bearer_authentication_and_replay_protection() -> None:
    tokens = OAuth2Tokens({"maxxton": "oauth-secret"})
    got = await _deliver_twice(None, tokens)
    assert len(got) == 1
    assert "oauth-secret" not in repr(tokens)


def test_oauth2_tokens_expire_and_wrong_clients_get_none() -> None:
    now = [0.0]
    tokens = OAuth2Tokens({"maxxton": "s"}, ttl=10, clock=lambda: now[0])
    assert tokens.issue("maxxton", "wrong") is None
    assert tokens.issue("someone", "s") is None
    token = tokens.issue("maxxton", "s")
    assert token is not None
    assert tokens.check(f"Bearer {token}")
    assert not tokens.check(f"Basic {token}")
    now[0] = 10.0
    assert not tokens.check(f"Bearer {token}")
    assert "password" not in repr(BasicAuth("u", "password"))
