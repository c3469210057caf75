"""The user-facing helpers: maxxton_async.testing and the CLI subcommand."""

from __future__ import annotations

import argparse

import aiohttp

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
    assert small.stats.token_calls == 1


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
