"""Where a harvest puts its records: a price index (SQLite here, PostgreSQL in
``_pg_index``), an NDJSON file, or a callback.

A sink owns resumability, because "the chunk is finished" must be recorded together with
the chunk's records, or a crash in between either loses records or duplicates them:

* :class:`SQLitePriceIndex` writes a chunk's stays, its prices, its mandatory costs and the
  "finished" mark in one transaction that first removes the chunk's old stays (a stay that is
  no longer offered must leave the index);
* :class:`NDJSONSink` appends a chunk's lines, flushes them, then records the chunk and the
  file offset it ends at in a checkpoint store; a rerun first cuts the file back to the
  last recorded offset, so a half-written tail from a crash is never kept twice;
* :class:`CallbackSink` calls your function, then records the chunk in a checkpoint store
  (at-least-once: a crash after your function returned re-delivers that chunk).
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

import msgspec

from ._checkpoint import CheckpointStore, open_checkpoint
from ._sqlite import Connection, immediate
from .models import AvailabilityRecord, ImpliedCost, Price, StayImplies

if TYPE_CHECKING:
    from ._harvest_plan import HarvestChunk

__all__ = [
    "INDEX_TABLES",
    "CallbackSink",
    "ChunkRows",
    "HarvestSink",
    "IndexCore",
    "IndexStats",
    "IndexedStay",
    "NDJSONSink",
    "PriceIndex",
    "SQLitePriceIndex",
    "TypeAge",
    "is_price_index",
    "open_sink",
    "stay_rows",
]


@runtime_checkable
class HarvestSink(Protocol):
    """Receives a harvest's records chunk by chunk and remembers which chunks are done."""

    async def open(self, job: str) -> None:
        """Prepare for ``job`` (an NDJSON file is cut back to its last finished chunk)."""
        ...

    async def finished(self, job: str) -> set[str]:
        """The keys of ``job``'s chunks already finished (a query: changes nothing)."""
        ...

    async def write(self, chunk: HarvestChunk, records: Sequence[AvailabilityRecord]) -> None:
        """Store ``records`` (all of ``chunk``'s) and mark ``chunk`` finished, durably.

        A harvest with ``implies=True`` calls ``write(chunk, records, costs=...)``: a sink
        used for it must take that keyword (every sink of this module does).
        """
        ...

    async def aclose(self) -> None:
        """Flush and release resources. Idempotent."""
        ...


# -- price index: what both backends share ----------------------------------------------------

