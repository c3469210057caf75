"""Redis stores for fleets: the usage ledger, the 15-slot limiter and the token cache.

Maxxton allows at most 15 concurrent calls per IP (guide, "API Pricing"), and every process
and host behind one egress IP shares them; requests are billed per month and day, so a fleet
must count in one place. Everything here is exact across hosts because every decision is one
atomic Redis command or Lua script.

* :class:`RedisLedger` -- ``INCRBY`` on day and month counters (not one member per call),
  pipelined, with expiry (days ~40 days, months ~400 days).
* :class:`RedisLimiter` -- a lease-based semaphore after Redisson's
  ``RPermitExpirableSemaphore``, with local hand-off and a fair queue of processes; it lives
  in :mod:`maxxton_async._redis_limiter` and is re-exported here.
* :class:`RedisTokenCache` -- the shared token, compare-and-clear, and a refresh lock
  (``SET NX PX`` with a random token, released by a Lua compare-and-delete).

``redis`` is an optional dependency: ``pip install maxxton-async[redis]``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._auth import CachedToken
from ._ledger import (
    BatchKey,
    DayUsage,
    TotalsKey,
    UsageCounts,
    UsageKind,
    WriteBehindLedger,
    month_key,
    usage_days,
)
from ._redis_limiter import RedisLimiter

try:
    import redis.asyncio as aioredis
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the Redis stores need redis-py: pip install maxxton-async[redis]") from exc

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["RedisLedger", "RedisLimiter", "RedisTokenCache"]

logger = logging.getLogger("maxxton_async.redis")

_DAY_TTL = 40 * 86_400
_MONTH_TTL = 400 * 86_400


def _client(url: str, *, connect_timeout: float) -> aioredis.Redis:
    # No socket read timeout: BLPOP blocks for up to a lease by design; connect attempts
    # are bounded so that an unreachable Redis is noticed quickly.
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=connect_timeout, health_check_interval=30
    )


# --------------------------------------------------------------------------- ledger

# Check-and-count for hard budgets, atomic on the server: no host can take the last free
# request between another host's check and its increment.
# KEYS: day total, month total, day-kind.  ARGV: count, daily, monthly, day ttl, month ttl.
_RECORD_WITHIN_LUA = """
local c = tonumber(ARGV[1])
local d = tonumber(redis.call('GET', KEYS[1]) or '0')
local m = tonumber(redis.call('GET', KEYS[2]) or '0')
if d + c > tonumber(ARGV[2]) or m + c > tonumber(ARGV[3]) then
  return {0, d, m}
end
d = redis.call('INCRBY', KEYS[1], c)
redis.call('EXPIRE', KEYS[1], ARGV[4])
m = redis.call('INCRBY', KEYS[2], c)
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('INCRBY', KEYS[3], c)
redis.call('EXPIRE', KEYS[3], ARGV[4])
return {1, d, m}
"""

# KEYS: peak key.  ARGV: in_flight, ttl.
_PEAK_LUA = """
local n = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > cur then
  redis.call('SET', KEYS[1], n, 'EX', ARGV[2])
  return n
