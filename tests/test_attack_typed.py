"""Hostile tests: every failure typed, a create never sent twice, the ledger equal to what
the server received -- against answers no well-behaved server sends.

Each answer is served by a raw loopback server that counts what it receives; a GET may be
retried (bounded by the policy), a create (non-idempotent POST) must reach the server
once, and whatever happens the exception is from the tree and the ledger equals the
requests the server saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import struct

import pytest

from maxxton_async import (
    ConfigurationError,
    ConnectError,
    MaxxtonError,
    OutcomeUnknownError,
    ProtocolError,
    RequestTimeoutError,
    RetryPolicy,
)
from tests._attack import FAST, make
from tests._counting_server import CountingServer, Scripted
from tests._raw_server import RawRequest, RawServer, start_loopback, token_answer

_GZ = gzip.compress(b'{"a": 1, "b": "' + b"x" * 2000 + b'"}')

#: Answers that are not valid HTTP, or are valid but unusual: name -> raw bytes.
MANGLED: dict[str, bytes] = {
    "bad_chunk_size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n",
    "chunked_cut": b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"a":',
    "gzip_garbage": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n0123456789"
    ),
    "deflate_garbage": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 10\r\n\r\n0123456789"
    ),
    "br_without_brotli": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 10\r\n\r\n0123456789"
    ),
    "header_without_colon": b"HTTP/1.1 200 OK\r\nNoColonHere\r\nContent-Length: 2\r\n\r\n{}",
    "two_content_lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "content_length_abc": b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}",
    "content_length_negative": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}",
    "header_70k": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\nContent-Length: 2\r\n\r\n{}",
    "nul_in_header": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    "te_and_cl": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    ),
    "http09_body_only": b"{}",
    "http2_status_line": b"HTTP/2 200\r\nContent-Length: 2\r\n\r\n{}",
    "nothing_then_close": b"",
    "interim_100_then_close": b"HTTP/1.1 100 Continue\r\n\r\n",
    "malformed_status": b"HTTP/1.1 2OO NOT OK\r\nContent-Length: 2\r\n\r\n{}",
}


def _serve(raw: bytes) -> object:
    def answer(request: RawRequest) -> bytes | None:
        if request.path == "/maxxton/v2/authenticate":
            return token_answer()
        return raw

    return answer


@pytest.mark.parametrize("name", sorted(MANGLED))
async def test_mangled_answers_are_typed_counted_and_never_resend_a_create(
    creds: dict[str, str], name: str
) -> None:
    async with (
        RawServer(_serve(MANGLED[name])) as server,  # type: ignore[arg-type]
        make(server.base_url, creds) as client,
    ):
        with pytest.raises(MaxxtonError) as got_get:
            await client.request("GET", "units")
        gets = len(server.api_calls())
        with pytest.raises(MaxxtonError) as got_post:
            await client.request("POST", "reservations", json={"a": 1})
        posts = len(server.api_calls()) - gets
        snap = await client.usage.snapshot()
    assert 1 <= gets <= FAST.max_attempts
    assert isinstance(got_get.value, ProtocolError | ConnectError), got_get.value
    assert posts == 1, f"{name}: the create reached the server {posts} times"
    assert isinstance(got_post.value, OutcomeUnknownError), got_post.value
    assert snap.today == len(server.seen)


def _final_status(status: bytes) -> object:
    return _serve(b"HTTP/1.1 " + status + b" Odd\r\nContent-Length: 2\r\n\r\n{}")


@pytest.mark.parametrize("status", [b"000", b"099", b"199", b"600", b"999"])
async def test_a_final_status_outside_200_599_is_a_protocol_error(
    creds: dict[str, str], status: bytes
) -> None:
    """RFC 9110 §15: a final status is 2xx-5xx. ``HTTP/1.1 000`` answered to a create must
    not be reported as a success (the create's fate is unknown)."""
    async with (
        RawServer(_final_status(status)) as server,  # type: ignore[arg-type]
        make(server.base_url, creds) as client,
    ):
        with pytest.raises(OutcomeUnknownError):
            await client.request("POST", "reservations", json={"a": 1})
        assert len(server.api_calls()) == 1
        with pytest.raises((ProtocolError, ConnectError)) as info:  # 1xx: aiohttp reads on
            await client.request("GET", "units")
        assert info.value.sent is True


@pytest.mark.parametrize(
    "retry_after",
    [
        "Mon, 01 Jan 99999999999999 00:00:00 GMT",  # OverflowError in the date parser
        "Mon, 01 Jan 10000 00:00:00 GMT",
        "9" * 400,
        "nan",
        "-3",
    ],
)
@pytest.mark.parametrize("status", [429, 503])
async def test_any_retry_after_header_is_survived(
    creds: dict[str, str], retry_after: str, status: int
) -> None:
    async with CountingServer() as server, make(server.base_url, creds) as client:
        for _ in range(FAST.max_attempts):
            server.script.append(Scripted(status, headers={"Retry-After": retry_after}))
        with contextlib.suppress(MaxxtonError):
            await client.request("GET", "ping")
        snap = await client.usage.snapshot()
    assert 2 <= server.requests <= 1 + FAST.max_attempts
    assert snap.today == server.requests


@pytest.mark.parametrize(
    "headers",
    [{"X-Note": "a\r\nInjected: 1"}, {"X-Note": "a\x00b"}],
)
async def test_an_unsendable_header_is_a_typed_error_and_not_billed(
    creds: dict[str, str], headers: dict[str, str]
) -> None:
    async with CountingServer() as server, make(server.base_url, creds) as client:
        await client.request("GET", "ping")  # token + one call
        with pytest.raises(MaxxtonError):
            await client.request("GET", "ping", headers=headers)
        snap = await client.usage.snapshot()
    assert snap.today == server.requests


async def test_a_connection_refused_is_not_billed(creds: dict[str, str]) -> None:
    """Nothing reached a server (nobody listens): the ledger must say 0, like the server."""
    async with CountingServer() as gone:
        url = gone.base_url
    async with make(url, creds) as client:
        with pytest.raises(ConnectError) as info:
            await client.request("POST", "reservations", json={"a": 1})
        snap = await client.usage.snapshot()
    assert info.value.sent is False
    assert snap.today == 0


# -- resets and timeouts in every phase of a create ------------------------------------


class ResetServer:
    """Reads the request head, then resets the connection (SO_LINGER 0) -- while a large
    body is still being uploaded -- or answers ``after`` the whole request was read."""

    def __init__(self, *, read_body: bool, hang: bool = False, stall_body: bool = False) -> None:
        self.read_body = read_body
        self.hang = hang
        self.stall_body = stall_body
        self.heads: list[bytes] = []
        self.base_url = ""
        self._server: asyncio.Server | None = None
        self._release = asyncio.Event()

    async def __aenter__(self) -> ResetServer:
        self._server, self.base_url = await start_loopback(self._serve)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._release.set()
        self._server.close()
        await self._server.wait_closed()

    def api_heads(self) -> list[bytes]:
        return [h for h in self.heads if b"/authenticate" not in h.split(b"\r\n", 1)[0]]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if b"/authenticate" in head.split(b"\r\n", 1)[0]:
                await reader.readexactly(length)
                writer.write(token_answer())
                await writer.drain()
                return
            if self.read_body:
                await reader.readexactly(length)
            if self.hang:
                await self._release.wait()
                return
            if self.stall_body:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
                await writer.drain()
                await self._release.wait()
                return
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


BIG = {"blob": "x" * 4_000_000}  # larger than the socket buffers: the upload is cut


@pytest.mark.parametrize(
    "fault",
    ["reset_mid_upload", "reset_after_upload", "hang_after_upload", "stall_in_body"],
)
async def test_a_create_is_sent_once_whatever_phase_fails(
    creds: dict[str, str], fault: str
) -> None:
    server = ResetServer(
        read_body=fault != "reset_mid_upload",
        hang=fault == "hang_after_upload",
        stall_body=fault == "stall_in_body",
    )
    retry = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.001)
    async with server, make(server.base_url, creds, retry=retry, timeout=0.5) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client.request("POST", "reservations", json=BIG)
        snap = await client.usage.snapshot()
    assert len(server.api_heads()) == 1
    assert info.value.sent is True
    assert snap.today == len(server.heads)
    if fault in ("hang_after_upload", "stall_in_body"):
        assert any(isinstance(e, RequestTimeoutError) for e in [info.value.__context__])


