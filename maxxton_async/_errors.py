"""The exceptions raised by maxxton_async, all in one place.

The hierarchy::

    MaxxtonError
    ├── ConfigurationError        bad or missing settings; raised before any I/O
    ├── ClientClosedError         the client was used after aclose()
    ├── AuthenticationError       credentials refused, or the token endpoint keeps failing
    ├── BudgetExceededError       a hard budget is spent; nothing was sent
    ├── LimiterUnavailableError   the shared (Redis) slot store cannot be reached
    ├── LedgerUnavailableError    the attempt could not be counted, so it was not sent
    ├── TransportError            no usable HTTP response; ``sent`` says if it may have left
    │   ├── ConnectError          connection refused, or lost before an answer
    │   ├── RequestTimeoutError   no answer in time (also a builtins.TimeoutError)
    │   ├── ProtocolError         the answer was not valid HTTP (status line, cut-off body)
    │   └── OutcomeUnknownError   a non-idempotent call was sent but its answer was lost
    ├── ResponseDecodeError       a 2xx body that does not decode; keeps the raw bytes
    │   └── WebhookPayloadError   a webhook body that does not decode
    ├── WebhookSignatureError     a webhook signature that is missing, garbled or wrong
    ├── IllegalTransitionError    a reservation status change the guide does not allow
    └── APIStatusError            any non-2xx answer; keeps status and raw body
        ├── BadRequestError            400
        ├── UnauthorizedError          401 (after one re-authentication and replay)
        ├── PermissionDeniedError      403
        ├── NotFoundError              404
        ├── ConflictError              409
        ├── RateLimitError             429, with ``retry_after``
        ├── RedirectError              3xx: never followed (a 307 would resend a create)
        └── ServerError                5xx

Every error that concerns a request carries ``method``, ``path``, ``status`` (``None`` when
no response arrived) and ``body`` (the raw bytes, ``b""`` when none), so nothing the server
said is lost. No error ever carries a credential: messages are built from the method, the
path (without query string, which may hold ``client_secret`` when the query-string auth
transport is used) and the server's own words, and the client scrubs its secret and every
token it was issued from the message, ``args`` and ``body`` of every error it raises. The
transport's own exceptions (aiohttp's text quotes the URL) are never chained: a
``TransportError`` keeps only their class name and a scrubbed message.
"""

from __future__ import annotations

import builtins

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ClientClosedError",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "IllegalTransitionError",
    "LedgerUnavailableError",
    "LimiterUnavailableError",
    "MaxxtonError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "RedirectError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "UnauthorizedError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "status_error",
]

_BODY_PREVIEW = 200


def _preview(body: bytes) -> str:
    text = body[:_BODY_PREVIEW].decode("utf-8", "replace")
    return text + ("…" if len(body) > _BODY_PREVIEW else "")


