"""Webhook deliveries: signed POSTs of the guide's container to registered URLs.

Signature (guide, Webhooks, Sender Validation): ``webhook-signature: v1,<base64 HMAC-SHA256 of
the raw body with the webhook secret>``, made by :func:`maxxton_async.webhooks.sign`, so the
sender and the SDK's receiver share one implementation and cannot drift apart (``sign`` and
``verify`` here are that module's functions, body first). The container fields are the
guide's (Request Structure). Delivery is fire-and-forget: a background task per notification,
retried a bounded number of times on a 5xx or a connection failure, each outcome kept in the
stats. A subscriber may require authentication (guide, Webhooks, Security, Authentication):
Basic (``Authorization: Basic {credentials}``) or OAuth 2.0 client credentials (a token is
requested from the subscriber's token URL first, then sent as ``Authorization: Bearer``; it is
reused until it expires, and requested again after a 401).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from ..webhooks import is_valid_signature, sign
from ._stats import SandboxStats, WebhookDelivery

__all__ = ["WEBHOOK_TYPES", "Webhook", "WebhookDispatcher", "sign", "verify"]

#: Reservation webhook types (guide, Webhooks, Available Context & Events).
WEBHOOK_TYPES = (
    "reservation.status_change",
    "reservation.stay_period_change",
    "reservation.bill_change",
    "reservation.payment_received",
    "reservation.refund_given",
)

#: ``maxxton_async.sandbox.verify``: kept for callers that imported the sandbox's own checker;
#: now the SDK's :func:`~maxxton_async.webhooks.is_valid_signature`, so (body, header, secret).
verify = is_valid_signature


@dataclass(slots=True)
class Webhook:
    """A registered subscriber. ``types`` empty means every reservation webhook type."""

    webhook_id: int
    url: str
    secret: str
    name: str = "Sandbox webhook"
    types: frozenset[str] = frozenset()
    basic: tuple[str, str] | None = None
    oauth: tuple[str, str, str] | None = None
    """``(token_url, client_id, client_secret)``."""
    token: tuple[str, float] | None = None
    """The bearer token in use and when it expires (loop time)."""

    def __repr__(self) -> str:
        return f"<Webhook {self.webhook_id} {self.url!r}>"  # no secret, password or token


@dataclass(slots=True)
class WebhookDispatcher:
    """Holds the subscribers and the delivery tasks in flight."""

    stats: SandboxStats
    now: Callable[[], dt.datetime]
    max_attempts: int = 3
    backoff: float = 0.05
    timeout: float = 5.0
    hooks: dict[int, Webhook] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None
    _next_notification: int = 1

    def register(
        self,
        url: str,
        secret: str,
        *,
        name: str = "Sandbox webhook",
        types: tuple[str, ...] = (),
        basic: tuple[str, str] | None = None,
        oauth: tuple[str, str, str] | None = None,
    ) -> int:
        """Subscribe ``url``; returns the ``webhookId``."""
        if not secret:
            # The SDK's signer refuses an empty key; refuse it here, not in a delivery task.
            raise ValueError("the webhook secret must not be empty")
        unknown = set(types) - set(WEBHOOK_TYPES)
        if unknown:
            raise ValueError(f"unknown webhook types: {sorted(unknown)}")
        if basic is not None and oauth is not None:
            raise ValueError("a webhook uses Basic or OAuth2 authentication, not both")
        webhook_id = len(self.hooks) + 1
        self.hooks[webhook_id] = Webhook(
            webhook_id, url, secret, name, frozenset(types), basic=basic, oauth=oauth
        )
        return webhook_id

    def notify(self, type_: str, reservation: dict[str, Any], occurred: dt.datetime) -> int:
        """Schedule a delivery of ``type_`` to every interested subscriber; returns how many."""
        count = 0
        for hook in self.hooks.values():
            if hook.types and type_ not in hook.types:
                continue
            notification_id = str(self._next_notification)
            self._next_notification += 1
            container = {
                "notificationId": notification_id,
                "webhookId": hook.webhook_id,
                "webhookName": hook.name,
                "eventOccurred": occurred.isoformat().replace("+00:00", "Z"),
                "sentDate": self.now().isoformat().replace("+00:00", "Z"),
                "type": type_,
                "data": {"reservation": dict(reservation)},
            }
            body = msgspec.json.encode(container)
            delivery = WebhookDelivery(hook.webhook_id, notification_id, type_, hook.url)
            self.stats.webhooks.append(delivery)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                # mutate() called from synchronous code: nothing can deliver; say so.
                delivery.error = "no running event loop"
                continue
            task = loop.create_task(self._deliver(hook, body, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            count += 1
        return count

    async def _deliver(self, hook: Webhook, body: bytes, delivery: WebhookDelivery) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {"Content-Type": "application/json", "webhook-signature": sign(body, hook.secret)}
        for attempt in range(1, self.max_attempts + 1):
            delivery.attempts = attempt
            try:
                authorization = await self._authorization(hook)
                if authorization is not None:
                    headers["Authorization"] = authorization
                async with self._session.post(hook.url, data=body, headers=headers) as resp:
                    if resp.status == 401 and hook.oauth is not None:
                        hook.token = None  # expired or revoked: request a new one next time
                    delivery.status = resp.status
                    await resp.read()
                    if resp.status < 500:
                        delivery.delivered = resp.status < 300
                        delivery.error = None if delivery.delivered else f"HTTP {resp.status}"
                        return
                    delivery.error = f"HTTP {resp.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
            if attempt < self.max_attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))

    async def _authorization(self, hook: Webhook) -> str | None:
        if hook.basic is not None:
            user, password = hook.basic
            raw = f"{user}:{password}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        if hook.oauth is None:
            return None
        now = asyncio.get_running_loop().time()
        if hook.token is None or now >= hook.token[1]:
            token_url, client_id, client_secret = hook.oauth
            assert self._session is not None
            form = {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            }
            async with self._session.post(token_url, data=form) as resp:
                if resp.status != 200:
                    raise aiohttp.ClientResponseError(
                        resp.request_info, (), status=resp.status, message="token refused"
                    )
                answer = await resp.json()
            hook.token = (str(answer["access_token"]), now + float(answer.get("expires_in", 60)))
        return f"Bearer {hook.token[0]}"

    async def drain(self, max_wait: float = 10.0) -> None:
        """Wait (at most ``max_wait`` s) until every scheduled delivery has finished."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max_wait)

    async def aclose(self) -> None:
        """Cancel pending deliveries and close the HTTP session."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
