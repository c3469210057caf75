"""SQLite stores: the embedded default usage ledger, and a token cache shared on one host.

Both keep one ``sqlite3`` connection per object, used only from one dedicated worker thread,
so SQLite I/O never blocks the event loop and a call costs one thread hop (tens of µs, see
``benchmarks/overhead.py``). The database runs in WAL mode with ``synchronous=NORMAL``
(commits survive a process crash; a power cut may lose the last ones, acceptable for
counters) and a busy timeout, so several processes can write at once.

Counting is exact across processes: each record is one ``INSERT ... ON CONFLICT DO UPDATE
SET n = n + excluded.n ... RETURNING`` statement, atomic under SQLite's write lock, and it
returns the new day and month totals in the same statement. The check-and-count of a hard
budget runs in one ``BEGIN IMMEDIATE`` transaction, so no two processes can both take the
last free request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from ._auth import CachedToken
from ._ledger import (
    BatchKey,
    DayUsage,
    TotalsKey,
    UsageCounts,
    UsageKind,
    WriteBehindLedger,
    month_key,
    usage_days,
)

try:  # POSIX only; elsewhere the token lock is per process (documented below).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SQLiteLedger",
    "SQLiteTokenCache",
    "default_token_path",
    "default_usage_path",
]

logger = logging.getLogger("maxxton_async.sqlite")

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 10_000


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "maxxton-async"


def default_usage_path() -> Path:
    """Where :class:`SQLiteLedger` keeps its counts when given no path.

    ``$MAXXTON_USAGE_DB`` if set, else ``$XDG_CACHE_HOME/maxxton-async/usage.sqlite3``
    (``~/.cache`` when ``XDG_CACHE_HOME`` is unset).
    """
    env = os.environ.get("MAXXTON_USAGE_DB")
    return Path(env) if env else _cache_dir() / "usage.sqlite3"


def default_token_path() -> Path:
    """Where :class:`SQLiteTokenCache` keeps tokens when given no path.

    ``$MAXXTON_TOKEN_DB`` if set, else ``tokens.sqlite3`` beside the usage database's
    default location.
    """
    env = os.environ.get("MAXXTON_TOKEN_DB")
    return Path(env) if env else _cache_dir() / "tokens.sqlite3"


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction that takes the write lock first (``BEGIN IMMEDIATE``).

    No other process can write between what the body reads and what it writes. Commits
    when the body returns; rolls back on any exception (if SQLite has not already).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Connection:
    """One sqlite3 connection, opened lazily and used only from one dedicated thread."""

    def __init__(self, path: Path, schema: str, name: str) -> None:
        self.path = path
        self._schema = schema
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._name = name
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Owner-only: the token cache holds bearer tokens. SQLite gives the -wal and
            # -shm files the database file's permissions.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        # isolation_level=None: autocommit; each statement is its own transaction unless
        # we say BEGIN. check_same_thread=False only because the thread that closes it
        # may differ at interpreter exit; every use goes through the one executor thread.
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        # Several processes may create the schema at once; the busy timeout covers the
        # write lock, a few bounded retries cover switching to WAL.
        for attempt in range(20):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(self._schema)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 19:
                    conn.close()
                    raise
                time.sleep(0.05)
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = self._open()
        return fn(self._conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in the dedicated thread and return its result."""
        if self._closed:
            raise RuntimeError(f"{self._name} is closed")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the connection in its thread, then stop the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, close)
        finally:
            executor.shutdown(wait=False)


_LEDGER_SCHEMA = """
-- One row per (scope, environment, month, day, kind). Totals are rows too, so that one
-- upsert returns the new day and month totals: kind '' is the day's total, and day ''
-- with kind '' is the month's total.
CREATE TABLE IF NOT EXISTS usage (
    scope TEXT NOT NULL,
    environment TEXT NOT NULL,
    month TEXT NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (scope, environment, month, day, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS peak (
    scope TEXT NOT NULL,
    environment TEXT NOT NULL,
    month TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (scope, environment, month)
) WITHOUT ROWID;
"""

_RECORD_SQL = """
INSERT INTO usage (scope, environment, month, day, kind, n)
VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, '', ?), (?, ?, ?, '', '', ?)
ON CONFLICT (scope, environment, month, day, kind) DO UPDATE SET n = n + excluded.n
RETURNING day, kind, n
"""

_COUNTS_SQL = """
SELECT day, n FROM usage
WHERE scope = ? AND environment = ? AND month = ? AND kind = '' AND day IN (?, '')
"""

_HISTORY_SQL = """
SELECT day, kind, n FROM usage
WHERE scope = ? AND environment = ? AND day BETWEEN ? AND ? AND kind != ''
"""

_PEAK_SQL = """
INSERT INTO peak (scope, environment, month, n) VALUES (?, ?, ?, ?)
ON CONFLICT (scope, environment, month) DO UPDATE SET n = max(n, excluded.n)
"""


