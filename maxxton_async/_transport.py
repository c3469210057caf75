"""The transport seam: one request value in, status, headers and body out.

The client's send path (token, budget, slot, retries) never touches aiohttp directly: it
hands a :class:`Request` to a :class:`Transport` and gets a :class:`Response` back, or a
:class:`~maxxton_async.TransportError` whose ``sent`` attribute says whether the request
may have reached the server. That one bit decides whether a create may be resent, so the
transport is where it is known, not guessed.

:class:`AiohttpTransport` (the default) is the aiohttp client with everything that could
send or resend behind the client's back turned off:

* redirects are never followed (a 307 resends a POST; a 302 turns it into a GET): a 3xx
  comes back as a response, and the client raises :class:`~maxxton_async.RedirectError`;
* aiohttp's own silent resend of an idempotent request on a dropped kept-alive
  connection is disabled, so every resend is the retry policy's, and counted;
* every aiohttp exception is mapped into the tree, without chaining it (aiohttp's text
  quotes the URL, whose query string may hold ``client_secret``).
"""

from __future__ import annotations

import builtins
import contextvars
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from ._errors import (
    ConfigurationError,
    ConnectError,
    ProtocolError,
    RequestTimeoutError,
    TransportError,
)

__all__ = ["AiohttpTransport", "Request", "Response", "Transport"]


@dataclass(frozen=True, slots=True)
class Request:
    """One API call as it travels down the send path.

    Attributes:
        method: the HTTP method, upper case.
        path: the URL path (``/maxxton/v2/...``), used in errors and logs.
        base_url: scheme and host (``https://api.maxxton.net``); :attr:`url` joins them.
        query: query parameters, in order (names may repeat).
        headers: request headers (the client adds ``Authorization`` per attempt).
        body: the encoded body, or ``None``.
        timeout: seconds one attempt may take on the wire.
        idempotent: safe to resend (GET, PUT, DELETE and the read-only POSTs).
        authenticated: sent with the API token (every call but the token call itself).
        purpose: ``"call"`` or ``"token"``: how the attempt is counted.
    """

    method: str
    path: str
    base_url: str
    query: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 30.0
    idempotent: bool = True
    authenticated: bool = True
    purpose: str = "call"

    def __repr__(self) -> str:
        # Headers and query may hold credentials: show neither.
        return f"<Request {self.method} {self.path}>"

    @property
    def url(self) -> str:
        """The full URL without query string (built on demand: a waiting call keeps less)."""
        return self.base_url + self.path

    def with_header(self, name: str, value: str) -> Request:
        """A copy with one more header (e.g. ``Authorization`` for this attempt)."""
        return Request(
            self.method,
            self.path,
            self.base_url,
            self.query,
            {**self.headers, name: value},
            self.body,
            self.timeout,
            self.idempotent,
            self.authenticated,
            self.purpose,
        )


