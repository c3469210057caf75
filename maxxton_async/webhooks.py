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

Receiver authentication (guide, Webhooks, Security, Authentication): "The endpoint used to send
the webhook requests can optionally require authentication": **Basic** (``Authorization: Basic
{credentials}``, :class:`BasicAuth`) or **OAuth 2.0 client credentials** ("request a valid token
first", then ``Authorization: Bearer {token}``; :class:`OAuth2Tokens` issues and checks the
tokens and :func:`webhook_app` serves its token endpoint), besides or instead of the signature.
:class:`ReplayGuard` optionally drops a ``notificationId`` already handled.

Handlers get a :class:`WebhookNotification` whose ``data`` sections are typed where the SDK
models their REST shape, every section raw in ``sections``, and the raw ``body``.

The receiver answers 401 for a missing or wrong signature or credentials, 400 for a body that
does not decode, 2xx once a handler returned, and 500 when a handler raised, so that the sender
retries and an accepted delivery is never silently lost. Secrets, passwords and tokens are never
logged nor put in an error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import msgspec
from aiohttp import web

from ._errors import ConfigurationError, WebhookPayloadError, WebhookSignatureError
from .models import WebhookData, WebhookEventType, WebhookNotification, decoder_for

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_VERSION",
    "BasicAuth",
    "OAuth2Tokens",
    "ReplayGuard",
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


class _Sections(msgspec.Struct):
    data: dict[str, msgspec.Raw] | None = None


