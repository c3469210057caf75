"""The price index in PostgreSQL (asyncpg): the database a website's search reads.

Same tables, columns and queries as :class:`~maxxton_async.harvest.SQLitePriceIndex`
(docs/price-index.md), with PostgreSQL types (``DATE``, ``DOUBLE PRECISION``, ``BIGINT``).
Writes are upserts inside one transaction per chunk that first deletes the chunk's old stays,
so a stay no longer offered leaves the index and a reader sees either the old or the new
stays of a window, never a mix. Several writers (tasks, processes, machines) are safe: each
chunk write takes a transaction-level advisory lock of the index's schema, so two writers of
overlapping windows (a harvest and an index sync, say) run one after the other instead of
interleaving their deletes and inserts.

Needs the ``postgres`` extra (``pip install maxxton-async[postgres]``).
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import Sequence
from typing import Any

from ._errors import ConfigurationError
from ._harvest_sinks import ChunkRows, IndexCore

__all__ = ["PostgresPriceIndex"]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.stay (
    resource_id BIGINT NOT NULL,
    arrival_date DATE NOT NULL,
    duration INTEGER NOT NULL,
    departure_date DATE NOT NULL,
    location_id BIGINT,
    accommodation_kind_id BIGINT,
    max_capacity INTEGER,
    pet_capacity INTEGER,
    units INTEGER NOT NULL,
    unit_ids TEXT NOT NULL,
    min_price DOUBLE PRECISION,
    currency_code TEXT,
    implied_total DOUBLE PRECISION,
    harvested_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (resource_id, arrival_date, duration)
);
CREATE TABLE IF NOT EXISTS {s}.price (
    resource_id BIGINT NOT NULL,
    arrival_date DATE NOT NULL,
    duration INTEGER NOT NULL,
    rate_type_id BIGINT NOT NULL,
    offer_id BIGINT NOT NULL,
    offer_code TEXT,
    price DOUBLE PRECISION NOT NULL,
    price_inclusive DOUBLE PRECISION,
    currency_code TEXT,
    PRIMARY KEY (resource_id, arrival_date, duration, rate_type_id, offer_id)
);
CREATE TABLE IF NOT EXISTS {s}.implied_cost (
    resource_id BIGINT NOT NULL,
    arrival_date DATE NOT NULL,
    duration INTEGER NOT NULL,
    addon_id BIGINT NOT NULL,
    code TEXT,
    name TEXT,
    price DOUBLE PRECISION NOT NULL,
    currency_code TEXT,
    PRIMARY KEY (resource_id, arrival_date, duration, addon_id)
);
CREATE INDEX IF NOT EXISTS stay_by_arrival ON {s}.stay (arrival_date, duration);
CREATE INDEX IF NOT EXISTS price_by_arrival ON {s}.price (arrival_date, duration);
CREATE INDEX IF NOT EXISTS implied_cost_by_arrival ON {s}.implied_cost (arrival_date, duration);
CREATE TABLE IF NOT EXISTS {s}.harvest_chunk (
    job TEXT NOT NULL,
    chunk TEXT NOT NULL,
    records INTEGER NOT NULL,
    finished_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job, chunk)
);
"""

# Bulk inserts as one statement over arrays (unnest): one round trip per table per chunk.
_STAY_SQL = """
INSERT INTO {s}.stay (resource_id, arrival_date, duration, departure_date, location_id,
    accommodation_kind_id, max_capacity, pet_capacity, units, unit_ids, min_price,
    currency_code, implied_total, harvested_at)
SELECT * FROM unnest($1::bigint[], $2::date[], $3::int[], $4::date[], $5::bigint[],
    $6::bigint[], $7::int[], $8::int[], $9::int[], $10::text[], $11::float8[], $12::text[],
    $13::float8[], $14::float8[])
ON CONFLICT (resource_id, arrival_date, duration) DO UPDATE SET
    departure_date = excluded.departure_date, location_id = excluded.location_id,
    accommodation_kind_id = excluded.accommodation_kind_id,
    max_capacity = excluded.max_capacity, pet_capacity = excluded.pet_capacity,
    units = excluded.units, unit_ids = excluded.unit_ids, min_price = excluded.min_price,
    currency_code = excluded.currency_code, implied_total = excluded.implied_total,
    harvested_at = excluded.harvested_at
"""
_PRICE_SQL = """
INSERT INTO {s}.price (resource_id, arrival_date, duration, rate_type_id, offer_id,
    offer_code, price, price_inclusive, currency_code)
SELECT * FROM unnest($1::bigint[], $2::date[], $3::int[], $4::bigint[], $5::bigint[],
    $6::text[], $7::float8[], $8::float8[], $9::text[])
ON CONFLICT (resource_id, arrival_date, duration, rate_type_id, offer_id) DO UPDATE SET
    offer_code = excluded.offer_code, price = excluded.price,
    price_inclusive = excluded.price_inclusive, currency_code = excluded.currency_code
"""
_COST_SQL = """
INSERT INTO {s}.implied_cost (resource_id, arrival_date, duration, addon_id, code, name,
    price, currency_code)
SELECT * FROM unnest($1::bigint[], $2::date[], $3::int[], $4::bigint[], $5::text[],
    $6::text[], $7::float8[], $8::text[])
ON CONFLICT (resource_id, arrival_date, duration, addon_id) DO UPDATE SET
    code = excluded.code, name = excluded.name, price = excluded.price,
    currency_code = excluded.currency_code
"""
_KEEP_IMPLIED_SQL = """
UPDATE {s}.stay AS stay SET implied_total = (
    SELECT round(sum(c.price)::numeric, 2)::float8 FROM {s}.implied_cost c
    WHERE c.resource_id = stay.resource_id AND c.arrival_date = stay.arrival_date
      AND c.duration = stay.duration)
WHERE {where}
"""


