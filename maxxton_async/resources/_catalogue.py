"""Master data: accommodation types, units, locations, distribution channels, offers, owners.

Paths, id fields and models come from the endpoint catalogue (``_endpoints.ENTITIES``), which
the event sync's refresh reads too; it follows the guide's Event Flow, which names for each
event type the single-record endpoint and the batch form ``?filter=<idField>:[…]``:
accommodation types and offers are *resources* keyed by ``resourceId`` ("GET
/maxxton/v2/offers?filter=resourceId:[…]"), units by ``unitId``, locations by ``locationId``,
distribution channels by ``distributionChannelId``, owners by ``ownerId``. Additions and
allotments have batch forms too (``accommodationtypes/additions``, ``offers/additions``,
``allotments``, all ``filter=resourceId:[…]``): :meth:`AccommodationTypes.additions`,
:meth:`AccommodationTypes.allotments`, :meth:`Offers.additions`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from .._endpoints import ENTITIES, REFRESH, RefreshSpec
from .._lookup import fetch_by_ids
from ..models import EventType
from ..models._accommodation import AccommodationType, Location, Unit
from ..models._channels import DistributionChannel, Offer, Owner
from ._base import Headers, ListResource, check_id

__all__ = [
    "AccommodationTypes",
    "DistributionChannels",
    "Locations",
    "Offers",
    "Owners",
    "Units",
]


class AccommodationTypes(ListResource[AccommodationType]):
    """``/maxxton/v2/accommodationtypes`` (id ``resourceId``)."""

    _entity = ENTITIES["accommodation_types"]

    async def details(self, resource_id: int, *, headers: Headers | None = None) -> Any:
        """``GET /accommodationtypes/{resourceId}/details`` (guide, Event Flow: the refresh call
        for ACCOMMODATION_TYPE_EVENT), as plain JSON: its full schema is not in the reference."""
        path = f"{self._path}/{check_id(resource_id)}/details"
        return await self._client.request("GET", path, headers=headers)

    async def additions(
        self, resource_ids: Iterable[int], *, headers: Headers | None = None
    ) -> dict[int, builtins.list[Any]]:
        """The additions of many accommodation types at once:
        ``GET accommodationtypes/additions?filter=resourceId:[…]`` (guide, Event Flow,
        ADDITION_EVENT). Plain JSON records (their shape is not documented), by
        ``resourceId``; a type without additions is absent."""
        return await _lists(
            self, REFRESH[EventType.ADDITION_EVENT]["ACCOMMODATIONTYPE"], resource_ids, headers
        )

    async def allotments(
        self, resource_ids: Iterable[int], *, headers: Headers | None = None
    ) -> dict[int, builtins.list[Any]]:
        """The allotments of many accommodation types at once:
        ``GET allotments?filter=resourceId:[…]`` (guide, Event Flow, ALLOTMENT_EVENT).
        Plain JSON records, by ``resourceId``."""
        return await _lists(self, REFRESH[EventType.ALLOTMENT_EVENT][None], resource_ids, headers)


class Units(ListResource[Unit]):
    """``/maxxton/v2/units`` (id ``unitId``)."""

    _entity = ENTITIES["units"]

    async def details(self, unit_id: int, *, headers: Headers | None = None) -> Any:
        """``GET /units/{unitId}/details`` (guide, Event Flow, UNIT_EVENT), as plain JSON."""
        path = f"{self._path}/{check_id(unit_id)}/details"
        return await self._client.request("GET", path, headers=headers)


class Locations(ListResource[Location]):
    """``/maxxton/v2/locations`` (id ``locationId``; events call them resorts)."""

    _entity = ENTITIES["locations"]

    async def details(self, location_id: int, *, headers: Headers | None = None) -> Any:
        """``GET /locations/{locationId}/details`` (guide, Event Flow, RESORT_EVENT), as plain
        JSON."""
        path = f"{self._path}/{check_id(location_id)}/details"
        return await self._client.request("GET", path, headers=headers)


class DistributionChannels(ListResource[DistributionChannel]):
    """``/maxxton/v2/distributionchannels`` (id ``distributionChannelId``; the list answers
    204 when nothing matches, which :meth:`list` turns into an empty page)."""

    _entity = ENTITIES["distribution_channels"]


class Offers(ListResource[Offer]):
    """``/maxxton/v2/offers`` (id ``resourceId``: offers are resources, guide, OFFER_EVENT)."""

    _entity = ENTITIES["offers"]

    async def additions(
        self, resource_ids: Iterable[int], *, headers: Headers | None = None
    ) -> dict[int, builtins.list[Any]]:
        """The additions of many offers at once: ``GET offers/additions?filter=resourceId:[…]``
        (guide, Event Flow, ADDITION_EVENT). Plain JSON records, by ``resourceId``."""
        return await _lists(self, REFRESH[EventType.ADDITION_EVENT]["OFFER"], resource_ids, headers)


class Owners(ListResource[Owner]):
    """``/maxxton/v2/owners`` (id ``ownerId``)."""

    _entity = ENTITIES["owners"]


async def _lists(
    resource: ListResource[Any],
    spec: RefreshSpec,
    ids: Iterable[int],
    headers: Headers | None,
) -> dict[int, builtins.list[Any]]:
    wanted = [check_id(i) for i in ids]
    if not wanted:
        return {}
    found, _ = await fetch_by_ids(
        resource._client,
        spec.path,
        spec.model,
        id_field=spec.id_field,
        id_attr=spec.id_attr,
        ids=wanted,
        headers=headers,
        many=spec.many,
    )
    return found
