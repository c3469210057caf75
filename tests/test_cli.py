"""The ``harvest``, ``events sync`` and ``demo`` subcommands, run in-process."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from maxxton_async.cli import main
from maxxton_async.sandbox import Sandbox
from tests._support import sandbox_fixture

sb = sandbox_fixture(seed=7)


def connection(sb: Sandbox, tmp_path: Path) -> list[str]:
    return [
        "--base-url",
        sb.base_url,
        "--client-id",
        sb.client_id,
        "--client-secret",
        sb.client_secret,
        "--scope",
        sb.scope,
        "--usage-db",
        str(tmp_path / "cli-usage.sqlite3"),
    ]


def last_json(out: str) -> dict[str, Any]:
    line = [ln for ln in out.splitlines() if ln.startswith("{")][-1]
    data: dict[str, Any] = json.loads(line)
    return data


def test_demo_runs_end_to_end_and_agrees_with_the_sandbox(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "demo-prices.sqlite"
    assert main(["demo", "--json", "--latency", "0", "--out", str(out)]) == 0
    report = last_json(capsys.readouterr().out)
    h, e, u, s = report["harvest"], report["events"], report["usage"], report["server"]
    i = report["index"]
    assert report["consistent"] is True
    # Harvest: 90 days of every type, one call per chunk, the index holds every record.
    assert (
        h["arrivalTo"]
        == (dt.date.fromisoformat(h["arrivalFrom"]) + dt.timedelta(days=89)).isoformat()
    )
    # Portfolio mode (issue 14): one POST per 30-day window for every type.
    assert h["chunks"] == 3 == h["plannedCalls"] == h["availabilityCallsAtServer"]
    # The progress bar counts every call of the harvest; the report says what the others were.
    assert h["otherCalls"]["token"] == 1
    assert h["calls"] == h["plannedCalls"] + sum(h["otherCalls"].values())
    assert h["records"] == h["indexStays"] > 0
    with sqlite3.connect(out) as conn:
        # After the index sync's portfolio refresh (below) the index holds what it wrote.
        stays = conn.execute("SELECT count(*) FROM stay").fetchone()[0]
        assert stays == report["index"]["stays"] > 0
    # Event sync: every change seen, merged-away customers removed, batching saved calls.
    assert e["changedEntitiesSeen"] == e["changedEntities"] > 0
    assert e["merges"] >= 1
    assert e["mergedAwayRemoved"] == e["merges"]
    assert e["events"] == e["checkpoint"] == 1000 + e["mutations"]
    assert e["refreshCalls"] * 10 <= e["perEventCalls"]
    assert e["callsSaved"] == e["perEventCalls"] - e["refreshCalls"]
    # Usage: ledger, client and sandbox count the same requests.
    assert u["total"] == u["requestsSent"] == s["requests"] == sum(s["byEndpoint"].values())
    assert u["tokens"] == u["tokenCalls"] == s["tokenCalls"] == 1
    assert u["calls"] + u["retries"] + u["tokens"] == u["total"]
    availability = s["byEndpoint"]["POST /maxxton/v2/accommodationtypes/availability"]
    assert availability == h["plannedCalls"] + i["availabilityCalls"]
    # Index sync: the mutations' AVAILABILITY_EVENTs refreshed the index, which now equals
    # the sandbox's availability; one portfolio POST per window, not a nightly re-harvest.
    assert i["matchesSandbox"] is True
    assert i["typesChanged"] > 1
    assert i["refresh"] == "portfolio"
    assert i["availabilityCalls"] == 3 < i["nightlyPerTypeCalls"] == h["resources"] * 3
    assert i["checkpoint"] == e["checkpoint"]
    assert s["byEndpoint"]["GET /maxxton/v2/events"] == e["eventCalls"] + i["eventCalls"]
    assert 1 <= u["peakInFlight"] <= 15
    assert s["rejected"] == 0
    # Nothing went to the user's (here: the test's) default usage database.
    assert not (tmp_path / "usage.sqlite3").exists()


def test_demo_prints_a_readable_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--latency", "0", "--days", "30", "--mutations", "16"]) == 0
    text = capsys.readouterr().out
    assert "Harvest" in text
    assert "Event sync" in text
    assert "consistent" in text
    assert "INCONSISTENT" not in text


async def test_harvest_command_writes_ndjson_and_resumes(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = sb.data.start_date
    out = tmp_path / "prices.ndjson"
    args = [
        "harvest",
        *connection(sb, tmp_path),
        "--resource",
        "1000",
        "--resource",
        "1003",
        "--from",
        start.isoformat(),
        "--to",
        (start + dt.timedelta(days=44)).isoformat(),
        "--duration",
        "7",
        "--duration",
        "3",
        "--channel",
        "WEB",
        "--out",
        str(out),
        "--json",
    ]
    assert await asyncio.to_thread(main, args) == 0
    result = last_json(capsys.readouterr().out)
    assert result["plan"] == {
        "mode": "per-type",
        "implies": False,
        "resources": 2,
        "chunks": 4,
        "skipped": 0,
        "calls": 4,
        "window": 30,
        "durations": [3, 7],
    }
    want = {
        (rid, (start + dt.timedelta(days=i)).isoformat(), d)
        for rid in (1000, 1003)
        for i in range(45)
        for d in (3, 7)
        if sb.data.availability(rid, start + dt.timedelta(days=i), d) is not None
    }
    lines = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert {(r["resourceId"], r["arrivalDate"], r["duration"]) for r in lines} == want
    assert result["records"] == len(lines) == len(want)
    # The same command again: everything is finished, nothing is fetched.
    before = sb.statistics().requests_total
    assert await asyncio.to_thread(main, args) == 0
    again = last_json(capsys.readouterr().out)
    assert again["plan"]["skipped"] == 4
    assert again["calls"] == 0
    assert sb.statistics().requests_total == before  # not even a token call
    assert len(out.read_text().splitlines()) == len(want)


async def test_harvest_command_rejects_an_unknown_output_format(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "harvest",
        *connection(sb, tmp_path),
        "--from",
        "2027-01-01",
        "--to",
        "2027-01-31",
        "--duration",
        "7",
        "--out",
        str(tmp_path / "prices.csv"),
    ]
    assert await asyncio.to_thread(main, args) == 2
    assert "cannot tell the output format" in capsys.readouterr().err
    assert sb.statistics().requests_total == 0


async def test_events_sync_once_advances_the_checkpoint(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "events.sqlite"
    args = ["events", "sync", *connection(sb, tmp_path), "--checkpoint", str(checkpoint)]
    assert await asyncio.to_thread(main, [*args, "--once", "--json"]) == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["checkpoint"] == 1000
    assert summary["summary"]["events"] == 1000
    assert summary["summary"]["callsSaved"] > 0
    sb.mutate(3)
    assert await asyncio.to_thread(main, [*args, "--once", "--json"]) == 0
    lines = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    batches = [ln for ln in lines if "position" in ln]
    assert len(batches) == 1
    assert batches[0]["events"] == 3
    assert lines[-1]["checkpoint"] == 1003
    assert await asyncio.to_thread(main, [*args, "--once"]) == 0
    assert "0 events in 0 batches" in capsys.readouterr().out


COMMANDS = [[], ["demo"], ["sandbox"], ["harvest"], ["events"], ["events", "sync"], ["usage"],
            ["bench"]]  # fmt: skip


def option_lines_without_help(text: str) -> list[str]:
    """The option lines of an argparse help text that have no help text after them."""
    lines = text.splitlines()
    bare = []
    for i, line in enumerate(lines):
        if not line.startswith("  -"):
            continue
        invocation, gap, rest = line.strip().partition("  ")
        if gap and rest.strip():
            continue  # help on the same line
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not (following.startswith(" " * 10) and following.strip()):
            bare.append(invocation)
    return bare


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_option_has_help_and_the_exit_codes_are_listed(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert option_lines_without_help(text) == []
    assert "exit codes:" in text
    assert "130  interrupted" in text


def test_sandbox_help_shows_defaults(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["sandbox", "--help"]) == 0
    text = capsys.readouterr().out
    for shown in ("(default: 127.0.0.1)", "(default: 8080)", "(default: demo)",
                  "(default: 3600)", "(default: 15)", "--base-url"):  # fmt: skip
        assert shown in text


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_describe_error_maps_each_expected_failure_to_its_code() -> None:
    import maxxton_async as errors
    from maxxton_async.cli import ExitCode, describe_error

    cases: list[tuple[BaseException, int]] = [
        (errors.AuthenticationError("credentials refused (HTTP 401)"), ExitCode.AUTH),
        (errors.PermissionDeniedError("HTTP 403", method="GET", path="/x", status=403),
         ExitCode.AUTH),
        (errors.BudgetExceededError("daily budget spent", limit_name="daily", used=5, limit=5),
         ExitCode.BUDGET),
        (errors.ConnectError("connection refused"), ExitCode.UNAVAILABLE),
        (errors.ServerError("HTTP 503", method="GET", path="/x", status=503),
         ExitCode.UNAVAILABLE),
        (errors.LimiterUnavailableError("redis down"), ExitCode.UNAVAILABLE),
        (errors.ConfigurationError("missing credentials"), ExitCode.USAGE),
        (errors.NotFoundError("HTTP 404", method="GET", path="/x", status=404), ExitCode.FAILED),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED),
        (FileNotFoundError(2, "No such file or directory", "/nope"), ExitCode.FAILED),
    ]  # fmt: skip
    for exc, code in cases:
        described = describe_error(exc)
        assert described is not None, exc
        message, got = described
        assert got == code, (exc, message)
        assert "\n" not in message
    assert describe_error(ZeroDivisionError()) is None  # a bug keeps its traceback
    budget = describe_error(
        errors.BudgetExceededError("monthly budget spent", limit_name="monthly", used=1, limit=1)
    )
    assert budget is not None
    assert "next month" in budget[0]


def harvest_args(sb: Sandbox, tmp_path: Path, out: str, *extra: str) -> list[str]:
    start = sb.data.start_date
    return [
        "harvest",
        *connection(sb, tmp_path),
        "--from",
        start.isoformat(),
        "--to",
        (start + dt.timedelta(days=59)).isoformat(),
        "--duration",
        "7",
        "--channel",
        "WEB",
        "--out",
        out,
        "--json",
        *extra,
    ]


def truth_7(sb: Sandbox) -> set[tuple[int, str, int]]:
    start = sb.data.start_date
    return {
        (rid, (start + dt.timedelta(days=i)).isoformat(), 7)
        for rid in sb.data.accommodation_types
        for i in range(60)
        if sb.data.availability(rid, start + dt.timedelta(days=i), 7) is not None
    }


async def test_harvest_follow_keeps_the_index_fresh_from_events(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prices.sqlite"
    args = harvest_args(sb, tmp_path, str(out), "--follow", "--passes", "1", "--interval", "0")
    assert await asyncio.to_thread(main, args) == 0
    first = last_json(capsys.readouterr().out)
    assert first["full"] is True
    assert first["committed"] is True
    sb.mutate(16)
    assert await asyncio.to_thread(main, args) == 0
    second = last_json(capsys.readouterr().out)
    assert second["events"] >= 16
    assert second["changed"]
    assert second["mode"] == "portfolio"
    assert second["calls"] == 1 + 2 + 1  # token, one events page, one POST per window
    with sqlite3.connect(out) as conn:
        rows = conn.execute("SELECT resource_id, arrival_date, duration FROM stay").fetchall()
    assert set(rows) == truth_7(sb)


async def test_harvest_asks_before_a_large_harvest_and_refuses_without_a_terminal(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "prices.sqlite")
    args = harvest_args(sb, tmp_path, out, "--confirm-above", "1")
    assert await asyncio.to_thread(main, args) == 2
    err = capsys.readouterr().err
    assert "portfolio harvest" in err  # the plan was printed first
    assert "--yes" in err
    assert sb.statistics().requests_total == 0  # the portfolio plan needs no call
    assert await asyncio.to_thread(main, [*args, "--yes"]) == 0
    assert last_json(capsys.readouterr().out)["complete"] is True


async def test_harvest_fresh_fetches_again_and_writes_to_postgresql(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ._pg_util import drop_schema, require_postgres, unique_schema

    url = await require_postgres()
    schema = unique_schema("cli")
    try:
        args = harvest_args(sb, tmp_path, url, "--schema", schema)
        assert await asyncio.to_thread(main, args) == 0
        assert last_json(capsys.readouterr().out)["plan"]["calls"] == 2
        assert await asyncio.to_thread(main, args) == 0
        assert last_json(capsys.readouterr().out)["plan"]["calls"] == 0  # resumed: done
        assert await asyncio.to_thread(main, [*args, "--fresh"]) == 0
        assert last_json(capsys.readouterr().out)["plan"]["calls"] == 2
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                f"SELECT resource_id, arrival_date, duration FROM {schema}.stay"
            )
        finally:
            await conn.close()
        assert {(r[0], r[1].isoformat(), r[2]) for r in rows} == truth_7(sb)
    finally:
        await drop_schema(url, schema)
