"""Checkpoint stores: where the event sync keeps its cursor and a harvest its finished chunks.

Two things must survive a crash for bulk work to resume instead of starting over:

* the event sync's **cursor**, the last processed ``eventId`` (advance on the
  event id, never on a timestamp, because timestamps can tie);
* a harvest's **finished chunks**, so that a rerun fetches only what is left.

:class:`SQLiteCheckpointStore` is the default (a file; the same WAL, one-thread conventions
as the usage ledger in ``_sqlite.py``, so several processes can share it);
:class:`MemoryCheckpointStore` is for tests and one-shot scripts. Both implement
:class:`CheckpointStore`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from ._sqlite import Connection, immediate

__all__ = [
    "CheckpointStore",
    "MemoryCheckpointStore",
    "SQLiteCheckpointStore",
    "open_checkpoint",
]


@runtime_checkable
class CheckpointStore(Protocol):
    """Named integer cursors and per-job sets of finished chunk keys.

    ``mark_finished`` may also move a cursor in the same atomic step (the NDJSON sink
    stores the file offset that its finished chunks end at, so a rerun can cut off a
    half-written tail).
    """

    async def get(self, name: str) -> int | None:
        """The cursor called ``name``, or ``None`` if never set."""
        ...

    async def put(self, name: str, value: int) -> None:
        """Set the cursor called ``name`` (durably, before returning)."""
        ...

    async def finished(self, job: str) -> set[str]:
        """Keys of the chunks of ``job`` recorded as finished."""
        ...

    async def mark_finished(
        self, job: str, keys: Iterable[str], *, cursor: tuple[str, int] | None = None
    ) -> None:
        """Record ``keys`` as finished (and set ``cursor`` if given) in one atomic step."""
        ...

    async def forget(self, job: str) -> None:
        """Drop every finished-chunk record of ``job`` (start it over)."""
        ...

    async def aclose(self) -> None:
        """Release resources. Idempotent."""
        ...


class MemoryCheckpointStore:
    """A checkpoint store in process memory (tests; nothing survives the process)."""

    def __init__(self) -> None:
        self.cursors: dict[str, int] = {}
        self.chunks: dict[str, set[str]] = {}

    def __repr__(self) -> str:
        return f"<MemoryCheckpointStore cursors={len(self.cursors)} jobs={len(self.chunks)}>"

    async def get(self, name: str) -> int | None:
        """The cursor ``name`` or ``None``."""
        return self.cursors.get(name)

    async def put(self, name: str, value: int) -> None:
        """Set the cursor ``name``."""
        self.cursors[name] = value

    async def finished(self, job: str) -> set[str]:
        """A copy of the finished keys of ``job``."""
        return set(self.chunks.get(job, ()))

    async def mark_finished(
        self, job: str, keys: Iterable[str], *, cursor: tuple[str, int] | None = None
    ) -> None:
        """Record ``keys`` (and ``cursor``); atomic because nothing here awaits."""
        self.chunks.setdefault(job, set()).update(keys)
        if cursor is not None:
            self.cursors[cursor[0]] = cursor[1]

    async def forget(self, job: str) -> None:
        """Drop the finished keys of ``job``."""
        self.chunks.pop(job, None)

    async def aclose(self) -> None:
        """Nothing to release."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursor (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS finished_chunk (
    job TEXT NOT NULL,
    chunk TEXT NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (job, chunk)
) WITHOUT ROWID;
"""

_PUT_SQL = """
INSERT INTO cursor (name, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""


class SQLiteCheckpointStore:
    """The default checkpoint store: one SQLite file, safe across processes.

    Args:
        path: the database file (created with its directory).

    Every write is committed before the call returns (``synchronous=NORMAL`` in WAL mode:
    a commit survives a process crash, which is the failure a resumable job must survive).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db = Connection(self.path, _SCHEMA, "maxxton-checkpoint-sqlite")

    def __repr__(self) -> str:
        return f"<SQLiteCheckpointStore path={str(self.path)!r}>"

    async def get(self, name: str) -> int | None:
        """The cursor ``name`` or ``None``."""

        def run(conn: sqlite3.Connection) -> int | None:
            row = conn.execute("SELECT value FROM cursor WHERE name = ?", (name,)).fetchone()
            return None if row is None else int(row[0])

        return await self._db.run(run)

    async def put(self, name: str, value: int) -> None:
        """Set the cursor ``name`` (committed on return)."""
        now = time.time()
        await self._db.run(lambda conn: conn.execute(_PUT_SQL, (name, value, now)))

    async def finished(self, job: str) -> set[str]:
        """The finished chunk keys of ``job``."""

        def run(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute("SELECT chunk FROM finished_chunk WHERE job = ?", (job,))
            return {str(r[0]) for r in rows}

        return await self._db.run(run)

    async def mark_finished(
        self, job: str, keys: Iterable[str], *, cursor: tuple[str, int] | None = None
    ) -> None:
        """Record ``keys`` (and ``cursor``) in one transaction."""
        now = time.time()
        rows = [(job, k, now) for k in keys]

        def run(conn: sqlite3.Connection) -> None:
            with immediate(conn):
                conn.executemany(
                    "INSERT OR REPLACE INTO finished_chunk (job, chunk, finished_at) "
                    "VALUES (?, ?, ?)",
                    rows,
                )
                if cursor is not None:
                    conn.execute(_PUT_SQL, (cursor[0], cursor[1], now))

        await self._db.run(run)

    async def forget(self, job: str) -> None:
        """Drop the finished keys of ``job``."""
        await self._db.run(
            lambda conn: conn.execute("DELETE FROM finished_chunk WHERE job = ?", (job,))
        )

    async def aclose(self) -> None:
        """Close the file. Idempotent."""
        await self._db.aclose()


def open_checkpoint(
    checkpoint: CheckpointStore | str | os.PathLike[str] | None,
) -> tuple[CheckpointStore, bool]:
    """Resolve a ``checkpoint`` argument: a store as is, a path as a SQLite store, ``None``
    as a memory store. Returns ``(store, owned)``; ``owned`` stores are closed by the
    caller that opened them."""
    if checkpoint is None:
        return MemoryCheckpointStore(), True
    if isinstance(checkpoint, str | os.PathLike):
        return SQLiteCheckpointStore(checkpoint), True
    return checkpoint, False
