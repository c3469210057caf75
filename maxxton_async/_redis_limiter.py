"""``RedisLimiter``: the 15-slot cap shared by every process and host behind one egress IP.

Maxxton allows at most 15 concurrent calls per IP (guide, "API Pricing"); every process and
host behind that IP draws on the same 15. The design follows Redisson's
``RPermitExpirableSemaphore`` -- a permit is a random id in a sorted set scored by its lease
expiry in Redis ``TIME`` (never a host's clock), released by id, renewed while held, so a
killed process's permits come back within one lease -- and adds what a fleet needs to stay
near a local semaphore's throughput:

* **Hand-off.** A released permit goes straight to this process's next local waiter, with
  no Redis round trip. Each process's fair share is the cap divided by the processes that
  hold or want permits (every script call returns that count). Permits within the share
  stay with their process for as long as it has waiters: returning them would only trade
  them between processes, a round trip on each side. A permit beyond the share is handed
  on up to ``handoff_limit`` times in a row and for at most ``handoff_time`` seconds after
  Redis granted it; then it is returned to Redis, where the fleet's queue decides who gets
  it next (fairness, below). When the count grows (a process starts wanting permits), the
  script nudges the other processes through their inboxes; each asks for its new share at
  once, and what it holds beyond it goes back at its next release.
* **Batches.** One script call (``SYNC``) returns every permit queued for release, renews
  leases when due, registers how many permits this process still wants, and grants as many
  as are free; releases and renewals are never a call of their own.
* **Fire-and-forget release.** :meth:`RedisLimiter.release` never awaits: a permit that
  goes back to Redis joins a batch that a background task sends on the next event-loop
  turn. :meth:`RedisLimiter.aclose` flushes it.
* **A FIFO of process tickets.** A process that wants permits while none are free files a
  ticket (its demand) at the tail of a queue in Redis. Whoever frees permits (any process's
  ``SYNC``) grants them to the head ticket, one per turn while several wait, then moves that
  ticket to the tail: round robin between processes. Grants for another process are pushed
  onto its inbox list, on which it waits with ``BLMPOP``; so waiting never polls. A ticket
  lives ``lease / 2`` unless its process refreshes it, so a killed waiter drops out: the
  permits it held come back within one lease of its death, any granted to its ticket since
  within one and a half.
* **Restarts.** An epoch id in Redis tells when Redis lost its data (a restart without
  persistence, a flush). A process that saw an older epoch re-registers the permits it
  holds, and the first such process closes the gate for new grants for one lease, so that
  every live holder re-registers before anyone is granted a slot again: the fleet stays
  within the cap while Redis restarts.
* **One adaptive cap for the fleet.** Other software behind the same IP may hold some of
  the 15. The cap in force lives in Redis (``K:meta``), so every process obeys the same
  one: a 429 lowers it to ``decrease`` times what the fleet holds, rounded up but at least
  one below it (and at least 1), once per window -- a 429 counts only from a process that
  has seen the latest drop, and a process that sees a drop ignores the answers to what it
  had on the wire then -- and answers without 429, counted across the fleet, grow it by one
  slot every ``increase_every``, never above ``permits``
  (:class:`~maxxton_async.limits.AdaptiveCap`'s rules). Success counts ride along with the
  script calls the limiter makes anyway (a call of their own at most once per quarter of
  ``increase_every``); a 429 is reported on the next event-loop turn. Redis grants
  only below the cap, and a process whose last answer said the fleet holds more than the
  cap returns released permits to Redis instead of handing them on, so the fleet comes down
  to a lowered cap within one request per permit: the script that lowers the cap nudges
  every other process holding or wanting permits, which asks for the new cap at once.

Keys (``K`` is the limiter's ``key``): ``K`` holders (zset: permit -> lease expiry ms),
``K:meta`` (hash: epoch, gate, seq, the processes counted at the last call; the adaptive
cap, its drop generation and the successes counted towards its growth), ``K:queue`` (zset:
process -> turn), ``K:demand`` (hash: process -> permits wanted), ``K:alive`` (zset: process
-> ticket expiry), ``K:inbox:<process>`` (list of granted permit ids, and nudges). The
scripts build inbox key names from a prefix, so one limiter's keys must live on one Redis
node (no Redis Cluster across slots).

``redis`` is an optional dependency: ``pip install maxxton-async[redis]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ._errors import LimiterUnavailableError
from ._limits import AdaptiveCap, LimiterStatistics

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
    from redis.exceptions import ResponseError as RedisResponseError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the Redis stores need redis-py: pip install maxxton-async[redis]") from exc

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["RedisLimiter"]

logger = logging.getLogger("maxxton_async.redis")

# Any Redis failure (refused, reset, timeout, LOADING after a restart, READONLY, OOM) means
# the shared count cannot be trusted right now.
_UNAVAILABLE = (RedisError, OSError)
_READ_TIMEOUT = 5.0  # seconds a script call may take before Redis counts as unavailable

# The one script that changes the limiter's state. Atomic, so every decision is exact across
# hosts. KEYS: holders, meta, queue, demand, alive, my inbox.
# ARGV: process id, want, lease ms, permits, a fresh epoch, the epoch this process last saw
# ('' if none), inbox key prefix, adaptive ('1'/'0'), the cap generation this process last saw
# (-1 if none), a 429 to report ('1'/'0'), answers without 429 since the last call, the
# decrease factor, answers per slot of growth, how many times that for the step back to the
# level of the last 429, n, n ids to release, m, m ids to (re)register.
# Returns {epoch, remaining demand, ms to wait before syncing again, ids re-added, the cap in
# force, its generation, permits held by the fleet, processes holding or wanting permits,
# granted...}.
_SYNC_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holders, meta, queue, demand, alive, inbox =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local proc = ARGV[1]
local want = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local permits = tonumber(ARGV[4])
local prefix = ARGV[7]
local ticket = math.max(math.floor(lease / 2), 1)
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  -- No state: a fresh limiter, or Redis lost its data. A process that saw an epoch before
  -- knows it is the latter: no grants for one lease, while every live holder re-registers.
  epoch = ARGV[5]
  local gate = now
  if ARGV[6] ~= '' then gate = now + lease end
  redis.call('HSET', meta, 'epoch', epoch, 'gate', gate)
end
local gate = tonumber(redis.call('HGET', meta, 'gate') or '0')
redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
-- The adaptive cap (AIMD), one for the fleet. A 429 or a success counts only if it comes
-- from a process that saw the current generation: answers to requests sent before the last
-- drop say nothing new (one drop per window). Counted before this call's releases, so the
-- fleet's in-flight count still includes the request that met the 429.
local limit = permits
local dropped = false
local capgen = tonumber(redis.call('HGET', meta, 'capgen') or '0')
if ARGV[8] == '1' then
  local cap = math.min(tonumber(redis.call('HGET', meta, 'cap') or permits), permits)
  if tonumber(ARGV[9]) == capgen then
    local good = tonumber(ARGV[11])
    if ARGV[10] == '1' then
      local held = redis.call('ZCARD', holders)
      -- decrease x held, rounded up, and at least one below held (AdaptiveCap's rule).
      local lower = math.min(held - 1, math.ceil(held * tonumber(ARGV[12]) - 1e-9))
      cap = math.max(1, math.min(cap, lower))
      capgen = capgen + 1
      dropped = true
      redis.call('HSET', meta, 'cap', cap, 'capgen', capgen, 'good', 0, 'failed', held)
    elseif good > 0 and cap < permits then
      local failed = tonumber(redis.call('HGET', meta, 'failed') or '0')
      good = redis.call('HINCRBY', meta, 'good', good)
      local grown = false
      -- One slot per ARGV[13] answers; the step back to the level of the last 429 takes
      -- ARGV[14] times as many. At most permits steps.
      while cap < permits do
        local every = tonumber(ARGV[13])
        if cap + 1 == failed then every = every * tonumber(ARGV[14]) end
        if good < every then break end
        cap = cap + 1
        good = good - every
        grown = true
      end
      if cap == permits then good = 0 end
      if grown then redis.call('HSET', meta, 'cap', cap, 'good', good) end
    end
  end
  limit = cap
end
local i = 15
local n = tonumber(ARGV[i])
for j = 1, n do redis.call('ZREM', holders, ARGV[i + j]) end
i = i + n + 1
n = tonumber(ARGV[i])
local readded = 0
for j = 1, n do
  readded = readded + redis.call('ZADD', holders, now + lease, ARGV[i + j])
end
-- Grants pushed to us since our last call; keep those whose lease still runs.
local mine = {}
for _, id in ipairs(redis.call('LRANGE', inbox, 0, -1)) do
  if redis.call('ZSCORE', holders, id) then table.insert(mine, id) end
end
redis.call('DEL', inbox)
local function drop(p)
  redis.call('ZREM', queue, p)
  redis.call('HDEL', demand, p)
  redis.call('ZREM', alive, p)
end
local need = want - #mine
if need > 0 then
  redis.call('HSET', demand, proc, need)
  redis.call('ZADD', alive, now + ticket, proc)
  if not redis.call('ZSCORE', queue, proc) then
    redis.call('ZADD', queue, redis.call('HINCRBY', meta, 'seq', 1), proc)
  end
else
  drop(proc)
end
if now >= gate then
  local free = limit - redis.call('ZCARD', holders)
  local waiting = redis.call('ZCARD', queue)
  -- One permit per turn while several processes wait: the finest round robin.
  local share = permits
  if waiting > 1 then share = 1 end
  -- Each turn grants at least one permit or drops a ticket: at most permits + tickets turns.
  while free > 0 do
    local head = redis.call('ZRANGE', queue, 0, 0)
    if #head == 0 then break end
    local p = head[1]
    local until_ms = tonumber(redis.call('ZSCORE', alive, p) or '0')
    local d = tonumber(redis.call('HGET', demand, p) or '0')
    if until_ms < now or d <= 0 then
      drop(p)
    else
      local g = math.min(d, free, share)
      for _ = 1, g do
        -- The epoch in the id: seq starts again after Redis lost its data, while permits
        -- granted before may still be held (and re-registered) for as long as work goes on.
        local id = p .. ':' .. epoch .. ':' .. redis.call('HINCRBY', meta, 'seq', 1)
        redis.call('ZADD', holders, now + lease, id)
        if p == proc then
          table.insert(mine, id)
        else
          redis.call('RPUSH', prefix .. p, id)
        end
      end
      if p ~= proc then redis.call('PEXPIRE', prefix .. p, lease) end
      free = free - g
      d = d - g
      if d > 0 then
        redis.call('HSET', demand, p, d)
        redis.call('ZADD', queue, redis.call('HINCRBY', meta, 'seq', 1), p)
      else
        drop(p)
      end
    end
  end
end
for _, k in ipairs({holders, queue, demand, alive}) do redis.call('PEXPIRE', k, lease * 2) end
local left = tonumber(redis.call('HGET', demand, proc) or '0')
-- Refresh the ticket halfway through its life, sooner if a lease ends (purge) or the gate opens.
local wait = math.max(math.floor(ticket / 2), 1)
if gate > now then wait = math.min(wait, gate - now) end
local first = redis.call('ZRANGE', holders, 0, 0, 'WITHSCORES')
if #first > 0 then wait = math.min(wait, tonumber(first[2]) - now) end
-- Processes that hold or want permits (the caller included): each one's fair share of the
-- cap is limit / active, which tells it whether a permit it holds is owed to the others.
local active, others = {[proc] = true}, {}
for _, p in ipairs(redis.call('ZRANGE', queue, 0, -1)) do
  if not active[p] then active[p] = true; table.insert(others, p) end
end
for _, id in ipairs(redis.call('ZRANGE', holders, 0, -1)) do
  local p = string.match(id, '^[^:]*')
  if not active[p] then active[p] = true; table.insert(others, p) end
end
local n = #others + 1
-- More processes than the others last heard of, or a lower cap: their shares shrank. A
-- nudge ('~') in each one's inbox wakes its listener, which asks for the new figures (and
-- stops handing on what the fleet holds beyond a lowered cap); a process that is not
-- listening learns them with its next call.
local known = tonumber(redis.call('HGET', meta, 'active') or '0')
if n ~= known then redis.call('HSET', meta, 'active', n) end
if n > known or dropped then
  for _, p in ipairs(others) do
    redis.call('RPUSH', prefix .. p, '~')
    redis.call('PEXPIRE', prefix .. p, lease)
  end
end
local fleet = redis.call('ZCARD', holders)
local out = {epoch, left, math.max(wait, 1), readded, limit, capgen, fleet, n}
for _, id in ipairs(mine) do table.insert(out, id) end
return out
"""

