"""Call throughput against a sandbox in another process, side by side with the alternatives.

Clients (each measured in a fresh child process, so ``time.process_time()`` there is the
client's CPU alone and no earlier run leaves state behind):

* ``sdk-memory`` -- ``MaxxtonClient.request`` with a ``MemoryLedger``;
* ``sdk-sqlite`` -- ``MaxxtonClient.request`` with the default SQLite ledger (a fresh file);
* ``sdk-anyio`` -- as ``sdk-memory`` with ``AnyioLimiter`` (``anyio.CapacityLimiter``)
  instead of the default ``LocalLimiter`` (a FIFO ``asyncio.Semaphore``): why the default;
* ``aiohttp`` -- the hand-written baseline: one ``aiohttp.ClientSession``, an
  ``asyncio.Semaphore(cap)``, ``msgspec.json.decode``, a token fetched once;
* ``httpx`` -- ``httpx.AsyncClient(limits=httpx.Limits(max_connections=cap))``, its pool
  doing the queueing (the configuration people write);
* ``httpx-sem`` -- the same client behind an ``asyncio.Semaphore(cap)``: the pool never holds
  a queue, which separates httpx's per-request cost from the cost of its pool's waiting list;
* ``sequential`` -- the SDK awaited one call at a time;
* ``sdk-uvloop`` and ``aiohttp-uvloop`` -- ``sdk-memory`` and ``aiohttp`` on uvloop (the
  ``speed`` extra), each against its stock-asyncio self and against ``aiohttp``.

Every concurrent client gets all its calls at once (``asyncio.gather``), the usage the design
names first: many coroutines awaiting single calls, the cap deciding what is on the wire. The
request is ``GET /maxxton/v2/customers/{id}`` (a small resource), decoded into plain objects
by every client. Token and connection set-up happen in an untimed warm-up.

:func:`run` interleaves rounds (latency by latency, clients in a rotating order) and keeps
medians; :func:`sweep_cap` and :func:`sweep_latency` feed the chart.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ._server import ServerProcess, run_child

__all__ = ["CLIENTS", "measure_child", "run", "sweep_cap", "sweep_latency"]

CLIENTS = (
    "sdk-memory",
    "sdk-sqlite",
    "sdk-anyio",
    "aiohttp",
    "httpx",
    "httpx-sem",
    "sequential",
    "sdk-uvloop",
    "aiohttp-uvloop",
)
PATH = "/maxxton/v2/customers/{}"


# -- the clients (run inside the child process) ------------------------------------------


async def _sdk(spec: dict[str, Any], urls: list[str], *, sequential: bool) -> dict[str, Any]:
    from maxxton_async import MaxxtonClient, MemoryLedger

    # The default ledger is the durable SQLite one; MAXXTON_USAGE_DB (set by the parent to
    # a fresh temporary file) keeps the benchmark out of the user's real ledger.
    ledger = None if spec["client"] == "sdk-sqlite" else MemoryLedger()
    limiter = None
    if spec["client"] == "sdk-anyio":
        from maxxton_async.limits import AnyioLimiter

        limiter = AnyioLimiter(spec["cap"])
    transport = None
    if spec["client"] == "sdk-pyreqwest":  # benchmarks.engines: the same SDK on pyreqwest
        from maxxton_async.transport import PyreqwestTransport

        # Sized as the client sizes its default aiohttp pool: above the cap.
        transport = PyreqwestTransport(pool_size=spec["cap"] + 4)
    async with MaxxtonClient(
        spec["client_id"],
        spec["client_secret"],
        spec["scope"],
        base_url=spec["base_url"],
        max_in_flight=spec["cap"],
        ledger=ledger,
        limiter=limiter,
        transport=transport,
    ) as client:
        paths = [u[len(spec["base_url"]) :] for u in urls]
        warmup = paths[: spec["warmup"]]
        if sequential:  # warm up as it will run: one connection, one call at a time
            for p in warmup:
                await client.request("GET", p)
        else:
            await asyncio.gather(*(client.request("GET", p) for p in warmup))
        timed = paths[spec["warmup"] :]
        cpu0, t0 = time.process_time(), time.perf_counter()
        if sequential:
            for p in timed:
                await client.request("GET", p)
        else:
            await asyncio.gather(*(client.request("GET", p) for p in timed))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        stats = client.statistics()
        # Flush the write-behind counts outside the timed window: what the ledger costs on
        # the send path is in ``cpu``; the final flush is a one-off of the client's close.
    return {"wall": wall, "cpu": cpu, "n": len(timed), "peak_in_flight": stats.peak_in_flight,
            "requests_sent": stats.requests_sent}  # fmt: skip


def _token_form(spec: dict[str, Any]) -> dict[str, str]:
    """The authenticate form a hand-written client posts."""
    return {
        "grant_type": "client_credentials",
        "client_id": spec["client_id"],
        "client_secret": spec["client_secret"],
        "scope": spec["scope"],
    }


async def _all_at_once(
    get: Callable[[str], Awaitable[Any]], urls: list[str], warmup: int
) -> tuple[float, float, int]:
    """Gather the first ``warmup`` calls, then time gathering the rest: (wall s, CPU s, calls)."""
    await asyncio.gather(*(get(u) for u in urls[:warmup]))
    timed = urls[warmup:]
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(get(u) for u in timed))
    return time.perf_counter() - t0, time.process_time() - cpu0, len(timed)


async def _aiohttp(spec: dict[str, Any], urls: list[str]) -> dict[str, Any]:
    import aiohttp
    import msgspec

    decode = msgspec.json.decode
    async with aiohttp.ClientSession() as session:
        form = _token_form(spec)
        async with session.post(spec["base_url"] + "/maxxton/v2/authenticate", data=form) as resp:
            token = decode(await resp.read())
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        sem = asyncio.Semaphore(spec["cap"])
        in_flight = peak = 0

        async def get(url: str) -> Any:
            nonlocal in_flight, peak
            async with sem:
                in_flight += 1
                peak = max(peak, in_flight)
                try:
                    async with session.get(url, headers=headers) as resp:
                        if resp.status != 200:
                            raise RuntimeError(f"HTTP {resp.status}")
                        return decode(await resp.read())
                finally:
                    in_flight -= 1

        wall, cpu, n = await _all_at_once(get, urls, spec["warmup"])
    return {"wall": wall, "cpu": cpu, "n": n, "peak_in_flight": peak,
            "requests_sent": len(urls) + 1}  # fmt: skip


async def _httpx(spec: dict[str, Any], urls: list[str]) -> dict[str, Any]:
    import httpx
    import msgspec

    decode = msgspec.json.decode
    # A generous timeout: with every call queued at once, the last ones wait in httpx's pool
    # longer than its 5 s default pool timeout would allow on a slow run.
    async with httpx.AsyncClient(
        limits=httpx.Limits(max_connections=spec["cap"]), timeout=httpx.Timeout(120.0)
    ) as client:
        resp = await client.post(
            spec["base_url"] + "/maxxton/v2/authenticate", data=_token_form(spec)
        )
        headers = {"Authorization": f"Bearer {decode(resp.content)['access_token']}"}

        sem = asyncio.Semaphore(spec["cap"] if spec["client"] == "httpx-sem" else 1_000_000)

        async def get(url: str) -> Any:
            async with sem:
                r = await client.get(url, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}")
            return decode(r.content)

        wall, cpu, n = await _all_at_once(get, urls, spec["warmup"])
    return {"wall": wall, "cpu": cpu, "n": n, "peak_in_flight": None,
            "requests_sent": len(urls) + 1}  # fmt: skip


async def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    ids = spec["customer_ids"]
    total = spec["warmup"] + spec["n"]
    urls = [spec["base_url"] + PATH.format(ids[i % len(ids)]) for i in range(total)]
    kind = spec["client"].removesuffix("-uvloop")
    if kind == "sdk":
        kind = "sdk-memory"
    if kind in ("sdk-memory", "sdk-sqlite", "sdk-anyio", "sdk-pyreqwest"):
        return await _sdk(spec, urls, sequential=False)
    if kind == "sequential":
        return await _sdk(spec, urls, sequential=True)
    if kind == "aiohttp":
        return await _aiohttp(spec, urls)
    if kind in ("httpx", "httpx-sem"):
        return await _httpx(spec, urls)
    raise ValueError(f"unknown client {kind!r}")


def measure_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in the current process (the child's entry point).

    With ``spec["profile"]`` set to a path, the timed run is profiled with cProfile and the
    statistics written there (the figures are then not comparable; profiling only).
    """
    if spec.get("profile"):
        import cProfile

        prof = cProfile.Profile()
        result = prof.runcall(asyncio.run, _measure(spec))
        prof.dump_stats(spec["profile"])
        return result
    if spec["client"].endswith("-uvloop"):
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_measure(spec))
    return asyncio.run(_measure(spec))