#: The tables of a price index (SQLite and PostgreSQL alike; docs/price-index.md):
#:
#: ``stay``: one row per bookable stay (guide, Reservation Flow option 2: "populate your own
#: availability and price index"), key ``(resource_id, arrival_date, duration)``: the
#: accommodation type, arrival date and nights; ``departure_date``; ``location_id``,
#: ``accommodation_kind_id``, ``max_capacity``, ``pet_capacity`` as answered; ``units``, the
#: number of free units, and ``unit_ids`` (comma separated); ``min_price`` and
#: ``currency_code`` of the cheapest price; ``implied_total``, the sum of the stay's mandatory
#: costs (``NULL`` when they were never fetched); ``harvested_at``, when the row was written
#: (seconds since the epoch).
#:
#: ``price``: every price of a stay, key ``(resource_id, arrival_date, duration,
#: rate_type_id, offer_id)`` (``offer_id`` 0 is the base price, ``rate_type_id`` 0 unknown):
#: ``offer_code``, ``price``, ``price_inclusive``, ``currency_code``.
#:
#: ``implied_cost``: every mandatory cost of a stay, key ``(resource_id, arrival_date,
#: duration, addon_id)``: ``code``, ``name``, ``price`` (for the whole stay),
#: ``currency_code``.
#:
#: ``harvest_chunk``: finished chunks per harvest job (resume): ``job``, ``chunk`` (the key),
#: ``records``, ``finished_at``.
INDEX_TABLES = ("stay", "price", "implied_cost", "harvest_chunk")


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What a price index holds.

    Attributes:
        stays: bookable (resource, arrival, duration) rows.
        prices: price rows.
        resources: distinct accommodation types with at least one stay.
        chunks: finished chunks recorded (all jobs).
        implied_costs: mandatory-cost rows.
    """

    stays: int
    prices: int
    resources: int
    chunks: int
    implied_costs: int = 0


@dataclass(frozen=True, slots=True)
class IndexedStay:
    """One row of the ``stay`` table, as the query helpers return it.

    Attributes:
        resource_id, arrival_date, duration: the stay's key.
        departure_date: arrival plus the nights.
        location_id, accommodation_kind_id, max_capacity: as the availability call answered.
        units: free units.
        min_price: the cheapest price (``None`` when the stay came without prices).
        currency_code: of ``min_price``.
        implied_total: the sum of the mandatory costs (``None`` when never fetched).
        harvested_at: when the row was written (seconds since the epoch).
    """

    resource_id: int
    arrival_date: date
    duration: int
    departure_date: date
    location_id: int | None
    accommodation_kind_id: int | None
    max_capacity: int | None
    units: int
    min_price: float | None
    currency_code: str | None
    implied_total: float | None
    harvested_at: float

    @property
    def total(self) -> float | None:
        """What a guest pays: the cheapest price plus the mandatory costs (as far as known)."""
        if self.min_price is None:
            return None
        return round(self.min_price + (self.implied_total or 0.0), 2)


@dataclass(frozen=True, slots=True)
class TypeAge:
    """How old one accommodation type's data in the index is.

    Attributes:
        resource_id: the accommodation type.
        stays: its stays in the index.
        oldest: when its oldest stay row was written (seconds since the epoch).
        newest: when its newest stay row was written.
    """

    resource_id: int
    stays: int
    oldest: float
    newest: float

    def age(self, now: float | None = None) -> float:
        """Seconds since the oldest row was written."""
        return (time.time() if now is None else now) - self.oldest


@runtime_checkable
class PriceIndex(Protocol):
    """A price index: a harvest sink with atomic replacement and query helpers
    (:class:`SQLitePriceIndex`, :class:`~maxxton_async.harvest.PostgresPriceIndex`)."""

    async def open(self, job: str) -> None:
        """Prepare for ``job`` (an NDJSON file is cut back to its last finished chunk)."""
        ...

    async def finished(self, job: str) -> set[str]:
        """The keys of ``job``'s chunks already finished (a query: changes nothing)."""
        ...

    async def write(
        self,
        chunk: HarvestChunk,
        records: Sequence[AvailabilityRecord],
        *,
        costs: Sequence[StayImplies] | None = None,
        fetched_at: float | None = None,
    ) -> None:
        """Replace the chunk's stays and mark it finished for the open job."""
        ...

    async def replace(
        self,
        chunk: HarvestChunk,
        records: Sequence[AvailabilityRecord],
        *,
        costs: Sequence[StayImplies] | None = None,
        job: str | None = None,
        fetched_at: float | None = None,
    ) -> None:
        """Atomically replace the stays (prices, costs) of ``chunk``'s type(s), window and
        durations; mark the chunk finished for ``job`` when given; ``fetched_at`` (default
        now) becomes the rows' ``harvested_at``."""
        ...

    async def statistics(self) -> IndexStats:
        """Row counts."""
        ...

    async def stays(
        self, resource_id: int | None = None
    ) -> list[tuple[int, date, int, float | None]]:
        """``(resource_id, arrival, duration, min_price)`` rows, in key order."""
        ...

    async def cheapest(
        self,
        arrival_from: date,
        arrival_to: date,
        duration: int,
        *,
        per_type: int = 1,
        resource_ids: Iterable[int] | None = None,
    ) -> list[IndexedStay]:
        """The cheapest stays per type (by what a guest pays)."""
        ...

    async def availability(
        self,
        resource_id: int,
        arrival_from: date | None = None,
        arrival_to: date | None = None,
        duration: int | None = None,
    ) -> list[IndexedStay]:
        """The stays of one type, by arrival and duration."""
        ...

    async def prices(self, resource_id: int, arrival: date, duration: int) -> list[Price]:
        """Every price of one stay, cheapest first."""
        ...

    async def implied_costs(
        self, resource_id: int, arrival: date, duration: int
    ) -> list[ImpliedCost]:
        """The mandatory costs of one stay."""
        ...

    async def data_age(self) -> list[TypeAge]:
        """How old each type's data is, by ``resource_id``."""
        ...

    async def forget(self, job: str) -> None:
        """Drop the finished-chunk records of ``job``."""
        ...

    async def aclose(self) -> None:
        """Release resources. Idempotent."""
        ...


_PRICE_INDEX_METHODS = tuple(
    name for name, value in vars(PriceIndex).items() if inspect.iscoroutinefunction(value)
)


