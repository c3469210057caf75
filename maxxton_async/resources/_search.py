"""Availability search (guide, Reservation Flow, option 1).

``POST /maxxton/v2/accommodationtypes/search`` and ``.../arrivalrangesearch`` (the guide
names both; bodies per the reference, docs/wire-contract.md). They only read, so they are
declared idempotent and retried like GETs.
"""

from __future__ import annotations

from typing import Any, Literal

from ..models._search import (
    MAX_DAYS_IN_RESULT,
    ArrivalRangeSearchRequest,
    SearchRequest,
    SearchResult,
)
from ._base import API, Headers, Resource, request_one

__all__ = ["Search"]

SearchSort = Literal[
    "offer_price_asc",
    "offer_price_desc",
    "offer_price_inclusive_asc",
    "offer_price_inclusive_desc",
    "priority_asc",
    "priority_desc",
]
"""The ``sort`` query values of accommodation type search (reference)."""


class Search(Resource):
    """``client.search``: what can be booked, for a date or a range of arrival dates."""

    _search_path = f"{API}/accommodationtypes/search"
    _range_path = f"{API}/accommodationtypes/arrivalrangesearch"

    async def accommodation_types(
        self,
        request: SearchRequest,
        *,
        sort: SearchSort | None = None,
        default_selection: Literal["nearest_arrival"] | None = None,
        headers: Headers | None = None,
        **params: Any,
    ) -> SearchResult:
        """``POST /accommodationtypes/search``: stays for one arrival date (or, with
        ``default_selection="nearest_arrival"`` and no date, the first available one).

        ``sort`` is the search's own order (cheapest first by default, reference), not the
        list endpoints' ``field,asc`` form, so it is sent as a plain query parameter.
        """
        query = {**params, "sort": sort, "defaultSelection": default_selection}
        return await request_one(
            self._client,
            "POST",
            self._search_path,
            params=query,
            json=request,
            headers=headers,
            type=SearchResult,
            idempotent=True,
            what="a search result",
        )

    async def arrival_range(
        self,
        request: ArrivalRangeSearchRequest,
        *,
        headers: Headers | None = None,
        **params: Any,
    ) -> SearchResult:
        """``POST /accommodationtypes/arrivalrangesearch``: stays arriving within
        ``number_of_days_in_result`` days of ``arrival_date_from``.

        Raises:
            ValueError: more than 30 days (reference: "max 30"), before anything is sent;
                checked again here because a struct's field can be changed after it was built.
        """
        days = request.number_of_days_in_result
        if days is not None and not 1 <= days <= MAX_DAYS_IN_RESULT:
            raise ValueError(
                f"numberOfDaysInResult must be between 1 and {MAX_DAYS_IN_RESULT}, got {days}"
            )
        return await request_one(
            self._client,
            "POST",
            self._range_path,
            params=params or None,
            json=request,
            headers=headers,
            type=SearchResult,
            idempotent=True,
            what="a search result",
        )
