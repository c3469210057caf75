"""Where a harvest puts its records: a SQLite price index, an NDJSON file, or a callback.

A sink owns resumability, because "the chunk is finished" must be recorded together with
the chunk's records, or a crash in between either loses records or duplicates them:

* :class:`SQLitePriceIndex` writes a chunk's stays, its prices and the "finished" mark in
  one transaction;
* :class:`NDJSONSink` appends a chunk's lines, flushes them, then records the chunk and the
  file offset it ends at in a checkpoint store; a rerun first cuts the file back to the
  last recorded offset, so a half-written tail from a crash is never kept twice;
* :class:`CallbackSink` calls your function, then records the chunk in a checkpoint store
  (at-least-once: a crash after your function returned re-delivers that chunk).
"""

from __future__ import annotations

import inspect
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import msgspec

from ._checkpoint import CheckpointStore, open_checkpoint
from ._sqlite import Connection, immediate
from .models import AvailabilityRecord

if TYPE_CHECKING:
    from .harvest import HarvestChunk

__all__ = [
    "CallbackSink",
    "HarvestSink",
    "IndexStats",
    "NDJSONSink",
    "SQLitePriceIndex",
    "open_sink",
]


@runtime_checkable
class HarvestSink(Protocol):
    """Receives a harvest's records chunk by chunk and remembers which chunks are done."""

    async def open(self, job: str) -> set[str]:
        """Prepare for ``job``; return the keys of its chunks already finished."""
        ...

    async def write(self, chunk: HarvestChunk, records: Sequence[AvailabilityRecord]) -> None:
        """Store ``records`` (all of ``chunk``'s) and mark ``chunk`` finished, durably."""
        ...

    async def aclose(self) -> None:
        """Flush and release resources. Idempotent."""
        ...


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
CREATE INDEX IF NOT EXISTS stay_by_arrival ON stay (arrival_date, duration);
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
                  min_price, currency_code, harvested_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (resource_id, arrival_date, duration) DO UPDATE SET
    departure_date = excluded.departure_date, location_id = excluded.location_id,
    accommodation_kind_id = excluded.accommodation_kind_id,
    max_capacity = excluded.max_capacity, pet_capacity = excluded.pet_capacity,
    units = excluded.units, unit_ids = excluded.unit_ids, min_price = excluded.min_price,
    currency_code = excluded.currency_code, harvested_at = excluded.harvested_at
"""

_PRICE_SQL = """
INSERT INTO price (resource_id, arrival_date, duration, rate_type_id, offer_id, offer_code,
                   price, price_inclusive, currency_code)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (resource_id, arrival_date, duration, rate_type_id, offer_id) DO UPDATE SET
    offer_code = excluded.offer_code, price = excluded.price,
    price_inclusive = excluded.price_inclusive, currency_code = excluded.currency_code
