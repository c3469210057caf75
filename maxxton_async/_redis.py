"""Redis stores for fleets: the usage ledger, the 15-slot limiter and the token cache.

Maxxton allows at most 15 concurrent calls per IP (guide, "API Pricing"), and every process
and host behind one egress IP shares them; requests are billed per month and day, so a fleet
must count in one place. Everything here is exact across hosts because every decision is one
atomic Redis command or Lua script.

* :class:`RedisLedger` -- ``INCRBY`` on day and month counters (not one member per call),
  pipelined, with expiry (days ~40 days, months ~400 days).
* :class:`RedisLimiter` -- a lease-based semaphore after Redisson's
  ``RPermitExpirableSemaphore``: a sorted set of permit id -> lease expiry, clocked by Redis
  ``TIME`` (never a host's clock), purged of expired holders on every acquire; release by
  permit id; leases renewed in the background while held. A killed process's slots come
  back within one lease.
* :class:`RedisTokenCache` -- the shared token, compare-and-clear, and a refresh lock
  (``SET NX PX`` with a random token, released by a Lua compare-and-delete).

``redis`` is an optional dependency: ``pip install maxxton-async[redis]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ._auth import CachedToken
from ._errors import LimiterUnavailableError
from ._ledger import (
    BatchKey,
    DayUsage,
    TotalsKey,
    UsageCounts,
    UsageKind,
    WriteBehindLedger,
    month_key,
)
from ._limits import LimiterStatistics, LocalLimiter

try:
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the Redis stores need redis-py: pip install maxxton-async[redis]") from exc

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["RedisLedger", "RedisLimiter", "RedisTokenCache"]

logger = logging.getLogger("maxxton_async.redis")

_DAY_TTL = 40 * 86_400
_MONTH_TTL = 400 * 86_400
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


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
        values = await self._redis.mget(keys)
        out = []
        for i, d in enumerate(days):
            c, r, t = (int(v or 0) for v in values[3 * i : 3 * i + 3])
            out.append(DayUsage(d, calls=c, retries=r, tokens=t))
        return out

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


# --------------------------------------------------------------------------- limiter

# KEYS: holders zset, wake list.  ARGV: permits, lease ms, permit id.
# Returns {1, holders} when granted, else {0, ms until the earliest lease ends}.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
  return {1, n + 1}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}
"""

# KEYS: holders zset, wake list.  ARGV: permit id, permits, lease ms.
# One wake-up token per freed slot; the list is trimmed to the permit count so that tokens
# nobody waited for cannot pile up (at most `permits` spurious retries later).
_RELEASE_LUA = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then
  redis.call('LPUSH', KEYS[2], '1')
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) * 2)
end
return removed
"""

# KEYS: holders zset.  ARGV: lease ms, permit ids...
# Extends only the permits still held (XX semantics by ZSCORE check); returns how many of
# ours were lost (expired and purged, e.g. after this process stalled past its lease).
_RENEW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
local lost = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) > now then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
  else
    if score then redis.call('ZREM', KEYS[1], ARGV[i]) end
    lost = lost + 1
  end
end
redis.call('PEXPIRE', KEYS[1], lease * 2)
return lost
"""

# KEYS: holders zset.  Live holders after purging expired ones.
_COUNT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


class _LocalPermit:
    """A fallback slot taken while Redis was unreachable."""

    __slots__ = ("permit",)

    def __init__(self, permit: object) -> None:
        self.permit = permit


