"""Availability harvest: planning, exactly-once fetching, truth, resume, backpressure, budget."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from maxxton_async import Budget, BudgetExceededError, MaxxtonClient
from maxxton_async.events import MemoryCheckpointStore, SQLiteCheckpointStore
from maxxton_async.harvest import (
    AVAILABILITY_PATH,
    CallbackSink,
    Harvest,
    HarvestChunk,
    HarvestProgress,
    NDJSONSink,
    SQLitePriceIndex,
    arrival_windows,
    check_budget,
    plan,
)
from maxxton_async.models import AvailabilityRecord
from maxxton_async.sandbox import Sandbox
from maxxton_async.usage import UsageSnapshot
from tests._support import sandbox_fixture, sandbox_harvest

AVAIL_ROUTE = f"GET {AVAILABILITY_PATH}"
PORTFOLIO_ROUTE = f"POST {AVAILABILITY_PATH}"
DURATIONS = (3, 7, 14)


sb = sandbox_fixture(seed=3)


def client_for(sb: Sandbox, **kwargs: object) -> MaxxtonClient:
    return sb.client(**kwargs)


def availability_calls(sb: Sandbox) -> int:
    """Availability calls of either mode the sandbox served."""
    return len(sb.statistics().requests_to(AVAIL_ROUTE)) + len(
        sb.statistics().requests_to(PORTFOLIO_ROUTE)
    )


def fetched_chunks(sb: Sandbox) -> Counter[tuple[int, str, str]]:
    """(resourceId, from, to) of every per-type availability call the sandbox logged."""
    out: Counter[tuple[int, str, str]] = Counter()
    for r in sb.statistics().requests_to(AVAIL_ROUTE):
        q = urllib.parse.parse_qs(r.query)
        out[(int(q["resourceId"][0]), q["arrivalDateFrom"][0], q["arrivalDateTo"][0])] += 1
    return out


def truth(
    sb: Sandbox, start: dt.date, end: dt.date, durations: Sequence[int]
) -> dict[tuple[int, dt.date, int], float]:
    """The sandbox's own availability function: cheapest price per bookable stay."""
    out = {}
    data = sb.data
    for rid, at in data.accommodation_types.items():
        if at["archived"]:
            continue
        day = start
        while day <= end:
            for d in durations:
                rec = data.availability(rid, day, d)
                if rec is not None:
                    out[(rid, day, d)] = min(p["price"] for p in rec["prices"])
            day += dt.timedelta(days=1)
    return out


def make(client: MaxxtonClient, sb: Sandbox, days: int = 90, **kwargs: Any) -> Harvest:
    return sandbox_harvest(client, sb, days=days, durations=DURATIONS, **kwargs)


# -- planning (pure) --------------------------------------------------------------------


def test_windows_cover_the_range_without_overlap() -> None:
    start, end = dt.date(2027, 1, 1), dt.date(2027, 3, 31)
    windows = arrival_windows(start, end, 30)
    assert windows[0] == (dt.date(2027, 1, 1), dt.date(2027, 1, 30))
    assert windows[-1][1] == end
    assert all((b - a).days + 1 <= 30 for a, b in windows)
    assert all(
        nxt[0] == prev[1] + dt.timedelta(days=1) for prev, nxt in itertools.pairwise(windows)
    )
    assert sum((b - a).days + 1 for a, b in windows) == 90
    assert arrival_windows(start, start, 30) == [(start, start)]


@pytest.mark.parametrize(
    ("start", "end", "window"),
    [(dt.date(2027, 2, 1), dt.date(2027, 1, 1), 30), (dt.date(2027, 1, 1), dt.date(2027, 1, 2), 0)],
)
def test_windows_reject_bad_input(start: dt.date, end: dt.date, window: int) -> None:
    with pytest.raises(ValueError, match=r"window|empty"):
        arrival_windows(start, end, window)


