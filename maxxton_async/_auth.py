"""The OAuth2 client-credentials token: obtained once, shared, refreshed ahead of expiry.

Guide, "Authentication": ``POST /maxxton/v2/authenticate`` with ``grant_type``,
``client_id``, ``client_secret`` and ``scope`` (the concern code); then every call sends
``Authorization: {token_type} {access_token}``. Every token call is a billed request
(guide, "API Pricing" counts requests), so the manager:

* refreshes *once* for all waiting coroutines (single flight);
* refreshes ahead of expiry by a margin proportional to the token's lifetime (a fixed 60 s
  margin on a 60 s token would log in on every call);
* can share the token between processes through a :class:`TokenCache` (SQLite or Redis),
  so N workers mint one token per lifetime, not N;
* on a 401 retires only the token that failed (compare-and-clear), so a burst of 401s on
  one stale token costs one new token, not one each.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from ._errors import (
    AuthenticationError,
    BudgetExceededError,
    ClientClosedError,
    MaxxtonError,
    TransportError,
)
from .models._token import Token

__all__ = [
    "AuthDetails",
    "CachedToken",
    "MemoryTokenCache",
    "TokenCache",
    "TokenManager",
    "cache_key",
]


@dataclass(frozen=True, slots=True)
class CachedToken:
    """An access token and when it expires (epoch seconds, ``time.time()`` based)."""

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float

    def __repr__(self) -> str:
        # The token is a bearer credential: never show it.
        return f"CachedToken(token_type={self.token_type!r}, expires_at={self.expires_at!r})"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (guide: ``{token_type} {access_token}``)."""
        return f"{self.token_type} {self.access_token}"


