"""Availability and prices per stay: ``/maxxton/v2/accommodationtypes/availability``.

Method conflict (docs/wire-contract.md, Availability): the guide's Reservation Flow (option 2)
says ``POST`` ("to fetch all available stays and prices for all accommodation types"), its
Event Flow and the reference document ``GET`` with query parameters. The default is ``GET``
with the reference's parameter names; ``method="POST"`` sends the same names as a JSON body
(without ``resource_id``: every accommodation type). :meth:`Availability.implies` fetches the
stays' mandatory costs (``POST .../availability/implies``, same guide section). Both only
read, so both are retried (``idempotent=True`` for the POST). The answer
is a plain JSON array (docs/wire-contract.md), decoded as ``list[AvailabilityRecord]``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import msgspec

from ..models._availability import AvailabilityRecord, AvailabilityRequest
from ..models._base import encode
from ..models._implies import StayImplies
from ._base import API, Headers, Resource

__all__ = ["Availability"]

_RECORDS = list[AvailabilityRecord]
_IMPLIES = list[StayImplies]


class Availability(Resource):
    """``client.availability``: available stays and their prices."""

    _path = f"{API}/accommodationtypes/availability"

    async def get(
        self,
        *,
        arrival_from: date,
        arrival_to: date,
        resource_id: int | None = None,
        duration: int | Sequence[int] | None = None,
        distribution_channel_code: str | None = None,
        distribution_channel_id: int | None = None,
        location_id: int | None = None,
        offer_code: str | None = None,
        offer_id: int | None = None,
        rate_type_id: int | None = None,
        include_all_prices: bool | None = None,
        include_hidden_offers: bool | None = None,
        method: Literal["GET", "POST"] = "GET",
        headers: Headers | None = None,
        **extra: Any,
    ) -> builtins.list[AvailabilityRecord]:
        """Every available stay with arrival in ``[arrival_from, arrival_to]`` (inclusive).

        Give a distribution channel by code (the reference's query parameter) or by id, not
        both. ``extra`` holds further parameters named as on the wire (camelCase). The widest
        arrival window one call may cover is not documented: harvest large ranges in windows
        (:mod:`maxxton_async.harvest`).
        """
        if distribution_channel_code is not None and distribution_channel_id is not None:
            raise ValueError("give distribution_channel_code or distribution_channel_id, not both")
        durations: builtins.list[int] | None
        if duration is None:
            durations = None
        elif isinstance(duration, int):
            durations = [duration]
        else:
            durations = builtins.list(duration)
        request = AvailabilityRequest(
            arrival_date_from=arrival_from,
            arrival_date_to=arrival_to,
            resource_id=resource_id,
            duration=durations,
            distribution_channel_code=distribution_channel_code,
            distribution_channel_id=distribution_channel_id,
            location_id=location_id,
            offer_code=offer_code,
            offer_id=offer_id,
            rate_type_id=rate_type_id,
            include_all_prices=include_all_prices,
            include_hidden_offers=include_hidden_offers,
        )
        return await self.query(request, method=method, headers=headers, extra=extra)

    async def query(
        self,
        request: AvailabilityRequest,
        *,
        method: Literal["GET", "POST"] = "GET",
        headers: Headers | None = None,
        extra: dict[str, Any] | None = None,
    ) -> builtins.list[AvailabilityRecord]:
        """Send a prepared :class:`AvailabilityRequest` (``GET`` query or ``POST`` body)."""
        method_upper = method.upper()
        if method_upper == "GET":
            params: dict[str, Any] = {**request.to_params(), **(extra or {})}
            result: builtins.list[AvailabilityRecord] | None = await self._client.request(
                "GET", self._path, params=params, headers=headers, type=_RECORDS
            )
        elif method_upper == "POST":
            body = _body(request, extra)
            # Read-only: retrying cannot book or change anything (docs/wire-contract.md).
            result = await self._client.request(
                "POST", self._path, json=body, headers=headers, type=_RECORDS, idempotent=True
            )
        else:
            raise ValueError(f"method must be 'GET' or 'POST', got {method!r}")
        return result if result is not None else []

    async def implies(
        self,
        request: AvailabilityRequest,
        *,
        headers: Headers | None = None,
        extra: dict[str, Any] | None = None,
    ) -> builtins.list[StayImplies]:
        """The mandatory costs (cleaning, tourist tax, ...) of the stays ``request`` selects:
        ``POST /accommodationtypes/availability/implies`` with the availability body (guide,
        Reservation Flow option 2; answer shape **inferred**, docs/wire-contract.md). Read-only,
        so it is resent on failure."""
        result: builtins.list[StayImplies] | None = await self._client.request(
            "POST",
            f"{self._path}/implies",
            json=_body(request, extra),
            headers=headers,
            type=_IMPLIES,
            idempotent=True,
        )
        return result if result is not None else []


def _body(request: AvailabilityRequest, extra: dict[str, Any] | None) -> Any:
    if not extra:
        return request
    # Merge on the wire names: the struct encodes camelCase, extra is camelCase already.
    merged: dict[str, Any] = msgspec.json.decode(encode(request))
    merged.update(extra)
    return merged
