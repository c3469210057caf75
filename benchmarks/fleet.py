"""The fleet run: 1, 2 and 4 processes sharing 15 slots, ``LocalLimiter`` against ``RedisLimiter``.

Every configuration runs against one counting aiohttp server on loopback, in its own process,
that sleeps ``latency`` per request (2 ms and 20 ms) and counts what it sees: requests in
flight (the peak must stay ≤ 15) and requests per worker process. Configurations:

* ``local`` × 1 -- the baseline: one process, ``LocalLimiter(15)``;
* ``local`` × 2, × 4 -- a fixed split of the 15 with no Redis (8/7, 4/4/4/3): what a fleet
  gets without sharing, the bar a shared limiter should beat;
* ``redis`` × 1, × 2, × 4 -- every process with ``RedisLimiter(permits=15)`` on one key.

Each worker process runs 30 tasks that loop acquire → GET → decode (msgspec) → release for a
fixed window that starts at the same instant in every worker (a ``go`` line on stdin), so
the share of each process is comparable; the window opens after every worker has run for
half a second (the first process to start briefly holds every permit). Per configuration:
req/s over the window, client CPU per request (``time.process_time`` of every worker,
summed, over every request), Redis' own CPU per request (``INFO cpu``), the server's peak
in flight, and each process's share of the calls (its deviation from an equal share).
Rounds interleave configurations and
latencies in a rotating order; the report gives medians and each ratio's spread over rounds,
against ``local`` × 1 at the same latency.

Run ``python -m benchmarks fleet`` (writes ``benchmarks/fleet.md``) or as part of
``python -m benchmarks``. Redis: ``MAXXTON_BENCH_REDIS_URL``, else ``MAXXTON_TEST_REDIS_URL``,
else ``redis://127.0.0.1:6379/15``; the Redis rows are skipped (with a note) when it does not
answer. Every loop is bounded; every child has a timeout and is reaped.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._server import start_workers

__all__ = ["CONFIGS", "GOALS", "run"]

ROOT = Path(__file__).resolve().parents[1]  # children run ``-m benchmarks.fleet`` from here
CAP = 15
TASKS = 30  # per worker process: always more callers than slots
SETTLE = 0.5  # seconds every process runs before the measured window opens
CONFIGS: tuple[tuple[str, int], ...] = (
    ("local", 1),
    ("local", 2),
    ("local", 4),
    ("redis", 1),
    ("redis", 2),
    ("redis", 4),
)
#: Issue 16's goals for 4 processes sharing 15 through Redis, against local × 1.
GOALS = {"rps_2ms": 0.8, "rps_20ms": 0.97, "cpu": 1.5, "share": 0.20}


def _redis_url() -> str:
    return os.environ.get(
        "MAXXTON_BENCH_REDIS_URL",
        os.environ.get("MAXXTON_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    )


# -- the server (child process) -------------------------------------------------------------


async def _serve() -> None:
    from aiohttp import web

    state: dict[str, Any] = {"latency": 0.002, "in_flight": 0, "peak": 0, "total": 0, "by": {}}
    body = json.dumps({"id": 1, "name": "x" * 64, "ok": True}).encode()

    async def handle(request: web.Request) -> web.Response:
        state["in_flight"] += 1
        state["total"] += 1
        state["peak"] = max(state["peak"], state["in_flight"])
        worker = request.headers.get("X-Worker", "?")
        state["by"][worker] = state["by"].get(worker, 0) + 1
        try:
            await asyncio.sleep(state["latency"])
        finally:
            state["in_flight"] -= 1
        return web.Response(body=body, content_type="application/json")

    async def admin(request: web.Request) -> web.Response:
        data = await request.json()
        if "latency" in data:
            state["latency"] = float(data["latency"])
        out = {k: state[k] for k in ("peak", "total", "by")}
        if data.get("reset"):
            state.update(peak=0, total=0, by={})
        return web.json_response(out)

    app = web.Application()
    app.router.add_get("/r", handle)
    app.router.add_post("/_admin", admin)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sys.stdout.write(json.dumps({"base_url": f"http://127.0.0.1:{runner.addresses[0][1]}"}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await runner.cleanup()


# -- a worker (child process) ---------------------------------------------------------------


async def _work(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp
    import msgspec

    from maxxton_async import LocalLimiter

    limiter: Any
    if spec["limiter"] == "redis":
        from maxxton_async import RedisLimiter

        # Defaults unless set for an experiment (MAXXTON_BENCH_HANDOFF="limit,seconds").
        knobs = os.environ.get("MAXXTON_BENCH_HANDOFF")
        extra: dict[str, Any] = {}
        if knobs:
            limit, hold = knobs.split(",")
            extra = {"handoff_limit": int(limit), "handoff_time": float(hold)}
        limiter = RedisLimiter(spec["redis_url"], CAP, key=spec["key"], **extra)
    else:
        limiter = LocalLimiter(spec["cap"])
    decode = msgspec.json.decode
    acquire = getattr(limiter, "acquire", None)
    url = spec["base_url"] + "/r"
    headers = {"X-Worker": str(spec["worker"])}
    done = 0
    deadline = float("inf")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def call() -> None:
            if acquire is None:  # a limiter from before the acquire/release protocol
                async with limiter.slot(), session.get(url, headers=headers) as resp:
                    decode(await resp.read())
                return
            permit = await acquire()
            try:
                async with session.get(url, headers=headers) as resp:
                    decode(await resp.read())
            finally:
                limiter.release(permit)

        async def loop_calls() -> None:
            nonlocal done
            for _ in range(1_000_000):  # bounded; the deadline ends it long before
                if time.monotonic() >= deadline:
                    return
                await call()
                done += 1

        await asyncio.gather(*(call() for _ in range(2 * CAP)))  # warm-up: connections, Redis
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        start_at, seconds = (float(x) for x in line.split()[1:3])
        await asyncio.sleep(max(start_at - time.time(), 0))
        deadline = time.monotonic() + SETTLE + seconds
        tasks = [asyncio.create_task(loop_calls()) for _ in range(TASKS)]
        # Measure once every process is busy: the first to start briefly has every permit.
        await asyncio.sleep(SETTLE)
        t0 = time.monotonic()
        n0 = done
        profile = spec.get("profile")
        if profile:  # profiling only: the figures are then not comparable
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        cpu0 = time.process_time()
        await asyncio.sleep(max(deadline - time.monotonic(), 0))
        n, cpu, wall = done - n0, time.process_time() - cpu0, time.monotonic() - t0
        if profile:
            prof.disable()
            prof.dump_stats(profile)
        await asyncio.gather(*tasks)
    peak = limiter.statistics().peak_in_flight
    await limiter.aclose()
    return {"done": n, "cpu": cpu, "wall": wall, "peak": peak}


# -- the parent -----------------------------------------------------------------------------


class _Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.fleet", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the fleet server exited before listening")
        self.base_url: str = json.loads(line)["base_url"]

    def admin(self, **body: Any) -> dict[str, Any]:
        import urllib.request

        req = urllib.request.Request(
            self.base_url + "/_admin",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            out: dict[str, Any] = json.loads(resp.read())
            return out

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.terminate()  # this very child, by its handle
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _redis_cpu(client: Any) -> float:
    if client is None:
        return 0.0
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _measure(
    server: _Server, kind: str, procs: int, seconds: float, redis_client: Any
) -> dict[str, Any]:
    key = f"maxxton-bench:fleet:{secrets.token_hex(6)}"
    caps = [CAP // procs + (1 if i < CAP % procs else 0) for i in range(procs)]
    specs = [{"limiter": kind, "cap": caps[i], "worker": i, "base_url": server.base_url,
              "redis_url": _redis_url(), "key": key} for i in range(procs)]  # fmt: skip
    children = start_workers("benchmarks.fleet", specs)
    try:
        server.admin(reset=True)
        cpu_redis0 = _redis_cpu(redis_client) if kind == "redis" else 0.0
        start_at = time.time() + 0.3
        for c in children:
            assert c.stdin is not None
            c.stdin.write(f"go {start_at} {seconds}\n")
            c.stdin.flush()
        outs = [c.communicate(timeout=seconds + 120) for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait(timeout=10)
        if redis_client is not None and kind == "redis":
            for k in redis_client.scan_iter(match=f"{key}*", count=1000):
                redis_client.delete(k)
    cpu_redis = _redis_cpu(redis_client) - cpu_redis0 if kind == "redis" else 0.0
    st = server.admin()
    results = []
    for c, (out, err) in zip(children, outs, strict=True):
        if c.returncode != 0:
            raise RuntimeError(f"fleet worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    done = sum(r["done"] for r in results)
    wall = statistics.mean(r["wall"] for r in results)
    shares = [r["done"] / done * procs for r in results] if done else [0.0] * procs
    return {
        "rps": done / wall,
        "cpu_us": sum(r["cpu"] for r in results) / max(done, 1) * 1e6,
        "redis_cpu_us": cpu_redis / max(done, 1) * 1e6,
        "shares": shares,  # each process's share × procs: 1.0 is an equal share
        "share_dev": max(abs(s - 1.0) for s in shares),
        "server_peak": st["peak"],
        "local_peaks": [r["peak"] for r in results],
    }


def _redis_client() -> Any:
    try:
        import redis

        client = redis.Redis.from_url(_redis_url(), socket_connect_timeout=1.0)
        client.ping()
    except Exception:  # no Redis: the Redis rows are skipped with a note
        return None
    return client


def run(
    rounds: int = 3,
    latencies: tuple[float, ...] = (0.002, 0.02),
    seconds: float = 2.0,
    configs: tuple[tuple[str, int], ...] = CONFIGS,
) -> dict[str, Any]:
    """Interleaved rounds of every configuration at every latency; medians and ratios."""
    redis_client = _redis_client()
    if redis_client is None:
        configs = tuple(c for c in configs if c[0] != "redis")
    raw: dict[tuple[float, str, int], list[dict[str, Any]]] = {}
    server = _Server()
    try:
        for r in range(rounds):
            for latency in latencies:
                server.admin(latency=latency)
                order = configs[r % len(configs) :] + configs[: r % len(configs)]
                for kind, procs in order:
                    m = _measure(server, kind, procs, seconds, redis_client)
                    raw.setdefault((latency, kind, procs), []).append(m)
    finally:
        server.close()
        if redis_client is not None:
            redis_client.close()
    rows = []
    for latency in latencies:
        base = raw[(latency, "local", 1)]
        for kind, procs in configs:
            runs = raw[(latency, kind, procs)]
            # Per-round ratios against the baseline of the same round: the spread says how
            # much of a difference is noise on this shared machine.
            ratios = [m["rps"] / b["rps"] for m, b in zip(runs, base, strict=True)]
            cpu_ratios = [m["cpu_us"] / b["cpu_us"] for m, b in zip(runs, base, strict=True)]
            split = raw.get((latency, "local", procs))  # the same processes, no Redis
            # Against the split of the same round: what the Redis limiter itself adds to
            # the cost of running n processes instead of one.
            vs_split = (
                [m["cpu_us"] / b["cpu_us"] for m, b in zip(runs, split, strict=True)]
                if split
                else [float("nan")]
            )
            rows.append(
                {
                    "latency_ms": latency * 1e3,
                    "limiter": kind,
                    "procs": procs,
                    "rps": statistics.median(m["rps"] for m in runs),
                    "ratio": statistics.median(ratios),
                    "ratio_min": min(ratios),
                    "ratio_max": max(ratios),
                    "cpu_us": statistics.median(m["cpu_us"] for m in runs),
                    "cpu_ratio": statistics.median(cpu_ratios),
                    "cpu_ratio_min": min(cpu_ratios),
                    "cpu_ratio_max": max(cpu_ratios),
                    "cpu_vs_split": statistics.median(vs_split),
                    "cpu_vs_split_min": min(vs_split),
                    "cpu_vs_split_max": max(vs_split),
                    "redis_cpu_us": statistics.median(m["redis_cpu_us"] for m in runs),
                    "share_dev": statistics.median(m["share_dev"] for m in runs),
                    "share_dev_max": max(m["share_dev"] for m in runs),
                    "server_peak": max(m["server_peak"] for m in runs),
                }
            )
    return {
        "rows": rows,
        "rounds": rounds,
        "seconds": seconds,
        "redis": redis_client is not None,
        "goals": GOALS,
    }


def markdown(fl: dict[str, Any]) -> list[str]:
    """The fleet section of the report."""
    out = [
        f"{fl['rounds']} interleaved rounds of {fl['seconds']:g} s per configuration (measured "
        f"after {SETTLE:g} s in which every process already runs); each "
        f"worker process runs {TASKS} tasks looping acquire → GET → msgspec decode → release "
        "against one counting aiohttp server on loopback (its own process). Ratios are per "
        "round against one process with `LocalLimiter(15)` at the same latency (median, "
        "[min–max]). `local` × n splits the 15 with no Redis (8/7, 4/4/4/3). Client CPU sums "
        "every worker's; Redis CPU is the server's own (`INFO cpu`). Share deviation: the "
        "largest |share − equal share| / equal share among the processes (median of rounds, "
        "worst round).",
        "",
        "| latency | limiter | processes | req/s | × local×1 | client CPU µs/req | CPU × local×1 "
        "| CPU × local×n | Redis CPU µs/req | share deviation | server peak |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in fl["rows"]:
        out.append(
            f"| {r['latency_ms']:g} ms | {r['limiter']} | {r['procs']} | {r['rps']:.0f} | "
            f"{r['ratio']:.2f} [{r['ratio_min']:.2f}–{r['ratio_max']:.2f}] | "
            f"{r['cpu_us']:.0f} | {r['cpu_ratio']:.2f} | {r['cpu_vs_split']:.2f} | "
            f"{r['redis_cpu_us']:.1f} | "
            f"{r['share_dev']:.0%} ({r['share_dev_max']:.0%}) | {r['server_peak']} |"
        )
    if not fl["redis"]:
        out += ["", "No Redis answered: the `redis` rows were skipped."]
    return out


def targets(fl: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Issue 16's fleet goals for 4 processes on ``RedisLimiter``, with both baselines.

    Every goal is against one process on ``LocalLimiter``. The "(context)" rows split the
    client CPU ratio in two: what running 4 processes costs without Redis (4 processes on
    ``LocalLimiter`` with the same split ÷ 1 process), and what the Redis limiter adds on
    top (4 processes on ``RedisLimiter`` ÷ 4 on ``LocalLimiter``); the product of the two is
    about the goal's ratio.
    """
    rows = {(r["latency_ms"], r["limiter"], r["procs"]): r for r in fl["rows"]}

    def spread(r: dict[str, Any], key: str) -> str:
        return f"{r[key]:.2f} [{r[key + '_min']:.2f}–{r[key + '_max']:.2f}]"

    out: list[tuple[str, str, str, bool]] = []
    for lat, goal in ((2.0, GOALS["rps_2ms"]), (20.0, GOALS["rps_20ms"])):
        r = rows.get((lat, "redis", 4))
        if r is None:
            continue
        split = rows.get((lat, "local", 4))
        what = f"fleet, 4 processes on RedisLimiter, {lat:g} ms:"
        cpu, share = GOALS["cpu"], GOALS["share"]
        out += [
            (f"{what} req/s ÷ 1 process on LocalLimiter", spread(r, "ratio"), f"≥ {goal}",
             r["ratio"] >= goal),
            (f"{what} client CPU/req ÷ 1 process on LocalLimiter", spread(r, "cpu_ratio"),
             f"≤ {cpu}", r["cpu_ratio"] <= cpu),
        ]  # fmt: skip
        if split is not None:
            base = f"(context) 4 processes on LocalLimiter (same split, no Redis), {lat:g} ms:"
            out += [
                (f"{base} req/s ÷ 1 process on LocalLimiter", spread(split, "ratio"), "—",
                 True),
                (f"{base} client CPU/req ÷ 1 process on LocalLimiter (the cost of 4 "
                 "processes)", spread(split, "cpu_ratio"), "—", True),
                (f"(context) {what} client CPU/req ÷ 4 processes on LocalLimiter (what the "
                 "Redis limiter adds)", spread(r, "cpu_vs_split"), "—", True),
            ]  # fmt: skip
        out += [
            (f"{what} worst share deviation", f"{r['share_dev']:.0%}", f"≤ {share:.0%}",
             r["share_dev"] <= share),
            (f"{what} server peak in flight", str(r["server_peak"]), f"≤ {CAP}",
             r["server_peak"] <= CAP),
        ]  # fmt: skip
    return out


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(_serve())
    elif sys.argv[1] == "worker":
        sys.stdout.write(json.dumps(asyncio.run(_work(json.loads(sys.argv[2])))) + "\n")
    else:
        sys.exit(f"unknown mode {sys.argv[1]!r}")
