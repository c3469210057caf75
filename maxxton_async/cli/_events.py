"""``maxxton-async events sync``: poll the events feed and refresh changes in batches."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from .._speed import run as run_fast
from ..events import EventBatch, EventSync, SyncStats
from ._common import (
    ExitCode,
    Option,
    add_client_args,
    add_options,
    add_usage_db_arg,
    add_yes_arg,
    confirm_if_production,
    cost_text,
    file_in_existing_dir,
    float_range,
    int_range,
    ledger_from,
    make_client,
)

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``events`` subcommand (with ``sync``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "events", help="event feed tools (sync)", description="Event feed tools."
    )
    sub = p.add_subparsers(dest="events_command", metavar="ACTION")
    s: argparse.ArgumentParser = sub.add_parser(
        "sync",
        help="poll events after a checkpoint and refresh changed entities in batches",
        description="Read events after the checkpoint (the last processed eventId), refresh "
        "the changed entities through the batch endpoints (filter=reservationId:[...], ...), "
        "then advance the checkpoint. Without --once it polls every --interval seconds "
        "until Ctrl-C or SIGTERM (the batch in hand is finished and committed first; a second "
        "Ctrl-C aborts it). With --once a failed pass exits non-zero; without it a failed "
        "pass is logged and retried after --interval. In production the plan and its cost "
        "are shown and confirmed first.",
    )
    add_client_args(s)
    add_usage_db_arg(s)
    s.add_argument(
        "--checkpoint",
        required=True,
        type=file_in_existing_dir,
        metavar="FILE",
        help="SQLite checkpoint file (created if missing; its directory must exist)",
    )
    s.add_argument("--name", default="events", help="cursor name in the checkpoint file")
    add_options(s, Option("--interval", float_range(0), 30.0, "SECONDS", "seconds between passes"))
    s.add_argument("--once", action="store_true", help="one pass, then exit")
    add_options(s, Option("--batch-size", int_range(1), 500, "N", "events per batch"))
    s.add_argument(
        "--from-latest",
        action="store_true",
        help="on a new checkpoint, skip the history: start at the newest event",
    )
    s.add_argument("--json", action="store_true", help="one JSON line per batch and at the end")
    add_yes_arg(s)
    s.set_defaults(func=run)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def batch_dict(batch: EventBatch) -> dict[str, Any]:
    """A batch summary as JSON-ready data."""
    return {
        "position": batch.position,
        "events": len(batch.events),
        "refreshCalls": batch.refresh_calls,
        "perEventCalls": batch.per_event_calls,
        "groups": [
            {
                "eventType": c.event_type,
                "entityType": c.entity_type,
                "ids": len(c.ids),
                "refreshed": len(c.entities) if c.refreshed else None,
                "removed": c.removed,
                "merged": {str(k): v for k, v in c.merged.items()},
            }
            for c in batch.changes
        ],
    }


def stats_dict(stats: SyncStats) -> dict[str, Any]:
    """Sync counters as JSON-ready data."""
    return {
        "passes": stats.passes,
        "batches": stats.batches,
        "events": stats.events,
        "eventCalls": stats.event_calls,
        "refreshCalls": stats.refresh_calls,
        "perEventCalls": stats.per_event_calls,
        "callsSaved": stats.calls_saved,
        "failedPasses": stats.failed_passes,
    }


def run(args: argparse.Namespace) -> int:
    """Run the sync; the exit code (an exception is mapped by ``cli.main``).

    0 on success or after SIGTERM; 130 after Ctrl-C (the batch in hand committed first).
    """
    return run_fast(_run(args))


def _plan(args: argparse.Namespace, position: int | None) -> str:
    start = (
        f"after event {position}"
        if position is not None
        else "at the newest event (--from-latest; 1 call to find it)"
        if args.from_latest
        else "from the start of the feed"
    )
    passes = "one pass" if args.once else f"a pass every {args.interval:g}s until stopped"
    if args.once:
        calls = "at least 2 calls (the token call and 1 events call)"
    else:
        daily = 86_400 / max(args.interval, 1.0)
        calls = f"at least {daily:,.0f} events calls a day, plus token calls"
    return (
        f"Plan: events sync {start} ({args.checkpoint}, cursor {args.name!r}), {passes}. "
        f"A pass costs 1 events call per {args.batch_size} events (at least 1) and, per "
        "batch, 1 refresh call per changed entity type and page of ids; the token call comes "
        "once per token lifetime.\n" + cost_text(calls)
    )


async def _run(args: argparse.Namespace) -> int:
    async with (
        make_client(args, ledger=ledger_from(args)) as client,
        EventSync(client, args.checkpoint, name=args.name, batch_size=args.batch_size) as sync,
    ):
        # Production: the plan and its cost before the first billed call (the checkpoint
        # is local).
        confirm_if_production(args, _plan(args, await sync.position()))
        if args.from_latest and await sync.position() is None:
            await sync.start_at_latest()
        loop = asyncio.get_running_loop()
        signals: list[int] = []

        def on_signal(sig: int) -> None:
            # The first Ctrl-C / SIGTERM: finish and commit the batch in hand, then stop.
            # The handler is removed, so a second Ctrl-C aborts (KeyboardInterrupt; the
            # uncommitted batch is delivered again next run, at least once).
            signals.append(sig)
            sync.stop()
            loop.remove_signal_handler(sig)
            print("stopping after the batch in hand (Ctrl-C again to abort)", file=sys.stderr)

        # Where the loop cannot take signal handlers (Windows: NotImplementedError; not the
        # main thread: RuntimeError, or ValueError on uvloop) Ctrl-C falls back to
        # KeyboardInterrupt at once.
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal, sig)

        def handle(batch: EventBatch) -> None:
            if args.json:
                print(json.dumps(batch_dict(batch)), flush=True)
                return
            # Groups are keyed by (event type, entity type): show both, or RATE_EVENT for
            # offers and for accommodation types would look like one group listed twice.
            types = ", ".join(
                f"{c.event_type}/{c.entity_type or '-'}:{len(c.ids)}" for c in batch.changes
            )
            removed = sum(len(c.removed) for c in batch.changes)
            print(
                f"events ..{batch.position}: {len(batch.events)} events, "
                f"{batch.refresh_calls} refresh calls (per event: {batch.per_event_calls}), "
                f"{removed} removed; {types}",
                flush=True,
            )

        try:
            if args.once:
                # One pass without run()'s retry loop: a failed pass raises, and cli.main
                # maps it to a non-zero exit code (run() logs it and carries on, as a
                # long-running sync must).
                async with contextlib.aclosing(sync.batches()) as pass_:
                    async for batch in pass_:
                        handle(batch)
                stats = sync.statistics()
            else:
                stats = await sync.run(handle, interval=args.interval)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
        position = await sync.position()
    if args.json:
        print(json.dumps({"summary": stats_dict(stats), "checkpoint": position}))
    else:
        print(
            f"{stats.events} events in {stats.batches} batches; {stats.refresh_calls} refresh "
            f"calls instead of {stats.per_event_calls} (saved {stats.calls_saved}); "
            f"checkpoint {position}"
        )
    if signals and signals[0] == signal.SIGINT:
        print(
            f"maxxton-async events: interrupted; checkpoint {position} holds the last "
            "committed batch, run again to continue",
            file=sys.stderr,
        )
        return ExitCode.INTERRUPTED
    if stats.failed_passes:
        # cron and CI trust exit codes: a pass that failed is not a success.
        print(
            f"maxxton-async events: error: {stats.failed_passes} pass(es) failed; last: "
            + " ".join(str(stats.last_error).split()),
            file=sys.stderr,
        )
        return ExitCode.FAILED
    return ExitCode.OK