def is_price_index(sink: object) -> TypeGuard[PriceIndex]:
    """Whether ``sink`` is a :class:`PriceIndex`, a wrapper that forwards to one through
    ``__getattr__`` included. ``isinstance()`` alone differs by Python version: from 3.12
    a runtime protocol looks only at the class's own attributes, so such a wrapper would
    pass for a plain sink (and a harvest would drop its ``fetched_at``)."""
    # The check isinstance() made up to 3.11, through getattr() so __getattr__ counts.
    return all(callable(getattr(sink, name, None)) for name in _PRICE_INDEX_METHODS)


StayRow = tuple[Any, ...]


def stay_rows(
    records: Sequence[AvailabilityRecord],
    costs: Sequence[StayImplies] | None,
    now: float,
) -> tuple[list[StayRow], list[StayRow], list[StayRow]]:
    """The ``stay``, ``price`` and ``implied_cost`` rows of one chunk, dates as
    :class:`~datetime.date`, duplicates dropped (last wins: an upsert may touch a row once).
    Stay rows end with ``implied_total`` (from ``costs``, else ``None``) and ``harvested_at``."""
    totals: dict[tuple[int, date, int], float] = {}
    cost_rows: dict[tuple[int, date, int, int], StayRow] = {}
    for item in costs or ():
        if item.undecoded:  # costs in an unknown shape: unknown, not zero
            continue
        key3 = (item.resource_id, item.arrival_date, item.duration)
        totals[key3] = item.total
        for c in item.implies:
            cost_rows[(*key3, c.addon_id)] = (
                *key3,
                c.addon_id,
                c.code,
                c.name,
                c.price,
                c.currency_code,
            )
    stays: dict[tuple[int, date, int], StayRow] = {}
    prices: dict[tuple[int, date, int, int, int], StayRow] = {}
    for r in records:
        key = (r.resource_id, r.arrival_date, r.duration)
        cheapest = min(r.prices, key=lambda p: p.price, default=None)
        stays[key] = (
            *key,
            r.departure_date,
            r.location_id,
            r.accommodation_kind_id,
            r.max_capacity,
            r.pet_capacity,
            len(r.units),
            ",".join(str(u.unit_id) for u in r.units),
            None if cheapest is None else cheapest.price,
            None if cheapest is None else cheapest.currency_code,
            totals.get(key),
            now,
        )
        for p in r.prices:
            pkey = (*key, p.rate_type_id or 0, p.offer_id or 0)
            prices[pkey] = (*pkey, p.offer_code, p.price, p.price_inclusive, p.currency_code)
    return list(stays.values()), list(prices.values()), list(cost_rows.values())


# -- SQLite price index ------------------------------------------------------------------

_INDEX_SCHEMA = """
-- One row per bookable stay (guide, Reservation Flow option 2: "populate your own
-- availability and price index"), keyed by accommodation type, arrival and duration.
CREATE TABLE IF NOT EXISTS stay (
    resource_id INTEGER NOT NULL,
    arrival_date TEXT NOT NULL,
    duration INTEGER NOT NULL,
    departure_date TEXT NOT NULL,
    location_id INTEGER,
    accommodation_kind_id INTEGER,
    max_capacity INTEGER,
    pet_capacity INTEGER,
    units INTEGER NOT NULL,
    unit_ids TEXT NOT NULL,
    min_price REAL,
    currency_code TEXT,
    implied_total REAL,
    harvested_at REAL NOT NULL,
    PRIMARY KEY (resource_id, arrival_date, duration)
) WITHOUT ROWID;
-- Every price of a stay; offer_id 0 is the base (non-offer) price, rate_type_id 0 unknown.
CREATE TABLE IF NOT EXISTS price (
    resource_id INTEGER NOT NULL,
    arrival_date TEXT NOT NULL,
    duration INTEGER NOT NULL,
    rate_type_id INTEGER NOT NULL,
    offer_id INTEGER NOT NULL,
    offer_code TEXT,
    price REAL NOT NULL,
    price_inclusive REAL,
    currency_code TEXT,
    PRIMARY KEY (resource_id, arrival_date, duration, rate_type_id, offer_id)
) WITHOUT ROWID;
-- Every mandatory cost of a stay (guide, Reservation Flow option 2, implies).
CREATE TABLE IF NOT EXISTS implied_cost (
    resource_id INTEGER NOT NULL,
    arrival_date TEXT NOT NULL,
    duration INTEGER NOT NULL,
    addon_id INTEGER NOT NULL,
    code TEXT,
    name TEXT,
    price REAL NOT NULL,
    currency_code TEXT,
    PRIMARY KEY (resource_id, arrival_date, duration, addon_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stay_by_arrival ON stay (arrival_date, duration);
-- A portfolio chunk replaces a window of every type: find its rows without a full scan.
CREATE INDEX IF NOT EXISTS price_by_arrival ON price (arrival_date, duration);
CREATE INDEX IF NOT EXISTS implied_cost_by_arrival ON implied_cost (arrival_date, duration);
CREATE TABLE IF NOT EXISTS harvest_chunk (
    job TEXT NOT NULL,
    chunk TEXT NOT NULL,
    records INTEGER NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (job, chunk)
) WITHOUT ROWID;
"""

