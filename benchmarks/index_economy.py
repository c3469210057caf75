"""Call economy of a fresh availability and price index (issue 14), against the sandbox.

A portfolio of 300 accommodation types (267 bookable: the generator archives every ninth)
over 12 months of arrivals (365 days, 13 windows of 30 days), 7-night stays (the call counts
do not depend on the number of durations: one call carries them all):

* **full harvest**, calls per mode: portfolio (one ``POST`` per window for every type) and
  per-type (one ``GET`` per type and window), counted by the client and by the sandbox;
* **staying fresh for a day**: the index sync following the events after the full harvest,
  at a stated event rate, for several pass intervals, against a nightly per-type re-harvest
  of the same range (what keeping an index fresh cost before: 24 h old at worst);
* **time to reflect a change**: how long one pass takes from the change to the index
  (measured), so a change shows after at most interval + pass, against 24 h + a harvest.

The stated event rate: 650 AVAILABILITY_EVENTs a day for the portfolio (about two bookings per
bookable type and day that change its free units, plus 100 price or offer changes), spread
evenly; each names one type picked at random. Passes are measured (a few per interval, every
one with changes, as at this rate every pass of 15 minutes or more has some), then scaled to
a day. Token calls are counted as the sandbox's token lifetime (3,600 s) makes them: one per
pass when passes are further apart than that, else one an hour.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["EVENTS_PER_DAY", "INTERVALS_H", "run"]

EVENTS_PER_DAY = 650
INTERVALS_H = (0.25, 1.0, 2.0, 3.0, 4.0)
TOKEN_TTL_S = 3600
_TYPES = 300
_DAYS = 365
_DURATIONS = (7,)


def run(quick: bool = False) -> dict[str, Any]:
    """Measure; ``quick`` measures one pass per interval instead of three."""
    return asyncio.run(_run(passes=1 if quick else 3))


def _harvest(client: Any, sb: Any, **kwargs: Any) -> Any:
    from maxxton_async.harvest import Harvest

    start = sb.data.start_date
    return Harvest(
        client,
        arrival_from=start,
        arrival_to=start + dt.timedelta(days=_DAYS - 1),
        durations=_DURATIONS,
        channel_code="WEB",
        **kwargs,
    )


def _change(sb: Any, rng: random.Random, n: int) -> None:
    """``n`` availability changes (a booking or a new price), each with its event."""
    data = sb.data
    bookable = [r for r, t in data.accommodation_types.items() if not t["archived"]]
    for _ in range(n):
        rid = rng.choice(bookable)
        data.resource_config[rid].revision += 1
        data.add_event("AVAILABILITY_EVENT", rid, "ACCOMMODATIONTYPE", "UPDATE", sb.state.utcnow())


def _availability_calls(sb: Any) -> int:
    path = "/maxxton/v2/accommodationtypes/availability"
    return sum(len(sb.statistics().requests_to(f"{m} {path}")) for m in ("GET", "POST"))


async def _run(passes: int) -> dict[str, Any]:
    from maxxton_async import IndexSync
    from maxxton_async.harvest import SQLitePriceIndex
    from maxxton_async.sandbox import Sandbox, SandboxSize

    size = SandboxSize(
        locations=12,
        accommodation_types=_TYPES,
        units_per_type=4,
        distribution_channels=3,
        offers=12,
        owners=50,
        customers=200,
        reservations=200,
        initial_events=100,
        availability_days=_DAYS,
    )
    out: dict[str, Any] = {"types": _TYPES, "days": _DAYS, "events_per_day": EVENTS_PER_DAY}
    rng = random.Random(14)
    with tempfile.TemporaryDirectory(prefix="maxxton-index-bench-") as tmp:
        async with Sandbox(seed=7, size=size) as sb:
            out["bookable_types"] = sum(
                1 for t in sb.data.accommodation_types.values() if not t["archived"]
            )
            full: dict[str, dict[str, Any]] = {}
            for mode in ("portfolio", "per-type"):
                sb.reset_stats()
                index = SQLitePriceIndex(Path(tmp) / f"{mode}.sqlite")
                async with sb.client() as client:
                    job = _harvest(client, sb, mode=mode)
                    t0 = time.perf_counter()
                    result = await job.run(index)
                    elapsed = time.perf_counter() - t0
                await index.aclose()
                full[mode] = {
                    "windows": result.plan.windows,
                    "availability_calls": _availability_calls(sb),
                    "calls": result.calls,
                    "server_requests": sb.statistics().requests_total,
                    "records": result.records,
                    "seconds": elapsed,
                }
            out["full"] = full
            nightly = full["per-type"]["calls"]
            out["nightly_per_type_calls"] = nightly

            # Freshness from events, on the portfolio index.
            index = SQLitePriceIndex(Path(tmp) / "portfolio.sqlite")
            rows = []
            for refresh in ("auto", "per-type"):
                for hours in INTERVALS_H:
                    async with sb.client() as client:
                        sync = IndexSync(
                            _harvest(client, sb, mode="portfolio"), index, refresh=refresh
                        )
                        await sync.sync_once()  # the mark; today's harvest is already done
                        per_pass = round(EVENTS_PER_DAY * hours / 24)
                        calls: list[int] = []
                        seconds: list[float] = []
                        changed: list[int] = []
                        for _ in range(passes):
                            _change(sb, rng, per_pass)
                            t0 = time.perf_counter()
                            the_pass = await sync.sync_once()
                            seconds.append(time.perf_counter() - t0)
                            calls.append(the_pass.calls)
                            changed.append(len(the_pass.changed))
                        await sync.aclose()
                    passes_day = 24 / hours
                    tokens_day = min(passes_day, 86400 / TOKEN_TTL_S)
                    per_day = statistics.mean(calls) * passes_day + tokens_day
                    pass_s = statistics.median(seconds)
                    rows.append(
                        {
                            "refresh": refresh,
                            "interval_h": hours,
                            "events_per_pass": per_pass,
                            "types_changed_per_pass": statistics.mean(changed),
                            "calls_per_pass": statistics.mean(calls),
                            "calls_per_day": per_day,
                            "fewer_than_nightly": nightly / per_day,
                            "pass_s": pass_s,
                            "worst_staleness_h": hours + pass_s / 3600,
                            "fresher_than_nightly": (24 + full["per-type"]["seconds"] / 3600)
                            / (hours + pass_s / 3600),
                        }
                    )
            out["sync"] = rows
            # The index still equals the sandbox after all those passes.
            want = {}
            start = sb.data.start_date
            for rid in sb.data.accommodation_types:
                for day in range(_DAYS):
                    arrival = start + dt.timedelta(days=day)
                    rec = sb.data.availability(rid, arrival, 7)
                    if rec is not None:
                        want[(rid, arrival, 7)] = min(p["price"] for p in rec["prices"])
            got = {(r, a, d): p for r, a, d, p in await index.stays()}
            out["index_matches_sandbox"] = got == want

            # Time to reflect one change (one type, refreshed alone).
            async with sb.client() as client:
                sync = IndexSync(_harvest(client, sb, mode="portfolio"), index)
                await sync.sync_once()
                one: list[float] = []
                for _ in range(passes + 2):
                    _change(sb, rng, 1)
                    t0 = time.perf_counter()
                    await sync.sync_once()
                    one.append(time.perf_counter() - t0)
                await sync.aclose()
            await index.aclose()
            out["reflect_one_change_s"] = statistics.median(one)
    return out


def markdown(r: dict[str, Any]) -> list[str]:
    """The section of ``results.md``."""
    full = r["full"]
    p, t = full["portfolio"], full["per-type"]
    lines = [
        "## Index call economy",
        "",
        f"`benchmarks/index_economy.py`, against the in-process sandbox: {r['types']} "
        f"accommodation types ({r['bookable_types']} bookable) × {r['days']} days of arrivals "
        f"({p['windows']} windows of 30 days), 7-night stays.",
        "",
        "| full harvest | availability calls | all calls (token, type list) | records | seconds |",
        "|---|---:|---:|---:|---:|",
        f"| portfolio (`POST` per window) | {p['availability_calls']:,} | {p['calls']:,} | "
        f"{p['records']:,} | {p['seconds']:.1f} |",
        f"| per-type (`GET` per type and window) | {t['availability_calls']:,} | "
        f"{t['calls']:,} | {t['records']:,} | {t['seconds']:.1f} |",
        "",
        f"Portfolio: **{p['calls']} calls = windows + {p['calls'] - p['windows']}**, "
        f"**{t['calls'] / p['calls']:.0f}× fewer** than per-type.",
        "",
        f"Staying fresh for a day at {r['events_per_day']} AVAILABILITY_EVENTs a day, against "
        f"a nightly per-type re-harvest ({r['nightly_per_type_calls']:,} calls a day, up to "
        "24 h stale). Calls per pass measured, scaled to a day, token calls included:",
        "",
        "| refresh | pass every | events / pass | types changed | calls / pass | "
        "calls / day | fewer calls than nightly | worst staleness | fresher than nightly |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["sync"]:
        lines.append(
            f"| {row['refresh']} | {row['interval_h']:g} h | {row['events_per_pass']} | "
            f"{row['types_changed_per_pass']:.0f} | {row['calls_per_pass']:.0f} | "
            f"{row['calls_per_day']:,.0f} | **{row['fewer_than_nightly']:.1f}×** | "
            f"{row['worst_staleness_h']:.2f} h | {row['fresher_than_nightly']:.0f}× |"
        )
    lines += [
        "",
        f"After every pass above the index still equals the sandbox's availability: "
        f"{'yes' if r['index_matches_sandbox'] else 'NO'}. One change (one type re-fetched "
        f"alone) reaches the index {r['reflect_one_change_s'] * 1000:.0f} ms after the pass "
        "starts.",
        "",
    ]
    return lines


if __name__ == "__main__":  # pragma: no cover
    import json

    result = run(quick=True)
    print(json.dumps(result, indent=2, default=str))
    print("\n".join(markdown(result)))