class RedisLimiter:
    """A concurrency cap shared by every process and host using the same Redis key.

    Implements the :class:`~maxxton_async.Limiter` protocol. Each slot is a permit: a
    random id in a sorted set scored by its lease expiry in Redis ``TIME``. Acquiring purges
    expired permits and grants one if fewer than ``permits`` remain; releasing removes the
    permit by id and pushes one wake-up token on a list. A background task renews this
    process's leases every ``lease / 3`` seconds while it holds any, so a long request keeps
    its slot and a killed process's slots expire within one ``lease``.

    Waiting does not spin: in each process only the first waiter talks to Redis (the others
    queue on a local lock); it blocks in ``BLPOP`` on the wake-up list, for no longer than
    the time until the earliest lease ends, so a crashed holder's expiry is noticed too.

    Args:
        url: a Redis URL.
        permits: slots shared by all users of ``key``; Maxxton's per-IP default is 15.
        name: names the key when ``key`` is not given: ``maxxton:limiter:<name>``. Use one
            name per egress IP.
        key: the Redis key of the holder set (the wake-up list is ``<key>:wake``).
        lease: seconds a permit lives without renewal.
        on_unavailable: ``"fail"`` raises :class:`~maxxton_async.LimiterUnavailableError`
            when Redis cannot be reached; ``"local"`` falls back to an in-process
            :class:`~maxxton_async.LocalLimiter` of the same capacity (logged), and tries
            Redis again after ``retry_after`` seconds. The fallback caps this process only,
            so a fleet may briefly exceed ``permits`` together.
        connect_timeout: seconds to wait for a Redis connection.
    """

    def __init__(
        self,
        url: str,
        permits: int = 15,
        *,
        name: str = "default",
        key: str | None = None,
        lease: float = 30.0,
        on_unavailable: Literal["fail", "local"] = "fail",
        retry_after: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        if permits < 1:
            raise ValueError(f"permits must be at least 1, got {permits}")
        if lease <= 0:
            raise ValueError(f"lease must be positive, got {lease}")
        if on_unavailable not in ("fail", "local"):
            raise ValueError(f"on_unavailable must be 'fail' or 'local', got {on_unavailable!r}")
        self.url = url
        self.key = key if key is not None else f"maxxton:limiter:{name}"
        self._wake_key = f"{self.key}:wake"
        self._permits = permits
        self._lease_ms = max(int(lease * 1000), 1)
        self._on_unavailable = on_unavailable
        self._retry_after = retry_after
        self._redis = _client(url, connect_timeout=connect_timeout)
        self._acquire: AsyncScript = self._redis.register_script(_ACQUIRE_LUA)
        self._release: AsyncScript = self._redis.register_script(_RELEASE_LUA)
        self._renew: AsyncScript = self._redis.register_script(_RENEW_LUA)
        self._count: AsyncScript = self._redis.register_script(_COUNT_LUA)
        self._held: set[str] = set()
        self._waiting = 0
        self._in_flight = 0
        self._peak = 0
        self._gate: asyncio.Lock | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._fallback = LocalLimiter(permits)
        self._releases: set[asyncio.Task[None]] = set()
        self._unavailable_until = 0.0
        self._closed = False

    def __repr__(self) -> str:
        s = self.statistics()
        return (
            f"<RedisLimiter key={self.key!r} capacity={s.capacity} "
            f"in_flight={s.in_flight} waiting={s.waiting}>"
        )

    @property
    def capacity(self) -> int:
        """The most slots that may be held at once, across every process using the key."""
        return self._permits

    @property
    def lease(self) -> float:
        """Seconds a permit lives without renewal."""
        return self._lease_ms / 1000

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Wait for a free slot (shared through Redis) and hold it for the body."""
        return self._slot()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        permit = await self.acquire()
        try:
            yield
        finally:
            if isinstance(permit, str):
                await self._give_back(permit)  # leaving the block: the slot is free
            else:
                self.release(permit)

    async def acquire(self) -> object:
        """Wait for a free slot (shared through Redis); return its permit."""
        if self._closed:
            raise RuntimeError("RedisLimiter is closed")
        if time.monotonic() < self._unavailable_until:
            return _LocalPermit(await self._fallback.acquire())
        try:
            return await self._take()
        except _UNAVAILABLE as exc:
            if self._on_unavailable == "fail":
                raise LimiterUnavailableError(
                    f"cannot reach Redis for limiter {self.key!r}: {exc}"
                ) from exc
            logger.warning(
                "Redis unreachable for limiter %r (%s); capping this process only "
                "(%d slots) for %.0f s",
                self.key,
                exc,
                self._permits,
                self._retry_after,
            )
            self._unavailable_until = time.monotonic() + self._retry_after
        return _LocalPermit(await self._fallback.acquire())

    def release(self, permit: object) -> None:
        """Give a permit back; the Redis release runs in the background."""
        if isinstance(permit, _LocalPermit):
            self._fallback.release(permit.permit)
            return
        assert isinstance(permit, str)
        task = asyncio.get_running_loop().create_task(self._give_back(permit))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _take(self) -> str:
        if self._gate is None:
            self._gate = asyncio.Lock()
        permit = secrets.token_hex(16)
        self._waiting += 1
        try:
            # Only the head of this process's queue talks to Redis; asyncio.Lock is FIFO.
            async with self._gate:
                await self._acquire_loop(permit)
        finally:
            self._waiting -= 1
        return permit

    async def _acquire_loop(self, permit: str) -> None:
        # Registered before the script runs: if we are cancelled while the answer is in
        # flight, the finally below releases the permit by id instead of leaking it.
        self._held.add(permit)
        granted = False
        try:
            while True:  # each turn blocks in BLPOP for up to one lease: not a spin
                ok, value = await self._acquire(
                    keys=[self.key, self._wake_key],
                    args=[self._permits, self._lease_ms, permit],
                )
                if ok:
                    granted = True
                    self._in_flight += 1
                    held = self._in_flight
                    if held > self._peak:
                        self._peak = held
                    self._ensure_renewer()
                    return
                wait_ms = min(max(int(value), 10), self._lease_ms)
                await self._redis.blpop([self._wake_key], timeout=wait_ms / 1000)
        finally:
            if not granted:
                self._held.discard(permit)
                with contextlib.suppress(*_UNAVAILABLE):
                    await asyncio.shield(self._release_script(permit))

    async def _release_script(self, permit: str) -> None:
        await self._release(
            keys=[self.key, self._wake_key], args=[permit, self._permits, self._lease_ms]
        )

    async def _give_back(self, permit: str) -> None:
        self._held.discard(permit)
        self._in_flight -= 1
        try:
            # Shielded: a cancelled request must still free its slot for everyone.
            await asyncio.shield(self._release_script(permit))
        except _UNAVAILABLE as exc:
            logger.warning(
                "could not release permit of limiter %r (%s); it expires within %.1f s",
                self.key,
                exc,
                self.lease,
            )

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_loop())

    async def _renew_loop(self) -> None:
        interval = self.lease / 3
        while self._held and not self._closed:
            await asyncio.sleep(interval)
            held = list(self._held)
            if not held:
                break
            try:
                lost = await self._renew(keys=[self.key], args=[self._lease_ms, *held])
            except _UNAVAILABLE as exc:
                logger.warning("could not renew leases of limiter %r: %s", self.key, exc)
                continue
            if lost:
                logger.warning(
                    "limiter %r: %d lease(s) expired before renewal; the cap may have been "
                    "exceeded briefly",
                    self.key,
                    lost,
                )

    async def held_globally(self) -> int:
        """Permits held now by every process (expired ones purged first)."""
        return int(await self._count(keys=[self.key]))

    def statistics(self) -> LimiterStatistics:
        """This process's in-flight, waiting and peak counts (no I/O)."""
        fb = self._fallback.statistics()
        return LimiterStatistics(
            capacity=self._permits,
            in_flight=self._in_flight + fb.in_flight,
            waiting=self._waiting + fb.waiting,
            peak_in_flight=max(self._peak, fb.peak_in_flight),
        )

    async def aclose(self) -> None:
        """Stop renewing, release the permits still held, close connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for permit in list(self._held):
            with contextlib.suppress(*_UNAVAILABLE):
                await self._release_script(permit)
        self._held.clear()
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
    """

    def __init__(
        self,
        url: str,
        prefix: str = "maxxton:token",
        *,
        lock_lease: float = 15.0,
        lock_timeout: float = 20.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.lock_lease = lock_lease
        self.lock_timeout = lock_timeout
        self._redis = _client(url, connect_timeout=5.0)
        self._clear_if: AsyncScript = self._redis.register_script(_CLEAR_IF_LUA)
        self._unlock: AsyncScript = self._redis.register_script(_UNLOCK_LUA)
        self._local_locks: dict[str, asyncio.Lock] = {}

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
                await asyncio.sleep(delay)
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
