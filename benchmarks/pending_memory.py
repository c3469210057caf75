"""Memory per pending call: 100,000 awaits behind the cap of 15, SDK vs hand-written.

Each client gets ``n`` calls at once; 15 hold a slot on a wire that is held shut (a gate),
the rest wait for one. ``tracemalloc`` measures what the waiting calls hold, divided by
``n``. Both sides build their own URL per call (the hand-written one with an f-string, as
real code does) and run every call in a task. The SDK runs over a stub transport, so no
socket is involved on either side; the cap is checked to hold while they wait.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import msgspec

from maxxton_async import MaxxtonClient, MemoryLedger
from maxxton_async.transport import Request, Response

__all__ = ["run"]

_TOKEN = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}'
_BASE = "http://127.0.0.1:8080"


class _Gate:
    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def send(self, request: Request) -> Response:
        if request.purpose == "token":
            return Response(200, {}, _TOKEN)
        await self.open.wait()
        return Response(200, {}, b"{}")

    async def aclose(self) -> None:
        self.open.set()


async def _sdk(n: int) -> dict[str, float]:
    gate = _Gate()
    client = MaxxtonClient("id", "secret", "scope", base_url=_BASE, ledger=MemoryLedger(),
                           transport=gate)  # fmt: skip
    gate.open.set()
    await client.request("GET", "customers/0")  # token and decoder cache, untimed
    gate.open.clear()
    gc.collect()
    tracemalloc.start()
    tasks = [asyncio.ensure_future(client.request("GET", f"customers/{i}")) for i in range(n)]
    for _ in range(5):
        await asyncio.sleep(0)
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = client.statistics()
    gate.open.set()
    await asyncio.gather(*tasks)
    await client.aclose()
    return {"bytes": held / n, "in_flight": stats.in_flight, "waiting": stats.waiting}


async def _handwritten(n: int) -> dict[str, float]:
    sem = asyncio.Semaphore(15)
    gate = asyncio.Event()
    in_flight = 0

    async def one(url: str) -> Any:
        nonlocal in_flight
        async with sem:
            in_flight += 1
            await gate.wait()  # the wire, held shut
            in_flight -= 1
            return msgspec.json.decode(b"{}")

    gc.collect()
    tracemalloc.start()
    tasks = [asyncio.ensure_future(one(f"{_BASE}/maxxton/v2/customers/{i}")) for i in range(n)]
    for _ in range(5):
        await asyncio.sleep(0)
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    seen = in_flight
    gate.set()
    await asyncio.gather(*tasks)
    return {"bytes": held / n, "in_flight": seen, "waiting": n - seen}


def run(n: int = 100_000, rounds: int = 3) -> dict[str, Any]:
    """Bytes per pending call for both clients (median of ``rounds``) and their ratio."""
    sdk, hand = [], []
    for _ in range(rounds):
        sdk.append(asyncio.run(_sdk(n)))
        hand.append(asyncio.run(_handwritten(n)))
    sdk_b = sorted(x["bytes"] for x in sdk)[len(sdk) // 2]
    hand_b = sorted(x["bytes"] for x in hand)[len(hand) // 2]
    return {
        "n": n,
        "sdk_bytes": sdk_b,
        "handwritten_bytes": hand_b,
        "ratio": sdk_b / hand_b,
        "sdk_in_flight": max(x["in_flight"] for x in sdk),
    }


if __name__ == "__main__":
    print(run())