# What the SYNC script pushes to a process's inbox, instead of a permit id, to make it call.
_NUDGE = "~"

# KEYS: holders.  Live holders after purging expired ones.
_COUNT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


def _client(url: str, *, connect_timeout: float, read_timeout: float) -> aioredis.Redis:
    # Connects and reads are bounded, so that a Redis that vanished without closing the
    # connection (a dead host, a partition) is noticed, not waited on forever.
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=read_timeout,
        health_check_interval=30,
    )


class _Permit:
    """One slot: a permit id in Redis, or a local one taken while Redis was unreachable."""

    __slots__ = ("extra", "gen", "id", "registered", "since", "uses")

    def __init__(self, permit_id: str, *, registered: bool, since: float) -> None:
        self.id = permit_id
        self.uses = 0  # hand-offs since its turn here began
        self.since = since  # time.monotonic() when its turn here began
        self.registered = registered  # known to Redis (granted, or re-registered)
        # Beyond this process's fair share: here for one turn (``handoff_limit`` uses,
        # ``handoff_time`` seconds), then back to Redis. Permits within the share have no turn.
        self.extra = True
        # The fleet's cap generation when the current holder took it: a 429 to a request
        # sent before the last drop says nothing new.
        self.gen = -1

    def __repr__(self) -> str:
        return f"<permit {self.id}>"


