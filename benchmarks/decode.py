"""Decode speed: the SDK's models against ``json.loads``, orjson, untyped msgspec and pydantic v2.

Four payloads from :mod:`benchmarks._data`: availability arrays and event pages of ~1 MB and
~20 MB. Each is decoded by

* ``sdk`` -- ``decoder_for(list[AvailabilityRecord])`` / ``decoder_for(Page[Event])``, the
  decoders the client itself uses (typed, validated, dates parsed, UTC date-times);
* ``json.loads`` and ``orjson.loads`` -- dicts and strings, nothing validated or parsed;
* ``msgspec untyped`` -- ``msgspec.json.decode`` into dicts;
* ``pydantic v2`` -- equivalent ``BaseModel``s (camelCase aliases, ``date``/``datetime``
  fields) through ``TypeAdapter.validate_json``, pydantic's fastest path.

Cases are interleaved within each round (one decode of every case, then the next round) and
the median is kept, so drifting load on a shared machine hits every case alike.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import statistics
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec
import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

from maxxton_async.models import AvailabilityRecord, Event, Page, decoder_for

from ._data import MB, availability_payload, events_payload

__all__ = ["CASES", "run"]

T = TypeVar("T")

#: Case names in report order; ``sdk`` is the subject, the others its alternatives.
CASES = ("sdk", "json.loads", "orjson", "msgspec untyped", "pydantic v2")


# -- pydantic models equivalent to the SDK's (same fields, optionality and types) -----------
# Written out again on purpose: this benchmark compares pydantic's decoding of the same shapes
# against the SDK's msgspec structs, and pydantic cannot decode into those structs. Keep the
# fields in step with maxxton_async.models when those change (``_check`` below compares the
# item counts of both decoders on every payload).


class _PModel(BaseModel):
    # Camel-case wire names, unknown fields ignored: the SDK's Model conventions.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class PPrice(_PModel):
    """``Price`` as a pydantic model."""

    price: float
    price_inclusive: float | None = None
    rate_type_id: int | None = None
    offer_id: int | None = None
    offer_code: str | None = None
    currency_code: str | None = None


class PUnit(_PModel):
    """``AvailabilityUnit`` as a pydantic model."""

    unit_id: int
    code: str | None = None


class PAvailabilityRecord(_PModel):
    """``AvailabilityRecord`` as a pydantic model."""

    resource_id: int
    arrival_date: dt.date
    departure_date: dt.date
    duration: int
    accommodation_kind_id: int | None = None
    location_id: int | None = None
    location_code: str | None = None
    max_capacity: int | None = None
    pet_capacity: int | None = None
    prices: list[PPrice] = []
    units: list[PUnit] = []


class PEvent(_PModel):
    """``Event`` as a pydantic model."""

    event_id: int
    event_type: str
    entity_id: int
    entity_action: str | None = None
    entity_type: str | None = None
    old_entity_id: int | None = None
    creation_date: dt.datetime | None = None


class PPageSort(_PModel):
    """``PageSort`` as a pydantic model."""

    sorted: bool | None = None
    unsorted: bool | None = None
    empty: bool | None = None


class PPage(_PModel, Generic[T]):
    """``Page[T]`` as a pydantic model."""

    content: list[T]
    number: int
    size: int
    total_elements: int
    total_pages: int
    number_of_elements: int | None = None
    first: bool | None = None
    last: bool | None = None
    empty: bool | None = None
    sort: PPageSort | list[dict[str, Any]] | None = None


def _cases(payload: bytes, sdk_type: Any, pyd_type: Any) -> dict[str, Callable[[], object]]:
    sdk = decoder_for(sdk_type)
    untyped = msgspec.json.Decoder()
    adapter: TypeAdapter[Any] = TypeAdapter(pyd_type)
    return {
        "sdk": lambda: sdk.decode(payload),
        "json.loads": lambda: json.loads(payload),
        "orjson": lambda: orjson.loads(payload),
        "msgspec untyped": lambda: untyped.decode(payload),
        "pydantic v2": lambda: adapter.validate_json(payload),
    }


def _check(payload: bytes, sdk_type: Any, pyd_type: Any) -> int:
    """Both typed decoders agree on the item count (and so read the same data)."""
    decoded = decoder_for(sdk_type).decode(payload)
    pyd = TypeAdapter(pyd_type).validate_json(payload)
    items = decoded if isinstance(decoded, list) else decoded.content
    pyd_items = pyd if isinstance(pyd, list) else pyd.content
    if len(items) != len(pyd_items):
        raise AssertionError("the SDK and pydantic decoded different item counts")
    return len(items)


def _bench(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():  # warm up: decoder construction, allocator, caches
        fn()
    for _ in range(rounds):
        for name, fn in cases.items():
            # Collect first so that one case's garbage is not paid by the next one; the
            # collector stays on during the decode, as in an application.
            gc.collect()
            t0 = time.perf_counter()
            result = fn()
            times[name].append(time.perf_counter() - t0)
            del result
    return {name: statistics.median(ts) * 1e3 for name, ts in times.items()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Decode every payload with every case; one row per payload.

    Each row: ``payload``, ``bytes``, ``items``, ``rounds``, ``ms`` (``{case: median ms}``)
    and ``speedup`` (``{case: case ms / sdk ms}``: how many times faster the SDK is).
    """
    rows: list[dict[str, Any]] = []
    specs: list[tuple[str, Callable[[], bytes], Any, Any, int]] = [
        ("availability 1 MB", lambda: availability_payload(MB), list[AvailabilityRecord],
         list[PAvailabilityRecord], 9 if quick else 25),
        ("events 1 MB", lambda: events_payload(MB), Page[Event], PPage[PEvent],
         9 if quick else 25),
        ("availability 20 MB", lambda: availability_payload(20 * MB), list[AvailabilityRecord],
         list[PAvailabilityRecord], 3 if quick else 5),
        ("events 20 MB", lambda: events_payload(20 * MB), Page[Event], PPage[PEvent],
         3 if quick else 5),
    ]  # fmt: skip
    for name, make, sdk_type, pyd_type, rounds in specs:
        payload = make()
        items = _check(payload, sdk_type, pyd_type)
        ms = _bench(_cases(payload, sdk_type, pyd_type), rounds)
        rows.append(
            {
                "payload": name,
                "bytes": len(payload),
                "items": items,
                "rounds": rounds,
                "ms": ms,
                "speedup": {case: ms[case] / ms["sdk"] for case in CASES},
            }
        )
        del payload
        gc.collect()
    return rows


if __name__ == "__main__":
    for row in run(quick=True):
        print(row["payload"], {k: f"{v:.2f} ms" for k, v in row["ms"].items()})
        print("   SDK is faster by", {k: f"{v:.2f}x" for k, v in row["speedup"].items()})
