"""Batch writes: many items in one call, one ordered outcome per item.

Reservation status batches run against the sandbox. The sandbox has no customer write
endpoints (``POST /customers``, ``PUT /customers/{id}``, reference), so customer batches run
against a small loopback server of this module that implements just those.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp import web

from maxxton_async import (
    BadRequestError,
    IllegalTransitionError,
    MaxxtonClient,
    MaxxtonError,
    MemoryLedger,
    NotFoundError,
    OutcomeUnknownError,
    RetryPolicy,
    ServerError,
)
from maxxton_async.models import Customer, Reservation, ReservationStatus, StatusAction
from maxxton_async.resources import BatchResult, BatchResults
from maxxton_async.resources._batch import run_batch
from maxxton_async.sandbox import Sandbox

FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.01)
PUT = "PUT /maxxton/v2/reservations/{reservationId}"


# -- a customer-writing server ----------------------------------------------------------------


class CustomerServer:
    """``POST /customers`` and ``PUT /customers/{id}`` on loopback, counting what it sees.

    A customer whose ``lastName`` is ``"Refused"`` is answered 400; ``"Lost"`` is stored and
    then the connection is dropped (the answer of a non-idempotent call is lost). Each request
    waits until ``gate`` requests are in flight (or a short while), so a batch's concurrency is
    observed by the server, not guessed from timing.
    """

    def __init__(self, gate: int = 1) -> None:
        self.customers: dict[int, dict[str, Any]] = {1: {"customerId": 1, "lastName": "Old"}}
        self.ids = itertools.count(100)
        self.posts = 0
        self.puts = 0
        self.in_flight = 0
        self.peak = 0
        self.gate = gate
        self._gate_open = asyncio.Event()
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> CustomerServer:
        app = web.Application()
        app.router.add_post("/maxxton/v2/authenticate", self._auth)
        app.router.add_post("/maxxton/v2/customers", self._create)
        app.router.add_put("/maxxton/v2/customers/{cid}", self._update)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _auth(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"access_token": "tok", "token_type": "Bearer", "expires_in": 3600}
        )

    async def _enter(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.gate:
            self._gate_open.set()
        # Bounded: a batch smaller than the gate must still finish.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._gate_open.wait(), 2.0)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        self.posts += 1
        await self._enter()
        try:
            body = msgspec.json.decode(await request.read())
            if body.get("lastName") == "Refused":
                return web.json_response({"status": 400, "message": "refused"}, status=400)
            cid = next(self.ids)
            record = {**body, "customerId": cid}
            self.customers[cid] = record
            if body.get("lastName") == "Lost":
                assert request.transport is not None
                request.transport.abort()
                raise asyncio.CancelledError
            return web.json_response(record)
        finally:
            self.in_flight -= 1

    async def _update(self, request: web.Request) -> web.StreamResponse:
        self.puts += 1
        await self._enter()
        try:
            cid = int(request.match_info["cid"])
            if cid not in self.customers:
                return web.json_response({"status": 404, "message": "No customer"}, status=404)
            self.customers[cid].update(msgspec.json.decode(await request.read()))
            return web.json_response(self.customers[cid])
        finally:
            self.in_flight -= 1


def client_for(base_url: str, **kw: Any) -> MaxxtonClient:
    return MaxxtonClient("c", "s", "sc", base_url=base_url, usage=MemoryLedger(), retry=FAST, **kw)


async def test_create_many_keeps_order_and_every_outcome() -> None:
    async with (
        CustomerServer(gate=2) as server,
        client_for(server.base_url, max_in_flight=2) as client,
    ):
        names = ["Alpha", "Refused", "Bravo", "Lost", "Charlie"]
        results = await client.customers.create_many(
            [Customer(first_name="x", last_name=n) for n in names]
        )
        assert [r.index for r in results] == [0, 1, 2, 3, 4]
        assert [r.key for r in results] == [0, 1, 2, 3, 4]
        assert [r.ok for r in results] == [True, False, True, False, True]
        assert isinstance(results[1].error, BadRequestError)
        # The lost answer of a create is not retried: the customer may exist.
        assert isinstance(results[3].error, OutcomeUnknownError)
        ok_names = [r.unwrap().last_name for r in results.succeeded]
        assert ok_names == ["Alpha", "Bravo", "Charlie"]
        assert all(r.unwrap().customer_id in server.customers for r in results.succeeded)
        assert [r.index for r in results.failed] == [1, 3]
        assert server.posts == 5  # one POST per item, none resent
        stored = {c["lastName"] for c in server.customers.values()}
        assert {"Alpha", "Bravo", "Charlie", "Lost"} <= stored
        assert "Refused" not in stored
        # Fanned out through the limiter: concurrent, and never past the client's cap.
        assert server.peak == 2
        with pytest.raises(ExceptionGroup) as group:
            results.raise_for_errors()
        assert len(group.value.exceptions) == 2


async def test_update_many_reports_per_id() -> None:
    async with CustomerServer() as server, client_for(server.base_url) as client:
        first = (await client.customers.create(Customer(last_name="New"))).customer_id
        assert first is not None
        results = await client.customers.update_many(
            {
                first: Customer(first_name="Eva"),
                424242: {"firstName": "Nobody"},
                1: {"lastName": "Renamed"},
            }
        )
        assert [r.key for r in results] == [first, 424242, 1]
        assert [r.ok for r in results] == [True, False, True]
        assert isinstance(results[1].error, NotFoundError)
        assert server.customers[first]["firstName"] == "Eva"
        assert server.customers[1]["lastName"] == "Renamed"
        assert results[2].value is not None
        assert results[2].value.last_name == "Renamed"
        assert server.puts == 3


async def test_create_many_refuses_bad_input_before_the_wire() -> None:
    async with CustomerServer() as server, client_for(server.base_url) as client:
        with pytest.raises(ValueError, match="customerId"):
            await client.customers.create_many(
                [Customer(last_name="A"), {"customerId": 5, "lastName": "B"}]
            )
        assert server.posts == 0
        assert await client.customers.create_many([]) == []


# -- reservation status batches against the sandbox -----------------------------------------


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox(seed=11) as sandbox:
        yield sandbox


def sandbox_client(sb: Sandbox, **kw: Any) -> MaxxtonClient:
    return MaxxtonClient(
        sb.client_id,
        sb.client_secret,
        sb.scope,
        base_url=sb.base_url,
        usage=MemoryLedger(),
        retry=FAST,
        **kw,
    )


def ids_with(sb: Sandbox, status: str, n: int = 1) -> list[int]:
    found = [r for r, rec in sb.data.reservations.items() if rec["statusValue"] == status]
    assert len(found) >= n
    return found[:n]


async def test_update_status_many_mixed_outcomes_in_order(sb: Sandbox) -> None:
    (optional,) = ids_with(sb, "OPTIONAL")
    (checked_out, stale) = ids_with(sb, "CHECKED_OUT", 2)
    (definitive,) = ids_with(sb, "DEFINITIVE")
    missing = max(sb.data.reservations) + 7
    async with sandbox_client(sb) as client:
        results = await client.reservations.update_status_many(
            [
                (optional, StatusAction.CONFIRM),
                (checked_out, "CONFIRM"),  # chart forbids: no PUT
                (missing, StatusAction.CANCEL),  # unknown id: no PUT
                # A stale status passes the local check; the server refuses (400).
                (
                    Reservation(reservation_id=stale, status=ReservationStatus.OPTIONAL),
                    StatusAction.CONFIRM,
                ),
                (definitive, StatusAction.CHECKED_IN),
            ]
        )
    assert [r.key for r in results] == [optional, checked_out, missing, stale, definitive]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert isinstance(results[1].error, IllegalTransitionError)
    assert isinstance(results[2].error, NotFoundError)
    assert isinstance(results[3].error, BadRequestError)
    assert results[0].unwrap().status_value == "PROVISIONAL"
    assert results[4].unwrap().status_value == "CHECKED_IN"
    data = sb.data.reservations
    assert data[optional]["statusValue"] == "PROVISIONAL"
    assert data[checked_out]["statusValue"] == "CHECKED_OUT"
    assert data[definitive]["statusValue"] == "CHECKED_IN"
    # Unknown statuses were read with ONE batched list call, not a GET per reservation.
    assert sb.stats.per_endpoint["GET /maxxton/v2/reservations"] == 1
    assert sb.stats.per_endpoint["GET /maxxton/v2/reservations/{reservationId}"] == 0
    assert sb.stats.per_endpoint[PUT] == 3  # optional, stale, definitive


async def test_update_status_many_respects_the_cap_and_sends_reasons(sb: Sandbox) -> None:
    targets = ids_with(sb, "PROVISIONAL", 30)
    sb.faults.update(latency=0.005)
    async with sandbox_client(sb, max_in_flight=3) as client:
        results = await client.reservations.update_status_many(
            dict.fromkeys(targets, StatusAction.CANCEL), reason="park closed"
        )
    assert results.ok
    assert [r.key for r in results] == targets
    assert {r.unwrap().status_value for r in results} == {"CANCELLED"}
    assert all(sb.data.reservations[t]["cancellationReason"] == "park closed" for t in targets)
    assert sb.stats.peak_in_flight <= 3
    assert sb.stats.per_endpoint[PUT] == 30


async def test_update_status_many_rejects_bad_input_before_the_wire(sb: Sandbox) -> None:
    (optional,) = ids_with(sb, "OPTIONAL")
    async with sandbox_client(sb) as client:
        with pytest.raises(IllegalTransitionError, match="unknown status action"):
            await client.reservations.update_status_many({optional: "UPGRADE"})
        with pytest.raises(ValueError, match="CANCEL or DECLINE"):
            await client.reservations.update_status_many(
                {optional: StatusAction.CONFIRM}, reason="why"
            )
    assert sb.stats.requests_total == 0


# -- the engine -------------------------------------------------------------------------------


async def test_run_batch_bounds_concurrency_and_keeps_order() -> None:
    active = 0
    peak = 0

    def job(i: int) -> Any:
        async def call() -> int:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            active -= 1
            if i % 4 == 1:
                raise ServerError("boom", method="PUT", path=f"/x/{i}", status=503)
            return i * 10

        return call

    results = await run_batch([(f"k{i}", job(i)) for i in range(10)], concurrency=3)
    assert isinstance(results, BatchResults)
    assert peak == 3
    assert [r.key for r in results] == [f"k{i}" for i in range(10)]
    assert [r.index for r in results.failed] == [1, 5, 9]
    assert results.values() == [0, 20, 30, 40, 60, 70, 80]
    assert not results.ok
    failed = results.failed[0]
    assert isinstance(failed.error, MaxxtonError)
    with pytest.raises(ServerError):
        failed.unwrap()
    with pytest.raises(ValueError, match="concurrency"):
        await run_batch([], concurrency=0)


async def test_run_batch_lets_bugs_propagate_and_cancels_the_rest() -> None:
    cancelled = 0

    async def slow() -> int:
        nonlocal cancelled
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return 1

    async def bug() -> int:
        raise KeyError("not a MaxxtonError")

    with pytest.raises(KeyError):
        await run_batch([("a", slow), ("b", bug), ("c", slow)], concurrency=3)
    assert cancelled == 2


def test_batch_result_helpers() -> None:
    ok: BatchResult[int] = BatchResult(0, "a", value=1)
    assert ok.ok
    assert ok.unwrap() == 1
    results = BatchResults([ok])
    assert results.ok
    results.raise_for_errors()  # nothing failed: no exception
    assert results.succeeded == [ok]
    assert results.failed == []
