"""``maxxton-async bench``: call throughput against any host, for measuring one's own setup.

``max_in_flight`` workers each send one call at a time until ``--requests`` calls are done,
so every call finds a free slot and its latency is the wire's, not a queue's. Prints req/s,
the peak in flight, p50/p95 latency and the calls spent (token call and retries included).

Every call to production (``api.maxxton.net``) is billed, so against a production host the
command prints the plan and its cost and asks first; where no terminal can be asked it
refuses unless ``--yes`` (or its older name ``--i-understand-this-is-billed``) is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Any

from .._client import MaxxtonClient
from .._errors import MaxxtonError
from .._speed import run as run_fast
from .._usage import Ledger, MemoryLedger
from ._common import (
    MAX_IN_FLIGHT,
    PRODUCTION_HOSTS,
    UsageError,
    add_client_args,
    add_yes_arg,
    confirm_production,
    cost_text,
    int_range,
    is_production,
    make_client,
)

__all__ = ["PRODUCTION_HOSTS", "BenchResult", "bench", "is_production", "register"]

#: An upper bound on ``--requests``: the loop is bounded, and a typo must not spend a month.
MAX_REQUESTS = 1_000_000
#: The highest ``--max-in-flight`` off production (a sandbox or proxy may allow more).
MAX_WORKERS = 1000
BILLED_FLAG = "--i-understand-this-is-billed"


@dataclass(frozen=True, slots=True)
class BenchResult:
    """What one benchmark run measured.

    Attributes:
        url: the URL called (without the query string).
        requests: calls attempted in the timed part.
        failed: of which failed (after the client's retries).
        seconds: wall time of the timed part.
        rps: successful calls per second.
        peak_in_flight: the most calls on the wire at once.
        p50_ms, p95_ms: latency percentiles of the calls, in milliseconds.
        calls_spent: HTTP attempts sent, the token call and retries included.
        token_calls: authenticate calls among them.
        retries: retried attempts among them.
        first_error: the first failure's message, if any.
    """

    url: str
    requests: int
    failed: int
    seconds: float
    rps: float
    peak_in_flight: int
    p50_ms: float
    p95_ms: float
    calls_spent: int
    token_calls: int
    retries: int
    first_error: str | None


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure call throughput against a host (sandbox, acceptance, production)",
        description="Send --requests GETs with --max-in-flight workers and report req/s, peak "
        "in flight, p50/p95 latency and calls spent. Credentials default to "
        "$MAXXTON_CLIENT_ID, $MAXXTON_CLIENT_SECRET and $MAXXTON_SCOPE. Production calls are "
        "billed: against a production host the plan and its cost are shown and confirmed "
        "first (--yes where no terminal can be asked).",
    )
    add_client_args(
        p,
        max_in_flight_help=f"concurrent calls: 1 to {MAX_WORKERS} (a sandbox or proxy may "
        f"allow more than the server's {MAX_IN_FLIGHT}; production: at most {MAX_IN_FLIGHT})",
        max_in_flight_max=MAX_WORKERS,
    )
    p.add_argument(
        "--requests",
        type=int_range(1, MAX_REQUESTS),
        default=500,
        metavar="N",
        help=f"calls to time, 1 to {MAX_REQUESTS:,}",
    )
    p.add_argument(
        "--path",
        default="/maxxton/v2/customers?size=1",
        help="GET path, query string allowed",
    )
    p.add_argument(
        "--ledger",
        choices=("sqlite", "memory"),
        default="sqlite",
        help="count calls in the SDK's SQLite ledger or in memory only",
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_yes_arg(p, BILLED_FLAG)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the options, confirm production, run and print; the exit code.

    0 when every call succeeded; 1 when some failed (the report says how many).
    """
    production = is_production(args.environment, args.base_url)
    if production and args.max_in_flight > MAX_IN_FLIGHT:
        raise UsageError(
            f"--max-in-flight {args.max_in_flight} against production: the server allows "
            f"{MAX_IN_FLIGHT} per IP and refuses the rest with 429, billed all the same"
        )
    ledger: Ledger | None = MemoryLedger() if args.ledger == "memory" else None
    client = make_client(args, ledger=ledger)
    path, params = _split_path(args.path)
    result = run_fast(_run(client, args, path, params, production=production))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(_format(result, args.max_in_flight, client.environment))
    return 0 if result.failed == 0 else 1


async def _run(
    client: MaxxtonClient,
    args: argparse.Namespace,
    path: str,
    params: list[tuple[str, str]],
    *,
    production: bool,
) -> BenchResult:
    if production:
        # Before the first billed call, the token call included; the ledger is local.
        try:
            snapshot = await client.usage.snapshot()
            plan = (
                f"Plan: {args.requests:,} GETs of {client.base_url}{args.path} with "
                f"{args.max_in_flight} in flight, plus 1 token call (retries come on top).\n"
                + cost_text(f"{args.requests + 1:,} calls", snapshot)
            )
            confirm_production(plan, yes=args.yes, flag=f"--yes (or {BILLED_FLAG})")
        except BaseException:
            await client.aclose()
            raise
    return await bench(client, path, params, requests=args.requests)


def _split_path(raw: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urllib.parse.urlsplit(raw)
    return parts.path, urllib.parse.parse_qsl(parts.query, keep_blank_values=True)


async def bench(
    client: MaxxtonClient, path: str, params: list[tuple[str, str]], *, requests: int
) -> BenchResult:
    """Time ``requests`` GETs of ``path`` through ``client``; closes the client.

    The token is fetched first, outside the timed part (it still counts as a call spent).
    """
    async with client:
        await client.tokens.token()
        latencies: list[float] = []
        failed = 0
        first_error: str | None = None
        remaining = requests

        async def worker() -> None:
            nonlocal remaining, failed, first_error
            while remaining > 0:  # bounded: each pass takes one of ``requests`` calls
                remaining -= 1
                t0 = time.perf_counter()
                try:
                    await client.request("GET", path, params=params)
                except MaxxtonError as exc:
                    failed += 1
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
                    continue
                latencies.append(time.perf_counter() - t0)

        workers = min(client.limiter.capacity, requests)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        seconds = time.perf_counter() - started
        stats = client.statistics()
    return BenchResult(
        url=client.base_url + path,
        requests=requests,
        failed=failed,
        seconds=seconds,
        rps=len(latencies) / seconds if seconds > 0 else 0.0,
        peak_in_flight=stats.peak_in_flight,
        p50_ms=_percentile(latencies, 50) * 1e3,
        p95_ms=_percentile(latencies, 95) * 1e3,
        calls_spent=stats.requests_sent,
        token_calls=stats.token_calls,
        retries=stats.retries,
        first_error=first_error,
    )


def _percentile(values: list[float], pct: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    # quantiles(n=100) gives the 1st..99th percentile cut points.
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _format(r: BenchResult, max_in_flight: int, environment: str) -> str:
    billed = "billed" if environment == "production" else "not billed"
    lines = [
        f"maxxton-async bench: {r.requests} GETs of {r.url}, max_in_flight {max_in_flight}",
        f"  throughput      {r.rps:,.1f} req/s ({r.seconds:.3f} s)",
        f"  peak in flight  {r.peak_in_flight}",
        f"  latency         p50 {r.p50_ms:.1f} ms, p95 {r.p95_ms:.1f} ms",
        f"  calls spent     {r.calls_spent} (token calls {r.token_calls}, retries {r.retries};"
        f" {environment}: {billed})",
    ]
    if r.failed:
        lines.append(f"  failed          {r.failed} (first: {r.first_error})")
    return "\n".join(lines)
