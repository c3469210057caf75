"""RetryPolicy decisions (pure) and one send step in isolation with aioresponses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aioresponses import aioresponses

from maxxton_async import MaxxtonClient, MemoryLedger, RetryPolicy
from maxxton_async._retry import parse_retry_after


def test_parse_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    )
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") == 0


def test_status_decisions() -> None:
    policy = RetryPolicy(max_attempts=3, rng=lambda: 0.5, backoff_base=1)
    assert policy.delay_for_status(503, attempt=1, idempotent=True, retry_after=None) == 0.5
    assert policy.delay_for_status(503, attempt=2, idempotent=True, retry_after=None) == 1.0
    assert policy.delay_for_status(503, attempt=3, idempotent=True, retry_after=None) is None
    assert policy.delay_for_status(503, attempt=1, idempotent=False, retry_after=None) is None
    # 429: not processed, so safe to resend even when the call is not idempotent.
    assert policy.delay_for_status(429, attempt=1, idempotent=False, retry_after=2) == 2
    assert policy.delay_for_status(500, attempt=1, idempotent=True, retry_after=None) is None
    assert policy.delay_for_status(429, attempt=1, idempotent=True, retry_after=4) == 4
    assert policy.delay_for_status(429, attempt=1, idempotent=True, retry_after=600) is None
    assert RetryPolicy.none().delay_for_error(attempt=1, idempotent=True) is None


@pytest.fixture
def mocked() -> aioresponses:
    with aioresponses() as m:
        yield m


async def test_token_is_sent_as_token_type_and_access_token(mocked: aioresponses) -> None:
    base = "https://api-test.maxxton.net"
    mocked.post(
        f"{base}/maxxton/v2/authenticate",
        payload={"access_token": "abc", "token_type": "bearer", "expires_in": 60},
    )
    mocked.get(f"{base}/maxxton/v2/customers/1", payload={"customerId": 1})
    async with MaxxtonClient("id", "secret", "sco", ledger=MemoryLedger()) as client:
        assert await client.request("GET", "customers/1") == {"customerId": 1}
    calls = {str(k[1]): v for k, v in mocked.requests.items()}
    (get,) = calls[f"{base}/maxxton/v2/customers/1"]
    assert get.kwargs["headers"]["Authorization"] == "bearer abc"


async def test_refresh_margin_scales_with_lifetime(mocked: aioresponses) -> None:
    """A 60 s token is reused for ~54 s, not refreshed on every call."""
    base = "https://api-test.maxxton.net"
    mocked.post(
        f"{base}/maxxton/v2/authenticate",
        payload={"access_token": "abc", "expires_in": 60},
        repeat=True,
    )
    mocked.get(f"{base}/maxxton/v2/ping", payload={}, repeat=True)
    async with MaxxtonClient("id", "secret", "sco", ledger=MemoryLedger()) as client:
        for _ in range(5):
            await client.request("GET", "ping")
        assert client.statistics().token_calls == 1
        token = client.tokens.current()
        assert token is not None
        assert "abc" not in repr(token)
