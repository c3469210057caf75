"""Hostile tests of the cap: the server never sees more than 15 of our calls in flight.

The servers here count what they are working on (a request is in flight on the server
from the moment its handler starts until it answers, whether or not the client is still
listening), so a claim about the cap is checked where Maxxton checks it.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from maxxton_async import (
    LocalLimiter,
    MaxxtonError,
    MemoryLedger,
    RetryPolicy,
)
from tests._attack import make, settle
from tests._counting_server import CountingServer, Scripted
from tests._support import wait_until


async def test_cancellation_at_every_await_keeps_cap_and_ledger(creds: dict[str, str]) -> None:
    """Two rounds of 500 callers of five kinds (plain calls, ``with_options`` views, paged
    iteration abandoned midway, creates answered 429, calls whose token is revoked so they
    replay after a 401), about half cancelled at random moments: during the token mint (the
    token endpoint is as slow as the API), while queued, on the wire and while backing off.
    """
    rng = random.Random(5)
    ledger = MemoryLedger()
    retry = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.03)
    async with CountingServer(cap=15, latency_range=(0.02, 0.06), items=120) as server:
        client = make(server.base_url, creds, ledger=ledger, retry=retry)
        view = client.with_options(timeout=5.0)
        results: list[object] = []

        async def pages() -> int:
            got = 0
            async for _item in client.paginate("items", item_type=dict, page_size=10, lookahead=4):
                got += 1
                if got >= 35:
                    break  # abandoned: the look-ahead requests are cancelled
            return got

        async def kind(i: int) -> object:
            k = i % 5
            if k == 0:
                return await client.request("GET", "ping")
            if k == 1:
                return await view.request("GET", "ping")
            if k == 2:
                return await pages()
            if k == 3:
                if i % 50 == 3:  # a few: each 429 also lowers the adaptive cap
                    server.script.append(Scripted(429, headers={"Retry-After": "0"}))
                return await client.request("POST", "reservations", json={"i": i})
            if i % 50 == 4:
                server.revoke()  # calls on the wire get a 401 and replay with a fresh token
            return await client.request("GET", "ping")

        async with client:
            for _round in range(2):
                tasks = [asyncio.ensure_future(kind(i)) for i in range(500)]
                for task in rng.sample(tasks, 250):
                    # Real time between cancels: they must land on the wire and in backoff.
                    await asyncio.sleep(rng.uniform(0, 0.004))
                    task.cancel()
                results += await asyncio.gather(*tasks, return_exceptions=True)
        day = datetime.now(UTC).date()
        counted = await ledger.counts(scope="tst", environment="test", day=day)
    untyped = {
        type(r).__name__
        for r in results
        if not isinstance(r, dict | int | MaxxtonError | asyncio.CancelledError)
    }
    assert untyped == set()
    assert server.peak <= 15
    assert server.refused == 0
    assert counted.day == server.requests


async def test_closing_one_client_keeps_the_cap_of_a_shared_limiter(
    creds: dict[str, str],
) -> None:
    """Two clients share one LocalLimiter(15) (one egress IP). Client A is closed while
    its 15 requests are on the server: closing drops A's connections and frees A's slots
    at once, but the server still works on those 15 -- and B's 15 queued calls go out."""
    async with CountingServer(latency=0.4) as server:
        shared = LocalLimiter(15)
        a = make(server.base_url, creds, limiter=shared, retry=RetryPolicy.none())
        b = make(server.base_url, creds, limiter=shared, retry=RetryPolicy.none())
        await a.tokens.token()
        await b.tokens.token()
        on_a = [asyncio.ensure_future(a.request("GET", "ping")) for _ in range(15)]
        await wait_until(lambda: server.in_flight == 15)
        on_b = [asyncio.ensure_future(b.request("GET", "ping")) for _ in range(15)]
        await settle()
        assert b.statistics().waiting == 15
        await a.aclose()
        await asyncio.gather(*on_a, return_exceptions=True)
        await asyncio.gather(*on_b, return_exceptions=True)
        await b.aclose()
    assert server.peak <= 15


async def test_closing_a_client_waits_for_its_calls_on_the_wire(creds: dict[str, str]) -> None:
    """``aclose()`` while calls are on the wire and queued: the ones on the wire finish
    (their slots are held until the server answered), the queued ones end typed and
    unbilled, and the ledger equals what the server received."""
    async with CountingServer(latency=0.1) as server:
        ledger = MemoryLedger()
        client = make(server.base_url, creds, max_in_flight=5, ledger=ledger)
        await client.tokens.token()
        calls = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(20)]
        await wait_until(lambda: server.in_flight == 5)
        await client.aclose()
        results = await asyncio.gather(*calls, return_exceptions=True)
        counted = await ledger.counts(scope="tst", environment="test", day=datetime.now(UTC).date())
    assert sum(isinstance(r, dict) for r in results) == 5
    assert all(isinstance(r, dict | MaxxtonError) for r in results), results
    assert counted.day == server.requests == 6


