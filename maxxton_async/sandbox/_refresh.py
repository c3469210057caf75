"""The refresh endpoints the guide's Event Flow names for additions, allotments, add-ons,
implies, rates, rentability and reservability.

Batch (guide, Event Flow): ``GET accommodationtypes/additions?filter=resourceId:[…]``,
``GET offers/additions?filter=resourceId:[…]`` (ADDITION_EVENT), ``GET
allotments?filter=resourceId:[…]`` (ALLOTMENT_EVENT): paged lists like every other, filterable
and sortable, several records per resource. Per id: ``add-ons/{resourceId}`` (ADDON_EVENT),
``accommodationtypes|add-ons|offers/{resourceId}/implies`` and ``units/{unitId}/implies``
(IMPLY_EVENT), ``accommodationtype/{resourceId}/rates`` (the guide's singular spelling) and
``offers/{resourceId}/rates`` (RATE_EVENT), ``rentability/config?resourceId=``
(RENTABILITY_EVENT), ``resourcereservability?resourceId=`` and ``unitreservability?unitId=``
(RESERVABILITY_EVENT), plus the per-resource forms of additions and allotments.

The record shapes are **inferred** (docs/wire-contract.md): each carries the id it was asked
for and a ``revision`` that counts the events logged for it, so a refresh after an event sees
the change. Records are a pure function of the seed, the ids and those counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from ._data import SandboxData, mix
from ._query import (
    QueryError,
    build_predicate,
    infer_schema,
    page_params,
    paginate,
    parse_sort,
    sort_records,
)
from ._state import STATE_KEY

__all__ = ["add_refresh_routes"]

Record = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_JSON = "application/json"


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(payload), status=status, content_type=_JSON)


def _error(request: web.Request, status: int, message: str) -> web.Response:
    # Same Spring-style body as every other sandbox error (wire contract, inferred).
    from ._app import spring_error

    return spring_error(request, status, message)


_REVISIONS: dict[int, tuple[int, int, dict[tuple[str, int], int]]] = {}


def _revision(data: SandboxData, event_type: str, entity_id: int) -> int:
    """How many ``event_type`` events name ``entity_id`` (cached per dataset version)."""
    key = id(data)
    cached = _REVISIONS.get(key)
    if cached is None or cached[0] != data.version or cached[1] != len(data.events):
        counts: dict[tuple[str, int], int] = {}
        for event in data.events:
            pair = (event["eventType"], event["entityId"])
            counts[pair] = counts.get(pair, 0) + 1
        cached = (data.version, len(data.events), counts)
        _REVISIONS.clear()  # one dataset per process at a time in practice; never grows
        _REVISIONS[key] = cached
    return cached[2].get((event_type, entity_id), 0)


def _additions(data: SandboxData, resource_id: int) -> list[Record]:
    rev = _revision(data, "ADDITION_EVENT", resource_id)
    addons = data.addon_ids
    count = 1 + mix(data.seed, resource_id, 11) % 3
    out: list[Record] = []
    for i in range(count):
        addon = addons[mix(data.seed, resource_id, i) % len(addons)] if addons else 0
        out.append(
            {
                "additionId": resource_id * 10 + i,
                "resourceId": resource_id,
                "additionResourceId": addon,
                "mandatory": i == 0,
                "price": round(5 + (mix(data.seed, resource_id, i, rev) % 400) / 10, 2),
                "revision": rev,
            }
        )
    return out


def _allotments(data: SandboxData, resource_id: int) -> list[Record]:
    rev = _revision(data, "ALLOTMENT_EVENT", resource_id)
    channels = sorted(data.distribution_channels)
    out: list[Record] = []
    for i, dc_id in enumerate(channels[:2]):
        start = data.start_date + dt.timedelta(days=7 * i)
        out.append(
            {
                "allotmentId": resource_id * 10 + i,
                "resourceId": resource_id,
                "distributionChannelId": dc_id,
                "startDate": start.isoformat(),
                "endDate": (start + dt.timedelta(days=28)).isoformat(),
                "quantity": 1 + mix(data.seed, resource_id, dc_id, rev) % 4,
                "revision": rev,
            }
        )
    return out


def _batch(source: Callable[[SandboxData, int], list[Record]], resources: str) -> Handler:
    """A paged list of ``source`` records of every resource, filter/sort/page as any list."""

    async def handler(request: web.Request) -> web.StreamResponse:
        state = request.app[STATE_KEY]
        data = state.data
        ids = data.offers if resources == "offers" else data.accommodation_types
        records = [r for rid in ids for r in source(data, rid)]
        query = request.query
        try:
            number, size = page_params(query.get("page"), query.get("size"), state.max_page_size)
            schema = infer_schema(records)
            predicate = build_predicate(query.getall("filter", []), schema)
            keys = parse_sort(query.getall("sort", []), schema)
        except QueryError as exc:
            return _error(request, 400, str(exc))
        if predicate is not None:
            records = [r for r in records if predicate(r)]
        if keys:
            records = sort_records(records, keys)
        return _json(paginate(records, number, size, bool(keys)).envelope())

    return handler


def _one(
    kind: str,
    id_name: str,
    exists: Callable[[SandboxData, int], bool],
    answer: Callable[[SandboxData, int], Any],
    *,
    in_query: bool = False,
) -> Handler:
    """A per-id endpoint: 404 for an id the sandbox does not have (reference style)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        data = request.app[STATE_KEY].data
        raw = request.query.get(id_name) if in_query else request.match_info.get(id_name)
        try:
            entity_id = int(raw or "")
        except ValueError:
            return _error(request, 400, f"{id_name} is required and must be an integer")
        if not exists(data, entity_id):
            return _error(request, 404, f"No {kind} found for given {kind} id.")
        return _json(answer(data, entity_id))

    return handler