def test_plan_lists_chunks_and_calls_and_skips_finished() -> None:
    start, end = dt.date(2027, 1, 1), dt.date(2027, 3, 31)
    p = plan([2, 1, 2], start, end, durations=[7, 3, 7], window=30)
    assert p.resource_ids == (1, 2)
    assert p.durations == (3, 7)
    assert p.calls == 6 == p.total
    assert p.chunks[0] == HarvestChunk(1, start, dt.date(2027, 1, 30), (3, 7))
    resumed = plan([1, 2], start, end, durations=[3, 7], finished=[p.chunks[0].key, "junk"])
    assert resumed.calls == 5
    assert resumed.skipped == (p.chunks[0],)
    assert "6 chunks, 1 already done, 5 calls" in resumed.describe()
    with pytest.raises(ValueError, match="duration"):
        plan([1], start, end, durations=[])


def _snapshot(today: int, *, billed: bool = True, daily: int = 100) -> UsageSnapshot:
    return UsageSnapshot(
        environment="production",
        scope="abc",
        at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
        today=today,
        month=today,
        free_left_today=max(daily - today, 0),
        free_left_month=750_000 - today,
        projected_month=today,
        projected_overage=0,
        peak_in_flight=0,
        billed=billed,
    )


def test_check_budget_refuses_what_the_hard_budget_cannot_pay() -> None:
    p = plan(range(10), dt.date(2027, 1, 1), dt.date(2027, 3, 31), durations=[7])  # 30 calls
    hard = Budget(daily=100, hard=True)
    check_budget(p, _snapshot(69), hard)  # 30 + 1 token call fit in 31 left
    with pytest.raises(BudgetExceededError, match="needs 30 calls") as info:
        check_budget(p, _snapshot(70), hard)
    assert info.value.limit_name == "daily"
    check_budget(p, _snapshot(99), Budget(daily=100, hard=False))  # warn-only: no refusal
    check_budget(p, _snapshot(99, billed=False), hard)  # acceptance is free


# -- against the sandbox --------------------------------------------------------------------


async def test_harvest_fetches_each_chunk_once_and_matches_the_truth(
    sb: Sandbox, tmp_path: Path
) -> None:
    progress: list[HarvestProgress] = []
    async with client_for(sb) as client:
        job = make(client, sb, on_progress=progress.append, mode="per-type")
        index = SQLitePriceIndex(tmp_path / "prices.sqlite")
        result = await job.run(index)
        stays = await index.stays()
        stats = await index.statistics()
        await index.aclose()
    fetched = fetched_chunks(sb)
    expected = {
        (c.resource_id, c.arrival_from.isoformat(), c.arrival_to.isoformat())
        for c in result.plan.chunks
    }
    assert set(fetched) == expected
    assert set(fetched.values()) == {1}  # every chunk exactly once
    assert result.plan.calls == len(expected) == result.chunks_done
    types = [t for t in sb.data.accommodation_types.values() if not t["archived"]]
    assert len(result.plan.resource_ids) == len(types)
    want = truth(sb, job.arrival_from, job.arrival_to, DURATIONS)
    assert {(r, a, d): p for r, a, d, p in stays} == pytest.approx(want)
    assert result.records == len(want) == stats.stays
    assert stats.prices >= stats.stays
    assert progress[-1].chunks_done == progress[-1].chunks_total == result.plan.calls
    assert progress[-1].records == result.records
    assert progress[-1].calls == result.calls == result.plan.calls + 2  # + token + type list
    assert progress[-1].eta == 0


@pytest.mark.parametrize("mode", ["portfolio", "per-type"])
async def test_rerun_of_a_finished_harvest_fetches_nothing(
    sb: Sandbox, tmp_path: Path, mode: str
) -> None:
    async with client_for(sb) as client:
        await make(client, sb, mode=mode).run(str(tmp_path / "p.sqlite"))
        sb.reset_stats()
        again = await make(client, sb, mode=mode).run(str(tmp_path / "p.sqlite"))
    assert again.plan.calls == 0
    assert len(again.plan.skipped) == again.plan.total > 0
    assert availability_calls(sb) == 0


