"""A sandbox in its own process, for benchmarks: ``python -m benchmarks._serve [options]``.

The server must not share the measured client's event loop or CPU accounting, so benchmarks
start it with :class:`benchmarks._server.ServerProcess`, which runs this module. It listens on
a free loopback port, prints one JSON line (``base_url``, credentials, a few customer ids),
then serves until its stdin closes or it is terminated; knobs are set over the sandbox's
admin endpoints (``/_sandbox/faults``, ``/_sandbox/stats``, ``/_sandbox/reset``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Literal

from maxxton_async.sandbox import Sandbox, SandboxSize


async def _serve(args: argparse.Namespace) -> None:
    size: Literal["demo", "large"] | SandboxSize = "large" if args.size == "large" else "demo"
    if args.accommodation_types or args.availability_days:
        # A harvest-sized dataset: many types and days, few of everything else, so the
        # server starts fast and spends its time answering availability calls.
        size = SandboxSize(
            locations=12,
            accommodation_types=args.accommodation_types or 20,
            units_per_type=6,
            customers=200,
            reservations=100,
            initial_events=100,
            availability_days=args.availability_days or 365,
        )
    sb = Sandbox(args.seed, size, latency=args.latency, max_page_size=args.max_page_size)
    async with sb:
        info = {
            "base_url": sb.base_url,
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "scope": sb.scope,
            "customer_ids": sorted(sb.data.customers)[:200],
            "resource_ids": sorted(sb.data.accommodation_types),
            "start_date": sb.data.start_date.isoformat(),
            "availability_days": sb.data.size.availability_days,
        }
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        # Serve until the parent closes our stdin (it also terminates us; this is the
        # belt to that pair of braces, so no server outlives its benchmark).
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    """Parse the options and serve."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", choices=("demo", "large"), default="demo")
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--accommodation-types", type=int, default=0)
    p.add_argument("--availability-days", type=int, default=0)
    p.add_argument("--max-page-size", type=int, default=2000)
    asyncio.run(_serve(p.parse_args()))


if __name__ == "__main__":
    main()
