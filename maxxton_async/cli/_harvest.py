"""``maxxton-async harvest``: fill a price index (SQLite) or an NDJSON file, resumably.

Also holds ``--usage-db`` and the progress bar, shared with ``events sync`` and ``demo``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._errors import MaxxtonError
from .._usage import Ledger
from ..harvest import DEFAULT_WINDOW, Harvest, HarvestProgress, HarvestResult, open_sink
from ._common import add_client_args, make_client

__all__ = ["add_usage_db_arg", "ledger_from", "progress_bar", "register"]


def register(subparsers: Any) -> None:
    """Add the ``harvest`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "harvest",
        help="harvest availability and prices of every accommodation type into an index",
        description="Fetch availability and prices (GET /accommodationtypes/availability) for "
        "every accommodation type, or the --resource ones, over an arrival range, split into "
        "windows of at most --window days, into a SQLite price index (.sqlite) or NDJSON "
        "(.ndjson). A rerun of the same harvest fetches only the chunks not yet finished.",
    )
    add_client_args(p)
    add_usage_db_arg(p)
    p.add_argument(
        "--resource",
        type=int,
        action="append",
        metavar="ID",
        help="accommodation type resourceId (repeat; default: all types)",
    )
    p.add_argument(
        "--from",
        dest="arrival_from",
        type=dt.date.fromisoformat,
        required=True,
        metavar="DATE",
        help="first arrival date, YYYY-MM-DD",
    )
    p.add_argument(
        "--to",
        dest="arrival_to",
        type=dt.date.fromisoformat,
        required=True,
        metavar="DATE",
        help="last arrival date (inclusive), YYYY-MM-DD",
    )
    p.add_argument(
        "--duration",
        type=int,
        action="append",
        required=True,
        metavar="NIGHTS",
        help="stay length in nights (repeat for several)",
    )
    channel = p.add_mutually_exclusive_group()
    channel.add_argument("--channel", metavar="CODE", help="distributionChannelCode")
    channel.add_argument("--channel-id", type=int, metavar="ID", help="distributionChannelId")
    p.add_argument(
        "--out", required=True, metavar="PATH", help="prices.sqlite (price index) or prices.ndjson"
    )
    p.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        help=f"arrival days per call (default {DEFAULT_WINDOW})",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="print the plan (chunks, calls) and exit without fetching",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def add_usage_db_arg(p: argparse.ArgumentParser) -> None:
    """``--usage-db``: where the calls are counted."""
    p.add_argument(
        "--usage-db",
        metavar="PATH",
        help="usage ledger file (default: the SDK's, ~/.cache/maxxton-async)",
    )


def ledger_from(args: argparse.Namespace) -> Ledger | None:
    """The ledger named by ``--usage-db``, or ``None`` for the SDK's default."""
    if not args.usage_db:
        return None
    from .._sqlite import SQLiteLedger

    return SQLiteLedger(args.usage_db)


@contextmanager
def progress_bar(
    description: str, *, enabled: bool = True
) -> Iterator[Callable[[HarvestProgress], None]]:
    """A rich progress bar on stderr; yields the harvest's progress callback."""
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:  # pragma: no cover - rich is the cli extra
        enabled = False
    if not enabled:
        yield lambda progress: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[records]} records, {task.fields[calls]} calls"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None, records=0, calls=0)

        def update(progress: HarvestProgress) -> None:
            bar.update(
                task,
                total=progress.chunks_total,
                completed=progress.chunks_done + progress.chunks_failed,
                records=progress.records,
                calls=progress.calls,
            )

        yield update


def result_dict(result: HarvestResult) -> dict[str, Any]:
    """A harvest result as JSON-ready data."""
    return {
        "plan": {
            "resources": len(result.plan.resource_ids),
            "chunks": result.plan.total,
            "skipped": len(result.plan.skipped),
            "calls": result.plan.calls,
            "window": result.plan.window,
            "durations": list(result.plan.durations),
        },
        "chunksDone": result.chunks_done,
        "records": result.records,
        "calls": result.calls,
        "elapsed": round(result.elapsed, 3),
        "recordsPerSecond": round(result.records_per_second, 1),
        "failed": [{"chunk": c.key, "error": e} for c, e in result.failed],
        "peakHeldChunks": result.stats.peak_held_chunks,
        "peakHeldRecords": result.stats.peak_held_records,
    }


def run(args: argparse.Namespace) -> int:
    """Run the harvest; 0 on success, 1 on an API or budget error, 2 on bad input."""
    try:
        return asyncio.run(_run(args))
    except (ValueError, MaxxtonError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) and not isinstance(exc, MaxxtonError) else 1


async def _run(args: argparse.Namespace) -> int:
    sink = open_sink(args.out)  # checks the extension before any call
    async with make_client(args, usage=ledger_from(args)) as client:
        with progress_bar("harvest", enabled=not args.json) as on_progress:
            job = Harvest(
                client,
                arrival_from=args.arrival_from,
                arrival_to=args.arrival_to,
                durations=args.duration,
                channel_code=args.channel,
                channel_id=args.channel_id,
                resource_ids=args.resource,
                window=args.window,
                on_progress=on_progress,
            )
            if args.plan:
                the_plan = await job.plan(await sink.open(job.job))
                await sink.aclose()
                print(the_plan.describe())
                return 0
            result = await job.run(sink)
            await sink.aclose()
    if args.json:
        print(json.dumps(result_dict(result)))
    else:
        print(result.plan.describe())
        print(
            f"harvested {result.chunks_done} chunks, {result.records} records with "
            f"{result.calls} calls in {result.elapsed:.2f}s "
            f"({result.records_per_second:.0f} records/s) into {args.out}"
        )
        for chunk, error in result.failed:
            print(f"failed {chunk.key}: {error}")
    return 0 if not result.failed else 1
