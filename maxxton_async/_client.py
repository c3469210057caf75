"""``MaxxtonClient``: the one object that talks to Maxxton.

Every call takes the same path, one concern per step (DESIGN.md)::

    request() ─► token (single flight; its own call takes this same path)
              ─► usage ledger + budget (counts the attempt, may refuse it)
              ─► limiter slot ─► re-read the token (no I/O) ─► aiohttp ─► slot released
              ─► retry decision (sleep with no slot held) ─► msgspec decode

The token is obtained *before* a slot is taken: the authenticate call is a request to the
same IP and needs a slot of its own, so 15 callers holding slots while awaiting a token
would deadlock.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar, overload

import aiohttp
import msgspec
from multidict import CIMultiDictProxy

from ._auth import CachedToken, TokenCache, TokenManager, cache_key
from ._errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    OutcomeUnknownError,
    ResponseDecodeError,
    TimeoutError,
    TransportError,
    status_error,
)
from ._filters import FilterLike, Params, SortLike, build_query
from ._limits import Limiter, LocalLimiter
from ._pacing import Pacing
from ._pagination import Paginator
from ._retry import IDEMPOTENT_METHODS, RetryPolicy, parse_retry_after
from ._usage import Budget, DeferredLedger, Ledger, Usage, UsageKind
from .models._base import decoder_for
from .models._page import Page
from .models._token import Token

if TYPE_CHECKING:
    from . import resources

__all__ = ["AUTH_PATH", "ENVIRONMENTS", "ClientStatistics", "MaxxtonClient", "decoder_for"]

logger = logging.getLogger("maxxton_async")

#: Guide, "URI": production and acceptance hosts.
ENVIRONMENTS: Final = {
    "test": "https://api-test.maxxton.net",
    "production": "https://api.maxxton.net",
}
AUTH_PATH: Final = "/maxxton/v2/authenticate"
API_PREFIX: Final = "/maxxton/v2/"

T = TypeVar("T")

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """What ``client.statistics()`` returns (a point-in-time view, no I/O).

    Attributes:
        capacity: the limiter's cap.
        in_flight: requests on the wire now (this process).
        waiting: calls waiting for a slot.
        peak_in_flight: the most requests on the wire at once since the client started.
        requests_sent: HTTP attempts that went to the wire, token calls and retries included.
        retries: attempts that repeated an earlier one (retry policy and 401 replay).
        token_calls: authenticate calls.
    """

    capacity: int
    in_flight: int
    waiting: int
    peak_in_flight: int
    requests_sent: int
    retries: int
    token_calls: int


class _Response(NamedTuple):
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class _WireFailure(Exception):
    """Internal: no response. ``sent`` says whether the request may have left."""

    def __init__(self, error: TransportError, *, sent: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent = sent


class _Secret:
    """Holds a credential so that no repr, log line or traceback shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


