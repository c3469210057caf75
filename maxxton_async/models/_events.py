"""Events: what changed, for the guide's Event Flow.

The guide (Event Flow) names the 16 event types and the item fields ``entityId``,
``entityType``, ``entityAction`` (``MERGE`` for customer de-duplication) and ``oldEntityId``.
The path, ``eventType``, ``eventId`` and ``creationDate`` are **inferred** (docs/wire-contract.md,
Events); they live only in this module and are ``__guessed__``: an event whose ``eventType`` or
``eventId`` is missing or unusable is set aside with its raw bytes instead of failing its page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from ._base import Tolerant, utc

__all__ = ["EntityAction", "EntityType", "Event", "EventType"]


class EventType(StrEnum):
    """The 16 event types of the guide (Event Flow, "Events Generated")."""

    ACCOMMODATION_TYPE_EVENT = "ACCOMMODATION_TYPE_EVENT"
    ADDITION_EVENT = "ADDITION_EVENT"
    ADDON_EVENT = "ADDON_EVENT"
    AVAILABILITY_EVENT = "AVAILABILITY_EVENT"
    CUSTOMER_EVENT = "CUSTOMER_EVENT"
    DISTRIBUTIONCHANNEL_EVENT = "DISTRIBUTIONCHANNEL_EVENT"
    IMPLY_EVENT = "IMPLY_EVENT"
    OFFER_EVENT = "OFFER_EVENT"
    OWNER_EVENT = "OWNER_EVENT"
    RATE_EVENT = "RATE_EVENT"
    RENTABILITY_EVENT = "RENTABILITY_EVENT"
    RESERVABILITY_EVENT = "RESERVABILITY_EVENT"
    RESERVATION_EVENT = "RESERVATION_EVENT"
    RESORT_EVENT = "RESORT_EVENT"
    UNIT_EVENT = "UNIT_EVENT"
    ALLOTMENT_EVENT = "ALLOTMENT_EVENT"


class EntityAction(StrEnum):
    """What happened to the entity. ``MERGE``: guide, Event Flow, CUSTOMER_EVENT."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    MERGE = "MERGE"


class EntityType(StrEnum):
    """Known ``entityType`` values (**inferred** spellings, docs/wire-contract.md).

    The guide uses ``entityType`` to tell accommodation type, add-on, offer and unit apart
    for IMPLY, RATE, RENTABILITY and RESERVABILITY events; the list is open.
    """

    ACCOMMODATIONTYPE = "ACCOMMODATIONTYPE"
    ADDON = "ADDON"
    OFFER = "OFFER"
    UNIT = "UNIT"
    RESERVATION = "RESERVATION"
    CUSTOMER = "CUSTOMER"


# gc=False: events are decoded in bulk by the event sync and hold only scalars.
class Event(Tolerant, kw_only=True, gc=False):
    """One item of ``GET /maxxton/v2/events``.

    ``event_type``, ``entity_type`` and ``entity_action`` are strings (known values in
    :class:`EventType`, :class:`EntityType`, :class:`EntityAction`) so that a type Maxxton adds
    later does not break a whole page. ``entity_id`` is the id of the changed entity
    (resourceId, customerId, reservationId, ... depending on the type, guide Event Flow); on
    ``MERGE`` it is the surviving customer and ``old_entity_id`` the removed one.
    """

    __guessed__: ClassVar[frozenset[str]] = frozenset({"event_id", "event_type", "creation_date"})

    event_id: int
    """Strictly increasing (**inferred**); the event sync advances on it."""
    event_type: str
    entity_id: int
    entity_action: str | None = None
    entity_type: str | None = None
    old_entity_id: int | None = None
    creation_date: datetime | None = None

    def __post_init__(self) -> None:
        # Inlined fast path: the server sends "...Z", which msgspec already decodes to UTC;
        # only other offsets or naive values need utc(). Events are decoded in bulk.
        created = self.creation_date
        if created is not None and created.tzinfo is not UTC:
            self.creation_date = utc(created)

    @property
    def is_merge(self) -> bool:
        """Whether this is a customer de-duplication (``entityAction`` ``MERGE``)."""
        return self.entity_action == EntityAction.MERGE
