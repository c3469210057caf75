"""The 15-in-flight-per-IP rule (guide, API Pricing), counted on every path."""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from maxxton_async.sandbox import Sandbox

from .conftest import API


async def _until(cond: object, what: str) -> None:
    # Bounded wait (at most 500 polls of 10 ms) for the server to reach a state.
    for _ in range(500):
        if callable(cond) and cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sixteenth_concurrent_call_is_refused(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.reset_stats()
    hold = asyncio.Event()
    sb.faults.hold = hold
    sb.faults.update(latency=0.01)

    async def call() -> tuple[int, str | None]:
        async with http.get(f"{API}/locations", headers=auth) as resp:
            await resp.read()
            return resp.status, resp.headers.get("Retry-After")

    tasks = [asyncio.create_task(call()) for _ in range(16)]
    await _until(
        lambda: sb.statistics().rejected_in_flight == 1 and sb.statistics().in_flight == 15,
        "15 held and 1 refused",
    )
    hold.set()
    results = await asyncio.gather(*tasks)
    statuses = sorted(s for s, _ in results)
    assert statuses == [200] * 15 + [429]
    assert [ra for s, ra in results if s == 429] == ["1"]
    assert sb.statistics().peak_in_flight == 15
    assert sb.statistics().requests_total == 16
    assert sb.statistics().statuses[429] == 1


async def test_authenticate_counts_toward_the_cap(
    http: aiohttp.ClientSession,
) -> None:
    async with Sandbox(max_in_flight_per_ip=2) as sb, aiohttp.ClientSession(sb.base_url) as s:
        hold = asyncio.Event()
        sb.faults.hold = hold
        form = {
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "scope": sb.scope,
        }

        async def login() -> int:
            async with s.post(f"{API}/authenticate", data=form) as resp:
                await resp.read()
                return resp.status

        tasks = [asyncio.create_task(login()) for _ in range(3)]
        await _until(lambda: sb.statistics().rejected_in_flight == 1, "one refused login")
        hold.set()
        assert sorted(await asyncio.gather(*tasks)) == [200, 200, 429]
        assert sb.statistics().token_calls == 3
        assert sb.statistics().per_endpoint["POST /maxxton/v2/authenticate"] == 3


async def test_log_records_exactly_what_was_received(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.reset_stats()
    raw = "filter=lastName%3Ajansen&filter=customerId%3E%3A100010&sort=customerId,desc&size=5"
    url = URL(f"{sb.base_url}{API}/customers?{raw}", encoded=True)
    async with http.get(url, headers=auth) as resp:
        assert resp.status == 200
    (rec,) = sb.statistics().requests_to("GET /maxxton/v2/customers")
    assert rec.query == raw
    assert rec.status == 200
    assert rec.method == "GET"
    assert rec.client_ip == "127.0.0.1"
    async with http.get("/_sandbox/stats", params={"log": "1"}) as resp:
        stats = await resp.json()
    assert stats["log"][-1]["query"] == raw
    assert stats["perEndpoint"] == {"GET /maxxton/v2/customers": 1}
    assert stats["requestsTotal"] == 1  # admin calls are not counted
