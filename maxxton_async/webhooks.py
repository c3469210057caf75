"""Receiving Maxxton webhooks: signature check, parsing, and an aiohttp receiver.

Guide, Webhooks, "Sender Validation": Maxxton signs every delivery with HMAC-SHA256 over the
payload using the secret given at setup and sends it in the ``webhook-signature`` header, e.g.
``webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=``: a version, a comma and
the base64 digest. Following the standard-webhooks convention the guide's format comes from,
one header may carry several space-separated signatures (e.g. while a secret is rotated);
any valid ``v1`` signature passes and unknown versions are skipped.

::

    from maxxton_async.webhooks import WebhookEventType, webhook_app

    async def on_status(n: WebhookNotification) -> None:
        ...

    app = webhook_app(secret, {WebhookEventType.STATUS_CHANGE: on_status})

The receiver answers 401 for a missing or wrong signature, 400 for a body that does not
decode, 2xx once a handler returned, and 500 when a handler raised, so that the sender
retries and an accepted delivery is never silently lost. The secret is never logged nor put
in an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping

import msgspec
from aiohttp import web

from ._errors import ConfigurationError, WebhookPayloadError, WebhookSignatureError
from .models import WebhookEventType, WebhookNotification, decoder_for

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "WebhookHandler",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "is_valid_signature",
    "parse",
    "sign",
    "verify_signature",
    "webhook_app",
    "webhook_handler",
]

SIGNATURE_HEADER = "webhook-signature"
"""The header carrying the signature (guide, Webhooks, Sender Validation)."""

SIGNATURE_VERSION = "v1"
"""The only signature scheme the guide documents (HMAC-SHA256, base64)."""

_DIGEST_SIZE = hashlib.sha256().digest_size

_logger = logging.getLogger(__name__)

WebhookHandler = Callable[[WebhookNotification], Awaitable[object]]
"""An async callable handling one notification; its return value is ignored."""


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ConfigurationError("the webhook secret must not be empty")
    return key


def _digest(body: bytes, key: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def sign(body: bytes, secret: str | bytes) -> str:
    """Return the ``webhook-signature`` header value Maxxton would send for ``body``.

    Meant for tests and the sandbox: ``v1,`` followed by base64(HMAC-SHA256(secret, body)).
    """
    encoded = base64.b64encode(_digest(body, _key(secret))).decode("ascii")
    return f"{SIGNATURE_VERSION},{encoded}"


def _candidates(header: str) -> list[bytes]:
    """The well-formed v1 digests of a header; garbled and other-version entries dropped."""
    digests = []
    for item in header.split():
        version, comma, value = item.partition(",")
        if not comma or version != SIGNATURE_VERSION:
            continue
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(digest) == _DIGEST_SIZE:
            digests.append(digest)
    return digests


def verify_signature(body: bytes, signature_header: str | None, secret: str | bytes) -> None:
    """Check ``signature_header`` against the raw ``body``; return if one signature matches.

    Pass the body exactly as received (before any JSON parsing): the signature covers the
    bytes. Comparison is constant-time (:func:`hmac.compare_digest`).

    Raises:
        WebhookSignatureError: missing or empty header, no well-formed ``v1`` signature, or no
            signature that matches.
        ConfigurationError: ``secret`` is empty.
    """
    expected = _digest(body, _key(secret))
    if not signature_header or not signature_header.strip():
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header", reason="missing")
    candidates = _candidates(signature_header)
    if not candidates:
        raise WebhookSignatureError(
            f"{SIGNATURE_HEADER} holds no well-formed {SIGNATURE_VERSION} signature "
            f"(expected '{SIGNATURE_VERSION},<base64 HMAC-SHA256>')",
            reason="malformed",
        )
    matched = False
    for digest in candidates:
        # No early exit: every candidate is compared, so timing does not tell which matched.
        matched |= hmac.compare_digest(digest, expected)
    if not matched:
        raise WebhookSignatureError(
            "webhook signature does not match the body and secret", reason="mismatch"
        )


def is_valid_signature(body: bytes, signature_header: str | None, secret: str | bytes) -> bool:
    """Like :func:`verify_signature`, but answer ``True``/``False`` instead of raising.

    Raises:
        ConfigurationError: ``secret`` is empty (a setup mistake, not a bad delivery).
    """
    try:
        verify_signature(body, signature_header, secret)
    except WebhookSignatureError:
        return False
    return True


def parse(body: bytes) -> WebhookNotification:
    """Decode a webhook body (the guide's container) into a :class:`WebhookNotification`.

    Raises:
        WebhookPayloadError: not JSON, or not the container's shape; keeps the raw bytes.
    """
    try:
        return decoder_for(WebhookNotification).decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WebhookPayloadError(
            f"webhook body does not decode: {exc}", detail=str(exc), body=body
        ) from exc


def _normalise(handlers: Mapping[WebhookEventType | str, WebhookHandler]) -> dict[str, str]:
    # Map every key to the canonical type string, so a handler registered under either of
    # the guide's spellings of the status event receives both.
    return {k: str(WebhookEventType.parse(k) or k) for k in handlers}


def webhook_handler(
    secret: str | bytes,
    handlers: Mapping[WebhookEventType | str, WebhookHandler],
    *,
    fallback: WebhookHandler | None = None,
    unhandled_status: int = 200,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Build an aiohttp request handler that verifies, parses and dispatches deliveries.

    Args:
        secret: the webhook secret configured in Maxxton's Integration Manager.
        handlers: async handler per event type (a :class:`WebhookEventType` or the raw
            ``type`` string); the status event matches both of the guide's spellings.
        fallback: handler for types with no entry in ``handlers``.
        unhandled_status: status answered for a type with no handler and no fallback;
            2xx (the default, 200) acknowledges and drops it, 4xx/5xx make the sender retry.

    Answers: 401 bad or missing signature; 400 undecodable body; 200 handled; 500 the handler
    raised (logged with the notification id, so the sender retries); ``unhandled_status``
    for an unhandled type. Bodies are small JSON objects with ``status`` and a ``note``.
    """
    key = _key(secret)
    if not 200 <= unhandled_status <= 599:
        raise ConfigurationError(f"unhandled_status must be an HTTP status, got {unhandled_status}")
    canonical = _normalise(handlers)
    table: dict[str, WebhookHandler] = {canonical[k]: h for k, h in handlers.items()}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_signature(body, request.headers.get(SIGNATURE_HEADER), key)
        except WebhookSignatureError as exc:
            _logger.warning("webhook refused: %s (%s)", exc.message, exc.reason)
            return web.json_response(
                {"status": "unauthorized", "note": exc.message, "reason": exc.reason}, status=401
            )
        try:
            notification = parse(body)
        except WebhookPayloadError as exc:
            _logger.warning("webhook body does not decode: %s", exc.detail)
            return web.json_response({"status": "bad_request", "note": exc.detail}, status=400)
        event = notification.event_type
        handler = table.get(str(event) if event is not None else notification.type, fallback)
        ids = {"notificationId": notification.notification_id, "type": notification.type}
        if handler is None:
            _logger.info("webhook %s: no handler for type %r", *ids.values())
            return web.json_response(
                {"status": "ignored", "note": "no handler for this type", **ids},
                status=unhandled_status,
            )
        try:
            await handler(notification)
        except Exception:
            _logger.exception("webhook %s (%s): handler failed", *ids.values())
            return web.json_response(
                {"status": "error", "note": "handler failed; please retry", **ids}, status=500
            )
        return web.json_response({"status": "ok", **ids})

    return handle


def webhook_app(
    secret: str | bytes,
    handlers: Mapping[WebhookEventType | str, WebhookHandler],
    *,
    path: str = "/webhooks",
    fallback: WebhookHandler | None = None,
    unhandled_status: int = 200,
    client_max_size: int = 8 * 1024 * 1024,
) -> web.Application:
    """An aiohttp application receiving Maxxton webhooks with ``POST`` on ``path``.

    ``client_max_size`` bounds the body (aiohttp answers 413 above it); the default leaves
    room for reservations with large bills. See :func:`webhook_handler` for the rest.
    """
    app = web.Application(client_max_size=client_max_size)
    app.router.add_post(
        path,
        webhook_handler(secret, handlers, fallback=fallback, unhandled_status=unhandled_status),
    )
    return app
