"""Availability search: ``POST /accommodationtypes/search`` and ``/arrivalrangesearch``.

Request fields are the reference's (accommodation type search pages); the answer's ``result``
item is **inferred** (docs/wire-contract.md, Search). Both are read-only POSTs, safe to retry.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

import msgspec

from ._base import Model, Tolerant
from ._reservations import Subjects

__all__ = [
    "MAX_DAYS_IN_RESULT",
    "ArrivalRangeSearchRequest",
    "FilterOption",
    "SearchRequest",
    "SearchResult",
    "SearchResultItem",
]

MAX_DAYS_IN_RESULT = 30
"""Upper bound of ``numberOfDaysInResult`` (reference, Arrival range search: "max 30")."""


class FilterOption(StrEnum):
    """Aggregations a search may return besides ``result`` (reference, ``filterOptions``)."""

    ARRIVALS = "arrivals"
    DEPARTURES = "departures"
    LOCATIONS = "locations"
    ACCOMMODATION_KINDS = "accommodationKinds"
    AMENITIES = "amenities"


class _SearchFilters(Model, kw_only=True):
    # distributionChannelId is required "unless the token carries a distribution channel"
    # (reference), so it cannot be required here.
    distribution_channel_id: int | None = None
    offer_code: str | None = None
    offer_id: int | None = None
    subjects: Subjects | None = None
    location_ids: list[int] | None = None
    resource_ids: list[int] | None = None
    pet_quantity: int | None = None
    amenity_ids: list[int] | None = None
    accommodation_kind_ids: list[int] | None = None
    filter_options: list[str] | None = None
    """Values of :class:`FilterOption`."""


class SearchRequest(_SearchFilters, kw_only=True):
    """Body of ``POST /maxxton/v2/accommodationtypes/search``.

    Without ``arrival_date`` the query parameter ``defaultSelection=nearest_arrival`` picks
    the first available arrival (reference).
    """

    arrival_date: date | None = None
    duration: int | None = None
    include_all_prices: bool | None = None


class ArrivalRangeSearchRequest(_SearchFilters, kw_only=True):
    """Body of ``POST /maxxton/v2/accommodationtypes/arrivalrangesearch``.

    ``number_of_days_in_result`` counts from ``arrival_date_from`` and is at most
    :data:`MAX_DAYS_IN_RESULT` (reference); a larger value raises ``ValueError`` here rather
    than a 400 from the server.
    """

    arrival_date_from: date
    number_of_days_in_result: int | None = None

    def __post_init__(self) -> None:
        n = self.number_of_days_in_result
        if n is not None and not 1 <= n <= MAX_DAYS_IN_RESULT:
            raise ValueError(
                f"numberOfDaysInResult must be between 1 and {MAX_DAYS_IN_RESULT}, got {n}"
            )


class SearchResultItem(Model, kw_only=True, gc=False):
    """One bookable stay found by a search (**inferred** fields, docs/wire-contract.md)."""

    resource_id: int
    arrival_date: date | None = None
    departure_date: date | None = None
    duration: int | None = None
    accommodation_kind_id: int | None = None
    location_id: int | None = None
    price: float | None = None
    price_inclusive: float | None = None
    offer_id: int | None = None
    offer_code: str | None = None
    available_units: int | None = None


class SearchResult(Tolerant, kw_only=True):
    """Answer of both searches: ``result`` plus the requested ``filterOptions`` aggregations
    (kept as plain JSON: their shape is not documented)."""

    __guessed__: ClassVar[frozenset[str]] = frozenset({"result", "filter_options"})

    result: list[SearchResultItem] = msgspec.field(default_factory=list)
    filter_options: dict[str, Any] | None = None
