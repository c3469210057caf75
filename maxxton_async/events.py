"""Event sync: poll the events feed after a checkpoint and refresh what changed, in batches.

The guide's Event Flow: "Any change (creation, deletion, or modification) made in any of the
entities will generate events, which are stored and can be fetched using the Events
endpoint", and for every event type it names the endpoints that refresh the changed entities:
a batch form for most (``GET /maxxton/v2/reservations?filter=reservationId:[id1,id2,...]``, the
same for customers, accommodation types, units, locations, distribution channels, offers,
owners, and ``resourceId`` for additions and allotments), one call per id for add-ons,
implies, rates, rentability and reservability. The endpoints are listed once, in
``_endpoints.REFRESH``. The events path and its ``eventId`` field are **inferred**
(docs/wire-contract.md, Events).

One pass reads a page of events after the checkpoint, groups them by event type, drops
repeated entity ids, refreshes each group through its batch endpoint (ids chunked so every
URL stays short, chunks fetched concurrently), and hands you an :class:`EventBatch`. Groups
whose only endpoints take one id per call (ADDON, IMPLY, RATE, RENTABILITY, RESERVABILITY) are
refreshed only when asked for with ``per_id=``; their cost (one call per id) is logged before
they run and kept in :attr:`EntityChanges.planned_calls`. A group whose refresh is refused (a
404 from an endpoint the server lacks, a 403 for a permission the key lacks, an answer that
does not decode) is reported in :attr:`EntityChanges.error`; the other groups are still
refreshed. An event whose guessed fields are unusable (no ``eventType``) is set aside with its
raw bytes (:attr:`EventBatch.set_aside`) and the checkpoint still moves past it::

    sync = EventSync(client, "sync.sqlite")
    async for batch in sync.batches():
        for change in batch.changes:
            store(change.entities)          # refreshed models, by id
            delete(change.removed)          # asked for, not returned: gone (or merged away)
    # the checkpoint advanced after each batch, when the loop asked for the next one

**At least once.** The checkpoint (the last ``eventId`` of a batch) is written only when the
consumer asks for the next batch or calls ``await batch.commit()``; if the consumer raises,
nothing is written and the next pass delivers the same batch again. Never lost, possibly
delivered twice: make the handler idempotent (upserts by id are).

**Cursor.** Advance on the event id, never on a timestamp (timestamps tie). The
query that expresses "after the checkpoint" lives in :class:`EventCursor` only, so a
different real-world cursor is one object to swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ._checkpoint import (
    CheckpointStore,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
    open_checkpoint,
)
from ._endpoints import REFRESH, RefreshSpec, refresh_spec
from ._errors import (
    APIStatusError,
    MaxxtonError,
    NotFoundError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
)
from ._lookup import fetch_by_ids, gather_or_cancel
from .models import EntityAction, Event, EventType, Page, SetAside
from .resources._events import EventCursor, Events

if TYPE_CHECKING:
    from ._client import MaxxtonClient

__all__ = [
    "DEFAULT_REFRESH",
    "EVENTS_PATH",
    "PER_ID_EVENT_TYPES",
    "AvailabilityRefresh",
    "CheckpointStore",
    "EntityChanges",
    "EventBatch",
    "EventCursor",
    "EventSync",
    "MemoryCheckpointStore",
    "RefreshSpec",
    "RefreshTable",
    "SQLiteCheckpointStore",
    "SyncStats",
    "group_events",
]

logger = logging.getLogger("maxxton_async.events")

#: The ``client.events`` namespace's path (**inferred**, docs/wire-contract.md: the reference
#: lists an Events tag with one GET), named here for error messages and tests.
EVENTS_PATH: Final = Events._path


RefreshTable = Mapping[str, Mapping[str | None, RefreshSpec] | RefreshSpec]
"""Refresh endpoints by event type: one :class:`RefreshSpec`, or one per ``entityType``
(key ``None`` for any other entity type)."""

#: The guide's refresh endpoints (Event Flow), by event type and entity type: the catalogue's
#: table (``_endpoints.REFRESH``). Per-id specs in it run only when opted in (``per_id``);
#: AVAILABILITY_EVENT is refreshed by the availability harvest (``availability=``).
DEFAULT_REFRESH: Final[RefreshTable] = REFRESH

#: Event types whose only refresh endpoints take one id per call (guide, Event Flow).
PER_ID_EVENT_TYPES: Final = frozenset(
    {
        EventType.ADDON_EVENT,
        EventType.IMPLY_EVENT,
        EventType.RATE_EVENT,
        EventType.RENTABILITY_EVENT,
        EventType.RESERVABILITY_EVENT,
    }
)


@dataclass(frozen=True, slots=True)
class AvailabilityRefresh:
    """Optional refresh of AVAILABILITY_EVENT ids: the changed types' availability over an
    arrival range (guide, Event Flow: refresh with ``GET accommodationtypes/availability``).

    Records land in :attr:`EntityChanges.entities` as ``{resourceId: [records]}``; an empty
    list means no stay is bookable, not that the type is gone, so nothing is "removed".
    """

    arrival_from: date
    arrival_to: date
    durations: tuple[int, ...]
    channel_code: str | None = None
    channel_id: int | None = None
    window: int = 30


@dataclass(slots=True)
class EntityChanges:
    """The changes of one event type (and entity type) within a batch.

    Attributes:
        event_type: e.g. ``"RESERVATION_EVENT"``.
        entity_type: the events' ``entityType`` (it tells accommodation types, add-ons,
            offers and units apart for IMPLY, RATE, RENTABILITY, RESERVABILITY; guide).
        ids: distinct changed entity ids, first seen first (MERGE survivors included,
            merged-away customers not).
        events: the events of this group, in order.
        entities: refreshed entities by id (empty when the type is not refreshed). A list
            per id for additions and allotments; plain JSON for undocumented shapes.
        removed: ids asked for and not returned (deleted), and merged-away customers.
        merged: ``{oldEntityId: entityId}`` of MERGE events (guide, CUSTOMER_EVENT).
        refreshed: whether this group was refreshed.
        spec: the endpoint that refreshes it (``None``: the guide names none, or a per-id
            endpoint not opted in).
        planned_calls: the calls its refresh was going to cost, known before it ran (one per
            id for a per-id endpoint).
        error: why its refresh failed (404, 403, undecodable answer); then ``refreshed`` is
            false, ``entities`` and ``removed`` say nothing, and the other groups are
            unaffected.
    """

    event_type: str
    entity_type: str | None
    ids: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    entities: dict[int, Any] = field(default_factory=dict)
    removed: list[int] = field(default_factory=list)
    merged: dict[int, int] = field(default_factory=dict)
    refreshed: bool = False
    spec: RefreshSpec | None = None
    planned_calls: int = 0
    error: MaxxtonError | None = None


@dataclass(slots=True)
class SyncStats:
    """Cumulative counters of an :class:`EventSync`.

    Attributes:
        passes: completed polling passes.
        batches: batches delivered.
        committed: batches whose checkpoint was written.
        events: events delivered.
        event_calls: calls to the events endpoint.
        refresh_calls: calls to batch refresh endpoints.
        per_event_calls: what refreshing one event per GET would have cost (one call per
            event of a refreshed type).
        failed_passes: passes that ended early on a transient API failure.
        last_error: that failure's message (the latest one), or ``None``.
        failed_groups: groups whose refresh was refused (see :attr:`EntityChanges.error`).
        set_aside: events not delivered: a required guessed field unusable.
        repaired: events delivered with a guessed field kept raw (``Event.undecoded``).
    """

    passes: int = 0
    failed_passes: int = 0
    last_error: str | None = None
    batches: int = 0
    committed: int = 0
    events: int = 0
    event_calls: int = 0
    refresh_calls: int = 0
    per_event_calls: int = 0
    failed_groups: int = 0
    set_aside: int = 0
    repaired: int = 0

    @property
    def calls_saved(self) -> int:
        """Refresh calls batching saved against one GET per event."""
        return self.per_event_calls - self.refresh_calls


class EventBatch:
    """One page of events, grouped and refreshed; the unit of checkpointing.

    Attributes:
        events: the events, in ``eventId`` order.
        changes: one :class:`EntityChanges` per (event type, entity type), first seen first.
        position: the checkpoint value after this batch (the last event's id).
        refresh_calls: calls the refresh of this batch made.
        per_event_calls: calls one GET per event would have made.
        set_aside: events of this page that could not be delivered (a required guessed
            field, such as ``eventType``, missing or unusable), with their raw JSON. The
            checkpoint moves past them too.
    """

    def __init__(
        self,
        sync: EventSync,
        events: list[Event],
        changes: list[EntityChanges],
        position: int,
        refresh_calls: int,
        per_event_calls: int,
        set_aside: Sequence[SetAside] = (),
    ) -> None:
        self._sync = sync
        self.events = events
        self.changes = changes
        self.position = position
        self.refresh_calls = refresh_calls
        self.per_event_calls = per_event_calls
        self.set_aside = list(set_aside)
        self._committed = False

    def __repr__(self) -> str:
        return (
            f"<EventBatch events={len(self.events)} groups={len(self.changes)} "
            f"position={self.position} committed={self._committed}>"
        )

    @property
    def committed(self) -> bool:
        """Whether the checkpoint was moved past this batch."""
        return self._committed

    def by_type(self, event_type: str) -> list[EntityChanges]:
        """The groups of ``event_type`` (one per entity type)."""
        return [c for c in self.changes if c.event_type == event_type]

    @property
    def failed(self) -> list[EntityChanges]:
        """The groups whose refresh was refused (each with its ``error``)."""
        return [c for c in self.changes if c.error is not None]

    @property
    def repaired(self) -> list[Event]:
        """The events delivered with a guessed field kept raw (see ``Event.undecoded``)."""
        return [e for e in self.events if e.undecoded]

    async def commit(self) -> None:
        """Move the checkpoint past this batch (durably). Idempotent."""
        if self._committed:
            return
        await self._sync._commit(self.position)
        self._committed = True


Handler = Callable[[EventBatch], "Awaitable[object] | object"]

_TRANSIENT = (TransportError, ServerError, RateLimitError)


def _reported(exc: BaseException) -> bool:
    """Whether a refresh failure is the group's own (reported on it, the batch goes on) rather
    than a passing one (the pass fails and the batch is delivered again later)."""
    if isinstance(exc, ResponseDecodeError):
        return True
    return isinstance(exc, APIStatusError) and not isinstance(exc, ServerError | RateLimitError)


class EventSync:
    """Polls ``GET /maxxton/v2/events`` after a checkpoint and refreshes changes in batches.

    Args:
        client: the :class:`~maxxton_async.MaxxtonClient`.
        checkpoint: a :class:`~maxxton_async.CheckpointStore`, or a file path for the
            default SQLite store, or ``None`` for memory (tests).
        name: the cursor's name in the store (several syncs may share one store).
        cursor: the :class:`EventCursor` (how "after the checkpoint" is queried).
        batch_size: events per page, i.e. per batch (the server may send fewer).
        refresh: refresh endpoints by event type (and entity type); default
            :data:`DEFAULT_REFRESH`, the guide's.
        per_id: event types whose per-id endpoints may be used (ADDON, IMPLY, RATE,
            RENTABILITY, RESERVABILITY: one call per changed id), or ``True`` for all of
            them. Default: none; those groups are reported with their ids, not refreshed.
        availability: refresh AVAILABILITY_EVENT ids over this range (default: report only).
        concurrency: refresh chunks of one event type started at once; default twice the
            limiter's capacity (the limiter still caps what is on the wire).
        show_archived: send ``x-show-archived: true`` on refresh calls so that an archived
            entity comes back (archived) instead of looking deleted (guide, Header).
        max_ids: ids per refresh call (the URL is also kept short, see ``chunk_ids``).
    """

    def __init__(
        self,
        client: MaxxtonClient,
        checkpoint: CheckpointStore | str | os.PathLike[str] | None = None,
        *,
        name: str = "events",
        cursor: EventCursor | None = None,
        batch_size: int = 500,
        refresh: RefreshTable | None = None,
        per_id: Iterable[str] | bool = (),
        availability: AvailabilityRefresh | None = None,
        concurrency: int | None = None,
        show_archived: bool = True,
        max_ids: int = 200,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if max_ids < 1:
            raise ValueError(f"max_ids must be at least 1, got {max_ids}")
        self.client = client
        self.store, self._owns_store = open_checkpoint(checkpoint)
        self.name = name
        self.cursor = cursor if cursor is not None else EventCursor()
        self.batch_size = batch_size
        self.refresh_specs: RefreshTable = DEFAULT_REFRESH if refresh is None else refresh
        if per_id is True:
            self.per_id: frozenset[str] = PER_ID_EVENT_TYPES
        elif per_id is False:
            self.per_id = frozenset()
        else:
            self.per_id = frozenset(str(t) for t in per_id)
        self.availability = availability
        self.concurrency = concurrency if concurrency is not None else 2 * client.limiter.capacity
        self.show_archived = show_archived
        self.max_ids = max_ids
        self._stats = SyncStats()
        self._stop = asyncio.Event()

    def statistics(self) -> SyncStats:
        """Counters so far: a live object, updated as the work goes on."""
        return self._stats

    def __repr__(self) -> str:
        return f"<EventSync name={self.name!r} store={self.store!r}>"

    async def __aenter__(self) -> EventSync:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the checkpoint store if this sync opened it (from a path)."""
        if self._owns_store:
            await self.store.aclose()

    # -- the checkpoint ---------------------------------------------------------------------

    async def position(self) -> int | None:
        """The checkpoint: the last processed event id, ``None`` before the first sync."""
        return await self.store.get(self.name)

    async def _commit(self, position: int) -> None:
        await self.store.put(self.name, position)
        self._stats.committed += 1

    async def start_at_latest(self) -> int:
        """Set the checkpoint to the newest event (skip the history); returns it.

        One call (``sort`` descending, one item). With an empty feed the checkpoint is 0.
        """
        page = await self.client.events.list(None, 0, 1, sort=self.cursor.latest_sort())
        self._stats.event_calls += 1
        latest = self.cursor.position(page.content[0]) if page and page.content else 0
        await self.store.put(self.name, latest)
        return latest

    # -- one pass ---------------------------------------------------------------------------

    async def fetch_page(self, after: int | None) -> Page[Event]:
        """One page of events after ``after``, through ``client.events`` (a 204, nothing
        after it, is an empty page).

        Events whose guessed fields do not fit are in ``page.set_aside``, not in
        ``page.content`` (see :mod:`maxxton_async.models._tolerance`).
        """
        page = await self.client.events.list(
            None, 0, self.batch_size, self.cursor.filter(after), self.cursor.sort()
        )
        self._stats.event_calls += 1
        return page

    async def fetch_events(self, after: int | None) -> tuple[list[Event], bool]:
        """One page of events after ``after``; returns ``(events, caught_up)``."""
        page = await self.fetch_page(after)
        return page.content, page.is_last or not (page.content or page.set_aside)

    async def batches(self, *, max_batches: int | None = None) -> AsyncGenerator[EventBatch, None]:
        """One pass: batches until the feed is caught up (or ``max_batches``).

        The checkpoint moves past a batch when the loop asks for the next one (or when
        the consumer calls ``await batch.commit()``). Leaving the loop by an exception or
        ``break`` does not commit the current batch: it is delivered again next time.
        """
        delivered = 0
        try:
            while max_batches is None or delivered < max_batches:
                after = await self.position()
                page = await self.fetch_page(after)
                if not (page.content or page.set_aside):
                    break
                events = page.content
                caught_up = page.is_last
                batch = await self.build_batch(events, set_aside=page.set_aside, after=after)
                delivered += 1
                self._stats.batches += 1
                self._stats.events += len(events)
                yield batch
                # The consumer asked for the next batch: this one is done.
                await batch.commit()
                if caught_up or self._stop.is_set():
                    break
        finally:
            self._stats.passes += 1  # a pass cut short by the consumer is a pass too

    def plan_refresh(self, changes: Iterable[EntityChanges]) -> list[EntityChanges]:
        """Pick each group's endpoint and state its cost before anything runs.

        Sets :attr:`EntityChanges.spec` and :attr:`EntityChanges.planned_calls` (a batch
        endpoint: one call per chunk of ids at least; a per-id endpoint: one call per id) and
        returns the groups that will be refreshed. A per-id group runs only if its event type
        is in ``per_id``; its cost is logged first.
        """
        planned: list[EntityChanges] = []
        for change in changes:
            spec = refresh_spec(self.refresh_specs, change.event_type, change.entity_type)
            if spec is None or not change.ids:
                continue
            if spec.per_id:
                if change.event_type not in self.per_id:
                    continue
                change.planned_calls = len(change.ids)
                logger.info(
                    "%s (%s): refreshing %d ids through %s, one call per id: %d calls",
                    change.event_type,
                    change.entity_type,
                    len(change.ids),
                    spec.path,
                    change.planned_calls,
                )
            else:
                change.planned_calls = -(-len(change.ids) // self.max_ids)
            change.spec = spec
            planned.append(change)
        return planned

    async def build_batch(
        self,
        events: Sequence[Event],
        *,
        set_aside: Sequence[SetAside] = (),
        after: int | None = None,
    ) -> EventBatch:
        """Group ``events``, refresh the groups, and wrap them as a batch (no commit).

        ``set_aside`` are the page's events that could not be delivered; the checkpoint moves
        past them too (their raw ``eventId``). ``after`` is the checkpoint the page was read
        after: a page whose position cannot move past it raises ``ResponseDecodeError``
        rather than reading the same page forever.
        """
        changes = group_events(events)
        refreshing = self.plan_refresh(changes)

        async def run(change: EntityChanges) -> int:
            assert change.spec is not None
            try:
                found, calls = await self.refresh(change.spec, change.ids)
            except MaxxtonError as exc:
                if not _reported(exc):
                    raise
                # A refused group (endpoint missing, permission lacking) is this group's
                # problem; the others are still refreshed and delivered.
                change.error = exc
                # What the failed refresh cost is not returned by the failing call; count
                # what was planned (at least the call that was refused).
                logger.warning(
                    "refresh of %s (%s) through %s failed: %s",
                    change.event_type,
                    change.entity_type,
                    change.spec.path,
                    exc,
                )
                return change.planned_calls
            change.entities.update(found)
            change.refreshed = True
            return calls

        calls = sum(await gather_or_cancel(run(c) for c in refreshing))
        per_event = sum(len(c.events) for c in refreshing if c.refreshed)
        for change in changes:
            if change.refreshed:
                missing = [i for i in change.ids if i not in change.entities]
                change.removed = _unique([*missing, *change.merged])
            else:
                change.removed = list(change.merged)
        if self.availability is not None:
            calls += await self._refresh_availability(changes)
        self._stats.refresh_calls += calls
        self._stats.per_event_calls += per_event
        self._stats.failed_groups += sum(1 for c in changes if c.error is not None)
        self._stats.set_aside += len(set_aside)
        self._stats.repaired += sum(1 for e in events if e.undecoded)
        position = self._position(events, set_aside, after)
        return EventBatch(self, list(events), changes, position, calls, per_event, set_aside)

    def _position(
        self, events: Sequence[Event], set_aside: Sequence[SetAside], after: int | None
    ) -> int:
        positions = [self.cursor.position(e) for e in events]
        for item in set_aside:
            # The cursor field of an event set aside, read from its raw JSON, if usable.
            try:
                raw = msgspec.json.decode(item.raw)
            except msgspec.DecodeError:
                continue
            value = raw.get(self.cursor.field) if isinstance(raw, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                positions.append(value)
        if not positions or (after is not None and max(positions) <= after):
            raise ResponseDecodeError(
                f"{len(set_aside)} events set aside and none carries a usable "
                f"{self.cursor.field!r}: the checkpoint cannot move past them",
                detail="; ".join(s.reason for s in set_aside[:3]),
                method="GET",
                path=EVENTS_PATH,
                body=bytes(set_aside[0].raw) if set_aside else b"",
            )
        return max(positions)

    async def refresh(self, spec: RefreshSpec, ids: Sequence[int]) -> tuple[dict[int, Any], int]:
        """Fetch ``ids`` through ``spec``; returns the entities found by id and the number of
        calls made.

        A batch spec (``field:[…]``) makes one call per chunk normally: the page size asked
        for is the number of ids; if the server caps it, the remaining pages follow (bounded
        by the envelope's page count). A per-id spec makes one call per id (the caller opted
        in); an id answered 404 is absent from the result (gone).
        """
        headers = {"x-show-archived": "true"} if self.show_archived else None
        if spec.per_id:
            return await self._refresh_per_id(spec, ids, headers)
        return await fetch_by_ids(
            self.client,
            spec.path,
            spec.model,
            id_field=spec.id_field,
            id_attr=spec.id_attr,
            ids=ids,
            headers=headers,
            max_ids=self.max_ids,
            concurrency=self.concurrency,
            many=spec.many,
        )

    async def _refresh_per_id(
        self, spec: RefreshSpec, ids: Sequence[int], headers: Mapping[str, str | None] | None
    ) -> tuple[dict[int, Any], int]:
        semaphore = asyncio.Semaphore(max(1, self.concurrency))
        found: dict[int, Any] = {}

        async def one(entity_id: int) -> None:
            path, query = spec.url_for(entity_id)
            # A 404 for one id: that id is gone (reported in ``removed``).
            async with semaphore:
                with contextlib.suppress(NotFoundError):
                    found[entity_id] = await self.client.request(
                        "GET", path, params=query, headers=headers
                    )

        unique = _unique(ids)
        await gather_or_cancel(one(i) for i in unique)
        return found, len(unique)

    async def _refresh_availability(self, changes: Iterable[EntityChanges]) -> int:
        from .harvest import Harvest

        query = self.availability
        assert query is not None
        calls = 0
        for change in changes:
            if change.event_type != EventType.AVAILABILITY_EVENT or not change.ids:
                continue
            job = Harvest(
                self.client,
                arrival_from=query.arrival_from,
                arrival_to=query.arrival_to,
                durations=query.durations,
                channel_code=query.channel_code,
                channel_id=query.channel_id,
                resource_ids=change.ids,
                window=query.window,
            )
            records: dict[int, list[Any]] = {i: [] for i in change.ids}
            the_plan = await job.plan()
            async with aclosing(job.results(the_plan)) as results:
                async for result in results:
                    if result.error is not None:
                        raise result.error
                    records[result.chunk.resource_id or 0].extend(result.records)
            calls += the_plan.calls
            change.entities.update(records)
            change.refreshed = True
        return calls

    # -- long-running mode ------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to stop after the batch in hand (it is committed first)."""
        self._stop.set()

    async def run(
        self,
        handler: Handler,
        *,
        interval: float = 30.0,
        stop: asyncio.Event | None = None,
        max_passes: int | None = None,
    ) -> SyncStats:
        """Poll until stopped: a pass, then ``interval`` seconds (cut short by a stop).

        ``handler(batch)`` (sync or async) is called per batch; the batch is committed
        when it returns. A handler exception ends the run without committing (the batch is
        delivered again next time). Transient API failures (connection, 5xx, 429 left after
        the client's retries) end the pass (counted in ``stats.failed_passes``); the next
        pass starts after ``interval``. Persistent ones end the run: refused credentials,
        or a token endpoint that keeps failing, raise
        :class:`~maxxton_async.AuthenticationError` (the token manager gives up after a
        bounded number of mints, waiting a growing cool-down between them).

        Args:
            handler: called with each :class:`EventBatch`.
            interval: seconds between passes.
            stop: an event that stops the run when set (besides :meth:`stop`).
            max_passes: stop after this many passes (``None``: until stopped).
        """
        if interval < 0:
            raise ValueError(f"interval must not be negative, got {interval}")
        stops = [self._stop] if stop is None else [self._stop, stop]
        passes = 0
        while not any(s.is_set() for s in stops):
            try:
                async with aclosing(self.batches()) as pass_:
                    async for batch in pass_:
                        result = handler(batch)
                        if inspect.isawaitable(result):
                            await result
                        await batch.commit()
                        if any(s.is_set() for s in stops):
                            break
            except _TRANSIENT as exc:
                self._stats.failed_passes += 1
                self._stats.last_error = str(exc)
                logger.warning("event sync pass failed, retrying in %.1fs: %s", interval, exc)
            passes += 1
            if max_passes is not None and passes >= max_passes:
                break
            await _wait_any(stops, interval)
        return self._stats


def group_events(events: Iterable[Event]) -> list[EntityChanges]:
    """Group events by (event type, entity type), ids de-duplicated, first seen first.

    A MERGE (guide, CUSTOMER_EVENT) adds the survivor (``entityId``) to the ids and records
    the merged-away ``oldEntityId``, which is then never refreshed: it no longer exists.
    """
    groups: dict[tuple[str, str | None], EntityChanges] = {}
    seen: dict[tuple[str, str | None], set[int]] = {}
    for event in events:
        key = (event.event_type, event.entity_type)
        change = groups.get(key)
        if change is None:
            change = groups[key] = EntityChanges(event.event_type, event.entity_type)
            seen[key] = set()
        change.events.append(event)
        if event.entity_action == EntityAction.MERGE and event.old_entity_id is not None:
            change.merged[event.old_entity_id] = event.entity_id
        ids = seen[key]
        if event.entity_id not in ids:
            ids.add(event.entity_id)
            change.ids.append(event.entity_id)
    for change in groups.values():
        if change.merged:
            change.ids = [i for i in change.ids if i not in change.merged]
    return list(groups.values())


def _unique(ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(ids))


async def _wait_any(events: Sequence[asyncio.Event], seconds: float) -> None:
    """Wait until one of ``events`` is set or ``seconds`` passed."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