_STAY_SQL = """
INSERT INTO stay (resource_id, arrival_date, duration, departure_date, location_id,
                  accommodation_kind_id, max_capacity, pet_capacity, units, unit_ids,
                  min_price, currency_code, implied_total, harvested_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (resource_id, arrival_date, duration) DO UPDATE SET
    departure_date = excluded.departure_date, location_id = excluded.location_id,
    accommodation_kind_id = excluded.accommodation_kind_id,
    max_capacity = excluded.max_capacity, pet_capacity = excluded.pet_capacity,
    units = excluded.units, unit_ids = excluded.unit_ids, min_price = excluded.min_price,
    currency_code = excluded.currency_code, implied_total = excluded.implied_total,
    harvested_at = excluded.harvested_at
"""

_PRICE_SQL = """
INSERT INTO price (resource_id, arrival_date, duration, rate_type_id, offer_id, offer_code,
                   price, price_inclusive, currency_code)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (resource_id, arrival_date, duration, rate_type_id, offer_id) DO UPDATE SET
    offer_code = excluded.offer_code, price = excluded.price,
    price_inclusive = excluded.price_inclusive, currency_code = excluded.currency_code
"""

_COST_SQL = """
INSERT INTO implied_cost (resource_id, arrival_date, duration, addon_id, code, name, price,
                          currency_code)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (resource_id, arrival_date, duration, addon_id) DO UPDATE SET
    code = excluded.code, name = excluded.name, price = excluded.price,
    currency_code = excluded.currency_code
"""

#: Mandatory costs kept from an earlier fetch when this write brought none.
_KEEP_IMPLIED_SQL = """
UPDATE stay SET implied_total = (
    SELECT round(sum(c.price), 2) FROM implied_cost c
    WHERE c.resource_id = stay.resource_id AND c.arrival_date = stay.arrival_date
      AND c.duration = stay.duration)
WHERE {where}
"""

STAY_COLUMNS = (
    "resource_id, arrival_date, duration, departure_date, location_id, accommodation_kind_id, "
    "max_capacity, units, min_price, currency_code, implied_total, harvested_at"
)


def chunk_where(chunk: HarvestChunk) -> tuple[str, tuple[Any, ...]]:
    """The ``WHERE`` clause (``?`` placeholders) and arguments selecting ``chunk``'s rows:
    its type (all types for a portfolio chunk), arrival window and durations."""
    durations = sorted(chunk.durations)
    marks = ",".join("?" * len(durations))
    where = f"arrival_date BETWEEN ? AND ? AND duration IN ({marks})"
    args: tuple[Any, ...] = (chunk.arrival_from, chunk.arrival_to, *durations)
    if chunk.resource_id is not None:
        where = "resource_id = ? AND " + where
        args = (chunk.resource_id, *args)
    return where, args


def _iso(row: Sequence[Any]) -> StayRow:
    return tuple(v.isoformat() if isinstance(v, date) else v for v in row)


def _date(value: Any) -> date:
    # PostgreSQL answers DATE columns as dates, SQLite as ISO text.
    return value if isinstance(value, date) else date.fromisoformat(value)


def _stay(row: Sequence[Any]) -> IndexedStay:
    r, a, d, dep, loc, kind, cap, units, price, cur, implied, at = row
    return IndexedStay(
        resource_id=int(r),
        arrival_date=_date(a),
        duration=int(d),
        departure_date=_date(dep),
        location_id=loc,
        accommodation_kind_id=kind,
        max_capacity=cap,
        units=int(units),
        min_price=price,
        currency_code=cur,
        implied_total=implied,
        harvested_at=float(at),
    )


