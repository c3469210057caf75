"""``maxxton-async sandbox``: run the local Maxxton server until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import sys
from typing import Any

from ..sandbox import Faults, Sandbox

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``sandbox`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sandbox",
        help="run a local Maxxton API sandbox (deterministic data, 15-per-IP cap, fault knobs)",
        description="Run a local Maxxton REST API v2 sandbox until Ctrl-C. Admin endpoints: "
        "GET /_sandbox/stats, POST /_sandbox/faults, /_sandbox/reset, /_sandbox/mutate, "
        "/_sandbox/webhooks, /_sandbox/revoke, /_sandbox/clock.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", choices=("demo", "large"), default="demo")
    p.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        default=None,
        help="first arrival date of the availability window (YYYY-MM-DD)",
    )
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--jitter", type=float, default=0.0, help="extra random latency, up to N s")
    p.add_argument("--error-rate", type=float, default=0.0, help="share of 5xx answers")
    p.add_argument(
        "--rate-limit-burst", type=int, default=0, help="answer the first N requests 429"
    )
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of dropped connections")
    p.add_argument(
        "--malformed-rate", type=float, default=0.0, help="share of 200 answers with broken JSON"
    )
    p.add_argument(
        "--slow-body-delay",
        type=float,
        default=0.0,
        help="stream bodies in chunks with this pause (s)",
    )
    p.add_argument("--token-ttl", type=int, default=3600, help="expires_in of tokens (s)")
    p.add_argument(
        "--max-in-flight", type=int, default=15, help="concurrent requests allowed per client IP"
    )
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault dice")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the sandbox and serve until interrupted; returns the exit code."""
    faults = Faults()
    faults.update(
        latency=args.latency,
        jitter=args.jitter,
        error_rate=args.error_rate,
        rate_limit_burst=args.rate_limit_burst,
        drop_rate=args.drop_rate,
        malformed_rate=args.malformed_rate,
        slow_body_delay=args.slow_body_delay,
        seed=args.fault_seed,
    )
    sb = Sandbox(
        args.seed,
        args.size,
        host=args.host,
        port=args.port,
        token_ttl=args.token_ttl,
        max_in_flight_per_ip=args.max_in_flight,
        start_date=args.start_date,
        faults=faults,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sb))
    return 0


async def _serve(sb: Sandbox) -> None:
    async with sb:
        out = sys.stdout
        out.write(
            f"Maxxton sandbox at {sb.base_url}/maxxton/v2 (seed {sb.data.seed})\n"
            f"  client_id     {sb.client_id}\n"
            f"  client_secret {sb.client_secret}\n"
            f"  scope         {sb.scope}\n"
            f"  restricted    {sb.restricted_client_id} (same secret; masked customer fields)\n"
            f"  stats         {sb.base_url}/_sandbox/stats\n"
            "Ctrl-C to stop.\n"
        )
        out.flush()
        await asyncio.Event().wait()
