"""Deterministic decode payloads: availability arrays and event pages of a target size.

The shapes follow the wire (camelCase objects, ISO dates, ``...Z`` date-times), as the
sandbox and the SDK's models expect them; the same ``seed`` and size give the same bytes,
so runs on different days decode the very same input.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import msgspec

__all__ = ["MB", "availability_payload", "events_payload"]

MB = 1_000_000

_EVENT_TYPES = (
    "RESERVATION_EVENT",
    "CUSTOMER_EVENT",
    "AVAILABILITY_EVENT",
    "RATE_EVENT",
    "UNIT_EVENT",
    "ACCOMMODATION_TYPE_EVENT",
)
_ENTITY = ("RESERVATION", "CUSTOMER", "ACCOMMODATIONTYPE", "UNIT", "OFFER")
_ACTIONS = ("CREATE", "UPDATE", "UPDATE", "UPDATE", "DELETE")


def _availability_record(rnd: random.Random, i: int, start: dt.date) -> dict[str, Any]:
    arrival = start + dt.timedelta(days=i % 365)
    duration = rnd.choice((2, 3, 4, 7, 14))
    prices = []
    for k in range(rnd.randint(1, 3)):
        amount = round(rnd.uniform(100, 3000), 2)
        prices.append(
            {
                "price": amount,
                "priceInclusive": round(amount * 1.08, 2),
                "rateTypeId": rnd.randint(1, 9),
                "offerId": None if k == 0 else rnd.randint(100, 999),
                "offerCode": None if k == 0 else f"OFF{rnd.randint(1, 99)}",
                "currencyCode": "EUR",
            }
        )
    return {
        "accommodationKindId": rnd.randint(1, 5),
        "arrivalDate": arrival.isoformat(),
        "departureDate": (arrival + dt.timedelta(days=duration)).isoformat(),
        "duration": duration,
        "prices": prices,
        "locationId": rnd.randint(1, 40),
        "locationCode": f"LOC{rnd.randint(1, 40)}",
        "resourceId": rnd.randint(1000, 9999),
        "maxCapacity": rnd.randint(2, 12),
        "petCapacity": rnd.randint(0, 2),
        "units": [
            {"unitId": rnd.randint(1, 99_999), "code": f"U{rnd.randint(1, 999)}"}
            for _ in range(rnd.randint(1, 4))
        ],
    }


def _event(rnd: random.Random, i: int, epoch: dt.datetime) -> dict[str, Any]:
    created = epoch + dt.timedelta(seconds=i * 7 + rnd.randint(0, 6))
    event: dict[str, Any] = {
        "eventId": 1_000_000 + i,
        "eventType": rnd.choice(_EVENT_TYPES),
        "entityId": rnd.randint(1, 5_000_000),
        "entityType": rnd.choice(_ENTITY),
        "entityAction": rnd.choice(_ACTIONS),
        "creationDate": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if i % 50 == 0:
        event["entityAction"] = "MERGE"
        event["oldEntityId"] = rnd.randint(1, 5_000_000)
    return event


def _fill(target: int, make: Any) -> list[dict[str, Any]]:
    """Items from ``make(i)`` until their JSON array reaches ``target`` bytes (bounded)."""
    items: list[dict[str, Any]] = []
    size = 2  # the brackets
    limit = target // 20 + 10  # no item is under 20 bytes: the loop always ends
    encode = msgspec.json.encode
    while size < target and len(items) < limit:
        item = make(len(items))
        items.append(item)
        size += len(encode(item)) + 1  # the item and its comma: exact, and linear time
    return items


def availability_payload(target_bytes: int = MB, seed: int = 7) -> bytes:
    """A JSON array of availability records of about ``target_bytes`` (reference shape)."""
    rnd = random.Random(seed)
    start = dt.date(2027, 1, 1)
    items = _fill(target_bytes, lambda i: _availability_record(rnd, i, start))
    return msgspec.json.encode(items)


def events_payload(target_bytes: int = MB, seed: int = 11) -> bytes:
    """A Spring page envelope of events of about ``target_bytes`` (``Page[Event]`` shape)."""
    rnd = random.Random(seed)
    epoch = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    items = _fill(target_bytes, lambda i: _event(rnd, i, epoch))
    n = len(items)
    page = {
        "content": items,
        "number": 0,
        "size": n,
        "numberOfElements": n,
        "totalElements": n,
        "totalPages": 1,
        "first": True,
        "last": True,
        "empty": n == 0,
        "sort": {"sorted": True, "unsorted": False, "empty": False},
    }
    return msgspec.json.encode(page)
