"""Bulk availability harvest: every accommodation type, every arrival window, into an index.

The guide's Reservation Flow (1, option 2): "Using the availability call you can fetch all
available stays and prices for all accommodation types. This endpoint is usually used to fill a
dedicated availability/price index at the third party side": ``POST
/maxxton/v2/accommodationtypes/availability``. Two modes:

* ``"portfolio"`` (the default): one ``POST`` per arrival window with no ``resourceId``
  answers every accommodation type of that window, so a full harvest costs one call per
  window (plus the token call), whatever the number of types;
* ``"per-type"`` (the fallback, for keys or servers that refuse the portfolio-wide call, or
  for a few chosen types): one ``GET`` per accommodation type and window with the reference's
  query parameters (``resourceId``, ``arrivalDateFrom``, ``arrivalDateTo``, ``duration``, ...).

Both answer a plain JSON array (docs/wire-contract.md). How wide an arrival window one call may
cover is not documented (arrival range search allows 30 days), so windows are at most 30 days
by default and the width is a parameter. With ``implies=True`` every chunk also fetches the
stays' mandatory costs (``POST /accommodationtypes/availability/implies``, guide, same
section), stored beside the prices.

The plan is pure (:func:`plan`): it lists the chunks and states how many calls they cost, in
the chosen mode and in the other one, before anything is sent; :func:`check_budget` refuses a
plan that a hard budget cannot pay for. Plans are resume-aware: the job key names the mode,
channel, arrival range, durations and the (UTC) day of the run, so a rerun on the same day
fetches only what is missing, and a run on the next day harvests afresh.

Running it::

    async with MaxxtonClient(...) as client:
        h = Harvest(client, arrival_from=date(2027, 1, 1), arrival_to=date(2027, 3, 31),
                    durations=[7, 14], channel_code="WEB")
        print((await h.plan()).describe())              # 3 calls (per-type: 3 per type)
        result = await h.run(SQLitePriceIndex("prices.sqlite"))
        # or: async for record in h.records(): ...

**A harvest finishes.** A chunk that still fails after the client's retries is recorded,
the run goes on, the failed chunks are tried again at the end (``retry_rounds``), and what is
still missing is in :attr:`HarvestResult.failed` (and fetched by the next run, since it is not
marked finished). Errors no retry can cure stop the run at once: refused credentials
(:class:`~maxxton_async.AuthenticationError`, 401/403), a hard budget
(:class:`~maxxton_async.BudgetExceededError`), a closed client, and bugs (anything that is not
a :class:`~maxxton_async.MaxxtonError`). ``fail_fast=True`` stops at the first failure.

Chunks are fetched by a fixed pool of worker tasks (twice the limiter's capacity by
default, so the limiter, not the pool, decides what is in flight) into a bounded queue:
when the consumer (a sink, or your ``async for``) is slower than the network, workers
block on the queue and stop fetching, so memory holds at most ``queue_size + workers + 1``
chunks of records whatever the harvest's size.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Final

from ._errors import (
    AuthenticationError,
    BudgetExceededError,
    ClientClosedError,
    ConfigurationError,
    MaxxtonError,
    PermissionDeniedError,
    UnauthorizedError,
)

# The plan (pure) lives in _harvest_plan; these names are part of this module's surface.
from ._harvest_plan import (
    AVAILABILITY_PATH,
    DEFAULT_WINDOW,
    MODES,
    HarvestChunk,
    HarvestMode,
    HarvestPlan,
    arrival_windows,
    check_budget,
    plan,
)
from ._harvest_sinks import (
    CallbackSink,
    HarvestSink,
    IndexedStay,
    IndexStats,
    NDJSONSink,
    PriceIndex,
    SQLitePriceIndex,
    TypeAge,
    is_price_index,
    open_sink,
)
from ._lookup import gather_or_cancel
from ._pg_index import PostgresPriceIndex
from .models import (
    AvailabilityRecord,
    AvailabilityRequest,
    StayImplies,
)

if TYPE_CHECKING:
    from ._client import MaxxtonClient

__all__ = [
    "AVAILABILITY_PATH",
    "DEFAULT_WINDOW",
    "MODES",
    "CallbackSink",
    "ChunkResult",
    "Harvest",
    "HarvestChunk",
    "HarvestMode",
    "HarvestPlan",
    "HarvestProgress",
    "HarvestResult",
    "HarvestSink",
    "HarvestStats",
    "IndexStats",
    "IndexedStay",
    "NDJSONSink",
    "PostgresPriceIndex",
    "PriceIndex",
    "SQLitePriceIndex",
    "TypeAge",
    "arrival_windows",
    "check_budget",
    "harvest",
    "is_fatal",
    "open_sink",
    "plan",
]

logger = logging.getLogger("maxxton_async.harvest")


# -- running --------------------------------------------------------------------------------

#: Errors no retry can cure: the run stops at once instead of recording a failed chunk.
#: Refused credentials (401/403; the client raises AuthenticationError for them), a hard
#: budget, a closed client, a configuration mistake.
_FATAL: Final = (
    AuthenticationError,
    UnauthorizedError,
    PermissionDeniedError,
    BudgetExceededError,
    ClientClosedError,
    ConfigurationError,
)


def is_fatal(error: BaseException) -> bool:
    """Whether ``error`` must stop a harvest rather than be recorded as a failed chunk.

    Fatal: refused credentials, a hard budget, a closed client, a configuration error, and
    anything that is not a :class:`~maxxton_async.MaxxtonError` (a bug, a cancellation).
    """
    return isinstance(error, _FATAL) or not isinstance(error, MaxxtonError)


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """One fetched chunk: its records (and mandatory costs), or the error that stopped it.

    Attributes:
        chunk: the chunk.
        records: its availability records.
        error: the error, when the chunk failed.
        costs: the stays' mandatory costs (``None`` when implies were not asked for).
        fetched_at: when the fetch started (seconds since the epoch, from the harvest's
            clock): the data is at least this fresh.
    """

    chunk: HarvestChunk
    records: list[AvailabilityRecord]
    error: BaseException | None = None
    costs: list[StayImplies] | None = None
    fetched_at: float = 0.0


@dataclass(frozen=True, slots=True)
class HarvestProgress:
    """What the progress callback receives after each chunk.

    Attributes:
        chunks_done: chunks finished in this run (failed ones not included).
        chunks_total: chunks this run has to fetch.
        chunks_skipped: chunks finished by an earlier run.
        chunks_failed: chunks whose call failed and that are not (yet) retried successfully.
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
        failed: ``(chunk, error message)`` of chunks still missing after the retry rounds;
            they are not marked finished, so the next run fetches them.
        retried: chunks that failed first and were fetched by a retry round.
        stats: memory bounds observed.
        costs: mandatory-cost items (stays) written in this run.
    """

    plan: HarvestPlan
    chunks_done: int
    records: int
    calls: int
    elapsed: float
    failed: tuple[tuple[HarvestChunk, str], ...] = ()
    stats: HarvestStats = field(default_factory=HarvestStats)
    retried: int = 0
    costs: int = 0

    @property
    def complete(self) -> bool:
        """Whether every chunk of the plan is now finished."""
        return not self.failed

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
        resource_ids: accommodation types to cover (per-type mode); ``None`` means every
            type (per-type mode lists them first, ``GET /accommodationtypes``, paged).
        mode: ``"portfolio"`` (one ``POST`` per window for every type) or ``"per-type"``
            (one ``GET`` per type and window); default portfolio, or per-type when
            ``resource_ids`` are given (the portfolio call cannot name types).
        implies: also fetch the stays' mandatory costs (one more call per chunk).
        window: the widest arrival window of one call, in days.
        include_all_prices: ask for every price (offers included), not just the cheapest.
        params: extra parameters for every availability call (``offerCode``, ...), named as
            on the wire (query parameters in per-type mode, body fields in portfolio mode).
        concurrency: fetching tasks; default twice the limiter's capacity.
        queue_size: fetched chunks that may wait for the consumer; default ``concurrency``.
        fail_fast: stop at the first chunk that fails; default ``False``: failures are
            recorded, retried at the end, and reported (see the module docstring).
        retry_rounds: how many times failed chunks are tried again at the end of a run.
        on_progress: called with a :class:`HarvestProgress` after each chunk.
        job: the checkpoint name of this harvest; default derived from the mode, channel,
            arrival range, durations, parameters and the UTC day of the run, so a rerun of
            the same harvest on the same day resumes it and one on the next day starts
            afresh.
        clock: seconds since the epoch (default :func:`time.time`; tests inject one).
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
        mode: HarvestMode | None = None,
        implies: bool = False,
        window: int = DEFAULT_WINDOW,
        include_all_prices: bool = True,
        params: Mapping[str, str] | None = None,
        concurrency: int | None = None,
        queue_size: int | None = None,
        fail_fast: bool = False,
        retry_rounds: int = 1,
        on_progress: ProgressCallback | None = None,
        job: str | None = None,
        clock: Callable[[], float] = time.time,
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
        #: The types the caller chose (``None``: every type, even ones created later; per-type
        #: mode fills :attr:`resource_ids` by listing them).
        self.selected_ids = self.resource_ids
        if mode is None:
            mode = "portfolio" if self.resource_ids is None else "per-type"
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if mode == "portfolio" and self.resource_ids is not None:
            raise ValueError(
                "the portfolio-wide call answers every accommodation type: drop resource_ids "
                "or use mode='per-type'"
            )
        self.mode: HarvestMode = mode
        self.implies = implies
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
        if retry_rounds < 0:
            raise ValueError(f"retry_rounds must not be negative, got {retry_rounds}")
        self.fail_fast = fail_fast
        self.retry_rounds = retry_rounds
        self.on_progress = on_progress
        self.clock = clock
        self.job = job if job is not None else self._job_name()
        self._stats = HarvestStats(queue_size=self.queue_size)
        self._held_chunks = 0
        self._held_records = 0

    def statistics(self) -> HarvestStats:
        """Counters so far: a live object, updated as the work goes on."""
        return self._stats

    def __repr__(self) -> str:
        return (
            f"<Harvest {self.mode} {self.arrival_from.isoformat()}..{self.arrival_to.isoformat()} "
            f"durations={list(self.durations)} job={self.job!r}>"
        )

    def _job_name(self) -> str:
        channel = self.channel_code or (f"id{self.channel_id}" if self.channel_id else "-")
        extra = [
            *sorted(self.params.items()),
            ("all", str(self.include_all_prices)),
            ("implies", str(self.implies)),
            ("window", str(self.window)),
        ]
        digest = hashlib.sha1(repr(extra).encode()).hexdigest()[:8]
        durs = "-".join(str(d) for d in self.durations)
        span = f"{self.arrival_from.isoformat()}..{self.arrival_to.isoformat()}"
        # The day of the run: prices move, so a harvest on the next day is a new one.
        day = datetime.fromtimestamp(self.clock(), UTC).date().isoformat()
        return f"availability:{self.mode}:{channel}:{span}:{durs}:{digest}@{day}"

    async def list_resource_ids(self) -> list[int]:
        """Every accommodation type's ``resourceId`` (``GET /accommodationtypes``, paged)."""
        ids: list[int] = []
        async with self.client.accommodation_types.iterate(
            sort="resourceId,asc", page_size=500
        ) as pages:
            async for at in pages:
                ids.append(at.resource_id)
        return ids

    async def plan(self, finished: Iterable[str] = ()) -> HarvestPlan:
        """The plan. In per-type mode the accommodation types are listed first when none
        were given; the portfolio mode needs no listing."""
        ids = self.resource_ids
        if ids is None and self.mode == "per-type":
            ids = tuple(await self.list_resource_ids())
            self.resource_ids = ids
        return plan(
            ids,
            self.arrival_from,
            self.arrival_to,
            durations=self.durations,
            window=self.window,
            finished=finished,
            mode=self.mode,
            implies=self.implies,
        )

    def chunks_for(self, resource_ids: Iterable[int] | None) -> list[HarvestChunk]:
        """The chunks covering the whole range for ``resource_ids`` (per type), or for every
        type (``None``: one portfolio chunk per window). Used by the index sync."""
        windows = arrival_windows(self.arrival_from, self.arrival_to, self.window)
        targets: list[int | None] = [None]
        if resource_ids is not None:
            targets = [*sorted(set(resource_ids))]
        return [HarvestChunk(rid, a, b, self.durations) for rid in targets for a, b in windows]

    async def check_budget(self, the_plan: HarvestPlan) -> None:
        """Refuse ``the_plan`` if the client's hard budget cannot pay for it."""
        snapshot = await self.client.usage.snapshot()
        margin = 0 if self.client.tokens.current() is not None else 1
        check_budget(the_plan, snapshot, self.client.usage.budget, margin=margin)

    def request(self, chunk: HarvestChunk) -> AvailabilityRequest:
        """The availability query of ``chunk`` (reference names)."""
        return AvailabilityRequest(
            arrival_date_from=chunk.arrival_from,
            arrival_date_to=chunk.arrival_to,
            resource_id=chunk.resource_id,
            duration=list(chunk.durations),
            distribution_channel_code=self.channel_code,
            distribution_channel_id=self.channel_id,
            include_all_prices=True if self.include_all_prices else None,
        )

    async def fetch(self, chunk: HarvestChunk) -> list[AvailabilityRecord]:
        """One availability call through ``client.availability``: ``POST`` for a portfolio
        chunk (guide, Reservation Flow option 2), ``GET`` with query parameters for one
        type (guide, Event Flow, AVAILABILITY_EVENT). 204 or empty means none."""
        return await self.client.availability.query(
            self.request(chunk),
            method="POST" if chunk.portfolio else "GET",
            extra=dict(self.params) or None,
        )

    async def fetch_implies(self, chunk: HarvestChunk) -> list[StayImplies]:
        """The mandatory costs of ``chunk``'s stays, through ``client.availability.implies``
        (the availability body; read-only, so resent on failure)."""
        return await self.client.availability.implies(
            self.request(chunk), extra=dict(self.params) or None
        )

    async def fetch_chunk(self, chunk: HarvestChunk) -> ChunkResult:
        """Availability (and implies, when asked for) of one chunk; errors are returned in
        the result, not raised."""
        fetched_at = self.clock()
        try:
            if self.implies:
                both: list[Any] = await gather_or_cancel(
                    [self.fetch(chunk), self.fetch_implies(chunk)]
                )
                return ChunkResult(chunk, both[0], costs=both[1], fetched_at=fetched_at)
            return ChunkResult(chunk, await self.fetch(chunk), fetched_at=fetched_at)
        except Exception as exc:
            return ChunkResult(chunk, [], exc, fetched_at=fetched_at)

    async def results(
        self, the_plan: HarvestPlan | Sequence[HarvestChunk]
    ) -> AsyncGenerator[ChunkResult, None]:
        """Fetch the chunks (of a plan, or given) concurrently; yield each as it arrives.

        Records of a chunk count as held until the consumer asks for the next result, so
        :attr:`stats` measures what the consumer really keeps in memory. Leaving the loop
        early cancels the fetches still running.
        """
        todo = the_plan.chunks if isinstance(the_plan, HarvestPlan) else tuple(the_plan)
        chunks = iter(todo)
        n_workers = min(self.concurrency, len(todo))
        if n_workers == 0:
            return
        queue: asyncio.Queue[ChunkResult | _Done] = asyncio.Queue(maxsize=self.queue_size)
        stats = self._stats
        stats.workers = n_workers

        async def worker() -> None:
            # One shared iterator: each chunk goes to exactly one worker.
            for chunk in chunks:
                result = await self.fetch_chunk(chunk)
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
        :meth:`run` with a sink to resume after a crash). Raises the first chunk error."""
        the_plan = await self.plan()
        await self.check_budget(the_plan)
        async with aclosing(self.results(the_plan)) as results:
            async for result in results:
                if result.error is not None:
                    raise result.error
                for record in result.records:
                    yield record

    async def run(self, sink: HarvestSink | str | os.PathLike[str] | None = None) -> HarvestResult:
        """Run the harvest into ``sink`` (a :class:`HarvestSink`, an output path or a
        ``postgresql://`` URL; default a :class:`CallbackSink` that drops records), skipping
        chunks it already finished, retrying failed chunks at the end.

        Raises:
            BudgetExceededError: the plan needs more calls than the hard budget leaves
                (nothing was fetched).
            AuthenticationError: the credentials were refused (the run stops at once).
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
            await sink.open(self.job)
            the_plan = await self.plan(await sink.finished(self.job))
            await self.check_budget(the_plan)
            done = records = costs = retried = 0
            failed: dict[HarvestChunk, str] = {}
            todo: Sequence[HarvestChunk] = the_plan.chunks
            for round_ in range(self.retry_rounds + 1):
                if round_:
                    if not failed:
                        break
                    todo = list(failed)
                    logger.info("retrying %d failed chunks (round %d)", len(todo), round_)
                async with aclosing(self.results(todo)) as results:
                    async for result in results:
                        error = result.error
                        if error is not None:
                            if self.fail_fast or is_fatal(error):
                                raise error
                            failed[result.chunk] = f"{type(error).__name__}: {error}"
                            logger.warning("chunk %s failed: %s", result.chunk.key, error)
                        else:
                            await self._write(sink, result)
                            if failed.pop(result.chunk, None) is not None:
                                retried += 1
                            done += 1
                            records += len(result.records)
                            costs += len(result.costs or ())
                        self._report(the_plan, done, len(failed), records, sent0, started)
            return HarvestResult(
                plan=the_plan,
                chunks_done=done,
                records=records,
                calls=self.client.statistics().requests_sent - sent0,
                elapsed=time.monotonic() - started,
                failed=tuple(failed.items()),
                stats=self._stats,
                retried=retried,
                costs=costs,
            )
        finally:
            if owned:
                await sink.aclose()

    async def _write(self, sink: HarvestSink, result: ChunkResult) -> None:
        if is_price_index(sink):
            await sink.write(
                result.chunk, result.records, costs=result.costs, fetched_at=result.fetched_at
            )
        elif result.costs is None:
            await sink.write(result.chunk, result.records)
        else:
            # Only sinks that take costs are handed them (a user's sink may not).
            write: Any = sink.write
            await write(result.chunk, result.records, costs=result.costs)

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
        left = max(len(the_plan.chunks) - finished, 0)
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
    mode: HarvestMode | None = None,
    implies: bool = False,
    window: int = DEFAULT_WINDOW,
    on_progress: ProgressCallback | None = None,
) -> HarvestResult:
    """One call: harvest availability into ``out`` (a sink, a ``.sqlite``/``.ndjson`` path
    or a ``postgresql://`` URL), resuming what an earlier run of the same harvest finished
    today.

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
        mode=mode,
        implies=implies,
        window=window,
        on_progress=on_progress,
    )
    return await job.run(out)
