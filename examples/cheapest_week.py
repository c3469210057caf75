"""Harvest three months of availability into a SQLite price index, then find the cheapest week.

    python examples/cheapest_week.py [INDEX.sqlite]     # against a local sandbox
    python examples/cheapest_week.py INDEX.sqlite --real

The harvest asks ``/maxxton/v2/accommodationtypes/availability`` for every accommodation type
and arrival window (guide, Reservation Flow, option 2), states its cost before the first
call, and writes each window in one transaction, so a rerun on the same file fetches only
what is missing. The index is plain SQLite: table ``stay`` has one row per bookable stay
(``resource_id``, ``arrival_date``, ``duration``, ``min_price``, ...) and ``price`` every
price of it (one row per rate type and offer). The cheapest week is one query.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from maxxton_async import Found, Harvest, MaxxtonClient, SQLitePriceIndex
from maxxton_async.testing import sandbox

CHEAPEST_WEEK_SQL = """
SELECT resource_id, arrival_date, min_price, currency_code
FROM stay
WHERE duration = 7 AND min_price IS NOT NULL
ORDER BY min_price, arrival_date, resource_id
LIMIT 1
"""


@dataclass(frozen=True)
class Week:
    """The cheapest 7-night stay in the index."""

    resource_id: int
    name: str
    arrival: date
    price: float
    currency: str | None


async def harvest_three_months(
    client: MaxxtonClient, index_path: Path, start: date, channel_code: str
) -> None:
    """Fill ``index_path`` with 7-night stays arriving in the 3 months from ``start``."""
    harvest = Harvest(
        client,
        arrival_from=start,
        arrival_to=start + timedelta(days=90) - timedelta(days=1),
        durations=[7],
        channel_code=channel_code,
    )
    plan = await harvest.plan()
    print(plan.describe())  # what it will spend, before anything is sent
    result = await harvest.run(SQLitePriceIndex(index_path))
    print(f"{result.records} stays in {result.calls} calls")


async def cheapest_week(client: MaxxtonClient, index_path: Path) -> Week | None:
    """The cheapest 7-night stay in the index, with its accommodation type's name."""
    with sqlite3.connect(index_path) as db:
        row = db.execute(CHEAPEST_WEEK_SQL).fetchone()
    if row is None:
        return None
    resource_id, arrival, price, currency = row
    (outcome,) = await client.accommodation_types.get_many([resource_id])
    name = outcome.value.name if isinstance(outcome, Found) else None
    return Week(
        resource_id, name or f"type {resource_id}", date.fromisoformat(arrival), price, currency
    )


async def main(index_path: Path | None = None, *, real: bool = False) -> Week | None:
    """Harvest (sandbox or real API), query the index, print and return the cheapest week."""
    with tempfile.TemporaryDirectory(prefix="cheapest-week-") as tmp:
        path = index_path or Path(tmp) / "prices.sqlite"
        if real:
            async with MaxxtonClient() as client:
                await harvest_three_months(client, path, date.today(), channel_code="WEB")
                week = await cheapest_week(client, path)
        else:
            async with sandbox(seed=1) as sb, sb.client() as client:
                await harvest_three_months(client, path, sb.data.start_date, channel_code="WEB")
                week = await cheapest_week(client, path)
    if week is None:
        print("no 7-night stay is available")
    else:
        print(
            f"cheapest week: {week.name} (type {week.resource_id}), arriving {week.arrival}, "
            f"{week.price:.2f} {week.currency or ''}".rstrip()
        )
    return week


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--real"]
    asyncio.run(main(Path(args[0]) if args else None, real="--real" in sys.argv[1:]))
