"""PyreqwestTransport (extra ``pyreqwest``) held to the transport seam's contract, against
the sandbox and loopback servers. Skips, saying so, when pyreqwest is not installed."""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from typing import Any

import pytest

from maxxton_async import (
    ConnectError,
    MaxxtonClient,
    MaxxtonError,
    MemoryLedger,
    RedirectError,
    RequestTimeoutError,
    RetryPolicy,
)
from maxxton_async.sandbox import Sandbox
from maxxton_async.transport import PyreqwestTransport, Request
from tests._counting_server import CountingServer, Scripted
from tests._raw_server import RawRequest, RawServer

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyreqwest") is None,
    reason="pyreqwest is not installed (extra pyreqwest): PyreqwestTransport not checked",
)


def _client(sb: Sandbox, **kw: Any) -> MaxxtonClient:
    return MaxxtonClient(sb.client_id, sb.client_secret, sb.scope, base_url=sb.base_url,
                         ledger=MemoryLedger(), retry=RetryPolicy.none(),
                         transport=PyreqwestTransport(), **kw)  # fmt: skip


async def test_pyreqwest_transport_get() -> None:
    async with Sandbox(seed=3) as sb, _client(sb) as client:
        cid = next(iter(sb.data.customers))
        got = await client.request("GET", f"customers/{cid}", params={"locale": "en"})
        assert got["customerId"] == cid
        assert sb.statistics().requests_total == 2  # the token call and this one


async def test_pyreqwest_transport_timeout_is_the_sdks_typed_error() -> None:
    async with Sandbox(seed=3) as sb, _client(sb, timeout=0.2) as client:
        await client.request("GET", "customers", params={"size": 1})  # token fetched
        sb.faults.hold = asyncio.Event()  # the server takes the request and never answers
        try:
            with pytest.raises(RequestTimeoutError) as info:
                await client.request("GET", "customers", params={"size": 1})
        finally:
            sb.faults.hold.set()
        assert info.value.sent is True  # the server had it: maybe applied
        assert info.value.__cause__ is None
        assert info.value.__context__ is None


async def test_pyreqwest_transport_does_not_follow_a_redirect() -> None:
    async with Sandbox(seed=3) as sb, _client(sb) as client:
        await client.request("GET", "customers", params={"size": 1})
        sb.faults.update(fail_next=1, fail_status=307)
        with pytest.raises(RedirectError) as info:
            await client.request("POST", "customers/search", json={"a": 1})
        assert info.value.status == 307
        assert sb.statistics().requests_total == 3  # token, first GET, the 307: nothing followed


@pytest.mark.parametrize("status", [302, 307])
async def test_pyreqwest_transport_does_not_follow_a_location(
    creds: dict[str, str], status: int
) -> None:
    # The sandbox's 3xx carries no Location (nothing to follow); this one does.
    async with CountingServer() as server:
        client = MaxxtonClient(
            **creds,
            base_url=server.base_url,
            ledger=MemoryLedger(),
            retry=RetryPolicy.none(),
            transport=PyreqwestTransport(),
        )
        async with client:
            target = f"{server.base_url}/maxxton/v2/elsewhere"
            server.script.append(Scripted(status, b"", headers={"Location": target}))
            with pytest.raises(RedirectError) as info:
                await client.request("POST", "reservations", json={"a": 1})
        assert info.value.location == target
        assert [(c.method, c.path) for c in server.api_calls()] == [
            ("POST", "/maxxton/v2/reservations")
        ]


async def test_pyreqwest_transport_sent_flag() -> None:
    """pyreqwest raises its ConnectError both for a refused connection and for a connection
    dropped after the request was written: only the first may say ``sent=False``."""
    transport = PyreqwestTransport()
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        with pytest.raises(ConnectError) as refused:
            await transport.send(Request("GET", "/maxxton/v2/x", f"http://127.0.0.1:{port}"))
        assert refused.value.sent is False
        async with Sandbox(seed=3) as sb:
            sb.faults.update(drop_next=1)
            request = Request("POST", "/maxxton/v2/authenticate", sb.base_url, body=b"x=1",
                              query=(("client_secret", "s3cr3t"),), idempotent=False)  # fmt: skip
            with pytest.raises(ConnectError) as dropped:
                await transport.send(request)
            assert dropped.value.sent is True
            assert "s3cr3t" not in str(dropped.value)
            assert sb.statistics().requests_total == 1  # it did reach the server, once
    finally:
        await transport.aclose()


async def test_a_secret_in_the_query_is_scrubbed_as_this_engine_spells_it() -> None:
    """reqwest's URL parser writes ``'`` as ``%27`` where aiohttp leaves it: an echoing
    token endpoint must not get that spelling of the secret into the error either."""
    secret = "ab'c~d!e*f"

    def echo(request: RawRequest) -> bytes:
        body = f"{request.method} {request.target}".encode()
        return b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async with RawServer(echo) as server:
        client = MaxxtonClient(
            "id",
            secret,
            "tst",
            base_url=server.base_url,
            ledger=MemoryLedger(),
            retry=RetryPolicy.none(),
            auth_transport="query",
            transport=PyreqwestTransport(),
        )
        async with client:
            with pytest.raises(MaxxtonError) as info:
                await client.request("GET", "units")
        target = server.seen[0].target
    assert "ab%27c" in target  # the spelling on the wire
    text = f"{info.value} {info.value.args} {vars(info.value)}"
    assert "ab%27c" not in text
    assert "ab'c" not in text