def _record(conn: sqlite3.Connection, args: tuple[str, str, str, str, str, int]) -> UsageCounts:
    day_total = month_total = 0
    # Plain "?" placeholders, the values repeated: numbered ones ("?1") bound from a
    # sequence are deprecated since Python 3.13 and refused from 3.14.
    scope, environment, month, day_iso, kind_name, count = args
    values = [scope, environment, month, day_iso, kind_name, count]
    values += [scope, environment, month, day_iso, count, scope, environment, month, count]
    for day, kind, n in conn.execute(_RECORD_SQL, values).fetchall():
        if kind == "":
            if day == "":
                month_total = n
            else:
                day_total = n
    return UsageCounts(day=day_total, month=month_total)


def _counts(conn: sqlite3.Connection, scope: str, environment: str, day: date) -> UsageCounts:
    day_total = month_total = 0
    iso = day.isoformat()
    for d, n in conn.execute(_COUNTS_SQL, (scope, environment, month_key(day), iso)):
        if d == "":
            month_total = n
        else:
            day_total = n
    return UsageCounts(day=day_total, month=month_total)


class SQLiteLedger(WriteBehindLedger):
    """The embedded default ledger: a SQLite file, exact across processes on one host.

    Args:
        path: the database file; default :func:`default_usage_path` (``$MAXXTON_USAGE_DB``
            or ``~/.cache/maxxton-async/usage.sqlite3``). Created with its directory.

    The file is opened on first use, in a dedicated thread. Implements
    :class:`~maxxton_async.BoundedLedger`, so hard budgets are exact across processes, and
    :class:`~maxxton_async.DeferredLedger`, so that without a hard budget a call costs a
    dict update and counts are written in batches, one transaction per event-loop turn.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_usage_path()
        self._db = Connection(self.path, _LEDGER_SCHEMA, "maxxton-usage-sqlite")
        super().__init__()

    async def _apply(self, batch: dict[BatchKey, int]) -> dict[TotalsKey, UsageCounts]:
        rows = [
            (scope, env, month_key(day), day.isoformat(), str(kind), n)
            for (scope, env, day, kind), n in batch.items()
        ]

        def run(conn: sqlite3.Connection) -> dict[TotalsKey, UsageCounts]:
            totals: dict[TotalsKey, UsageCounts] = {}
            with immediate(conn):
                for args in rows:
                    counts = _record(conn, args)
                    totals[(args[0], args[1], date.fromisoformat(args[3]))] = counts
            return totals

        return await self._db.run(run)

    def __repr__(self) -> str:
        return f"<SQLiteLedger path={str(self.path)!r}>"

    @staticmethod
    def _args(
        scope: str, environment: str, kind: UsageKind, at: datetime, count: int
    ) -> tuple[str, str, str, str, str, int]:
        day = at.astimezone(UTC).date()
        return (scope, environment, month_key(day), day.isoformat(), str(kind), count)

    async def record_within(
        self,
        *,
        scope: str,
        environment: str,
        kind: UsageKind,
        at: datetime,
        daily: int,
        monthly: int,
        count: int = 1,
    ) -> tuple[bool, UsageCounts]:
        """Count only if both totals stay within the limits, in one write transaction."""
        await self._behind.flush()
        args = self._args(scope, environment, kind, at, count)
        day = at.astimezone(UTC).date()

        def run(conn: sqlite3.Connection) -> tuple[bool, UsageCounts]:
            # IMMEDIATE takes the write lock before the read: no other process can
            # count between our check and our increment.
            with immediate(conn):
                current = _counts(conn, scope, environment, day)
                if current.day + count > daily or current.month + count > monthly:
                    return False, current  # nothing written: the commit is empty
                return True, _record(conn, args)

        return await self._db.run(run)

    async def counts(self, *, scope: str, environment: str, day: date) -> UsageCounts:
        """Return the totals for ``day`` and its month (queued counts written first)."""
        await self._behind.flush()
        return await self._db.run(lambda conn: _counts(conn, scope, environment, day))

    async def history(
        self, *, scope: str, environment: str, start: date, end: date
    ) -> list[DayUsage]:
        """One :class:`DayUsage` per day from ``start`` to ``end`` inclusive."""
        await self._behind.flush()

        def run(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            args = (scope, environment, start.isoformat(), end.isoformat())
            return conn.execute(_HISTORY_SQL, args).fetchall()

        by_day: dict[str, dict[str, int]] = {}
        for day, kind, n in await self._db.run(run):
            by_day.setdefault(day, {})[kind] = int(n)
        return usage_days(start, end, lambda day: by_day.get(day.isoformat(), {}))

    async def record_peak(
        self, *, scope: str, environment: str, month: str, in_flight: int
    ) -> None:
        """Raise the month's peak concurrency to ``in_flight`` if higher."""
        args = (scope, environment, month, in_flight)
        await self._db.run(lambda conn: conn.execute(_PEAK_SQL, args))

    async def peak(self, *, scope: str, environment: str, month: str) -> int:
        """The month's highest recorded concurrency (0 when none)."""

        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT n FROM peak WHERE scope = ? AND environment = ? AND month = ?",
                (scope, environment, month),
            ).fetchone()
            return int(row[0]) if row else 0

        return await self._db.run(run)

    async def scopes(self) -> list[tuple[str, str]]:
        """Every ``(scope, environment)`` pair with counts, sorted (for reports)."""

        def run(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT DISTINCT scope, environment FROM usage ORDER BY scope, environment"
            ).fetchall()
            return [(str(s), str(e)) for s, e in rows]

        return await self._db.run(run)

    async def aclose(self) -> None:
        """Write queued counts, then close the database and its thread. Idempotent."""
        if not self._db.closed:
            await self._behind.flush()
        await self._db.aclose()