@pytest.mark.redis
async def test_redis_fallback_slots_count_after_redis_returns(creds: dict[str, str]) -> None:
    """``RedisLimiter(on_unavailable="local")``: Redis is down, 15 calls take local
    fallback slots; Redis comes back while they are still on the server. New calls must
    not take 15 more permits from Redis: the process would hold 30."""
    from maxxton_async import RedisLimiter
    from tests._own_redis import OwnRedis

    redis = OwnRedis()  # our own redis-server on a free port, never the shared one
    try:
        async with CountingServer(latency=0.6) as server:
            limiter = RedisLimiter(
                redis.url, 15, key="attack:fallback", on_unavailable="local", retry_after=0.0
            )
            client = make(server.base_url, creds, limiter=limiter, retry=RetryPolicy.none())
            async with client:
                await client.tokens.token()
                outage = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(15)]
                await wait_until(lambda: server.in_flight == 15)
                assert server.in_flight == 15
                redis.start()
                for _ in range(100):  # bounded: until Redis answers the limiter again
                    try:
                        await limiter.held_globally()
                        break
                    except Exception:
                        await asyncio.sleep(0.01)
                after = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(15)]
                results = await asyncio.gather(*outage, *after, return_exceptions=True)
        assert all(isinstance(r, dict) for r in results), results
        assert server.peak <= 15, f"one process held {server.peak} slots"
    finally:
        redis.kill()


async def test_many_clients_on_one_limiter_with_adaptive_drops(creds: dict[str, str]) -> None:
    """Four clients on one adaptive LocalLimiter(15) against a server that refuses the 16th
    call and answers some calls 429 on its own (another program behind our IP): the cap
    falls and grows back, and the server never sees more than 15."""
    async with CountingServer(cap=15, latency_range=(0.005, 0.02)) as server:
        shared = LocalLimiter(15)
        clients = [make(server.base_url, creds, limiter=shared) for _ in range(4)]
        for _ in range(40):
            server.script.append(Scripted(429, headers={"Retry-After": "0"}))
        results = await asyncio.gather(
            *(c.request("GET", "ping") for _ in range(100) for c in clients),
            return_exceptions=True,
        )
        for c in clients:
            await c.aclose()
    assert all(isinstance(r, dict | MaxxtonError) for r in results)
    assert server.peak <= 15
    assert server.refused == 0
    assert shared.statistics().in_flight == 0


async def test_a_failing_observer_does_not_leak_a_slot(creds: dict[str, str]) -> None:
    """An observer (telemetry: user code) that raises must neither fail the call nor keep
    its slot forever (two such calls used to deadlock a client of cap 2)."""

    class Broken:
        def attempt(self, request: object, *, number: int, queued: float) -> object:
            raise RuntimeError("exporter down")

    async with CountingServer() as server:
        client = make(server.base_url, creds, max_in_flight=2, observer=Broken())
        async with client:
            results = await asyncio.gather(
                *(asyncio.wait_for(client.request("GET", "ping"), 5) for _ in range(3))
            )
            assert results == [{"ok": True, "path": "/maxxton/v2/ping"}] * 3
            assert client.statistics().in_flight == 0


@pytest.mark.redis
async def test_closing_one_client_leaves_a_shared_redis_limiter_to_the_other(
    creds: dict[str, str],
) -> None:
    """Two clients of one process share one RedisLimiter (as two services of one app
    would). Closing A must neither free B's permits in Redis (the fleet would then see
    fewer holders than requests on the server) nor break B's next calls."""
    from maxxton_async import RedisLimiter
    from tests._redis_util import delete_prefix, require_redis, unique_prefix

    url = require_redis()
    prefix = unique_prefix("attack-shared")
    limiter = RedisLimiter(url, 15, key=f"{prefix}:lim")
    try:
        async with CountingServer(latency=0.3) as server:
            a = make(server.base_url, creds, limiter=limiter)
            b = make(server.base_url, creds, limiter=limiter)
            await a.request("GET", "ping")
            on_b = [asyncio.ensure_future(b.request("GET", "ping")) for _ in range(5)]
            await wait_until(lambda: server.in_flight == 5)
            await a.aclose()
            held = await limiter.held_globally()
            results = await asyncio.gather(*on_b, b.request("GET", "ping"), return_exceptions=True)
            await b.aclose()
        assert held == 5  # B's five are still on the server
        assert all(isinstance(r, dict) for r in results), results
    finally:
        await limiter.aclose()
        delete_prefix(url, prefix)


@pytest.mark.redis
async def test_a_closed_shared_limiter_is_a_typed_error(creds: dict[str, str]) -> None:
    from maxxton_async import LimiterUnavailableError, RedisLimiter
    from tests._redis_util import delete_prefix, require_redis, unique_prefix

    url = require_redis()
    prefix = unique_prefix("attack-closed")
    limiter = RedisLimiter(url, 15, key=f"{prefix}:lim")
    try:
        async with CountingServer() as server, make(server.base_url, creds, limiter=limiter) as c:
            await c.request("GET", "ping")
            await limiter.aclose()  # the app closed it first (shutdown order)
            with pytest.raises(LimiterUnavailableError):
                await c.request("GET", "ping")
            snap = await c.usage.snapshot()
        assert snap.today == server.requests
    finally:
        await limiter.aclose()
        delete_prefix(url, prefix)