async def test_crash_in_the_sink_then_rerun_fetches_only_the_rest(
    sb: Sandbox, tmp_path: Path
) -> None:
    store_path = tmp_path / "harvest.checkpoint"
    written: list[HarvestChunk] = []

    def failing(chunk: HarvestChunk, records: Sequence[AvailabilityRecord]) -> None:
        if len(written) == 5:
            raise RuntimeError("disk full")
        written.append(chunk)

    async with client_for(sb) as client:
        first = make(client, sb, concurrency=4, mode="per-type")
        sink = CallbackSink(failing, checkpoint=store_path)
        with pytest.raises(RuntimeError, match="disk full"):
            await first.run(sink)
        await sink.aclose()
        store = SQLiteCheckpointStore(store_path)
        finished = await store.finished(first.job)
        await store.aclose()
        assert finished == {c.key for c in written}
        assert len(finished) == 5
        sb.reset_stats()

        rest: list[HarvestChunk] = []
        second = make(client, sb, mode="per-type")
        sink2 = CallbackSink(lambda c, r: rest.append(c), checkpoint=store_path)
        result = await second.run(sink2)
        await sink2.aclose()
    keys_second = {f"{r}:{a}:{b}" for (r, a, b) in fetched_chunks(sb)}
    assert keys_second.isdisjoint(finished)
    assert len(keys_second) == result.plan.calls == result.plan.total - 5
    assert {c.key for c in written} | {c.key for c in rest} == {
        c.key for c in (*result.plan.chunks, *result.plan.skipped)
    }


