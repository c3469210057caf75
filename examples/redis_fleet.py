"""A fleet: several processes behind one IP share one cap of 15, one token and one ledger.

    python examples/redis_fleet.py [WORKERS] [CALLS]     # needs Redis (MAXXTON_REDIS_URL)

Maxxton allows 15 concurrent calls per IP, whatever the number of processes behind it
(guide, API Pricing). Each worker process here builds its own client with three Redis
stores under one key prefix:

* ``RedisLimiter``: a lease-based semaphore; a slot held by a killed worker comes back
  within one ``lease``.
* ``RedisTokenCache``: one token for the fleet (every authenticate call is billed too).
* ``RedisLedger``: exact per-day and per-month counters, which a ``Budget(hard=True)``
  would check and increment atomically.

The sandbox refuses a 16th concurrent call from one IP with a 429 and counts what it saw,
so the report below shows the cap held: peak in flight at most 15, no call refused.
``MAXXTON_REDIS_URL`` defaults to ``redis://127.0.0.1:6379/0``; the run's keys are deleted
at the end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from maxxton_async import MaxxtonClient, RedisLedger, RedisLimiter, RedisTokenCache
from maxxton_async.testing import sandbox


@dataclass(frozen=True)
class FleetReport:
    workers: int
    calls_per_worker: int
    peak_in_flight: int
    """The most requests the server saw in flight at once (the cap: 15)."""
    refused: int
    """Requests the server refused with 429 for exceeding 15 in flight."""
    server_requests: int
    """Requests the server received, token calls included."""
    token_calls: int
    counted: int
    """Requests counted in the shared Redis ledger, by every worker together."""


async def worker(base_url: str, scope: str, url: str, prefix: str, calls: int) -> None:
    """One process of the fleet: ``calls`` requests awaited at once."""
    # The stores may be shared by several clients, so the client leaves them open: close them.
    limiter = RedisLimiter(url, permits=15, key=f"{prefix}:limiter", lease=10)
    ledger = RedisLedger(url, prefix=f"{prefix}:usage")
    try:
        async with MaxxtonClient(
            os.environ["SANDBOX_CLIENT_ID"],
            os.environ["SANDBOX_CLIENT_SECRET"],
            scope,
            base_url=base_url,
            # The same three keys in every process: one cap, one token, one count.
            limiter=limiter,
            token_cache=RedisTokenCache(url, prefix=f"{prefix}:token"),
            ledger=ledger,
        ) as client:
            await asyncio.gather(
                *(client.customers.list(size=1, page=i % 20) for i in range(calls))
            )
    finally:
        await limiter.aclose()
        await ledger.aclose()


async def main(workers: int = 4, calls: int = 60, redis_url: str | None = None) -> FleetReport:
    """Start a sandbox and ``workers`` processes sharing Redis stores; print and return."""
    url = redis_url or os.environ.get("MAXXTON_REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"maxxton-example:{secrets.token_hex(4)}"
    async with sandbox(seed=2, latency=0.02) as sb:
        env = {
            **os.environ,
            "SANDBOX_CLIENT_ID": sb.client_id,
            "SANDBOX_CLIENT_SECRET": sb.client_secret,
        }
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "worker",
                sb.base_url,
                sb.scope,
                url,
                prefix,
                str(calls),
                env=env,
            )
            for _ in range(workers)
        ]
        codes = [await asyncio.wait_for(p.wait(), timeout=120) for p in procs]
        if any(codes):
            raise SystemExit(f"a worker failed: exit codes {codes}")
        ledger = RedisLedger(url, prefix=f"{prefix}:usage")
        try:
            today = datetime.now(UTC).date()
            counted = (await ledger.counts(scope=sb.scope, environment="test", day=today)).day
        finally:
            await ledger.aclose()
            await _delete_keys(url, prefix)
        report = FleetReport(
            workers=workers,
            calls_per_worker=calls,
            peak_in_flight=sb.statistics().peak_in_flight,
            refused=sb.statistics().rejected_in_flight,
            server_requests=sb.statistics().requests_total,
            token_calls=sb.statistics().token_calls,
            counted=counted,
        )
    print(
        f"{workers} processes x {calls} calls: server peak in flight {report.peak_in_flight} "
        f"(cap 15), {report.refused} refused, {report.token_calls} token call(s), "
        f"{report.server_requests} requests at the server, {report.counted} in the shared ledger"
    )
    return report


async def _delete_keys(url: str, prefix: str) -> None:
    import redis.asyncio as redis

    r = redis.Redis.from_url(url)
    try:
        keys = [k async for k in r.scan_iter(match=f"*{prefix}*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["worker"]:
        base_url, scope, url, prefix, calls = args[1:6]
        asyncio.run(worker(base_url, scope, url, prefix, int(calls)))
    else:
        counts = [int(a) for a in args[:2]]
        asyncio.run(
            main(workers=counts[0] if counts else 4, calls=counts[1] if len(counts) > 1 else 60)
        )