end
return cur
"""


class RedisLedger(WriteBehindLedger):
    """A usage ledger in Redis, exact across processes and hosts.

    Keys (``{...}`` is a Redis Cluster hash tag, so one scope's keys share a slot)::

        {prefix:scope:environment}:d:2026-05-03          day total
        {prefix:scope:environment}:d:2026-05-03:call     day, per kind
        {prefix:scope:environment}:m:2026-05             month total
        {prefix:scope:environment}:peak:2026-05          month's peak concurrency

    Without a hard budget, counts are queued and written in pipelined batches (see
    :class:`~maxxton_async.DeferredLedger`); with one, each attempt is one Lua
    check-and-increment.

    Args:
        url: a Redis URL, e.g. ``redis://host:6379/0``.
        prefix: the key prefix.
    """

    def __init__(self, url: str, prefix: str = "maxxton:usage") -> None:
        self.url = url
        self.prefix = prefix
        self._redis = _client(url, connect_timeout=5.0)
        self._record_within: AsyncScript = self._redis.register_script(_RECORD_WITHIN_LUA)
        self._peak: AsyncScript = self._redis.register_script(_PEAK_LUA)
        super().__init__()
        self._closed = False

    def __repr__(self) -> str:
        return f"<RedisLedger prefix={self.prefix!r}>"

    def _base(self, scope: str, environment: str) -> str:
        return f"{{{self.prefix}:{scope}:{environment}}}"

    async def _apply(self, batch: dict[BatchKey, int]) -> dict[TotalsKey, UsageCounts]:
        pipe = self._redis.pipeline(transaction=False)
        order: list[TotalsKey] = []
        for (scope, env, day, kind), n in batch.items():
            base = self._base(scope, env)
            dkey = f"{base}:d:{day.isoformat()}"
            pipe.incrby(dkey, n)
            pipe.expire(dkey, _DAY_TTL)
            pipe.incrby(f"{dkey}:{kind}", n)
            pipe.expire(f"{dkey}:{kind}", _DAY_TTL)
            mkey = f"{base}:m:{month_key(day)}"
            pipe.incrby(mkey, n)
            pipe.expire(mkey, _MONTH_TTL)
            order.append((scope, env, day))
        results = await pipe.execute()
        totals: dict[TotalsKey, UsageCounts] = {}
        for i, tkey in enumerate(order):
            totals[tkey] = UsageCounts(day=int(results[6 * i]), month=int(results[6 * i + 4]))
        return totals

    async def record_within(
        self,
        *,
        scope: str,
        environment: str,
        kind: UsageKind,
        at: datetime,
        daily: int,
        monthly: int,
        count: int = 1,
    ) -> tuple[bool, UsageCounts]:
        """Count only within the limits, atomically on the server (one Lua call)."""
        await self._behind.flush()
        day = at.astimezone(UTC).date()
        base = self._base(scope, environment)
        dkey = f"{base}:d:{day.isoformat()}"
        keys = [dkey, f"{base}:m:{month_key(day)}", f"{dkey}:{kind}"]
        ok, d, m = await self._record_within(
            keys=keys, args=[count, daily, monthly, _DAY_TTL, _MONTH_TTL]
        )
        return bool(ok), UsageCounts(day=int(d), month=int(m))

    async def counts(self, *, scope: str, environment: str, day: date) -> UsageCounts:
        """Return the totals for ``day`` and its month."""
        await self._behind.flush()
        base = self._base(scope, environment)
        d, m = await self._redis.mget([f"{base}:d:{day.isoformat()}", f"{base}:m:{month_key(day)}"])
        return UsageCounts(day=int(d or 0), month=int(m or 0))

    async def history(
        self, *, scope: str, environment: str, start: date, end: date
    ) -> list[DayUsage]:
        """One :class:`DayUsage` per day from ``start`` to ``end`` inclusive (one MGET)."""
        await self._behind.flush()
        base = self._base(scope, environment)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        if not days:
            return []
        kinds = (UsageKind.CALL, UsageKind.RETRY, UsageKind.TOKEN)
        keys = [f"{base}:d:{d.isoformat()}:{k}" for d in days for k in kinds]
        values = iter(await self._redis.mget(keys))
        by_day = {d: {k: int(next(values) or 0) for k in kinds} for d in days}
        return usage_days(start, end, by_day.__getitem__)

    async def record_peak(
        self, *, scope: str, environment: str, month: str, in_flight: int
    ) -> None:
        """Raise the month's peak if ``in_flight`` is higher (compare on the server)."""
        key = f"{self._base(scope, environment)}:peak:{month}"
        await self._peak(keys=[key], args=[in_flight, _MONTH_TTL])

    async def peak(self, *, scope: str, environment: str, month: str) -> int:
        """The month's highest recorded concurrency (0 when none)."""
        value = await self._redis.get(f"{self._base(scope, environment)}:peak:{month}")
        return int(value or 0)

    async def scopes(self) -> list[tuple[str, str]]:
        """Every ``(scope, environment)`` with month counters (SCAN; for reports)."""
        found: set[tuple[str, str]] = set()
        head = "{" + self.prefix + ":"
        async for raw in self._redis.scan_iter(match=f"{head}*}}:m:*", count=1000):
            key = raw.decode() if isinstance(raw, bytes) else str(raw)
            inner = key[len(head) : key.index("}:m:")]
            scope, _, env = inner.rpartition(":")
            found.add((scope, env))
        return sorted(found)

    async def aclose(self) -> None:
        """Write queued counts and close the connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._behind.flush()
        finally:
            await self._redis.aclose()


# --------------------------------------------------------------------------- token cache

# KEYS: token hash.  ARGV: access token.  Compare-and-clear.
_CLEAR_IF_LUA = """
if redis.call('HGET', KEYS[1], 'access_token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lock key.  ARGV: owner token.  Delete only our own lock.
_UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenCache:
    """The access token shared by every process and host, in Redis.

    Implements the ``TokenCache`` protocol of the token manager. A token is a hash
    (``access_token``, ``token_type``, ``expires_at``) that Redis expires with the token.
    The client secret is never stored; keys are opaque (the client passes a hash).

    :meth:`lock` is ``SET key owner NX PX lease``, released by a Lua compare-and-delete, so
    a lock whose holder died expires after ``lock_lease`` seconds. Waiters poll with a
    growing delay (5 ms to 100 ms) for at most ``lock_timeout`` seconds, then proceed
    without the lock and log a warning (at worst one extra token call). Within one process
    waiters queue on an asyncio lock first.

    Args:
        url: a Redis URL.
        prefix: the key prefix.
        lock_lease: seconds the refresh lock lives if its holder never releases it.
        lock_timeout: the most seconds to wait for the refresh lock.
        sleep: what a lock waiter awaits between tries (default :func:`asyncio.sleep`),
            given the delay in seconds; a test injects one to see each try.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "maxxton:token",
        *,
        lock_lease: float = 15.0,
        lock_timeout: float = 20.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.lock_lease = lock_lease
        self.lock_timeout = lock_timeout
        self._redis = _client(url, connect_timeout=5.0)
        self._clear_if: AsyncScript = self._redis.register_script(_CLEAR_IF_LUA)
        self._unlock: AsyncScript = self._redis.register_script(_UNLOCK_LUA)
        self._local_locks: dict[str, asyncio.Lock] = {}
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"<RedisTokenCache prefix={self.prefix!r}>"

    async def get(self, key: str) -> CachedToken | None:
        """The stored token for ``key``, or ``None``."""
        raw: dict[Any, Any] = await self._redis.hgetall(f"{self.prefix}:{key}")
        if not raw:
            return None
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        token = CachedToken(
            access_token=fields["access_token"],
            token_type=fields["token_type"],
            expires_at=float(fields["expires_at"]),
        )
        return token if token.expires_at > time.time() else None

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token``; Redis drops it when it expires."""
        name = f"{self.prefix}:{key}"
        ttl_ms = max(int((token.expires_at - time.time()) * 1000), 1)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            name,
            mapping={
                "access_token": token.access_token,
                "token_type": token.token_type,
                "expires_at": repr(token.expires_at),
            },
        )
        pipe.pexpire(name, ttl_ms)
        await pipe.execute()

    async def clear_if(self, key: str, access_token: str) -> bool:
        """Delete the token only if it is ``access_token`` (atomic); true if deleted."""
        return bool(await self._clear_if(keys=[f"{self.prefix}:{key}"], args=[access_token]))

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        local = self._local_locks.setdefault(key, asyncio.Lock())
        async with local:
            name = f"{self.prefix}:{key}:lock"
            owner = secrets.token_hex(16)
            lease_ms = max(int(self.lock_lease * 1000), 1)
            deadline = time.monotonic() + self.lock_timeout
            delay = 0.005
            acquired = False
            # Bounded by lock_timeout; the delay doubles up to 100 ms.
            while True:
                if await self._redis.set(name, owner, nx=True, px=lease_ms):
                    acquired = True
                    break
                if time.monotonic() >= deadline:
                    logger.warning(
                        "token lock %r not acquired within %.0f s; proceeding without it",
                        name,
                        self.lock_timeout,
                    )
                    break
                await self._sleep(delay)
                delay = min(delay * 2, 0.1)
            try:
                yield
            finally:
                if acquired:
                    await asyncio.shield(self._unlock(keys=[name], args=[owner]))

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """A cross-host lock held while one holder mints the token for ``key``."""
        return self._lock(key)

    async def aclose(self) -> None:
        """Close the connections. Idempotent."""
        await self._redis.aclose()
