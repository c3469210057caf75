"""RedisLimiter: hand-off, batching, fairness, crashes and Redis restarts.

Counting tests run against a ``redis-server`` of their own (a free loopback port, no
persistence), so the script-call counts in ``INFO commandstats`` are ours alone and the
server can be killed with ``SIGKILL`` and restarted. Those tests skip with a reason when
``redis-server`` is not installed (fail with ``MAXXTON_REQUIRE_REDIS=1``). Concurrency is
measured by loopback aiohttp servers that count requests in flight, per worker process too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from maxxton_async import LimiterUnavailableError, RedisLimiter
from tests._own_redis import OwnRedis
from tests._redis_util import redis_time_passes
from tests._support import wait_until
from tests.workers.run import finish, spawn

pytestmark = pytest.mark.redis


def evalsha_calls(server: OwnRedis) -> int:
    """Script calls the server has run (``INFO commandstats``): ours alone on our server."""
    import redis

    r = redis.Redis(port=server.port)
    try:
        stats = r.info("commandstats")
    finally:
        r.close()
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


class InFlightServer:
    """Counts requests in flight, overall and per ``X-Worker``; answers 410 once stopped."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.in_flight = 0
        self.peak = 0
        self.total = 0
        self.by: dict[str, int] = {}
        self.by_in_flight: dict[str, int] = {}
        self.by_peak: dict[str, int] = {}
        self.open: set[int] = set()  # numbers (1, 2, ...) of the requests in flight
        self.stopped = False
        self.url = ""

    def oldest(self) -> float:
        """The number of the oldest request in flight (infinity when none is)."""
        return min(self.open, default=float("inf"))

    def reset_peaks(self) -> None:
        self.peak = self.in_flight
        self.by_peak = dict(self.by_in_flight)

    async def handle(self, request: web.Request) -> web.Response:
        if self.stopped:
            return web.Response(status=410)
        w = request.headers.get("X-Worker", "?")
        self.in_flight += 1
        self.total += 1
        number = self.total
        self.open.add(number)
        self.by[w] = self.by.get(w, 0) + 1
        self.by_in_flight[w] = self.by_in_flight.get(w, 0) + 1
        self.peak = max(self.peak, self.in_flight)
        self.by_peak[w] = max(self.by_peak.get(w, 0), self.by_in_flight[w])
        try:
            await asyncio.sleep(self.latency)  # real overlap: the callers are other processes
        finally:
            self.open.discard(number)
            self.in_flight -= 1
            self.by_in_flight[w] -= 1
        return web.Response(text="ok")


