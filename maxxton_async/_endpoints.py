"""The one catalogue of entity endpoints: resource namespaces, ``get_many`` and the event sync's
refresh all read it, so a path or an id field is written once.

Source: the guide's Event Flow, which names, per event type, the endpoint that refreshes the
changed entity and, for most types, a batch form ``?filter=<idField>:[id1,id2,...]``:

* batch: reservations (``reservationId``), customers (``customerId``), accommodation types,
  offers (``resourceId``), units (``unitId``), locations (``locationId``), distribution channels
  (``distributionChannelId``), owners (``ownerId``); ADDITION_EVENT:
  ``accommodationtypes/additions?filter=resourceId:[…]`` and
  ``offers/additions?filter=resourceId:[…]``; ALLOTMENT_EVENT:
  ``allotments?filter=resourceId:[…]``. An addition or allotment list holds several records
  per resource, so their entities are lists.
* one call per id only: ADDON_EVENT (``add-ons/{resourceId}``), IMPLY_EVENT
  (``accommodationtypes|add-ons|offers/{resourceId}/implies``, ``units/{unitId}/implies``),
  RATE_EVENT (``accommodationtype/{resourceId}/rates`` -- the guide's spelling -- and
  ``offers/{resourceId}/rates``), RENTABILITY_EVENT (``rentability/config?resourceId=``),
  RESERVABILITY_EVENT (``resourcereservability?resourceId=``, ``unitreservability?unitId=``).
  These cost one call per changed id, so the event sync refreshes them only when asked to
  (``EventSync(per_id=...)``) and states the cost before it runs.

Which endpoint serves an event depends on its ``entityType`` where the guide says so ("Based
on the entityType, it can be identified if it's an accommodation type, unit, add-on, or
offer"). The shapes of additions, allotments, add-ons, implies, rates, rentability and
reservability records are not documented: they are delivered as plain JSON (**inferred**:
an addition or allotment record carries the ``resourceId`` it was filtered on;
docs/wire-contract.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .models import (
    AccommodationType,
    Customer,
    DistributionChannel,
    EventType,
    Location,
    Offer,
    Owner,
    Reservation,
    Unit,
)

__all__ = [
    "API",
    "ENTITIES",
    "REFRESH",
    "Entity",
    "RefreshSpec",
    "refresh_spec",
]

API: Final = "/maxxton/v2"
"""Base path of every endpoint (guide, URI Scheme)."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A list endpoint whose records have an id: ``GET {path}``, ``GET {path}/{id}``, and the
    batch form ``GET {path}?filter={id_field}:[…]`` (guide, Event Flow).

    Attributes:
        path: e.g. ``/maxxton/v2/reservations``.
        id_field: the wire name of the id, e.g. ``reservationId``.
        model: the struct records decode into.
        id_attr: the model attribute holding the id, e.g. ``reservation_id``.
    """

    path: str
    id_field: str
    model: type[Any]
    id_attr: str


#: The entities of the guide's batch refresh endpoints, by namespace name.
ENTITIES: Final[Mapping[str, Entity]] = {
    "reservations": Entity(f"{API}/reservations", "reservationId", Reservation, "reservation_id"),
    "customers": Entity(f"{API}/customers", "customerId", Customer, "customer_id"),
    "accommodation_types": Entity(
        f"{API}/accommodationtypes", "resourceId", AccommodationType, "resource_id"
    ),
    "units": Entity(f"{API}/units", "unitId", Unit, "unit_id"),
    "locations": Entity(f"{API}/locations", "locationId", Location, "location_id"),
    "distribution_channels": Entity(
        f"{API}/distributionchannels",
        "distributionChannelId",
        DistributionChannel,
        "distribution_channel_id",
    ),
    "offers": Entity(f"{API}/offers", "resourceId", Offer, "resource_id"),
    "owners": Entity(f"{API}/owners", "ownerId", Owner, "owner_id"),
}


@dataclass(frozen=True, slots=True)
class RefreshSpec:
    """How the event sync refreshes one group of changed ids.

    Attributes:
        path: the endpoint. For a per-id spec it holds ``{id}`` where the id goes in the path,
            or it is the plain path and the id goes in the query parameter ``id_field``.
        id_field: the wire name of the id (the batch filter field, or the query parameter).
        model: the struct batch records decode into; ``None`` for plain JSON (undocumented
            shapes), whose records are grouped by their ``id_field`` value.
        id_attr: the model attribute holding the id (``None`` with ``model=None``).
        per_id: one call per id (no batch form in the guide); only run when opted in.
        many: a batch answer holds several records per id (additions, allotments): the
            entity of an id is then the list of its records.
    """

    path: str
    id_field: str
    model: type[Any] | None = None
    id_attr: str | None = None
    per_id: bool = False
    many: bool = False

    @classmethod
    def of(cls, entity: Entity) -> RefreshSpec:
        """The batch refresh of a catalogue :class:`Entity`."""
        return cls(entity.path, entity.id_field, entity.model, entity.id_attr)

    def url_for(self, entity_id: int) -> tuple[str, dict[str, int] | None]:
        """Path and query of the per-id call for ``entity_id``."""
        if "{id}" in self.path:
            return self.path.replace("{id}", str(int(entity_id))), None
        return self.path, {self.id_field: int(entity_id)}


E = EventType
_AT = "ACCOMMODATIONTYPE"

#: The guide's refresh endpoints (Event Flow), by event type and then by ``entityType``
#: (``None``: whatever the entity type). AVAILABILITY_EVENT is refreshed by the availability
#: harvest instead (``EventSync(availability=...)``).
REFRESH: Final[Mapping[str, Mapping[str | None, RefreshSpec]]] = {
    E.RESERVATION_EVENT: {None: RefreshSpec.of(ENTITIES["reservations"])},
    E.CUSTOMER_EVENT: {None: RefreshSpec.of(ENTITIES["customers"])},
    E.ACCOMMODATION_TYPE_EVENT: {None: RefreshSpec.of(ENTITIES["accommodation_types"])},
    E.UNIT_EVENT: {None: RefreshSpec.of(ENTITIES["units"])},
    E.RESORT_EVENT: {None: RefreshSpec.of(ENTITIES["locations"])},
    E.DISTRIBUTIONCHANNEL_EVENT: {None: RefreshSpec.of(ENTITIES["distribution_channels"])},
    E.OFFER_EVENT: {None: RefreshSpec.of(ENTITIES["offers"])},
    E.OWNER_EVENT: {None: RefreshSpec.of(ENTITIES["owners"])},
    # "GET: maxxton/v2/accommodationtypes/additions?filter=resourceId:[…]" and
    # "GET: maxxton/v2/offers/additions?filter=resourceId:[…]" (ADDITION_EVENT).
    E.ADDITION_EVENT: {
        _AT: RefreshSpec(f"{API}/accommodationtypes/additions", "resourceId", many=True),
        "OFFER": RefreshSpec(f"{API}/offers/additions", "resourceId", many=True),
    },
    # "GET: /maxxton/v2/allotments?filter=resourceId:[…]" (ALLOTMENT_EVENT).
    E.ALLOTMENT_EVENT: {None: RefreshSpec(f"{API}/allotments", "resourceId", many=True)},
    E.ADDON_EVENT: {None: RefreshSpec(f"{API}/add-ons/{{id}}", "resourceId", per_id=True)},
    E.IMPLY_EVENT: {
        _AT: RefreshSpec(f"{API}/accommodationtypes/{{id}}/implies", "resourceId", per_id=True),
        "ADDON": RefreshSpec(f"{API}/add-ons/{{id}}/implies", "resourceId", per_id=True),
        "OFFER": RefreshSpec(f"{API}/offers/{{id}}/implies", "resourceId", per_id=True),
        "UNIT": RefreshSpec(f"{API}/units/{{id}}/implies", "unitId", per_id=True),
    },
    E.RATE_EVENT: {
        # The guide writes "accommodationtype" (singular) here, unlike everywhere else.
        _AT: RefreshSpec(f"{API}/accommodationtype/{{id}}/rates", "resourceId", per_id=True),
        "OFFER": RefreshSpec(f"{API}/offers/{{id}}/rates", "resourceId", per_id=True),
    },
    E.RENTABILITY_EVENT: {
        None: RefreshSpec(f"{API}/rentability/config", "resourceId", per_id=True),
    },
    E.RESERVABILITY_EVENT: {
        None: RefreshSpec(f"{API}/resourcereservability", "resourceId", per_id=True),
        "UNIT": RefreshSpec(f"{API}/unitreservability", "unitId", per_id=True),
    },
}


def refresh_spec(
    table: Mapping[str, Mapping[str | None, RefreshSpec] | RefreshSpec],
    event_type: str,
    entity_type: str | None,
) -> RefreshSpec | None:
    """The spec refreshing ``(event_type, entity_type)`` in ``table``: the entity type's own,
    else the event type's default (key ``None``), else ``None`` (not refreshed)."""
    entry = table.get(event_type)
    if entry is None or isinstance(entry, RefreshSpec):
        return entry
    spec = entry.get(entity_type) if entity_type is not None else None
    return spec if spec is not None else entry.get(None)