class MaxxtonError(Exception):
    """Base class of every exception this package raises.

    Attributes:
        method: HTTP method of the request concerned, or ``None``.
        path: URL path (never the query string) of the request concerned, or ``None``.
        status: HTTP status received, or ``None`` when no response arrived.
        body: the raw response body, ``b""`` when there was none.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.body = body

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        return f"{where}{self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, method={self.method!r}, "
            f"path={self.path!r}, status={self.status!r})"
        )


class ConfigurationError(MaxxtonError, ValueError):
    """A setting is missing or invalid. Raised at construction, before any I/O."""


class ClientClosedError(MaxxtonError, RuntimeError):
    """The client was used after ``aclose()`` (or after its ``async with`` block)."""


class AuthenticationError(MaxxtonError):
    """``POST /maxxton/v2/authenticate`` refused the credentials.

    ``message`` holds what the server said; the secret is never included.
    """


class BudgetExceededError(MaxxtonError):
    """A hard budget is spent. Raised before the request reaches the wire.

    Attributes:
        limit_name: ``"daily"`` or ``"monthly"``.
        used: calls already counted for that period.
        limit: the configured limit.
    """

    def __init__(
        self,
        message: str,
        *,
        limit_name: str,
        used: int,
        limit: int,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.limit_name = limit_name
        self.used = used
        self.limit = limit


class LimiterUnavailableError(MaxxtonError):
    """The shared concurrency store (Redis) cannot be reached and the limiter fails closed."""


class LedgerUnavailableError(MaxxtonError):
    """The usage ledger could not record the attempt, so it was not sent.

    Every billed attempt is counted before it leaves; when the count cannot be written
    (a locked or full SQLite file, Redis down), the request is refused instead of going
    out uncounted.
    """


class TransportError(MaxxtonError):
    """No usable HTTP response was received.

    Attributes:
        sent: whether the request may have reached the server. ``False`` means it provably
            never left (the connection was never made), so even a create may be resent.
    """

    def __init__(
        self,
        message: str,
        *,
        sent: bool = True,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, method=method, path=path, status=status, body=body)
        self.sent = sent


class ConnectError(TransportError):
    """The connection could not be made (``sent`` is false), or dropped before an answer."""


class RequestTimeoutError(TransportError, builtins.TimeoutError):
    """No answer within the configured timeout (``sent`` is false for a connect timeout).

    Also a :class:`builtins.TimeoutError`, so ``except TimeoutError`` catches it.
    """


#: The former name of :class:`RequestTimeoutError`, kept for code written against 0.1.
TimeoutError = RequestTimeoutError


class ProtocolError(TransportError):
    """The server's answer was not valid HTTP: a malformed status line or headers, or a
    body cut off before its declared length. The request was sent."""


class OutcomeUnknownError(TransportError):
    """A non-idempotent request (e.g. creating a reservation) may have reached the server,
    but no answer came back. It is not retried, since a second send could book twice:
    check the server's state (e.g. by ``externalBookingReference``) before trying again.
    """


class ResponseDecodeError(MaxxtonError):
    """A successful response whose body does not decode into the expected type.

    ``body`` keeps the raw bytes; ``detail`` keeps msgspec's message (which names the path
    inside the document, e.g. ``$.content[3].arrivalDate``).
    """

    def __init__(
        self,
        message: str,
        *,
        detail: str,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, method=method, path=path, status=status, body=body)
        self.detail = detail


class WebhookPayloadError(ResponseDecodeError):
    """A webhook body that does not decode as a ``WebhookNotification``.

    ``body`` keeps the raw bytes and ``detail`` msgspec's message (with the JSON path).
    """


class WebhookSignatureError(MaxxtonError):
    """A webhook's signature header is missing, garbled, or matches no signature of the body.

    Attributes:
        reason: ``"missing"`` (no or empty header), ``"malformed"`` (no well-formed ``v1``
            signature in the header), or ``"mismatch"`` (well-formed, but none verifies).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class IllegalTransitionError(MaxxtonError, ValueError):
    """A reservation status change not allowed by the guide's transition table.

    Raised before any request is sent.
    """


class APIStatusError(MaxxtonError):
    """The server answered with a non-2xx status.

    ``status`` and ``body`` always hold what the server sent.
    """

    status: int

    def __init__(
        self,
        message: str,
        *,
        method: str | None,
        path: str | None,
        status: int,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, method=method, path=path, status=status, body=body)


class BadRequestError(APIStatusError):
    """400: the server rejected the request (validation, a filter it cannot parse, …)."""


class UnauthorizedError(APIStatusError):
    """401 that persisted after one re-authentication and one replay."""


class PermissionDeniedError(APIStatusError):
    """403: the API user lacks the rights (or distribution channel) for this resource."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class RateLimitError(APIStatusError):
    """429: too many concurrent calls, after the retry policy gave up.

    ``retry_after`` holds the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None,
        path: str | None,
        status: int = 429,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, status=status, body=body)
        self.retry_after = retry_after


class RedirectError(APIStatusError):
    """3xx. Redirects are never followed: aiohttp would resend a POST on a 307 (booking
    twice) and turn a 302 into an uncounted GET. ``location`` holds the target."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None,
        path: str | None,
        status: int,
        body: bytes = b"",
        location: str | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, status=status, body=body)
        self.location = location


class ServerError(APIStatusError):
    """5xx."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
}


def status_error(
    *,
    method: str,
    path: str,
    status: int,
    body: bytes,
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the typed error for a non-2xx response (pure; the caller raises it)."""
    message = f"HTTP {status}"
    if body:
        message += f": {_preview(body)}"
    if status == 429:
        return RateLimitError(message, method=method, path=path, body=body, retry_after=retry_after)
    if status >= 500:
        return ServerError(message, method=method, path=path, status=status, body=body)
    if 300 <= status < 400:
        return RedirectError(message, method=method, path=path, status=status, body=body)
    cls = _BY_STATUS.get(status, APIStatusError)
    return cls(message, method=method, path=path, status=status, body=body)
