"""RedisLedger, RedisLimiter and RedisTokenCache against a real Redis (db 15, unique keys)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web

from maxxton_async import Budget, BudgetExceededError, LimiterUnavailableError
from maxxton_async.auth import CachedToken
from maxxton_async.usage import Usage, UsageKind
from tests._redis_util import redis_time_passes, require_redis
from tests._support import LEDGER_AT, check_ledger_counts, free_port, serve_app, settle, wait_until
from tests.workers.run import run_workers, spawn

pytestmark = pytest.mark.redis

AT = LEDGER_AT


async def test_ledger_counts_history_peak_and_rollover(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisLedger

    url, prefix = redis_prefix
    ledger = RedisLedger(url, prefix=prefix)
    await check_ledger_counts(ledger)
    # Counters expire: day keys after ~40 days, month keys after ~400.
    import redis

    r = redis.Redis.from_url(url)
    day_ttl = r.ttl(f"{{{prefix}:s:production}}:d:2026-03-31")
    month_ttl = r.ttl(f"{{{prefix}:s:production}}:m:2026-03")
    r.close()
    assert 39 * 86400 < day_ttl <= 40 * 86400
    assert 399 * 86400 < month_ttl <= 400 * 86400
    await ledger.aclose()


async def test_deferred_and_hard_budget(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisLedger

    url, prefix = redis_prefix
    ledger = RedisLedger(url, prefix=prefix)
    usage = Usage(ledger, scope="s", environment="production")
    for _ in range(100):
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    assert (await usage.snapshot()).today == 100
    hard = Usage(ledger, scope="s", environment="production", budget=Budget(daily=102, hard=True))
    sent = 0
    for _ in range(5):
        try:
            await hard.before_send(UsageKind.CALL, method="GET", path="/x")
        except BudgetExceededError:
            continue
        sent += 1
    assert sent == 2
    assert (await hard.snapshot()).today == 102
    await ledger.aclose()


@pytest.mark.slow
async def test_four_processes_count_exactly(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisLedger

    url, prefix = redis_prefix
    results = await run_workers([["ledger", f"redis:{url}|{prefix}", "500"] for _ in range(4)])
    assert [r["done"] for r in results] == [500] * 4
    ledger = RedisLedger(url, prefix=prefix)
    today = datetime.now(UTC).date()
    c = await ledger.counts(scope="mp", environment="production", day=today)
    assert (c.day, c.month) == (2000, 2000)
    await ledger.aclose()


@pytest.mark.slow
async def test_hard_budget_exact_across_processes(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    results = await run_workers(
        [["budget", f"redis:{url}|{prefix}", "60", "150"] for _ in range(4)]
    )
    assert sum(r["sent"] for r in results) == 150
    assert sum(r["refused"] for r in results) == 90


class ConcurrencyServer:
    """Counts requests in flight.

    Until 15 are in flight at once, each request is held (at most 1 s) so that slow
    process start-up or a loaded machine cannot keep the peak below what the limiter
    allows; after that each is held a few milliseconds.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.total = 0
        self.url = ""
        self.full = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.total += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= 15:
            self.full.set()
        try:
            if self.full.is_set():
                await asyncio.sleep(0.005)  # real overlap: the workers are other processes
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.full.wait(), timeout=1.0)
        finally:
            self.in_flight -= 1
        return web.Response(text="ok")


@pytest.fixture
async def concurrency_server() -> AsyncIterator[ConcurrencyServer]:
    srv = ConcurrencyServer()
    app = web.Application()
    app.router.add_get("/", srv.handle)
    async with serve_app(app) as base_url:
        srv.url = f"{base_url}/"
        yield srv


@pytest.mark.slow
async def test_four_processes_share_fifteen_slots(
    redis_prefix: tuple[str, str], concurrency_server: ConcurrencyServer
) -> None:
    url, prefix = redis_prefix
    key = f"{prefix}:limiter"
    results = await run_workers(
        [["http", url, key, concurrency_server.url, "100", "20"] for _ in range(4)]
    )
    assert sum(r["done"] for r in results) == 400
    assert concurrency_server.total == 400
    assert concurrency_server.peak <= 15
    assert concurrency_server.peak == 15


