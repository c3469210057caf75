"""Which msgspec options make the bulk models fastest? (``python benchmarks/decode_options.py``)

Decodes a ~1 MB availability answer (a JSON array of ``AvailabilityRecord`` objects, the
shape of ``/accommodationtypes/availability``, docs/wire-contract.md) and a page of events
several ways and prints the best and median time of each, relative to ``json.loads``:

* ``json.loads`` / ``orjson.loads`` (if installed) / untyped ``msgspec``: dicts and strings;
* the shipped models (``gc=False``) and the same structs with GC tracking (``gc=True``);
* ``array_like=True`` on an array-encoded copy: fastest, but Maxxton sends JSON *objects*, so
  it only fits one's own storage or IPC, never the wire;
* encoding with and without ``omit_defaults`` (``cache_hash`` needs ``frozen=True`` and
  only speeds up hashing, which the models never need, so it is not measured).

Options: ``--records N`` (default sized to ~1 MB), ``--repeat R``. Loops are bounded.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, get_type_hints

import msgspec

from maxxton_async.models import AvailabilityRecord, AvailabilityUnit, Event, Page, Price, encode


def _records(n: int, seed: int = 7) -> list[AvailabilityRecord]:
    rnd = random.Random(seed)
    start = date(2026, 4, 1)
    out = []
    for i in range(n):
        arrival = start + timedelta(days=i % 120)
        duration = rnd.choice((2, 3, 4, 7, 14))
        prices = [
            Price(
                rate_type_id=rnd.randint(1, 9),
                offer_id=None if k == 0 else rnd.randint(100, 999),
                offer_code=None if k == 0 else f"OFF{rnd.randint(1, 99)}",
                price=round(rnd.uniform(100, 3000), 2),
                price_inclusive=round(rnd.uniform(120, 3300), 2),
                currency_code="EUR",
            )
            for k in range(rnd.randint(1, 3))
        ]
        units = [
            AvailabilityUnit(unit_id=rnd.randint(1, 99999), code=f"U{rnd.randint(1, 999)}")
            for _ in range(rnd.randint(1, 4))
        ]
        out.append(
            AvailabilityRecord(
                accommodation_kind_id=rnd.randint(1, 5),
                arrival_date=arrival,
                departure_date=arrival + timedelta(days=duration),
                duration=duration,
                prices=prices,
                location_id=rnd.randint(1, 40),
                location_code=f"LOC{rnd.randint(1, 40)}",
                resource_id=rnd.randint(1000, 9999),
                max_capacity=rnd.randint(2, 12),
                pet_capacity=rnd.randint(0, 2),
                units=units,
            )
        )
    return out


def _variants(**opts: Any) -> type[msgspec.Struct]:
    """The availability structs rebuilt with other options (same fields and renames)."""
    base = {"rename": "camel", "kw_only": True, **opts}
    price = msgspec.defstruct(
        "Price",
        [
            ("price", float),
            ("price_inclusive", float | None, None),
            ("rate_type_id", int | None, None),
            ("offer_id", int | None, None),
            ("offer_code", str | None, None),
            ("currency_code", str | None, None),
        ],
        **base,
    )
    unit = msgspec.defstruct("Unit", [("unit_id", int), ("code", str | None, None)], **base)
    return msgspec.defstruct(
        "AvailabilityRecord",
        [
            ("resource_id", int),
            ("arrival_date", date),
            ("departure_date", date),
            ("duration", int),
            ("accommodation_kind_id", int | None, None),
            ("location_id", int | None, None),
            ("location_code", str | None, None),
            ("max_capacity", int | None, None),
            ("pet_capacity", int | None, None),
            ("prices", list[price], msgspec.field(default_factory=list)),  # type: ignore[valid-type]
            ("units", list[unit], msgspec.field(default_factory=list)),  # type: ignore[valid-type]
        ],
        **base,
    )


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2100, help="records (~1 MB at 2100)")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    repeat = max(3, min(args.repeat, 500))

    records = _records(args.records)
    payload = encode(records)
    print(f"availability payload: {len(records)} records, {len(payload) / 1e6:.2f} MB")

    gc_on = _variants(gc=True)
    gc_off = _variants(gc=False)
    arr = _variants(gc=False, array_like=True)
    as_arr = msgspec.convert(
        msgspec.json.decode(payload, type=list[gc_off]),  # type: ignore[valid-type]
        list[arr],  # type: ignore[valid-type]
        from_attributes=True,
    )
    arr_payload = msgspec.json.encode(as_arr)
    print(f"array_like copy: {len(arr_payload) / 1e6:.2f} MB (internal use only)")

    cases: list[tuple[str, Callable[[], object]]] = [
        ("json.loads (dicts, str dates)", lambda: json.loads(payload)),
    ]
    import orjson  # the `bench` extra installs it

    cases.append(("orjson.loads (dicts, str dates)", lambda: orjson.loads(payload)))
    dec_any = msgspec.json.Decoder()
    dec_shipped = msgspec.json.Decoder(list[AvailabilityRecord])
    dec_gc_on = msgspec.json.Decoder(list[gc_on])  # type: ignore[valid-type]
    dec_gc_off = msgspec.json.Decoder(list[gc_off])  # type: ignore[valid-type]
    dec_arr = msgspec.json.Decoder(list[arr])  # type: ignore[valid-type]
    cases += [
        ("msgspec untyped (dicts)", lambda: dec_any.decode(payload)),
        ("msgspec typed, gc=True", lambda: dec_gc_on.decode(payload)),
        ("msgspec typed, gc=False", lambda: dec_gc_off.decode(payload)),
        ("msgspec typed, shipped models", lambda: dec_shipped.decode(payload)),
        ("msgspec typed, array_like (not wire)", lambda: dec_arr.decode(arr_payload)),
    ]

    # Warm up once each (decoder construction, allocator), then measure with the GC on, as in
    # an application: gc=True structs pay for the collections their allocations trigger.
    for _, fn in cases:
        fn()
    gc.collect()
    base_min = base_med = 0.0
    print(
        f"\n{'decode of the availability array':40} {'best ms':>9} {'median ms':>10} "
        f"{'x best':>7} {'x med':>7}"
    )
    for name, fn in cases:
        best, med = _time(fn, repeat)
        if not base_min:
            base_min, base_med = best, med
        print(
            f"{name:40} {best * 1e3:9.2f} {med * 1e3:10.2f} "
            f"{base_min / best:7.2f} {base_med / med:7.2f}"
        )

    # Events: a page of 1000 (the event sync's bulk shape).
    events = Page[Event](
        content=[
            Event(
                event_id=i,
                event_type="RESERVATION_EVENT",
                entity_id=100_000 + i,
                entity_type="RESERVATION",
                entity_action="UPDATE",
                creation_date=None,
            )
            for i in range(1000)
        ],
        number=0,
        size=1000,
        total_elements=1000,
        total_pages=1,
    )
    ev_payload = encode(events).replace(
        b'"entityAction":"UPDATE"', b'"entityAction":"UPDATE","creationDate":"2026-01-02T03:04:05Z"'
    )
    dec_ev = msgspec.json.Decoder(Page[Event])
    for fn in (lambda: json.loads(ev_payload), lambda: dec_ev.decode(ev_payload)):
        fn()
    j, _ = _time(lambda: json.loads(ev_payload), repeat)
    t, _ = _time(lambda: dec_ev.decode(ev_payload), repeat)
    print(
        f"\nevents page ({len(ev_payload) / 1e3:.0f} kB): json.loads {j * 1e3:.2f} ms, "
        f"Page[Event] {t * 1e3:.2f} ms ({j / t:.2f}x)"
    )

    # The cost of normalising date-times to UTC in __post_init__ (an Event without it).
    bare = msgspec.defstruct(
        "Event",
        [
            (f, t, *(() if f in {"event_id", "event_type", "entity_id"} else (None,)))
            for f, t in get_type_hints(Event).items()
        ],
        rename="camel",
        kw_only=True,
        gc=False,
    )
    dec_bare = msgspec.json.Decoder(Page[bare])  # type: ignore[valid-type]
    dec_bare.decode(ev_payload)
    b, _ = _time(lambda: dec_bare.decode(ev_payload), repeat)
    print(f"Page[Event] without the UTC __post_init__: {b * 1e3:.2f} ms ({j / b:.2f}x)")

    # Encoding the same records: omit_defaults drops the None fields (smaller bodies).
    enc = msgspec.json.Encoder()
    keep_nulls = dec_gc_off.decode(payload)
    omit_nulls = dec_shipped.decode(payload)
    e1, _ = _time(lambda: enc.encode(keep_nulls), repeat)
    e2, _ = _time(lambda: enc.encode(omit_nulls), repeat)
    print(
        f"\nencode, omit_defaults=False: {e1 * 1e3:.2f} ms, {len(enc.encode(keep_nulls))} B; "
        f"omit_defaults=True: {e2 * 1e3:.2f} ms, {len(enc.encode(omit_nulls))} B"
    )


if __name__ == "__main__":
    main()
