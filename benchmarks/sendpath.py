"""Where the SDK's per-call CPU goes, with the network taken out (µs per call, in-process).

``client.request`` runs for real over a stub :class:`~maxxton_async.transport.Transport`
(the client's public seam) answering a canned 200; the hand-written equivalent
(``asyncio.Semaphore`` + ``msgspec.json.decode``) runs beside it. The same client with the
durable SQLite ledger (group commit: one transaction per event-loop turn, awaited before
the attempt leaves) shows what counting before the wire costs per call. What remains is the SDK's
own bookkeeping, which the throughput benchmark sees as extra client CPU per request. The
steps are then timed one by one, so a report can name the function that costs.

Rounds are interleaved and medians kept; every loop is bounded by ``n``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from maxxton_async import MaxxtonClient, MemoryLedger, SQLiteLedger
from maxxton_async._filters import build_query
from maxxton_async.limits import AnyioLimiter
from maxxton_async.transport import Request, Response
from maxxton_async.usage import UsageKind

__all__ = ["run"]

_BODY = b'{"customerId":100000,"firstName":"Anna","lastName":"Jansen","email":"a@example.com"}'
_URL = "http://127.0.0.1:8080/maxxton/v2/customers/100000"


class _Headers(dict[str, str]):
    def getall(self, key: str) -> list[str]:
        return [self[key]]


async def _time(n: int, once: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await once()
    return (time.perf_counter() - t0) / n * 1e6


def _time_sync(n: int, once: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        once()
    return (time.perf_counter() - t0) / n * 1e6


_TOKEN = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}'


class StubTransport:
    """Answers every call with a canned 200 (the token call with a token), without I/O,
    or after one event-loop pass when ``yielding`` (a stand-in for the wire)."""

    def __init__(self) -> None:
        self.yielding = False
        self.canned = Response(200, {"Content-Type": "application/json"}, _BODY)
        self.token = Response(200, {"Content-Type": "application/json"}, _TOKEN)

    async def send(self, request: Request) -> Response:
        if self.yielding:
            await asyncio.sleep(0)
        return self.token if request.purpose == "token" else self.canned

    async def aclose(self) -> None:
        """Nothing to close."""


async def _measure(n: int, rounds: int, tmp: str) -> dict[str, float]:
    stub = StubTransport()
    client = MaxxtonClient("id", "secret", "scope", base_url="http://127.0.0.1:8080",
                           ledger=MemoryLedger(), transport=stub)  # fmt: skip
    durable = MaxxtonClient(
        "id",
        "secret",
        "scope",
        base_url="http://127.0.0.1:8080",
        ledger=SQLiteLedger(f"{tmp}/usage.sqlite3"),
        transport=stub,
    )
    canned = stub.canned
    await client.request("GET", "/maxxton/v2/customers/100000")  # token, decoder cache
    await durable.request("GET", "/maxxton/v2/customers/100000")

    sem = asyncio.Semaphore(15)
    decode = msgspec.json.decode

    async def handwritten() -> Any:
        async with sem:
            body = (await stub.send(probe)).body
        return decode(body)

    probe = Request("GET", "/x", "http://127.0.0.1:8080")
    limiter = client.limiter

    async def slot() -> None:
        async with limiter.slot():
            pass  # the body is empty on purpose: this measures enter + exit alone

    async def semaphore() -> None:
        async with sem:
            pass  # empty on purpose: enter + exit alone

    usage = client.usage

    async def ledger() -> None:
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")

    durable_usage = durable.usage

    async def durable_ledger() -> None:
        await durable_usage.before_send(UsageKind.CALL, method="GET", path="/x")

    tokens = client.tokens

    cases_async: dict[str, Callable[[], Awaitable[Any]]] = {
        "sdk: client.request (wire stubbed)": lambda: client.request(
            "GET", "/maxxton/v2/customers/100000"
        ),
        "sdk with AnyioLimiter (anyio.CapacityLimiter), wire stubbed": lambda: proposed.request(
            "GET", "/maxxton/v2/customers/100000"
        ),
        "sdk with SQLiteLedger (durable, one call at a time), wire stubbed": lambda: (
            durable.request("GET", "/maxxton/v2/customers/100000")
        ),
        "hand-written: Semaphore + decode (wire stubbed)": handwritten,
        "LocalLimiter.slot() enter+exit (FIFO asyncio.Semaphore)": slot,
        "asyncio.Semaphore enter+exit": semaphore,
        "Usage.before_send (MemoryLedger)": ledger,
        "Usage.before_send (SQLiteLedger, committed, alone in its turn)": durable_ledger,
        "TokenManager.token() (cached)": tokens.token,
    }
    headers = {"Accept": "application/json"}
    cases_sync: dict[str, Callable[[], Any]] = {
        "build_query(None) + _headers(None)": lambda: (
            build_query(None), client._headers(None, has_json=False)
        ),
        "{**headers, Authorization} + tokens.current()": lambda: {
            **headers, "Authorization": tokens.current().authorization  # type: ignore[union-attr]
        },
        "limiter.statistics()": limiter.statistics,
        "msgspec.json.decode": lambda: decode(_BODY),
    }  # fmt: skip
    proposed = MaxxtonClient("id", "secret", "scope", base_url="http://127.0.0.1:8080",
                             ledger=MemoryLedger(), limiter=AnyioLimiter(15),
                             transport=stub)  # fmt: skip
    await proposed.request("GET", "/maxxton/v2/customers/100000")

    # Contended: the throughput benchmark's shape. ``n`` calls gathered at once behind a
    # cap of 15, each holding its slot across one event-loop pass (a stand-in for the wire).
    def gathered_of(c: MaxxtonClient) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            stub.yielding = True
            try:
                await asyncio.gather(
                    *(c.request("GET", "/maxxton/v2/customers/100000") for _ in range(n))
                )
            finally:
                stub.yielding = False

        return run

    sdk_gathered = gathered_of(client)
    proposed_gathered = gathered_of(proposed)
    durable_gathered = gathered_of(durable)

    async def yielding_wire() -> Response:
        await asyncio.sleep(0)
        return canned

    async def handwritten_one() -> Any:
        async with sem:
            body = (await yielding_wire()).body
        return decode(body)

    async def handwritten_gathered() -> None:
        await asyncio.gather(*(handwritten_one() for _ in range(n)))

    async def slot_one() -> None:
        async with limiter.slot():
            await asyncio.sleep(0)

    async def slots_gathered() -> None:
        await asyncio.gather(*(slot_one() for _ in range(n)))

    async def sem_one() -> None:
        async with sem:
            await asyncio.sleep(0)

    async def sems_gathered() -> None:
        await asyncio.gather(*(sem_one() for _ in range(n)))

    gathered: dict[str, Callable[[], Awaitable[Any]]] = {
        "gathered: sdk client.request (wire stubbed, yields once)": sdk_gathered,
        "gathered: sdk with AnyioLimiter (anyio.CapacityLimiter)": proposed_gathered,
        "gathered: sdk with SQLiteLedger (group commit before the wire)": durable_gathered,
        "gathered: hand-written (wire stubbed, yields once)": handwritten_gathered,
        "gathered: LocalLimiter.slot() held one loop pass": slots_gathered,
        "gathered: asyncio.Semaphore held one loop pass": sems_gathered,
    }
    times: dict[str, list[float]] = {k: [] for k in (*gathered, *cases_async, *cases_sync)}
    for _ in range(rounds):
        for name, fn in gathered.items():
            times[name].append(await _time(1, fn) / n)
        for name, fn in cases_async.items():
            times[name].append(await _time(n, fn))
        for name, fn_sync in cases_sync.items():
            times[name].append(_time_sync(n, fn_sync))
    await client.aclose()
    await proposed.aclose()
    await durable.aclose()
    return {k: statistics.median(v) for k, v in times.items()}


def run(n: int = 5000, rounds: int = 5) -> dict[str, float]:
    """µs per call of the SDK's send path (wire stubbed) and of each of its steps."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_measure(max(100, min(n, 100_000)), max(1, min(rounds, 20)), tmp))


if __name__ == "__main__":
    for name, us in run().items():
        print(f"{name:<58}{us:8.2f} µs")
