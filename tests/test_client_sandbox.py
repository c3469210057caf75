"""The core client end to end against the sandbox, which enforces Maxxton's rules and counts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from maxxton_async import (
    F,
    MaxxtonClient,
    RetryPolicy,
    SQLiteLedger,
)
from maxxton_async.models import Customer, Reservation
from maxxton_async.sandbox import Sandbox

FAST = RetryPolicy(backoff_base=0.001, backoff_max=0.01)


def client_for(sb: Sandbox, **kw: Any) -> MaxxtonClient:
    kw.setdefault("retry", FAST)
    return sb.client(**kw)


async def test_thousand_awaits_stay_within_the_servers_cap() -> None:
    async with Sandbox(seed=3, latency=0.005) as sb, client_for(sb) as client:
        ids = list(sb.data.customers)[:50]
        results = await asyncio.gather(
            *(client.request("GET", f"customers/{ids[i % 50]}") for i in range(1000))
        )
        assert all(r["customerId"] == ids[i % 50] for i, r in enumerate(results))
        assert sb.statistics().peak_in_flight == 15
        assert sb.statistics().rejected_in_flight == 0  # never a 16th call, so never a 429
        assert sb.statistics().token_calls == 1
        assert sb.statistics().requests_total == 1001


async def test_expired_token_is_refreshed_ahead_not_after_a_401() -> None:
    offset = [0.0]
    clock = lambda: time.time() + offset[0]  # noqa: E731
    async with Sandbox(seed=3, token_ttl=60) as sb, client_for(sb, clock=clock) as client:
        await client.request("GET", "customers", params={"size": 1})
        # Leave the sandbox's clock and ours in step: move both past the refresh margin.
        sb.advance_time(61)
        offset[0] = 61
        await client.request("GET", "customers", params={"size": 1})
        assert sb.statistics().token_calls == 2
        assert sb.statistics().statuses[401] == 0


async def test_revoked_token_costs_one_reauth_for_all_callers() -> None:
    async with Sandbox(seed=3) as sb, client_for(sb) as client:
        await client.request("GET", "customers", params={"size": 1})
        sb.revoke_tokens()
        await asyncio.gather(
            *(client.request("GET", "customers", params={"size": 1}) for _ in range(30))
        )
        assert sb.statistics().token_calls == 2


async def test_filters_reach_the_sandbox_and_select_the_truth() -> None:
    async with Sandbox(seed=3) as sb, client_for(sb) as client:
        some = next(iter(sb.data.customers.values()))
        last = some["lastName"]
        got = await client.paginate(
            "customers",
            item_type=Customer,
            filter=F("lastName") == last,
            sort="customerId,asc",
            page_size=7,
        ).collect()
        expected = sorted(
            c["customerId"] for c in sb.data.customers.values() if c["lastName"] == last
        )
        assert [c.customer_id for c in got] == expected
        query = parse_qsl(
            next(r for r in sb.statistics().log if r.route.endswith("/customers")).query
        )
        assert ("filter", f"lastName::{last}") in query


async def test_paginate_all_customers_matches_the_dataset() -> None:
    async with Sandbox(seed=3) as sb, client_for(sb) as client:
        got = [
            c.customer_id
            async for c in client.paginate(
                "customers", item_type=Customer, sort="customerId,asc", page_size=37
            )
        ]
        assert got == sorted(sb.data.customers)


async def test_reservations_204_is_an_empty_iteration() -> None:
    async with Sandbox(seed=3) as sb, client_for(sb) as client:
        got = await client.paginate(
            "reservations", item_type=Reservation, filter=F("reservationId") == 1
        ).collect()
        assert got == []
        assert sb.statistics().statuses[204] == 1


async def test_sandbox_429_burst_is_retried_with_retry_after() -> None:
    async with Sandbox(seed=3) as sb, client_for(sb) as client:
        await client.request("GET", "customers", params={"size": 1})
        sb.faults.update(rate_limit_burst=2, retry_after=0)
        data = await client.request("GET", "customers", params={"size": 1})
        assert data["numberOfElements"] == 1
        assert sb.statistics().statuses[429] == 2
        assert client.statistics().retries == 2


_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from maxxton_async import MaxxtonClient, MemoryLedger, SQLiteTokenCache

    async def main() -> None:
        base, cid, secret, scope, cache = sys.argv[1:6]
        async with MaxxtonClient(cid, secret, scope, base_url=base, ledger=MemoryLedger(),
                                 token_cache=SQLiteTokenCache(cache)) as client:
            for _ in range(20):
                await client.request("GET", "customers", params={"size": 1})

    asyncio.run(main())
    """
)


async def test_four_processes_share_one_token(tmp_path: Path) -> None:
    async with Sandbox(seed=3) as sb:
        cache = tmp_path / "tokens.sqlite3"
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _WORKER,
                sb.base_url,
                sb.client_id,
                sb.client_secret,
                sb.scope,
                str(cache),
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        for proc in procs:
            _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
            assert proc.returncode == 0, err.decode()
        assert sb.statistics().token_calls == 1
        assert sb.statistics().per_endpoint["GET /maxxton/v2/customers"] == 80


async def test_default_sqlite_ledger_counts_every_attempt(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    async with Sandbox(seed=3) as sb:
        async with client_for(sb, ledger=SQLiteLedger(db)) as client:
            sb.faults.update(rate_limit_burst=1, retry_after=0)
            await client.request("GET", "customers", params={"size": 1})
            await client.request("GET", "customers", params={"size": 1})
        ledger = SQLiteLedger(db)
        try:
            (day,) = await ledger.history(
                scope=sb.scope,
                environment="test",
                start=datetime.now(UTC).date(),
                end=datetime.now(UTC).date(),
            )
        finally:
            await ledger.aclose()
        assert (day.tokens, day.calls, day.retries) == (1, 2, 1)
        assert day.total == sb.statistics().requests_total


@pytest.mark.parametrize("transport", ["form", "query"])
async def test_both_auth_transports_are_accepted(transport: str) -> None:
    async with Sandbox(seed=3) as sb, client_for(sb, auth_transport=transport) as client:
        await client.request("GET", "customers", params={"size": 1})
        assert sb.statistics().token_calls == 1


async def test_a_one_second_token_never_loops() -> None:
    async with Sandbox(seed=3, token_ttl=1) as sb, client_for(sb) as client:
        for _ in range(5):
            await client.request("GET", "customers", params={"size": 1})
        # A 1 s token with a 10% margin is reused across calls made within ~0.9 s.
        assert 1 <= sb.statistics().token_calls <= 6
        assert sb.statistics().per_endpoint["GET /maxxton/v2/customers"] == 5