@dataclass(frozen=True, slots=True)
class ChunkRows:
    """What one chunk write puts in a price index, ready for either backend.

    Attributes:
        where, args: the ``WHERE`` clause (``?`` placeholders) and arguments selecting the
            chunk's old rows (:func:`chunk_where`).
        stays, prices, costs: the new rows (:func:`stay_rows`).
        replace_costs: whether the chunk brought mandatory costs: replace the stored ones;
            otherwise keep them and recompute the stays' ``implied_total`` from them.
        job: the job to mark the chunk finished for (``None``: no mark).
        key: the chunk's key.
        records: how many availability records the chunk had.
        now: the rows' ``harvested_at`` and the mark's ``finished_at``.
    """

    where: str
    args: tuple[Any, ...]
    stays: list[StayRow]
    prices: list[StayRow]
    costs: list[StayRow]
    replace_costs: bool
    job: str | None
    key: str
    records: int
    now: float


class IndexCore(abc.ABC):
    """What the SQLite and the PostgreSQL price index do alike: resume records, chunk rows
    and every query helper, over two backend primitives: :meth:`_fetch` (a query with
    ``?`` placeholders and :class:`~datetime.date` arguments) and :meth:`_replace` (one
    chunk's rows in one transaction; the bulk upserts differ)."""

    _job = ""

    @abc.abstractmethod
    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """The rows of ``sql`` (shared SQL: bare table names, ``?`` placeholders)."""

    @abc.abstractmethod
    async def _replace(self, rows: ChunkRows) -> None:
        """Delete the chunk's old rows and write ``rows`` in one transaction."""

    async def open(self, job: str) -> None:
        """Write the chunks of ``job`` from now on."""
        self._job = job

    async def finished(self, job: str) -> set[str]:
        """The finished chunk keys of ``job``."""
        rows = await self._fetch("SELECT chunk FROM harvest_chunk WHERE job = ?", (job,))
        return {str(r[0]) for r in rows}

    async def write(
        self,
        chunk: HarvestChunk,
        records: Sequence[AvailabilityRecord],
        *,
        costs: Sequence[StayImplies] | None = None,
        fetched_at: float | None = None,
    ) -> None:
        """Replace the chunk's stays, prices (and costs) and mark it finished, atomically."""
        await self.replace(
            chunk, records, costs=costs, job=self._job or None, fetched_at=fetched_at
        )

    async def replace(
        self,
        chunk: HarvestChunk,
        records: Sequence[AvailabilityRecord],
        *,
        costs: Sequence[StayImplies] | None = None,
        job: str | None = None,
        fetched_at: float | None = None,
    ) -> None:
        """Atomically replace the stays of ``chunk``'s type(s), window and durations.

        Mandatory costs are replaced too when ``costs`` is given; otherwise the costs
        already stored are kept and the stays' ``implied_total`` recomputed from them.
        ``fetched_at`` (default now) becomes the rows' ``harvested_at``.
        """
        now = time.time() if fetched_at is None else fetched_at
        stays, prices, cost_rows = stay_rows(records, costs, now)
        where, args = chunk_where(chunk)
        await self._replace(
            ChunkRows(
                where=where,
                args=args,
                stays=stays,
                prices=prices,
                costs=cost_rows,
                replace_costs=costs is not None,
                job=job,
                key=chunk.key,
                records=len(records),
                now=now,
            )
        )

    async def forget(self, job: str) -> None:
        """Drop the finished-chunk records of ``job`` so the next run fetches everything."""
        await self._fetch("DELETE FROM harvest_chunk WHERE job = ?", (job,))

    async def statistics(self) -> IndexStats:
        """Row counts of the index."""
        rows = await self._fetch(
            "SELECT (SELECT count(*) FROM stay), (SELECT count(DISTINCT resource_id) FROM stay), "
            "(SELECT count(*) FROM price), (SELECT count(*) FROM harvest_chunk), "
            "(SELECT count(*) FROM implied_cost)",
            (),
        )
        stays, resources, prices, chunks, costs = rows[0]
        return IndexStats(
            stays=stays, prices=prices, resources=resources, chunks=chunks, implied_costs=costs
        )

    async def stays(
        self, resource_id: int | None = None
    ) -> list[tuple[int, date, int, float | None]]:
        """``(resource_id, arrival, duration, min_price)`` rows, in key order."""
        sql = "SELECT resource_id, arrival_date, duration, min_price FROM stay"
        args: tuple[int, ...] = ()
        if resource_id is not None:
            sql += " WHERE resource_id = ?"
            args = (resource_id,)
        rows = await self._fetch(sql + " ORDER BY resource_id, arrival_date, duration", args)
        return [(int(r), _date(a), int(d), p) for r, a, d, p in rows]

    async def cheapest(
        self,
        arrival_from: date,
        arrival_to: date,
        duration: int,
        *,
        per_type: int = 1,
        resource_ids: Iterable[int] | None = None,
    ) -> list[IndexedStay]:
        """The ``per_type`` cheapest stays of each type arriving in ``[arrival_from,
        arrival_to]`` for ``duration`` nights, by what a guest pays (price plus mandatory
        costs), then by arrival; ordered by type, cheapest first."""
        if per_type < 1:
            raise ValueError(f"per_type must be at least 1, got {per_type}")
        ids = sorted(set(resource_ids)) if resource_ids is not None else None
        sql, args = cheapest_sql(arrival_from, arrival_to, duration, per_type, ids)
        return [_stay(r) for r in await self._fetch(sql, args)]

    async def availability(
        self,
        resource_id: int,
        arrival_from: date | None = None,
        arrival_to: date | None = None,
        duration: int | None = None,
    ) -> list[IndexedStay]:
        """The stays of ``resource_id`` (optionally in an arrival range, of one duration),
        by arrival and duration."""
        sql, args = availability_sql(resource_id, arrival_from, arrival_to, duration)
        return [_stay(r) for r in await self._fetch(sql, args)]

    async def prices(self, resource_id: int, arrival: date, duration: int) -> list[Price]:
        """Every price of one stay, cheapest first (``offer_id`` ``None`` is the base)."""
        rows = await self._fetch(PRICES_SQL, (resource_id, arrival, duration))
        return [price_of(r) for r in rows]

    async def implied_costs(
        self, resource_id: int, arrival: date, duration: int
    ) -> list[ImpliedCost]:
        """The mandatory costs of one stay (empty when never fetched)."""
        rows = await self._fetch(COSTS_SQL, (resource_id, arrival, duration))
        return [cost_of(r) for r in rows]

    async def data_age(self) -> list[TypeAge]:
        """Per type with stays: how many, and when the oldest and newest were written."""
        rows = await self._fetch(AGE_SQL, ())
        return [TypeAge(int(r), int(n), float(lo), float(hi)) for r, n, lo, hi in rows]


