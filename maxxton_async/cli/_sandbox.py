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
from ._common import CLIError, Option, add_options, float_range, int_range

__all__ = ["register"]

_ADMIN = (
    "Admin endpoints (never counted, limited or faulted): GET /_sandbox/stats, "
    'GET|POST /_sandbox/faults, POST /_sandbox/reset, /_sandbox/mutate {"n": 5}, '
    '/_sandbox/webhooks, /_sandbox/revoke, /_sandbox/clock {"advance": seconds}; '
    "unknown keys are refused with 400."
)

# The fault knobs: each flag's dest is the name of the Faults knob it sets.
_FAULT_OPTIONS = (
    Option("--latency", float_range(0), 0.0, "SECONDS", "seconds added to every request"),
    Option(
        "--jitter", float_range(0), 0.0, "SECONDS", "extra random latency, up to this many seconds"
    ),
    Option(
        "--error-rate",
        float_range(0, 1),
        0.0,
        "SHARE",
        "share of requests answered with a 5xx, 0 to 1",
    ),
    Option("--rate-limit-burst", int_range(0), 0, "N", "answer the first N requests 429"),
    Option(
        "--drop-rate",
        float_range(0, 1),
        0.0,
        "SHARE",
        "share of connections closed without an answer, 0 to 1",
    ),
    Option(
        "--malformed-rate",
        float_range(0, 1),
        0.0,
        "SHARE",
        "share of 200 answers with broken JSON, 0 to 1",
    ),
    Option(
        "--slow-body-delay",
        float_range(0),
        0.0,
        "SECONDS",
        "stream bodies in chunks with this pause between them",
    ),
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
    add_options(
        p,
        *_FAULT_OPTIONS,
        Option("--token-ttl", int_range(1), 3600, "SECONDS", "expires_in of issued tokens"),
        Option(
            "--max-in-flight",
            int_range(1),
            15,
            "N",
            "concurrent requests allowed per client IP; the next one is refused with 429",
        ),
    )
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault dice")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the sandbox and serve until Ctrl-C or SIGTERM; returns the exit code (0)."""
    faults = Faults()
    faults.update(seed=args.fault_seed, **{o.dest: getattr(args, o.dest) for o in _FAULT_OPTIONS})
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
