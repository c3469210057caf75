"""``maxxton-async events sync``: poll the events feed and refresh changes in batches."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from .._errors import MaxxtonError
from ..events import EventBatch, EventSync, SyncStats
from ._common import add_client_args, make_client
from ._harvest import add_usage_db_arg, ledger_from

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
        "until Ctrl-C (the batch in hand is finished first).",
    )
    add_client_args(s)
    add_usage_db_arg(s)
    s.add_argument("--checkpoint", required=True, metavar="FILE", help="SQLite checkpoint file")
    s.add_argument("--name", default="events", help="cursor name in the checkpoint file")
    s.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    s.add_argument("--once", action="store_true", help="one pass, then exit")
    s.add_argument("--batch-size", type=int, default=500, help="events per batch")
    s.add_argument(
        "--from-latest",
        action="store_true",
        help="on a new checkpoint, skip the history: start at the newest event",
    )
    s.add_argument("--json", action="store_true", help="one JSON line per batch and at the end")
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
    """Run the sync; 0 on success, 1 on an API error."""
    try:
        return asyncio.run(_run(args))
    except MaxxtonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace) -> int:
    async with (
        make_client(args, usage=ledger_from(args)) as client,
        EventSync(client, args.checkpoint, name=args.name, batch_size=args.batch_size) as sync,
    ):
        if args.from_latest and await sync.position() is None:
            await sync.start_at_latest()
        loop = asyncio.get_running_loop()
        # Ctrl-C / SIGTERM: finish and commit the batch in hand, then stop. Where the loop
        # cannot take signal handlers (Windows: NotImplementedError; not the main thread:
        # RuntimeError) Ctrl-C falls back to KeyboardInterrupt, and the uncommitted batch
        # is re-delivered on the next run (at least once).
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, sync.stop)

        def handle(batch: EventBatch) -> None:
            if args.json:
                print(json.dumps(batch_dict(batch)), flush=True)
                return
            types = ", ".join(f"{c.event_type}:{len(c.ids)}" for c in batch.changes)
            removed = sum(len(c.removed) for c in batch.changes)
            print(
                f"events ..{batch.position}: {len(batch.events)} events, "
                f"{batch.refresh_calls} refresh calls (per event: {batch.per_event_calls}), "
                f"{removed} removed; {types}",
                flush=True,
            )

        try:
            stats = await sync.run(
                handle, interval=args.interval, max_passes=1 if args.once else None
            )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        position = await sync.position()
    if stats.failed_passes:
        # cron and CI trust exit codes: a pass that failed is not a success.
        print(
            f"error: {stats.failed_passes} pass(es) failed; last: {stats.last_error}",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps({"summary": stats_dict(stats), "checkpoint": position}))
    else:
        print(
            f"{stats.events} events in {stats.batches} batches; {stats.refresh_calls} refresh "
            f"calls instead of {stats.per_event_calls} (saved {stats.calls_saved}); "
            f"checkpoint {position}"
        )
    return 1 if stats.failed_passes else 0