# -- the parent: one child per measurement ---------------------------------------------


def _run_child(
    server: ServerProcess, client: str, n: int, cap: int, **extra: Any
) -> dict[str, Any]:
    spec = {
        "client": client,
        "base_url": server.base_url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "scope": server.scope,
        "customer_ids": server.customer_ids,
        "n": n,
        "cap": cap,
        "warmup": max(2 * cap, 10),
        **extra,
    }
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MAXXTON_USAGE_DB": os.path.join(tmp, "usage.sqlite3"),
               "MAXXTON_TOKEN_DB": os.path.join(tmp, "tokens.sqlite3")}  # fmt: skip
        server.reset()
        result = run_child("benchmarks.throughput", spec, timeout=600, env=env)
    st = server.stats()
    result["server_peak_in_flight"] = st["peakInFlight"]
    result["server_rejected"] = st["rejectedInFlight"]
    result["rps"] = result["n"] / result["wall"]
    result["cpu_us"] = result["cpu"] / result["n"] * 1e6
    return result


#: Rough req/s a client reaches at best on a small shared machine, so that a slow client
#: gets fewer calls instead of running for half a minute (httpx stays near 200 req/s here).
_EXPECTED_RPS = {"httpx": 250.0, "httpx-sem": 300.0}


def _count(client: str, latency: float, cap: int, quick: bool) -> int:
    """Requests per measurement: about 2 s of calls (1 s when quick), bounded."""
    seconds = 1.0 if quick else 2.0
    per_s = (1 if client == "sequential" else cap) / latency
    per_s = min(per_s, _EXPECTED_RPS.get(client, 2000.0))  # the sandbox serves ~2000/s
    return int(max(40, per_s * seconds))


