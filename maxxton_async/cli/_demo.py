"""``maxxton-async demo``: the whole SDK against an in-process sandbox, in seconds.

1. starts a :class:`~maxxton_async.sandbox.Sandbox` on a loopback port;
2. harvests availability of every accommodation type over 90 days into a SQLite price index
   (portfolio mode: one call per 30-day window);
3. lets the sandbox change some data (``sb.mutate(n)``): prices, offers, bookings ...;
4. runs one event-sync pass (history and changes) with batched refreshes;
5. runs one index-sync pass: the AVAILABILITY_EVENTs of those changes make the index re-fetch
   what changed, and the index is checked against the sandbox's own availability;
6. prints the usage report: calls by kind from the usage ledger, peak in flight, token
   calls, and the sandbox's own counts, which must agree with the client's.

Nothing touches the user's cache: the usage ledger, checkpoint and index live in a temporary
directory unless ``--usage-db`` / ``--out`` say otherwise. Nothing leaves the machine either:
every call goes to the in-process sandbox, so the demo never asks for production consent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from .._client import MaxxtonClient
from .._speed import run as run_fast
from .._sqlite import SQLiteLedger
from ..events import EventSync
from ..harvest import Harvest, SQLitePriceIndex
from ..index_sync import IndexSync
from ..sandbox import Sandbox
from ._common import (
    Option,
    add_options,
    file_in_existing_dir,
    float_range,
    int_range,
    rich_available,
)
from ._harvest import progress_bar

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="harvest + event sync + index sync + usage report against an in-process sandbox",
        description="Start a local sandbox, harvest 90 days of availability for every "
        "accommodation type into a SQLite price index, let the sandbox change data, run one "
        "event-sync pass and one index-sync pass (the index kept fresh by events), and print "
        "the usage report. Needs no credentials or network.",
    )
    p.add_argument(
        "--out",
        type=file_in_existing_dir,
        metavar="PATH",
        help="price index file to keep (default: a temporary one)",
    )
    p.add_argument(
        "--usage-db",
        type=file_in_existing_dir,
        metavar="PATH",
        help="usage ledger file to keep (default: a temporary one, never the SDK's own)",
    )
    p.add_argument("--seed", type=int, default=0, help="sandbox data seed")
    add_options(p, Option("--days", int_range(1, 366), 90, "N", "arrival days to harvest"))
    p.add_argument(
        "--duration",
        type=int_range(1, 365),
        action="append",
        metavar="NIGHTS",
        help="stay lengths (repeat; default: 3, 7 and 14)",
    )
    add_options(
        p,
        Option("--window", int_range(1, 366), 30, "N", "arrival days per call"),
        Option(
            "--mutations",
            int_range(0, 100_000),
            48,
            "N",
            "changes the sandbox makes before the sync (48 includes a MERGE)",
        ),
        Option(
            "--latency",
            float_range(0, 60),
            0.01,
            "SECONDS",
            "seconds the sandbox adds to every request",
        ),
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when the client's and the sandbox's counts agree, else 1."""
    # Without rich: no progress bar and a plain report; said once, not silently.
    fancy = not args.json and rich_available("no progress bar, and a plain-text report")
    args.fancy = fancy
    with tempfile.TemporaryDirectory(prefix="maxxton-demo-") as tmp:
        report = run_fast(demo(args, Path(tmp)))
    if args.json:
        print(json.dumps(report))
    elif fancy:
        _print(report)
    else:
        print(plain_report(report))
    return 0 if report["consistent"] else 1