def _is_type(data: SandboxData, rid: int) -> bool:
    return rid in data.accommodation_types


def _is_offer(data: SandboxData, rid: int) -> bool:
    return rid in data.offers


def _is_addon(data: SandboxData, rid: int) -> bool:
    return rid in data.addon_ids


def _is_unit(data: SandboxData, uid: int) -> bool:
    return uid in data.units


def _is_resource(data: SandboxData, rid: int) -> bool:
    return _is_type(data, rid) or _is_offer(data, rid) or _is_addon(data, rid)


def _addon(data: SandboxData, rid: int) -> Record:
    rev = _revision(data, "ADDON_EVENT", rid)
    return {
        "resourceId": rid,
        "code": f"ADDON-{rid}",
        "name": f"Extra {rid}",
        "price": round(2 + (mix(data.seed, rid, rev) % 300) / 10, 2),
        "revision": rev,
    }


def _implies(id_field: str) -> Callable[[SandboxData, int], list[Record]]:
    def answer(data: SandboxData, entity_id: int) -> list[Record]:
        rev = _revision(data, "IMPLY_EVENT", entity_id)
        addons = data.addon_ids
        implied = addons[mix(data.seed, entity_id, rev) % len(addons)] if addons else 0
        return [{id_field: entity_id, "impliedResourceId": implied, "quantity": 1, "revision": rev}]

    return answer


def _rates(data: SandboxData, rid: int) -> list[Record]:
    rev = _revision(data, "RATE_EVENT", rid)
    return [
        {
            "resourceId": rid,
            "rateTypeId": 1 + i,
            "price": round(50 + (mix(data.seed, rid, i, rev) % 2000) / 10, 2),
            "revision": rev,
        }
        for i in range(2)
    ]


def _rentability(data: SandboxData, rid: int) -> Record:
    rev = _revision(data, "RENTABILITY_EVENT", rid)
    cfg = data.resource_config.get(rid)
    return {
        "resourceId": rid,
        "durations": list(cfg.durations) if cfg else [],
        "arrivalWeekdays": list(cfg.arrival_weekdays) if cfg else [],
        "revision": rev,
    }


def _resource_reservability(data: SandboxData, rid: int) -> Record:
    rev = _revision(data, "RESERVABILITY_EVENT", rid)
    return {"resourceId": rid, "units": len(data.units_by_type.get(rid, ())), "revision": rev}


def _unit_reservability(data: SandboxData, uid: int) -> Record:
    rev = _revision(data, "RESERVABILITY_EVENT", uid)
    return {"unitId": uid, "reservable": not data.units[uid]["archived"], "revision": rev}


def add_refresh_routes(app: web.Application, prefix: str) -> None:
    """Register the refresh endpoints under ``prefix`` (``/maxxton/v2``).

    Call before the generic ``{name}/{id}`` routes: fixed paths must not be shadowed.
    """
    r = app.router
    p = prefix
    r.add_get(f"{p}/accommodationtypes/additions", _batch(_additions, "accommodationtypes"))
    r.add_get(f"{p}/offers/additions", _batch(_additions, "offers"))
    r.add_get(f"{p}/allotments", _batch(_allotments, "accommodationtypes"))
    rid = "{resourceId:\\d+}"
    r.add_get(
        f"{p}/accommodationtypes/{rid}/additions",
        _one("accommodation type", "resourceId", _is_type, _additions),
    )
    r.add_get(f"{p}/offers/{rid}/additions", _one("offer", "resourceId", _is_offer, _additions))
    r.add_get(
        f"{p}/accommodationtypes/{rid}/allotments",
        _one("accommodation type", "resourceId", _is_type, _allotments),
    )
    r.add_get(f"{p}/add-ons/{rid}", _one("add-on", "resourceId", _is_addon, _addon))
    implies = _implies("resourceId")
    r.add_get(
        f"{p}/accommodationtypes/{rid}/implies",
        _one("accommodation type", "resourceId", _is_type, implies),
    )
    r.add_get(f"{p}/add-ons/{rid}/implies", _one("add-on", "resourceId", _is_addon, implies))
    r.add_get(f"{p}/offers/{rid}/implies", _one("offer", "resourceId", _is_offer, implies))
    r.add_get(
        f"{p}/units/{{unitId:\\d+}}/implies",
        _one("unit", "unitId", _is_unit, _implies("unitId")),
    )
    r.add_get(
        f"{p}/accommodationtype/{rid}/rates",
        _one("accommodation type", "resourceId", _is_type, _rates),
    )
    r.add_get(f"{p}/offers/{rid}/rates", _one("offer", "resourceId", _is_offer, _rates))
    r.add_get(
        f"{p}/rentability/config",
        _one("resource", "resourceId", _is_resource, _rentability, in_query=True),
    )
    r.add_get(
        f"{p}/resourcereservability",
        _one("resource", "resourceId", _is_resource, _resource_reservability, in_query=True),
    )
    r.add_get(
        f"{p}/unitreservability",
        _one("unit", "unitId", _is_unit, _unit_reservability, in_query=True),
    )
