"""The events feed: what changed, in ``eventId`` order (guide, Event Flow).

The path, the ``eventId`` field and filtering on it are **inferred** (docs/wire-contract.md,
Events): the guide names "the Events endpoint" but not its parameters. The cursor expression
lives in :class:`EventCursor` only, so a different real-world cursor is a one-line change.
Sync advances on the event id, never on ``creationDate``: timestamps tie.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from .._filters import F, Filter, FilterLike, SortLike
from .._pagination import Paginator
from ..models._events import Event
from ..models._page import Page
from ._base import API, Headers, ListEndpoint, merge_filters

__all__ = ["EventCursor", "Events"]


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


# The cursor strategy lives in one place, EventCursor (inferred: docs/wire-contract.md);
# the namespace and the event sync (which imports it from here) both use it.
_CURSOR = EventCursor()
DEFAULT_SORT = _CURSOR.sort()
"""Events are read oldest first so that the last id seen is a safe cursor."""


class Events(ListEndpoint[Event]):
    """``GET /maxxton/v2/events`` (**inferred** path; paged, sorted by ``eventId``)."""

    _path = f"{API}/events"
    _model = Event

    @staticmethod
    def after(event_id: int) -> Filter:
        """The cursor: events strictly after ``event_id`` (``filter=eventId>N``, inferred)."""
        if isinstance(event_id, bool) or not isinstance(event_id, int):
            raise TypeError(f"event_id must be an int, got {event_id!r}")
        cursor = _CURSOR.filter(event_id)
        assert cursor is not None
        return cursor

    async def list(  # type: ignore[override]
        self,
        after_event_id: int | None = None,
        page: int = 0,
        size: int | None = None,
        filter: FilterLike | None = None,
        sort: SortLike | None = DEFAULT_SORT,
        *,
        headers: Headers | None = None,
        **params: Any,
    ) -> Page[Event]:
        """One page of events after ``after_event_id`` (all events when ``None``), ANDed with
        ``filter`` (e.g. ``F("eventType") == "RESERVATION_EVENT"``)."""
        cursor = None if after_event_id is None else self.after(after_event_id)
        return await super().list(
            page, size, merge_filters(cursor, filter), sort, headers=headers, **params
        )

    def iterate(  # type: ignore[override]
        self,
        after_event_id: int | None = None,
        filter: FilterLike | None = None,
        sort: SortLike | None = DEFAULT_SORT,
        page_size: int | None = None,
        prefetch: bool = True,
        *,
        lookahead: int | None = None,
        headers: Headers | None = None,
        **params: Any,
    ) -> Paginator[Event]:
        """Every event after ``after_event_id``, oldest first.

        The page count is read from page 0, so events appended while iterating are not
        included: remember the last ``event_id`` handled and iterate again after it.
        """
        cursor = None if after_event_id is None else self.after(after_event_id)
        return super().iterate(
            merge_filters(cursor, filter),
            sort,
            page_size,
            prefetch,
            lookahead=lookahead,
            headers=headers,
            **params,
        )

    async def latest_id(self, *, headers: Headers | None = None) -> int | None:
        """The newest ``eventId`` (one call, sorted descending), or ``None`` when there are
        none: where a fresh sync that ignores history starts."""
        page = await super().list(0, 1, None, "eventId,desc", headers=headers)
        items: builtins.list[Event] = page.content
        return items[0].event_id if items else None
