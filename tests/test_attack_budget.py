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


async def test_the_token_is_minted_before_callers_take_the_last_units(
    creds: dict[str, str],
) -> None:
    """Budget 5, no token yet, 5 calls at once. Reserving first, the 5 calls took every
    unit and the token call they all needed was refused: nothing went out. Minting first,
    the token takes one unit and 4 calls go; only the 5th is refused."""
    transport = Gated()
    transport.gate.set()
    client = make(
        "http://127.0.0.1:9",
        creds,
        transport=transport,
        ledger=MemoryLedger(),
        budget=Budget(daily=5, hard=True, bill_acceptance=True),
    )
    async with client:
        results = await asyncio.gather(
            *(client.request("GET", "ping") for _ in range(5)), return_exceptions=True
        )
        snap = await client.usage.snapshot()
    assert sum(r == {} for r in results) == 4, results
    assert sum(isinstance(r, BudgetExceededError) for r in results) == 1, results
    assert transport.sent == snap.today == 5


async def test_a_budget_refusal_of_the_token_call_is_no_credential_failure(
    creds: dict[str, str],
) -> None:
    """A spent budget refuses the token call itself, again and again: each caller gets
    BudgetExceededError at once (no cool-down: the endpoint was never asked), and the
    client never concludes that the credentials are bad. Once the budget allows, the
    same client mints and calls."""
    transport = Gated()
    transport.gate.set()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    budget = Budget(daily=0, hard=True, bill_acceptance=True)
    client = make(
        "http://127.0.0.1:9",
        creds,
        transport=transport,
        ledger=MemoryLedger(),
        budget=budget,
        sleep=sleep,
    )
    async with client:
        for _ in range(5):
            with pytest.raises(BudgetExceededError):
                await client.request("GET", "ping")
        assert transport.sent == 0
        assert sleeps == []  # no cool-down after a refusal that never reached the server
        budget.daily = 10
        assert await client.request("GET", "ping") == {}
    assert transport.sent == 2  # the token, then the call
