"""Authentication as the guide and the reference spell it, and the free tier as one allowance.

Guide, Authentication: camelCase form fields in its example, 200 and 500 the only answers.
Reference and public clients: snake_case. Guide, API Pricing: "750,000 requests per month
(25,000 requests per day)".
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maxxton_async import (
    AuthenticationError,
    Budget,
    BudgetExceededError,
    ConfigurationError,
    MaxxtonClient,
    MemoryLedger,
    RetryPolicy,
    ServerError,
)
from maxxton_async.sandbox import Sandbox
from maxxton_async.usage import Usage, UsageKind
from tests._support import FakeTime

FAST = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.001)


@pytest.mark.parametrize("transport", ["form", "query"])
@pytest.mark.parametrize("names", ["snake_case", "camelCase"])
async def test_each_spelling_and_transport_authenticates(transport: str, names: str) -> None:
    async with Sandbox(seed=3, auth_names=(names,)) as sb:
        client = sb.client(auth_transport=transport, auth_names=names)
        async with client:
            await client.request("GET", "customers", params={"size": 1})
            details = await client.auth_details()
        assert sb.statistics().token_calls == 1  # auth_details() reused the minted answer
        assert isinstance(details.client_id, int)
        assert isinstance(details.concern_id, int)
        assert details.scope == sb.scope


async def test_the_wrong_spelling_is_refused_with_500_then_reported_as_refused() -> None:
    time = FakeTime()
    async with Sandbox(seed=3, auth_names=("snake_case",)) as sb:
        client = sb.client(auth_names="camelCase", retry=FAST, sleep=time.sleep)
        async with client:
            errors = []
            for _ in range(4):
                with pytest.raises((ServerError, AuthenticationError)) as info:
                    await client.request("GET", "customers")
                errors.append(info.value)
    assert [type(e) for e in errors] == [
        ServerError,
        ServerError,
        AuthenticationError,
        AuthenticationError,
    ]
    assert "guide" in errors[0].message  # says why a 500 may mean refused credentials
    assert sb.statistics().token_calls == 3  # bounded: the 4th call costs nothing
    assert time.slept == pytest.approx([1.0, 2.0], abs=0.05)  # a growing cool-down


async def test_refused_with_401_is_final_at_once() -> None:
    async with Sandbox(seed=3, auth_refusal_status=401) as sb:
        client = MaxxtonClient(
            sb.client_id, "wrong", sb.scope, base_url=sb.base_url, ledger=MemoryLedger()
        )
        async with client:
            for _ in range(3):
                with pytest.raises(AuthenticationError):
                    await client.request("GET", "customers")
    assert sb.statistics().token_calls == 1


def test_unknown_spelling_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="auth_names"):
        MaxxtonClient("a", "b", "c", auth_names="kebab-case", ledger=MemoryLedger())


# -- the free tier is one allowance stated two ways -----------------------------------


async def _usage_with(day_count: int, budget: Budget) -> Usage:
    ledger = MemoryLedger()
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    await ledger.record(
        scope="s", environment="production", kind=UsageKind.CALL, at=at, count=day_count
    )
    return Usage(ledger, scope="s", environment="production", budget=budget, clock=lambda: at)


async def test_the_free_daily_figure_only_warns_by_default() -> None:
    warnings: list[str] = []
    budget = Budget(hard=True, on_warning=lambda name, *_: warnings.append(name))
    usage = await _usage_with(25_000, budget)
    await usage.before_send(UsageKind.CALL, method="GET", path="/x")  # the 25,001st: sent
    assert (await usage.snapshot()).today == 25_001
    assert "daily" in warnings
    assert budget.enforces_daily is False


async def test_the_month_is_the_hard_limit() -> None:
    usage = await _usage_with(750_000, Budget(hard=True))
    with pytest.raises(BudgetExceededError) as info:
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    assert info.value.limit_name == "monthly"


@pytest.mark.parametrize(
    "budget", [Budget(hard=True, hard_daily=True), Budget(hard=True, daily=25_000 - 1)]
)
async def test_a_hard_daily_limit_on_request(budget: Budget) -> None:
    usage = await _usage_with(budget.daily, budget)
    with pytest.raises(BudgetExceededError) as info:
        await usage.before_send(UsageKind.CALL, method="GET", path="/x")
    assert info.value.limit_name == "daily"