@contextlib.asynccontextmanager
async def in_flight_server(latency: float) -> AsyncIterator[InFlightServer]:
    srv = InFlightServer(latency)
    app = web.Application()
    app.router.add_get("/", srv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield srv
    finally:
        srv.stopped = True
        await runner.cleanup()


# ----------------------------------------------------------------------------- protocol


async def test_acquire_release_and_validation(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    limiter = RedisLimiter(url, permits=2, key=f"{prefix}:p", lease=5)
    a = await limiter.acquire()
    b = await limiter.acquire()
    assert limiter.statistics().in_flight == 2
    assert await limiter.held_globally() == 2
    limiter.release(a)
    with pytest.raises(ValueError, match="released twice"):
        limiter.release(a)
    with pytest.raises(TypeError, match="not a permit"):
        limiter.release(object())
    limiter.release(b)
    assert await limiter.held_globally() == 0
    await limiter.aclose()
    with pytest.raises(LimiterUnavailableError, match="closed"):
        await limiter.acquire()
    with pytest.raises(ValueError, match="permits"):
        RedisLimiter(url, permits=0)
    with pytest.raises(ValueError, match="handoff_limit"):
        RedisLimiter(url, handoff_limit=-1)


async def test_cancelled_waiters_hold_nothing(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    limiter = RedisLimiter(url, permits=3, key=f"{prefix}:c", lease=5)
    held = [await limiter.acquire() for _ in range(3)]
    # Waiters cancelled at every moment: queued, and right as a permit is handed to them.
    for round_ in range(20):  # bounded
        waiters = [asyncio.create_task(limiter.acquire()) for _ in range(5)]
        await asyncio.sleep(0)
        limiter.release(held.pop())
        for _ in range(round_ % 3):
            await asyncio.sleep(0)
        for w in waiters:
            w.cancel()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        held += [r for r in results if not isinstance(r, BaseException)]
        assert len(held) == 3 or limiter.statistics().in_flight == len(held)
        while len(held) < 3:
            held.append(await asyncio.wait_for(limiter.acquire(), 10))
    assert limiter.statistics().in_flight == 3
    assert limiter.statistics().waiting == 0
    for p in held:
        limiter.release(p)
    assert await limiter.held_globally() == 0
    await limiter.aclose()


async def test_cancelled_while_the_script_call_is_in_flight(own_redis: OwnRedis) -> None:
    limiter = RedisLimiter(own_redis.url, permits=15, key="c", lease=5)
    # Cancel at every event-loop pass of a fresh acquire, until one completes: some of
    # these land while the SYNC call is on the wire. None may leak a permit.
    for passes in range(30):  # bounded
        task = asyncio.create_task(limiter.acquire())
        for _ in range(passes):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            limiter.release(await task)
        assert limiter.statistics().in_flight == 0
    assert await limiter.held_globally() == 0
    await limiter.aclose()


# ----------------------------------------------------------------------------- throughput


async def test_hand_off_needs_no_round_trip(own_redis: OwnRedis) -> None:
    limiter = RedisLimiter(
        own_redis.url, permits=3, key="h", lease=30, handoff_limit=10_000, handoff_time=60
    )
    inside = peak = served = 0

    async def user() -> None:
        nonlocal inside, peak, served
        for _ in range(20):
            async with limiter.slot():
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0)
                inside -= 1
                served += 1

    before = evalsha_calls(own_redis)
    await asyncio.wait_for(asyncio.gather(*(user() for _ in range(10))), 30)
    await limiter.held_globally()  # flushes the last releases
    calls = evalsha_calls(own_redis) - before
    assert served == 200
    assert peak == 3
    # 200 slots: one call took the 3 permits, a few more for tickets and the final
    # release; every other slot was a local hand-off.
    assert calls <= 6, calls
    await limiter.aclose()


async def test_several_permits_per_call_and_batched_release(own_redis: OwnRedis) -> None:
    limiter = RedisLimiter(own_redis.url, permits=15, key="b", lease=30)
    limiter.release(await limiter.acquire())  # loads the script (a first NOSCRIPT answer)
    await limiter.held_globally()
    before = evalsha_calls(own_redis)
    permits = await asyncio.wait_for(asyncio.gather(*(limiter.acquire() for _ in range(15))), 10)
    taken = evalsha_calls(own_redis) - before
    for p in permits:
        limiter.release(p)  # no awaiting: all fifteen leave in one batch
    assert await limiter.held_globally() == 0
    released = evalsha_calls(own_redis) - before - taken
    assert taken == 1
    assert released == 2  # the batch of fifteen, and held_globally()'s own count
    await limiter.aclose()


async def test_leases_renewed_in_one_call_for_all(own_redis: OwnRedis) -> None:
    limiter = RedisLimiter(own_redis.url, permits=15, key="r", lease=0.3)
    other = RedisLimiter(own_redis.url, permits=15, key="r", lease=0.3)
    held = [await limiter.acquire() for _ in range(10)]
    before = evalsha_calls(own_redis)
    # Leases run on Redis's clock (hosts' clocks differ), so this wait cannot be faked:
    # three leases of Redis TIME, after which renewals alone can have kept the permits.
    await redis_time_passes(own_redis.url, 3 * limiter.lease)
    renewals = evalsha_calls(own_redis) - before
    assert await other.held_globally() == 10
    # One call per third of a lease for all ten permits (about 9 in 3 leases), not one each.
    assert 3 <= renewals <= 14, renewals
    for p in held:
        limiter.release(p)
    await limiter.aclose()
    await other.aclose()


async def test_permits_within_the_fair_share_stay_and_a_newcomer_gets_its_share(
    own_redis: OwnRedis,
) -> None:
    # A tiny hand-off limit, and a hand-off time far beyond the test: only the fair share
    # keeps the permits here, and only Redis' nudge lets the newcomer in.
    a, b = (
        RedisLimiter(own_redis.url, permits=4, key="s", lease=10, handoff_limit=2, handoff_time=60)
        for _ in range(2)
    )
    served = {"a": 0, "b": 0}
    stop = asyncio.Event()

    async def user(limiter: RedisLimiter, name: str) -> None:
        for _ in range(1_000_000):  # bounded; stop ends it long before
            if stop.is_set():
                return
            async with limiter.slot():
                await asyncio.sleep(0)
                served[name] += 1

    users = [asyncio.create_task(user(a, "a")) for _ in range(8)]
    try:
        await wait_until(lambda: served["a"] >= 50)
        before, start = evalsha_calls(own_redis), served["a"]
        await wait_until(lambda: served["a"] >= start + 400)
        # Alone, all four permits are this process's share: none goes back to Redis (with
        # handoff_limit=2 one would, every other use).
        assert evalsha_calls(own_redis) - before <= 2
        users += [asyncio.create_task(user(b, "b")) for _ in range(8)]
        await wait_until(lambda: served["b"] >= 1)
        await wait_until(lambda: b.statistics().in_flight == 2)
        start_a, start_b = served["a"], served["b"]
        await wait_until(lambda: served["a"] + served["b"] >= start_a + start_b + 800)
        got_a, got_b = served["a"] - start_a, served["b"] - start_b
        assert abs(got_a - got_b) <= 0.2 * (got_a + got_b) / 2, (got_a, got_b)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*users), 10)
        await a.aclose()
        await b.aclose()