async def demo(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Run every step and return the report (JSON-ready)."""
    index_path = Path(args.out) if args.out else tmp / "prices.sqlite"
    ledger = SQLiteLedger(args.usage_db or tmp / "usage.sqlite3")
    durations = args.duration or [3, 7, 14]
    async with Sandbox(seed=args.seed, latency=args.latency) as sb:
        channel = min(
            sb.data.distribution_channels.values(), key=lambda c: int(c["distributionChannelId"])
        )
        # environment="test" whatever $MAXXTON_ENVIRONMENT says: these calls go to the
        # sandbox and must not be counted as production ones.
        async with MaxxtonClient(
            sb.client_id,
            sb.client_secret,
            sb.scope,
            environment="test",
            base_url=sb.base_url,
            ledger=ledger,
        ) as client:
            start = sb.data.start_date
            end = start + dt.timedelta(days=args.days - 1)
            index = SQLitePriceIndex(index_path)
            with progress_bar("harvest", enabled=args.fancy) as on_progress:
                job = Harvest(
                    client,
                    arrival_from=start,
                    arrival_to=end,
                    durations=durations,
                    channel_code=channel["code"],
                    window=args.window,
                    on_progress=on_progress,
                )
                result = await job.run(index)
            index_stats = await index.statistics()
            harvest_calls_at_server = _availability_calls(sb)
            # The progress bar counts every call the harvest sent (result.calls): the
            # availability calls of the plan, plus the token call and the listing of the
            # accommodation types (if the mode needed one). The report names both, so the
            # figures agree.
            harvest_other_calls = {
                "token": sb.statistics().token_calls,
                "accommodationTypeList": len(
                    sb.statistics().requests_to("GET /maxxton/v2/accommodationtypes")
                ),
            }
            # The index sync starts where the feed is now: the harvest above is today's job,
            # so its first pass fetches no availability again.
            index_sync = IndexSync(job, index, tmp / "index-events.sqlite")
            await index_sync.sync_once()

            mutations = sb.mutate(args.mutations)
            mutated = {(e["eventType"], e["entityId"]) for e in mutations}
            merges = [e for e in mutations if e["entityAction"] == "MERGE"]
            started = time.monotonic()
            seen: set[tuple[str, int]] = set()
            removed: set[int] = set()
            async with EventSync(client, tmp / "events-checkpoint.sqlite") as sync:
                async for batch in sync.batches():
                    for change in batch.changes:
                        seen.update((change.event_type, i) for i in change.ids)
                        seen.update((change.event_type, i) for i in change.merged.values())
                        removed.update(change.removed)
                position = await sync.position()
                sync_stats = sync.statistics()
            sync_elapsed = time.monotonic() - started

            before = _availability_calls(sb)
            index_pass = await index_sync.sync_once()
            index_refresh_calls = _availability_calls(sb) - before
            index_matches = await _index_matches(sb, index, start, end, durations)
            await index_sync.aclose()
            await index.aclose()

            cs = client.statistics()
            days = await client.usage.history(1)
            snapshot = await client.usage.snapshot()
        today = days[-1]
        server = sb.statistics()
        report: dict[str, Any] = {
            "sandbox": {"baseUrl": sb.base_url, "seed": args.seed},
            "harvest": {
                "channel": channel["code"],
                "arrivalFrom": start.isoformat(),
                "arrivalTo": end.isoformat(),
                "durations": sorted(set(durations)),
                "mode": result.plan.mode,
                "resources": len(result.plan.resource_ids) or _types(sb),
                "chunks": result.plan.total,
                "plannedCalls": result.plan.calls,
                "availabilityCallsAtServer": harvest_calls_at_server,
                "calls": result.calls,
                "otherCalls": harvest_other_calls,
                "records": result.records,
                "elapsed": round(result.elapsed, 3),
                "recordsPerSecond": round(result.records_per_second, 1),
                "index": str(index_path) if args.out else None,
                "indexStays": index_stats.stays,
                "indexPrices": index_stats.prices,
                "peakHeldChunks": result.stats.peak_held_chunks,
            },
            "events": {
                "mutations": len(mutations),
                "merges": len(merges),
                "events": sync_stats.events,
                "batches": sync_stats.batches,
                "checkpoint": position,
                "eventCalls": sync_stats.event_calls,
                "refreshCalls": sync_stats.refresh_calls,
                "perEventCalls": sync_stats.per_event_calls,
                "callsSaved": sync_stats.calls_saved,
                "changedEntities": len(mutated),
                "changedEntitiesSeen": len(mutated & seen),
                "mergedAwayRemoved": sum(1 for e in merges if e["oldEntityId"] in removed),
                "elapsed": round(sync_elapsed, 3),
            },
            "index": {
                "events": index_pass.events,
                "typesChanged": len(index_pass.changed),
                "refresh": index_pass.mode,
                "chunks": index_pass.chunks,
                "stays": index_pass.stays,
                "calls": index_pass.calls,
                "availabilityCalls": index_refresh_calls,
                "eventCalls": index_sync.statistics().calls - index_refresh_calls,
                "checkpoint": index_pass.position,
                "matchesSandbox": index_matches,
                "nightlyPerTypeCalls": result.plan.full_calls("per-type", _types(sb)),
            },
            "usage": {
                "calls": today.calls,
                "retries": today.retries,
                "tokens": today.tokens,
                "total": today.total,
                "month": snapshot.month,
                "peakInFlight": cs.peak_in_flight,
                "requestsSent": cs.requests_sent,
                "tokenCalls": cs.token_calls,
            },
            "server": {
                "requests": server.requests_total,
                "tokenCalls": server.token_calls,
                "peakInFlight": server.peak_in_flight,
                "rejected": server.rejected_in_flight,
                "byEndpoint": dict(sorted(server.per_endpoint.items())),
            },
        }
    report["consistent"] = (
        today.total == cs.requests_sent == server.requests_total
        and cs.token_calls == server.token_calls
        and harvest_calls_at_server == result.plan.calls
        and result.calls == result.plan.calls + sum(harvest_other_calls.values())
        and len(mutated & seen) == len(mutated)
        and index_matches
    )
    return report


def _availability_calls(sb: Sandbox) -> int:
    return sum(
        len(sb.statistics().requests_to(f"{method} /maxxton/v2/accommodationtypes/availability"))
        for method in ("GET", "POST")
    )


def _types(sb: Sandbox) -> int:
    return sum(1 for t in sb.data.accommodation_types.values() if not t["archived"])


async def _index_matches(
    sb: Sandbox, index: SQLitePriceIndex, start: dt.date, end: dt.date, durations: list[int]
) -> bool:
    """Whether the index holds exactly the sandbox's bookable stays, at their prices."""
    want = {}
    for rid in sb.data.accommodation_types:
        day = start
        while day <= end:
            for d in set(durations):
                rec = sb.data.availability(rid, day, d)
                if rec is not None:
                    want[(rid, day, d)] = min(p["price"] for p in rec["prices"])
            day += dt.timedelta(days=1)
    got = {(r, a, d): p for r, a, d, p in await index.stays()}
    return got == want


def _print(report: dict[str, Any]) -> None:
    h, e, u, s = report["harvest"], report["events"], report["usage"], report["server"]
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]Harvest[/]: {h['resources']} accommodation types, {h['arrivalFrom']}.."
        f"{h['arrivalTo']}, durations {h['durations']}, channel {h['channel']}: "
        f"{h['chunks']} chunks, {h['plannedCalls']} availability calls planned, "
        f"{h['availabilityCallsAtServer']} seen by the server; {_harvest_calls(h)}; "
        f"{h['records']} records "
        f"({h['indexStays']} stays, {h['indexPrices']} prices) in {h['elapsed']:.2f}s "
        f"= {h['recordsPerSecond']:.0f} records/s"
    )
    console.print(
        f"[bold]Event sync[/]: {e['mutations']} mutations ({e['merges']} MERGE), "
        f"{e['events']} events in {e['batches']} batches, checkpoint {e['checkpoint']}; "
        f"{e['refreshCalls']} refresh calls instead of {e['perEventCalls']} "
        f"(saved {e['callsSaved']}); changed entities seen "
        f"{e['changedEntitiesSeen']}/{e['changedEntities']}, "
        f"merged-away customers removed {e['mergedAwayRemoved']}/{e['merges']}"
    )
    i = report["index"]
    console.print(
        f"[bold]Index sync[/]: {i['events']} events named {i['typesChanged']} changed types; "
        f"refreshed {i['refresh'] or 'nothing'} with {i['availabilityCalls']} availability "
        f"calls ({i['stays']} stays replaced; a nightly per-type re-harvest costs "
        f"{i['nightlyPerTypeCalls']}); index matches the sandbox: "
        + ("[green]yes[/]" if i["matchesSandbox"] else "[red]NO[/]")
    )
    table = Table(title="Usage")
    table.add_column("figure")
    table.add_column("client", justify="right")
    table.add_column("sandbox", justify="right")
    table.add_row("calls (ledger)", str(u["calls"]), "")
    table.add_row("retries (ledger)", str(u["retries"]), "")
    table.add_row("token calls", str(u["tokenCalls"]), str(s["tokenCalls"]))
    table.add_row("requests", str(u["requestsSent"]), str(s["requests"]))
    table.add_row("ledger total today", str(u["total"]), "")
    table.add_row("peak in flight", str(u["peakInFlight"]), str(s["peakInFlight"]))
    table.add_row("refused (429)", "", str(s["rejected"]))
    console.print(table)
    endpoints = Table(title="Requests by endpoint (sandbox)")
    endpoints.add_column("endpoint")
    endpoints.add_column("requests", justify="right")
    for name, n in s["byEndpoint"].items():
        endpoints.add_row(name, str(n))
    console.print(endpoints)
    verdict = "[green]consistent[/]" if report["consistent"] else "[red]INCONSISTENT[/]"
    console.print(f"client, ledger and sandbox counts: {verdict}")


