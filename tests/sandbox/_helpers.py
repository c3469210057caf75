"""Shared helpers of the sandbox tests."""

from __future__ import annotations

from typing import Any

from maxxton_async.sandbox import Sandbox
from tests._support import available_stays


def bookable(sb: Sandbox, skip: int = 0) -> tuple[int, str, int]:
    """A stay the truth says is available: (resourceId, arrivalDate, duration)."""
    for index, (rid, arrival, duration, _) in enumerate(available_stays(sb)):
        if index == skip:
            return rid, arrival.isoformat(), duration
    raise AssertionError("no bookable stay in the first 60 days")


def booking_body(sb: Sandbox, **extra: Any) -> dict[str, Any]:
    """A valid POST /reservations body for a bookable stay."""
    rid, arrival, duration = bookable(sb)
    return {
        "distributionChannelCode": "WEB",
        "categoryCode": "ONLINE",
        "customerId": next(iter(sb.data.customers)),
        "accommodationTypes": [{"resourceId": rid, "arrivalDate": arrival, "duration": duration}],
        **extra,
    }
