"""RedisLimiter's adaptive cap: one cap for the fleet, lowered on 429s, grown back on successes.

Real Redis (``MAXXTON_TEST_REDIS_URL``, a key prefix of our own) and, end to end, worker
processes whose ``MaxxtonClient`` shares one ``RedisLimiter`` against the sandbox while a
foreign load holds 5 of the IP's 15 slots (``foreign_in_flight=5``: the sandbox answers 429
once 10 are in flight).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from maxxton_async import RedisLimiter
from maxxton_async.limits import AdaptiveCap
from maxxton_async.sandbox import Sandbox
from tests._redis_util import mint_fleet_token
from tests.workers.run import finish, spawn

pytestmark = pytest.mark.redis


def _limiter(url: str, key: str, **kw: object) -> RedisLimiter:
    # Hand-off allowed for long: only the fleet's cap can stop a permit going to a waiter.
    return RedisLimiter(
        url,
        permits=10,
        key=key,
        lease=10,
        handoff_limit=10_000,
        handoff_time=60,
        adaptive=AdaptiveCap(10, decrease=0.5, increase_every=4),
        **kw,  # type: ignore[arg-type]
    )


async def test_settings_are_checked_and_a_fixed_limiter_does_not_adapt(
    redis_prefix: tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    with pytest.raises(ValueError, match="ceiling"):
        RedisLimiter(url, permits=15, adaptive=AdaptiveCap(10))
    fixed = RedisLimiter(url, permits=4, key=f"{prefix}:fixed", adaptive=False)
    assert fixed.adaptive is None
    held = [await fixed.acquire() for _ in range(4)]
    fixed.throttled()
    st = await fixed.refresh()
    assert st.effective_capacity is None  # the configured capacity
    waiter = asyncio.create_task(fixed.acquire())
    fixed.release(held.pop())
    held.append(await asyncio.wait_for(waiter, 10))  # no cap was lowered: a slot for it
    for p in held:
        fixed.release(p)
    await fixed.aclose()
    default = RedisLimiter(url, permits=15, key=f"{prefix}:default")
    assert default.adaptive is not None
    assert default.statistics().effective_capacity == 15
    await default.aclose()


async def test_one_cap_for_the_fleet(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    key = f"{prefix}:fleet"
    a, b = _limiter(url, key), _limiter(url, key)
    held_a = [await a.acquire() for _ in range(5)]
    held_b = [await b.acquire() for _ in range(5)]
    assert await a.held_globally() == 10

    # A 429 in one process lowers the cap for both: half of the 10 in flight.
    a.throttled()
    assert (await a.refresh()).effective_capacity == 5
    assert a.adaptive is not None
    assert a.adaptive.cap == 5
    assert b.statistics().effective_capacity == 10  # B has not talked to Redis since

    # B's requests were on the wire before the drop: their 429s do not drop it again. The
    # first is reported (B had not seen the drop) and Redis ignores it; having seen the
    # drop, B ignores the answers to the requests it had on the wire then.
    b.throttled()
    assert (await b.refresh()).effective_capacity == 5
    for _ in range(4):
        b.throttled()
    assert (await b.refresh()).effective_capacity == 5
    assert (await a.refresh()).effective_capacity == 5
    assert b.adaptive is not None
    assert b.adaptive.decreases == 1

    # The fleet holds 10 with a cap of 5: a released permit is not handed to a local waiter.
    waiter = asyncio.create_task(a.acquire())
    await asyncio.sleep(0)
    a.release(held_a.pop())
    await a.refresh()
    assert not waiter.done()
    assert await a.held_globally() == 9
    for _ in range(4):
        b.release(held_b.pop())
    await b.refresh()
    assert await a.held_globally() == 5  # at the cap: still nothing for the waiter
    await a.refresh()
    assert not waiter.done()
    b.release(held_b.pop())
    held_a.append(await asyncio.wait_for(waiter, 10))  # below the cap: granted
    assert await a.held_globally() == 5
    assert not held_b

    # Hand-off works again now that the fleet is within its cap.
    waiter = asyncio.create_task(a.acquire())
    await asyncio.sleep(0)
    a.release(held_a.pop())
    held_a.append(await asyncio.wait_for(waiter, 10))
    assert await a.held_globally() == 5

    # Successes anywhere in the fleet grow it back: one slot per 4 answers without 429.
    for _ in range(4):
        a.succeeded()
    for _ in range(4):
        b.succeeded()
    await a.refresh()
    assert (await b.refresh()).effective_capacity == 7
    assert (await a.refresh()).effective_capacity == 7
    more = [await asyncio.wait_for(b.acquire(), 10) for _ in range(2)]
    assert await a.held_globally() == 7
    extra = asyncio.create_task(b.acquire())
    await b.refresh()
    assert not extra.done()  # 7 held, cap 7
    for _ in range(100):
        b.succeeded()
    await b.refresh()
    more.append(await asyncio.wait_for(extra, 10))  # the cap grew: the waiter got its slot
    assert (await a.refresh()).effective_capacity == 10  # never above permits
    assert await a.held_globally() == 8

    # A new window: a 429 after the drop was seen (and its requests answered) drops again.
    b.throttled()
    assert (await b.refresh()).effective_capacity == 4  # half of the 8 in flight
    for p in held_a:
        a.release(p)
    for p in more:
        b.release(p)
    assert await a.held_globally() == 0
    await a.aclose()
    await b.aclose()


async def test_the_permit_that_met_a_429_goes_back_with_the_report(
    redis_prefix: tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    limiter = _limiter(url, f"{prefix}:report")
    held = [await limiter.acquire() for _ in range(4)]
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    # What the client does on a 429: throttled(), then release() of the same permit. The
    # permit is not handed to the waiter (it would meet the next 429 at once): it goes to
    # Redis with the report, where the cap drops to 2 (half of 4) before it is released.
    limiter.throttled()
    limiter.release(held.pop())
    assert (await limiter.refresh()).effective_capacity == 2
    assert not waiter.done()
    assert await limiter.held_globally() == 3
    limiter.release(held.pop())
    await limiter.refresh()
    assert not waiter.done()  # 2 held, cap 2
    limiter.release(held.pop())
    held.append(await asyncio.wait_for(waiter, 10))
    assert await limiter.held_globally() == 2
    for p in held:
        limiter.release(p)
    await limiter.aclose()


async def test_the_level_that_met_a_429_is_probed_more_slowly(
    redis_prefix: tuple[str, str],
) -> None:
    url, prefix = redis_prefix
    limiter = _limiter(url, f"{prefix}:probe")
    held = [await limiter.acquire() for _ in range(8)]
    limiter.throttled()
    for p in held:
        limiter.release(p)
    # 8 in flight met a 429: half of 8, rounded up, and at least one below.
    assert (await limiter.refresh()).effective_capacity == 4
    for _ in range(3 * 4):  # 4 answers per slot back up to 7
        limiter.succeeded()
    assert (await limiter.refresh()).effective_capacity == 7
    for _ in range(4 * AdaptiveCap.PROBE_FACTOR - 1):
        limiter.succeeded()
    assert (await limiter.refresh()).effective_capacity == 7  # 8 met the 429: slower
    limiter.succeeded()
    assert (await limiter.refresh()).effective_capacity == 8
    await limiter.aclose()


async def test_the_cap_never_goes_below_one(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix
    limiter = _limiter(url, f"{prefix}:one")
    for _ in range(6):  # bounded
        p = await asyncio.wait_for(limiter.acquire(), 10)
        limiter.throttled()
        limiter.release(p)
        await limiter.refresh()
    assert limiter.statistics().effective_capacity == 1
    assert limiter.adaptive is not None
    assert limiter.adaptive.decreases >= 4
    p = await asyncio.wait_for(limiter.acquire(), 10)  # one slot is always left
    limiter.release(p)
    await limiter.aclose()


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
@pytest.mark.parametrize("procs", [2, 4])
async def test_processes_share_what_the_foreign_load_leaves(
    redis_prefix: tuple[str, str], procs: int
) -> None:
    """≤ 1% of requests answered 429; the fleet's cap settles near the 10 slots left."""
    url, prefix = redis_prefix
    warm, measured = 300, 1500  # calls per worker, before and after the counters reset
    async with Sandbox(seed=5, latency=0.004) as sb:
        sb.faults.update(foreign_in_flight=5, retry_after=0)
        # Every worker request an API call: no authenticate call behind a full cap.
        await mint_fleet_token(sb, url, prefix)
        args = [sb.base_url, sb.client_id, sb.client_secret, sb.scope, url, prefix]
        workers = [
            await spawn("client", *args, str(warm), str(measured), stdin=True) for _ in range(procs)
        ]
        try:
            for w in workers:  # each prints once its warm-up calls are answered
                assert w.stdout is not None
                line = await asyncio.wait_for(w.stdout.readline(), 60)
                assert json.loads(line)["warm"] == warm, line
            warm_total = sb.statistics().requests_total
            warm_refused = sb.statistics().rejected_in_flight
            sb.statistics().reset()
            for w in workers:
                assert w.stdin is not None
                w.stdin.write(b"go\n")
                await w.stdin.drain()
            results = await finish(workers)
        finally:
            for w in workers:
                if w.returncode is None:
                    w.kill()
                    await w.wait()
        total = sb.statistics().requests_total
        refused = sb.statistics().rejected_in_flight
        peak = sb.statistics().peak_in_flight
    assert all(r["failed"] == 0 for r in results), results
    sent = sum(r["sent"] for r in results)
    assert sent == total  # every request the server saw was one of ours, counted by us
    assert total >= procs * measured
    # The goal: at most 1% of our calls refused, from the first call (when the fleet still
    # believes it has 15) and once the cap has settled.
    assert refused <= 0.01 * total, (refused, total)
    assert warm_refused + refused <= 0.01 * (warm_total + total), (warm_refused, warm_total)
    assert peak <= 10  # the server never let more through (it refuses the 11th)
    assert peak >= 8  # and the fleet did use what the foreign load left
    caps = [r["effective_cap"] for r in results]
    assert all(6 <= c <= 11 for c in caps), caps


async def test_a_429_tells_by_its_permit_whether_it_was_sent_before_the_drop(
    redis_prefix: tuple[str, str],
) -> None:
    """The client passes the refused attempt's permit: a request that went out before the
    fleet's last drop says nothing new; one sent after it drops the cap again at once,
    even while answers to older requests are still due."""
    url, prefix = redis_prefix
    limiter = _limiter(url, f"{prefix}:gen")
    old = [await limiter.acquire() for _ in range(8)]
    limiter.throttled(old[0])  # 8 in flight met a 429
    assert (await limiter.refresh()).effective_capacity == 4
    for p in old[1:4]:  # the other requests on the wire then: nothing new
        limiter.throttled(p)
        assert (await limiter.refresh()).effective_capacity == 4
    for p in old:
        limiter.release(p)
    await limiter.refresh()
    fresh = [await asyncio.wait_for(limiter.acquire(), 10) for _ in range(4)]
    limiter.throttled(fresh[0])  # sent after the drop: the cap is still too high
    assert (await limiter.refresh()).effective_capacity == 2  # half of the 4 in flight
    assert limiter.adaptive is not None
    assert limiter.adaptive.decreases == 2
    for p in fresh:
        limiter.release(p)
    await limiter.aclose()