def _harvest_calls(h: dict[str, Any]) -> str:
    """The harvest's calls in all, as its progress bar counts them, with what they were."""
    other = h["otherCalls"]
    return (
        f"{h['calls']} calls in all (as the progress bar counts them: + {other['token']} "
        f"token call, + {other['accommodationTypeList']} accommodation type listing)"
    )


def plain_report(report: dict[str, Any]) -> str:
    """The report as plain text (when rich, the ``cli`` extra, is not installed)."""
    h, e, u, s = report["harvest"], report["events"], report["usage"], report["server"]
    lines = [
        f"Harvest: {h['resources']} accommodation types, {h['arrivalFrom']}..{h['arrivalTo']}, "
        f"durations {h['durations']}, channel {h['channel']}: {h['chunks']} chunks, "
        f"{h['plannedCalls']} availability calls planned, {h['availabilityCallsAtServer']} "
        f"seen by the server; {_harvest_calls(h)}; {h['records']} records "
        f"({h['indexStays']} stays, {h['indexPrices']} prices) in {h['elapsed']:.2f}s",
        f"Event sync: {e['mutations']} mutations ({e['merges']} MERGE), {e['events']} events "
        f"in {e['batches']} batches, checkpoint {e['checkpoint']}; {e['refreshCalls']} refresh "
        f"calls instead of {e['perEventCalls']} (saved {e['callsSaved']}); changed entities "
        f"seen {e['changedEntitiesSeen']}/{e['changedEntities']}",
        "Usage                client  sandbox",
        f"  token calls        {u['tokenCalls']:>6}  {s['tokenCalls']:>7}",
        f"  requests           {u['requestsSent']:>6}  {s['requests']:>7}",
        f"  ledger total today {u['total']:>6}",
        f"  peak in flight     {u['peakInFlight']:>6}  {s['peakInFlight']:>7}",
        f"  refused (429)      {'':>6}  {s['rejected']:>7}",
        "Requests by endpoint (sandbox)",
        *(f"  {name:<50}{n:>6}" for name, n in s["byEndpoint"].items()),
        "client, ledger and sandbox counts: "
        + ("consistent" if report["consistent"] else "INCONSISTENT"),
    ]
    return "\n".join(lines)