class MaxxtonClient:
    """An asyncio client for the Maxxton REST API v2.

    Args:
        client_id: the API user's login ("client id"); defaults to ``$MAXXTON_CLIENT_ID``.
        client_secret: its API key; defaults to ``$MAXXTON_CLIENT_SECRET``.
        scope: the concern code; defaults to ``$MAXXTON_SCOPE``.
        environment: ``"test"`` (acceptance, free) or ``"production"`` (billed); defaults
            to ``$MAXXTON_ENVIRONMENT``, else ``"test"``.
        base_url: overrides the environment's host (the sandbox, a proxy); the environment
            still decides how calls are billed.
        max_in_flight: the cap on concurrent requests (Maxxton allows 15 per IP).
        locale: the ``locale`` header (e.g. ``"nl_NL"``), sent on every call.
        show_archived: the ``x-show-archived`` header, sent when not ``None``.
        timeout: seconds one attempt may take on the wire.
        retry: the :class:`RetryPolicy`.
        limiter: a :class:`Limiter`; a :class:`LocalLimiter` of ``max_in_flight`` when omitted.
        usage: the usage :class:`Ledger`; the durable SQLite ledger when omitted.
        budget: the :class:`Budget` checked before every attempt.
        token_cache: share the token between clients or processes.
        auth_transport: ``"form"`` (the guide's form body) or ``"query"`` (query string,
            as public clients do).
        pacing: spread requests out in time (:class:`Pacing`), e.g. over the rest of
            today's free allowance during a long harvest.
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: str | None = None,
        *,
        environment: str | None = None,
        base_url: str | None = None,
        max_in_flight: int = 15,
        locale: str | None = None,
        show_archived: bool | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        limiter: Limiter | None = None,
        usage: Ledger | None = None,
        budget: Budget | None = None,
        token_cache: TokenCache | None = None,
        auth_transport: str = "form",
        pacing: Pacing | None = None,
    ) -> None:
        client_id = client_id if client_id is not None else _env("MAXXTON_CLIENT_ID")
        secret = client_secret if client_secret is not None else _env("MAXXTON_CLIENT_SECRET")
        scope = scope if scope is not None else _env("MAXXTON_SCOPE")
        missing = [
            name
            for name, value, env in (
                ("client_id", client_id, "MAXXTON_CLIENT_ID"),
                ("client_secret", secret, "MAXXTON_CLIENT_SECRET"),
                ("scope", scope, "MAXXTON_SCOPE"),
            )
            if not value
        ]
        if missing:
            envs = ", ".join("MAXXTON_" + m.upper() for m in missing)
            raise ConfigurationError(
                f"missing credentials: {', '.join(missing)} (pass them or set {envs})"
            )
        assert client_id is not None
        assert secret is not None
        assert scope is not None
        environment = environment or _env("MAXXTON_ENVIRONMENT") or "test"
        if environment not in ENVIRONMENTS:
            raise ConfigurationError(
                f"unknown environment {environment!r}; valid values: "
                + ", ".join(repr(e) for e in ENVIRONMENTS)
            )
        if max_in_flight < 1:
            raise ConfigurationError(f"max_in_flight must be at least 1, got {max_in_flight}")
        if auth_transport not in ("form", "query"):
            raise ConfigurationError(
                f"unknown auth_transport {auth_transport!r}; valid values: 'form', 'query'"
            )
        if base_url is not None:
            parsed = urllib.parse.urlsplit(base_url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise ConfigurationError(f"base_url {base_url!r} is not an http(s) URL")
        self.client_id = client_id
        self.scope = scope
        self.environment = environment
        self.base_url = (base_url or ENVIRONMENTS[environment]).rstrip("/")
        self.locale = locale
        self.show_archived = show_archived
        self._secret = _Secret(secret)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        self._limiter: Limiter = limiter if limiter is not None else LocalLimiter(max_in_flight)
        self._auth_transport = auth_transport
        self._owns_ledger = usage is None
        self.usage = Usage(
            usage if usage is not None else _default_ledger(),
            scope=scope,
            environment=environment,
            budget=budget,
            pacing=pacing,
        )
        self._tokens = TokenManager(
            self._mint_token,
            key=cache_key(self.base_url, client_id, scope),
            cache=token_cache,
        )
        self._session: aiohttp.ClientSession | None = None
        self._defaults_key: tuple[str | None, bool | None] | None = None
        self._defaults: tuple[dict[str, str], dict[str, str]] = ({}, {})
        self._closed = False
        self._requests_sent = 0
        self._retries = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<MaxxtonClient {state} base_url={self.base_url!r} client_id={self.client_id!r} "
            f"scope={self.scope!r} environment={self.environment!r}>"
        )

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> MaxxtonClient:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections and flush the ledger. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._session is not None:
            await self._session.close()
        await self._limiter.aclose()
        await self._tokens.aclose()
        ledger = self.usage.ledger
        if self._owns_ledger:
            await ledger.aclose()
        elif isinstance(ledger, DeferredLedger):
            # Not ours to close (it may be shared), but our counts must reach it.
            await ledger.flush()

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError(
                "this MaxxtonClient is closed; create a new one (or use it inside "
                "'async with' only)"
            )

    def _get_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            # The pool is sized above the cap so that it never becomes the hidden limiter.
            connector = aiohttp.TCPConnector(
                limit=self._limiter.capacity + 4, limit_per_host=0, enable_cleanup_closed=True
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                raise_for_status=False,
                auto_decompress=True,
            )
            # aiohttp resends an idempotent request once, by itself, when a kept-alive
            # connection drops; neither the retry policy nor the ledger would see that
            # billed attempt. Turn it off so every resend is our decision, and counted.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
        return session

    # -- resource namespaces (openai-python style: one attribute per API area) ------------
    # Imported lazily: resources import this module for typing, and a script that only
    # uses request() should not pay for them.

    @cached_property
    def customers(self) -> resources.Customers:
        """Customers: get, list, iterate, get_many, create/update."""
        from .resources import Customers

        return Customers(self)

    @cached_property
    def reservations(self) -> resources.Reservations:
        """Reservations: read, proposal, create, status changes, payment link."""
        from .resources import Reservations

        return Reservations(self)

    @cached_property
    def accommodation_types(self) -> resources.AccommodationTypes:
        """Accommodation types (resources)."""
        from .resources import AccommodationTypes

        return AccommodationTypes(self)

    @cached_property
    def units(self) -> resources.Units:
        """Units."""
        from .resources import Units

        return Units(self)

    @cached_property
    def locations(self) -> resources.Locations:
        """Locations (resorts)."""
        from .resources import Locations

        return Locations(self)

    @cached_property
    def distribution_channels(self) -> resources.DistributionChannels:
        """Distribution channels."""
        from .resources import DistributionChannels

        return DistributionChannels(self)

    @cached_property
    def offers(self) -> resources.Offers:
        """Offers."""
        from .resources import Offers

        return Offers(self)

    @cached_property
    def owners(self) -> resources.Owners:
        """Owners."""
        from .resources import Owners

        return Owners(self)

    @cached_property
    def events(self) -> resources.Events:
        """The events feed (guide, Event Flow)."""
        from .resources import Events

        return Events(self)

    @cached_property
    def availability(self) -> resources.Availability:
        """Accommodation type availability and prices (guide, Reservation Flow option 2)."""
        from .resources import Availability

        return Availability(self)

    @cached_property
    def search(self) -> resources.Search:
        """Accommodation type search and arrival-range search."""
        from .resources import Search

        return Search(self)

    # -- introspection -----------------------------------------------------------------

    @property
    def limiter(self) -> Limiter:
        """The concurrency limiter in use."""
        return self._limiter

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in use."""
        return self._retry

    @property
    def tokens(self) -> TokenManager:
        """The token manager."""
        return self._tokens

    def statistics(self) -> ClientStatistics:
        """In-flight, waiting and peak counts, and what was sent so far."""
        st = self._limiter.statistics()
        return ClientStatistics(
            capacity=st.capacity,
            in_flight=st.in_flight,
            waiting=st.waiting,
            peak_in_flight=st.peak_in_flight,
            requests_sent=self._requests_sent,
            retries=self._retries,
            token_calls=self._tokens.token_calls,
        )

    # -- the send path -----------------------------------------------------------------

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = ...,
        json: object = ...,
        headers: Mapping[str, str | None] | None = ...,
        type: type[T],
        filter: FilterLike | None = ...,
        sort: SortLike | None = ...,
        idempotent: bool | None = ...,
    ) -> T | None: ...

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = ...,
        json: object = ...,
        headers: Mapping[str, str | None] | None = ...,
        type: None = ...,
        filter: FilterLike | None = ...,
        sort: SortLike | None = ...,
        idempotent: bool | None = ...,
    ) -> Any: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: object = None,
        headers: Mapping[str, str | None] | None = None,
        type: Any = None,
        filter: FilterLike | None = None,
        sort: SortLike | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one API call and decode its answer.

        Args:
            method: HTTP method.
            path: ``/maxxton/v2/...``, or relative to it (``"customers"``).
            params: query parameters; lists repeat the name, ``None`` values are dropped.
            json: a body, encoded by msgspec (structs, dicts, dates...).
            headers: extra headers; a ``None`` value removes a default (``locale``, ...).
            type: decode into this type (a msgspec Struct, ``list[...]``, ...); plain
                Python objects when omitted.
            filter: a :class:`Filter`, raw string, or a list of them (ANDed).
            sort: ``"field,asc"`` or a list of them.
            idempotent: override: ``True`` declares a read-only POST (search,
                availability, proposals) safe to retry.

        Returns:
            The decoded body, or ``None`` for 204 or an empty body.
        """
        self._check_open()
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        path = _normalise_path(path)
        query = build_query(params, filter=filter, sort=sort)
        body = None if json is None else _encoder.encode(json)
        merged = self._headers(headers, has_json=body is not None)
        response = await self._send(
            method, path, query, body, merged, idempotent=idempotent, authenticated=True
        )
        return self._decode(response, type, method=method, path=path)

    def paginate(
        self,
        path: str,
        *,
        item_type: type[T],
        params: Params | None = None,
        filter: FilterLike | None = None,
        sort: SortLike | None = None,
        page_size: int | None = None,
        prefetch: bool = True,
        lookahead: int | None = None,
        headers: Mapping[str, str | None] | None = None,
    ) -> Paginator[T]:
        """Iterate every item of a paged list endpoint, in order.

        ``async for item in client.paginate(...)`` yields items; ``.pages()`` yields
        :class:`Page` objects. After page 0, the remaining pages are fetched concurrently
        (at most ``lookahead`` ahead, the limiter's capacity by default) unless
        ``prefetch`` is false.
        """
        self._check_open()
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        base = build_query(params, filter=filter, sort=sort)
        base = [(k, v) for k, v in base if k not in ("page", "size")]
        if page_size is not None:
            base.append(("size", str(page_size)))
        page_type = Page[item_type]  # type: ignore[valid-type]

        async def fetch(number: int) -> Page[T] | None:
            page: Page[T] | None = await self.request(
                "GET", path, params=[*base, ("page", number)], headers=headers, type=page_type
            )
            return page

        return Paginator(
            fetch,
            prefetch=prefetch,
            lookahead=lookahead if lookahead is not None else self._limiter.capacity,
        )

    def _headers(self, extra: Mapping[str, str | None] | None, *, has_json: bool) -> dict[str, str]:
        """The headers of one call. Without per-call extras this is a cached dict (the
        common case, on the hot path); the send path copies it before adding the token."""
        key = (self.locale, self.show_archived)
        if key != self._defaults_key:
            # Guide, "Headers": `locale` filters translations; `x-show-archived` includes
            # archived data. Rebuilt only when a user changes either attribute.
            base = {"Accept": "application/json"}
            if self.locale is not None:
                base["locale"] = self.locale
            if self.show_archived is not None:
                base["x-show-archived"] = "true" if self.show_archived else "false"
            self._defaults = (base, {**base, "Content-Type": "application/json"})
            self._defaults_key = key
        defaults = self._defaults[1] if has_json else self._defaults[0]
        if not extra:
            return defaults
        headers: dict[str, str | None] = dict(defaults)
        lowered = {k.lower(): k for k in headers}
        for name, value in extra.items():
            existing = lowered.get(name.lower())
            if existing is not None:
                del headers[existing]
            headers[name] = value
        return {k: v for k, v in headers.items() if v is not None}

    async def _send(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        body: bytes | None,
        headers: dict[str, str],
        *,
        idempotent: bool,
        authenticated: bool,
        kind: UsageKind = UsageKind.CALL,
    ) -> _Response:
        """Send with tokens, budget, slot and retries; return the final response.

        Raises the typed error for a final non-2xx status (the authenticate call handles
        its own statuses, so it gets them back instead).
        """
        url = self.base_url + path
        attempt = 0  # attempts that reached the wire
        replayed_401 = False
        counted = False
        requeued = 0
        while True:
            token: CachedToken | None = None
            if authenticated:
                # current() is the no-I/O fast path; token() refreshes (single flight).
                token = self._tokens.current() or await self._tokens.token()
            if not counted:
                # Budget and ledger sit before the slot: a spent budget raises without
                # queueing, and the attempt is counted once even if it must requeue.
                await self.usage.before_send(
                    kind if attempt == 0 else UsageKind.RETRY, method=method, path=path
                )
                counted = True
            failure: _WireFailure | None = None
            response: _Response | None = None
            async with self._limiter.slot():
                if authenticated and requeued < 2:
                    # Re-read without I/O: a 401 may have retired the token while we
                    # queued; going out with it would cost a 401 and a replay. (Bounded,
                    # so a clock that disagrees with the server cannot loop us forever.)
                    token = self._tokens.usable()
                if not authenticated or token is not None:
                    send_headers = headers
                    if token is not None:
                        send_headers = {**headers, "Authorization": token.authorization}
                    await self._note_in_flight()
                    self._requests_sent += 1
                    try:
                        response = await self._wire(method, url, path, query, body, send_headers)
                    except _WireFailure as exc:
                        failure = exc
            if response is None and failure is None:
                requeued += 1
                continue  # token retired while queued: fetch the new one, same count
            requeued = 0
            counted = False
            attempt += 1
            if attempt > 1:
                self._retries += 1
            if failure is not None:
                # A request that never left may be resent even if not idempotent.
                safe = idempotent or not failure.sent
                delay = self._retry.delay_for_error(attempt=attempt, idempotent=safe)
                if delay is None:
                    if failure.sent and not idempotent:
                        raise OutcomeUnknownError(
                            f"no answer to a non-idempotent call ({failure.error.message}); "
                            "it may have been applied: check before sending it again",
                            method=method,
                            path=path,
                        ) from failure.error
                    raise failure.error
                logger.debug("%s %s: %s, retry in %.2fs", method, path, failure.error, delay)
                await asyncio.sleep(delay)
                continue
            assert response is not None
            status = response.status
            if status == 401 and authenticated and token is not None and not replayed_401:
                # One re-authentication and one replay; a second 401 is final.
                replayed_401 = True
                await self._tokens.invalidate(token)
                continue
            if status in self._retry.retry_statuses:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                delay = self._retry.delay_for_status(
                    status, attempt=attempt, idempotent=idempotent, retry_after=retry_after
                )
                if delay is not None:
                    logger.debug("%s %s: HTTP %d, retry in %.2fs", method, path, status, delay)
                    await asyncio.sleep(delay)
                    continue
            if status >= 400 and authenticated:
                raise status_error(
                    method=method,
                    path=path,
                    status=status,
                    body=response.body,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
            return response

    async def _note_in_flight(self) -> None:
        in_flight = self._limiter.statistics().in_flight
        if self.usage.is_new_peak(in_flight):
            await self.usage.observe_in_flight(in_flight)

    async def _wire(
        self,
        method: str,
        url: str,
        path: str,
        query: Sequence[tuple[str, str]],
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> _Response:
        session = self._get_session()
        try:
            async with session.request(
                method, url, params=query or None, data=body, headers=headers
            ) as resp:
                data = await resp.read()
                return _Response(resp.status, resp.headers, data)
        except aiohttp.ConnectionTimeoutError as exc:
            # Timed out while connecting: the request never left.
            raise _WireFailure(
                TimeoutError(f"connect timeout: {exc}", method=method, path=path), sent=False
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise _WireFailure(
                ConnectError(f"cannot connect: {exc.os_error}", method=method, path=path),
                sent=False,
            ) from exc
        except (aiohttp.ServerTimeoutError, builtins.TimeoutError) as exc:
            raise _WireFailure(
                TimeoutError("timed out waiting for the response", method=method, path=path),
                sent=True,
            ) from exc
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
            raise _WireFailure(
                ConnectError(f"connection lost: {exc}", method=method, path=path), sent=True
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise _WireFailure(
                ConnectError(f"response body cut off: {exc}", method=method, path=path),
                sent=True,
            ) from exc

    def _decode(self, response: _Response, type_: Any, *, method: str, path: str) -> Any:
        body = response.body
        if response.status == 204 or not body.strip():
            return None
        try:
            if type_ is None:
                return msgspec.json.decode(body)
            return decoder_for(type_).decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ResponseDecodeError(
                f"response body does not decode{'' if type_ is None else ' as ' + _name(type_)}"
                f": {exc}",
                detail=str(exc),
                method=method,
                path=path,
                status=response.status,
                body=body,
            ) from None

    # -- authentication ----------------------------------------------------------------

    async def _mint_token(self) -> CachedToken:
        """``POST /maxxton/v2/authenticate`` through the normal send path (guide,
        "Authentication"). The snake_case names follow the reference and the public
        clients (maxxton-api-notes.md §1)."""
        form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id),
            ("client_secret", self._secret.reveal()),
            ("scope", self.scope),
        ]
        headers = {"Accept": "application/json"}
        if self.locale is not None:
            headers["locale"] = self.locale
        if self._auth_transport == "query":
            query, body = form, None
        else:
            query, body = [], urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = self._tokens.now()
        # Minting is safe to repeat (it changes nothing but the token), so it retries.
        response = await self._send(
            "POST",
            AUTH_PATH,
            query,
            body,
            headers,
            idempotent=True,
            authenticated=False,
            kind=UsageKind.TOKEN,
        )
        if response.status in (400, 401, 403):
            raise AuthenticationError(
                f"credentials refused (HTTP {response.status}): "
                f"{self._server_message(response.body)}",
                method="POST",
                path=AUTH_PATH,
                status=response.status,
                body=self._scrub(response.body),
            )
        if response.status >= 300:
            raise status_error(
                method="POST", path=AUTH_PATH, status=response.status, body=response.body
            )
        try:
            token = decoder_for(Token).decode(response.body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ResponseDecodeError(
                f"authenticate answer does not decode: {exc}",
                detail=str(exc),
                method="POST",
                path=AUTH_PATH,
                status=response.status,
                body=self._scrub(response.body),
            ) from None
        # expires_in is not documented (notes §1); 5 minutes is a safe guess when absent.
        lifetime = max(float(token.expires_in), 1.0) if token.expires_in is not None else 300.0
        return CachedToken(
            access_token=token.access_token,
            token_type=token.token_type or "Bearer",
            expires_at=started + lifetime,
        )

    def _scrub(self, body: bytes) -> bytes:
        return body.replace(self._secret.reveal().encode(), b"***")

    def _server_message(self, body: bytes) -> str:
        text = self._scrub(body)
        try:
            data = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return text[:200].decode("utf-8", "replace") or "(empty body)"
        if isinstance(data, dict):
            for key in ("error_description", "message", "error"):
                value = data.get(key)
                if isinstance(value, str) and value:
                    return value
        return text[:200].decode("utf-8", "replace")


def _normalise_path(path: str) -> str:
    if path.startswith(("http://", "https://")):
        raise ValueError(f"pass a path, not a URL: {path!r} (set base_url on the client)")
    if not path.startswith("/"):
        path = API_PREFIX + path
    return path


def _name(type_: Any) -> str:
    return getattr(type_, "__name__", None) or repr(type_)


def _default_ledger() -> Ledger:
    """The durable SQLite ledger (``$MAXXTON_USAGE_DB`` or the user's cache directory)."""
    from ._sqlite import SQLiteLedger

    return SQLiteLedger()