def parse(body: bytes) -> WebhookNotification:
    """Decode a webhook body (the guide's container) into a :class:`WebhookNotification`.

    The container's own fields are strict. ``data`` is decoded section by section: a typed
    section of another shape is kept raw (counted in the decode report) rather than failing
    the delivery, and every section is also in ``notification.sections``, raw. The body is
    kept in ``notification.body``.

    Raises:
        WebhookPayloadError: not JSON, or not the container's shape; keeps the raw bytes.
    """
    try:
        notification = decoder_for(WebhookNotification).decode(body)
        raw = msgspec.json.decode(body, type=_Sections).data or {}
        undecoded = notification.undecoded
        if undecoded is not None and "data" in undecoded:
            # ``data`` as a whole did not fit: decode it section by section instead.
            notification.data = decoder_for(WebhookData).decode(undecoded.pop("data"))
            notification.undecoded = undecoded or None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WebhookPayloadError(
            f"webhook body does not decode: {exc}", detail=str(exc), body=body
        ) from exc
    notification.sections = raw
    notification.body = bytes(body)
    return notification


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Receiver credentials for ``Authorization: Basic {credentials}`` (guide, Webhooks,
    Security: "Basic Authentication"): configure the same user and password on the webhook
    in Maxxton's Integration Manager. Compared in constant time; ``repr`` hides the password.
    """

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.username or not self.password:
            raise ConfigurationError("Basic authentication needs a username and a password")

    def header(self) -> str:
        """The ``Authorization`` value a sender sends (for tests and the sandbox)."""
        return "Basic " + _b64(f"{self.username}:{self.password}")

    def check(self, authorization: str | None) -> bool:
        """Whether ``authorization`` carries these credentials."""
        return authorization is not None and hmac.compare_digest(
            authorization.strip().encode(), self.header().encode()
        )


class OAuth2Tokens:
    """The receiver's side of "OAuth 2.0 (Client Credential Grant): Authorization: Bearer
    {token}" (guide, Webhooks, Security): Maxxton requests "a valid token first" from a token
    endpoint with the client id and secret configured on the webhook, then sends it as a
    bearer token.

    :func:`webhook_app` serves :meth:`token_endpoint` on ``token_path`` (form or Basic client
    authentication, ``grant_type=client_credentials``; answer ``{"access_token",
    "token_type": "Bearer", "expires_in"}``) and checks the bearer of every delivery.

    Args:
        clients: client id -> client secret.
        ttl: token lifetime in seconds.
        clock: seconds, monotonic (inject one in tests).
        max_tokens: tokens kept at once; the oldest is dropped past it.
    """

    def __init__(
        self,
        clients: Mapping[str, str],
        *,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        max_tokens: int = 10_000,
    ) -> None:
        if not clients or any(not c or not s for c, s in clients.items()):
            raise ConfigurationError("OAuth2 receiver needs client ids with non-empty secrets")
        if ttl <= 0:
            raise ConfigurationError(f"ttl must be positive, got {ttl}")
        self._clients = dict(clients)
        self.ttl = ttl
        self._clock = clock
        self._max = max_tokens
        self._tokens: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        return f"<OAuth2Tokens clients={len(self._clients)} live={len(self._tokens)}>"

    def issue(self, client_id: str | None, client_secret: str | None) -> str | None:
        """A new token for valid client credentials, else ``None``."""
        expected = self._clients.get(client_id or "")
        if expected is None or client_secret is None:
            return None
        if not hmac.compare_digest(expected.encode(), client_secret.encode()):
            return None
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self._clock() + self.ttl
        while len(self._tokens) > self._max:
            self._tokens.popitem(last=False)
        return token

    def check(self, authorization: str | None) -> bool:
        """Whether ``authorization`` is ``Bearer <a live token>``."""
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        expires = self._tokens.get(token.strip())
        if expires is None:
            return False
        if self._clock() >= expires:
            del self._tokens[token.strip()]
            return False
        return True

    async def token_endpoint(self, request: web.Request) -> web.Response:
        """The client-credentials token endpoint (RFC 6749 4.4)."""
        form = dict(await request.post()) if request.can_read_body else {}
        params = {**request.query, **{k: v for k, v in form.items() if isinstance(v, str)}}
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                decoded = ""
            client_id, _, client_secret = decoded.partition(":")
        if params.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = self.issue(client_id, client_secret)
        if token is None:
            return web.json_response({"error": "invalid_client"}, status=401)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": int(self.ttl)}
        )


class ReplayGuard:
    """Drops a delivery whose ``notificationId`` was already handled ("unique id of the webhook
    request", guide, Request Structure): optional replay protection.

    An id is remembered once its handler returned; a delivery of an id still being handled
    is answered 409 so the sender retries later. At most ``max_ids`` ids are remembered
    (oldest forgotten first).
    """

    def __init__(self, max_ids: int = 100_000) -> None:
        if max_ids < 1:
            raise ConfigurationError(f"max_ids must be at least 1, got {max_ids}")
        self.max_ids = max_ids
        self._done: OrderedDict[str, None] = OrderedDict()
        self._running: set[str] = set()

    def __repr__(self) -> str:
        return f"<ReplayGuard remembered={len(self._done)} running={len(self._running)}>"

    def seen(self, notification_id: str) -> bool:
        """Whether ``notification_id`` was handled already."""
        return notification_id in self._done

    def running(self, notification_id: str) -> bool:
        """Whether ``notification_id`` is being handled right now."""
        return notification_id in self._running

    def start(self, notification_id: str) -> None:
        """Mark ``notification_id`` as being handled."""
        self._running.add(notification_id)

    def finish(self, notification_id: str, *, handled: bool) -> None:
        """Mark the end of a delivery; remember the id only if it was handled."""
        self._running.discard(notification_id)
        if handled:
            self._done[notification_id] = None
            while len(self._done) > self.max_ids:
                self._done.popitem(last=False)


def _normalise(handlers: Mapping[WebhookEventType | str, WebhookHandler]) -> dict[str, str]:
    # Map every key to the canonical type string, so a handler registered under either of
    # the guide's spellings of the status event receives both.
    return {k: str(WebhookEventType.parse(k) or k) for k in handlers}


def webhook_handler(
    secret: str | bytes | None,
    handlers: Mapping[WebhookEventType | str, WebhookHandler],
    *,
    fallback: WebhookHandler | None = None,
    unhandled_status: int = 200,
    basic: BasicAuth | None = None,
    oauth: OAuth2Tokens | None = None,
    replay: ReplayGuard | None = None,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Build an aiohttp request handler that verifies, parses and dispatches deliveries.

    Args:
        secret: the webhook secret configured in Maxxton's Integration Manager (signature
            check), or ``None`` to rely on ``basic`` or ``oauth`` alone.
        handlers: async handler per event type (a :class:`WebhookEventType` or the raw
            ``type`` string); the status event matches both of the guide's spellings.
        fallback: handler for types with no entry in ``handlers``.
        unhandled_status: status answered for a type with no handler and no fallback;
            2xx (the default, 200) acknowledges and drops it, 4xx/5xx make the sender retry.
        basic: require ``Authorization: Basic`` with these credentials.
        oauth: require ``Authorization: Bearer`` with a token these issued.
        replay: drop (200, ``"duplicate"``) a ``notificationId`` already handled.

    Answers: 401 bad or missing signature or credentials; 400 undecodable body; 200 handled
    (or a duplicate); 409 the same notification is being handled; 500 the handler raised
    (logged with the notification id, so the sender retries); ``unhandled_status`` for an
    unhandled type. Bodies are small JSON objects with ``status`` and a ``note``.

    Raises:
        ConfigurationError: no way to authenticate deliveries (no secret, basic or oauth),
            or a bad ``unhandled_status``.
    """
    key = _key(secret) if secret is not None else None
    if key is None and basic is None and oauth is None:
        raise ConfigurationError(
            "a webhook receiver needs a secret, Basic credentials or an OAuth2 token issuer"
        )
    if basic is not None and oauth is not None:
        raise ConfigurationError("a webhook uses Basic or OAuth2 authentication, not both")
    if not 200 <= unhandled_status <= 599:
        raise ConfigurationError(f"unhandled_status must be an HTTP status, got {unhandled_status}")
    canonical = _normalise(handlers)
    table: dict[str, WebhookHandler] = {canonical[k]: h for k, h in handlers.items()}

    async def handle(request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        for guard, scheme in ((basic, "Basic"), (oauth, "Bearer")):
            if guard is not None and not guard.check(authorization):
                _logger.warning("webhook refused: no valid %s credentials", scheme)
                return web.json_response(
                    {"status": "unauthorized", "note": f"{scheme} authentication required"},
                    status=401,
                    headers={"WWW-Authenticate": scheme},
                )
        body = await request.read()
        if key is not None:
            try:
                verify_signature(body, request.headers.get(SIGNATURE_HEADER), key)
            except WebhookSignatureError as exc:
                _logger.warning("webhook refused: %s (%s)", exc.message, exc.reason)
                return web.json_response(
                    {"status": "unauthorized", "note": exc.message, "reason": exc.reason},
                    status=401,
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
        nid = notification.notification_id
        if replay is not None:
            if replay.seen(nid):
                _logger.info("webhook %s: already handled, dropped", nid)
                return web.json_response({"status": "duplicate", **ids})
            if replay.running(nid):
                return web.json_response(
                    {"status": "busy", "note": "being handled; retry later", **ids}, status=409
                )
            replay.start(nid)
        handled = False
        try:
            await handler(notification)
            handled = True
        except Exception:
            _logger.exception("webhook %s (%s): handler failed", *ids.values())
            return web.json_response(
                {"status": "error", "note": "handler failed; please retry", **ids}, status=500
            )
        finally:
            if replay is not None:
                replay.finish(nid, handled=handled)
        return web.json_response({"status": "ok", **ids})

    return handle


def webhook_app(
    secret: str | bytes | None,
    handlers: Mapping[WebhookEventType | str, WebhookHandler],
    *,
    path: str = "/webhooks",
    fallback: WebhookHandler | None = None,
    unhandled_status: int = 200,
    client_max_size: int = 8 * 1024 * 1024,
    basic: BasicAuth | None = None,
    oauth: OAuth2Tokens | None = None,
    token_path: str = "/oauth/token",
    replay: ReplayGuard | None = None,
) -> web.Application:
    """An aiohttp application receiving Maxxton webhooks with ``POST`` on ``path``.

    ``client_max_size`` bounds the body (aiohttp answers 413 above it); the default leaves
    room for reservations with large bills. With ``oauth``, the client-credentials token
    endpoint is served on ``token_path`` (give Maxxton that URL). See :func:`webhook_handler`
    for the rest.
    """
    app = web.Application(client_max_size=client_max_size)
    app.router.add_post(
        path,
        webhook_handler(
            secret,
            handlers,
            fallback=fallback,
            unhandled_status=unhandled_status,
            basic=basic,
            oauth=oauth,
            replay=replay,
        ),
    )
    if oauth is not None:
        app.router.add_post(token_path, oauth.token_endpoint)
    return app
