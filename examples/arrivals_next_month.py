"""Reservations arriving next month, with their customers' names.

    python examples/arrivals_next_month.py          # against a local sandbox
    python examples/arrivals_next_month.py --real   # against MAXXTON_* credentials (see below)

Two steps, whatever the number of reservations: the reservations list filtered on
``arrivalDate`` (pages fetched concurrently after the first), then every customer in batches
with ``client.customers.get_many`` (``filter=customerId:[…]``, up to 200 ids a call), which
answers one :class:`~maxxton_async.Found` (the customer in ``.value``) or
:class:`~maxxton_async.Missing` (deleted, merged away or hidden from this API user) per id.

``--real`` builds the client from ``MAXXTON_CLIENT_ID``, ``MAXXTON_CLIENT_SECRET``,
``MAXXTON_SCOPE`` and ``MAXXTON_ENVIRONMENT`` (default ``test``, the free acceptance host).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import date

from maxxton_async import F, Found, MaxxtonClient
from maxxton_async.testing import sandbox


@dataclass(frozen=True)
class Arrival:
    """One reservation arriving in the month."""

    reservation_id: int
    arrival: date
    nights: int | None
    status: str | None
    customer: str
    """``"First Last"``, or ``"(customer N not found)"``."""


def next_month(today: date) -> tuple[date, date]:
    """The first day of the month after ``today``'s, and the first day of the one after."""
    start = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start, end


async def arrivals_next_month(client: MaxxtonClient, today: date) -> list[Arrival]:
    """Every reservation arriving in the month after ``today``'s, by arrival date."""
    start, end = next_month(today)
    # Repeated filters AND (guide, Filtering): arrivalDate >: start AND arrivalDate < end.
    reservations = [
        r
        async for r in client.reservations.iterate(
            filter=[F("arrivalDate") >= start, F("arrivalDate") < end],
            sort="arrivalDate,asc",
            page_size=200,
        )
    ]
    customer_ids = {r.customer_id for r in reservations if r.customer_id is not None}
    names: dict[int, str] = {}
    for outcome in await client.customers.get_many(sorted(customer_ids)):
        if isinstance(outcome, Found):
            names[outcome.id] = f"{outcome.value.first_name} {outcome.value.last_name}"
        # else: Missing -- the id is in outcome.id; the reservation keeps its number
    return [
        Arrival(
            reservation_id=r.reservation_id,
            arrival=r.arrival_date or start,
            nights=r.duration,
            status=r.status_value,
            customer=names.get(r.customer_id or 0, f"(customer {r.customer_id} not found)"),
        )
        for r in reservations
    ]


def show(arrivals: list[Arrival]) -> None:
    for a in arrivals:
        nights = f"{a.nights or '?':>2} nights"
        print(f"{a.arrival}  {nights}  #{a.reservation_id}  {a.status}  {a.customer}")
    print(f"{len(arrivals)} reservations arriving next month")


async def main(today: date | None = None, *, real: bool = False) -> list[Arrival]:
    """Run against a sandbox whose data starts next month (or the real API), print, return."""
    today = today or date.today()
    if real:
        async with MaxxtonClient() as client:
            arrivals = await arrivals_next_month(client, today)
    else:
        start, _ = next_month(today)
        async with sandbox(seed=1, start_date=start) as sb, sb.client() as client:
            arrivals = await arrivals_next_month(client, today)
    show(arrivals)
    return arrivals


if __name__ == "__main__":
    asyncio.run(main(real="--real" in sys.argv[1:]))
