"""The adaptive cap: other software behind our IP holds some of the 15 slots."""

from __future__ import annotations

import asyncio

import pytest

from maxxton_async import LocalLimiter, RetryPolicy
from maxxton_async.limits import AdaptiveCap
from maxxton_async.sandbox import Sandbox


def test_multiplicative_decrease_once_per_window_then_additive_increase() -> None:
    cap = AdaptiveCap(15, decrease=0.8, increase_every=3)
    assert cap.throttled(in_flight=15) == 12
    # The other 14 requests were on the wire before the drop: their 429s change nothing.
    for _ in range(14):
        assert cap.throttled(in_flight=12) == 12
    # A new window: a new drop, to 12 x 0.8 rounded up (rounding down would lose two slots).
    assert cap.throttled(in_flight=12) == 10
    assert cap.decreases == 2
    grown = [cap.succeeded() for _ in range(6)]
    assert grown == [10, 10, 11, 11, 11, 11]
    # 12 met the last 429: probed again only after PROBE_FACTOR times as many answers.
    grown = [cap.succeeded() for _ in range(3 * AdaptiveCap.PROBE_FACTOR - 3)]
    assert grown[-2:] == [11, 12]
    for _ in range(100):
        cap.succeeded()
    assert cap.cap == 15  # never above the ceiling


def test_a_drop_is_at_least_one_slot_and_rounded_up() -> None:
    # Near Maxxton's caps: 11 in flight met a 429, so 10 is the most that may fit.
    assert AdaptiveCap(15, decrease=0.85).throttled(in_flight=11) == 10
    assert AdaptiveCap(15, decrease=0.99).throttled(in_flight=15) == 14
    assert AdaptiveCap(15, decrease=0.5).throttled(in_flight=1) == 1


def test_a_429_to_a_request_sent_since_the_drop_drops_again_at_once() -> None:
    cap = AdaptiveCap(15, decrease=0.8)
    assert cap.throttled(in_flight=15, sent_at=0) == 12
    # The other 14 were sent before the drop (at 0 drops): nothing new.
    for _ in range(14):
        assert cap.throttled(in_flight=12, sent_at=0) == 12
    # Sent since (at 1 drop): the cap is still too high, whatever answers are still due.
    assert cap.throttled(in_flight=12, sent_at=1) == 10
    assert cap.decreases == 2


async def test_the_limiters_permit_says_when_its_request_went_out() -> None:
    limiter = LocalLimiter(15)
    before = [await limiter.acquire() for _ in range(12)]
    limiter.throttled(before[0])
    assert limiter.statistics().effective_capacity == 11  # 12 x 0.85, rounded up
    for permit in before[1:4]:
        limiter.throttled(permit)  # on the wire before the drop: nothing new
    assert limiter.statistics().effective_capacity == 11
    for permit in before:
        limiter.release(permit)
    after = await limiter.acquire()
    limiter.throttled(after)  # sent since the drop: drops again at once
    assert limiter.statistics().effective_capacity == 1  # one in flight met a 429
    limiter.release(after)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="decrease"):
        AdaptiveCap(15, decrease=1.5)
    with pytest.raises(ValueError, match="increase_every"):
        AdaptiveCap(15, increase_every=0)


async def test_a_fixed_limiter_does_not_adapt() -> None:
    limiter = LocalLimiter(15, adaptive=False)
    limiter.throttled()
    assert limiter.statistics().effective_capacity == 15
    assert limiter.adaptive is None


async def test_against_a_server_whose_other_tenant_holds_five_slots() -> None:
    """≤ 1% of our calls meet a 429 once we share the IP with a load holding 5 slots."""
    async with Sandbox(seed=1, latency=0.004) as sb:
        sb.faults.update(foreign_in_flight=5, retry_after=0)
        client = sb.client(retry=RetryPolicy(max_attempts=6, backoff_base=0.001, backoff_max=0.002))
        async with client:
            for _ in range(3):  # bounded: 3 × 1,000 calls
                await asyncio.gather(
                    *(client.request("GET", "customers", params={"size": 1}) for _ in range(1000))
                )
            stats = client.statistics()
        refused = sb.statistics().rejected_in_flight
        total = sb.statistics().requests_total
    assert sb.statistics().peak_in_flight <= 10  # never more than the server let through
    assert refused <= 0.01 * total, (refused, total)
    assert 8 <= stats.effective_capacity <= 11
    assert stats.requests_sent == total
