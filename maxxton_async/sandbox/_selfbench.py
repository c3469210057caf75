"""How many small requests per second the sandbox serves.

Run: ``python -m maxxton_async.sandbox._selfbench [--duration 3] [--concurrency 32]``.

The sandbox runs in this process; the load comes from a separate process (an aiohttp client with
``concurrency`` kept-alive connections hammering ``GET /maxxton/v2/customers/{id}`` with a valid
token for ``duration`` seconds), so client and server do not share a core's event loop. The
per-IP cap is lifted for the measurement (the load comes from one IP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import aiohttp

__all__ = ["load", "measure"]


async def load(url: str, token: str, concurrency: int, duration: float) -> dict[str, float]:
    """Send GETs to ``url`` from ``concurrency`` workers for ``duration`` s; count the answers."""
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    ok = 0
    failed = 0
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal ok, failed
            while time.perf_counter() < deadline:
                async with session.get(url) as resp:
                    await resp.read()
                    if resp.status == 200:
                        ok += 1
                    else:
                        failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"ok": ok, "failed": failed, "seconds": elapsed, "rps": ok / elapsed}


async def measure(
    duration: float = 3.0, concurrency: int = 32, size: str = "demo"
) -> dict[str, float]:
    """Start a sandbox, load it from a subprocess, return ``{"ok", "failed", "seconds", "rps"}``."""
    from ._server import Sandbox

    async with Sandbox(size="large" if size == "large" else "demo") as sb:
        sb.state.max_in_flight_per_ip = 1_000_000
        answer = sb.state.authenticate(sb.client_id, sb.client_secret, sb.scope)
        assert answer is not None
        customer_id = next(iter(sb.data.customers))
        url = f"{sb.base_url}/maxxton/v2/customers/{customer_id}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "maxxton_async.sandbox._selfbench",
            "--load",
            url,
            answer["access_token"],
            str(concurrency),
            str(duration),
            stdout=subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), duration + 60)
        result: dict[str, float] = json.loads(out)
        result["server_requests"] = sb.statistics().requests_total
        return result


def main(argv: list[str] | None = None) -> int:
    """Command line: measure (default) or, with ``--load``, be the load process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--load", nargs=4, metavar=("URL", "TOKEN", "CONCURRENCY", "SECONDS"))
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    if args.load:
        url, token, conc, secs = args.load
        result = asyncio.run(load(url, token, int(conc), float(secs)))
    else:
        result = asyncio.run(measure(args.duration, args.concurrency))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
