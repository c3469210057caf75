"""The send path against a real aiohttp server on loopback that counts what it receives."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec
import pytest

from maxxton_async import (
    AuthenticationError,
    Budget,
    BudgetExceededError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    F,
    MaxxtonClient,
    MemoryLedger,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
)
from maxxton_async.transport import AiohttpTransport
from tests._counting_server import CLIENT_SECRET, CountingServer, Scripted
from tests._support import wait_until

FAST = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.01)


class Item(msgspec.Struct):
    id: int


def make(server: CountingServer, creds: dict[str, str], **kw: Any) -> MaxxtonClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("ledger", MemoryLedger())
    return MaxxtonClient(**creds, base_url=server.base_url, **kw)


async def test_thousand_concurrent_calls_never_exceed_the_cap_and_reach_it(
    creds: dict[str, str],
) -> None:
    async with CountingServer(latency=0.005) as server, make(server, creds) as client:
        results = await asyncio.gather(
            *(client.request("GET", "/maxxton/v2/ping") for _ in range(1000))
        )
        assert len(results) == 1000
        assert server.peak == 15  # measured by the server, the auth call included
        assert server.requests == 1001
        stats = client.statistics()
        assert stats.peak_in_flight == 15
        assert stats.requests_sent == 1001
        assert stats.token_calls == 1
        assert stats.in_flight == 0


async def test_cap_is_configurable(creds: dict[str, str]) -> None:
    async with (
        CountingServer(latency=0.005) as server,
        make(server, creds, max_in_flight=4) as client,
    ):
        await asyncio.gather(*(client.request("GET", "ping") for _ in range(100)))
        assert server.peak == 4


async def test_token_is_single_flight(server: CountingServer, creds: dict[str, str]) -> None:
    server.latency = 0.01
    async with make(server, creds) as client:
        await asyncio.gather(*(client.request("GET", "ping") for _ in range(200)))
    assert server.auth_calls == 1


async def test_form_body_carries_the_credentials(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        await client.request("GET", "ping")
    auth = server.seen[0]
    assert auth.path == "/maxxton/v2/authenticate"
    assert auth.query == ""
    assert b"grant_type=client_credentials" in auth.body
    assert b"scope=tst" in auth.body


async def test_query_string_auth_transport(server: CountingServer, creds: dict[str, str]) -> None:
    async with make(server, creds, auth_transport="query") as client:
        await client.request("GET", "ping")
    auth = server.seen[0]
    assert "client_id=tester" in auth.query
    assert auth.body == b""


async def test_401_reauthenticates_once_and_replays(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        await client.request("GET", "ping")
        server.revoke()
        await asyncio.gather(*(client.request("GET", "ping") for _ in range(15)))
        assert server.auth_calls == 2  # one re-auth for all 15 callers
        assert client.statistics().token_calls == 2


async def test_second_401_raises_unauthorized(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        await client.request("GET", "ping")
        body = b'{"error":"invalid_token"}'
        server.script.extend([Scripted(401, body), Scripted(401, body)])
        with pytest.raises(UnauthorizedError) as info:
            await client.request("GET", "ping")
        assert info.value.status == 401
        assert info.value.body == body
        assert server.auth_calls == 2


async def test_refused_credentials_raise_without_the_secret(server: CountingServer) -> None:
    client = MaxxtonClient(
        "tester", "wrong-" + CLIENT_SECRET, "tst", base_url=server.base_url, ledger=MemoryLedger()
    )
    async with client:
        with pytest.raises(AuthenticationError) as info:
            await client.request("GET", "ping")
    err = info.value
    assert "Bad client credentials" in str(err)
    for text in (str(err), repr(err), err.body.decode(), repr(client)):
        assert CLIENT_SECRET not in text
    assert server.auth_calls == 1


async def test_retries_503_then_succeeds(server: CountingServer, creds: dict[str, str]) -> None:
    async with make(server, creds) as client:
        server.script.extend([Scripted(503), Scripted(502)])
        assert await client.request("GET", "ping") == {"ok": True, "path": "/maxxton/v2/ping"}
        stats = client.statistics()
    assert len(server.api_calls()) == 3
    assert stats.retries == 2
    snap = await client.usage.snapshot()
    assert snap.today == 4  # token + 3 attempts: every attempt is counted


async def test_gives_up_after_max_attempts(server: CountingServer, creds: dict[str, str]) -> None:
    async with make(server, creds) as client:
        server.script.extend([Scripted(503, b"busy")] * 4)
        with pytest.raises(ServerError) as info:
            await client.request("GET", "ping")
    assert info.value.status == 503
    assert info.value.body == b"busy"
    assert len(server.api_calls()) == 4


async def test_non_idempotent_post_is_not_retried(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        server.script.append(Scripted(503))
        with pytest.raises(ServerError):
            await client.request("POST", "reservations", json={"x": 1})
        assert len(server.api_calls()) == 1
        # A read-only POST declared idempotent is retried.
        server.script.append(Scripted(503))
        await client.request("POST", "accommodationtypes/search", json={}, idempotent=True)
        assert len(server.api_calls("/maxxton/v2/accommodationtypes/search")) == 2
        # A 429 was not processed: even a create is resent.
        server.script.append(Scripted(429, headers={"Retry-After": "0"}))
        await client.request("POST", "reservations", json={"x": 2})
        assert len(server.api_calls("/maxxton/v2/reservations")) == 3


async def test_lost_answer_to_a_create_is_outcome_unknown(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        await client.request("GET", "ping")
        server.script.append(Scripted(drop=True))
        with pytest.raises(OutcomeUnknownError):
            await client.request("POST", "reservations", json={"x": 1})
        assert len(server.api_calls("/maxxton/v2/reservations")) == 1
        # The same drop on a GET is retried.
        server.script.append(Scripted(drop=True))
        assert await client.request("GET", "ping")


async def test_connection_refused_is_a_connect_error(creds: dict[str, str]) -> None:
    async with CountingServer() as server:
        url = server.base_url
    client = MaxxtonClient(**creds, base_url=url, retry=FAST, ledger=MemoryLedger())
    async with client:
        with pytest.raises(ConnectError):
            await client.request("GET", "ping")
        assert client.statistics().requests_sent == 2  # the token call, retried once
        assert client.statistics().token_calls == 2  # attempts, failed ones included


async def test_retry_after_is_honoured_and_capped(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        server.script.append(Scripted(429, headers={"Retry-After": "0"}))
        assert await client.request("GET", "ping")
        server.script.append(Scripted(429, b'{"status":429}', headers={"Retry-After": "3600"}))
        with pytest.raises(RateLimitError) as info:
            await client.request("GET", "ping")
    assert info.value.retry_after == 3600
    assert info.value.body == b'{"status":429}'


async def test_slot_is_released_while_backing_off(creds: dict[str, str]) -> None:
    policy = RetryPolicy(backoff_base=0.2, backoff_max=0.2, rng=lambda: 1.0)
    async with (
        CountingServer() as server,
        make(server, creds, max_in_flight=1, retry=policy) as client,
    ):
        await client.request("GET", "ping")
        server.script.append(Scripted(503))
        slow = asyncio.create_task(client.request("GET", "first"))
        await wait_until(lambda: server.api_calls("/maxxton/v2/first"))  # first attempt seen
        # With one slot, this call can only finish first if the backing-off call let go.
        await client.request("GET", "second")
        assert not slow.done()
        await slow
    order = [s.path for s in server.api_calls()]
    assert order[-3:] == ["/maxxton/v2/first", "/maxxton/v2/second", "/maxxton/v2/first"]


async def test_filters_and_sort_as_the_server_receives_them(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        flt = ((F("lastName") == "Jansen") | F("city").contains("Ede")) & (F("age") >= 30)
        await client.request(
            "GET",
            "echo",
            params={"size": 50, "ids": [1, 2]},
            filter=flt,
            sort=["lastName,asc", "age,desc"],
        )
    from urllib.parse import parse_qsl

    got = parse_qsl(server.api_calls()[0].query)
    assert got == [
        ("size", "50"),
        ("ids", "1"),
        ("ids", "2"),
        ("filter", "lastName::Jansen||city:Ede"),
        ("filter", "age>:30"),
        ("sort", "lastName,asc"),
        ("sort", "age,desc"),
    ]


async def test_headers_default_and_override(server: CountingServer, creds: dict[str, str]) -> None:
    async with make(server, creds, locale="nl_NL", show_archived=True) as client:
        data = await client.request("GET", "echo")
        assert data["headers"]["locale"] == "nl_NL"
        assert data["headers"]["x-show-archived"] == "true"
        data = await client.request(
            "GET", "echo", headers={"Locale": "de", "x-show-archived": None}
        )
        assert data["headers"]["locale"] == "de"
        assert "x-show-archived" not in data["headers"]
        client.locale = "fr_FR"  # the cached defaults follow the attribute
        data = await client.request("GET", "echo")
        assert data["headers"]["locale"] == "fr_FR"
        assert data["headers"]["x-show-archived"] == "true"


async def test_json_body_and_typed_decode(server: CountingServer, creds: dict[str, str]) -> None:
    async with make(server, creds) as client:
        echoed = await client.request("PUT", "echo", json=Item(id=7))
        assert echoed["json"] == {"id": 7}
        assert await client.request("GET", "ping", type=dict[str, Any]) == {
            "ok": True,
            "path": "/maxxton/v2/ping",
        }


async def test_error_keeps_raw_body(server: CountingServer, creds: dict[str, str]) -> None:
    async with make(server, creds) as client:
        body = b'{"status":404,"message":"No customer found for given customer id."}'
        server.script.append(Scripted(404, body))
        with pytest.raises(NotFoundError) as info:
            await client.request("GET", "customers/9")
    err = info.value
    assert (err.status, err.body, err.method, err.path) == (
        404,
        body,
        "GET",
        "/maxxton/v2/customers/9",
    )


async def test_undecodable_body_keeps_raw_bytes(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds) as client:
        server.script.append(Scripted(200, b'{"id": "not-a-number"}'))
        with pytest.raises(ResponseDecodeError) as info:
            await client.request("GET", "thing", type=Item)
        assert info.value.body == b'{"id": "not-a-number"}'
        assert "$.id" in info.value.detail
        server.script.append(Scripted(200, b'{"truncated'))
        with pytest.raises(ResponseDecodeError) as info2:
            await client.request("GET", "thing")
        assert info2.value.body == b'{"truncated'


async def test_204_and_empty_body_are_none(server: CountingServer, creds: dict[str, str]) -> None:
    async with make(server, creds) as client:
        server.script.extend([Scripted(204, b""), Scripted(200, b"")])
        assert await client.request("GET", "x") is None
        assert await client.request("GET", "x", type=Item) is None


# -- pagination ------------------------------------------------------------------------


@pytest.mark.parametrize("prefetch", [True, False])
@pytest.mark.parametrize(("items", "size"), [(103, 10), (100, 10), (1, 7), (45, 45), (46, 45)])
async def test_paginate_odd_sizes(
    creds: dict[str, str], prefetch: bool, items: int, size: int
) -> None:
    async with CountingServer(items=items) as server, make(server, creds) as client:
        got = [
            i.id
            async for i in client.paginate(
                "items", item_type=Item, page_size=size, prefetch=prefetch
            )
        ]
        assert got == list(range(items))
        assert len(server.api_calls()) == -(-items // size)


async def test_paginate_trusts_the_server_size(creds: dict[str, str]) -> None:
    async with CountingServer(items=103, size_cap=25) as server, make(server, creds) as client:
        pages = [p async for p in client.paginate("items", item_type=Item, page_size=100).pages()]
        assert [p.size for p in pages] == [25] * 5
        assert sum(len(p.content) for p in pages) == 103


async def test_paginate_204_is_empty(creds: dict[str, str]) -> None:
    async with CountingServer(items=0) as server, make(server, creds) as client:
        assert await client.paginate("items", item_type=Item).collect() == []
        assert len(server.api_calls()) == 1


async def test_paginate_fetches_ahead_concurrently(creds: dict[str, str]) -> None:
    async with CountingServer(items=500, latency=0.01) as server, make(server, creds) as client:
        await client.paginate("items", item_type=Item, page_size=10).collect()
        assert server.peak >= 10  # 49 pages after page 0, up to 15 at once


async def test_breaking_early_leaves_no_task(creds: dict[str, str]) -> None:
    async with CountingServer(items=1000, latency=0.02) as server, make(server, creds) as client:

        def lookahead() -> list[asyncio.Task[Any]]:
            return [t for t in asyncio.all_tasks() if t.get_name().startswith("maxxton-page-")]

        async with client.paginate("items", item_type=Item, page_size=10) as pager:
            async for item in pager:
                if item.id == 15:
                    assert len(lookahead()) > 0  # look-ahead was running
                    break
        assert lookahead() == []
        # The cancelled look-ahead requests still finish on the wire (their slots are held
        # until the server answers), then everything is back to zero.
        await wait_until(lambda: server.in_flight == 0 and client.statistics().in_flight == 0)
        assert server.in_flight == 0
        assert client.statistics().in_flight == 0


# -- budget, usage, configuration ------------------------------------------------------


async def test_hard_budget_sends_nothing_once_spent(
    server: CountingServer, creds: dict[str, str]
) -> None:
    client = make(server, creds, environment="production", budget=Budget(daily=3, hard=True))
    async with client:
        await client.request("GET", "a")  # token + call = 2
        await client.request("GET", "b")  # 3
        with pytest.raises(BudgetExceededError) as info:
            await client.request("GET", "c")
        assert info.value.limit_name == "daily"
        assert server.requests == 3
        snap = await client.usage.snapshot()
        assert (snap.today, snap.free_left_today) == (3, 0)


async def test_acceptance_calls_are_not_billed(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds, budget=Budget(daily=1, hard=True)) as client:
        for _ in range(3):
            await client.request("GET", "a")
        snap = await client.usage.snapshot()
    assert snap.today == 4
    assert snap.billed is False


def test_missing_credentials_name_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="client_secret, scope"):
        MaxxtonClient("id")


def test_unknown_environment_lists_valid_values() -> None:
    with pytest.raises(ConfigurationError, match="'test', 'production'"):
        MaxxtonClient("a", "b", "c", environment="staging")


def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAXXTON_CLIENT_ID", "envid")
    monkeypatch.setenv("MAXXTON_CLIENT_SECRET", "envsecret")
    monkeypatch.setenv("MAXXTON_SCOPE", "abc")
    monkeypatch.setenv("MAXXTON_ENVIRONMENT", "production")
    client = MaxxtonClient(ledger=MemoryLedger())
    assert client.client_id == "envid"
    assert client.base_url == "https://api.maxxton.net"
    assert "envsecret" not in repr(client)
    assert "envsecret" not in repr(vars(client))


async def test_closed_client_is_a_clear_error(
    server: CountingServer, creds: dict[str, str]
) -> None:
    client = make(server, creds)
    async with client:
        await client.request("GET", "ping")
    with pytest.raises(ClientClosedError, match="closed"):
        await client.request("GET", "ping")
    await client.aclose()  # idempotent


def test_jitter_is_bounded() -> None:
    rng = random.Random(1)
    policy = RetryPolicy(backoff_base=1, backoff_max=5, rng=rng.random)
    for attempt in range(1, 10):
        delay = policy.backoff(attempt)
        assert 0 <= delay <= min(5, 2 ** (attempt - 1))


async def test_breaking_without_async_with_still_cancels_the_lookahead(
    creds: dict[str, str],
) -> None:
    def lookahead() -> list[asyncio.Task[Any]]:
        return [t for t in asyncio.all_tasks() if t.get_name().startswith("maxxton-page-")]

    async with CountingServer(items=1000, latency=0.02) as server, make(server, creds) as client:
        async for item in client.paginate("items", item_type=Item, page_size=10):
            if item.id == 15:
                assert lookahead()
                break
        # The abandoned generator is finalised by the event loop's asyncgen hook.
        await wait_until(lambda: not lookahead())
        assert lookahead() == []


async def test_pool_is_never_the_hidden_limiter(
    server: CountingServer, creds: dict[str, str]
) -> None:
    async with make(server, creds, max_in_flight=40) as client:
        await client.request("GET", "ping")
        transport = client.transport
        assert isinstance(transport, AiohttpTransport)
        assert transport.pool_size >= 40


async def test_pacing_is_awaited_before_every_attempt(
    server: CountingServer, creds: dict[str, str]
) -> None:
    from maxxton_async import Pacing

    class CountingPacing(Pacing):
        calls = 0

        async def wait(self, **kw: Any) -> None:
            self.calls += 1
            await super().wait(**kw)

    pacing = CountingPacing(per_second=10_000, burst=50)
    async with make(server, creds, pacing=pacing) as client:
        server.script.append(Scripted(503))
        await asyncio.gather(*(client.request("GET", "ping") for _ in range(20)))
        assert pacing.calls == client.statistics().requests_sent == 22  # token + 20 + 1 retry


async def test_each_months_peak_is_recorded(server: CountingServer, creds: dict[str, str]) -> None:
    from datetime import UTC, datetime

    now = [datetime(2026, 11, 30, 23, 0, tzinfo=UTC)]
    ledger = MemoryLedger()
    async with make(server, creds, ledger=ledger, clock=lambda: now[0].timestamp()) as client:
        server.latency = 0.005
        await asyncio.gather(*(client.request("GET", "ping") for _ in range(30)))
        now[0] = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)  # the month rolls over
        await asyncio.gather(*(client.request("GET", "ping") for _ in range(30)))
    assert await ledger.peak(scope="tst", environment="test", month="2026-11") == 15
    assert await ledger.peak(scope="tst", environment="test", month="2026-12") == 15


def test_max_in_flight_and_a_limiter_of_another_capacity_conflict() -> None:
    from maxxton_async import LocalLimiter

    with pytest.raises(ConfigurationError, match="conflicts with the limiter's capacity 10"):
        MaxxtonClient("a", "b", "c", ledger=MemoryLedger(), limiter=LocalLimiter(10),
                      max_in_flight=15)  # fmt: skip
    client = MaxxtonClient("a", "b", "c", ledger=MemoryLedger(), limiter=LocalLimiter(10))
    assert client.statistics().capacity == 10


def test_usage_is_the_deprecated_name_of_ledger() -> None:
    ledger = MemoryLedger()
    with pytest.warns(DeprecationWarning, match="ledger="):
        client = MaxxtonClient("a", "b", "c", usage=ledger)
    assert client.usage.ledger is ledger
    with pytest.raises(ConfigurationError, match="ledger= only"):
        MaxxtonClient("a", "b", "c", usage=ledger, ledger=MemoryLedger())


def test_each_argument_fills_the_attribute_of_its_name() -> None:
    from maxxton_async import LocalLimiter, RetryPolicy, SQLiteTokenCache

    policy = RetryPolicy(max_attempts=2)
    limiter = LocalLimiter(7)
    cache = SQLiteTokenCache(":memory:")
    ledger = MemoryLedger()
    client = MaxxtonClient(
        "a", "b", "c", retry=policy, limiter=limiter, token_cache=cache, ledger=ledger
    )
    assert client.retry is policy
    assert client.limiter is limiter
    assert client.token_cache is cache
    assert client.usage.ledger is ledger