def _numbered(sql: str) -> str:
    """``?`` placeholders (the shared queries) as PostgreSQL's ``$1, $2, ...``."""
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def _qualified(sql: str, schema: str) -> str:
    """The shared queries name bare tables; qualify them with the index's schema."""
    for table in ("stay", "price", "implied_cost", "harvest_chunk"):
        sql = re.sub(rf"\b(FROM|JOIN|INTO|UPDATE) {table}\b", rf"\1 {schema}.{table}", sql)
    return sql


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


class PostgresPriceIndex(IndexCore):
    """An availability and price index in PostgreSQL; resumable harvest sink.

    Args:
        dsn: a ``postgresql://`` URL (asyncpg's connection string).
        schema: the schema holding the tables (created when missing); one schema per index,
            so several indexes (or test runs) can share a database.
        min_size, max_size: the connection pool's bounds.

    The same tables and query helpers as :class:`~maxxton_async.harvest.SQLitePriceIndex`
    (docs/price-index.md; the helpers are shared code). Connects on first use.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "maxxton_index",
        min_size: int = 1,
        max_size: int = 4,
    ) -> None:
        if not _IDENT.match(schema):
            raise ConfigurationError(
                f"schema must be a plain SQL identifier (letters, digits, _), got {schema!r}"
            )
        self.dsn = dsn
        self.schema = schema
        self._min_size = min_size
        self._max_size = max_size
        self._pool: Any = None
        self._lock = asyncio.Lock()
        # One advisory lock per index: every chunk write of this schema is serialised.
        self._lock_key = zlib.crc32(f"maxxton-price-index:{schema}".encode()) - 2**31

    def __repr__(self) -> str:
        # The DSN may carry a password: never shown.
        return f"<PostgresPriceIndex schema={self.schema!r}>"

    async def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                try:
                    import asyncpg
                except ImportError as exc:  # pragma: no cover - the postgres extra
                    raise ConfigurationError(
                        "PostgresPriceIndex needs asyncpg: pip install maxxton-async[postgres]"
                    ) from exc
                pool = await asyncpg.create_pool(
                    self.dsn, min_size=self._min_size, max_size=self._max_size
                )
                try:
                    async with pool.acquire() as conn, conn.transaction():
                        # Concurrent CREATE ... IF NOT EXISTS can still collide: serialise.
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
                        await conn.execute(_SCHEMA.format(s=self.schema))
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    def _sql(self, sql: str) -> str:
        return _numbered(_qualified(sql, self.schema))

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            rows: list[Any] = await conn.fetch(self._sql(sql), *args)
            return rows

    async def _replace(self, rows: ChunkRows) -> None:
        where, args, s = rows.where, rows.args, self.schema
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", self._lock_key)
            await conn.execute(self._sql(f"DELETE FROM stay WHERE {where}"), *args)
            await conn.execute(self._sql(f"DELETE FROM price WHERE {where}"), *args)
            if rows.stays:
                await conn.execute(_STAY_SQL.format(s=s), *_columns(rows.stays, 14))
            if rows.prices:
                await conn.execute(_PRICE_SQL.format(s=s), *_columns(rows.prices, 9))
            if rows.replace_costs:
                await conn.execute(self._sql(f"DELETE FROM implied_cost WHERE {where}"), *args)
                if rows.costs:
                    await conn.execute(_COST_SQL.format(s=s), *_columns(rows.costs, 8))
            else:
                keep = _numbered(_KEEP_IMPLIED_SQL.format(s=s, where=where))
                await conn.execute(keep, *args)
            if rows.job:
                await conn.execute(
                    f"INSERT INTO {s}.harvest_chunk (job, chunk, records, finished_at) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (job, chunk) DO UPDATE SET "
                    "records = excluded.records, finished_at = excluded.finished_at",
                    rows.job,
                    rows.key,
                    rows.records,
                    rows.now,
                )

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
