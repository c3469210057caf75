"""Index sync: keep a price index fresh from the events feed, after one full harvest.

The guide's Event Flow: "Changes in the availability of resources will generate an
AVAILABILITY_EVENT ... once the available is processed in the availability indexes", when a
type's prices or availability change, when an offer's prices or rentability change (one event
"for all the accommodation types for which this offer is applicable"), and "near real-time"
when the last unit of a type is booked; its entity id is the type's ``resourceId``, to
refresh with ``accommodationtypes/availability``. RATE_EVENT and RENTABILITY_EVENT of an
accommodation type name changes of its prices and rentability too, and IMPLY_EVENT changes
of its mandatory costs (same section). So instead of re-harvesting every night, an
:class:`IndexSync` follows the events after a checkpoint and re-fetches only what changed::

    harvest = Harvest(client, arrival_from=..., arrival_to=..., durations=[7])
    sync = IndexSync(harvest, SQLitePriceIndex("prices.sqlite"), "index-events.sqlite")
    await sync.run(interval=300)   # first pass: a full harvest; then events every 5 minutes

**One pass** reads every event after the checkpoint (page by page; only the changed type ids
are kept), then re-fetches those types over the whole indexed range and replaces their stays
chunk by chunk, each chunk atomically (``PriceIndex.replace``: stays that disappeared leave
the index). How it re-fetches is the cheaper of the two ways, per pass: one ``GET`` per
changed type and window (the guide's refresh call), or, as soon as two or more types changed,
one portfolio ``POST`` per window, which refreshes every type at once for the price of one
(``refresh="auto"``; force one with ``"per-type"`` or ``"portfolio"``).

**Checkpoint rules, as** :class:`~maxxton_async.EventSync`: the same
:class:`~maxxton_async.CheckpointStore` and cursor (the last ``eventId``); the checkpoint
moves only after every write of the pass succeeded, so a crash between fetch and write, or a
failed chunk, loses nothing: the next pass reads the same events and fetches again (at least
once; a replacement is idempotent). The first pass marks the end of the feed *before* the
full harvest, so no change made during the harvest is missed.

``max_age`` forces a full refresh when the last one is older, and a refresh of any type whose
oldest stay is older, whatever the events said: a safety net for events that never came.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from ._checkpoint import CheckpointStore
from ._errors import RateLimitError, ServerError, TransportError
from ._harvest_sinks import PriceIndex, is_price_index, open_sink
from .events import EventSync
from .harvest import Harvest, HarvestChunk, is_fatal
from .models import Event

if TYPE_CHECKING:
    from ._harvest_sinks import HarvestSink

__all__ = [
    "IMPLY_TRIGGERS",
    "INDEX_TRIGGERS",
    "IndexPass",
    "IndexSync",
    "IndexSyncStats",
    "RefreshMode",
]

logger = logging.getLogger("maxxton_async.index_sync")

#: Events that make the index re-fetch the type named by ``entityId`` (guide, Event Flow),
#: by event type; the value lists the ``entityType`` values that qualify (``None``: any).
#: Offer-level RATE/RENTABILITY/OFFER events are not listed: the availability index answers
#: them with an AVAILABILITY_EVENT per type the offer applies to (guide, AVAILABILITY_EVENT).
INDEX_TRIGGERS: Final[Mapping[str, frozenset[str] | None]] = {
    "AVAILABILITY_EVENT": None,
    "RATE_EVENT": frozenset({"ACCOMMODATIONTYPE"}),
    "RENTABILITY_EVENT": frozenset({"ACCOMMODATIONTYPE"}),
}
#: Added to the triggers when the harvest stores mandatory costs (guide, IMPLY_EVENT).
IMPLY_TRIGGERS: Final[Mapping[str, frozenset[str] | None]] = {
    "IMPLY_EVENT": frozenset({"ACCOMMODATIONTYPE"}),
}

#: How a pass re-fetches: the cheaper way (``"auto"``), or always one of them.
RefreshMode = Literal["auto", "portfolio", "per-type"]

_TRANSIENT = (TransportError, ServerError, RateLimitError)


@dataclass(frozen=True, slots=True)
class IndexPass:
    """What one :meth:`IndexSync.sync_once` did.

    Attributes:
        events: events read.
        position: the checkpoint after the pass (moved only when ``committed``).
        changed: accommodation types the events named.
        stale: types re-fetched because their data was older than ``max_age``.
        full: whether every type was refreshed (bootstrap, ``max_age``, or a portfolio
            refresh, which answers every type anyway).
        mode: how the pass re-fetched (``"portfolio"``, ``"per-type"``, ``None``: nothing).
        chunks: chunks written.
        stays: stays written.
        calls: HTTP attempts sent during the pass (event pages, refreshes, the bootstrap
            harvest, token calls and retries included).
        failed: ``(chunk, error)`` of chunks that failed; the checkpoint did not move.
        committed: whether the checkpoint moved past the events read.
        elapsed: seconds.
    """

    events: int
    position: int | None
    changed: tuple[int, ...]
    stale: tuple[int, ...]
    full: bool
    mode: str | None
    chunks: int
    stays: int
    calls: int
    failed: tuple[tuple[HarvestChunk, str], ...]
    committed: bool
    elapsed: float


@dataclass(slots=True)
class IndexSyncStats:
    """Cumulative counters of an :class:`IndexSync`.

    Attributes:
        passes: completed passes.
        events: events read.
        calls: HTTP attempts sent by passes.
        refreshes: passes that re-fetched something.
        full_refreshes: passes that refreshed every type.
        types_refreshed: per-type re-fetches (a portfolio refresh counts no type).
        failed_passes: passes that did not commit (a chunk failed, or a transient error).
        last_pass: the latest :class:`IndexPass`.
    """

    passes: int = 0
    events: int = 0
    calls: int = 0
    refreshes: int = 0
    full_refreshes: int = 0
    types_refreshed: int = 0
    failed_passes: int = 0
    last_pass: IndexPass | None = field(default=None)


class IndexSync:
    """Keeps a price index current from the events feed (see the module docstring).

    Args:
        harvest: what the index holds: its client, arrival range, durations, channel,
            window, mode and implies. Its full run is the first pass; a per-type harvest
            with ``resource_ids`` limits the sync to those types.
        index: the :class:`~maxxton_async.harvest.PriceIndex` (SQLite or PostgreSQL), or a
            path / ``postgresql://`` URL for one.
        checkpoint: a :class:`~maxxton_async.CheckpointStore`, a file path for the default
            SQLite store, or ``None`` for memory (tests).
        name: the cursor's name in the store; ``"<name>:full"`` holds the time of the last
            full refresh.
        refresh: ``"auto"`` (the cheaper way per pass), ``"per-type"`` or ``"portfolio"``;
            a per-type harvest always refreshes per type.
        max_age: seconds; a full refresh when the last one is older, and a refresh of every
            type whose oldest stay is older. ``None``: events only.
        batch_size: events per page.
        max_pages: event pages one pass reads at most (the rest waits for the next pass).
        triggers: which events name a type to re-fetch; default :data:`INDEX_TRIGGERS`
            (plus :data:`IMPLY_TRIGGERS` when the harvest fetches implies).
        clock: seconds since the epoch (default :func:`time.time`).
    """

    def __init__(
        self,
        harvest: Harvest,
        index: PriceIndex | str | os.PathLike[str],
        checkpoint: CheckpointStore | str | os.PathLike[str] | None = None,
        *,
        name: str = "index",
        refresh: RefreshMode = "auto",
        max_age: float | None = None,
        batch_size: int = 500,
        max_pages: int = 100,
        triggers: Mapping[str, frozenset[str] | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if refresh not in ("auto", "portfolio", "per-type"):
            raise ValueError(f"refresh must be 'auto', 'portfolio' or 'per-type', got {refresh!r}")
        if max_age is not None and max_age <= 0:
            raise ValueError(f"max_age must be positive, got {max_age}")
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self.harvest = harvest
        # A path or URL is opened here; anything else is the caller's index.
        sink: HarvestSink | PriceIndex
        if isinstance(index, str | os.PathLike):
            sink, self._owns_index = open_sink(index), True
        else:
            sink, self._owns_index = index, False
        if not is_price_index(sink):
            raise ValueError(
                f"an index sync needs a price index (SQLite or PostgreSQL), not {sink!r}"
            )
        self.index: PriceIndex = sink
        self.events = EventSync(
            harvest.client, checkpoint, name=name, batch_size=batch_size, refresh={}
        )
        self.name = name
        self.refresh: RefreshMode = refresh
        self.max_age = max_age
        self.max_pages = max_pages
        if triggers is None:
            triggers = {**INDEX_TRIGGERS, **(IMPLY_TRIGGERS if harvest.implies else {})}
        self.triggers = dict(triggers)
        self.clock = clock
        self._stats = IndexSyncStats()
        self._stop = asyncio.Event()

    def statistics(self) -> IndexSyncStats:
        """Counters so far: a live object, updated as the work goes on."""
        return self._stats

    def __repr__(self) -> str:
        return f"<IndexSync name={self.name!r} index={self.index!r} refresh={self.refresh!r}>"

    async def __aenter__(self) -> IndexSync:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the checkpoint store and the index if this sync opened them."""
        await self.events.aclose()
        if self._owns_index:
            await self.index.aclose()

    # -- the checkpoint ---------------------------------------------------------------------

    async def position(self) -> int | None:
        """The last event id the index reflects (``None`` before the first pass)."""
        return await self.events.position()

    async def last_full_refresh(self) -> int | None:
        """When every type was last refreshed (seconds since the epoch), if ever."""
        return await self.events.store.get(f"{self.name}:full")

    def wants(self, event: Event) -> bool:
        """Whether ``event`` names an accommodation type to re-fetch."""
        if event.event_type not in self.triggers:
            return False
        kinds = self.triggers[event.event_type]
        if kinds is not None and event.entity_type not in kinds:
            return False
        only = self.harvest.selected_ids
        return only is None or event.entity_id in only

    # -- one pass ---------------------------------------------------------------------------

    async def sync_once(self, *, full: bool = False) -> IndexPass:
        """One pass: bootstrap if needed, read the events, re-fetch, replace, commit.

        ``full=True`` refreshes every type in this pass, whatever the events and ``max_age``
        say (the first pass's full harvest counts).

        Raises:
            AuthenticationError: refused credentials (and other errors no retry cures).
        """
        started = time.monotonic()
        sent0 = self.harvest.client.statistics().requests_sent
        now = self.clock()
        store = self.events.store
        after = await self.events.position()
        if after is None:
            # Mark the end of the feed first: changes made during the harvest come as
            # events after this point and are applied by the next pass.
            after = await self.events.start_at_latest()
        force, full = full, False
        failed: list[tuple[HarvestChunk, str]] = []
        chunks = stays = 0
        if await self.last_full_refresh() is None:
            force = False  # this harvest is the full refresh
            result = await self.harvest.run(self.index)
            chunks, stays = result.chunks_done, result.records
            failed.extend(result.failed)
            full = not result.failed
            if full:
                await store.put(f"{self.name}:full", int(now))
        changed, last, n_events = await self._read_events(after)
        stale: list[int] = []
        mode: str | None = None
        if not failed:
            targets, stale, full_due = await self._targets(changed, now)
            full_due = full_due or force
            if targets is not None or full_due:
                mode, todo = await self._chunks(targets, full_due)
                if mode == "portfolio" or full_due:
                    full = True
                n_chunks, n_stays = await self._refresh(todo, failed)
                chunks += n_chunks
                stays += n_stays
                if mode == "per-type":
                    self._stats.types_refreshed += len({c.resource_id for c in todo})
        committed = not failed
        if committed:
            if last != after:
                await store.put(self.name, last)
            if full and mode is not None:
                await store.put(f"{self.name}:full", int(now))
        the_pass = IndexPass(
            events=n_events,
            position=last if committed else after,
            changed=tuple(changed),
            stale=tuple(stale),
            full=full,
            mode=mode,
            chunks=chunks,
            stays=stays,
            calls=self.harvest.client.statistics().requests_sent - sent0,
            failed=tuple(failed),
            committed=committed,
            elapsed=time.monotonic() - started,
        )
        self._count(the_pass)
        return the_pass

    async def _read_events(self, after: int) -> tuple[list[int], int, int]:
        """Every event after ``after`` (up to ``max_pages`` pages): the type ids to re-fetch
        (first seen first), the last event id, the number of events."""
        changed: dict[int, None] = {}
        last = after
        n = 0
        for _ in range(self.max_pages):
            events, caught_up = await self.events.fetch_events(last)
            if not events:
                break
            for event in events:
                if self.wants(event):
                    changed[event.entity_id] = None
            last = max(self.events.cursor.position(e) for e in events)
            n += len(events)
            if caught_up:
                break
        return list(changed), last, n

    async def _targets(
        self, changed: Sequence[int], now: float
    ) -> tuple[list[int] | None, list[int], bool]:
        """The types to re-fetch (``None``: none), the stale ones among them, and whether
        a full refresh is due (``max_age``)."""
        stale: list[int] = []
        full_due = False
        if self.max_age is not None:
            last_full = await self.last_full_refresh()
            full_due = last_full is None or now - last_full > self.max_age
            if not full_due:
                ages = await self.index.data_age()
                stale = [a.resource_id for a in ages if now - a.oldest > self.max_age]
        targets = list(dict.fromkeys([*changed, *stale]))
        return (targets or None), stale, full_due

    async def _chunks(
        self, targets: Iterable[int] | None, full_due: bool
    ) -> tuple[str, list[HarvestChunk]]:
        harvest = self.harvest
        ids = None if targets is None else list(targets)
        if harvest.mode == "per-type" or self.refresh == "per-type":
            if full_due or ids is None:
                ids = list((await harvest.plan()).resource_ids)
            return "per-type", harvest.chunks_for(ids)
        if self.refresh == "portfolio" or full_due or ids is None or len(ids) > 1:
            # One POST per window answers every type: cheaper than a GET per type and
            # window as soon as two types changed, and it refreshes the rest for free.
            return "portfolio", harvest.chunks_for(None)
        return "per-type", harvest.chunks_for(ids)

    async def _refresh(
        self, todo: Sequence[HarvestChunk], failed: list[tuple[HarvestChunk, str]]
    ) -> tuple[int, int]:
        chunks = stays = 0
        async with aclosing(self.harvest.results(todo)) as results:
            async for result in results:
                error = result.error
                if error is not None:
                    if is_fatal(error):
                        raise error
                    failed.append((result.chunk, f"{type(error).__name__}: {error}"))
                    logger.warning("index refresh of %s failed: %s", result.chunk.key, error)
                    continue
                await self.index.replace(
                    result.chunk, result.records, costs=result.costs, fetched_at=result.fetched_at
                )
                chunks += 1
                stays += len(result.records)
        return chunks, stays

    def _count(self, the_pass: IndexPass) -> None:
        stats = self._stats
        stats.passes += 1
        stats.events += the_pass.events
        stats.calls += the_pass.calls
        stats.refreshes += 1 if the_pass.mode is not None else 0
        stats.full_refreshes += 1 if the_pass.full else 0
        stats.failed_passes += 0 if the_pass.committed else 1
        stats.last_pass = the_pass

    # -- long-running mode ------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to stop after the pass in hand."""
        self._stop.set()

    async def run(
        self,
        *,
        interval: float = 300.0,
        stop: asyncio.Event | None = None,
        max_passes: int | None = None,
        on_pass: Callable[[IndexPass], object] | None = None,
        full_first: bool = False,
    ) -> IndexSyncStats:
        """Pass after pass, ``interval`` seconds apart, until stopped.

        Transient API failures (connection, 5xx, 429 left after the client's retries) end
        the pass without committing; the next pass starts after ``interval``. Errors no
        retry cures (refused credentials, a hard budget) end the run.

        Args:
            interval: seconds between passes.
            stop: an event that stops the run when set (besides :meth:`stop`).
            max_passes: stop after this many passes (``None``: until stopped).
            on_pass: called with each :class:`IndexPass`.
            full_first: the first pass refreshes every type (see :meth:`sync_once`).
        """
        if interval < 0:
            raise ValueError(f"interval must not be negative, got {interval}")
        stops = [self._stop] if stop is None else [self._stop, stop]
        passes = 0
        while not any(s.is_set() for s in stops):
            try:
                the_pass = await self.sync_once(full=full_first and passes == 0)
                if on_pass is not None:
                    on_pass(the_pass)
            except _TRANSIENT as exc:
                self._stats.failed_passes += 1
                logger.warning("index sync pass failed, retrying in %.1fs: %s", interval, exc)
            passes += 1
            if max_passes is not None and passes >= max_passes:
                break
            waiters = [asyncio.ensure_future(s.wait()) for s in stops]
            try:
                await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
        return self._stats