# ----------------------------------------------------------------------------- fairness


async def test_members_get_equal_shares(own_redis: OwnRedis) -> None:
    # Three fleet members (each limiter instance is one) on one key: their counts must be
    # close, although each keeps handing permits to its own waiters.
    members = [
        RedisLimiter(own_redis.url, permits=4, key="f", lease=10, handoff_limit=4) for _ in range(3)
    ]
    counts = [0, 0, 0]
    total = 0
    stop = asyncio.Event()

    async def user(i: int) -> None:
        nonlocal total
        for _ in range(5000):  # bounded
            if stop.is_set():
                return
            async with members[i].slot():
                # Real time on the slot: the members' turns come from Redis round trips.
                await asyncio.sleep(0.001)
                if not stop.is_set():
                    counts[i] += 1
                    total += 1
                    if total >= 1500:
                        stop.set()

    await asyncio.wait_for(asyncio.gather(*(user(i) for i in range(3) for _ in range(8))), 60)
    assert sum(counts) == 1500
    for c in counts:
        assert abs(c - 500) <= 500 * 0.2, counts
    for m in members:
        await m.aclose()


@pytest.mark.slow
async def test_processes_get_equal_shares_and_never_exceed_the_cap(own_redis: OwnRedis) -> None:
    async with in_flight_server(0.005) as srv:
        procs = [
            # A short hand-off time: many turns of the queue within the counted window.
            await spawn("loop", own_redis.url, "fair", srv.url, "20", "10", "fail", str(i), "0.05")
            for i in range(4)
        ]
        for p in procs:
            assert p.stdout is not None
            await asyncio.wait_for(p.stdout.readline(), 30)
        # Count only while all four are busy.
        await wait_until(lambda: len(srv.by) == 4 and min(srv.by.values()) > 20, 30)
        start = dict(srv.by)
        await wait_until(lambda: srv.total - sum(start.values()) >= 3000, 60)
        srv.stopped = True
        results = await finish(procs)
    got = [srv.by[str(i)] - start[str(i)] for i in range(4)]
    assert srv.peak <= 15
    assert sum(r["unavailable"] for r in results) == 0
    equal = sum(got) / 4
    for g in got:
        assert abs(g - equal) <= 0.2 * equal, got


# ----------------------------------------------------------------------------- crashes


