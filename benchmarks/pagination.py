"""Paging throughput: ``client.paginate`` with prefetch against sequential paging.

The sandbox (another process, 20 ms per request) serves ``/maxxton/v2/customers`` with
``size`` chosen so that the list is exactly ``pages`` pages. Both modes run through the same
client settings (cap 15, memory ledger), in interleaved rounds; medians are reported as
items/s and the prefetch speed-up. Prefetch fetches page 0, learns ``totalPages``, then keeps
up to ``lookahead`` (default: the cap) pages in flight, delivering in order.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from maxxton_async.models import Customer

from ._server import ServerProcess

__all__ = ["run"]

PATH = "/maxxton/v2/customers"


async def _once(server: ServerProcess, page_size: int, prefetch: bool) -> dict[str, float]:
    async with server.client() as client:
        await client.request("GET", PATH, params={"size": 1})  # token + a connection, untimed
        t0 = time.perf_counter()
        pages = items = 0
        async with client.paginate(
            PATH, item_type=Customer, page_size=page_size, sort="customerId,asc", prefetch=prefetch
        ) as paginator:
            async for page in paginator.pages():
                pages += 1
                items += len(page.content)
        wall = time.perf_counter() - t0
        peak = client.statistics().peak_in_flight
    return {"wall": wall, "pages": pages, "items": items, "peak_in_flight": peak}


def run(pages: int = 50, latency: float = 0.02, rounds: int = 5) -> dict[str, Any]:
    """Items/s of both modes over ``pages`` pages at ``latency``; medians of ``rounds``."""
    results: dict[str, list[dict[str, float]]] = {"prefetch": [], "sequential": []}
    with ServerProcess("--size", "demo", "--latency", str(latency)) as server:
        n_customers = _count_customers(server)
        page_size = max(1, n_customers // pages)
        for r in range(rounds):
            order = ("prefetch", "sequential") if r % 2 == 0 else ("sequential", "prefetch")
            for mode in order:
                results[mode].append(
                    asyncio.run(_once(server, page_size, prefetch=mode == "prefetch"))
                )
    out: dict[str, Any] = {"latency_ms": latency * 1e3, "page_size": page_size, "rounds": rounds}
    for mode, runs in results.items():
        wall = statistics.median(x["wall"] for x in runs)
        out[mode] = {
            "pages": runs[0]["pages"],
            "items": runs[0]["items"],
            "seconds": wall,
            "items_per_s": runs[0]["items"] / wall,
            "pages_per_s": runs[0]["pages"] / wall,
            "peak_in_flight": max(x["peak_in_flight"] for x in runs),
        }
    out["speedup"] = out["prefetch"]["items_per_s"] / out["sequential"]["items_per_s"]
    return out


def _count_customers(server: ServerProcess) -> int:
    async def count() -> int:
        async with server.client() as client:
            first = await client.request("GET", PATH, params={"size": 1})
            assert isinstance(first, dict)
            return int(first["totalElements"])

    return asyncio.run(count())


if __name__ == "__main__":
    print(run(rounds=2))
