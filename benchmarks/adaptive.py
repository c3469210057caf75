"""The adaptive cap against a server whose other tenant holds 5 of its 15 slots.

The sandbox (another process) refuses a request with 429 once 10 are in flight
(``foreign_in_flight=5``: software behind the same IP holds the rest). Three clients, in
interleaved rounds, each with all its calls gathered at once:

* ``adaptive`` -- the SDK's default: ``LocalLimiter(15)`` learning the real cap from 429s;
* ``fixed-15`` -- the SDK with ``adaptive=False``: keeps sending 15, meets 429s, retries;
* ``oracle-10`` -- the SDK capped at 10 by hand: what the 10 remaining slots allow.

Goals (issue "Fleet-scale and low-latency throughput"): ≤ 1% of the adaptive client's
requests answered 429, and ≥ 0.9 of the oracle's throughput.

The fleet variant (:func:`run_fleet`) splits the same calls between 2 and 4 worker
processes, each with its own ``MaxxtonClient`` on one ``RedisLimiter(permits=15)`` key (a
fresh key per round: every round starts from 15 and must learn the real cap), against the
same oracle (one process, 10 slots by hand). References: ``local adaptive`` (one process,
``LocalLimiter(15)``), ``redis-10`` × 4 (the fleet capped at 10 by hand, ``adaptive=False``:
what sharing through Redis costs without adapting) and ``redis-fixed`` × 4 (``permits=15``,
``adaptive=False``: what not adapting costs). Throughput is every call of the round over the
time from the common start to the last worker's end. Redis: ``MAXXTON_BENCH_REDIS_URL``,
else ``MAXXTON_TEST_REDIS_URL``, else ``redis://127.0.0.1:6379/15``; the Redis rows are
skipped (with a note) when it does not answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from typing import Any

from ._server import ServerProcess, start_workers

__all__ = ["FLEET_CLIENTS", "run", "run_fleet"]


CLIENTS = ("adaptive", "fixed-15", "oracle-10")


async def _one(server: ServerProcess, client: str, n: int) -> dict[str, Any]:
    from maxxton_async import LocalLimiter, MaxxtonClient, MemoryLedger, RetryPolicy

    limiter = {
        "adaptive": LocalLimiter(15),
        "fixed-15": LocalLimiter(15, adaptive=False),
        "oracle-10": LocalLimiter(10, adaptive=False),
    }[client]
    async with MaxxtonClient(
        server.client_id,
        server.client_secret,
        server.scope,
        base_url=server.base_url,
        ledger=MemoryLedger(),
        limiter=limiter,
        retry=RetryPolicy(max_attempts=8, backoff_base=0.002, backoff_max=0.02),
    ) as c:
        ids = server.customer_ids
        await c.request("GET", f"customers/{ids[0]}")  # token, untimed
        server.reset()
        t0 = time.perf_counter()
        paths = [f"customers/{ids[i % len(ids)]}" for i in range(n)]
        results = await asyncio.gather(
            *(c.request("GET", p) for p in paths), return_exceptions=True
        )
        wall = time.perf_counter() - t0
        st = c.statistics()
    s = server.stats()
    failed = sum(1 for r in results if isinstance(r, BaseException))
    return {
        "failed": failed,
        "rps": (n - failed) / wall,
        "requests": s["requestsTotal"],
        "rejected": s["rejectedInFlight"],
        "effective_cap": st.effective_capacity,
    }


def run(rounds: int = 3, n: int = 3000, latency: float = 0.005) -> dict[str, Any]:
    """Interleaved rounds; medians and ratios to the oracle."""
    raw: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
    with ServerProcess("--size", "demo") as server:
        server.set_faults(latency=latency, foreign_in_flight=5, retry_after=0)
        for r in range(rounds):
            order = CLIENTS[r % 3 :] + CLIENTS[: r % 3]
            for client in order:
                raw[client].append(asyncio.run(_one(server, client, n)))
    oracle = statistics.median(x["rps"] for x in raw["oracle-10"])
    rows = []
    for client in CLIENTS:
        runs = raw[client]
        rps = statistics.median(x["rps"] for x in runs)
        rejected = sum(x["rejected"] for x in runs)
        requests = sum(x["requests"] for x in runs)
        rows.append(
            {
                "client": client,
                "rps": rps,
                "of_oracle": rps / oracle,
                "rps_all": [x["rps"] for x in runs],
                "share_429": rejected / requests if requests else 0.0,
                "effective_cap": runs[-1]["effective_cap"],
                "failed": sum(x["failed"] for x in runs),
            }
        )
    return {"rows": rows, "rounds": rounds, "n": n, "latency_ms": latency * 1e3}


def markdown(result: dict[str, Any]) -> list[str]:
    """The report section."""
    lines = [
        "## Adaptive cap: another tenant holds 5 of the 15 slots",
        "",
        f"`benchmarks/adaptive.py`: {result['n']} calls per round at "
        f"{result['latency_ms']:.0f} ms, {result['rounds']} interleaved rounds, sandbox "
        "refusing over 10 in flight; medians.",
        "",
        "| client | calls/s | × the 10-slot oracle | share of requests answered 429 | calls "
        "failed | cap at end |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['client']} | {r['rps']:.0f} | {r['of_oracle']:.3f} | "
            f"{100 * r['share_429']:.2f}% | {r['failed']} | {r['effective_cap']} |"
        )
    lines.append("")
    return lines


# -- the fleet variant ----------------------------------------------------------------------

#: (label, limiter, processes): ``oracle-10`` is one process with ``LocalLimiter(10)``.
FLEET_CLIENTS: tuple[tuple[str, str, int], ...] = (
    ("oracle-10", "oracle", 1),
    ("local adaptive", "local", 1),
    ("redis × 2", "redis", 2),
    ("redis × 4", "redis", 4),
    ("redis-10 × 4", "redis-10", 4),
    ("redis-fixed × 4", "redis-fixed", 4),
)


def _redis_url() -> str:
    return os.environ.get(
        "MAXXTON_BENCH_REDIS_URL",
        os.environ.get("MAXXTON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    )


async def _work(spec: dict[str, Any]) -> dict[str, Any]:
    """A worker process: one client, ``n`` calls gathered at once from the common start."""
    from maxxton_async import LocalLimiter, MaxxtonClient, MemoryLedger, RedisLimiter, RetryPolicy

    limiter: Any
    kind = spec["limiter"]
    if kind == "oracle":
        limiter = LocalLimiter(10, adaptive=False)
    elif kind == "local":
        limiter = LocalLimiter(15)
    else:
        limiter = RedisLimiter(
            spec["redis_url"],
            10 if kind == "redis-10" else 15,
            key=spec["key"],
            lease=10,
            adaptive=kind == "redis",
        )
    async with MaxxtonClient(
        spec["client_id"],
        spec["client_secret"],
        spec["scope"],
        base_url=spec["base_url"],
        ledger=MemoryLedger(),
        limiter=limiter,
        retry=RetryPolicy(max_attempts=8, backoff_base=0.002, backoff_max=0.02),
    ) as c:
        ids = spec["customer_ids"]
        await c.request("GET", f"customers/{ids[0]}")  # token and connection, untimed
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        start_at = float(line.split()[1])
        await asyncio.sleep(max(start_at - time.time(), 0))
        paths = [f"customers/{ids[i % len(ids)]}" for i in range(spec["n"])]
        results = await asyncio.gather(
            *(c.request("GET", p) for p in paths), return_exceptions=True
        )
        end = time.time()
        st = c.statistics()
    adaptive = getattr(limiter, "adaptive", None)
    return {
        # The fleet's drops for RedisLimiter (its generation, as last seen), this one's
        # for LocalLimiter.
        "drops": adaptive.decreases if adaptive is not None else 0,
        "done": sum(1 for r in results if not isinstance(r, BaseException)),
        "failed": sum(1 for r in results if isinstance(r, BaseException)),
        "end": end,
        "start": start_at,
        "effective_cap": st.effective_capacity,
    }


def _fleet_round(
    server: ServerProcess, limiter: str, procs: int, n: int, redis_client: Any
) -> dict[str, Any]:
    key = f"maxxton-bench:adaptive:{secrets.token_hex(6)}"
    specs = []
    for i in range(procs):
        spec = {
            "limiter": limiter,
            "n": n // procs + (1 if i < n % procs else 0),
            "key": key,
            "redis_url": _redis_url(),
            "base_url": server.base_url,
            "client_id": server.client_id,
            "client_secret": server.client_secret,
            "scope": server.scope,
            "customer_ids": server.customer_ids[:50],
        }
        specs.append(spec)
    children = start_workers("benchmarks.adaptive", specs)
    try:
        server.reset()
        start_at = time.time() + 0.3
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"go {start_at}\n")
            child.stdin.flush()
        outs = [child.communicate(timeout=180) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
        if redis_client is not None:
            for k in redis_client.scan_iter(match=f"{key}*", count=1000):
                redis_client.delete(k)
    results = []
    for child, (out, err) in zip(children, outs, strict=True):
        if child.returncode != 0:
            raise RuntimeError(f"adaptive worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    s = server.stats()
    done = sum(r["done"] for r in results)
    wall = max(r["end"] for r in results) - start_at
    return {
        "rps": done / wall,
        "failed": sum(r["failed"] for r in results),
        "requests": s["requestsTotal"],
        "rejected": s["rejectedInFlight"],
        "peak": s["peakInFlight"],
        "caps": [r["effective_cap"] for r in results],
        "drops": max(r["drops"] for r in results),
    }


def run_fleet(
    rounds: int = 3,
    n: int = 3000,
    latency: float = 0.005,
    clients: tuple[tuple[str, str, int], ...] = FLEET_CLIENTS,
) -> dict[str, Any]:
    """Interleaved rounds of the fleet variant; medians and per-round ratios to the oracle."""
    redis_client: Any = None
    try:
        import redis

        redis_client = redis.Redis.from_url(_redis_url(), socket_connect_timeout=1.0)
        redis_client.ping()
    except Exception:  # no Redis: only the oracle runs, with a note
        redis_client = None
        clients = tuple(c for c in clients if c[1] == "oracle")
    raw: dict[str, list[dict[str, Any]]] = {c[0]: [] for c in clients}
    try:
        with ServerProcess("--size", "demo") as server:
            server.set_faults(latency=latency, foreign_in_flight=5, retry_after=0)
            for r in range(rounds):
                order = clients[r % len(clients) :] + clients[: r % len(clients)]
                for label, limiter, procs in order:
                    raw[label].append(_fleet_round(server, limiter, procs, n, redis_client))
    finally:
        if redis_client is not None:
            redis_client.close()
    oracle = raw["oracle-10"]
    rows = []
    for label, _, procs in clients:
        runs = raw[label]
        ratios = [x["rps"] / o["rps"] for x, o in zip(runs, oracle, strict=True)]
        requests = sum(x["requests"] for x in runs)
        rows.append(
            {
                "client": label,
                "procs": procs,
                "rps": statistics.median(x["rps"] for x in runs),
                "of_oracle": statistics.median(ratios),
                "of_oracle_min": min(ratios),
                "of_oracle_max": max(ratios),
                "share_429": sum(x["rejected"] for x in runs) / requests if requests else 0.0,
                "failed": sum(x["failed"] for x in runs),
                "peak": max(x["peak"] for x in runs),
                "caps": runs[-1]["caps"],
                "drops": statistics.median(x["drops"] for x in runs),
            }
        )
    return {
        "rows": rows,
        "rounds": rounds,
        "n": n,
        "latency_ms": latency * 1e3,
        "redis": redis_client is not None,
    }


def fleet_markdown(result: dict[str, Any]) -> list[str]:
    """The report section of the fleet variant."""
    lines = [
        "## Adaptive cap, fleet-wide: processes sharing one `RedisLimiter` key",
        "",
        f"`benchmarks/adaptive.py` (`run_fleet`): {result['n']} calls per round split between "
        f"the processes, at {result['latency_ms']:.0f} ms, {result['rounds']} interleaved "
        "rounds, sandbox refusing over 10 in flight (another tenant holds 5 of the 15); each "
        "round starts a fresh key (cap 15). Ratios per round against one process capped at "
        "10 by hand (median [min–max]).",
        "",
    ]
    if not result["redis"]:
        lines += ["(No Redis answered: the fleet rows were skipped.)", ""]
    lines += [
        "| client | processes | calls/s | × the 10-slot oracle | share of requests answered "
        "429 | cap drops per round | calls failed | server peak | caps at end |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['client']} | {r['procs']} | {r['rps']:.0f} | {r['of_oracle']:.3f} "
            f"[{r['of_oracle_min']:.3f}–{r['of_oracle_max']:.3f}] | "
            f"{100 * r['share_429']:.2f}% | {r['drops']:g} | {r['failed']} | {r['peak']} | "
            f"{', '.join(str(c) for c in r['caps'])} |"
        )
    lines.append("")
    return lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        print(json.dumps(asyncio.run(_work(json.loads(sys.argv[2])))), flush=True)
    elif sys.argv[1:2] == ["fleet"]:
        print("\n".join(fleet_markdown(run_fleet())))
    else:
        print("\n".join(markdown(run())))