"""


@dataclass(frozen=True, slots=True)
class IndexStats:
    """What a :class:`SQLitePriceIndex` holds.

    Attributes:
        stays: bookable (resource, arrival, duration) rows.
        prices: price rows.
        resources: distinct accommodation types with at least one stay.
        chunks: finished chunks recorded (all jobs).
    """

    stays: int
    prices: int
    resources: int
    chunks: int


class SQLitePriceIndex:
    """An availability and price index in a SQLite file; resumable harvest sink.

    Args:
        path: the database file (created with its directory).

    Each chunk is written in one transaction that first deletes the chunk's old stays
    (same accommodation type, arrival window and durations; a stay that is no longer
    offered must leave the index), then upserts the new stays and prices, then records the
    chunk as finished. Query it with any SQLite client: tables ``stay``, ``price``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db = Connection(self.path, _INDEX_SCHEMA, "maxxton-price-index")
        self._job = ""

    def __repr__(self) -> str:
        return f"<SQLitePriceIndex path={str(self.path)!r}>"

    async def open(self, job: str) -> set[str]:
        """The finished chunk keys of ``job``."""
        self._job = job

        def run(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute("SELECT chunk FROM harvest_chunk WHERE job = ?", (job,))
            return {str(r[0]) for r in rows}

        return await self._db.run(run)

    async def write(self, chunk: HarvestChunk, records: Sequence[AvailabilityRecord]) -> None:
        """Replace the chunk's stays and prices and mark it finished, atomically."""
        now = time.time()
        stays = []
        prices = []
        for r in records:
            arrival = r.arrival_date.isoformat()
            cheapest = min(r.prices, key=lambda p: p.price, default=None)
            stays.append(
                (
                    r.resource_id,
                    arrival,
                    r.duration,
                    r.departure_date.isoformat(),
                    r.location_id,
                    r.accommodation_kind_id,
                    r.max_capacity,
                    r.pet_capacity,
                    len(r.units),
                    ",".join(str(u.unit_id) for u in r.units),
                    None if cheapest is None else cheapest.price,
                    None if cheapest is None else cheapest.currency_code,
                    now,
                )
            )
            for p in r.prices:
                prices.append(
                    (
                        r.resource_id,
                        arrival,
                        r.duration,
                        p.rate_type_id or 0,
                        p.offer_id or 0,
                        p.offer_code,
                        p.price,
                        p.price_inclusive,
                        p.currency_code,
                    )
                )
        durations = sorted(chunk.durations)
        window = (chunk.resource_id, chunk.arrival_from.isoformat(), chunk.arrival_to.isoformat())
        marks = ",".join("?" * len(durations))
        where = f"resource_id = ? AND arrival_date BETWEEN ? AND ? AND duration IN ({marks})"
        job = self._job

        def run(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                if durations:
                    conn.execute(f"DELETE FROM stay WHERE {where}", (*window, *durations))
                    conn.execute(f"DELETE FROM price WHERE {where}", (*window, *durations))
                conn.executemany(_STAY_SQL, stays)
                conn.executemany(_PRICE_SQL, prices)
                conn.execute(
                    "INSERT OR REPLACE INTO harvest_chunk (job, chunk, records, finished_at) "
                    "VALUES (?, ?, ?, ?)",
                    (job, chunk.key, len(records), now),
                )

        await self._db.run(run)

    async def forget(self, job: str) -> None:
        """Drop the finished-chunk records of ``job`` so the next run fetches everything."""
        await self._db.run(
            lambda conn: conn.execute("DELETE FROM harvest_chunk WHERE job = ?", (job,))
        )

    async def stats(self) -> IndexStats:
        """Row counts of the index."""

        def run(conn: sqlite3.Connection) -> IndexStats:
            stays, resources = conn.execute(
                "SELECT count(*), count(DISTINCT resource_id) FROM stay"
            ).fetchone()
            (prices,) = conn.execute("SELECT count(*) FROM price").fetchone()
            (chunks,) = conn.execute("SELECT count(*) FROM harvest_chunk").fetchone()
            return IndexStats(stays=stays, prices=prices, resources=resources, chunks=chunks)

        return await self._db.run(run)

    async def stays(
        self, resource_id: int | None = None
    ) -> list[tuple[int, date, int, float | None]]:
        """``(resource_id, arrival, duration, min_price)`` rows, in key order."""

        def run(conn: sqlite3.Connection) -> list[tuple[int, date, int, float | None]]:
            sql = "SELECT resource_id, arrival_date, duration, min_price FROM stay"
            args: tuple[int, ...] = ()
            if resource_id is not None:
                sql += " WHERE resource_id = ?"
                args = (resource_id,)
            sql += " ORDER BY resource_id, arrival_date, duration"
            return [
                (int(r), date.fromisoformat(a), int(d), p) for r, a, d, p in conn.execute(sql, args)
            ]

        return await self._db.run(run)

    async def aclose(self) -> None:
        """Close the file. Idempotent."""
        await self._db.aclose()


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

    async def open(self, job: str) -> set[str]:
        """Cut the file back to the last finished chunk; return the finished keys."""
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
        return finished

    async def write(self, chunk: HarvestChunk, records: Sequence[AvailabilityRecord]) -> None:
        """Append the chunk's lines, then record the chunk and the new end offset."""
        fd = self._file
        if fd is None:
            raise RuntimeError("NDJSONSink.write() before open()")
        if records:
            data = b"".join(self._encoder.encode(r) + b"\n" for r in records)
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

    async def open(self, job: str) -> set[str]:
        """The finished keys of ``job`` in the checkpoint store."""
        self._job = job
        return await self._store.finished(job)

    async def write(self, chunk: HarvestChunk, records: Sequence[AvailabilityRecord]) -> None:
        """Call the callback, then mark the chunk finished."""
        result = self._callback(chunk, records)
        if inspect.isawaitable(result):
            await result
        await self._store.mark_finished(self._job, [chunk.key])

    async def aclose(self) -> None:
        """Close the checkpoint store if this sink opened it."""
        if self._owns_store:
            await self._store.aclose()


def open_sink(out: str | os.PathLike[str]) -> HarvestSink:
    """A sink for an output path, by extension: ``.ndjson``/``.jsonl`` → :class:`NDJSONSink`,
    ``.sqlite``/``.sqlite3``/``.db`` → :class:`SQLitePriceIndex`."""
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return NDJSONSink(path)
    if suffix in (".sqlite", ".sqlite3", ".db"):
        return SQLitePriceIndex(path)
    raise ValueError(
        f"cannot tell the output format of {str(path)!r}: use .sqlite/.sqlite3/.db for a "
        "price index or .ndjson/.jsonl for NDJSON"
    )