async def test_cancelled_ndjson_harvest_resumes_without_duplicates(
    sb: Sandbox, tmp_path: Path
) -> None:
    out = tmp_path / "prices.ndjson"
    reached = asyncio.Event()

    def on_progress(p: HarvestProgress) -> None:
        if p.chunks_done >= 4:
            reached.set()

    async with client_for(sb) as client:
        sink = NDJSONSink(out)
        task = asyncio.create_task(
            make(client, sb, on_progress=on_progress, mode="per-type").run(sink)
        )
        await asyncio.wait_for(reached.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await sink.aclose()
        first_calls = sum(fetched_chunks(sb).values())
        sb.reset_stats()
        # A half-written line from a crash must be cut off on resume.
        with out.open("ab") as f:
            f.write(b'{"resourceId": 1, "arriv')
        job = make(client, sb, mode="per-type")
        sink2 = NDJSONSink(out)
        result = await job.run(sink2)
        await sink2.aclose()
    second_calls = sum(fetched_chunks(sb).values())
    assert len(result.plan.skipped) >= 4
    assert second_calls == result.plan.calls == result.plan.total - len(result.plan.skipped)
    # Fetched but lost to the cancel: at most what backpressure lets the workers hold.
    assert first_calls + second_calls <= result.plan.total + job.queue_size + job.concurrency + 1
    lines = out.read_bytes().splitlines()
    keys = [(d["resourceId"], d["arrivalDate"], d["duration"]) for d in map(json.loads, lines)]
    assert len(keys) == len(set(keys))  # nothing twice
    want = truth(sb, job.arrival_from, job.arrival_to, DURATIONS)
    assert {(r, dt.date.fromisoformat(a), d) for r, a, d in keys} == set(want)


async def test_backpressure_bounds_what_is_held(sb: Sandbox) -> None:
    queue_size, workers = 2, 4
    async with client_for(sb) as client:
        job = make(
            client, sb, window=3, concurrency=workers, queue_size=queue_size, mode="per-type"
        )
        the_plan = await job.plan()
        assert the_plan.calls >= 300
        consumed = records = 0
        bound = queue_size + workers + 1
        async with aclosing(job.results(the_plan)) as results:
            async for result in results:
                consumed += 1
                records += len(result.records)
                # Fetched (or in flight) but not yet consumed never exceeds the bound.
                assert len(sb.statistics().requests_to(AVAIL_ROUTE)) - consumed <= bound
                # A slow consumer, in real time: the fetchers on loopback must get ahead of it.
                await asyncio.sleep(0.001)
    stats = job.statistics()
    assert consumed == the_plan.calls
    assert stats.peak_queued <= queue_size
    assert stats.peak_held_chunks <= bound
    assert stats.peak_held_records * 10 < records


async def test_records_iterator_streams_everything(sb: Sandbox) -> None:
    async with client_for(sb) as client:
        job = make(client, sb, days=30, resource_ids=[1000, 1001])
        got = [(r.resource_id, r.arrival_date, r.duration) async for r in job.records()]
    want = {
        k for k in truth(sb, job.arrival_from, job.arrival_to, DURATIONS) if k[0] in (1000, 1001)
    }
    assert len(got) == len(set(got))
    assert set(got) == want


async def test_hard_budget_refuses_before_any_availability_call(sb: Sandbox) -> None:
    budget = Budget(daily=20, hard=True, bill_acceptance=True)
    ids = list(sb.data.accommodation_types)
    async with client_for(sb, budget=budget) as client:
        job = make(client, sb, resource_ids=ids)
        with pytest.raises(BudgetExceededError, match="refused before starting"):
            await job.run(CallbackSink(lambda c, r: None, checkpoint=MemoryCheckpointStore()))
    assert sb.statistics().requests_total == 0


async def test_failing_chunks_are_collected_by_default_and_fail_fast_stops(sb: Sandbox) -> None:
    # Behaviour changed deliberately (issue 14): keep going is the default; fail_fast=True
    # restores the old stop-at-the-first-failure.
    async with client_for(sb) as client:
        job = make(client, sb, days=30, resource_ids=[1000], channel_code="NOPE")
        result = await job.run()
        strict = make(client, sb, days=30, resource_ids=[1000], channel_code="NOPE", fail_fast=True)
        with pytest.raises(Exception, match="NOPE"):
            await strict.run()
    assert result.chunks_done == 0
    assert len(result.failed) == 1
    assert not result.complete
    assert "BadRequestError" in result.failed[0][1]


# -- portfolio mode, plans of both modes, a harvest that finishes ---------------------------


def test_plan_states_the_calls_of_both_modes() -> None:
    start, end = dt.date(2027, 1, 1), dt.date(2027, 12, 31)  # 365 days: 13 windows of 30
    ids = range(1000, 1300)  # 300 types
    portfolio = plan(ids, start, end, durations=[7], mode="portfolio")
    per_type = plan(ids, start, end, durations=[7], mode="per-type")
    assert portfolio.windows == per_type.windows == 13
    assert portfolio.calls == 13 == per_type.full_calls("portfolio")
    assert per_type.calls == 300 * 13 == portfolio.full_calls("per-type")
    assert all(c.resource_id is None and c.key.startswith("*:") for c in portfolio.chunks)
    assert "would cost 3900 calls" in portfolio.describe()
    assert "would cost 13 calls" in per_type.describe()
    with_implies = plan(None, start, end, durations=[7], mode="portfolio", implies=True)
    assert with_implies.calls == 26
    assert with_implies.full_calls("per-type") is None  # types unknown without listing
    assert "26 calls per accommodation type" in with_implies.describe()
    resumed = plan(
        None, start, end, durations=[7], mode="portfolio", finished=["*:2027-01-01:2027-01-30"]
    )
    assert resumed.calls == 12
    with pytest.raises(ValueError, match="mode"):
        plan(ids, start, end, durations=[7], mode="bulk")  # type: ignore[arg-type]


async def test_portfolio_harvest_costs_one_call_per_window_and_matches_the_truth(
    sb: Sandbox, tmp_path: Path
) -> None:
    async with client_for(sb) as client:
        job = make(client, sb)  # 90 days: 3 windows
        assert job.mode == "portfolio"
        the_plan = await job.plan()
        assert sb.statistics().requests_total == 0  # the plan sent nothing
        index = SQLitePriceIndex(tmp_path / "prices.sqlite")
        result = await job.run(index)
        stays = await index.stays()
        await index.aclose()
    assert the_plan.calls == result.plan.calls == 3
    assert len(sb.statistics().requests_to(PORTFOLIO_ROUTE)) == 3
    assert fetched_chunks(sb) == Counter()  # no per-type call
    assert result.calls == result.plan.calls + 1  # + the token call: within windows + 3
    want = truth(sb, job.arrival_from, job.arrival_to, DURATIONS)
    assert {(r, a, d): p for r, a, d, p in stays} == pytest.approx(want)
    assert result.records == len(want) == len(stays)


async def test_portfolio_mode_refuses_a_subset_of_types(sb: Sandbox) -> None:
    async with client_for(sb) as client:
        with pytest.raises(ValueError, match="portfolio"):
            make(client, sb, mode="portfolio", resource_ids=[1000])


async def test_a_harvest_on_the_next_day_fetches_again(sb: Sandbox, tmp_path: Path) -> None:
    now = [dt.datetime(2027, 1, 1, 23, 0, tzinfo=dt.UTC).timestamp()]
    out = str(tmp_path / "p.sqlite")
    async with client_for(sb) as client:
        first = await make(client, sb, clock=lambda: now[0]).run(out)
        same_day = await make(client, sb, clock=lambda: now[0] + 600).run(out)
        now[0] += 3600  # past midnight UTC
        sb.reset_stats()
        next_day = make(client, sb, clock=lambda: now[0])
        again = await next_day.run(out)
    assert first.plan.calls == 3
    assert same_day.plan.calls == 0
    assert "2027-01-02" in next_day.job
    assert again.plan.calls == 3 == availability_calls(sb)


async def test_failed_chunks_are_retried_at_the_end_and_the_run_goes_on(sb: Sandbox) -> None:
    async with client_for(sb) as client:
        job = make(client, sb, mode="per-type", resource_ids=[1000, 1001], concurrency=1)
        await job.plan()  # lists nothing (ids given) but the token is fetched by the next call
        await client.request("GET", "/maxxton/v2/accommodationtypes", params={"size": 1})
        sb.faults.update(fail_next=2, fail_status=400)  # not retried by the client
        result = await job.run()
    assert result.complete
    assert result.retried == 2
    assert result.chunks_done == result.plan.calls == 6
    assert availability_calls(sb) == 8  # 6 chunks + 2 retried


async def test_chunks_still_failing_are_reported_and_fetched_by_the_next_run(
    sb: Sandbox, tmp_path: Path
) -> None:
    out = str(tmp_path / "p.sqlite")
    async with client_for(sb) as client:
        await client.request("GET", "/maxxton/v2/accommodationtypes", params={"size": 1})
        sb.faults.update(fail_next=2, fail_status=400)
        first = await make(client, sb, retry_rounds=0, concurrency=1).run(out)
        second = await make(client, sb).run(out)
    assert len(first.failed) == 2
    assert first.chunks_done == 1
    assert second.plan.calls == 2
    assert {c.key for c in second.plan.chunks} == {c.key for c, _ in first.failed}
    assert second.complete


async def test_refused_credentials_stop_the_harvest_at_once(sb: Sandbox) -> None:
    from maxxton_async import AuthenticationError
    from maxxton_async.sandbox import SandboxClient

    async with client_for(sb) as client:
        await client.request("GET", "/maxxton/v2/accommodationtypes", params={"size": 1})
        # The API user's key is revoked: its token stops working, a new one is refused.
        sb.state.clients[sb.client_id] = SandboxClient("rotated-secret")
        sb.revoke_tokens()
        sb.reset_stats()
        job = make(client, sb, mode="per-type", resource_ids=range(1000, 1010), concurrency=1)
        with pytest.raises(AuthenticationError):
            await job.run()
    assert availability_calls(sb) == 1  # the first chunk's 401; nothing after it
