"""Hostile tests: the client secret and every issued token never appear -- in any
exception chain, DEBUG log line (ours and aiohttp's), record, hook argument or span.

The secret used here contains every character that percent-encoders disagree about
(``/ : @ ~ ! * ( ) ; , $ ' + =``): a scrubber that only knows one encoding misses the
others, and aiohttp (yarl) encodes a query string differently from ``urlencode``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from maxxton_async import MaxxtonClient, MaxxtonError, MemoryLedger, RetryPolicy
from maxxton_async.transport import Request, Response
from tests._attack import found, make, settle, texts_of
from tests._counting_server import CLIENT_ID, SCOPE, CountingServer, Scripted
from tests._raw_server import TOKEN, RawRequest, RawServer, token_answer
from tests._support import wait_until

ODD_SECRET = "ab/c+d=e:f@g~h!i*j(k)l;m,n$o'p q"
ONE_TRY = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.001)


def _echo_500(request: RawRequest) -> bytes | None:
    """A careless gateway: answers 500 with the request line, headers and body."""
    echo = f"{request.method} {request.target}\n{request.headers}\n{request.body.decode()}"
    body = echo.encode()
    return b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize("auth_names", ["snake_case", "camelCase"])
@pytest.mark.parametrize(
    "auth_transport",
    [
        "form",
        "query",
    ],
)
async def test_a_secret_of_any_characters_is_scrubbed_from_an_echoing_token_endpoint(
    auth_transport: str, auth_names: str
) -> None:
    async with RawServer(_echo_500) as server:
        client = MaxxtonClient(
            CLIENT_ID,
            ODD_SECRET,
            SCOPE,
            base_url=server.base_url,
            ledger=MemoryLedger(),
            retry=ONE_TRY,
            auth_transport=auth_transport,
            auth_names=auth_names,
        )
        async with client:
            with pytest.raises(MaxxtonError) as info:
                await client.request("GET", "units")
        sent = server.seen[0]
    # The secret did go out (in the encoding of this transport)...
    assert "client" in (sent.target + sent.body.decode()).lower()
    # ...and no spelling of it comes back in the error.
    wire = sent.target if auth_transport == "query" else sent.body.decode()
    encoded = wire.split("ecret=", 1)[1].split("&", 1)[0]
    assert found(texts_of(info.value), [ODD_SECRET, encoded]) == []


def _echo_200(request: RawRequest) -> bytes | None:
    if request.path == "/maxxton/v2/authenticate":
        return token_answer()
    body = f'{{"echo": "{request.headers.get("authorization", "")}"}}'.encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )


async def test_no_token_in_raw_response_records_or_hook_arguments(creds: dict[str, str]) -> None:
    """An API (or proxy) that echoes the request headers: the token comes back in the
    body. ``raw_responses()`` and the response hooks must not hand it out."""
    seen_by_hooks: list[Any] = []

    async def on_response(request: Request, response: Response) -> None:
        seen_by_hooks.extend([request, response, response.body, dict(response.headers)])

    async with RawServer(_echo_200) as server:
        client = make(server.base_url, creds, event_hooks={"response": [on_response]})
        async with client:
            with client.raw_responses() as records:
                await client.request("GET", "units")
    texts = [repr(x) for x in seen_by_hooks]
    for exchange in records:
        texts += [repr(exchange), repr(exchange.response.body), repr(exchange.request.headers)]
    assert found(texts, [TOKEN]) == []


async def test_the_observer_is_not_handed_the_secret(creds: dict[str, str]) -> None:
    """Observers (telemetry exporters: user code) see every attempt, the token call
    included; its request value must not carry the client secret."""
    handed: list[Request] = []

    class Recorder:
        def attempt(self, request: Request, *, number: int, queued: float) -> Any:
            handed.append(request)

            class End:
                def end(self, response: Response | None, error: BaseException | None) -> None:
                    """Nothing to record at the end: the test checks what attempt() got."""

            return End()

    for auth_transport in ("form", "query"):
        async with CountingServer() as server:
            client = make(
                server.base_url, creds, observer=Recorder(), auth_transport=auth_transport
            )
            async with client:
                await client.request("GET", "ping")
    texts = [f"{r.query!r} {r.body!r} {r.headers!r}" for r in handed]
    assert found(texts, [creds["client_secret"]]) == []


async def test_no_secret_in_root_debug_logs_spans_or_errors_across_faults(
    creds: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The root logger at DEBUG (maxxton_async, aiohttp, asyncio), OpenTelemetry spans,
    and every exception, across token-endpoint faults, API faults and both transports."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from maxxton_async.otel import OpenTelemetry

    caplog.set_level(logging.DEBUG)  # the root logger: every library's DEBUG lines
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel = OpenTelemetry(tracer_provider=provider)
    errors: list[BaseException] = []
    tokens: set[str] = set()
    for auth_transport in ("form", "query"):
        for auth_names in ("snake_case", "camelCase"):
            async with CountingServer() as server:
                client = make(
                    server.base_url,
                    creds,
                    observer=otel,
                    auth_transport=auth_transport,
                    auth_names=auth_names,
                    retry=ONE_TRY,
                )
                async with client:
                    for fault in ("ok", "401", "503", "drop", "auth500", "auth401"):
                        if fault == "401":
                            server.revoke()
                        elif fault == "503":
                            server.script.extend([Scripted(503), Scripted(503)])
                        elif fault == "drop":
                            server.script.extend([Scripted(drop=True), Scripted(drop=True)])
                        elif fault.startswith("auth"):
                            server.revoke()
                            client.tokens.reset()
                            server.auth_status = int(fault[4:])
                        try:
                            await client.request("GET", "echo")
                        except MaxxtonError as exc:
                            errors.append(exc)
                        tokens |= server.tokens
    secrets = [creds["client_secret"], *tokens]
    assert len(tokens) >= 4
    leaked = [f for e in errors for f in found(texts_of(e), secrets)]
    assert leaked == []
    logged = []
    for record in caplog.records:
        logged.append(record.getMessage())
        if record.exc_text:
            logged.append(record.exc_text)
    assert found(logged, secrets) == []
    spans = exporter.get_finished_spans()
    assert spans
    span_texts = [repr(dict(s.attributes or {})) + repr(s.events) + s.name for s in spans]
    assert found(span_texts, secrets) == []


async def test_a_cancelled_mint_leaks_nothing_to_the_event_loop(
    creds: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Waiters cancelled during a failing mint: the shared failure must not be logged by
    asyncio ("exception was never retrieved") with an unscrubbed body."""
    caplog.set_level(logging.DEBUG)
    async with CountingServer(latency=0.05) as server:
        server.auth_status = 500  # echoes the request, secret included
        client = make(server.base_url, creds, retry=ONE_TRY)
        async with client:
            calls = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(10)]
            await wait_until(lambda: server.auth_calls == 1)  # the mint is on the wire
            for c in calls:
                c.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            # Waiting on the same mint (single flight) returns once it has failed.
            with pytest.raises(MaxxtonError):
                await client.tokens.token()
            await settle()
            gc.collect()  # asyncio logs a never-retrieved exception when its future is freed
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert found(logged, [creds["client_secret"]]) == []
