"""The mission's core claim, end to end: several processes, one IP, never more than 15 on the wire.

Four OS processes each await 60 calls at once through their own ``MaxxtonClient``, sharing a
``RedisLimiter`` and a ``RedisTokenCache``, against the sandbox, which refuses a 16th
concurrent call from one IP with 429 and counts what it sees.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from maxxton_async.sandbox import Sandbox
from tests._redis_util import mint_fleet_token
from tests._support import wait_until

_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from maxxton_async import MaxxtonClient, MemoryLedger, RedisLimiter, RedisTokenCache

    async def main() -> None:
        base, cid, secret, scope, url, prefix = sys.argv[1:7]
        limiter = RedisLimiter(url, permits=15, key=prefix + ":limiter", lease=10)
        async with MaxxtonClient(
            cid, secret, scope, base_url=base, ledger=MemoryLedger(), limiter=limiter,
            token_cache=RedisTokenCache(url, prefix=prefix + ":token"),
        ) as client:
            calls = [asyncio.ensure_future(client.request("GET", "customers",
                                                          params={"size": 1}))
                     for _ in range(60)]
            for _ in range(3000):  # bounded: until all 60 hold a slot or wait for one
                s = limiter.statistics()
                if s.in_flight + s.waiting == 60:
                    break
                await asyncio.sleep(0.01)
            await limiter.refresh()  # answered: Redis knows all that this process wants
            print("queued", flush=True)
            await asyncio.gather(*calls)
            print(client.statistics().token_calls)

    asyncio.run(main())
    """
)


@pytest.mark.slow
async def test_four_processes_share_the_cap_and_the_token(redis_prefix: tuple[str, str]) -> None:
    from maxxton_async import RedisLimiter

    url, prefix = redis_prefix
    async with Sandbox(seed=3) as sb:
        # Every worker request an API call: no authenticate call behind a full cap.
        await mint_fleet_token(sb, url, prefix)
        hold = asyncio.Event()
        sb.faults.hold = hold  # requests pile up in flight until 15 are held
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER,
                sb.base_url,
                sb.client_id,
                sb.client_secret,
                sb.scope,
                url,
                prefix,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        try:
            await wait_until(lambda: sb.statistics().in_flight >= 15, 30, "15 calls held")
            reached = sb.statistics().in_flight
            for proc in procs:  # each says so once Redis has all its 60 calls' demand
                assert proc.stdout is not None
                line = await asyncio.wait_for(proc.stdout.readline(), 30)
                assert line == b"queued\n", line
            # Every call has asked Redis for a slot: any 16th permit would be granted now.
            probe = RedisLimiter(url, permits=15, key=prefix + ":limiter", lease=10)
            fleet_held = await probe.held_globally()
            await probe.aclose()
            beyond = sb.statistics().in_flight
        finally:
            sb.faults.hold = None
            hold.set()
        outputs = [await asyncio.wait_for(p.communicate(), timeout=60) for p in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err.decode()
        assert reached == beyond == fleet_held == 15
        assert sb.statistics().peak_in_flight == 15
        assert sb.statistics().rejected_in_flight == 0  # no 16th call ever reached the server
        assert sb.statistics().per_endpoint["GET /maxxton/v2/customers"] == 240
        assert sb.statistics().token_calls == 1  # the minter's; the workers shared it
        assert sum(int(out.decode().split()[-1]) for out, _ in outputs) == 0
