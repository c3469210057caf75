"""Master data of the stock: accommodation types, units and locations.

The guide (Entity Relations; Reservation Flow §2) relates them: a location holds
accommodation types, an accommodation type "is a group of similar units". Their full
schemas are not in the stored reference, so only identifying fields are typed (names as the
guide's refresh endpoints and filters use them: ``resourceId``, ``unitId``, ``locationId``);
everything else the server sends is ignored, not rejected. The remaining names are
**inferred**.
"""

from __future__ import annotations

import msgspec

from ._base import Model

__all__ = ["AccommodationType", "Location", "Translation", "Unit"]


class Translation(Model, kw_only=True):
    """A name and description in one ``language`` (filtered by the ``locale`` header, guide,
    Header)."""

    language: str | None = None
    name: str | None = None
    description: str | None = None


class AccommodationType(Model, kw_only=True):
    """An accommodation type (``GET /maxxton/v2/accommodationtypes``); its id is ``resourceId``."""

    resource_id: int
    code: str | None = None
    name: str | None = None
    accommodation_kind_id: int | None = None
    location_id: int | None = None
    type: str | None = None
    """``ACCOMMODATIONTYPE`` for accommodation types (resources share one id space with
    add-ons and offers, guide "Resources and Reserved Resources")."""
    max_capacity: int | None = None
    pets_allowed: bool | None = None
    priority: int | None = None
    description: str | None = None
    translations: list[Translation] = msgspec.field(default_factory=list)
    archived: bool | None = None
    """Archived records are only returned with ``x-show-archived: true`` (guide, Header)."""


class Unit(Model, kw_only=True):
    """A unit, "a place where guests stay" (``GET /maxxton/v2/units``)."""

    unit_id: int
    resource_id: int | None = None
    """The accommodation type this unit belongs to."""
    code: str | None = None
    name: str | None = None
    location_id: int | None = None
    owner_id: int | None = None
    max_capacity: int | None = None
    pets_allowed: bool | None = None
    archived: bool | None = None


class Location(Model, kw_only=True):
    """A location (park, hotel; ``GET /maxxton/v2/locations``). RESORT_EVENT refers to it."""

    location_id: int
    code: str | None = None
    name: str | None = None
    region_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    city: str | None = None
    country_code: str | None = None
    priority: int | None = None
    description: str | None = None
    translations: list[Translation] = msgspec.field(default_factory=list)
    archived: bool | None = None
