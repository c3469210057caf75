"""Per-call overhead of the usage ledgers and the concurrency limiters, in microseconds.

``measure_overhead()`` returns ``{name: µs per call}``:

* ``ledger.<kind>`` -- one ``Usage.before_send`` (no budget limit: deferred counting for
  the durable ledgers, flushed inside the measured time so every count is written);
* ``ledger.<kind>.hard`` -- the same with a hard budget (one atomic check-and-count per
  call: a thread hop for SQLite, a round trip for Redis);
* ``limiter.<kind>`` -- entering and leaving one ``slot()`` with no contention.

Redis entries appear only when ``MAXXTON_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``) answers. Loops are bounded by ``n``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from maxxton_async import Budget, LocalLimiter, MemoryLedger
from maxxton_async.limits import Limiter
from maxxton_async.usage import Ledger, Usage, UsageKind

REDIS_URL = os.environ.get("MAXXTON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _time(
    n: int, once: Callable[[], Awaitable[None]], after: Callable[[], Awaitable[None]] | None = None
) -> float:
    for _ in range(min(n // 10, 200)):  # warm up: connections, threads, statements
        await once()
    if after is not None:
        await after()
    start = time.perf_counter()
    for _ in range(n):
        await once()
    if after is not None:
        await after()
    return (time.perf_counter() - start) / n * 1e6


async def _ledger(ledger: Ledger, n: int, *, hard: bool) -> float:
    budget = Budget(daily=10**12, monthly=10**12, hard=hard)
    usage = Usage(
        ledger, scope=f"bench-{secrets.token_hex(3)}", environment="production", budget=budget
    )
    flush = getattr(ledger, "flush", None)

    async def once() -> None:
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")

    try:
        return await _time(n, once, flush)
    finally:
        await ledger.aclose()


async def _limiter(limiter: Limiter, n: int) -> float:
    async def once() -> None:
        async with limiter.slot():
            pass  # the body is empty on purpose: this measures enter + exit alone

    try:
        return await _time(n, once)
    finally:
        await limiter.aclose()


def _redis_available() -> bool:
    try:
        import redis
    except ImportError:
        return False
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


async def _measure(n: int) -> dict[str, float]:
    from maxxton_async import SQLiteLedger

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out["ledger.memory"] = await _ledger(MemoryLedger(), n, hard=False)
        out["ledger.memory.hard"] = await _ledger(MemoryLedger(), n, hard=True)
        out["ledger.sqlite"] = await _ledger(SQLiteLedger(Path(tmp) / "a.db"), n, hard=False)
        out["ledger.sqlite.hard"] = await _ledger(SQLiteLedger(Path(tmp) / "b.db"), n, hard=True)
        out["limiter.local"] = await _limiter(LocalLimiter(15), n)
        if _redis_available():
            from maxxton_async import RedisLedger, RedisLimiter

            prefix = f"maxxton-bench:{secrets.token_hex(4)}"
            try:
                out["ledger.redis"] = await _ledger(RedisLedger(REDIS_URL, prefix), n, hard=False)
                out["ledger.redis.hard"] = await _ledger(
                    RedisLedger(REDIS_URL, prefix), n, hard=True
                )
                out["limiter.redis"] = await _limiter(
                    RedisLimiter(REDIS_URL, 15, key=f"{prefix}:limiter"), n
                )
            finally:
                import redis

                client = redis.Redis.from_url(REDIS_URL)
                keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
                client.close()
    return out


def measure_overhead(n: int = 2000) -> dict[str, float]:
    """Microseconds per call of each ledger and limiter (see the module docstring)."""
    return asyncio.run(_measure(n))


if __name__ == "__main__":
    for name, us in measure_overhead().items():
        print(f"{name:<22}{us:10.1f} µs")
