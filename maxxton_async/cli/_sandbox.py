"""``maxxton-async sandbox``: run the local Maxxton server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import errno
import signal
import sys
from typing import Any

from ..sandbox import Faults, Sandbox
from ._common import CLIError, float_range, int_range

__all__ = ["register"]

_ADMIN = (
    "Admin endpoints (never counted, limited or faulted): GET /_sandbox/stats, "
    'GET|POST /_sandbox/faults, POST /_sandbox/reset, /_sandbox/mutate {"n": 5}, '
    '/_sandbox/webhooks, /_sandbox/revoke, /_sandbox/clock {"advance": seconds}; '
    "unknown keys are refused with 400."
)


def register(subparsers: Any) -> None:
    """Add the ``sandbox`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sandbox",
        help="run a local Maxxton API sandbox (deterministic data, 15-per-IP cap, fault knobs)",
        description="Run a local Maxxton REST API v2 sandbox until Ctrl-C or SIGTERM (exit "
        "code 0). The banner prints the URL to pass as --base-url and the credentials to use; "
        "the API is under /maxxton/v2 of that URL. No call to it is billed. " + _ADMIN,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument(
        "--port",
        type=int_range(0, 65535),
        default=8080,
        help="port to listen on; 0 picks a free one (the banner shows it)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    p.add_argument(
        "--size",
        choices=("demo", "large"),
        default="demo",
        help="dataset size: demo (small, instant) or large (100,000 events, more of all)",
    )
    p.add_argument(
        "--start-date",
        type=dt.date.fromisoformat,
        default=None,
        metavar="DATE",
        help="first arrival date of the availability window, YYYY-MM-DD (default: 2027-01-01)",
    )
    p.add_argument(
        "--latency",
        type=float_range(0),
        default=0.0,
        metavar="SECONDS",
        help="seconds added to every request",
    )
    p.add_argument(
        "--jitter",
        type=float_range(0),
        default=0.0,
        metavar="SECONDS",
        help="extra random latency, up to this many seconds",
    )
    p.add_argument(
        "--error-rate",
        type=float_range(0, 1),
        default=0.0,
        metavar="SHARE",
        help="share of requests answered with a 5xx, 0 to 1",
    )
    p.add_argument(
        "--rate-limit-burst",
        type=int_range(0),
        default=0,
        metavar="N",
        help="answer the first N requests 429",
    )
    p.add_argument(
        "--drop-rate",
        type=float_range(0, 1),
        default=0.0,
        metavar="SHARE",
        help="share of connections closed without an answer, 0 to 1",
    )
    p.add_argument(
        "--malformed-rate",
        type=float_range(0, 1),
        default=0.0,
        metavar="SHARE",
        help="share of 200 answers with broken JSON, 0 to 1",
    )
    p.add_argument(
        "--slow-body-delay",
        type=float_range(0),
        default=0.0,
        metavar="SECONDS",
        help="stream bodies in chunks with this pause between them",
    )
    p.add_argument(
        "--token-ttl",
        type=int_range(1),
        default=3600,
        metavar="SECONDS",
        help="expires_in of issued tokens",
    )
    p.add_argument(
        "--max-in-flight",
        type=int_range(1),
        default=15,
        metavar="N",
        help="concurrent requests allowed per client IP; the next one is refused with 429",
    )
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault dice")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the sandbox and serve until Ctrl-C or SIGTERM; returns the exit code (0)."""
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
    # Ctrl-C is how a sandbox is stopped: not a failure. Where the loop takes no signal
    # handlers (Windows) it arrives as KeyboardInterrupt instead.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sb))
    print("sandbox stopped", file=sys.stderr)
    return 0


def banner(sb: Sandbox) -> str:
    """What the sandbox prints on start: a URL that works as ``--base-url``, credentials."""
    url = sb.base_url  # the host root: the SDK adds /maxxton/v2 itself
    for wildcard, loopback in (("0.0.0.0", "127.0.0.1"), ("[::]", "[::1]")):
        url = url.replace(f"//{wildcard}:", f"//{loopback}:")
    return (
        f"Maxxton sandbox at {url} (seed {sb.data.seed}; API under {url}/maxxton/v2)\n"
        f"  base_url      {url}\n"
        f"  client_id     {sb.client_id}\n"
        f"  client_secret {sb.client_secret}\n"
        f"  scope         {sb.scope}\n"
        f"  restricted    {sb.restricted_client_id} (same secret; masked customer fields)\n"
        f"  stats         {url}/_sandbox/stats\n"
        f"Try: maxxton-async events sync --base-url {url} --client-id {sb.client_id} "
        f"--client-secret {sb.client_secret} --scope {sb.scope} "
        "--checkpoint events.sqlite --once\n"
        "Ctrl-C to stop.\n"
    )


async def _serve(sb: Sandbox) -> None:
    try:
        await sb.start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CLIError(
                f"port {sb.port} on {sb.host} is already in use: stop what listens there, or "
                "pick another --port (--port 0 picks a free one)"
            ) from None
        raise CLIError(f"cannot listen on {sb.host}:{sb.port}: {exc.strerror or exc}") from None
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        sys.stdout.write(banner(sb))
        sys.stdout.flush()
        await stop.wait()
    finally:
        await sb.stop()
