"""Batch writes: many items in one call, one ordered outcome per item.

Customer and reservation-status batches run against the sandbox, which applies the reference's
rules (customer body types, 404 for an unknown id, the transition chart) and can lose an answer
after applying a request (``drop_after_handler``), the case a non-idempotent create must never
resend.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from maxxton_async import (
    BadRequestError,
    IllegalTransitionError,
    MaxxtonClient,
    MaxxtonError,
    MemoryLedger,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RetryPolicy,
    ServerError,
)
from maxxton_async.models import (
    Customer,
    MailAddress,
    Reservation,
    ReservationStatus,
    StatusAction,
)
from maxxton_async.resources import BatchResult, BatchResults
from maxxton_async.resources._batch import run_batch
from maxxton_async.sandbox import Sandbox
from tests._support import sandbox_fixture, wait_until

FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.01)
PUT = "PUT /maxxton/v2/reservations/{reservationId}"


# -- the sandbox and clients of it ------------------------------------------------------------


sb = sandbox_fixture(seed=11)


def sandbox_client(sb: Sandbox, **kw: Any) -> MaxxtonClient:
    return sb.client(retry=FAST, **kw)


def restricted_client(sb: Sandbox) -> MaxxtonClient:
    return MaxxtonClient(
        sb.restricted_client_id,
        sb.client_secret,
        sb.scope,
        base_url=sb.base_url,
        ledger=MemoryLedger(),
        retry=FAST,
    )


def customer(last_name: str, **kw: Any) -> Customer:
    email = f"{last_name.lower()}@batch.example"
    return Customer(last_name=last_name, mail_address=MailAddress(email=email), **kw)


def stored_by_email(sb: Sandbox, email: str) -> list[dict[str, Any]]:
    return [c for c in sb.data.customers.values() if c["mailAddress"]["email"] == email]


# -- customer batches against the sandbox -----------------------------------------------------


async def test_create_many_keeps_order_and_every_outcome(sb: Sandbox) -> None:
    before = len(sb.data.customers)
    items: list[Customer | dict[str, Any]] = [
        customer("Alpha", first_name="Ann"),
        customer("Bravo", gender="ROBOT"),  # not in the reference's gender enum: 400
        customer("Charlie"),
        {"lastName": "Delta", "identityNumber": "X" * 51},  # "Max length 50": 400
        customer("Echo", identity_type="PASSPORT"),
    ]
    async with sandbox_client(sb, max_in_flight=2) as client:
        await client.customers.list(size=1)  # authenticate before the requests are held
        # Hold every request on the server, so the batch's concurrency is what the server
        # sees pile up, not a guess from timing.
        hold = asyncio.Event()
        sb.faults.hold = hold
        task = asyncio.create_task(client.customers.create_many(items))
        await wait_until(lambda: sb.statistics().in_flight >= 2)
        for _ in range(10):
            await asyncio.sleep(0)  # room for a third request to sneak in, if the cap leaked
        assert sb.statistics().in_flight == 2
        hold.set()
        results = await task
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.key for r in results] == [0, 1, 2, 3, 4]
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert isinstance(results[1].error, BadRequestError)
    assert "gender" in str(results[1].error)
    assert isinstance(results[3].error, BadRequestError)
    assert "identityNumber" in str(results[3].error)
    assert [r.unwrap().last_name for r in results.succeeded] == ["Alpha", "Charlie", "Echo"]
    assert [r.index for r in results.failed] == [1, 3]
    # The server's data holds exactly the successful ones, as answered.
    assert len(sb.data.customers) == before + 3
    for r in results.succeeded:
        created = r.unwrap()
        assert created.customer_id is not None
        record = sb.data.customers[created.customer_id]
        assert record["lastName"] == created.last_name
        assert record["login"] == f"{created.last_name.lower()}@batch.example"
    assert sb.data.customers[results[0].unwrap().customer_id or 0]["firstName"] == "Ann"
    assert not stored_by_email(sb, "bravo@batch.example")
    creates = [e["entityId"] for e in sb.data.events if e["entityAction"] == "CREATE"][-3:]
    assert sorted(creates) == sorted(r.unwrap().customer_id for r in results.succeeded)
    assert sb.statistics().per_endpoint["POST /maxxton/v2/customers"] == 5  # one per item
    assert sb.statistics().peak_in_flight == 2  # fanned out, never past the client's cap
    with pytest.raises(ExceptionGroup) as group:
        results.raise_for_errors()
    assert len(group.value.exceptions) == 2


async def test_create_many_never_resends_a_create_whose_answer_was_lost(sb: Sandbox) -> None:
    async with sandbox_client(sb) as client:
        await client.customers.list(size=1)  # authenticate: the fault is for the first POST
        # The first create is applied, then its connection dropped: the answer is lost.
        sb.faults.update(drop_next=1, drop_after_handler=True)
        results = await client.customers.create_many(
            [customer("Lost"), customer("Kept")], concurrency=1
        )
    assert [r.ok for r in results] == [False, True]
    assert isinstance(results[0].error, OutcomeUnknownError)
    assert sb.statistics().per_endpoint["POST /maxxton/v2/customers"] == 2  # never resent
    # It exists once, which is why the SDK says "unknown" instead of trying again.
    (lost,) = stored_by_email(sb, "lost@batch.example")
    assert lost["lastName"] == "Lost"
    assert len(stored_by_email(sb, "kept@batch.example")) == 1


async def test_update_many_reports_per_id(sb: Sandbox) -> None:
    first, second, third = list(sb.data.customers)[:3]
    missing = max(sb.data.customers) + 1_000
    before = {cid: dict(sb.data.customers[cid]) for cid in (first, second, third)}
    async with sandbox_client(sb) as client:
        results = await client.customers.update_many(
            {
                first: Customer(first_name="Eva"),
                missing: {"firstName": "Nobody"},  # 404
                second: {"identityType": "VISA"},  # not in the reference's enum: 400
                third: {"lastName": "Renamed", "mailAddress": {"city": "Gent"}},
            }
        )
    assert [r.key for r in results] == [first, missing, second, third]
    assert [r.ok for r in results] == [True, False, False, True]
    assert isinstance(results[1].error, NotFoundError)
    assert isinstance(results[2].error, BadRequestError)
    assert "identityType" in str(results[2].error)
    data = sb.data.customers
    assert data[first]["firstName"] == "Eva"
    assert data[first]["lastName"] == before[first]["lastName"]
    assert data[second] == before[second]
    assert (data[third]["lastName"], data[third]["mailAddress"]["city"]) == ("Renamed", "Gent")
    assert data[third]["mailAddress"]["zipCode"] == before[third]["mailAddress"]["zipCode"]
    assert results[3].value is not None
    assert results[3].value.last_name == "Renamed"
    updates = [e["entityId"] for e in sb.data.events if e["entityAction"] == "UPDATE"]
    assert sorted(updates[-2:]) == sorted([first, third])
    # 4xx answers are final: one PUT per item.
    assert sb.statistics().per_endpoint["PUT /maxxton/v2/customers/{customerId}"] == 4


async def test_update_many_resends_a_lost_update_and_keeps_access_rules(sb: Sandbox) -> None:
    first, second = list(sb.data.customers)[:2]
    last_name = sb.data.customers[second]["lastName"]
    async with restricted_client(sb) as client:
        await client.customers.list(size=1)
        # A PUT sets values, so a lost answer is simply sent again (unlike a create).
        sb.faults.update(drop_next=1)
        results = await client.customers.update_many(
            {first: {"textMsgAllowed": True}, second: {"lastName": "Hidden"}}, concurrency=1
        )
    assert results[0].ok
    assert sb.data.customers[first]["textMsgAllowed"] is True
    # A user who reads lastName masked may not change it (reference, Update a customer).
    assert isinstance(results[1].error, PermissionDeniedError)
    assert sb.data.customers[second]["lastName"] == last_name
    assert sb.statistics().per_endpoint["PUT /maxxton/v2/customers/{customerId}"] == 3


async def test_create_many_refuses_bad_input_before_the_wire(sb: Sandbox) -> None:
    async with sandbox_client(sb) as client:
        with pytest.raises(ValueError, match="customerId"):
            await client.customers.create_many(
                [Customer(last_name="A"), {"customerId": 5, "lastName": "B"}]
            )
        assert await client.customers.create_many([]) == []
    assert sb.statistics().requests_total == 0


# -- reservation status batches against the sandbox -------------------------------------------


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
    assert sb.statistics().per_endpoint["GET /maxxton/v2/reservations"] == 1
    assert sb.statistics().per_endpoint["GET /maxxton/v2/reservations/{reservationId}"] == 0
    assert sb.statistics().per_endpoint[PUT] == 3  # optional, stale, definitive


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
    assert sb.statistics().peak_in_flight <= 3
    assert sb.statistics().per_endpoint[PUT] == 30


async def test_update_status_many_rejects_bad_input_before_the_wire(sb: Sandbox) -> None:
    (optional,) = ids_with(sb, "OPTIONAL")
    async with sandbox_client(sb) as client:
        with pytest.raises(IllegalTransitionError, match="unknown status action"):
            await client.reservations.update_status_many({optional: "UPGRADE"})
        with pytest.raises(ValueError, match="CANCEL or DECLINE"):
            await client.reservations.update_status_many(
                {optional: StatusAction.CONFIRM}, reason="why"
            )
    assert sb.statistics().requests_total == 0


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
