"""100,000 awaits at once: the cap holds, every call completes, every attempt is counted."""

from __future__ import annotations

import asyncio

import pytest

from maxxton_async import MaxxtonClient, MemoryLedger
from maxxton_async.transport import Request, Response

TOKEN = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}'


class CountingTransport:
    """Counts concurrent exchanges; each one lasts one event-loop pass (no sockets)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.sent = 0

    async def send(self, request: Request) -> Response:
        self.sent += 1
        if request.purpose == "token":
            return Response(200, {}, TOKEN)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        return Response(200, {}, b'{"ok": true}')

    async def aclose(self) -> None:
        """Nothing to close."""


@pytest.mark.slow
async def test_a_hundred_thousand_awaits() -> None:
    transport = CountingTransport()
    ledger = MemoryLedger()
    async with MaxxtonClient(
        "id", "secret", "scope", base_url="http://127.0.0.1:9", ledger=ledger, transport=transport
    ) as client:
        results = await asyncio.gather(*(client.request("GET", "ping") for _ in range(100_000)))
        stats = client.statistics()
        snap = await client.usage.snapshot()
    assert len(results) == 100_000
    assert all(r == {"ok": True} for r in results)
    assert transport.peak == 15  # reached, never passed
    assert stats.peak_in_flight == 15
    assert transport.sent == stats.requests_sent == snap.today == 100_001
