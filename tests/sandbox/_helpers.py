"""Shared helpers of the sandbox tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from maxxton_async.sandbox import Sandbox


def bookable(sb: Sandbox, skip: int = 0) -> tuple[int, str, int]:
    """A stay the truth says is available: (resourceId, arrivalDate, duration)."""
    found = 0
    for rid, cfg in sb.data.resource_config.items():
        for day in range(60):
            arrival = sb.data.start_date + dt.timedelta(days=day)
            for duration in cfg.durations:
                if sb.data.availability(rid, arrival, duration) is not None:
                    if found == skip:
                        return rid, arrival.isoformat(), duration
                    found += 1
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
