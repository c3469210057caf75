"""SQLiteLedger and SQLiteTokenCache on real files, including several OS processes."""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from maxxton_async import Budget, SQLiteLedger, SQLiteTokenCache
from maxxton_async.auth import CachedToken
from maxxton_async.usage import Usage, UsageKind, default_usage_path
from tests._support import LEDGER_AT, check_ledger_counts
from tests.workers.run import run_workers

AT = LEDGER_AT


def test_default_path_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAXXTON_USAGE_DB", str(tmp_path / "x.db"))
    assert default_usage_path() == tmp_path / "x.db"
    monkeypatch.delenv("MAXXTON_USAGE_DB")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_usage_path() == tmp_path / "cache" / "maxxton-async" / "usage.sqlite3"
    assert SQLiteLedger().path == default_usage_path()


async def test_record_counts_history_peak(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "u.db")
    await check_ledger_counts(ledger)
    await ledger.aclose()
    await ledger.aclose()  # idempotent
    # Durable: a new ledger on the same file sees everything.
    again = SQLiteLedger(tmp_path / "u.db")
    c = await again.counts(scope="s", environment="production", day=AT.date())
    assert (c.day, c.month) == (5, 5)
    await again.aclose()


async def test_wal_mode_and_owner_only_file(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "sub" / "u.db")
    await ledger.record(scope="s", environment="production", kind=UsageKind.CALL, at=AT)
    await ledger.aclose()
    conn = sqlite3.connect(tmp_path / "sub" / "u.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "u.db").st_mode) == 0o600


async def test_deferred_counts_land_on_flush_and_close(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "u.db")
    usage = Usage(ledger, scope="s", environment="production")
    # reserve() without a hard budget only queues: no await yields to the loop here.
    reservations = [
        await usage.reserve(UsageKind.CALL, method="GET", path="/x") for _ in range(250)
    ]
    assert ledger.pending == 250
    snap = await usage.snapshot()  # reads flush first
    assert snap.today == 250
    assert ledger.pending == 0
    for r in reservations:
        await r.commit()  # already committed by the flush: returns at once
    await usage.before_send(UsageKind.CALL, method="GET", path="/x")  # commits before return
    assert ledger.pending == 0
    await usage.reserve(UsageKind.CALL, method="GET", path="/x")
    assert ledger.pending == 1
    await ledger.aclose()  # close flushes
    again = SQLiteLedger(tmp_path / "u.db")
    assert (await again.counts(scope="s", environment="production", day=snap.at.date())).day == 252
    await again.aclose()


@pytest.mark.slow
async def test_four_processes_count_exactly(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    results = await run_workers([["ledger", f"sqlite:{db}", "500"] for _ in range(4)])
    assert [r["done"] for r in results] == [500] * 4
    ledger = SQLiteLedger(db)
    today = datetime.now(UTC).date()
    c = await ledger.counts(scope="mp", environment="production", day=today)
    assert (c.day, c.month) == (2000, 2000)
    hist = await ledger.history(scope="mp", environment="production", start=today, end=today)
    assert (hist[0].calls, hist[0].retries) == (1000, 1000)
    await ledger.aclose()


@pytest.mark.slow
async def test_hard_budget_exact_across_processes(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    results = await run_workers([["budget", f"sqlite:{db}", "60", "150"] for _ in range(4)])
    assert sum(r["sent"] for r in results) == 150
    assert sum(r["refused"] for r in results) == 240 - 150
    ledger = SQLiteLedger(db)
    c = await ledger.counts(scope="hard", environment="production", day=datetime.now(UTC).date())
    assert c.day == 150
    await ledger.aclose()


async def test_hard_budget_with_sqlite_refuses_before_counting(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "u.db")
    usage = Usage(
        ledger, scope="s", environment="production", budget=Budget(daily=100, monthly=3, hard=True)
    )
    for _ in range(3):
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    from maxxton_async import BudgetExceededError

    with pytest.raises(BudgetExceededError) as info:
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    assert info.value.limit_name == "monthly"
    assert (await usage.snapshot()).month == 3
    await ledger.aclose()


async def test_token_cache_roundtrip_and_compare_and_clear(tmp_path: Path) -> None:
    cache = SQLiteTokenCache(tmp_path / "t.db")
    assert await cache.get("k") is None
    tok = CachedToken(access_token="a1", token_type="Bearer", expires_at=time.time() + 60)
    await cache.set("k", tok)
    assert await cache.get("k") == tok
    assert await cache.clear_if("k", "other") is False
    assert await cache.get("k") == tok
    assert await cache.clear_if("k", "a1") is True
    assert await cache.get("k") is None
    expired = CachedToken(access_token="a2", token_type="Bearer", expires_at=time.time() - 1)
    await cache.set("k", expired)
    assert await cache.get("k") is None
    await cache.aclose()


@pytest.mark.slow
async def test_four_processes_share_one_token(tmp_path: Path) -> None:
    db, counter = tmp_path / "t.db", tmp_path / "mints.db"
    results = await run_workers(
        [["token", f"sqlite:{db}", "key-hash", str(counter)] for _ in range(4)]
    )
    tokens = {t for r in results for t in r["tokens"]}
    assert len(tokens) == 1
    conn = sqlite3.connect(counter)
    assert conn.execute("SELECT count(*) FROM mints").fetchone()[0] == 1
    conn.close()


async def _seed(db: Path) -> None:
    ledger = SQLiteLedger(db)
    now = datetime.now(UTC)
    await ledger.record(
        scope="abc", environment="production", kind=UsageKind.CALL, at=now, count=1234
    )
    await ledger.record(scope="abc", environment="test", kind=UsageKind.TOKEN, at=now, count=3)
    await ledger.aclose()


def test_cli_usage_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from maxxton_async.cli import main

    db = tmp_path / "u.db"
    asyncio.run(_seed(db))
    assert main(["usage", "--db", str(db), "--days", "3"]) == 0
    out = capsys.readouterr().out
    assert "1,234" in out  # production today
    assert "23,766" in out  # free left today: 25,000 - 1,234
    assert "test" in out  # the acceptance environment is reported separately
    assert "█" in out
    assert main(["usage", "--db", str(db), "--scope", "abc", "--environment", "test"]) == 0
    out = capsys.readouterr().out
    assert "1,234" not in out
    # A missing ledger file is a usage error (a typo), and reading never creates it.
    assert main(["usage", "--db", str(tmp_path / "empty.db")]) == 2
    assert not (tmp_path / "empty.db").exists()