def run(
    latencies: tuple[float, ...] = (0.02, 0.002),
    rounds: int = 5,
    cap: int = 15,
    quick: bool = False,
    clients: tuple[str, ...] = CLIENTS,
) -> dict[str, Any]:
    """Interleaved rounds of every client at every latency; medians and ratios.

    Returns ``{"rows": [...], "rounds": rounds, "cap": cap}``; a row per (latency, client):
    ``rps``, ``ratio`` (to ``aiohttp``), ``ceiling`` (cap / latency) and ``of_ceiling``,
    ``of_effective`` (share of cap × the sequential client's rate: cap over the measured
    round trip),
    ``cpu_us`` (client CPU per request), ``cpu_ratio`` (to ``aiohttp``), the server's peak
    in flight and the 429s it had to send (should be 0).
    """
    raw: dict[tuple[float, str], list[dict[str, Any]]] = {}
    with ServerProcess("--size", "demo") as server:
        for r in range(rounds):
            for latency in latencies:
                server.set_faults(latency=latency)
                # Rotate the order each round: no client always runs first (or last) after
                # a latency change, or next to the same neighbour.
                order = clients[r % len(clients) :] + clients[: r % len(clients)]
                for client in order:
                    n = _count(client, latency, cap, quick)
                    raw.setdefault((latency, client), []).append(_run_child(server, client, n, cap))
    rows = []
    for latency in latencies:
        base = raw.get((latency, "aiohttp"))
        base_rps = statistics.median(x["rps"] for x in base) if base else float("nan")
        base_cpu = statistics.median(x["cpu_us"] for x in base) if base else float("nan")
        # The ceiling this machine and server really allow: cap × the sequential rate, i.e.
        # cap over the measured round trip (the sandbox's timer overshoots its latency
        # knob and loopback adds its own time, so cap / latency is out of anyone's reach).
        seq = raw.get((latency, "sequential"))
        effective = cap * statistics.median(x["rps"] for x in seq) if seq else float("nan")
        for client in clients:
            runs = raw[(latency, client)]
            rps = statistics.median(x["rps"] for x in runs)
            cpu = statistics.median(x["cpu_us"] for x in runs)
            ceiling = (1 if client == "sequential" else cap) / latency
            rows.append(
                {
                    "latency_ms": latency * 1e3,
                    "client": client,
                    "n": runs[0]["n"],
                    "rps": rps,
                    "rps_all": [x["rps"] for x in runs],
                    "ratio": rps / base_rps,
                    "ceiling": cap / latency,
                    "of_ceiling": rps / (cap / latency),
                    "own_ceiling": ceiling,
                    "effective_ceiling": effective,
                    "of_effective": rps / effective if client != "sequential" else 1.0,
                    "cpu_us": cpu,
                    "cpu_ratio": cpu / base_cpu,
                    "server_peak_in_flight": max(x["server_peak_in_flight"] for x in runs),
                    "server_rejected": sum(x["server_rejected"] for x in runs),
                }
            )
    return {"rows": rows, "rounds": rounds, "cap": cap}