@pytest.mark.slow
async def test_killed_waiter_does_not_keep_permits(own_redis: OwnRedis) -> None:
    # A process killed while its ticket waits in the queue: grants sent to it come back
    # within its ticket's life plus one lease.
    lease = 1.0
    holder = RedisLimiter(own_redis.url, permits=15, key="k", lease=lease)
    held = [await holder.acquire() for _ in range(15)]
    proc = await spawn("wait", own_redis.url, "k", "5", str(lease))
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert json.loads(line) == {"waiting": 5}
        for p in held:
            holder.release(p)  # the dead process's ticket is at the head of the queue
        await holder.held_globally()
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    taker = RedisLimiter(own_redis.url, permits=15, key="k", lease=lease)
    got = await asyncio.wait_for(asyncio.gather(*(taker.acquire() for _ in range(15))), 10)
    assert await taker.held_globally() == 15
    for p in got:
        taker.release(p)
    await taker.aclose()
    await holder.aclose()


# ----------------------------------------------------------------------------- outages


async def test_fail_mode_raises_to_waiters_and_recovers(own_redis: OwnRedis) -> None:
    limiter = RedisLimiter(own_redis.url, permits=2, key="o", lease=1, on_unavailable="fail")
    p = await limiter.acquire()
    limiter.release(p)
    await limiter.held_globally()
    own_redis.kill()
    with pytest.raises(LimiterUnavailableError, match="cannot reach Redis"):
        await asyncio.wait_for(limiter.acquire(), 10)
    assert limiter.statistics().waiting == 0
    own_redis.start()
    # Redis lost its state: the first process that notices closes the gate for one lease.
    p = await asyncio.wait_for(limiter.acquire(), 10)
    limiter.release(p)
    await limiter.aclose()


@pytest.mark.slow
async def test_fleet_stays_within_the_cap_while_redis_restarts(own_redis: OwnRedis) -> None:
    # Requests last longer than the outage, so that permits are held across the restart:
    # Redis comes back empty while 15 requests are still on the wire.
    async with in_flight_server(0.3) as srv:
        procs = [
            await spawn("loop", own_redis.url, "rs", srv.url, "25", "1.0", "fail", str(i))
            for i in range(4)
        ]
        for p in procs:
            assert p.stdout is not None
            await asyncio.wait_for(p.stdout.readline(), 30)
        await wait_until(lambda: srv.total >= 60 and srv.in_flight == 15, 60)
        own_redis.kill()
        own_redis.start()
        after = srv.total
        await wait_until(lambda: srv.total >= after + 150, 60)
        srv.stopped = True
        results = await finish(procs)
    assert srv.peak <= 15
    assert srv.peak >= 12  # the fleet did use the cap
    assert sum(r["unavailable"] for r in results) > 0  # the outage was seen


@pytest.mark.slow
async def test_local_fallback_never_exceeds_the_cap_per_process(own_redis: OwnRedis) -> None:
    lease = 0.5
    # Requests outlast the outage and the lease, so local slots are still on the wire when
    # Redis returns and once its restart gate (one lease) has opened.
    async with in_flight_server(0.8) as srv:
        procs = [
            await spawn("loop", own_redis.url, "lf", srv.url, "25", str(lease), "local", str(i))
            for i in range(2)
        ]
        for p in procs:
            assert p.stdout is not None
            await asyncio.wait_for(p.stdout.readline(), 30)
        await wait_until(lambda: srv.total >= 15 and srv.in_flight == 15, 60)
        assert srv.peak <= 15
        own_redis.kill()
        # Each process alone caps itself at 15 during the outage.
        await wait_until(lambda: srv.in_flight > 15, 60)
        own_redis.start()
        # Recovery: local slots still running count against what Redis grants.
        t = srv.total
        await wait_until(lambda: srv.total >= t + 60, 60)
        per_process_peak = dict(srv.by_peak)
        # Once the local slots have drained, the fleet is back within one cap of 15: every
        # request on the wire now, then every one started while those ran, has ended.
        first = srv.total
        await wait_until(lambda: srv.oldest() > first, 60)
        second = srv.total
        await wait_until(lambda: srv.oldest() > second, 60)
        srv.reset_peaks()
        t = srv.total
        await wait_until(lambda: srv.total >= t + 45, 60)
        fleet_peak_after = srv.peak
        srv.stopped = True
        results = await finish(procs)
    assert all(v <= 15 for v in per_process_peak.values()), per_process_peak
    assert max(per_process_peak.values()) >= 12
    assert fleet_peak_after <= 15
    assert sum(r["unavailable"] for r in results) == 0  # "local" never fails a caller
