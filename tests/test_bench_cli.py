"""``maxxton-async bench`` against an in-process sandbox: counts, never times."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from maxxton_async.cli import main
from maxxton_async.cli._bench import is_production
from maxxton_async.sandbox import Sandbox


def sandbox_args(sb: Sandbox) -> list[str]:
    """The CLI options that point it at ``sb`` with its credentials."""
    return [
        "--base-url", sb.base_url,
        "--client-id", sb.client_id,
        "--client-secret", sb.client_secret,
        "--scope", sb.scope,
    ]  # fmt: skip


async def test_bench_counts_every_call(capsys: pytest.CaptureFixture[str]) -> None:
    async with Sandbox(seed=1) as sb:
        customer_id = next(iter(sb.data.customers))
        args = [
            "bench",
            *sandbox_args(sb),
            "--requests", "60",
            "--max-in-flight", "15",
            "--path", f"/maxxton/v2/customers/{customer_id}",
            "--ledger", "memory",
            "--json",
        ]  # fmt: skip
        # The CLI runs its own event loop; the sandbox keeps serving from this one.
        assert await asyncio.to_thread(main, args) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["requests"] == 60
        assert result["failed"] == 0
        assert result["token_calls"] == 1
        assert result["retries"] == 0
        assert result["calls_spent"] == 61  # 60 GETs and the token call
        assert sb.statistics().requests_total == 61
        assert sb.statistics().token_calls == 1
        assert sb.statistics().rejected_in_flight == 0
        assert 1 <= result["peak_in_flight"] <= 15
        assert sb.statistics().peak_in_flight <= 15
        assert result["p50_ms"] <= result["p95_ms"]


async def test_bench_plain_output_with_query_path(capsys: pytest.CaptureFixture[str]) -> None:
    async with Sandbox(seed=1) as sb:
        args = [
            "bench",
            *sandbox_args(sb),
            "--requests", "5",
            "--max-in-flight", "2",
            "--path", "/maxxton/v2/customers?size=1",
            "--ledger", "memory",
        ]  # fmt: skip
        assert await asyncio.to_thread(main, args) == 0
        out = capsys.readouterr().out
        assert "req/s" in out
        assert "calls spent     6" in out
        assert sb.statistics().requests_total == 6
        listed = [r for r in sb.statistics().log if r.path == "/maxxton/v2/customers"]
        assert len(listed) == 5
        assert all(r.query == "size=1" for r in listed)


@pytest.fixture
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdin is not a terminal (as under cron), even when pytest runs with ``-s``."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


@pytest.mark.usefixtures("no_terminal")
@pytest.mark.parametrize(
    "extra",
    [
        ["--environment", "production"],
        ["--base-url", "https://api.maxxton.net"],
        ["--base-url", "https://api.maxxton.net/", "--environment", "test"],
    ],
)
def test_bench_refuses_production_without_confirmation(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused before any client exists: no connection is attempted, so no host is needed.
    args = ["bench", "--client-id", "x", "--client-secret", "y", "--scope", "z", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "billed" in err
    assert "--i-understand-this-is-billed" in err


@pytest.mark.usefixtures("no_terminal")
def test_bench_refuses_production_from_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MAXXTON_ENVIRONMENT", "production")
    assert main(["bench", "--client-id", "x", "--client-secret", "y", "--scope", "z"]) == 2
    assert "--i-understand-this-is-billed" in capsys.readouterr().err


def test_is_production() -> None:
    assert is_production("production", None)
    assert is_production("production", "http://127.0.0.1:8080")  # billed by environment
    assert is_production(None, "https://api.maxxton.net")
    assert not is_production("test", None)
    assert not is_production(None, "http://127.0.0.1:8080")
    assert not is_production("test", "https://api-test.maxxton.net")


def test_bench_rejects_unbounded_requests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--requests", "0", "--client-id", "x"]) == 2
    assert "--requests" in capsys.readouterr().err