class SQLitePriceIndex(IndexCore):
    """An availability and price index in a SQLite file; resumable harvest sink.

    Args:
        path: the database file (created with its directory).

    Each chunk is written in one transaction that first deletes the chunk's old stays
    (same accommodation type, or every type for a portfolio chunk; same arrival window and
    durations: a stay that is no longer offered must leave the index), then upserts the new
    stays, prices and mandatory costs, then records the chunk as finished. SQLite's write
    lock (``BEGIN IMMEDIATE``) makes several writers, threads or processes, safe. Query it
    with the helpers below or any SQLite client; the tables are described in
    ``docs/price-index.md`` (``stay``, ``price``, ``implied_cost``, ``harvest_chunk``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db = Connection(self.path, _INDEX_SCHEMA, "maxxton-price-index")
        self._migrated = False

    def __repr__(self) -> str:
        return f"<SQLitePriceIndex path={str(self.path)!r}>"

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if not self._migrated:
            await self._db.run(_migrate)
            self._migrated = True
        return await self._db.run(fn)

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        rows: list[Any] = await self._run(lambda conn: conn.execute(sql, _iso(args)).fetchall())
        return rows

    async def _replace(self, rows: ChunkRows) -> None:
        where, args = rows.where, _iso(rows.args)

        def run(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                conn.execute(f"DELETE FROM stay WHERE {where}", args)
                conn.execute(f"DELETE FROM price WHERE {where}", args)
                conn.executemany(_STAY_SQL, map(_iso, rows.stays))
                conn.executemany(_PRICE_SQL, map(_iso, rows.prices))
                if rows.replace_costs:
                    conn.execute(f"DELETE FROM implied_cost WHERE {where}", args)
                    conn.executemany(_COST_SQL, map(_iso, rows.costs))
                else:
                    conn.execute(_KEEP_IMPLIED_SQL.format(where=where), args)
                if rows.job:
                    conn.execute(
                        "INSERT OR REPLACE INTO harvest_chunk (job, chunk, records, finished_at) "
                        "VALUES (?, ?, ?, ?)",
                        (rows.job, rows.key, rows.records, rows.now),
                    )

        await self._run(run)

    async def aclose(self) -> None:
        """Close the file. Idempotent."""
        await self._db.aclose()


def _migrate(conn: sqlite3.Connection) -> None:
    # Indexes written before mandatory costs were stored lack stay.implied_total.
    columns = {row[1] for row in conn.execute("PRAGMA table_info(stay)")}
    if "implied_total" not in columns:
        with contextlib.suppress(sqlite3.OperationalError):  # another process added it
            conn.execute("ALTER TABLE stay ADD COLUMN implied_total REAL")


def cheapest_sql(
    arrival_from: date, arrival_to: date, duration: int, per_type: int, ids: list[int] | None
) -> tuple[str, tuple[Any, ...]]:
    """The cheapest-stays-per-type query (``?`` placeholders; both backends)."""
    only = ""
    args: tuple[Any, ...] = (arrival_from, arrival_to, duration)
    if ids is not None:
        only = f" AND resource_id IN ({','.join('?' * len(ids))})" if ids else " AND 1 = 0"
        args = (*args, *ids)
    sql = (
        f"SELECT {STAY_COLUMNS} FROM ("
        f"SELECT {STAY_COLUMNS}, ROW_NUMBER() OVER (PARTITION BY resource_id "
        "ORDER BY min_price + COALESCE(implied_total, 0), arrival_date) AS pos "
        "FROM stay WHERE arrival_date BETWEEN ? AND ? AND duration = ? "
        f"AND min_price IS NOT NULL{only}) ranked "
        "WHERE pos <= ? ORDER BY resource_id, pos"
    )
    return sql, (*args, per_type)


def availability_sql(
    resource_id: int, arrival_from: date | None, arrival_to: date | None, duration: int | None
) -> tuple[str, tuple[Any, ...]]:
    """The stays-of-one-type query (``?`` placeholders; both backends)."""
    sql = f"SELECT {STAY_COLUMNS} FROM stay WHERE resource_id = ?"
    args: list[Any] = [resource_id]
    if arrival_from is not None:
        sql += " AND arrival_date >= ?"
        args.append(arrival_from)
    if arrival_to is not None:
        sql += " AND arrival_date <= ?"
        args.append(arrival_to)
    if duration is not None:
        sql += " AND duration = ?"
        args.append(duration)
    return sql + " ORDER BY arrival_date, duration", tuple(args)


PRICES_SQL = (
    "SELECT price, price_inclusive, rate_type_id, offer_id, offer_code, currency_code "
    "FROM price WHERE resource_id = ? AND arrival_date = ? AND duration = ? "
    "ORDER BY price, offer_id"
)
COSTS_SQL = (
    "SELECT addon_id, code, name, price, currency_code FROM implied_cost "
    "WHERE resource_id = ? AND arrival_date = ? AND duration = ? ORDER BY addon_id"
)
AGE_SQL = (
    "SELECT resource_id, count(*), min(harvested_at), max(harvested_at) FROM stay "
    "GROUP BY resource_id ORDER BY resource_id"
)


def price_of(row: Sequence[Any]) -> Price:
    """A ``price`` row as a :class:`~maxxton_async.models.Price` (0 ids back to ``None``)."""
    price, inclusive, rate, offer, code, currency = row
    return Price(
        price=float(price),
        price_inclusive=inclusive,
        rate_type_id=rate or None,
        offer_id=offer or None,
        offer_code=code,
        currency_code=currency,
    )


def cost_of(row: Sequence[Any]) -> ImpliedCost:
    """An ``implied_cost`` row as an :class:`~maxxton_async.models.ImpliedCost`."""
    addon, code, name, price, currency = row
    return ImpliedCost(
        addon_id=int(addon), code=code, name=name, price=float(price), currency_code=currency
    )


# -- NDJSON --------------------------------------------------------------------------------

_OFFSET_CURSOR = "ndjson-offset"


class NDJSONSink:
    """One JSON object (an availability record, camelCase as on the wire) per line.

    Args:
        path: the output file.
        checkpoint: where finished chunks and the file offset are kept; default a SQLite
            store at ``<path>.checkpoint``. Pass a store or a path to put it elsewhere.
        fsync: ``fsync`` the file after each chunk before marking it finished (a power cut
            then loses nothing marked finished); off, a process crash still loses nothing.

    On :meth:`open` the file is cut back to the offset recorded with the last finished
    chunk (0 when there is none, so a fresh job starts a fresh file).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        checkpoint: CheckpointStore | str | os.PathLike[str] | None = None,
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        if checkpoint is None:
            checkpoint = self.path.with_name(self.path.name + ".checkpoint")
        self._store, self._owns_store = open_checkpoint(checkpoint)
        self._fsync = fsync
        self._file: int | None = None
        self._job = ""
        self._encoder = msgspec.json.Encoder()

    def __repr__(self) -> str:
        return f"<NDJSONSink path={str(self.path)!r}>"

    async def finished(self, job: str) -> set[str]:
        """The finished keys of ``job`` in the checkpoint store."""
        return await self._store.finished(job)

    async def open(self, job: str) -> None:
        """Cut the file back to the last finished chunk of ``job``."""
        self._job = job
        finished = await self._store.finished(job)
        offset = await self._store.get(f"{_OFFSET_CURSOR}:{job}") or 0
        if not finished:
            offset = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        self._file = fd

    async def write(
        self,
        chunk: HarvestChunk,
        records: Sequence[AvailabilityRecord],
        *,
        costs: Sequence[StayImplies] | None = None,
    ) -> None:
        """Append the chunk's lines (mandatory costs, when given, as lines of their own with
        an ``implies`` field), then record the chunk and the new end offset."""
        fd = self._file
        if fd is None:
            raise RuntimeError("NDJSONSink.write() before open()")
        lines: list[msgspec.Struct] = [*records, *(costs or ())]
        if lines:
            data = b"".join(self._encoder.encode(r) + b"\n" for r in lines)
            view = memoryview(data)
            while view:  # bounded: each pass writes at least one byte or raises
                written = os.write(fd, view)
                view = view[written:]
            if self._fsync:
                os.fsync(fd)
        offset = os.lseek(fd, 0, os.SEEK_CUR)
        await self._store.mark_finished(
            self._job, [chunk.key], cursor=(f"{_OFFSET_CURSOR}:{self._job}", offset)
        )

    async def aclose(self) -> None:
        """Close the file (and the checkpoint store if this sink opened it)."""
        if self._file is not None:
            os.close(self._file)
            self._file = None
        if self._owns_store:
            await self._store.aclose()


