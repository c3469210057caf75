"""``maxxton-async usage``: what the ledger has counted, with a bar chart of recent days."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from .._speed import run as run_fast
from .._usage import Budget, DayUsage, Ledger, Usage, UsageSnapshot
from ._common import CLIError, UsageError, existing_file, int_range

__all__ = ["register"]

_BAR_WIDTH = 40


def register(subparsers: Any) -> None:
    """Add the ``usage`` subcommand."""
    parser = subparsers.add_parser(
        "usage",
        help="show requests counted today and this month, free allowance left, projection",
        description="Report what the usage ledger counted: today, this month, the free "
        "allowance left (25,000 a day, 750,000 a month in production), the month-end "
        "projection and the last N days as a bar chart. It only reads: no call is made, "
        "nothing is billed, and a missing ledger file is reported, never created.",
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument(
        "--db",
        type=existing_file,
        metavar="PATH",
        help="SQLite ledger file, which must exist (default: the SDK's own, "
        "$MAXXTON_USAGE_DB or ~/.cache/maxxton-async/usage.sqlite3)",
    )
    store.add_argument("--redis", metavar="URL", help="Redis ledger, e.g. redis://host:6379/0")
    parser.add_argument("--prefix", default="maxxton:usage", help="Redis key prefix")
    parser.add_argument("--scope", help="concern to report (default: every one found)")
    parser.add_argument(
        "--environment",
        choices=("test", "production"),
        help="environment to report (default: every one found)",
    )
    parser.add_argument(
        "--days", type=int_range(1, 3660), default=30, metavar="N", help="days of history"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the report; exit code 0, or 1 when nothing was found."""
    if not args.redis and args.db is None:
        from .._sqlite import default_usage_path

        default = default_usage_path()
        if not default.is_file():  # opening it would create it (and report nothing)
            raise CLIError(
                f"no usage ledger at {default}: nothing has been counted on this machine yet "
                "(pass --db or --redis to read another ledger)"
            )
    reports = run_fast(_collect(args))
    if not reports:
        print("No usage recorded" + (f" for scope {args.scope!r}" if args.scope else "") + ".")
        return 1
    try:
        from rich.console import Console
    except ImportError:
        for snap, days in reports:
            print(_plain(snap, days))
    else:
        console = Console()
        for snap, days in reports:
            _rich(console, snap, days)
    return 0


def _open(args: argparse.Namespace) -> Ledger:
    if args.redis:
        try:
            from .._redis import RedisLedger
        except ImportError:
            raise UsageError(
                "--redis needs the redis extra: pip install 'maxxton-async[redis]'"
            ) from None

        return RedisLedger(args.redis, prefix=args.prefix)
    from .._sqlite import SQLiteLedger

    return SQLiteLedger(args.db)


async def _collect(args: argparse.Namespace) -> list[tuple[UsageSnapshot, list[DayUsage]]]:
    ledger = _open(args)
    try:
        pairs: list[tuple[str, str]] = await ledger.scopes()  # type: ignore[attr-defined]
        if args.scope:
            pairs = [p for p in pairs if p[0] == args.scope] or [
                (args.scope, args.environment or "production")
            ]
        if args.environment:
            pairs = [p for p in pairs if p[1] == args.environment]
        now = datetime.now(UTC)
        out = []
        for scope, environment in pairs:
            usage = Usage(
                ledger, scope=scope, environment=environment, budget=Budget(), clock=lambda: now
            )
            out.append((await usage.snapshot(), await usage.history(args.days)))
        return out
    finally:
        await ledger.aclose()


def _summary(s: UsageSnapshot) -> list[tuple[str, str]]:
    rows = [
        ("today", f"{s.today:,}"),
        ("this month", f"{s.month:,}"),
        ("free left today", f"{s.free_left_today:,}"),
        ("free left this month", f"{s.free_left_month:,}"),
        ("projected month", f"{s.projected_month:,}"),
        ("projected overage", f"{s.projected_overage:,}"),
        ("peak in flight", str(s.peak_in_flight)),
    ]
    if not s.billed:
        rows.append(("billed", "no (acceptance is free under fair use)"))
    return rows


def _bar(n: int, top: int) -> str:
    return "█" * (round(n * _BAR_WIDTH / top) if top else 0)


def _plain(s: UsageSnapshot, days: list[DayUsage]) -> str:
    lines = [f"scope {s.scope}, environment {s.environment}"]
    lines += [f"  {k:<22}{v}" for k, v in _summary(s)]
    top = max((d.total for d in days), default=0)
    lines.append(f"  {'day':<12}{'calls':>9}{'retries':>9}{'tokens':>8}{'total':>9}")
    for d in days:
        lines.append(
            f"  {d.day.isoformat():<12}{d.calls:>9,}{d.retries:>9,}{d.tokens:>8,}"
            f"{d.total:>9,} {_bar(d.total, top)}"
        )
    return "\n".join(lines)


def _rich(console: Any, s: UsageSnapshot, days: list[DayUsage]) -> None:
    from rich.table import Table

    summary = Table(title=f"Maxxton usage: scope {s.scope}, {s.environment}", show_header=False)
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    for k, v in _summary(s):
        summary.add_row(k, v)
    console.print(summary)
    top = max((d.total for d in days), default=0)
    table = Table(title=f"last {len(days)} days (UTC)")
    for name in ("day", "calls", "retries", "tokens", "total"):
        table.add_column(name, justify="left" if name == "day" else "right")
    table.add_column("")
    for d in days:
        table.add_row(
            d.day.isoformat(),
            f"{d.calls:,}",
            f"{d.retries:,}",
            f"{d.tokens:,}",
            f"{d.total:,}",
            f"[cyan]{_bar(d.total, top)}[/cyan]",
        )
    console.print(table)
