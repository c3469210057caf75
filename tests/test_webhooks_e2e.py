"""Webhooks end to end: the sandbox signs and sends, our receiver verifies and dispatches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from maxxton_async import MaxxtonClient, MemoryLedger
from maxxton_async.models import WebhookEventType, WebhookNotification
from maxxton_async.sandbox import Sandbox
from maxxton_async.webhooks import webhook_app

SECRET = "whsec-test-secret"


@asynccontextmanager
async def receiver(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks"
    finally:
        await runner.cleanup()


def optional_reservation(sb: Sandbox) -> int:
    return next(r for r, rec in sb.data.reservations.items() if rec["statusValue"] == "OPTIONAL")


async def confirm(sb: Sandbox, res_id: int) -> None:
    async with MaxxtonClient(
        sb.client_id, sb.client_secret, sb.scope, base_url=sb.base_url, usage=MemoryLedger()
    ) as client:
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
        (delivery,) = [d for d in sb.stats.webhooks if d.type.startswith("reservation.status")]
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
        (delivery,) = list(sb.stats.webhooks)
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
        (delivery,) = list(sb.stats.webhooks)
        # Nothing accepted was lost: the first answer was a 5xx, the redelivery succeeded.
        assert (delivery.delivered, delivery.status, delivery.attempts) == (True, 200, 2)
    assert calls == 2
