"""Event sync: poll the events feed after a checkpoint and refresh what changed, in batches.

The guide's Event Flow: "Any change (creation, deletion, or modification) made in any of the
entities will generate events, which are stored and can be fetched using the Events
endpoint", and for most event types it names a batch endpoint that refreshes many entities
in one call (``GET /maxxton/v2/reservations?filter=reservationId:[id1,id2,...]``, the same
pattern for customers, accommodation types, units, locations, distribution channels, offers
and owners). The events path and its ``eventId`` field are **inferred**
(maxxton-api-notes.md §2; docs/wire-contract.md, Events).

One pass reads a page of events after the checkpoint, groups them by event type, drops
repeated entity ids, refreshes each group through its batch endpoint (ids chunked so every
URL stays short, chunks fetched concurrently), and hands you an :class:`EventBatch`::

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

**Cursor.** DESIGN.md: advance on the event id, never on a timestamp (timestamps tie). The
query that expresses "after the checkpoint" lives in :class:`EventCursor` only, so a
different real-world cursor is one object to swap.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from ._checkpoint import CheckpointStore, open_checkpoint
from ._errors import RateLimitError, ServerError, TransportError
from ._filters import F, Filter
from ._lookup import fetch_by_ids, gather_or_cancel
from .models import (
    AccommodationType,
    Customer,
    DistributionChannel,
    EntityAction,
    Event,
    EventType,
    Location,
    Offer,
    Owner,
    Page,
    Reservation,
    Unit,
)

if TYPE_CHECKING:
    from ._client import MaxxtonClient

__all__ = [
    "DEFAULT_REFRESH",
    "EVENTS_PATH",
    "AvailabilityRefresh",
    "EntityChanges",
    "EventBatch",
    "EventCursor",
    "EventSync",
    "RefreshSpec",
    "SyncStats",
]

logger = logging.getLogger("maxxton_async.events")

#: **Inferred** path (notes §2: the reference lists an Events tag with one GET).
EVENTS_PATH: Final = "/maxxton/v2/events"


@dataclass(frozen=True, slots=True)
class EventCursor:
    """How "events after the checkpoint" is asked for: the one place that knows.

    The default is the wire contract's inference: ``filter=eventId>N`` and
    ``sort=eventId,asc``, the checkpoint being the last processed ``eventId``.

    Attributes:
        field: the strictly increasing event field filtered and sorted on.
    """

    field: str = "eventId"

    def filter(self, after: int | None) -> Filter | None:
        """The filter selecting events after ``after`` (none before the first sync)."""
        return None if after is None else F(self.field) > after

    def sort(self) -> str:
        """Oldest first, so the last event of a page is a safe checkpoint."""
        return f"{self.field},asc"

    def latest_sort(self) -> str:
        """Newest first, to find the current end of the feed."""
        return f"{self.field},desc"

    def position(self, event: Event) -> int:
        """The checkpoint value ``event`` moves the cursor to."""
        return event.event_id


@dataclass(frozen=True, slots=True)
class RefreshSpec:
    """A batch refresh endpoint of the guide's Event Flow.

    Attributes:
        path: the list endpoint, e.g. ``/maxxton/v2/reservations``.
        id_field: the wire field filtered with ``id_field:[…]``, e.g. ``reservationId``.
        model: the struct its items decode into.
        id_attr: the model attribute holding the id, e.g. ``reservation_id``.
    """

    path: str
    id_field: str
    model: type[Any]
    id_attr: str


#: The guide's batch endpoints (Event Flow), by event type. Event types with no batch
#: endpoint in the guide (ADDITION, ADDON, IMPLY, RATE, RENTABILITY, RESERVABILITY,
#: ALLOTMENT) and AVAILABILITY_EVENT are reported with their ids and not refreshed.
DEFAULT_REFRESH: Final[Mapping[str, RefreshSpec]] = {
    EventType.RESERVATION_EVENT: RefreshSpec(
        "/maxxton/v2/reservations", "reservationId", Reservation, "reservation_id"
    ),
    EventType.CUSTOMER_EVENT: RefreshSpec(
        "/maxxton/v2/customers", "customerId", Customer, "customer_id"
    ),
    EventType.ACCOMMODATION_TYPE_EVENT: RefreshSpec(
        "/maxxton/v2/accommodationtypes", "resourceId", AccommodationType, "resource_id"
    ),
    EventType.UNIT_EVENT: RefreshSpec("/maxxton/v2/units", "unitId", Unit, "unit_id"),
    EventType.RESORT_EVENT: RefreshSpec(
        "/maxxton/v2/locations", "locationId", Location, "location_id"
    ),
    EventType.DISTRIBUTIONCHANNEL_EVENT: RefreshSpec(
        "/maxxton/v2/distributionchannels",
        "distributionChannelId",
        DistributionChannel,
        "distribution_channel_id",
    ),
    EventType.OFFER_EVENT: RefreshSpec("/maxxton/v2/offers", "resourceId", Offer, "resource_id"),
    EventType.OWNER_EVENT: RefreshSpec("/maxxton/v2/owners", "ownerId", Owner, "owner_id"),
}


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
        entities: refreshed entities by id (empty when the type is not refreshed).
        removed: ids asked for and not returned (deleted), and merged-away customers.
        merged: ``{oldEntityId: entityId}`` of MERGE events (guide, CUSTOMER_EVENT).
        refreshed: whether this group was refreshed.
    """

    event_type: str
    entity_type: str | None
    ids: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    entities: dict[int, Any] = field(default_factory=dict)
    removed: list[int] = field(default_factory=list)
    merged: dict[int, int] = field(default_factory=dict)
    refreshed: bool = False


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
    """

    def __init__(
        self,
        sync: EventSync,
        events: list[Event],
        changes: list[EntityChanges],
        position: int,
        refresh_calls: int,
        per_event_calls: int,
    ) -> None:
        self._sync = sync
        self.events = events
        self.changes = changes
        self.position = position
        self.refresh_calls = refresh_calls
        self.per_event_calls = per_event_calls
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

    async def commit(self) -> None:
        """Move the checkpoint past this batch (durably). Idempotent."""
        if self._committed:
            return
        await self._sync._commit(self.position)
        self._committed = True


Handler = Callable[[EventBatch], "Awaitable[object] | object"]

_TRANSIENT = (TransportError, ServerError, RateLimitError)


class EventSync:
    """Polls ``GET /maxxton/v2/events`` after a checkpoint and refreshes changes in batches.

    Args:
        client: the :class:`~maxxton_async.MaxxtonClient`.
        checkpoint: a :class:`~maxxton_async.CheckpointStore`, or a file path for the
            default SQLite store, or ``None`` for memory (tests).
        name: the cursor's name in the store (several syncs may share one store).
        cursor: the :class:`EventCursor` (how "after the checkpoint" is queried).
        batch_size: events per page, i.e. per batch (the server may send fewer).
        refresh: batch endpoints by event type; default :data:`DEFAULT_REFRESH`.
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
        refresh: Mapping[str, RefreshSpec] | None = None,
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
        self.refresh_specs: Mapping[str, RefreshSpec] = (
            DEFAULT_REFRESH if refresh is None else refresh
        )
        self.availability = availability
        self.concurrency = concurrency if concurrency is not None else 2 * client.limiter.capacity
        self.show_archived = show_archived
        self.max_ids = max_ids
        self.stats = SyncStats()
        self._stop = asyncio.Event()

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
        self.stats.committed += 1

    async def start_at_latest(self) -> int:
        """Set the checkpoint to the newest event (skip the history); returns it.

        One call (``sort`` descending, one item). With an empty feed the checkpoint is 0.
        """
        page = await self.client.request(
            "GET",
            EVENTS_PATH,
            params={"page": 0, "size": 1},
            sort=self.cursor.latest_sort(),
            type=Page[Event],
        )
        self.stats.event_calls += 1
        latest = self.cursor.position(page.content[0]) if page and page.content else 0
        await self.store.put(self.name, latest)
        return latest

    # -- one pass ---------------------------------------------------------------------------

    async def fetch_events(self, after: int | None) -> tuple[list[Event], bool]:
        """One page of events after ``after``; returns ``(events, caught_up)``."""
        page = await self.client.request(
            "GET",
            EVENTS_PATH,
            params={"page": 0, "size": self.batch_size},
            filter=self.cursor.filter(after),
            sort=self.cursor.sort(),
            type=Page[Event],
        )
        self.stats.event_calls += 1
        if page is None:  # 204: nothing after the checkpoint
            return [], True
        return page.content, page.is_last or not page.content

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
                events, caught_up = await self.fetch_events(after)
                if not events:
                    break
                batch = await self.build_batch(events)
                delivered += 1
                self.stats.batches += 1
                self.stats.events += len(events)
                yield batch
                # The consumer asked for the next batch: this one is done.
                await batch.commit()
                if caught_up or self._stop.is_set():
                    break
        finally:
            self.stats.passes += 1  # a pass cut short by the consumer is a pass too

    async def build_batch(self, events: Sequence[Event]) -> EventBatch:
        """Group ``events``, refresh the groups, and wrap them as a batch (no commit)."""
        changes = group_events(events)
        per_event = 0
        refreshing: list[tuple[EntityChanges, RefreshSpec]] = []
        for change in changes:
            spec = self.refresh_specs.get(change.event_type)
            if spec is None:
                continue
            per_event += len(change.events)
            change.refreshed = True
            refreshing.append((change, spec))

        async def run(change: EntityChanges, spec: RefreshSpec) -> int:
            found, calls = await self.refresh(spec, change.ids)
            change.entities.update(found)
            return calls

        calls = sum(await gather_or_cancel(run(c, s) for c, s in refreshing))
        for change in changes:
            if change.refreshed:
                missing = [i for i in change.ids if i not in change.entities]
                change.removed = _unique([*missing, *change.merged])
            else:
                change.removed = list(change.merged)
        if self.availability is not None:
            calls += await self._refresh_availability(changes)
        self.stats.refresh_calls += calls
        self.stats.per_event_calls += per_event
        position = max(self.cursor.position(e) for e in events)
        return EventBatch(self, list(events), changes, position, calls, per_event)

    async def refresh(self, spec: RefreshSpec, ids: Sequence[int]) -> tuple[dict[int, Any], int]:
        """Fetch ``ids`` through ``spec``'s batch endpoint (``field:[…]``); returns the
        entities found by id and the number of calls made.

        One call per chunk normally: the page size asked for is the number of ids; if the
        server caps it, the remaining pages follow (bounded by the envelope's page count).
        """
        return await fetch_by_ids(
            self.client,
            spec.path,
            spec.model,
            id_field=spec.id_field,
            id_attr=spec.id_attr,
            ids=ids,
            headers={"x-show-archived": "true"} if self.show_archived else None,
            max_ids=self.max_ids,
            concurrency=self.concurrency,
        )

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
                    records[result.chunk.resource_id].extend(result.records)
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
                self.stats.failed_passes += 1
                self.stats.last_error = str(exc)
                logger.warning("event sync pass failed, retrying in %.1fs: %s", interval, exc)
            passes += 1
            if max_passes is not None and passes >= max_passes:
                break
            await _wait_any(stops, interval)
        return self.stats


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
