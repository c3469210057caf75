"""``maxxton-async harvest``: fill a price index (SQLite or PostgreSQL) or an NDJSON file,
resumably, and optionally keep it fresh from the events feed (``--follow``).

The plan and its cost are printed before the first harvest call; above ``--confirm-above``
calls, or against production, the command asks before going on (``--yes`` skips the
question; without a terminal it refuses instead of asking). A chunk that keeps failing does
not stop the harvest: it is retried at the end, reported, and fetched by the next run (exit
status 1 while anything is missing); ``--fail-fast`` stops at the first failure instead.

Also holds ``--usage-db`` and the progress bar, shared with ``events sync`` and ``demo``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .._errors import MaxxtonError
from .._harvest_sinks import is_price_index
from .._speed import run as run_fast
from ..harvest import (
    DEFAULT_WINDOW,
    MODES,
    Harvest,
    HarvestPlan,
    HarvestProgress,
    HarvestResult,
    HarvestSink,
    PostgresPriceIndex,
    open_sink,
)
from ..index_sync import IndexPass, IndexSync

# add_usage_db_arg and ledger_from live in _common; still importable from here.
from ._common import add_client_args, add_usage_db_arg, ledger_from, make_client, rich_available

__all__ = ["add_usage_db_arg", "ledger_from", "progress_bar", "register"]


def register(subparsers: Any) -> None:
    """Add the ``harvest`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "harvest",
        help="harvest availability and prices of every accommodation type into an index",
        description="Fetch availability and prices of every accommodation type over an arrival "
        "range into a price index (.sqlite file or postgresql:// URL) or NDJSON (.ndjson). "
        "Portfolio mode (the default) sends one POST /accommodationtypes/availability per "
        "arrival window for every type; per-type mode one GET per type and window. A rerun "
        "on the same day fetches only the chunks not yet finished; --follow then keeps the "
        "index fresh from the events feed.",
    )
    add_client_args(p)
    add_usage_db_arg(p)
    p.add_argument(
        "--resource",
        type=int,
        action="append",
        metavar="ID",
        help="accommodation type resourceId (repeat; implies --mode per-type; default: all)",
    )
    for flag, dest, text in (
        ("--from", "arrival_from", "first arrival date, YYYY-MM-DD"),
        ("--to", "arrival_to", "last arrival date (inclusive), YYYY-MM-DD"),
    ):
        p.add_argument(
            flag, dest=dest, type=dt.date.fromisoformat, required=True, metavar="DATE", help=text
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
        "--out",
        required=True,
        metavar="PATH|URL",
        help="prices.sqlite, postgresql://user@host/db (price index) or prices.ndjson",
    )
    p.add_argument(
        "--schema",
        default="maxxton_index",
        help="PostgreSQL schema of the index (default maxxton_index)",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        help="portfolio: one POST per window for every type (default); per-type: one GET "
        "per type and window (the fallback; the default with --resource)",
    )
    p.add_argument(
        "--implies",
        action="store_true",
        help="also fetch the stays' mandatory costs (one more call per chunk)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        help=f"arrival days per call (default {DEFAULT_WINDOW})",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="fetch everything again, even chunks today's run already finished",
    )
    p.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first failed chunk (default: keep going, retry at the end, report)",
    )
    p.add_argument(
        "--retry-rounds",
        type=int,
        default=1,
        metavar="N",
        help="times failed chunks are tried again at the end (default 1)",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="print the plan (chunks, calls in both modes) and exit without fetching",
    )
    p.add_argument("--yes", action="store_true", help="do not ask before a large harvest")
    p.add_argument(
        "--confirm-above",
        type=int,
        default=1000,
        metavar="CALLS",
        help="ask before a harvest of more calls than this (default 1000; always in production)",
    )
    follow = p.add_argument_group("keeping the index fresh (price indexes only)")
    follow.add_argument(
        "--follow",
        action="store_true",
        help="after the harvest, keep the index fresh from the events feed until interrupted",
    )
    follow.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="event checkpoint file (default: <out>.events next to a SQLite index)",
    )
    follow.add_argument(
        "--interval", type=float, default=300.0, help="seconds between passes (default 300)"
    )
    follow.add_argument(
        "--max-age",
        type=float,
        metavar="SECONDS",
        help="refresh everything older than this, events or not",
    )
    follow.add_argument(
        "--passes", type=int, metavar="N", help="stop after N passes (default: run until stopped)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


@contextmanager
def progress_bar(
    description: str, *, enabled: bool = True
) -> Iterator[Callable[[HarvestProgress], None]]:
    """A rich progress bar on stderr; yields the harvest's progress callback. Without the
    ``cli`` extra, says so once instead of silently drawing nothing."""
    if enabled and not rich_available("no progress bar; the summary is printed at the end"):
        enabled = False
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
            "mode": result.plan.mode,
            "implies": result.plan.implies,
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
        "retried": result.retried,
        "complete": result.complete,
        "peakHeldChunks": result.stats.peak_held_chunks,
        "peakHeldRecords": result.stats.peak_held_records,
    }


def run(args: argparse.Namespace) -> int:
    """Run the harvest; 0 when complete, 1 on an API or budget error or missing chunks, 2 on
    bad input or a refused confirmation."""
    try:
        return run_fast(_run(args))
    except (ValueError, MaxxtonError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) and not isinstance(exc, MaxxtonError) else 1


def _sink(args: argparse.Namespace) -> HarvestSink:
    out = str(args.out)
    if out.startswith(("postgresql://", "postgres://")):
        return PostgresPriceIndex(out, schema=args.schema)
    return open_sink(out)  # checks the extension before any call


def _confirm(args: argparse.Namespace, the_plan: HarvestPlan, production: bool) -> bool:
    """Whether to go on: yes below the threshold outside production, else ask (or refuse)."""
    if args.yes or (the_plan.calls <= args.confirm_above and not production):
        return True
    why = "production is billed" if production else f"more than {args.confirm_above} calls"
    if not sys.stdin.isatty():
        print(
            f"error: this harvest needs confirmation ({why}): {the_plan.calls} calls; "
            "rerun with --yes",
            file=sys.stderr,
        )
        return False
    answer = input(f"{the_plan.calls} calls ({why}). Go on? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _run(args: argparse.Namespace) -> int:
    if args.follow and args.out.endswith((".ndjson", ".jsonl")):
        raise ValueError("--follow keeps a price index fresh: use a .sqlite file or a URL")
    sink = _sink(args)
    try:
        async with make_client(args, ledger=ledger_from(args)) as client:
            with progress_bar("harvest", enabled=not args.json) as on_progress:
                job = Harvest(
                    client,
                    arrival_from=args.arrival_from,
                    arrival_to=args.arrival_to,
                    durations=args.duration,
                    channel_code=args.channel,
                    channel_id=args.channel_id,
                    resource_ids=args.resource,
                    mode=args.mode,
                    implies=args.implies,
                    window=args.window,
                    fail_fast=args.fail_fast,
                    retry_rounds=args.retry_rounds,
                    on_progress=on_progress,
                )
                if args.fresh:
                    forget = getattr(sink, "forget", None)
                    if forget is None:
                        raise ValueError("--fresh needs a price index (.sqlite or a URL)")
                    await forget(job.job)
                await sink.open(job.job)
                the_plan = await job.plan(await sink.finished(job.job))
                print(the_plan.describe(), file=sys.stderr)
                if args.plan:
                    print(the_plan.describe())
                    return 0
                if not _confirm(args, the_plan, client.environment == "production"):
                    return 2
                if args.follow:
                    return await _follow(args, job, sink)
                result = await job.run(sink)
    finally:
        await sink.aclose()
    _print_result(args, result)
    return 0 if result.complete else 1


async def _follow(args: argparse.Namespace, job: Harvest, sink: HarvestSink) -> int:
    if not is_price_index(sink):  # pragma: no cover - refused above
        raise ValueError("--follow needs a price index")
    checkpoint = args.checkpoint
    if checkpoint is None:
        if "://" in args.out:
            raise ValueError("--follow with a database URL needs --checkpoint PATH")
        checkpoint = f"{args.out}.events"

    def report(the_pass: IndexPass) -> None:
        if args.json:
            print(json.dumps(pass_dict(the_pass)), flush=True)
        else:
            print(
                f"pass: {the_pass.events} events, {len(the_pass.changed)} types changed, "
                f"refresh {the_pass.mode or 'none'}, {the_pass.chunks} chunks, "
                f"{the_pass.stays} stays, {the_pass.calls} calls, "
                f"checkpoint {the_pass.position}"
                + ("" if the_pass.committed else f", {len(the_pass.failed)} chunks failed"),
                flush=True,
            )

    async with IndexSync(job, sink, checkpoint, max_age=args.max_age) as sync:
        stats = await sync.run(
            interval=args.interval,
            max_passes=args.passes,
            on_pass=report,
            full_first=args.fresh,
        )
    last = stats.last_pass
    return 0 if last is None or last.committed else 1


def pass_dict(the_pass: IndexPass) -> dict[str, Any]:
    """An index-sync pass as JSON-ready data."""
    return {
        "events": the_pass.events,
        "position": the_pass.position,
        "changed": list(the_pass.changed),
        "stale": list(the_pass.stale),
        "full": the_pass.full,
        "mode": the_pass.mode,
        "chunks": the_pass.chunks,
        "stays": the_pass.stays,
        "calls": the_pass.calls,
        "failed": [{"chunk": c.key, "error": e} for c, e in the_pass.failed],
        "committed": the_pass.committed,
    }


def _print_result(args: argparse.Namespace, result: HarvestResult) -> None:
    if args.json:
        print(json.dumps(result_dict(result)))
        return
    print(result.plan.describe())
    print(
        f"harvested {result.chunks_done} chunks, {result.records} records with "
        f"{result.calls} calls in {result.elapsed:.2f}s "
        f"({result.records_per_second:.0f} records/s) into {_shown(args.out)}"
    )
    if result.retried:
        print(f"{result.retried} chunks failed first and were fetched by the retry round")
    for chunk, error in result.failed:
        print(f"missing {chunk.key}: {error} (the next run fetches it)")


def _shown(out: str) -> str:
    """``out`` without a password (a database URL may carry one)."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", out)
