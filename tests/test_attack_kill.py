"""Hostile test: ``kill -9`` of a worker never leaves a sent request uncounted, with the
Redis ledger (the SQLite one is covered in ``test_faults.py``).

The worker counts into its own redis-server (never the shared one); the server counts what
it received. After each kill the ledger must hold at least what the server received.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests._counting_server import CountingServer

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import asyncio, sys
from maxxton_async import MaxxtonClient, RedisLedger, RetryPolicy

async def main() -> None:
    client = MaxxtonClient("tester", "s3cr3t-value-never-shown", "tst", base_url=sys.argv[1],
                           ledger=RedisLedger(sys.argv[2], prefix="killed"),
                           retry=RetryPolicy.none())
    async with client:
        for _ in range(400):  # bounded; the test kills us long before
            await asyncio.gather(*(client.request("GET", "ping") for _ in range(15)))

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.redis
async def test_kill_9_with_the_redis_ledger_never_leaves_a_sent_request_uncounted(
    tmp_path: Path,
) -> None:
    from maxxton_async import RedisLedger
    from tests._own_redis import OwnRedis

    redis = OwnRedis()
    redis.start()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    rng = random.Random(9)
    try:
        async with CountingServer(latency=0.002) as server:
            for _ in range(4):
                before = server.requests
                target = before + rng.randint(50, 400)
                await server.kill_worker_at(
                    [str(script), server.base_url, redis.url], target, str(ROOT)
                )
                ledger = RedisLedger(redis.url, prefix="killed")
                counted = await ledger.counts(
                    scope="tst", environment="test", day=datetime.now(UTC).date()
                )
                await ledger.aclose()
                assert server.requests > before
                assert counted.day >= server.requests, (counted.day, server.requests)
    finally:
        redis.kill()
