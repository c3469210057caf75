"""A webhook receiver: verify Maxxton's signature, drop redeliveries, dispatch by type.

    python examples/webhook_receiver.py                  # a sandbox sends it real deliveries
    MAXXTON_WEBHOOK_SECRET=... python examples/webhook_receiver.py --serve 8080

Maxxton signs each delivery with HMAC-SHA256 of the body under the secret set in the
Integration Manager, in the ``webhook-signature`` header (guide, Webhooks, Sender
Validation). :func:`~maxxton_async.webhooks.webhook_app` answers 401 to a bad signature, 400
to a body that does not decode, 200 once your handler returned and 500 when it raised, so
the sender retries and an accepted delivery is never lost. Delivery is at least once: keep
the ``notificationId``s you handled and skip repeats.

In the sandbox run, the client confirms an OPTIONAL reservation (a ``reservation.status_change``)
and the sandbox changes a few more (stay periods and bills), then waits for every delivery.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from maxxton_async import F
from maxxton_async.models import WebhookEventType, WebhookNotification
from maxxton_async.testing import sandbox
from maxxton_async.webhooks import webhook_app


class Receiver:
    """Your side: handlers per event type, and the ids already handled."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.received: list[WebhookNotification] = []

    async def on_status(self, note: WebhookNotification) -> None:
        if self._first_time(note):
            res = note.data.reservation
            if res is not None:
                print(f"{note.type}: reservation {res.reservation_id} is now {res.status_value}")

    async def on_other(self, note: WebhookNotification) -> None:
        if self._first_time(note):
            res = note.data.reservation
            print(f"{note.type}: reservation {res.reservation_id if res else '?'}")

    def _first_time(self, note: WebhookNotification) -> bool:
        if note.notification_id in self.seen:  # a redelivery: already handled
            return False
        self.seen.add(note.notification_id)
        self.received.append(note)
        return True

    def app(self, secret: str) -> web.Application:
        return webhook_app(
            secret, {WebhookEventType.STATUS_CHANGE: self.on_status}, fallback=self.on_other
        )


@asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``app``; yields the webhook URL (``/webhooks``)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield f"http://{host}:{runner.addresses[0][1]}/webhooks"
    finally:
        await runner.cleanup()


async def main() -> list[WebhookNotification]:
    """Receive the deliveries a sandbox sends; print and return them."""
    secret = "whsec-example"  # in production: the secret you set in Maxxton, from a vault
    receiver = Receiver()
    async with serving(receiver.app(secret), "127.0.0.1", 0) as url, sandbox(seed=5) as sb:
        sb.register_webhook(url, secret)
        async with sb.client() as client:
            optional = await client.reservations.list(size=1, filter=F("statusValue") == "OPTIONAL")
            await client.reservations.confirm(optional.content[0].reservation_id)
        sb.mutate(48)  # 48 changes include a status, a stay-period and a bill change
        await sb.wait_webhooks()
    print(f"{len(receiver.received)} deliveries received, each verified and handled once")
    return receiver.received


async def serve(port: int) -> None:
    """Receive real deliveries on ``0.0.0.0:port`` until interrupted."""
    secret = os.environ["MAXXTON_WEBHOOK_SECRET"]
    async with serving(Receiver().app(secret), "0.0.0.0", port) as url:
        print(f"receiving on {url}; Ctrl-C to stop")
        await asyncio.Event().wait()


if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:
        asyncio.run(serve(int(sys.argv[sys.argv.index("--serve") + 1])))
    else:
        asyncio.run(main())
