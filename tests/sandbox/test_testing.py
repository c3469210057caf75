"""The user-facing helpers: maxxton_async.testing and the CLI subcommand."""

from __future__ import annotations

import argparse
from pathlib import Path

import aiohttp
import pytest

from maxxton_async import MemoryLedger
from maxxton_async.cli._sandbox import register
from maxxton_async.sandbox import Sandbox
from maxxton_async.testing import sandbox, sandbox_fixture

from .conftest import API, get_token

small = sandbox_fixture(seed=3, token_ttl=120)
named = sandbox_fixture(name="other_sandbox", seed=4)


async def test_fixture_factory(small: Sandbox) -> None:
    assert small.data.seed == 3
    async with aiohttp.ClientSession(small.base_url) as http:
        token = await get_token(http, small)
        async with http.get(
            f"{API}/locations", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200
    assert small.statistics().token_calls == 1


async def test_named_fixture(other_sandbox: Sandbox) -> None:
    assert other_sandbox.data.seed == 4


async def test_context_manager() -> None:
    async with sandbox(seed=9) as sb:
        assert sb.base_url.startswith("http://127.0.0.1:")
        assert (sb.client_id, sb.client_secret, sb.scope) == ("sandbox", "sandbox-secret", "sbx")
        async with aiohttp.ClientSession(sb.base_url) as http, http.get("/_sandbox/stats") as r:
            assert (await r.json())["requestsTotal"] == 0


def test_cli_parser() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "sandbox",
            "--port",
            "0",
            "--latency",
            "0.02",
            "--jitter",
            "0.01",
            "--error-rate",
            "0.1",
            "--rate-limit-burst",
            "3",
            "--drop-rate",
            "0.05",
            "--malformed-rate",
            "0.01",
            "--token-ttl",
            "60",
            "--size",
            "demo",
            "--seed",
            "2",
        ]
    )
    assert args.latency == 0.02
    assert args.rate_limit_burst == 3
    assert args.token_ttl == 60
    assert callable(args.func)


async def test_sandbox_client_counts_in_memory_never_in_the_default_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAXXTON_USAGE_DB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    async with sandbox(seed=9) as sb, sb.client() as client:
        await client.customers.list(size=1)
        assert isinstance(client.usage.ledger, MemoryLedger)
        assert client.base_url == sb.base_url
        assert (await client.usage.snapshot()).today == 2  # the token and the page
    assert sb.statistics().token_calls == 1
    assert not (tmp_path / "cache").exists()


async def test_sandbox_client_takes_the_ledger_and_options_it_is_given() -> None:
    ledger = MemoryLedger()
    async with sandbox(seed=9) as sb, sb.client(ledger=ledger, max_in_flight=3) as client:
        await client.customers.list(size=1)
        assert client.usage.ledger is ledger
        assert client.limiter.capacity == 3
        assert (await client.usage.snapshot()).today == 2
