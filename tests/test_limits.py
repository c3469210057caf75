"""The in-process limiters: the cap, fairness, cancellation, statistics."""

from __future__ import annotations

import asyncio

import pytest

from maxxton_async import LocalLimiter
from maxxton_async.limits import AnyioLimiter, Limiter


@pytest.mark.parametrize("cls", [LocalLimiter, AnyioLimiter])
async def test_cap_peak_and_statistics(cls: type[LocalLimiter] | type[AnyioLimiter]) -> None:
    limiter = cls(3)
    assert isinstance(limiter, Limiter)
    gate = asyncio.Event()
    inside = 0
    seen_max = 0

    async def work() -> None:
        nonlocal inside, seen_max
        async with limiter.slot():
            inside += 1
            seen_max = max(seen_max, inside)
            await gate.wait()
            inside -= 1

    tasks = [asyncio.create_task(work()) for _ in range(10)]
    for _ in range(20):
        await asyncio.sleep(0)
    stats = limiter.statistics()
    assert (stats.capacity, stats.in_flight, stats.waiting) == (3, 3, 7)
    gate.set()
    await asyncio.gather(*tasks)
    stats = limiter.statistics()
    assert (stats.in_flight, stats.waiting, stats.peak_in_flight) == (0, 0, 3)
    assert seen_max == 3


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = LocalLimiter(1)
    order: list[int] = []
    gate = asyncio.Event()

    async def work(i: int) -> None:
        async with limiter.slot():
            order.append(i)
            if i == 0:
                await gate.wait()

    tasks = [asyncio.create_task(work(i)) for i in range(6)]
    for _ in range(10):
        await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5]


async def test_cancelled_waiter_and_raising_holder_give_slots_back() -> None:
    limiter = LocalLimiter(1)
    gate = asyncio.Event()

    async def hold() -> None:
        async with limiter.slot():
            await gate.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert limiter.statistics().waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.statistics().waiting == 0
    gate.set()
    await holder
    with pytest.raises(RuntimeError):
        async with limiter.slot():
            raise RuntimeError("boom")
    assert limiter.statistics().in_flight == 0
    async with limiter.slot():  # the slot came back
        assert limiter.statistics().in_flight == 1


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LocalLimiter(0)