async def test_limiter_slots_and_statistics(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisLimiter
    from maxxton_async.limits import Limiter

    url, prefix = redis_prefix
    limiter = RedisLimiter(url, permits=3, key=f"{prefix}:lim", lease=2.0)
    assert isinstance(limiter, Limiter)
    assert limiter.capacity == 3
    entered = 0
    gate = asyncio.Event()

    async def user() -> None:
        nonlocal entered
        async with limiter.slot():
            entered += 1
            await gate.wait()

    tasks = [asyncio.create_task(user()) for _ in range(5)]
    await wait_until(lambda: entered >= 3 and limiter.statistics().waiting == 2)
    # A call to Redis now: it would grant the waiters any free permit; none may be free.
    await limiter.refresh()
    await settle()
    assert entered == 3  # the other two wait
    st = limiter.statistics()
    assert (st.in_flight, st.waiting) == (3, 2)
    assert await limiter.held_globally() == 3
    gate.set()
    async with asyncio.timeout(10):
        await asyncio.gather(*tasks)
    assert entered == 5
    assert await limiter.held_globally() == 0
    assert limiter.statistics().peak_in_flight == 3
    await limiter.aclose()


async def test_lease_is_renewed_while_held(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisLimiter

    url, prefix = redis_prefix
    limiter = RedisLimiter(url, permits=1, key=f"{prefix}:renew", lease=0.3)
    other = RedisLimiter(url, permits=1, key=f"{prefix}:renew", lease=0.3)
    async with limiter.slot():
        # Leases run on Redis's clock (hosts' clocks differ), so this wait cannot be faked:
        # three leases of Redis TIME, after which only renewal can have kept the slot.
        await redis_time_passes(url, 3 * limiter.lease)
        assert await other.held_globally() == 1
    # Release is fire-and-forget; held_globally() sends this process's pending releases first.
    assert await limiter.held_globally() == 0
    await limiter.aclose()
    await other.aclose()


@pytest.mark.slow
async def test_killed_holder_slots_return_within_lease(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisLimiter

    url, prefix = redis_prefix
    key = f"{prefix}:kill"
    proc = await spawn("hold", url, key, "10", "1.0")
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert json.loads(line) == {"held": 10}
        limiter = RedisLimiter(url, permits=15, key=key, lease=1.0)
        assert await limiter.held_globally() == 10
        proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    # All 15 permits become ours once the dead holder's leases (1 s) run out.
    hold = asyncio.Event()
    got = 0

    async def take() -> None:
        nonlocal got
        async with limiter.slot():
            got += 1
            await hold.wait()

    tasks = [asyncio.create_task(take()) for _ in range(15)]
    try:
        await wait_until(lambda: got >= 15)
        assert await limiter.held_globally() == 15
    finally:
        hold.set()
        await asyncio.gather(*tasks)
        await limiter.aclose()


async def test_unavailable_fail_raises_typed_error() -> None:
    from maxxton_async import RedisLimiter

    limiter = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0", on_unavailable="fail")
    with pytest.raises(LimiterUnavailableError, match="cannot reach Redis"):
        async with limiter.slot():
            pytest.fail("a slot must not be granted without Redis")
    await limiter.aclose()


async def test_unavailable_local_falls_back_with_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from maxxton_async import RedisLimiter

    limiter = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0", permits=2, on_unavailable="local")
    inside = 0
    peak = 0
    release = asyncio.Event()

    async def user() -> None:
        nonlocal inside, peak
        async with limiter.slot():
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(user()) for _ in range(4)]
    await wait_until(lambda: limiter.statistics().waiting == 2)
    await settle()
    assert inside == 2  # the local fallback keeps the same capacity
    release.set()
    async with asyncio.timeout(10):
        await asyncio.gather(*tasks)
    assert peak == 2
    assert any("Redis unreachable" in r.getMessage() for r in caplog.records)
    await limiter.aclose()


async def test_token_cache_roundtrip_and_compare_and_clear(
    redis_prefix: tuple[str, str],
) -> None:
    from maxxton_async import RedisTokenCache

    url, prefix = redis_prefix
    cache = RedisTokenCache(url, prefix=prefix)
    assert await cache.get("k") is None
    tok = CachedToken(access_token="a1", token_type="Bearer", expires_at=time.time() + 60)
    await cache.set("k", tok)
    assert await cache.get("k") == tok
    assert await cache.clear_if("k", "zz") is False
    assert await cache.clear_if("k", "a1") is True
    assert await cache.get("k") is None
    await cache.aclose()


async def test_token_lock_excludes_and_expires(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisTokenCache

    url, prefix = redis_prefix
    tried = asyncio.Event()

    async def pause(seconds: float) -> None:
        tried.set()  # b found the lock taken and waits to try again
        await asyncio.sleep(0)

    a = RedisTokenCache(url, prefix=prefix, lock_lease=0.3, lock_timeout=5)
    b = RedisTokenCache(url, prefix=prefix, lock_lease=5, lock_timeout=5, sleep=pause)
    order: list[str] = []
    async with a.lock("k"):
        task = asyncio.create_task(_locked(b, order))
        await asyncio.wait_for(tried.wait(), 5)
        assert order == []  # b waits while a holds it
        order.append("a")
    async with asyncio.timeout(5):
        await task
    assert order == ["a", "b"]
    await a.aclose()
    await b.aclose()


async def _locked(cache: object, order: list[str]) -> None:
    async with cache.lock("k"):  # type: ignore[attr-defined]
        order.append("b")


@pytest.mark.slow
async def test_four_processes_share_one_token(redis_prefix: tuple[str, str]) -> None:
    import redis

    url, prefix = redis_prefix
    counter = f"{prefix}:mints"
    results = await run_workers(
        [["token", f"redis:{url}|{prefix}", "key-hash", counter] for _ in range(4)]
    )
    assert len({t for r in results for t in r["tokens"]}) == 1
    r = redis.Redis.from_url(url)
    assert int(r.get(counter) or 0) == 1
    r.close()


def test_missing_redis_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAXXTON_TEST_REDIS_URL", f"redis://127.0.0.1:{free_port()}/15")
    monkeypatch.delenv("MAXXTON_REQUIRE_REDIS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Redis at"):
        require_redis()
    monkeypatch.setenv("MAXXTON_REQUIRE_REDIS", "1")
    with pytest.raises(pytest.fail.Exception, match="MAXXTON_REQUIRE_REDIS=1"):
        require_redis()
