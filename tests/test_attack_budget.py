"""Hostile tests of the budget: a hard budget is never exceeded, and never loses units to
calls that were cancelled before they left."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from maxxton_async import Budget, BudgetExceededError, MemoryLedger, SQLiteLedger
from maxxton_async.transport import Request, Response
from tests._attack import make
from tests._support import wait_until


class Gated:
    """A transport: the token at once, API calls when the test opens the gate."""

    def __init__(self) -> None:
        self.sent = 0
        self.gate = asyncio.Event()

    async def send(self, request: Request) -> Response:
        self.sent += 1
        if request.purpose == "token":
            body = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}'
            return Response(200, {}, body)
        await self.gate.wait()
        return Response(200, {}, b"{}")

    async def aclose(self) -> None:
        self.gate.set()


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_units_given_back_by_cancelled_calls_are_spendable_at_once(
    creds: dict[str, str], tmp_path: Path, store: str
) -> None:
    """Budget 10 (token included). One call holds the only slot; 8 more queue, taking
    the rest of the budget. All 8 are cancelled: their units come back, so 8 new calls
    must pass the budget check right away -- and a 9th must not."""
    ledger = MemoryLedger() if store == "memory" else SQLiteLedger(tmp_path / "b.sqlite3")
    transport = Gated()
    budget = Budget(daily=10, hard=True, bill_acceptance=True)
    client = make(
        "http://127.0.0.1:9",
        creds,
        transport=transport,
        max_in_flight=1,
        ledger=ledger,
        budget=budget,
    )
    async with client:
        first = asyncio.ensure_future(client.request("GET", "ping"))
        await wait_until(lambda: transport.sent == 2)  # the token, then the call on the wire
        queued = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(8)]
        await wait_until(lambda: client.statistics().waiting == 8)
        with pytest.raises(BudgetExceededError):
            await client.request("GET", "ping")  # 10 of 10 reserved
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        again = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(8)]
        await wait_until(lambda: client.statistics().waiting == 8)
        with pytest.raises(BudgetExceededError):
            await client.request("GET", "ping")
        transport.gate.set()
        results = await asyncio.gather(first, *again, return_exceptions=True)
        snap = await client.usage.snapshot()
    assert all(r == {} for r in results), results
    assert transport.sent == snap.today == 10
