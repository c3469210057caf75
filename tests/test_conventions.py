"""What users of openai-python, stripe-python and githubkit expect, against the sandbox:
raw responses for any call, per-call options, a User-Agent, event hooks, MAXXTON_LOG and
OpenTelemetry spans and metrics (in-memory exporter)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest

from maxxton_async import (
    MaxxtonClient,
    MemoryLedger,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    __version__,
)
from maxxton_async.sandbox import Sandbox
from maxxton_async.transport import USER_AGENT, Request, Response

ROOT = Path(__file__).resolve().parents[1]
FAST = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.001)


def client_for(sb: Sandbox, **kw: Any) -> MaxxtonClient:
    kw.setdefault("retry", FAST)
    return sb.client(**kw)


async def test_raw_responses_for_any_call_resource_methods_included() -> None:
    async with Sandbox(seed=5) as sb, client_for(sb) as client:
        customer_id = next(iter(sb.data.customers))
        with client.raw_responses() as seen:
            customer = await client.customers.get(customer_id)
            await client.request("GET", "customers", params={"size": 2})
        assert [x.response.status for x in seen] == [200, 200]
        first = seen[0]
        assert first.request.path == f"/maxxton/v2/customers/{customer_id}"
        assert "application/json" in first.response.headers["Content-Type"]
        raw = msgspec.json.decode(first.response.body)
        assert raw["customerId"] == customer.customer_id == customer_id
        assert "Authorization" not in first.request.headers  # the token is not recorded
    # Outside the block nothing is recorded.
    assert len(seen) == 2


async def test_with_options_changes_one_call_and_shares_the_rest() -> None:
    async with Sandbox(seed=5) as sb, client_for(sb) as client:
        await client.request("GET", "customers", params={"size": 1})
        impatient = client.with_options(timeout=0.05)
        sb.faults.update(latency=0.5)
        with pytest.raises(RequestTimeoutError):
            await impatient.with_options(retry=RetryPolicy.none()).request(
                "GET", "customers", params={"size": 1}
            )
        sb.faults.update(latency=0.0, fail_next=1, fail_status=503)
        with pytest.raises(ServerError):
            await client.with_options(retry=RetryPolicy.none()).customers.list(size=1)
        sb.faults.update(fail_next=1, fail_status=503)
        await client.customers.list(size=1)  # the client's own policy retries
        stats = client.statistics()
        assert stats.requests_sent == sb.statistics().requests_total  # one set of statistics
        assert impatient.limiter is client.limiter  # one cap
        await impatient.aclose()  # a view: closing it leaves the client open
        assert not client.is_closed
        await client.request("GET", "customers", params={"size": 1})
    assert impatient.is_closed


async def test_user_agent_names_the_sdk_and_version() -> None:
    seen: list[str] = []

    def record(request: Request) -> None:
        seen.append(request.headers["User-Agent"])

    async with Sandbox(seed=5) as sb, client_for(sb, event_hooks={"request": [record]}) as c:
        await c.request("GET", "customers", params={"size": 1})
    assert seen == [USER_AGENT]
    assert USER_AGENT.startswith(f"maxxton-async/{__version__} aiohttp/")


async def test_event_hooks_see_every_attempt_without_the_token() -> None:
    requests: list[Request] = []
    responses: list[int] = []

    async def on_response(request: Request, response: Response) -> None:
        await asyncio.sleep(0)
        responses.append(response.status)

    hooks = {"request": [requests.append], "response": [on_response]}
    async with Sandbox(seed=5) as sb, client_for(sb, event_hooks=hooks) as client:
        await client.request("GET", "customers", params={"size": 1})  # the token first
        sb.faults.update(fail_next=1, fail_status=503)
        await client.request("GET", "customers", params={"size": 1})
    assert responses == [200, 503, 200]  # the retry is an attempt of its own
    assert len(requests) == 3
    assert all("Authorization" not in r.headers for r in requests)
    assert all(r.path == "/maxxton/v2/customers" for r in requests)  # no token call


def test_unknown_hook_names_are_refused() -> None:
    from maxxton_async import ConfigurationError

    with pytest.raises(ConfigurationError, match="event_hooks"):
        MaxxtonClient("a", "b", "c", ledger=MemoryLedger(), event_hooks={"reqest": []})


def test_maxxton_log_debug_logs_each_attempt_without_secrets(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from maxxton_async import MaxxtonClient, MemoryLedger
        from maxxton_async.sandbox import Sandbox

        async def main():
            async with Sandbox(seed=5) as sb:
                async with MaxxtonClient(sb.client_id, sb.client_secret, sb.scope,
                                         base_url=sb.base_url, ledger=MemoryLedger()) as c:
                    await c.request("GET", "customers", params={"size": 1})
                print(sb.client_secret)

        asyncio.run(main())
        """
    )
    env = {**os.environ, "MAXXTON_LOG": "debug", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    secret = proc.stdout.strip().splitlines()[-1]
    assert "GET /maxxton/v2/customers -> HTTP 200" in proc.stderr
    assert "POST /maxxton/v2/authenticate -> HTTP 200" in proc.stderr
    assert secret not in proc.stderr


async def test_opentelemetry_spans_and_metrics() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from maxxton_async import Budget
    from maxxton_async.otel import OpenTelemetry

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    otel = OpenTelemetry(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader])
    )
    budget = Budget(monthly=1000, bill_acceptance=True)
    async with Sandbox(seed=5) as sb, client_for(sb, observer=otel, budget=budget) as client:
        otel.watch_budget(client.usage)
        await client.request("GET", "customers", params={"size": 1})
        sb.faults.update(rate_limit_burst=1, retry_after=0)
        await asyncio.gather(*(client.request("GET", "customers") for _ in range(5)))
        sent = client.statistics().requests_sent
    spans = exporter.get_finished_spans()
    assert len(spans) == sent == sb.statistics().requests_total
    api = [s for s in spans if s.attributes["url.full"].endswith("/maxxton/v2/customers")]
    assert all(s.name == "GET" and s.kind.name == "CLIENT" for s in api)
    assert {s.attributes["http.response.status_code"] for s in api} == {200, 429}
    resent = [s for s in api if "http.request.resend_count" in s.attributes]
    assert len(resent) == 1
    assert all("secret" not in str(dict(s.attributes)) for s in spans)
    data = reader.get_metrics_data()
    metrics = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    durations = metrics["http.client.request.duration"].data.data_points
    assert sum(p.count for p in durations) == sent
    assert sum(p.value for p in metrics["maxxton.client.rate_limited"].data.data_points) == 1
    assert sum(p.value for p in metrics["maxxton.client.retries"].data.data_points) == 1
    (left,) = metrics["maxxton.budget.remaining"].data.data_points
    assert left.value == 1000 - sent
