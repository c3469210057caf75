"""A raw HTTP/1.1 server on loopback for answers no well-behaved framework would send.

Each request is read in full (head and ``Content-Length`` body) and counted; ``answer``
returns the raw bytes to write (then the connection is closed), or ``None`` to hang until
the client gives up. The authenticate call gets a valid token unless ``answer`` says
otherwise, so the API paths can be mangled on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

CLIENT_SECRET = "s3cr3t-value-never-shown"
TOKEN = "tok-raw-0123456789abcdef"


@dataclass
class RawRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


def token_answer() -> bytes:
    body = json.dumps({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
    ).encode()


Answer = Callable[[RawRequest], bytes | None]


async def start_loopback(serve: Callable[..., Awaitable[None]]) -> tuple[asyncio.Server, str]:
    """Start an asyncio stream server for ``serve`` on a free loopback port; it and its
    base URL."""
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@dataclass
class RawServer:
    answer: Answer
    seen: list[RawRequest] = field(default_factory=list)
    base_url: str = ""
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def api_calls(self) -> list[RawRequest]:
        return [r for r in self.seen if r.path != "/maxxton/v2/authenticate"]

    async def __aenter__(self) -> RawServer:
        self._server, self.base_url = await start_loopback(self._serve)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = RawRequest(method, target, headers, body)
            self.seen.append(request)
            raw = self.answer(request)
            if raw is None:
                await asyncio.Event().wait()  # hang: the client's timeout or __aexit__ ends it
                return
            writer.write(raw)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