# -- callback --------------------------------------------------------------------------------

ChunkCallback = Callable[["HarvestChunk", Sequence[AvailabilityRecord]], "Awaitable[None] | None"]


class CallbackSink:
    """Hands each chunk's records to ``callback(chunk, records)`` (sync or async).

    Args:
        callback: called once per finished chunk; an exception stops the harvest and the
            chunk stays unfinished.
        checkpoint: where finished chunks are recorded (a store or a SQLite path); default
            memory, i.e. not resumable across processes.
    """

    def __init__(
        self,
        callback: ChunkCallback,
        *,
        checkpoint: CheckpointStore | str | os.PathLike[str] | None = None,
    ) -> None:
        self._callback = callback
        self._store, self._owns_store = open_checkpoint(checkpoint)
        self._job = ""

    async def open(self, job: str) -> None:
        """Write the chunks of ``job`` from now on."""
        self._job = job

    async def finished(self, job: str) -> set[str]:
        """The finished keys of ``job`` in the checkpoint store."""
        return await self._store.finished(job)

    async def write(
        self,
        chunk: HarvestChunk,
        records: Sequence[AvailabilityRecord],
        *,
        costs: Sequence[StayImplies] | None = None,
    ) -> None:
        """Call the callback (with the records; mandatory costs are not passed to it),
        then mark the chunk finished."""
        result = self._callback(chunk, records)
        if inspect.isawaitable(result):
            await result
        await self._store.mark_finished(self._job, [chunk.key])

    async def aclose(self) -> None:
        """Close the checkpoint store if this sink opened it."""
        if self._owns_store:
            await self._store.aclose()


def open_sink(out: str | os.PathLike[str]) -> HarvestSink:
    """A sink for an output path or URL: ``postgresql://...`` (or ``postgres://``) →
    :class:`~maxxton_async.harvest.PostgresPriceIndex`, ``.ndjson``/``.jsonl`` →
    :class:`NDJSONSink`, ``.sqlite``/``.sqlite3``/``.db`` → :class:`SQLitePriceIndex`."""
    text = os.fspath(out)
    if text.startswith(("postgresql://", "postgres://")):
        from ._pg_index import PostgresPriceIndex

        return PostgresPriceIndex(text)
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return NDJSONSink(path)
    if suffix in (".sqlite", ".sqlite3", ".db"):
        return SQLitePriceIndex(path)
    raise ValueError(
        f"cannot tell the output format of {str(path)!r}: use .sqlite/.sqlite3/.db for a "
        "price index, a postgresql:// URL, or .ndjson/.jsonl for NDJSON"
    )
