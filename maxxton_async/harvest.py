"""Bulk availability harvest: every accommodation type, every arrival window, into an index.

The guide's Reservation Flow, option 2: "fetch all possible availabilities and prices and
populate your own availability and price index to search offline", through
``/maxxton/v2/accommodationtypes/availability``. The reference documents it as a ``GET``
with query parameters (``resourceId``, ``arrivalDateFrom``, ``arrivalDateTo``,
``duration``, ``distributionChannelCode``, ...) answering a plain JSON array
(maxxton-api-notes.md §3; docs/wire-contract.md).

A harvest is split into chunks, one per accommodation type and arrival window, each one
availability call. How wide a window one call may cover is not documented (arrival range
search allows 30 days), so windows are at most 30 days by default and the width is a
parameter (DESIGN.md). The plan is pure (:func:`plan`): it lists the chunks and states how
many calls they cost before anything is sent, and :func:`check_budget` refuses a plan that a
hard budget cannot pay for.

Running it::

    async with MaxxtonClient(...) as client:
        h = Harvest(client, arrival_from=date(2027, 1, 1), arrival_to=date(2027, 3, 31),
                    durations=[7, 14], channel_code="WEB")
        result = await h.run(SQLitePriceIndex("prices.sqlite"))   # resumable
        # or: async for record in h.records(): ...

Chunks are fetched by a fixed pool of worker tasks (twice the limiter's capacity by
default, so the limiter, not the pool, decides what is in flight) into a bounded queue:
when the consumer (a sink, or your ``async for``) is slower than the network, workers
block on the queue and stop fetching, so memory holds at most ``queue_size + workers + 1``
chunks of records whatever the harvest's size.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from ._errors import BudgetExceededError
from ._harvest_sinks import (
    CallbackSink,
    HarvestSink,
    IndexStats,
    NDJSONSink,
    SQLitePriceIndex,
    open_sink,
)
from .models import AccommodationType, AvailabilityRecord, AvailabilityRequest

if TYPE_CHECKING:
    from ._client import MaxxtonClient
    from ._usage import Budget, UsageSnapshot

__all__ = [
    "ACCOMMODATION_TYPES_PATH",
    "AVAILABILITY_PATH",
    "DEFAULT_WINDOW",
    "CallbackSink",
    "ChunkResult",
    "Harvest",
    "HarvestChunk",
    "HarvestPlan",
    "HarvestProgress",
    "HarvestResult",
    "HarvestSink",
    "HarvestStats",
    "IndexStats",
    "NDJSONSink",
    "SQLitePriceIndex",
    "arrival_windows",
    "check_budget",
    "harvest",
    "open_sink",
    "plan",
]

#: Guide, Reservation Flow option 2; reference "Get accommodationtype availability".
AVAILABILITY_PATH: Final = "/maxxton/v2/accommodationtypes/availability"
#: The accommodation types list (guide, Reservation Flow §2), paged.
ACCOMMODATION_TYPES_PATH: Final = "/maxxton/v2/accommodationtypes"
#: Days one availability call covers by default (DESIGN.md: undocumented; arrival range
#: search allows at most 30).
DEFAULT_WINDOW: Final = 30


# -- planning (pure) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class HarvestChunk:
    """One availability call: one accommodation type over one arrival window.

    Attributes:
        resource_id: the accommodation type.
        arrival_from: first arrival date (inclusive).
        arrival_to: last arrival date (inclusive, as ``arrivalDateTo`` is).
        durations: the stay lengths asked for, in nights (one call carries them all).
    """

    resource_id: int
    arrival_from: date
    arrival_to: date
    durations: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        """A stable name for checkpoints: ``"<resourceId>:<from>:<to>"``."""
        return f"{self.resource_id}:{self.arrival_from.isoformat()}:{self.arrival_to.isoformat()}"

    @property
    def days(self) -> int:
        """Arrival dates covered."""
        return (self.arrival_to - self.arrival_from).days + 1


@dataclass(frozen=True, slots=True)
class HarvestPlan:
    """What a harvest will do, stated before it starts.

    Attributes:
        chunks: the chunks to fetch, in order (accommodation type, then arrival).
        skipped: chunks already finished by an earlier run (resume), not fetched again.
        resource_ids: the accommodation types covered.
        arrival_from, arrival_to: the arrival range (inclusive).
        durations: the stay lengths.
        window: the widest arrival window of one call, in days.
    """

    chunks: tuple[HarvestChunk, ...]
    skipped: tuple[HarvestChunk, ...]
    resource_ids: tuple[int, ...]
    arrival_from: date
    arrival_to: date
    durations: tuple[int, ...]
    window: int

    @property
    def calls(self) -> int:
        """Availability calls this plan spends: one per chunk to fetch. Retries and token
        calls come on top (the usage ledger counts them when they happen)."""
        return len(self.chunks)

    @property
    def total(self) -> int:
        """All chunks of the harvest, finished ones included."""
        return len(self.chunks) + len(self.skipped)

    def describe(self) -> str:
        """One line for a log or a CLI: what, how many chunks and calls."""
        return (
            f"{len(self.resource_ids)} accommodation types x "
            f"{self.arrival_from.isoformat()}..{self.arrival_to.isoformat()} "
            f"(windows of <= {self.window} days, durations {list(self.durations)}): "
            f"{self.total} chunks, {len(self.skipped)} already done, {self.calls} calls to make"
        )


def arrival_windows(arrival_from: date, arrival_to: date, window: int) -> list[tuple[date, date]]:
    """Split the inclusive range into consecutive windows of at most ``window`` days."""
    if window < 1:
        raise ValueError(f"window must be at least 1 day, got {window}")
    if arrival_to < arrival_from:
        raise ValueError(
            f"arrival range is empty: {arrival_from.isoformat()} is after {arrival_to.isoformat()}"
        )
    out = []
    start = arrival_from
    step = timedelta(days=window)
    while start <= arrival_to:
        end = min(start + step - timedelta(days=1), arrival_to)
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def plan(
    resource_ids: Iterable[int],
    arrival_from: date,
    arrival_to: date,
    *,
    durations: Iterable[int],
    window: int = DEFAULT_WINDOW,
    finished: Iterable[str] = (),
) -> HarvestPlan:
    """List the chunks of a harvest and what it will cost (pure, no I/O).

    Args:
        resource_ids: accommodation types (duplicates are dropped; sorted).
        arrival_from, arrival_to: the arrival range, both inclusive.
        durations: stay lengths in nights (at least one).
        window: the widest arrival window of one call, in days.
        finished: keys (:attr:`HarvestChunk.key`) of chunks an earlier run finished.
    """
    ids = tuple(sorted(set(resource_ids)))
    durs = tuple(sorted(set(durations)))
    if not durs:
        raise ValueError("at least one duration is needed")
    if any(d < 1 for d in durs):
        raise ValueError(f"durations must be at least 1 night, got {list(durs)}")
    windows = arrival_windows(arrival_from, arrival_to, window)
    done = set(finished)
    todo: list[HarvestChunk] = []
    skipped: list[HarvestChunk] = []
    for rid in ids:
        for start, end in windows:
            chunk = HarvestChunk(rid, start, end, durs)
            (skipped if chunk.key in done else todo).append(chunk)
    return HarvestPlan(
        chunks=tuple(todo),
        skipped=tuple(skipped),
        resource_ids=ids,
        arrival_from=arrival_from,
        arrival_to=arrival_to,
        durations=durs,
        window=window,
    )


def check_budget(
    plan: HarvestPlan, snapshot: UsageSnapshot, budget: Budget, *, margin: int = 1
) -> None:
    """Refuse a plan that the hard budget cannot pay for (pure).

    ``margin`` extra calls are reserved for token calls. Does nothing when the budget is
    not hard or does not bill this environment (acceptance is free, guide "API Pricing").

    Raises:
        BudgetExceededError: ``plan.calls + margin`` is more than the day or month leaves.
    """
    if not (snapshot.billed and budget.hard):
        return
    need = plan.calls + margin
    for name, left, used, limit in (
        ("daily", snapshot.free_left_today, snapshot.today, budget.daily),
        ("monthly", snapshot.free_left_month, snapshot.month, budget.monthly),
    ):
        if need > left:
            raise BudgetExceededError(
                f"harvest refused before starting: it needs {plan.calls} calls "
                f"(+{margin} for tokens) but the hard {name} budget leaves {left} "
                f"({used} of {limit} used); narrow the range, the types or the durations, "
                "or raise the budget",
                limit_name=name,
                used=used,
                limit=limit,
                method="GET",
                path=AVAILABILITY_PATH,
            )


# -- running --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """One fetched chunk: its records, or the error that stopped it."""

    chunk: HarvestChunk
    records: list[AvailabilityRecord]
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class HarvestProgress:
    """What the progress callback receives after each chunk.

    Attributes:
        chunks_done: chunks finished in this run (failed ones not included).
        chunks_total: chunks this run has to fetch.
        chunks_skipped: chunks finished by an earlier run.
        chunks_failed: chunks whose call failed (only with ``fail_fast=False``).
        records: records received so far.
        calls: HTTP attempts this client sent since the run started (listing, token calls
            and retries included).
        elapsed: seconds since the run started.
        eta: estimated seconds left, at the rate so far (``None`` before the first chunk).
    """

    chunks_done: int
    chunks_total: int
    chunks_skipped: int
    chunks_failed: int
    records: int
    calls: int
    elapsed: float
    eta: float | None


@dataclass(slots=True)
class HarvestStats:
    """Memory bounds observed while running (what backpressure achieved).

    Attributes:
        queue_size: the queue's bound.
        workers: fetching tasks.
        peak_queued: the most chunk results waiting in the queue at once.
        peak_held_chunks: the most fetched chunks not yet finished by the consumer at once.
        peak_held_records: the most records held at once.
    """

    queue_size: int = 0
    workers: int = 0
    peak_queued: int = 0
    peak_held_chunks: int = 0
    peak_held_records: int = 0


@dataclass(frozen=True, slots=True)
class HarvestResult:
    """What :meth:`Harvest.run` returns.

    Attributes:
        plan: the plan that ran.
        chunks_done: chunks written in this run.
        records: records written in this run.
        calls: HTTP attempts sent during the run (see :class:`HarvestProgress`).
        elapsed: seconds.
        failed: ``(chunk, error message)`` of chunks that failed (``fail_fast=False``).
        stats: memory bounds observed.
    """

    plan: HarvestPlan
    chunks_done: int
    records: int
    calls: int
    elapsed: float
    failed: tuple[tuple[HarvestChunk, str], ...] = ()
    stats: HarvestStats = field(default_factory=HarvestStats)

    @property
    def records_per_second(self) -> float:
        """Records written per second of the run."""
        return self.records / self.elapsed if self.elapsed > 0 else 0.0


ProgressCallback = Callable[[HarvestProgress], object]


class _Done:
    """Queue sentinel: one worker has no more chunks."""


_DONE: Final = _Done()


class Harvest:
    """A bulk availability harvest through one client.

    Args:
        client: the :class:`~maxxton_async.MaxxtonClient` (its limiter caps what is in flight).
        arrival_from, arrival_to: arrival range, both inclusive.
        durations: stay lengths in nights; one call asks for all of them.
        channel_code: ``distributionChannelCode`` (reference query parameter).
        channel_id: ``distributionChannelId`` instead (wire contract).
        resource_ids: accommodation types to cover; ``None`` lists every type first
            (``GET /accommodationtypes``, paged).
        window: the widest arrival window of one call, in days.
        include_all_prices: ask for every price (offers included), not just the cheapest.
        params: extra query parameters for every availability call (``offerCode``, ...).
        concurrency: fetching tasks; default twice the limiter's capacity.
        queue_size: fetched chunks that may wait for the consumer; default ``concurrency``.
        fail_fast: stop at the first chunk that fails (finished chunks stay finished);
            with ``False`` failures are collected and the rest carries on.
        on_progress: called with a :class:`HarvestProgress` after each chunk.
        job: the checkpoint name of this harvest; default derived from the channel,
            durations and parameters, so a rerun of the same harvest resumes it.
    """

    def __init__(
        self,
        client: MaxxtonClient,
        *,
        arrival_from: date,
        arrival_to: date,
        durations: Iterable[int],
        channel_code: str | None = None,
        channel_id: int | None = None,
        resource_ids: Iterable[int] | None = None,
        window: int = DEFAULT_WINDOW,
        include_all_prices: bool = True,
        params: Mapping[str, str] | None = None,
        concurrency: int | None = None,
        queue_size: int | None = None,
        fail_fast: bool = True,
        on_progress: ProgressCallback | None = None,
        job: str | None = None,
    ) -> None:
        self.client = client
        self.arrival_from = arrival_from
        self.arrival_to = arrival_to
        self.durations = tuple(sorted(set(durations)))
        if not self.durations:
            raise ValueError("at least one duration is needed")
        # Validates the range and window now, not after listing the types.
        arrival_windows(arrival_from, arrival_to, window)
        self.channel_code = channel_code
        self.channel_id = channel_id
        self.resource_ids = None if resource_ids is None else tuple(sorted(set(resource_ids)))
        self.window = window
        self.include_all_prices = include_all_prices
        self.params = dict(params or {})
        capacity = client.limiter.capacity
        self.concurrency = concurrency if concurrency is not None else 2 * capacity
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        self.queue_size = queue_size if queue_size is not None else self.concurrency
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {self.queue_size}")
        self.fail_fast = fail_fast
        self.on_progress = on_progress
        self.job = job if job is not None else self._job_name()
        self.stats = HarvestStats(queue_size=self.queue_size)
        self._held_chunks = 0
        self._held_records = 0

    def __repr__(self) -> str:
        return (
            f"<Harvest {self.arrival_from.isoformat()}..{self.arrival_to.isoformat()} "
            f"durations={list(self.durations)} job={self.job!r}>"
        )

    def _job_name(self) -> str:
        channel = self.channel_code or (f"id{self.channel_id}" if self.channel_id else "-")
        extra = [*sorted(self.params.items()), ("all", str(self.include_all_prices))]
        digest = hashlib.sha1(repr(extra).encode()).hexdigest()[:8]
        durs = "-".join(str(d) for d in self.durations)
        return f"availability:{channel}:{durs}:{digest}"

    async def list_resource_ids(self) -> list[int]:
        """Every accommodation type's ``resourceId`` (``GET /accommodationtypes``, paged)."""
        ids: list[int] = []
        async with self.client.paginate(
            ACCOMMODATION_TYPES_PATH,
            item_type=AccommodationType,
            sort="resourceId,asc",
            page_size=500,
        ) as pages:
            async for at in pages:
                ids.append(at.resource_id)
        return ids

    async def plan(self, finished: Iterable[str] = ()) -> HarvestPlan:
        """The plan: lists the accommodation types first when none were given."""
        ids = self.resource_ids
        if ids is None:
            ids = tuple(await self.list_resource_ids())
            self.resource_ids = ids
        return plan(
            ids,
            self.arrival_from,
            self.arrival_to,
            durations=self.durations,
            window=self.window,
            finished=finished,
        )

    async def check_budget(self, the_plan: HarvestPlan) -> None:
        """Refuse ``the_plan`` if the client's hard budget cannot pay for it."""
        snapshot = await self.client.usage.snapshot()
        margin = 0 if self.client.tokens.current() is not None else 1
        check_budget(the_plan, snapshot, self.client.usage.budget, margin=margin)

    def request_params(self, chunk: HarvestChunk) -> dict[str, str]:
        """The query parameters of ``chunk``'s availability call (reference names)."""
        query = AvailabilityRequest(
            arrival_date_from=chunk.arrival_from,
            arrival_date_to=chunk.arrival_to,
            resource_id=chunk.resource_id,
            duration=list(chunk.durations),
            distribution_channel_code=self.channel_code,
            distribution_channel_id=self.channel_id,
            include_all_prices=True if self.include_all_prices else None,
        )
        params = query.to_params()
        params.update(self.params)
        return params

    async def fetch(self, chunk: HarvestChunk) -> list[AvailabilityRecord]:
        """One availability call (a plain JSON array; 204 or empty means none)."""
        records = await self.client.request(
            "GET",
            AVAILABILITY_PATH,
            params=self.request_params(chunk),
            type=list[AvailabilityRecord],
        )
        return records or []

    async def results(self, the_plan: HarvestPlan) -> AsyncGenerator[ChunkResult, None]:
        """Fetch ``the_plan``'s chunks concurrently; yield each as it arrives.

        Records of a chunk count as held until the consumer asks for the next result, so
        :attr:`stats` measures what the consumer really keeps in memory. Leaving the loop
        early cancels the fetches still running.
        """
        chunks = iter(the_plan.chunks)
        n_workers = min(self.concurrency, len(the_plan.chunks))
        if n_workers == 0:
            return
        queue: asyncio.Queue[ChunkResult | _Done] = asyncio.Queue(maxsize=self.queue_size)
        stats = self.stats
        stats.workers = n_workers

        async def worker() -> None:
            # One shared iterator: each chunk goes to exactly one worker.
            for chunk in chunks:
                try:
                    result = ChunkResult(chunk, await self.fetch(chunk))
                except Exception as exc:
                    result = ChunkResult(chunk, [], exc)
                self._held_chunks += 1
                self._held_records += len(result.records)
                stats.peak_held_chunks = max(stats.peak_held_chunks, self._held_chunks)
                stats.peak_held_records = max(stats.peak_held_records, self._held_records)
                await queue.put(result)  # blocks while the consumer lags: backpressure
                stats.peak_queued = max(stats.peak_queued, queue.qsize())
            await queue.put(_DONE)

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(worker(), name=f"maxxton-harvest-{i}") for i in range(n_workers)]
        finished_workers = 0
        try:
            while finished_workers < n_workers:
                item = await queue.get()
                if isinstance(item, _Done):
                    finished_workers += 1
                    continue
                try:
                    yield item
                finally:
                    self._held_chunks -= 1
                    self._held_records -= len(item.records)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def records(self) -> AsyncIterator[AvailabilityRecord]:
        """Every record of the harvest as an async iterator (not checkpointed; use
        :meth:`run` with a sink to resume after a crash)."""
        the_plan = await self.plan()
        await self.check_budget(the_plan)
        async with aclosing(self.results(the_plan)) as results:
            async for result in results:
                if result.error is not None:
                    raise result.error
                for record in result.records:
                    yield record

    async def run(self, sink: HarvestSink | str | os.PathLike[str] | None = None) -> HarvestResult:
        """Run the harvest into ``sink`` (a :class:`HarvestSink` or an output path; default
        a :class:`CallbackSink` that drops records), skipping chunks it already finished.

        Raises:
            BudgetExceededError: the plan needs more calls than the hard budget leaves
                (nothing was fetched).
            MaxxtonError: a chunk failed and ``fail_fast`` is on; finished chunks stay
                recorded, so a rerun fetches only the rest.
        """
        owned = False
        if sink is None:
            sink, owned = CallbackSink(lambda chunk, records: None), True
        elif isinstance(sink, str | os.PathLike):
            sink, owned = open_sink(sink), True
        started = time.monotonic()
        sent0 = self.client.statistics().requests_sent
        try:
            finished = await sink.open(self.job)
            the_plan = await self.plan(finished)
            await self.check_budget(the_plan)
            done = records = 0
            failed: list[tuple[HarvestChunk, str]] = []
            async with aclosing(self.results(the_plan)) as results:
                async for result in results:
                    error = result.error
                    if error is not None:
                        if self.fail_fast:
                            raise error
                        failed.append((result.chunk, f"{type(error).__name__}: {error}"))
                    else:
                        await sink.write(result.chunk, result.records)
                        done += 1
                        records += len(result.records)
                    self._report(the_plan, done, len(failed), records, sent0, started)
            return HarvestResult(
                plan=the_plan,
                chunks_done=done,
                records=records,
                calls=self.client.statistics().requests_sent - sent0,
                elapsed=time.monotonic() - started,
                failed=tuple(failed),
                stats=self.stats,
            )
        finally:
            if owned:
                await sink.aclose()

    def _report(
        self,
        the_plan: HarvestPlan,
        done: int,
        failed: int,
        records: int,
        sent0: int,
        started: float,
    ) -> None:
        if self.on_progress is None:
            return
        elapsed = time.monotonic() - started
        finished = done + failed
        left = len(the_plan.chunks) - finished
        eta = elapsed / finished * left if finished else None
        self.on_progress(
            HarvestProgress(
                chunks_done=done,
                chunks_total=len(the_plan.chunks),
                chunks_skipped=len(the_plan.skipped),
                chunks_failed=failed,
                records=records,
                calls=self.client.statistics().requests_sent - sent0,
                elapsed=elapsed,
                eta=eta,
            )
        )


async def harvest(
    client: MaxxtonClient,
    out: HarvestSink | str | os.PathLike[str],
    *,
    arrival_from: date,
    arrival_to: date,
    durations: Sequence[int],
    channel_code: str | None = None,
    channel_id: int | None = None,
    resource_ids: Iterable[int] | None = None,
    window: int = DEFAULT_WINDOW,
    on_progress: ProgressCallback | None = None,
) -> HarvestResult:
    """One call: harvest availability into ``out`` (a sink or a ``.sqlite``/``.ndjson``
    path), resuming what an earlier run of the same harvest finished.

    See :class:`Harvest` for the parameters.
    """
    job = Harvest(
        client,
        arrival_from=arrival_from,
        arrival_to=arrival_to,
        durations=durations,
        channel_code=channel_code,
        channel_id=channel_id,
        resource_ids=resource_ids,
        window=window,
        on_progress=on_progress,
    )
    return await job.run(out)