@dataclass(frozen=True, slots=True)
class Response:
    """What the server answered: status, headers and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


@runtime_checkable
class Transport(Protocol):
    """Sends one :class:`Request` and returns the :class:`Response`.

    Contract: never follow redirects, never resend by itself; raise only
    :class:`~maxxton_async.TransportError` subclasses (with ``sent`` set honestly),
    :class:`~maxxton_async.ConfigurationError` for a request it cannot express, or
    :class:`asyncio.CancelledError`; bound each exchange by ``request.timeout``.
    """

    async def send(self, request: Request) -> Response:
        """Exchange one request for its response."""
        ...

    async def aclose(self) -> None:
        """Close connections. Idempotent."""
        ...


class _Phase:
    """Set once aiohttp holds a connection for the request: from then on, bytes may
    have left, so a failure means "maybe sent"."""

    __slots__ = ("connected",)

    def __init__(self) -> None:
        self.connected = False


_PHASE: contextvars.ContextVar[_Phase | None] = contextvars.ContextVar(
    "maxxton_async_phase", default=None
)


class _Connector(aiohttp.TCPConnector):
    """A TCP connector that marks the current request as connected.

    ``connect()`` runs in the task that sends the request, so the context variable set
    by :meth:`AiohttpTransport.send` is the one of this request.
    """

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:  # noqa: ASYNC109
        connection = await super().connect(req, traces, timeout)
        phase = _PHASE.get()
        if phase is not None:
            phase.connected = True
        return connection


# aiohttp's messages quote URLs; a query string may hold client_secret (query transport).
_URL_QUERY = re.compile(r"(https?://[^\s'\"?#]*)\?[^\s'\"#]*")


def _detail(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, aiohttp.ClientResponseError) else str(exc)
    text = _URL_QUERY.sub(r"\1?…", str(text))
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


#: aiohttp's ways of saying the answer was not valid HTTP (status line, headers, body).
_INVALID_ANSWER = (aiohttp.ClientPayloadError, aiohttp.ClientResponseError, HttpProcessingError)


class AiohttpTransport:
    """The default transport, on one :class:`aiohttp.ClientSession`.

    Args:
        pool_size: connections kept at most; the client sizes it above its cap so that
            the pool never becomes a hidden limiter.
        connect_timeout: seconds to establish a connection. A failure in this phase is
            known to have sent nothing, so even a create may be retried.
        trust_env: read proxies (``HTTPS_PROXY``, ``NO_PROXY``) from the environment.
    """

    def __init__(
        self,
        *,
        pool_size: int = 19,
        connect_timeout: float = 10.0,
        trust_env: bool = False,
    ) -> None:
        if pool_size < 1:
            raise ConfigurationError(f"pool_size must be at least 1, got {pool_size}")
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<AiohttpTransport pool_size={self._pool_size}>"

    @property
    def pool_size(self) -> int:
        """The most connections kept at once."""
        return self._pool_size

    def _open(self) -> aiohttp.ClientSession:
        connector = _Connector(limit=self._pool_size, limit_per_host=0, enable_cleanup_closed=True)
        session = aiohttp.ClientSession(
            connector=connector,
            raise_for_status=False,
            auto_decompress=True,
            trust_env=self._trust_env,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        # aiohttp resends an idempotent request once, by itself, when a kept-alive
        # connection drops (ClientSession._retry_connection); neither the retry policy nor
        # the ledger would see that billed attempt. Turn it off so every resend is ours.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        return session

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=seconds, sock_connect=min(self._connect_timeout, seconds)
            )
            self._timeouts[seconds] = timeout
        return timeout

    async def send(self, request: Request) -> Response:
        """Send ``request``; see :class:`Transport` for the contract."""
        if self._closed:
            raise ConfigurationError("the transport is closed")
        session = self._session or self._open()
        phase = _Phase()
        reset = _PHASE.set(phase)
        error: TransportError | ConfigurationError
        try:
            async with session.request(
                request.method,
                request.url,
                params=request.query or None,
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=self._timeout(request.timeout),
            ) as resp:
                body = await resp.read()
                status = resp.status
                if 200 <= status <= 599:
                    return Response(status, resp.headers, body)
            # RFC 9110 §15: a final status is 2xx-5xx. Anything else ("HTTP/1.1 000") is
            # not an answer, and must not pass for a success of a create.
            error = ProtocolError(f"invalid answer: {status} is not a final HTTP status", sent=True)
        except aiohttp.InvalidURL as exc:
            error = ConfigurationError(f"invalid URL: {_detail(exc)}")
        except aiohttp.ClientConnectorError as exc:
            # Covers refused connections, DNS failures and TLS handshakes: no request
            # bytes are written before the connection is established.
            error = ConnectError(f"cannot connect: {_detail(exc)}", sent=False)
        except _INVALID_ANSWER as exc:
            # Without redirects or raise_for_status, ClientResponseError only reports an
            # answer that is not valid HTTP (e.g. "HTTP/1.1 2OO NOT OK"); HttpProcessingError
            # is the parser's own, should one escape aiohttp's wrapping.
            error = ProtocolError(f"invalid answer: {_detail(exc)}", sent=True)
        except (builtins.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            if phase.connected:
                error = RequestTimeoutError(
                    f"no answer within {request.timeout:g} s ({_detail(exc)})", sent=True
                )
            else:
                error = RequestTimeoutError(
                    f"could not connect within the timeout ({_detail(exc)})", sent=False
                )
        except (aiohttp.ClientError, OSError) as exc:
            error = ConnectError(
                f"connection lost: {_detail(exc)}" if phase.connected else _detail(exc),
                sent=phase.connected,
            )
        except (ValueError, TypeError) as exc:
            # aiohttp refuses some requests only once it holds a connection (a header
            # with CR/LF, a body it cannot send); whether bytes left is then unknown.
            error = TransportError(
                f"request refused by aiohttp: {_detail(exc)}", sent=phase.connected
            )
        finally:
            _PHASE.reset(reset)
        # Raised here, outside the except blocks, so that aiohttp's exception (whose text
        # may quote the URL with its query string) is neither the cause nor the context.
        if isinstance(error, TransportError):
            error.method, error.path = request.method, request.path
        raise error

    async def aclose(self) -> None:
        """Close the session and its connections. Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