@runtime_checkable
class TokenCache(Protocol):
    """A store for the current token, shared by every client that uses it."""

    async def get(self, key: str) -> CachedToken | None:
        """The stored token, or ``None``."""
        ...

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` (replacing any other)."""
        ...

    async def clear_if(self, key: str, access_token: str) -> bool:
        """Remove the stored token only if it is ``access_token``; true if removed."""
        ...

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """A lock held while one holder mints a token (cross-process for shared stores)."""
        ...

    async def aclose(self) -> None:
        """Release resources. Idempotent."""
        ...


class MemoryTokenCache:
    """A token cache in process memory (the default): shared by clients of one process."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"<MemoryTokenCache keys={len(self._tokens)}>"

    async def get(self, key: str) -> CachedToken | None:
        """The stored token, or ``None``."""
        return self._tokens.get(key)

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token``."""
        self._tokens[key] = token

    async def clear_if(self, key: str, access_token: str) -> bool:
        """Remove the stored token if it is ``access_token``."""
        current = self._tokens.get(key)
        if current is not None and current.access_token == access_token:
            del self._tokens[key]
            return True
        return False

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            yield

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """An in-process lock per key."""
        return self._lock(key)

    async def aclose(self) -> None:
        """Nothing to release."""


#: Form field names of the authenticate call, per spelling (guide vs reference).
_AUTH_NAMES: Final = {
    "snake_case": ("grant_type", "client_id", "client_secret"),
    "camelCase": ("grantType", "clientId", "clientSecret"),
}


@dataclass(frozen=True, slots=True)
class AuthDetails:
    """What the authenticate answer says about the API user.

    The guide (Worldline Integration) reads ``client_id`` (the employee id) and
    ``concern_id`` from "the response of the REST API authentication call"; where they sit
    is not documented, so both the top level and ``details`` are read.

    Attributes:
        client_id: the API user's employee id, or ``None`` when the answer has none.
        concern_id: the concern's id, or ``None``.
        scope: the concern code the token is for.
    """

    client_id: int | str | None
    concern_id: int | None
    scope: str | None

    @classmethod
    def from_token(cls, token: Token) -> AuthDetails:
        details = token.details
        client_id = token.client_id
        if client_id is None:
            client_id = details.get("client_id", details.get("clientId"))
        concern_id = token.concern_id
        if concern_id is None:
            raw = details.get("concern_id", details.get("concernId"))
            concern_id = raw if isinstance(raw, int) else None
        return cls(client_id if isinstance(client_id, int | str) else None, concern_id, token.scope)


def cache_key(base_url: str, client_id: str, scope: str) -> str:
    """An opaque cache key for one API user on one environment (the secret is not in it)."""
    raw = f"{base_url}\x00{client_id}\x00{scope}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


Mint = Callable[[], Awaitable[CachedToken]]

#: Token endpoint answers that mean "not now", never "refused".
_OUTAGE_STATUSES = frozenset({429, 502, 503, 504})


class TokenManager:
    """Hands out a valid token, minting one through ``mint`` when needed.

    One mint at a time (single flight): every caller that needs a token while a mint is
    under way awaits that same mint, and gets its token -- or its failure, at once, so
    20 waiters against a failing token endpoint cost one mint, not 20. After a failed
    mint the next one waits a cool-down that doubles with each consecutive failure
    (``cooldown`` up to ``max_cooldown``), so a broken endpoint is not hammered by a busy
    app. A refused credential (:class:`~maxxton_async.AuthenticationError` from
    ``mint``) is final: it is raised to every later caller without another billed call
    until :meth:`reset`. Any other failure that repeats ``max_failures`` times in a row
    (the guide documents only 200 and 500 for the authenticate call, so a 500 may well
    be a refused credential) becomes an ``AuthenticationError`` too -- except an outage
    (no answer, 429, 502-504), which only cools down: it says nothing about the key.

    Args:
        mint: performs the authenticate call (through the client's own send path, so it
            is capped, counted and retried like any request) and returns the token.
        cache: where the token is shared; :class:`MemoryTokenCache` when omitted.
        key: the cache key (see :func:`cache_key`).
        margin_fraction: refresh when less than this fraction of the lifetime is left.
        max_margin: the margin never exceeds this many seconds.
        clock: epoch seconds; inject a fake one in tests.
        sleep: awaited for the cool-down; inject a fake one in tests.
        cooldown: seconds to wait before the mint after a failed one (doubles each time).
        max_cooldown: the cool-down's ceiling.
        max_failures: consecutive failed mints after which the failure is reported as an
            :class:`~maxxton_async.AuthenticationError` (0 disables).
    """

    def __init__(
        self,
        mint: Mint,
        *,
        key: str,
        cache: TokenCache | None = None,
        margin_fraction: float = 0.1,
        max_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        cooldown: float = 1.0,
        max_cooldown: float = 60.0,
        max_failures: int = 3,
    ) -> None:
        self._mint = mint
        self._key = key
        self._cache: TokenCache = cache if cache is not None else MemoryTokenCache()
        self._margin_fraction = margin_fraction
        self._max_margin = max_margin
        self._clock = clock
        self._sleep = sleep
        self._cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._max_failures = max_failures
        self._token: CachedToken | None = None
        self._refresh_after = 0.0
        self._flight: asyncio.Future[CachedToken] | None = None
        self._failures = 0
        # Failures in a row that may mean refused credentials (not an outage: see _refresh).
        self._suspect = 0
        self._next_mint_at = 0.0
        self._refused: BaseException | None = None
        self.token_calls = 0

    def __repr__(self) -> str:
        state = "valid" if self.current() is not None else "none"
        return f"<TokenManager token={state} token_calls={self.token_calls}>"

    @property
    def cache(self) -> TokenCache:
        """The token store."""
        return self._cache

    @property
    def consecutive_failures(self) -> int:
        """Mints that failed in a row (0 after a success)."""
        return self._failures

    def _adopt(self, token: CachedToken) -> bool:
        now = self._clock()
        lifetime = token.expires_at - now
        if lifetime <= 0:
            return False
        margin = min(self._max_margin, lifetime * self._margin_fraction)
        self._token = token
        self._refresh_after = token.expires_at - margin
        return True

    def current(self) -> CachedToken | None:
        """The token to send now, without I/O; ``None`` when it must be (re)fetched."""
        token = self._token
        if token is None or self._clock() >= self._refresh_after:
            return None
        return token

    def usable(self) -> CachedToken | None:
        """The token a call that already holds a slot may send, without I/O.

        Unlike :meth:`current` this ignores the refresh margin: a token inside its margin
        is still valid on the wire. ``None`` means it was retired by a 401 (see
        :meth:`invalidate`) or has truly expired, and the call must fetch a new one.
        """
        token = self._token
        if token is None or self._clock() >= token.expires_at:
            return None
        return token

    def now(self) -> float:
        """The manager's clock (epoch seconds)."""
        return self._clock()

    async def token(self) -> CachedToken:
        """A valid token: the current one, the shared one, or a fresh one (single flight).

        Raises:
            AuthenticationError: the credentials were refused, or minting keeps failing.
            MaxxtonError: the mint this caller waited for failed (shared by all waiters).
        """
        token = self.current()
        if token is not None:
            return token
        if self._refused is not None:
            raise self._refused
        flight = self._flight
        if flight is None:
            flight = self._flight = asyncio.ensure_future(self._refresh())
            flight.add_done_callback(self._landed)
        # Shielded: a caller that gives up (cancelled, timed out) must not cancel the
        # mint that every other waiter shares.
        try:
            return await asyncio.shield(flight)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if flight.cancelled() and task is not None and not task.cancelling():
                # The mint was cancelled by aclose(), not this caller: a typed error, not
                # a CancelledError its task group would take for its own.
                raise ClientClosedError(
                    "the client was closed while this call waited for a token"
                ) from None
            raise

    def _landed(self, flight: asyncio.Future[CachedToken]) -> None:
        self._flight = None
        if not flight.cancelled():
            flight.exception()  # retrieved: waiters that left must not log it again

    async def _refresh(self) -> CachedToken:
        delay = self._next_mint_at - self._clock()
        if delay > 0:
            await self._sleep(delay)
        try:
            token = await self._fetch()
        except AuthenticationError as exc:
            self._failures += 1
            self._refused = exc
            raise
        except BudgetExceededError:
            # Refused by our own budget before it was sent: the endpoint was never asked,
            # so no cool-down and no doubt about the credentials.
            raise
        except MaxxtonError as exc:
            self._failures += 1
            backoff = min(self._max_cooldown, self._cooldown * 2.0 ** (self._failures - 1))
            self._next_mint_at = self._clock() + backoff
            # An unreachable, overloaded or gateway-fronted endpoint (no answer, 429,
            # 502-504) says nothing about the credentials: it cools down but is never
            # turned into a permanent refusal, which would fail every later call.
            if not (isinstance(exc, TransportError) or exc.status in _OUTAGE_STATUSES):
                self._suspect += 1
            if self._max_failures and self._suspect >= self._max_failures:
                refused = AuthenticationError(
                    f"the token endpoint failed {self._suspect} times in a row "
                    f"(last: {exc.message}); check the credentials and the environment",
                    method=exc.method,
                    path=exc.path,
                    status=exc.status,
                    body=exc.body,
                )
                self._refused = refused
                raise refused from None
            raise
        self._failures = 0
        self._suspect = 0
        self._next_mint_at = 0.0
        return token

    async def _fetch(self) -> CachedToken:
        cached = await self._cache.get(self._key)
        if cached is not None and self._adopt(cached) and self.current() is not None:
            return cached
        async with self._cache.lock(self._key):
            # Another process may have minted while we waited for the shared lock.
            cached = await self._cache.get(self._key)
            if cached is not None and self._adopt(cached) and self.current() is not None:
                return cached
            fresh = await self._mint()
            self.token_calls += 1
            await self._cache.set(self._key, fresh)
            if not self._adopt(fresh):
                # Born expired by our clock (skew, or a tiny expires_in): keep it for
                # this call rather than minting again in a loop.
                self._token = fresh
                self._refresh_after = 0.0
            return fresh

    async def refresh(self) -> CachedToken:
        """Mint a new token now, even if the current one is still valid (single flight)."""
        token = self._token
        if token is not None:
            self._token = None
            self._refresh_after = 0.0
            await self._cache.clear_if(self._key, token.access_token)
        return await self.token()

    def reset(self) -> None:
        """Forget a refused credential and the failure count (e.g. after fixing the key)."""
        self._refused = None
        self._failures = 0
        self._suspect = 0
        self._next_mint_at = 0.0

    async def invalidate(self, token: CachedToken) -> None:
        """Retire ``token`` after a 401; a newer token (already refreshed) is kept."""
        if self._token is not None and self._token.access_token == token.access_token:
            self._token = None
            self._refresh_after = 0.0
        await self._cache.clear_if(self._key, token.access_token)

    async def aclose(self) -> None:
        """Close the cache."""
        flight = self._flight
        if flight is not None and not flight.done():
            flight.cancel()
        await self._cache.aclose()
