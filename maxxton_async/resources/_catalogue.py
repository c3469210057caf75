"""Master data: accommodation types, units, locations, distribution channels, offers, owners.

Paths and id fields follow the guide's Event Flow, which names for each event type the
single-record endpoint and the batch form ``?filter=<idField>:[…]``: accommodation types and
offers are *resources* keyed by ``resourceId`` ("GET /maxxton/v2/offers?filter=resourceId:[…]"),
units by ``unitId``, locations by ``locationId``, distribution channels by
``distributionChannelId``, owners by ``ownerId``.
"""

from __future__ import annotations

from typing import Any

from ..models._accommodation import AccommodationType, Location, Unit
from ..models._channels import DistributionChannel, Offer, Owner
from ._base import API, Headers, ListResource, check_id

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

    _path = f"{API}/accommodationtypes"
    _model = AccommodationType
    _id_field = "resourceId"
    _id_attr = "resource_id"

    async def details(self, resource_id: int, *, headers: Headers | None = None) -> Any:
        """``GET /accommodationtypes/{resourceId}/details`` (guide, Event Flow: the refresh call
        for ACCOMMODATION_TYPE_EVENT), as plain JSON: its full schema is not in the reference."""
        path = f"{self._path}/{check_id(resource_id)}/details"
        return await self._client.request("GET", path, headers=headers)


class Units(ListResource[Unit]):
    """``/maxxton/v2/units`` (id ``unitId``)."""

    _path = f"{API}/units"
    _model = Unit
    _id_field = "unitId"
    _id_attr = "unit_id"

    async def details(self, unit_id: int, *, headers: Headers | None = None) -> Any:
        """``GET /units/{unitId}/details`` (guide, Event Flow, UNIT_EVENT), as plain JSON."""
        path = f"{self._path}/{check_id(unit_id)}/details"
        return await self._client.request("GET", path, headers=headers)


class Locations(ListResource[Location]):
    """``/maxxton/v2/locations`` (id ``locationId``; events call them resorts)."""

    _path = f"{API}/locations"
    _model = Location
    _id_field = "locationId"
    _id_attr = "location_id"

    async def details(self, location_id: int, *, headers: Headers | None = None) -> Any:
        """``GET /locations/{locationId}/details`` (guide, Event Flow, RESORT_EVENT), as plain
        JSON."""
        path = f"{self._path}/{check_id(location_id)}/details"
        return await self._client.request("GET", path, headers=headers)


class DistributionChannels(ListResource[DistributionChannel]):
    """``/maxxton/v2/distributionchannels`` (id ``distributionChannelId``; the list answers
    204 when nothing matches, which :meth:`list` turns into an empty page)."""

    _path = f"{API}/distributionchannels"
    _model = DistributionChannel
    _id_field = "distributionChannelId"
    _id_attr = "distribution_channel_id"


class Offers(ListResource[Offer]):
    """``/maxxton/v2/offers`` (id ``resourceId``: offers are resources, guide, OFFER_EVENT)."""

    _path = f"{API}/offers"
    _model = Offer
    _id_field = "resourceId"
    _id_attr = "resource_id"


class Owners(ListResource[Owner]):
    """``/maxxton/v2/owners`` (id ``ownerId``)."""

    _path = f"{API}/owners"
    _model = Owner
    _id_field = "ownerId"
    _id_attr = "owner_id"