async def test_connection_close_races_on_kept_alive_connections(creds: dict[str, str]) -> None:
    """The server answers without ``Connection: close`` and then closes: the pooled
    connection is dead when the next request is written on it. A create must reach the
    server at most once per call; nothing aiohttp resends by itself goes uncounted."""

    def answer(request: RawRequest) -> bytes | None:
        if request.path == "/maxxton/v2/authenticate":
            return token_answer()
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    outcomes: dict[str, int] = {}
    async with RawServer(answer) as server, make(server.base_url, creds) as client:
        for i in range(60):  # bounded
            method = "POST" if i % 2 else "GET"
            before = len(server.api_calls())
            try:
                await client.request(method, "reservations", json={"i": i})
                outcome = "ok"
            except (OutcomeUnknownError, ConnectError, ProtocolError) as exc:
                outcome = type(exc).__name__
            sent = len(server.api_calls()) - before
            if method == "POST":
                assert sent <= 1, f"call {i}: a create reached the server {sent} times"
            outcomes[f"{method} {outcome}"] = outcomes.get(f"{method} {outcome}", 0) + 1
        snap = await client.usage.snapshot()
    assert snap.today == len(server.seen), outcomes
    assert sum(outcomes.values()) == 60


async def test_the_transport_closed_under_a_queued_call_is_typed(creds: dict[str, str]) -> None:
    """``aclose()`` while calls wait for a slot: each ends with a typed error."""
    async with CountingServer(latency=0.05) as server:
        client = make(server.base_url, creds, max_in_flight=2)
        await client.request("GET", "ping")
        calls = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(10)]
        await asyncio.sleep(0)
        await client.aclose()
        results = await asyncio.gather(*calls, return_exceptions=True)
        snap_counts = await client.usage.ledger.counts(
            scope="tst", environment="test", day=(await client.usage.snapshot()).at.date()
        )
    assert all(isinstance(r, dict | MaxxtonError) for r in results), results
    assert not any(isinstance(r, ConfigurationError) for r in results), results
    assert snap_counts.day == server.requests
