"""Availability and prices: ``/maxxton/v2/accommodationtypes/availability``.

The record's fields are the reference's response attributes (Get accommodationtype
availability); the price and unit items are **inferred** (docs/wire-contract.md, Availability
record), so ``prices`` and ``units`` are ``__guessed__``: items of another shape (units sent as
plain ids, say) leave the record delivered with that list kept raw in ``undecoded``. The
answer is a plain JSON array, so decode it as ``list[AvailabilityRecord]``.

These are the hot structs of a bulk harvest, so they are tuned (see
``benchmarks/decode_options.py``): ``gc=False`` because they hold only scalars and lists of
scalar-only structs, never a cycle. ``array_like`` would be faster still but Maxxton sends
JSON objects, so it is *not* used for the wire; use it only on your own storage/IPC copies.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import msgspec

from ._base import Model, Tolerant

__all__ = ["AvailabilityRecord", "AvailabilityRequest", "AvailabilityUnit", "Price"]


class Price(Model, kw_only=True, gc=False):
    """One price of a stay (**inferred** shape, docs/wire-contract.md)."""

    price: float
    price_inclusive: float | None = None
    """The price including mandatory costs (implies)."""
    rate_type_id: int | None = None
    offer_id: int | None = None
    """``None`` for the base (non-offer) price."""
    offer_code: str | None = None
    currency_code: str | None = None


class AvailabilityUnit(Model, kw_only=True, gc=False):
    """A unit free for the whole stay (**inferred** shape, docs/wire-contract.md)."""

    unit_id: int
    code: str | None = None


class AvailabilityRecord(Tolerant, kw_only=True, gc=False):
    """One available stay of one accommodation type (reference, Get accommodationtype
    availability, response attributes)."""

    __guessed__: ClassVar[frozenset[str]] = frozenset({"prices", "units"})

    resource_id: int
    """The accommodation type."""
    arrival_date: date
    departure_date: date
    duration: int
    """Nights."""
    accommodation_kind_id: int | None = None
    location_id: int | None = None
    location_code: str | None = None
    max_capacity: int | None = None
    pet_capacity: int | None = None
    """0 when all pet-allowing units are sold out (reference)."""
    prices: list[Price] = msgspec.field(default_factory=list)
    units: list[AvailabilityUnit] = msgspec.field(default_factory=list)


class AvailabilityRequest(Model, kw_only=True):
    """The availability query: query parameters for ``GET`` or the JSON body for ``POST``
    (reference, Get accommodationtype availability; the guide's Reservation Flow uses POST).

    ``arrival_date_to`` is inclusive. The widest window one call may cover is not documented;
    the harvest splits ranges into windows of at most 30 days.
    """

    arrival_date_from: date
    arrival_date_to: date
    distribution_channel_code: str | None = None
    distribution_channel_id: int | None = None
    duration: list[int] | None = None
    """Nights; several values allowed ("may repeat or be comma separated")."""
    include_all_prices: bool | None = None
    include_hidden_offers: bool | None = None
    location_id: int | None = None
    offer_code: str | None = None
    offer_id: int | None = None
    rate_type_id: int | None = None
    resource_id: int | None = None

    def __post_init__(self) -> None:
        if self.arrival_date_to < self.arrival_date_from:
            raise ValueError("arrivalDateTo must not be before arrivalDateFrom")

    def to_params(self) -> dict[str, str]:
        """Render as query parameters (camelCase; dates ISO; durations comma separated)."""
        params: dict[str, str] = {}
        for name, value in _camel_items(self):
            if isinstance(value, bool):
                params[name] = "true" if value else "false"
            elif isinstance(value, list):
                params[name] = ",".join(str(v) for v in value)
            elif isinstance(value, date):
                params[name] = value.isoformat()
            else:
                params[name] = str(value)
        return params


def _camel_items(obj: Model) -> list[tuple[str, object]]:
    # encode_fields holds the renamed (camelCase) names in field order.
    names = type(obj).__struct_encode_fields__
    values = (getattr(obj, f) for f in type(obj).__struct_fields__)
    return [(n, v) for n, v in zip(names, values, strict=True) if v is not None]
