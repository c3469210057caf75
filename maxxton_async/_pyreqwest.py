"""A :class:`~maxxton_async.transport.Transport` on pyreqwest (Rust reqwest and hyper).

Optional (the ``pyreqwest`` extra); :class:`~maxxton_async.transport.AiohttpTransport` stays
the default. Measured side by side in ``benchmarks/engines.py``: the same requests per second
where the network sets the pace, at less client CPU per request (``docs/performance.md``).

It keeps the seam's contract as far as pyreqwest lets it be known:

* redirects are never followed (``follow_redirects(False)``): a 3xx comes back as a
  response, and the client raises :class:`~maxxton_async.RedirectError`;
* no resend: HTTP/1 only; hyper re-queues a request on another connection only when the
  pooled connection was found dead *before any byte was written*, which reaches no server;
* ``sent`` is ``False`` only for a failure of hyper's connector (DNS, TCP connect, TLS, the
  connect timeout). A deadline (``request.timeout``) that expires does not say whether a
  connection was held yet, so it is reported as ``sent=True``: a create is then never
  resent, where :class:`~maxxton_async.transport.AiohttpTransport` may know it never left;
* no cookies, no ``Referer``, no proxies from the environment unless ``trust_env``; the
  query string is encoded by yarl, as aiohttp encodes it;
* pyreqwest's exceptions are mapped without chaining, their text scrubbed of query strings
  (reqwest quotes the URL, whose query may hold ``client_secret``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from yarl import URL

from ._errors import (
    ConfigurationError,
    ConnectError,
    ProtocolError,
    RequestTimeoutError,
    TransportError,
)

# The scrubber the default transport uses on aiohttp's messages: one rule for both engines.
from ._transport import _URL_QUERY, Request, Response

if TYPE_CHECKING:
    from pyreqwest import exceptions as px
    from pyreqwest.client import Client

__all__ = ["PyreqwestTransport"]


def _detail(exc: BaseException) -> str:
    # pyreqwest's message is short ("connection error"); the cause chain says what happened
    # (and quotes the URL, query string included: scrubbed).
    text = getattr(exc, "message", None) or str(exc)
    details: Any = getattr(exc, "details", None) or {}
    causes = [str(c.get("message", "")) for c in details.get("causes") or []]
    if causes:
        text = f"{text}: " + "; ".join(causes)
    text = _URL_QUERY.sub(r"\1?…", text)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class PyreqwestTransport:
    """A transport on one ``pyreqwest`` client (``pip install 'maxxton-async[pyreqwest]'``).

    ``MaxxtonClient(..., transport=PyreqwestTransport(pool_size=max_in_flight + 4))``.

    Args:
        pool_size: connections kept (and requests in flight) at most; above the client's
            cap so that the pool never becomes a hidden limiter, as for aiohttp.
        connect_timeout: seconds to establish a connection.
        trust_env: read proxies from the environment (reqwest's default; off here, as for
            :class:`~maxxton_async.transport.AiohttpTransport`).
    """

    def __init__(
        self, *, pool_size: int = 19, connect_timeout: float = 10.0, trust_env: bool = False
    ) -> None:
        if pool_size < 1:
            raise ConfigurationError(f"pool_size must be at least 1, got {pool_size}")
        try:
            from pyreqwest import exceptions
        except ImportError:
            raise ConfigurationError(
                "PyreqwestTransport needs pyreqwest: pip install 'maxxton-async[pyreqwest]'"
            ) from None
        self._failure: type[px.PyreqwestError] = exceptions.PyreqwestError
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._trust_env = trust_env
        self._client: Client | None = None
        self._timeouts: dict[float, timedelta] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<PyreqwestTransport pool_size={self._pool_size}>"

    @property
    def pool_size(self) -> int:
        """The most connections kept at once."""
        return self._pool_size

    def _open(self) -> Client:
        from pyreqwest.client import ClientBuilder

        builder = (
            ClientBuilder()
            .follow_redirects(False)
            .referer(False)
            .default_cookie_store(False)
            .error_for_status(False)
            .http1_only()
            .max_connections(self._pool_size)
            .pool_max_idle_per_host(self._pool_size)
            .connect_timeout(timedelta(seconds=self._connect_timeout))
        )
        if not self._trust_env:
            builder = builder.no_proxy()
        self._client = builder.build()
        return self._client

    def _timeout(self, seconds: float) -> timedelta:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = self._timeouts[seconds] = timedelta(seconds=seconds)
        return timeout

    async def send(self, request: Request) -> Response:
        """Send ``request``; see :class:`~maxxton_async.transport.Transport`."""
        if self._closed:
            raise ConfigurationError("the transport is closed")
        client = self._client or self._open()
        error: TransportError | ConfigurationError
        try:
            url = request.url
            if request.query:
                # Encoded by yarl, as aiohttp does: the same bytes on the wire, and the
                # spelling of a secret the SDK's scrubber looks for (reqwest's own
                # form-encoding escapes ``~`` and leaves ``*`` and ``!`` differently).
                url = str(URL(url).extend_query(request.query))
            builder = (
                client.request(request.method, url)
                .headers(request.headers)
                .timeout(self._timeout(request.timeout))
            )
            if request.body is not None:
                builder = builder.body_bytes(request.body)
            prepared = builder.build()
        except (ValueError, TypeError) as exc:
            # Refused while building (a bad URL, a header value with CR/LF): nothing left.
            error = ConfigurationError(f"request refused by pyreqwest: {_detail(exc)}")
        else:
            try:
                resp = await prepared.send()
                status = resp.status
                if 200 <= status <= 599:
                    return Response(status, resp.headers, (await resp.bytes()).to_bytes())
                error = ProtocolError(
                    f"invalid answer: {status} is not a final HTTP status", sent=True
                )
            except self._failure as exc:
                error = _mapped(exc, request.timeout)
        # Raised here, outside the except blocks, so that pyreqwest's exception (whose text
        # quotes the URL with its query string) is neither the cause nor the context.
        if isinstance(error, TransportError):
            error.method, error.path = request.method, request.path
        raise error

    async def aclose(self) -> None:
        """Close the client and its connections. Idempotent."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.close()


#: hyper-util's word for a failure of its connector (DNS, TCP connect, TLS, connect
#: timeout): no byte of the request was written. pyreqwest's exception classes cannot tell
#: this: it raises ``ConnectError`` for a connection closed after the request was written
#: and ``ConnectTimeoutError`` for a server that got the request and never answered.
_CONNECT_PHASE = "client error (Connect)"


def _mapped(exc: px.PyreqwestError, timeout: float) -> TransportError:
    from pyreqwest import exceptions as px

    details: Any = getattr(exc, "details", None) or {}
    causes = [str(c.get("message", "")) for c in details.get("causes") or []]
    sent = _CONNECT_PHASE not in causes
    text = _detail(exc)
    if isinstance(exc, px.RequestTimeoutError):
        if sent:
            # A total-timeout expiry does not say whether a connection was held yet.
            return RequestTimeoutError(f"no answer within {timeout:g} s ({text})", sent=True)
        return RequestTimeoutError(f"could not connect within the timeout ({text})", sent=False)
    if isinstance(exc, px.DecodeError):
        # An invalid status line, a truncated or undecodable body: an answer came.
        return ProtocolError(f"invalid answer: {text}", sent=True)
    if isinstance(exc, px.NetworkError):
        return ConnectError(f"cannot connect: {text}" if not sent else f"connection lost: {text}",
                            sent=sent)  # fmt: skip
    return TransportError(f"request failed: {text}", sent=sent)
