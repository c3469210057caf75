"""Hostile tests of the token path: failures shared and bounded, refusals final, outages not.

A refused credential must end long-running work (guide, Authentication: the endpoint
documents only 200 and 500, so a 500 that keeps coming back counts as refused); a token
endpoint that is merely unreachable or overloaded for a moment must not turn into a
permanent refusal of every later call.
"""

from __future__ import annotations

import asyncio

import pytest

from maxxton_async import (
    AuthenticationError,
    MaxxtonError,
    RetryPolicy,
)
from tests._attack import make
from tests._counting_server import CountingServer, Scripted, failing_token_server

ONE_TRY = RetryPolicy(max_attempts=1)


@pytest.mark.parametrize("outage", [502, 503, 504, "timeout"])
async def test_a_token_endpoint_outage_is_not_a_refused_credential(
    creds: dict[str, str], outage: int | str
) -> None:
    failing = failing_token_server(creds, outage, retry=ONE_TRY, timeout=0.2)
    async with failing as (server, client, _):
        failures = []
        for _ in range(4):  # a gateway outage of a few seconds
            with pytest.raises(MaxxtonError) as info:
                await client.request("GET", "ping")
            failures.append(info.value)
        server.auth_status = None  # the gateway is back
        server.auth_hang = False
        result = await client.request("GET", "ping")
    assert result == {"ok": True, "path": "/maxxton/v2/ping"}
    assert not any(isinstance(f, AuthenticationError) for f in failures), failures


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_index_sync_run_ends_on_refused_credentials(
    creds: dict[str, str], status: int, tmp_path: object
) -> None:
    from datetime import date

    from maxxton_async import Harvest, IndexSync

    async with failing_token_server(creds, status) as (server, client, time):
        harvest = Harvest(
            client,
            arrival_from=date(2027, 1, 1),
            arrival_to=date(2027, 1, 10),
            durations=[7],
            clock=time.clock,
        )
        sync = IndexSync(harvest, f"{tmp_path}/index.sqlite3", clock=time.clock)
        with pytest.raises(AuthenticationError):
            await asyncio.wait_for(sync.run(interval=0, max_passes=30), 30)
    assert server.auth_calls <= 3
    assert server.api_calls() == []


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_harvest_ends_on_refused_credentials(creds: dict[str, str], status: int) -> None:
    from datetime import date

    from maxxton_async import Harvest

    async with failing_token_server(creds, status) as (server, client, time):
        harvest = Harvest(
            client,
            arrival_from=date(2027, 1, 1),
            arrival_to=date(2027, 3, 1),
            durations=[7, 14],
            clock=time.clock,
        )
        try:
            result = await asyncio.wait_for(harvest.run(), 30)
        except AuthenticationError:
            result = None
    # It ends: refused at once (401/403), or after the token manager gave up or the
    # chunks' retry round was spent (500, which may be a passing fault).
    if status != 500:
        assert result is None
    else:
        assert result is None or len(result.failed) > 0
    assert server.auth_calls <= 3
    assert server.api_calls() == []


async def test_a_create_answered_429_is_resent_and_both_are_counted(
    creds: dict[str, str],
) -> None:
    """By design a 429 (the server refused the call unprocessed: docs/wire-contract.md)
    is retried even for a create; 5xx never is. Both attempts reach the ledger."""
    async with CountingServer() as server, make(server.base_url, creds) as client:
        server.script.append(Scripted(429, headers={"Retry-After": "0"}))
        await client.request("POST", "reservations", json={"a": 1})
        server.script.append(Scripted(429))
        await client.request("POST", "reservations", json={"a": 2})
        server.script.append(Scripted(503))
        with pytest.raises(MaxxtonError):
            await client.request("POST", "reservations", json={"a": 3})
        snap = await client.usage.snapshot()
    posts = [c for c in server.api_calls() if c.method == "POST"]
    assert len(posts) == 5  # 2 + 2 + 1: the 503'd create was not resent
    assert snap.today == server.requests


async def test_closing_during_a_mint_cool_down_gives_waiters_a_typed_error(
    creds: dict[str, str],
) -> None:
    """The first mint failed; the next one waits its cool-down (an injected sleep that
    never ends by itself). ``aclose()`` meanwhile: the waiting caller was not cancelled,
    so it must get a typed error, not a CancelledError (which a TaskGroup would take for
    its own cancellation)."""
    gate = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await gate.wait()

    async with CountingServer() as server:
        server.auth_status = 500
        client = make(server.base_url, creds, retry=ONE_TRY, sleep=sleep)
        with pytest.raises(MaxxtonError):
            await client.request("GET", "ping")
        waiter = asyncio.ensure_future(client.request("GET", "ping"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiter.done()
        await asyncio.wait_for(client.aclose(), 5)
        results = await asyncio.gather(waiter, return_exceptions=True)
    assert isinstance(results[0], MaxxtonError), results