def _point(
    server: ServerProcess, client: str, latency: float, cap: int, quick: bool
) -> dict[str, Any]:
    """One sweep point: ``client``'s req/s at ``cap`` in flight against ``latency``."""
    res = _run_child(server, client, _count(client, latency, cap, quick), cap)
    return {"client": client, "cap": cap, "latency_ms": latency * 1e3, "rps": res["rps"],
            "ceiling": cap / latency}  # fmt: skip


def sweep_cap(
    caps: tuple[int, ...] = tuple(range(1, 16)),
    latency: float = 0.02,
    clients: tuple[str, ...] = ("sdk-memory", "aiohttp"),
    quick: bool = False,
) -> list[dict[str, Any]]:
    """req/s against ``max_in_flight`` (one run per point; clients alternate per point)."""
    out: list[dict[str, Any]] = []
    with ServerProcess("--size", "demo", "--latency", str(latency)) as server:
        for cap in caps:
            out += [_point(server, client, latency, cap, quick) for client in clients]
    return out


def sweep_latency(
    latencies: tuple[float, ...] = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05),
    cap: int = 15,
    clients: tuple[str, ...] = ("sdk-memory", "aiohttp"),
    quick: bool = False,
) -> list[dict[str, Any]]:
    """req/s against the server's latency at ``cap`` in flight (one run per point)."""
    out: list[dict[str, Any]] = []
    with ServerProcess("--size", "demo") as server:
        for latency in latencies:
            server.set_faults(latency=latency)
            out += [_point(server, client, latency, cap, quick) for client in clients]
    return out


if __name__ == "__main__":
    # Child mode: one JSON spec in, one JSON result line out.
    sys.stdout.write(json.dumps(measure_child(json.loads(sys.argv[1]))) + "\n")
    sys.stdout.flush()
    # No interpreter shutdown: pyreqwest's Rust I/O threads may call into Python while it
    # finalizes ("PyGILState_Release: thread state must be current"), which killed about
    # 1 child in 40 after its result was written. Everything is closed by now.
    os._exit(0)
