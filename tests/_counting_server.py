"""A small aiohttp server on loopback that counts what it receives.

Used by the transport tests for behaviours the sandbox deliberately does not script
(exact status sequences, dropped connections at chosen moments). It counts in-flight
requests, so a concurrency claim is checked by the server, not by the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import sys
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from maxxton_async import MaxxtonClient
from tests._support import FakeTime, make, wait_until

CLIENT_ID = "tester"
CLIENT_SECRET = "s3cr3t-value-never-shown"
SCOPE = "tst"


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class CountingServer:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        token_ttl: int = 3600,
        items: int = 103,
        size_cap: int = 1000,
        cap: int | None = None,
        latency_range: tuple[float, float] | None = None,
    ) -> None:
        self.latency = latency
        # Maxxton's rule, enforced: a request over `cap` in flight is refused with 429.
        self.cap = cap
        self.refused = 0
        self.latency_range = latency_range
        self.rng = random.Random(7)
        # Token endpoint faults: answer with this status (echoing the request), or hang.
        self.auth_status: int | None = None
        self.auth_hang = False
        self._released = asyncio.Event()
        self.token_ttl = token_ttl
        self.items = items
        self.size_cap = size_cap
        self.in_flight = 0
        self.peak = 0
        self.requests = 0
        self.auth_calls = 0
        self.tokens: set[str] = set()
        self.script: deque[Scripted] = deque()
        self.seen: list[Seen] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> CountingServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        self._released.set()
        await self._runner.cleanup()

    async def quiet(self, limit: float = 10.0) -> None:
        """Wait until no connection is open and no request is in flight (bounded).

        After a client is killed, this is when the server has read (and counted) every
        request the client got onto the wire. Checked on two loop turns in a row: a request
        read just before its connection closed is handled on the next turn.
        """
        assert self._runner is not None
        runner = self._runner
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        calm = 0
        while calm < 2:
            busy = self.in_flight or (runner.server is not None and runner.server.connections)
            calm = 0 if busy else calm + 1
            if loop.time() >= deadline:
                raise AssertionError(f"the server still had connections after {limit} s")
            await asyncio.sleep(0 if calm else 0.005)

    async def kill_worker_at(self, argv: list[str], target: int, root: str) -> None:
        """Run ``python *argv`` until this server has received ``target`` requests in all
        (or it ended), ``kill -9`` it, and wait until the server has read what it sent."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv, env={**os.environ, "PYTHONPATH": root}
        )
        try:
            await wait_until(
                lambda: self.requests >= target or proc.returncode is not None, 10, "the worker"
            )
        finally:
            proc.kill()
            await proc.wait()
        await self.quiet()

    def revoke(self) -> None:
        self.tokens.clear()

    def api_calls(self, path: str | None = None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.path != "/maxxton/v2/authenticate" and (path is None or s.path == path)
        ]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.cap is not None and self.in_flight > self.cap:
                self.refused += 1
                return web.json_response({"error": "too many concurrent calls"}, status=429)
            body = await request.read()
            self.seen.append(
                Seen(
                    request.method, request.path, request.query_string, dict(request.headers), body
                )
            )
            if self.latency_range is not None:
                await asyncio.sleep(self.rng.uniform(*self.latency_range))
            elif self.latency:
                await asyncio.sleep(self.latency)
            if request.path == "/maxxton/v2/authenticate":
                return await self._authenticate(request, body)
            auth = request.headers.get("Authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme != "Bearer" or token not in self.tokens:
                return web.json_response(
                    {"error": "invalid_token", "error_description": "Access token expired"},
                    status=401,
                )
            if self.script:
                step = self.script.popleft()
                if step.drop:
                    assert request.transport is not None
                    request.transport.close()
                    return web.Response(status=500)
                return web.Response(
                    status=step.status,
                    body=step.body,
                    headers=step.headers,
                    content_type="application/json",
                )
            return self._route(request, body)
        finally:
            self.in_flight -= 1

    async def _authenticate(self, request: web.Request, body: bytes) -> web.Response:
        self.auth_calls += 1
        if self.auth_hang:
            await self._released.wait()
        if self.auth_status is not None:
            # A careless gateway that echoes the whole request in its error page.
            echo = f"{request.method} {request.path_qs}\n{dict(request.headers)}\n{body.decode()}"
            return web.Response(status=self.auth_status, text=echo)
        form: dict[str, str] = dict(request.query)
        if body:
            form.update((await request.post()).items())  # type: ignore[arg-type]
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response(
                {"error": "invalid_client", "error_description": "Bad client credentials"},
                status=401,
            )
        token = secrets.token_hex(8)
        self.tokens.add(token)
        return web.json_response(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": form.get("scope"),
            }
        )

    def _route(self, request: web.Request, body: bytes) -> web.Response:
        tail = request.path.removeprefix("/maxxton/v2/")
        if tail == "items":
            if self.items == 0:
                return web.Response(status=204)
            page = int(request.query.get("page", 0))
            size = min(int(request.query.get("size", 20)), self.size_cap)
            start = page * size
            content = [{"id": i} for i in range(start, min(start + size, self.items))]
            total_pages = -(-self.items // size)
            return self._json(
                {
                    "content": content,
                    "number": page,
                    "size": size,
                    "numberOfElements": len(content),
                    "totalElements": self.items,
                    "totalPages": total_pages,
                    "first": page == 0,
                    "last": page >= total_pages - 1,
                    "empty": not content,
                    "sort": {"sorted": False, "unsorted": True, "empty": True},
                }
            )
        if tail == "echo":
            return self._json(
                {
                    "method": request.method,
                    "query": [[k, v] for k, v in request.query.items()],
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                    "json": msgspec.json.decode(body) if body else None,
                }
            )
        return self._json({"ok": True, "path": request.path})

    @staticmethod
    def _json(data: Any) -> web.Response:
        return web.Response(body=msgspec.json.encode(data), content_type="application/json")


@contextlib.asynccontextmanager
async def failing_token_server(
    creds: dict[str, str], fault: int | str, **kw: Any
) -> AsyncIterator[tuple[CountingServer, MaxxtonClient, FakeTime]]:
    """A server whose token endpoint answers every mint with the status ``fault``, or hangs
    (``fault`` "hang" or "timeout"); a client of it (``kw`` for :func:`tests._support.make`)
    and the injected time both run on."""
    time = FakeTime()
    async with CountingServer() as server:
        if fault in ("hang", "timeout"):
            server.auth_hang = True
        else:
            server.auth_status = int(fault)
        async with make(server.base_url, creds, clock=time.clock, sleep=time.sleep, **kw) as client:
            yield server, client, time
