"""Mandatory costs of available stays: ``POST /maxxton/v2/accommodationtypes/availability/implies``.

The guide's Reservation Flow (1, option 2): "In case you also would like to fetch all the
mandatory costs (implies) to add this to your index, the following call can be used". The
body is the availability query's; the answer's shape is **inferred** (docs/wire-contract.md,
Implies): a plain JSON array, one item per stay, each listing the stay's mandatory costs.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import msgspec

from ._base import Model, Tolerant

__all__ = ["ImpliedCost", "StayImplies"]


class ImpliedCost(Model, kw_only=True, gc=False):
    """One mandatory cost of a stay (cleaning, tourist tax, ...; **inferred** shape)."""

    addon_id: int
    """The add-on the cost is booked as."""
    code: str | None = None
    name: str | None = None
    price: float
    """The cost for the whole stay."""
    currency_code: str | None = None


class StayImplies(Tolerant, kw_only=True, gc=False):
    """The mandatory costs of one stay of one accommodation type (**inferred** shape)."""

    __guessed__: ClassVar[frozenset[str]] = frozenset(
        {"resource_id", "arrival_date", "duration", "implies"}
    )

    resource_id: int
    arrival_date: date
    duration: int
    implies: list[ImpliedCost] = msgspec.field(default_factory=list)

    @property
    def total(self) -> float:
        """The sum of the stay's mandatory costs."""
        return round(sum(c.price for c in self.implies), 2)