_TOKEN_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    key TEXT PRIMARY KEY,
    access_token TEXT NOT NULL,
    token_type TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""


class SQLiteTokenCache:
    """A token cache shared by the processes of one host, in a SQLite file.

    Implements the ``TokenCache`` protocol of the token manager. Only the access token, its
    type and expiry are stored (never the client secret), in a file readable by its owner
    only. Keys are opaque (the client passes a hash of its credentials and scope).

    :meth:`lock` is an exclusive ``flock`` on a per-key lock file beside the database: the
    kernel releases it when its holder dies, so a crashed refresher never blocks the
    others. Waiting is bounded by ``lock_timeout``; past it, the waiter logs a warning and
    proceeds without the lock (at worst one extra token is minted, which beats stalling
    every call). Within one process, waiters queue on an asyncio lock first, so only one
    of them polls the file. On platforms without ``fcntl`` the lock is per process only.

    Args:
        path: the database file; default :func:`default_token_path`.
        lock_timeout: the most seconds to wait for the refresh lock.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0
    ) -> None:
        self.path = Path(path) if path is not None else default_token_path()
        self.lock_timeout = lock_timeout
        self._db = Connection(self.path, _TOKEN_SCHEMA, "maxxton-token-sqlite")
        self._local_locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"<SQLiteTokenCache path={str(self.path)!r}>"

    async def get(self, key: str) -> CachedToken | None:
        """The stored token for ``key``, or ``None`` (also when it has expired)."""

        def run(conn: sqlite3.Connection) -> tuple[str, str, float] | None:
            row: tuple[str, str, float] | None = conn.execute(
                "SELECT access_token, token_type, expires_at FROM tokens WHERE key = ?",
                (key,),
            ).fetchone()
            return row

        row = await self._db.run(run)
        if row is None or row[2] <= time.time():
            return None
        return CachedToken(access_token=row[0], token_type=row[1], expires_at=float(row[2]))

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` under ``key``, replacing any other."""
        args = (key, token.access_token, token.token_type, token.expires_at)
        await self._db.run(
            lambda conn: conn.execute(
                "INSERT INTO tokens (key, access_token, token_type, expires_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "access_token = excluded.access_token, token_type = excluded.token_type, "
                "expires_at = excluded.expires_at",
                args,
            )
        )

    async def clear_if(self, key: str, access_token: str) -> bool:
        """Delete the token for ``key`` only if it is ``access_token``; true if deleted."""

        def run(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "DELETE FROM tokens WHERE key = ? AND access_token = ?", (key, access_token)
            )
            return cur.rowcount > 0

        return await self._db.run(run)

    def _lock_path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.path.with_name(f"{self.path.name}.{digest}.lock")

    @asynccontextmanager
    async def _lock(self, key: str) -> AsyncIterator[None]:
        local = self._local_locks.setdefault(key, asyncio.Lock())
        async with local:
            if fcntl is None:  # pragma: no cover - Windows
                yield
                return
            lock_path = self._lock_path(key)
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                acquired = await _flock(fd, self.lock_timeout)
                if not acquired:
                    logger.warning(
                        "token lock %s not acquired within %.0f s; proceeding without it",
                        lock_path,
                        self.lock_timeout,
                    )
                try:
                    yield
                finally:
                    if acquired:
                        fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """A cross-process lock held while one holder mints the token for ``key``."""
        return self._lock(key)

    async def aclose(self) -> None:
        """Close the database and its thread. Idempotent."""
        await self._db.aclose()


async def _flock(fd: int, wait: float) -> bool:
    """Take an exclusive flock on ``fd`` without blocking the loop; false on timeout."""
    assert fcntl is not None
    deadline = time.monotonic() + wait
    delay = 0.005
    # Bounded: at most timeout/0.005 iterations, usually far fewer as the delay doubles.
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        else:
            return True
