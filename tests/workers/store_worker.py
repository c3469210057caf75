"""A worker process for the multi-process tests of the ledgers, limiter and token caches.

Usage: ``python store_worker.py MODE STORE ARG...`` where STORE is ``sqlite:PATH`` or
``redis:URL|PREFIX``. Prints one line of JSON with its result. Every loop is bounded.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime

from maxxton_async import Budget
from maxxton_async.auth import CachedToken
from maxxton_async.usage import Ledger, Usage, UsageKind


def _ledger(store: str) -> Ledger:
    kind, _, rest = store.partition(":")
    if kind == "sqlite":
        from maxxton_async import SQLiteLedger

        return SQLiteLedger(rest)
    from maxxton_async import RedisLedger

    url, _, prefix = rest.partition("|")
    return RedisLedger(url, prefix=prefix)


async def ledger_mode(store: str, n: int) -> dict[str, int]:
    """n records: half exact (record), half deferred (Usage.before_send)."""
    ledger = _ledger(store)
    usage = Usage(ledger, scope="mp", environment="production")
    now = datetime.now(UTC)
    for i in range(n // 2):
        await ledger.record(scope="mp", environment="production", kind=UsageKind.CALL, at=now)
        if i % 50 == 0:
            await asyncio.sleep(0)
    for _ in range(n - n // 2):
        await usage.before_send(UsageKind.RETRY, method="GET", path="/x")
    await ledger.aclose()
    return {"done": n}


async def budget_mode(store: str, attempts: int, daily: int) -> dict[str, int]:
    """Try ``attempts`` sends under a hard daily budget; report how many went out."""
    from maxxton_async import BudgetExceededError

    ledger = _ledger(store)
    usage = Usage(
        ledger, scope="hard", environment="production", budget=Budget(daily=daily, hard=True)
    )
    sent = refused = 0

    async def one() -> None:
        nonlocal sent, refused
        try:
            await usage.before_send(UsageKind.CALL, method="GET", path="/x")
        except BudgetExceededError:
            refused += 1
        else:
            sent += 1  # the send function: only reached when the budget allowed it

    await asyncio.gather(*(one() for _ in range(attempts)))
    await ledger.aclose()
    return {"sent": sent, "refused": refused}


async def token_mode(store: str, key: str, counter: str) -> dict[str, object]:
    """Get-or-mint a token through the shared cache; minting bumps a counter in the store."""
    kind, _, rest = store.partition(":")
    if kind == "sqlite":
        from maxxton_async import SQLiteTokenCache

        cache = SQLiteTokenCache(rest)

        async def mint() -> None:
            def bump() -> None:
                conn = sqlite3.connect(counter, timeout=10)
                with conn:
                    conn.execute("CREATE TABLE IF NOT EXISTS mints (n INTEGER)")
                    conn.execute("INSERT INTO mints VALUES (1)")
                conn.close()

            await asyncio.to_thread(bump)
    else:
        from maxxton_async import RedisTokenCache

        url, _, prefix = rest.partition("|")
        cache = RedisTokenCache(url, prefix=prefix)  # type: ignore[assignment]
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(url)

        async def mint() -> None:
            await r.incr(counter)

    async def get_token() -> CachedToken:
        token = await cache.get(key)
        if token is not None:
            return token
        async with cache.lock(key):
            token = await cache.get(key)  # someone may have minted while we waited
            if token is not None:
                return token
            await mint()
            # A token call takes a while: the other processes really contend for the lock.
            await asyncio.sleep(0.05)
            token = CachedToken(
                access_token=f"tok-{time.time_ns()}",
                token_type="Bearer",
                expires_at=time.time() + 600,
            )
            await cache.set(key, token)
            return token

    tokens = await asyncio.gather(*(get_token() for _ in range(5)))
    await cache.aclose()
    return {"tokens": sorted({t.access_token for t in tokens})}


async def http_mode(
    url: str, prefix_key: str, base_url: str, requests: int, tasks: int
) -> dict[str, int]:
    """Send ``requests`` GETs from ``tasks`` tasks through a shared RedisLimiter."""
    import aiohttp

    from maxxton_async import RedisLimiter

    limiter = RedisLimiter(url, permits=15, key=prefix_key, lease=5.0)
    done = 0
    queue = list(range(requests))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def runner() -> None:
            nonlocal done
            while queue:
                queue.pop()
                async with limiter.slot(), session.get(base_url) as resp:
                    await resp.read()
                    assert resp.status == 200
                done += 1

        await asyncio.gather(*(runner() for _ in range(tasks)))
    peak = limiter.statistics().peak_in_flight
    await limiter.aclose()
    return {"done": done, "local_peak": peak}


async def hold_mode(url: str, key: str, slots: int, lease: float) -> None:
    """Take ``slots`` permits, say so, then hang until killed."""
    from maxxton_async import RedisLimiter

    limiter = RedisLimiter(url, permits=15, key=key, lease=lease)
    held = asyncio.Event()
    count = 0

    async def hold() -> None:
        nonlocal count
        async with limiter.slot():
            count += 1
            if count == slots:
                held.set()
            await asyncio.Event().wait()  # until killed; bounded by the wait_for below

    tasks = [asyncio.create_task(hold()) for _ in range(slots)]
    await asyncio.wait_for(held.wait(), 30)
    print(json.dumps({"held": slots}), flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 130)


async def loop_mode(
    url: str,
    key: str,
    base_url: str,
    tasks: int,
    lease: float,
    on_unavailable: str,
    worker: str,
    handoff_time: float,
) -> dict[str, int]:
    """``tasks`` tasks send GETs through a RedisLimiter until the server answers 410.

    A ``LimiterUnavailableError`` (Redis down, ``on_unavailable="fail"``) is counted and the
    task tries again 20 ms later. Bounded: at most 200,000 attempts per task.
    """
    import aiohttp

    from maxxton_async import LimiterUnavailableError, RedisLimiter

    limiter = RedisLimiter(
        url,
        permits=15,
        key=key,
        lease=lease,
        on_unavailable=on_unavailable,  # type: ignore[arg-type]
        retry_after=0.2,
        handoff_time=handoff_time,
    )
    done = unavailable = 0
    stop = False
    headers = {"X-Worker": worker}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def runner() -> None:
            nonlocal done, unavailable, stop
            for _ in range(200_000):
                if stop:
                    return
                try:
                    async with limiter.slot(), session.get(base_url, headers=headers) as resp:
                        await resp.read()
                        if resp.status == 410:
                            stop = True
                            return
                        assert resp.status == 200
                        done += 1
                except LimiterUnavailableError:
                    unavailable += 1
                    await asyncio.sleep(0.02)  # a retry pause while the real Redis is down

        print(json.dumps({"started": True}), flush=True)
        await asyncio.gather(*(runner() for _ in range(tasks)))
    await limiter.aclose()
    return {"done": done, "unavailable": unavailable}


async def wait_mode(url: str, key: str, slots: int, lease: float) -> None:
    """Queue ``slots`` acquires (none granted: another process holds all), say so, hang."""
    from maxxton_async import RedisLimiter

    limiter = RedisLimiter(url, permits=15, key=key, lease=lease)
    tasks = [asyncio.create_task(limiter.acquire()) for _ in range(slots)]
    for _ in range(3000):  # bounded: 30 s
        if limiter.statistics().waiting == slots:
            break
        await asyncio.sleep(0.01)
    await limiter.refresh()  # a call to Redis answered: the ticket is filed
    print(json.dumps({"waiting": limiter.statistics().waiting}), flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), 130)


async def client_mode(
    base_url: str,
    client_id: str,
    secret: str,
    scope: str,
    url: str,
    prefix: str,
    warm: int,
    measured: int,
) -> dict[str, object]:
    """A ``MaxxtonClient`` on a shared ``RedisLimiter``: ``warm`` calls at once, say so, wait
    for ``go`` on stdin, then ``measured`` calls at once. Failed calls are counted."""
    from maxxton_async import (
        MaxxtonClient,
        MemoryLedger,
        RedisLimiter,
        RedisTokenCache,
        RetryPolicy,
    )

    async with MaxxtonClient(
        client_id,
        secret,
        scope,
        base_url=base_url,
        ledger=MemoryLedger(),
        limiter=RedisLimiter(url, permits=15, key=prefix + ":limiter", lease=10),
        token_cache=RedisTokenCache(url, prefix=prefix + ":token"),
        retry=RetryPolicy(max_attempts=8, backoff_base=0.001, backoff_max=0.002),
    ) as client:

        async def calls(n: int) -> int:
            results = await asyncio.gather(
                *(client.request("GET", "customers", params={"size": 1}) for _ in range(n)),
                return_exceptions=True,
            )
            return sum(1 for r in results if isinstance(r, BaseException))

        failed = await calls(warm)
        print(json.dumps({"warm": warm - failed}), flush=True)
        line = await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), 60)
        assert line.strip() == "go", line
        sent0 = client.statistics().requests_sent
        failed += await calls(measured)
        st = client.statistics()
    return {
        "failed": failed,
        "sent": st.requests_sent - sent0,
        "effective_cap": st.effective_capacity,
    }


def main(argv: list[str]) -> int:
    mode = argv[0]
    if mode == "ledger":
        result: object = asyncio.run(ledger_mode(argv[1], int(argv[2])))
    elif mode == "budget":
        result = asyncio.run(budget_mode(argv[1], int(argv[2]), int(argv[3])))
    elif mode == "token":
        result = asyncio.run(token_mode(argv[1], argv[2], argv[3]))
    elif mode == "http":
        result = asyncio.run(http_mode(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])))
    elif mode == "loop":
        result = asyncio.run(
            loop_mode(
                argv[1],
                argv[2],
                argv[3],
                int(argv[4]),
                float(argv[5]),
                argv[6],
                argv[7],
                float(argv[8]) if len(argv) > 8 else 0.25,
            )
        )
    elif mode == "client":
        result = asyncio.run(
            client_mode(*argv[1:7], int(argv[7]), int(argv[8]))  # type: ignore[arg-type]
        )
    elif mode == "wait":
        asyncio.run(wait_mode(argv[1], argv[2], int(argv[3]), float(argv[4])))
        return 0
    elif mode == "hold":
        asyncio.run(hold_mode(argv[1], argv[2], int(argv[3]), float(argv[4])))
        return 0
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