class _Slot:
    """``async with limiter.slot():`` on :meth:`RedisLimiter.acquire` / ``release``."""

    __slots__ = ("_limiter", "_permit")

    def __init__(self, limiter: RedisLimiter) -> None:
        self._limiter = limiter
        self._permit: object = None

    async def __aenter__(self) -> None:
        self._permit = await self._limiter.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._limiter.release(self._permit)


class RedisLimiter:
    """A concurrency cap shared by every process and host using the same Redis key.

    Implements :class:`~maxxton_async.limits.AdaptiveLimiter`: :meth:`acquire` returns a
    permit (cancel-safe: it returns one or raises holding nothing), :meth:`release` gives it
    back without awaiting, :meth:`slot` wraps the two. See the module documentation for the
    design: local hand-off within a fair share, one script call per batch, a FIFO of process
    tickets for fairness, leases renewed in the background (every ``lease / 3`` seconds, one
    call for all held permits) so that a killed process's permits come back within one
    ``lease``, and one adaptive cap for the fleet, kept in Redis, which :meth:`throttled` (a
    429) lowers and :meth:`succeeded` grows back; :meth:`statistics` reports it as last seen.

    Args:
        url: a Redis URL.
        permits: slots shared by all users of ``key``; Maxxton's per-IP default is 15.
        name: names the key when ``key`` is not given: ``maxxton:limiter:<name>``. Use one
            name per egress IP.
        key: the Redis key of the holder set (other keys are ``<key>:...``).
        lease: seconds a permit lives without renewal.
        on_unavailable: ``"fail"`` raises :class:`~maxxton_async.LimiterUnavailableError`
            to waiters when Redis cannot be reached; ``"local"`` caps this process alone at
            ``permits`` (logged) and tries Redis again after ``retry_after`` seconds. Slots
            taken locally count against the permits this process takes from Redis once it
            is back (they are registered in Redis), so one process never holds more than
            ``permits``; during the outage a fleet may exceed ``permits`` together.
        retry_after: seconds of local-only limiting after Redis failed (``"local"``).
        connect_timeout: seconds to wait for a Redis connection.
        handoff_limit: how many times in a row a permit beyond this process's fair share
            may go straight to a waiter of this process before it must return to Redis,
            where other processes' tickets come first. Higher costs less CPU and Redis work,
            and lets other processes in later. ``0`` returns every permit to Redis.
        handoff_time: seconds after Redis granted a permit beyond the fair share during
            which it may be handed on locally; bounds how long other processes wait when
            requests are slow. ``0`` returns every permit to Redis.
        adaptive: follow the server's 429s with one cap for the whole fleet (``True``, the
            default), with the settings of an :class:`~maxxton_async.limits.AdaptiveCap`
            (its ``ceiling`` must equal ``permits``), or ``False`` for a fixed cap. Every
            process sharing ``key`` should use the same setting: a fixed limiter ignores the
            fleet's lowered cap.
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
        handoff_limit: int = 64,
        handoff_time: float = 0.25,
        adaptive: bool | AdaptiveCap = True,
    ) -> None:
        if permits < 1:
            raise ValueError(f"permits must be at least 1, got {permits}")
        if lease <= 0:
            raise ValueError(f"lease must be positive, got {lease}")
        if on_unavailable not in ("fail", "local"):
            raise ValueError(f"on_unavailable must be 'fail' or 'local', got {on_unavailable!r}")
        if retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {retry_after}")
        if handoff_limit < 0:
            raise ValueError(f"handoff_limit must not be negative, got {handoff_limit}")
        if handoff_time < 0:
            raise ValueError(f"handoff_time must not be negative, got {handoff_time}")
        if adaptive is True:
            adaptive = AdaptiveCap(permits)
        elif isinstance(adaptive, AdaptiveCap) and adaptive.ceiling != permits:
            raise ValueError(
                f"adaptive.ceiling ({adaptive.ceiling}) must equal permits ({permits}): "
                "the fleet's cap grows back up to permits"
            )
        self.url = url
        self.key = key if key is not None else f"maxxton:limiter:{name}"
        self._permits = permits
        self._lease_ms = max(int(lease * 1000), 3)
        self._on_unavailable = on_unavailable
        self._retry_after = retry_after
        self._handoff_limit = handoff_limit
        self._handoff_time = handoff_time
        # Unique per instance: two limiters in one process are two fleet members.
        self._proc = secrets.token_hex(8)
        self._keys = [
            self.key,
            f"{self.key}:meta",
            f"{self.key}:queue",
            f"{self.key}:demand",
            f"{self.key}:alive",
            f"{self.key}:inbox:{self._proc}",
        ]
        self._inbox_prefix = f"{self.key}:inbox:"
        self._redis = _client(url, connect_timeout=connect_timeout, read_timeout=_READ_TIMEOUT)
        # The inbox waits in BLMPOP for up to a quarter of a lease: its own connections,
        # with a read timeout beyond that.
        self._blocking = _client(
            url, connect_timeout=connect_timeout, read_timeout=self.lease / 4 + _READ_TIMEOUT
        )
        self._epoch_seq = 0
        self._sync: AsyncScript = self._redis.register_script(_SYNC_LUA)
        self._count: AsyncScript = self._redis.register_script(_COUNT_LUA)
        self._held: dict[str, _Permit] = {}  # permits this process holds, not being returned
        self._to_release: list[_Permit] = []  # returned by callers, not yet sent to Redis
        self._waiters: deque[asyncio.Future[_Permit]] = deque()
        self._n_waiting = 0
        self._in_flight = 0
        self._peak = 0
        self._local_seq = 0
        self._epoch = ""  # the Redis epoch last seen; '' before the first answer
        self._registered = 0  # our ticket's demand as Redis last told us (minus inbox grants)
        self._wait_s = 0.0  # when to sync again while our ticket waits (from the last answer)
        self._next_renew = 0.0
        self._renew_all = False  # re-register every held permit on the next sync
        self._fallback_until = 0.0
        self._syncing = False
        self._wake: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._blmpop = True
        self._closed = False
        self._syncs = 0  # script calls answered
        self._force = False  # refresh(): call Redis now
        # Fair share: the cap in force divided by the processes holding or wanting permits,
        # as of the last answer. Permits within it stay here when their turn ends.
        self._share = 0
        self._synced_at = 0.0  # time.monotonic() of the last answer
        self._check = False  # ask Redis for the fleet's state now (no permit to send)
        self._check_after = 0.0
        # The fleet's adaptive cap (see the SYNC script), as Redis last told us.
        self._adaptive: AdaptiveCap | None = adaptive or None
        self._cap = permits
        self._cap_gen = -1  # the drop generation last seen; -1 before the first answer
        self._over = 0  # permits the fleet held beyond the cap, at the last answer
        self._old_answers = 0  # answers due to requests sent before the last drop we saw
        self._drop = False  # a 429 to report on the next call
        self._good = 0  # answers without 429 not yet reported
        # Successes ride along with the calls the limiter makes anyway; a call of their own
        # only after a quarter of a slot's worth has piled up.
        self._good_flush = (
            max(1, self._adaptive.increase_every // 4) if self._adaptive is not None else 0
        )

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

    @property
    def adaptive(self) -> AdaptiveCap | None:
        """The adaptive cap's settings, or ``None`` for a fixed cap.

        Its ``cap`` mirrors the fleet's cap as last seen, its ``decreases`` the fleet's
        drops since the key was created (the figures themselves live in Redis).
        """
        return self._adaptive

    # ------------------------------------------------------------------ the protocol

    def slot(self) -> _Slot:
        """Wait for a free slot (shared through Redis) and hold it for the body."""
        return _Slot(self)

    async def acquire(self) -> object:
        """Wait for a slot and return its permit; give it back with :meth:`release`.

        Cancel-safe: when cancelled (or failing) it holds nothing. The Redis calls run in a
        background task, so a cancelled caller never interrupts a script call; a permit
        granted to a waiter that was cancelled goes to the next waiter.

        Raises:
            LimiterUnavailableError: Redis cannot be reached and ``on_unavailable="fail"``.
            LimiterUnavailableError: the limiter is closed (typed, so that a client sharing
                it with one that shut it down fails inside the exception tree).
        """
        if self._closed:
            raise LimiterUnavailableError(f"RedisLimiter {self.key!r} is closed")
        if not self._n_waiting:
            permit = self._reuse()
            if permit is not None:
                return self._enter(permit)
            if (
                self._fallback_until
                and time.monotonic() < self._fallback_until
                and len(self._held) < self._permits
            ):
                return self._enter(self._local_permit())
        fut: asyncio.Future[_Permit] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._n_waiting += 1
        if self._want() > self._registered:
            # More than our ticket asks for: the pump must tell Redis. Otherwise a permit
            # will come by hand-off or through the inbox, and waking the pump costs CPU.
            self._kick()
        try:
            return await fut
        except BaseException:
            if fut.cancelled():
                self._n_waiting -= 1  # still queued when cancelled: it holds nothing
            elif fut.exception() is None:
                self.release(fut.result())  # granted as we were cancelled: pass it on
            raise

    def release(self, permit: object) -> None:
        """Give back a permit from :meth:`acquire`. Never awaits.

        The permit goes to this process's next waiter if it may (see ``handoff_limit``);
        otherwise it is returned to Redis by a background task on the next event-loop turn,
        in one batch with the others.
        """
        if not isinstance(permit, _Permit):
            raise TypeError(f"not a permit of a RedisLimiter: {permit!r}")
        if self._closed:
            return  # aclose() returned every permit already
        if self._held.get(permit.id) is not permit:
            raise ValueError(f"permit not held from this limiter (released twice?): {permit!r}")
        self._in_flight -= 1
        now = time.monotonic()
        local = self._fallback_until and now < self._fallback_until
        # Never handed on while the fleet holds more than its (lowered) cap: back to Redis,
        # which grants again only below the cap.
        if self._n_waiting and (
            local or (self._over <= 0 and self._may_reuse(permit, now, len(self._held)))
        ):
            permit.uses += 1
            if self._hand(permit):
                return
            # Every queued waiter was cancelled (their acquire() has not run yet).
        del self._held[permit.id]
        if local and not permit.registered:
            return  # never known to Redis: nothing to send
        self._to_release.append(permit)
        self._kick()

    def throttled(self, permit: object = None) -> None:
        """The server answered 429 to the attempt holding ``permit``: lower the fleet's
        cap (when adaptive).

        Reported to Redis on the next event-loop turn (a 429 is rare; its call is the
        one round trip). Ignored for a request sent before the last drop this process
        saw (told by the permit's generation, or, without a permit, by counting the
        answers still due), and while a report is already on its way: one drop per window.
        """
        if self._adaptive is None:
            return
        if isinstance(permit, _Permit):
            if 0 <= permit.gen < self._cap_gen:
                return
        elif self._old_answers > 0:
            self._old_answers -= 1
            return
        if not self._drop:
            self._drop = True
            self._good = 0
            # Until Redis answers, treat the fleet as over its cap: the permit of this very
            # request (released next) goes back with the report, not to a waiter that would
            # meet the next 429 at once.
            self._over = max(self._over, 1)
            self._kick()

    def succeeded(self) -> None:
        """An answer that was not 429: let the fleet's cap grow back (when adaptive).

        Counted locally; the count rides along with the limiter's next script call (no
        round trip of its own until a quarter of ``increase_every`` has piled up).
        """
        if self._adaptive is None:
            return
        if self._old_answers > 0:
            self._old_answers -= 1
        if self._cap < self._permits:
            self._good += 1
            if self._good == self._good_flush:
                self._kick()

    def statistics(self) -> LimiterStatistics:
        """This process's in-flight, waiting and peak counts, and the fleet's cap as last
        seen (no I/O)."""
        return LimiterStatistics(
            capacity=self._permits,
            in_flight=self._in_flight,
            waiting=self._n_waiting,
            peak_in_flight=self._peak,
            effective_capacity=self._cap if self._adaptive is not None else None,
        )

    async def refresh(self) -> LimiterStatistics:
        """Talk to Redis now (pending releases, 429s and successes go with it) and return
        :meth:`statistics` with the fleet's cap as Redis has it.

        Raises:
            LimiterUnavailableError: Redis did not answer within about ten seconds.
            RuntimeError: the limiter is closed.
        """
        target = self._syncs + (2 if self._syncing else 1)
        self._force = True
        for _ in range(1000):  # bounded: about 10 s
            if self._syncs >= target:
                return self.statistics()
            if self._closed:
                raise RuntimeError("RedisLimiter is closed")
            self._kick()
            await asyncio.sleep(0.01)
        raise LimiterUnavailableError(f"no answer from Redis for limiter {self.key!r}")

    async def held_globally(self) -> int:
        """Permits held now by every process (this one's pending releases sent first)."""
        await self._flush()
        return int(await self._count(keys=[self.key]))

    async def aclose(self) -> None:
        """Return every permit to Redis, stop the background tasks, close. Idempotent.

        Waiters still queued get :class:`~maxxton_async.LimiterUnavailableError`. Permits
        still held by callers are returned too: a closed limiter caps nothing.
        """
        if self._closed:
            return
        self._closed = True
        self._fail_waiters(LimiterUnavailableError(f"RedisLimiter {self.key!r} is closed"))
        for task in (self._pump_task, self._listener):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._to_release += self._held.values()
        self._held.clear()
        with contextlib.suppress(*_UNAVAILABLE):
            # Twice at most: the first call may drain grants from our inbox, which the second
            # returns.
            for _ in range(2):
                if not (self._to_release or self._registered):
                    break
                release, self._to_release = self._to_release, []
                await self._call(release, [], want=0)
        self._to_release = []
        await self._redis.aclose()
        await self._blocking.aclose()

    # ------------------------------------------------------------------ local bookkeeping

    def _enter(self, permit: _Permit) -> _Permit:
        permit.gen = self._cap_gen
        self._held[permit.id] = permit
        self._in_flight += 1
        if self._in_flight > self._peak:
            self._peak = self._in_flight
        return permit

    def _may_reuse(self, permit: _Permit, now: float, held: int) -> bool:
        """May ``permit`` go to a waiter of this process, which holds ``held`` permits?"""
        if not (self._handoff_limit and self._handoff_time):
            return False  # every permit goes back to Redis
        if not permit.extra:
            if (
                (self._listener is None or self._listener.done())
                and now - self._synced_at >= self._handoff_time
                and now >= self._check_after
            ):
                # No listener (yet) to hear Redis' nudge when more processes want a share:
                # ask Redis (without giving a permit up), at most once per hand-off time.
                self._check = True
                self._check_after = now + self._handoff_time
                self._kick()
            return True
        if permit.uses < self._handoff_limit and now - permit.since < self._handoff_time:
            return True
        # Its turn here is over. Owed to the fleet only while this process holds more than
        # its fair share; otherwise it joins the share (the fleet's share grew, or another
        # permit left): returning it would only bring it back, or trade it for another
        # process's, a Redis round trip on each side for nothing.
        if held > self._share:
            return False
        permit.extra = False
        return True

    def _reuse(self) -> _Permit | None:
        # A permit released this loop turn and not sent yet: take it back (no round trip).
        pending = self._to_release
        if (
            pending
            and self._over <= 0
            and pending[-1].registered
            and self._may_reuse(pending[-1], time.monotonic(), len(self._held) + 1)
        ):
            permit = pending.pop()
            permit.uses += 1
            return permit
        return None

    def _local_permit(self) -> _Permit:
        self._local_seq += 1
        return _Permit(f"{self._proc}:L{self._local_seq}", registered=False, since=time.monotonic())

    def _hand(self, permit: _Permit) -> bool:
        """Give ``permit`` to the next live waiter; false if there was none."""
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if fut.done():
                continue  # cancelled while queued; acquire() has accounted for it
            self._n_waiting -= 1
            fut.set_result(self._enter(permit))
            return True
        return False

    def _on_granted(self, ids: list[str]) -> None:
        now = time.monotonic()
        if not self._held:  # fresh leases: the next renewal is a third of a lease away
            self._next_renew = now + self.lease / 3
        for permit_id in ids:
            permit = _Permit(permit_id, registered=True, since=now)
            permit.extra = len(self._held) >= self._share
            if len(self._held) >= self._permits or not self._hand(permit):
                self._to_release.append(permit)  # granted beyond our need (waiter left)
        if self._to_release:
            self._kick()

    def _fail_waiters(self, exc: BaseException) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                self._n_waiting -= 1
                fut.set_exception(exc)

    def _want(self) -> int:
        return max(min(self._n_waiting, self._permits - len(self._held)), 0)

    def _serve_locally(self) -> None:
        while self._n_waiting and len(self._held) < self._permits:
            if not self._hand(self._local_permit()):
                break

    # ------------------------------------------------------------------ background work

    def _kick(self) -> None:
        if self._closed:
            return
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._pump_task is None or self._pump_task.done():
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    def _due(self) -> float | None:
        """Seconds until the pump must call Redis (0: now; ``None``: nothing to do)."""
        now = time.monotonic()
        if self._fallback_until and now < self._fallback_until:
            # Local only; what Redis-granted permits remain still need renewing.
            return self._fallback_until - now if self._held or self._to_release else None
        if self._to_release or self._renew_all or self._force or self._drop or self._check:
            return 0.0
        if self._good_flush and self._good >= self._good_flush:
            return 0.0
        want = self._want()
        if want > self._registered or (want == 0 and self._registered > 0):
            return 0.0
        if self._registered > 0 and (self._listener is None or self._listener.done()):
            return 0.0  # the listener (which refreshes our ticket) stopped
        if self._held:
            return max(self._next_renew - now, 0.0)
        return None

    async def _pump(self) -> None:
        """Every Redis write of this process, one call at a time. Exits when idle."""
        assert self._wake is not None
        wake = self._wake
        backoff = 0.05
        while not self._closed:
            due = self._due()
            if due is None:
                return
            if due > 0:
                await self._sleep(wake, due)
                continue
            if self._fallback_until:
                self._fallback_until = 0.0
                self._renew_all = True  # register the slots taken locally
            self._force = self._check = False
            release, self._to_release = self._to_release, []
            now = time.monotonic()
            renew: list[_Permit] = []
            recovering = self._renew_all
            if recovering or now >= self._next_renew:
                renew = list(self._held.values())
                self._renew_all = False
            try:
                await self._call(release, renew, want=self._want(), recovering=recovering)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Sent again next time (a repeated release is harmless); unregistered local
                # permits were never known to Redis.
                self._to_release = [p for p in release if p.registered] + self._to_release
                self._renew_all = True
                self._registered = 0
                if not isinstance(exc, _UNAVAILABLE):
                    logger.exception("limiter %r: unexpected failure talking to Redis", self.key)
                self._unavailable(exc)
                await self._sleep(wake, backoff)
                backoff = min(backoff * 2, max(self._retry_after, 0.05), self.lease / 3)
                continue
            backoff = 0.05

    @staticmethod
    async def _sleep(wake: asyncio.Event, seconds: float) -> None:
        # asyncio.timeout, not wait_for: no task per wait (this runs once per kick).
        wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await wake.wait()

    async def _call(
        self,
        release: list[_Permit],
        renew: list[_Permit],
        *,
        want: int,
        recovering: bool = False,
    ) -> None:
        """One SYNC script call; applies its answer.

        ``recovering``: ``renew`` re-registers permits after an outage or a local fallback,
        so permits Redis does not know are expected, not lost leases.
        """
        self._syncing = True
        self._epoch_seq += 1
        drop, good = self._drop, self._good
        self._good = 0
        adaptive = self._adaptive
        try:
            reply = await self._sync(
                keys=self._keys,
                args=[
                    self._proc,
                    want,
                    self._lease_ms,
                    self._permits,
                    f"{self._proc}.{self._epoch_seq}",  # a new epoch, should Redis have none
                    self._epoch,
                    self._inbox_prefix,
                    "1" if adaptive is not None else "0",
                    self._cap_gen,
                    "1" if drop else "0",
                    good,
                    adaptive.decrease if adaptive is not None else 1,
                    adaptive.increase_every if adaptive is not None else 1,
                    adaptive.PROBE_FACTOR if adaptive is not None else 1,
                    len(release),
                    *(p.id for p in release),
                    len(renew),
                    *(p.id for p in renew),
                ],
            )
        except BaseException:
            self._good += good  # sent again with the next call
            raise
        finally:
            self._syncing = False
        self._syncs += 1
        if drop:
            self._drop = False  # reported (or superseded by another process's drop)
        self._learn_cap(int(reply[4]), int(reply[5]), int(reply[6]))
        epoch = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
        now = time.monotonic()
        self._synced_at = now
        share = int(reply[4]) // max(int(reply[7]), 1)
        if share < self._share:
            # More processes want a share: our permits' turns end now, so that what we
            # hold beyond the new share goes back at its next release.
            for p in self._held.values():
                p.extra = True
                p.since = -float("inf")
        self._share = share
        if renew:
            self._next_renew = now + self.lease / 3
            for p in renew:
                p.registered = True
        readded = int(reply[3])
        if readded and not recovering and self._epoch == epoch:
            # Our leases ran out (a stalled loop?) and were purged: re-registered now, but the
            # cap may have been exceeded meanwhile.
            logger.warning(
                "limiter %r: %d lease(s) re-registered after they had expired", self.key, readded
            )
        if self._epoch and epoch != self._epoch:
            logger.warning(
                "limiter %r: Redis lost its state (restart?); re-registering %d held permit(s)",
                self.key,
                len(self._held),
            )
            self._renew_all = True
        self._epoch = epoch
        self._registered = int(reply[1])
        self._wait_s = now + int(reply[2]) / 1000
        granted = [x.decode() if isinstance(x, bytes) else str(x) for x in reply[8:]]
        if granted:
            self._on_granted(granted)
        if (self._registered > 0 or self._listening()) and not self._closed:
            self._ensure_listener()

    def _learn_cap(self, cap: int, gen: int, held: int) -> None:
        self._over = held - cap
        adaptive = self._adaptive
        if adaptive is None:
            return
        if gen != self._cap_gen:
            if self._cap_gen >= 0:
                # A drop since we last looked: the answers to what we have on the wire now
                # were sent before it and must not drop the cap again.
                self._old_answers = self._in_flight
                self._good = 0
            self._cap_gen = gen
            adaptive.decreases = gen
        self._cap = cap
        adaptive.cap = cap

    def _unavailable(self, exc: BaseException) -> None:
        if self._on_unavailable == "fail":
            self._fail_waiters(
                LimiterUnavailableError(f"cannot reach Redis for limiter {self.key!r}: {exc}")
            )
            return
        if not self._fallback_until:
            logger.warning(
                "Redis unreachable for limiter %r (%s); capping this process only "
                "(%d slots) for %.0f s",
                self.key,
                exc,
                self._permits,
                self._retry_after,
            )
        self._fallback_until = time.monotonic() + self._retry_after
        self._serve_locally()

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    def _listening(self) -> bool:
        # Handing permits on locally: Redis' nudge (more processes want a share) must reach
        # us even without a ticket of ours.
        return bool(self._held) and self._n_waiting > 0

    async def _listen(self) -> None:
        """Wait on our inbox for permits other processes grant us while our ticket stands,
        and for nudges while we hand permits on locally."""
        inbox = self._keys[5]
        while (self._registered > 0 or self._listening()) and not self._closed:
            ticket = self._registered > 0
            timeout = max(self._wait_s - time.monotonic(), 0.001) if ticket else self.lease / 4
            try:
                ids = await self._pop(inbox, timeout)
            except _UNAVAILABLE:
                self._kick()  # the pump notices and handles the outage
                return
            if not ids:
                if not ticket:
                    continue
                self._wait_s = 0.0  # time to refresh the ticket / purge expired leases
                self._kick()
                return
            if _NUDGE in ids:
                # More processes want a share: learn the new one.
                ids = [x for x in ids if x != _NUDGE]
                self._check = True
                self._kick()
            if ids:
                # Without a ticket: granted to one we had (its grants are on their way).
                self._registered = max(self._registered - len(ids), 0)
                self._on_granted(ids)

    async def _pop(self, inbox: str, seconds: float) -> list[str]:
        raw: object
        if self._blmpop:
            try:
                raw = await self._blocking.execute_command(  # type: ignore[no-untyped-call]
                    "BLMPOP", f"{seconds:.3f}", 1, inbox, "LEFT", "COUNT", self._permits
                )
            except RedisResponseError:
                self._blmpop = False  # Redis < 7: one id per call
            else:
                if not raw:
                    return []
                assert isinstance(raw, list)
                return [x.decode() if isinstance(x, bytes) else str(x) for x in raw[1]]
        raw = await self._blocking.blpop([inbox], timeout=seconds)
        if not raw:
            return []
        assert isinstance(raw, list | tuple)
        value = raw[1]
        return [value.decode() if isinstance(value, bytes) else str(value)]

    async def _flush(self) -> None:
        """Wait (bounded) until releases queued so far have reached Redis."""
        for _ in range(1000):  # at most ~10 s
            if not self._to_release and not self._syncing:
                return
            self._kick()
            await asyncio.sleep(0.01)
