"""The sandbox's synthetic dataset: generated from a seed, queryable in Python as the truth.

Everything is derived from ``random.Random(seed)`` (never the global generator), so the same
seed and size give the same data. Records are plain dicts shaped like the API's JSON
(camelCase, dates as ``YYYY-MM-DD``, date-times as ISO 8601 UTC with ``Z``; wire contract), so the
query engine can filter and sort on "any non-nested field" (guide, Filtering) without mapping.

Availability and prices are not stored: :meth:`SandboxData.availability` is a pure function of
``(seed, resourceId, revision, arrival, duration)``, so the truth is computable for any window.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "COUNTRIES",
    "ENTITY_TYPES",
    "EVENT_TYPES",
    "LOCALES",
    "SandboxData",
    "SandboxSize",
    "country_record",
    "generate",
    "mix",
]

Record = dict[str, Any]

#: Locales the generator translates names and descriptions into (guide, Header: ``locale``).
LOCALES = ("en", "nl", "de")

#: Countries an address may name, by ``countryId``, in the shape of ``mailAddress.country``
#: (reference, Get customer). Generated customers live in the first; the others let an update
#: move a customer abroad with ``mailAddress.countryCode`` (reference, Update a customer).
COUNTRIES: dict[int, Record] = {
    country_id: {
        "countryId": country_id,
        "priority": country_id,
        "translations": [
            {"name": name, "language": language}
            for name, language in zip(names, LOCALES, strict=True)
        ],
        "default": country_id == 1,
        "code": code,
    }
    for country_id, code, names in (
        (1, "NL", ("Netherlands", "Nederland", "Niederlande")),
        (2, "BE", ("Belgium", "België", "Belgien")),
        (3, "DE", ("Germany", "Duitsland", "Deutschland")),
    )
}


def country_record(country_id: int | None) -> Record | None:
    """A fresh copy of country ``country_id`` for a ``mailAddress``, ``None`` if unknown."""
    country = COUNTRIES.get(country_id) if country_id is not None else None
    if country is None:
        return None
    return {**country, "translations": [dict(t) for t in country["translations"]]}


#: The 16 event types of the guide's Event Flow, in the guide's order.
EVENT_TYPES = (
    "ACCOMMODATION_TYPE_EVENT",
    "ADDITION_EVENT",
    "ADDON_EVENT",
    "AVAILABILITY_EVENT",
    "CUSTOMER_EVENT",
    "DISTRIBUTIONCHANNEL_EVENT",
    "IMPLY_EVENT",
    "OFFER_EVENT",
    "OWNER_EVENT",
    "RATE_EVENT",
    "RENTABILITY_EVENT",
    "RESERVABILITY_EVENT",
    "RESERVATION_EVENT",
    "RESORT_EVENT",
    "UNIT_EVENT",
    "ALLOTMENT_EVENT",
)

#: ``entityType`` values used in events (wire contract, Events).
ENTITY_TYPES = (
    "ACCOMMODATIONTYPE",
    "ADDON",
    "OFFER",
    "UNIT",
    "RESERVATION",
    "CUSTOMER",
    "DISTRIBUTIONCHANNEL",
    "OWNER",
    "LOCATION",
)

_MASK = (1 << 64) - 1
_DEFAULT_START = dt.date(2027, 1, 1)


def mix(*parts: int) -> int:
    """A fast, pure 64-bit hash of integers (splitmix64 steps): the availability "noise"."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = ((h ^ (p & _MASK)) * 0xBF58476D1CE4E5B9) & _MASK
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & _MASK
        h ^= h >> 29
    return h


@dataclass(frozen=True, slots=True)
class SandboxSize:
    """How much data to generate.

    ``"demo"`` and ``"large"`` are presets (:meth:`preset`); any other mix can be built directly.
    """

    locations: int = 3
    accommodation_types: int = 20
    units_per_type: int = 6
    distribution_channels: int = 5
    offers: int = 8
    owners: int = 40
    customers: int = 500
    reservations: int = 800
    initial_events: int = 1000
    availability_days: int = 365

    @classmethod
    def preset(cls, name: Literal["demo", "large"] | SandboxSize) -> SandboxSize:
        """The size called ``name`` ("demo" or "large"), or ``name`` itself if already a size."""
        if isinstance(name, SandboxSize):
            return name
        if name == "demo":
            return cls()
        if name == "large":
            return cls(
                locations=12,
                accommodation_types=200,
                units_per_type=8,
                distribution_channels=12,
                offers=30,
                owners=600,
                customers=20_000,
                reservations=50_000,
                initial_events=100_000,
                availability_days=365,
            )
        raise ValueError(f"unknown sandbox size {name!r}; use 'demo', 'large' or a SandboxSize")


_KINDS = {
    "en": ("Bungalow", "Chalet", "Hotel room", "Cottage", "Lodge", "Apartment"),
    "nl": ("Bungalow", "Chalet", "Hotelkamer", "Vakantiehuis", "Lodge", "Appartement"),
    "de": ("Bungalow", "Chalet", "Hotelzimmer", "Ferienhaus", "Lodge", "Ferienwohnung"),
}
_ADJECTIVES = {
    "en": ("Comfort", "Luxury", "Family", "Wellness", "Cosy", "Panorama"),
    "nl": ("Comfort", "Luxe", "Familie", "Wellness", "Knus", "Panorama"),
    "de": ("Komfort", "Luxus", "Familien", "Wellness", "Gemütlich", "Panorama"),
}
_DESCRIPTIONS = {
    "en": "A {adj} {kind} for up to {cap} guests at {loc}.",
    "nl": "Een {adj} {kind} voor maximaal {cap} gasten in {loc}.",
    "de": "Ein {adj} {kind} für bis zu {cap} Gäste in {loc}.",
}
_PARKS = ("Duinrand", "Bosmeer", "Heidepark", "Zeezicht", "Kastanjehof", "Vennenland", "Rivierduin")
_CITIES = ("Zandvoort", "Ermelo", "Hoenderloo", "Renesse", "Ootmarsum", "Valkenburg", "Texel")
_FIRST = (
    "Anna",
    "Bram",
    "Chris",
    "Daan",
    "Eva",
    "Fenna",
    "Gijs",
    "Hanna",
    "Isa",
    "Jan",
    "Kees",
    "Lotte",
    "Maria",
    "Noah",
    "Olaf",
    "Pien",
    "Ruben",
    "Sara",
    "Thijs",
    "Ute",
    "Vera",
    "Wim",
)
_LAST = (
    "Jansen",
    "de Vries",
    "van Dijk",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dekker",
    "Brouwer",
    "Müller",
    "Schmidt",
    "Smith",
    "Jones",
)
_STREETS = ("Dorpsstraat", "Kerkweg", "Molenlaan", "Stationsplein", "Hoofdstraat", "Bosweg")
_CHANNELS = (
    ("WEB", "Website"),
    ("CC", "Call centre"),
    ("BOOKING", "Booking.com"),
    ("AIRBNB", "Airbnb"),
    ("TUI", "TUI"),
    ("ANWB", "ANWB"),
    ("HOLIDAYCHECK", "HolidayCheck"),
    ("EXPEDIA", "Expedia"),
    ("VRBO", "Vrbo"),
    ("BELVILLA", "Belvilla"),
    ("NATUURHUISJE", "Natuurhuisje"),
    ("AGENT", "Travel agent"),
)
_OFFER_NAMES = {
    "en": ("Early booking", "Last minute", "Long stay", "Weekend deal", "Family bonus"),
    "nl": ("Vroegboek", "Last minute", "Lang verblijf", "Weekendactie", "Gezinskorting"),
    "de": ("Frühbucher", "Last Minute", "Langzeitaufenthalt", "Wochenendangebot", "Familienbonus"),
}
#: Reservation status names and codes (reference, Get reservation).
STATUS_CODES = {
    "DELETED": -99,
    "DEFINITIVE_CANCELLED": -13,
    "CANCELLED": -12,
    "EXPIRED": -11,
    "DECLINED": -10,
    "QUOTATION": -5,
    "INITIAL": 0,
    "REQUEST": 10,
    "OPTIONAL": 11,
    "PROVISIONAL": 12,
    "DEFINITIVE": 21,
    "CHECKED_IN": 31,
    "CHECKED_OUT": 41,
}
_STATUS_WEIGHTS = (
    ("DEFINITIVE", 40),
    ("PROVISIONAL", 15),
    ("CHECKED_OUT", 15),
    ("CHECKED_IN", 4),
    ("OPTIONAL", 5),
    ("QUOTATION", 4),
    ("REQUEST", 3),
    ("CANCELLED", 8),
    ("DECLINED", 6),
)
_DURATION_SETS = ((3, 4, 7), (2, 3, 4, 7, 14), (7, 14), (1, 2, 3, 4, 5, 6, 7))
_ARRIVAL_DAYS = ((0, 4), (0, 1, 2, 3, 4, 5, 6), (5,), (0, 4, 5))  # Monday=0
_SEASON = (0.8, 0.8, 0.9, 1.0, 1.1, 1.3, 1.6, 1.7, 1.1, 0.95, 0.85, 1.2)


def iso_date(d: dt.date) -> str:
    """``YYYY-MM-DD`` (wire contract)."""
    return d.isoformat()


def iso_datetime(t: dt.datetime) -> str:
    """ISO 8601 in UTC with ``Z`` (wire contract)."""
    return t.astimezone(dt.UTC).replace(microsecond=0).isoformat()[:19] + "Z"


@dataclass(slots=True)
class ResourceConfig:
    """What the availability function needs of one accommodation type (not on the wire)."""

    night_price: float
    durations: tuple[int, ...]
    arrival_weekdays: tuple[int, ...]
    revision: int = 0
    cleaning_fee: float = 45.0
    """The mandatory cleaning cost of a stay (an imply; guide, Reservation Flow option 2)."""


@dataclass(slots=True)
class SandboxData:
    """The generated dataset. Every collection maps an id to its API-shaped record.

    Mutations (:mod:`._mutations`, the reservation endpoints) change these dicts in place and
    append to :attr:`events`; ``version`` increases on every change so cached views are rebuilt.
    """

    seed: int
    size: SandboxSize
    start_date: dt.date
    locations: dict[int, Record] = field(default_factory=dict)
    accommodation_types: dict[int, Record] = field(default_factory=dict)
    units: dict[int, Record] = field(default_factory=dict)
    distribution_channels: dict[int, Record] = field(default_factory=dict)
    offers: dict[int, Record] = field(default_factory=dict)
    owners: dict[int, Record] = field(default_factory=dict)
    customers: dict[int, Record] = field(default_factory=dict)
    reservations: dict[int, Record] = field(default_factory=dict)
    events: list[Record] = field(default_factory=list)
    addon_ids: list[int] = field(default_factory=list)
    resource_config: dict[int, ResourceConfig] = field(default_factory=dict)
    units_by_type: dict[int, list[int]] = field(default_factory=dict)
    merged_customers: dict[int, int] = field(default_factory=dict)
    #: Units held by reservations made through the API, by accommodation type:
    #: ``{resourceId: {reservationId: (unitId, arrival, departure)}}`` (see ``._holds``).
    holds: dict[int, dict[int, tuple[int, dt.date, dt.date]]] = field(default_factory=dict)
    #: Reservations made through the API (only they hold units; see ``._holds``).
    booked: set[int] = field(default_factory=set)
    #: Reservations that received a payment (a CONFIRM out of CANCELLED gives DEFINITIVE).
    paid: set[int] = field(default_factory=set)
    version: int = 0
    _next_ids: dict[str, int] = field(default_factory=dict)
    _unit_cache: dict[tuple[int, int], list[tuple[int, str]]] = field(default_factory=dict)
    _offer_cache: dict[int, list[Record]] = field(default_factory=dict)

    # -- ids and events -------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        """A fresh id for a new record of ``kind`` (``"customer"``, ``"reservation"``, ...)."""
        value = self._next_ids[kind]
        self._next_ids[kind] = value + 1
        return value

    def add_event(
        self,
        event_type: str,
        entity_id: int,
        entity_type: str,
        action: str,
        when: dt.datetime,
        old_entity_id: int | None = None,
    ) -> Record:
        """Append one event with the next ``eventId`` (strictly increasing; wire contract)."""
        event: Record = {
            "eventId": len(self.events) + 1,
            "eventType": event_type,
            "entityId": entity_id,
            "entityType": entity_type,
            "entityAction": action,
            "oldEntityId": old_entity_id,
            "creationDate": iso_datetime(when),
        }
        self.events.append(event)
        self.version += 1
        return event

    def event_time(self, now: dt.datetime) -> dt.datetime:
        """``now`` to the second, but never before the last event: ``creationDate`` of events
        does not go backwards (event sync orders on it after the id; wire contract)."""
        now = now.replace(microsecond=0)
        if self.events:
            last = dt.datetime.strptime(
                self.events[-1]["creationDate"], "%Y-%m-%dT%H:%M:%SZ"
            ).replace(tzinfo=dt.UTC)
            now = max(now, last)
        return now

    # -- availability truth ---------------------------------------------------------------

    @property
    def availability_end(self) -> dt.date:
        """The first arrival date past the generated availability window."""
        return self.start_date + dt.timedelta(days=self.size.availability_days)

    def availability(
        self, resource_id: int, arrival: dt.date, duration: int, *, all_prices: bool = True
    ) -> Record | None:
        """The availability record of one stay, or ``None`` when it cannot be booked.

        A pure function of the seed, the type's price revision and the stay, so a test can
        compute the truth for any window without asking the server.
        """
        at = self.accommodation_types.get(resource_id)
        cfg = self.resource_config.get(resource_id)
        if at is None or cfg is None or at["archived"]:
            return None
        if duration not in cfg.durations or arrival.weekday() not in cfg.arrival_weekdays:
            return None
        if not self.start_date <= arrival < self.availability_end:
            return None
        day = arrival.toordinal()
        noise = mix(self.seed, resource_id, cfg.revision, day, duration)
        if noise % 100 >= 72:
            return None
        held = self.held_units(resource_id, arrival, arrival + dt.timedelta(days=duration))
        units = [
            {"unitId": uid, "code": code}
            for uid, code in self._bookable_units(resource_id)
            if mix(noise, uid) % 3 != 0 and uid not in held
        ]
        if not units:
            return None
        base = cfg.night_price * duration * _SEASON[arrival.month - 1]
        base *= 1 + ((noise >> 8) % 21 - 10) / 100
        prices = [_price(None, None, base)]
        day_iso = arrival.isoformat()
        for offer in self._offers_for(resource_id):
            if offer["archived"] or not offer["validFrom"] <= day_iso <= offer["validTo"]:
                continue
            discounted = base * (100 - offer["discountPercent"]) / 100
            prices.append(_price(offer["resourceId"], offer["code"], discounted))
        prices.sort(key=lambda p: (p["price"], p["offerId"] or 0))
        if not all_prices:
            prices = prices[:1]
        location = self.locations[at["locationId"]]
        pet_units = at["petsAllowed"] and (noise >> 16) % 4 != 0
        return {
            "accommodationKindId": at["accommodationKindId"],
            "arrivalDate": arrival.isoformat(),
            "departureDate": (arrival + dt.timedelta(days=duration)).isoformat(),
            "duration": duration,
            "prices": prices,
            "locationId": at["locationId"],
            "locationCode": location["code"],
            "resourceId": resource_id,
            "maxCapacity": at["maxCapacity"],
            "petCapacity": 2 if pet_units else 0,
            "units": units,
        }

    def held_units(self, resource_id: int, arrival: dt.date, departure: dt.date) -> set[int]:
        """Units of ``resource_id`` booked for a night of ``[arrival, departure)``."""
        holds = self.holds.get(resource_id)
        if not holds:
            return set()
        return {unit for unit, start, end in holds.values() if start < departure and arrival < end}

    def implies(self, resource_id: int, arrival: dt.date, duration: int) -> Record | None:
        """The mandatory costs of one stay (``None`` when the stay cannot be booked).

        The answer item of ``POST /accommodationtypes/availability/implies`` (guide,
        Reservation Flow option 2; shape **inferred**, wire contract): cleaning, tourist tax
        per night for up to four guests, and a fixed booking fee, as add-ons.
        """
        if self.availability(resource_id, arrival, duration) is None:
            return None
        cfg = self.resource_config[resource_id]
        cap = self.accommodation_types[resource_id]["maxCapacity"]
        ids = self.addon_ids
        costs = (
            (ids[0], "CLEAN", "Final cleaning", cfg.cleaning_fee),
            (ids[1], "TAX", "Tourist tax", round(1.25 * duration * min(cap, 4), 2)),
            (ids[2], "BOOKFEE", "Booking fee", 19.5),
        )
        return {
            "resourceId": resource_id,
            "arrivalDate": arrival.isoformat(),
            "duration": duration,
            "implies": [
                {"addonId": a, "code": c, "name": n, "price": p, "currencyCode": "EUR"}
                for a, c, n, p in costs
            ],
        }

    def offer_types(self, offer_id: int) -> list[int]:
        """The accommodation types offer ``offer_id`` applies to (fixed by the seed)."""
        return [
            rid
            for rid in self.accommodation_types
            if mix(self.seed, offer_id, rid) % 3 == 0 and rid in self.resource_config
        ]

    def _bookable_units(self, resource_id: int) -> list[tuple[int, str]]:
        # Cached per dataset version: units are only renamed or archived through a change.
        key = (resource_id, self.version)
        cached = self._unit_cache.get(key)
        if cached is None:
            if len(self._unit_cache) > 4096:
                self._unit_cache.clear()
            cached = [
                (uid, self.units[uid]["code"])
                for uid in self.units_by_type.get(resource_id, ())
                if not self.units[uid]["archived"]
            ]
            self._unit_cache[key] = cached
        return cached

    def _offers_for(self, resource_id: int) -> list[Record]:
        # Which offers apply to a type is fixed by the seed; their terms are read live.
        cached = self._offer_cache.get(resource_id)
        if cached is None:
            cached = [
                offer
                for offer in self.offers.values()
                if mix(self.seed, offer["resourceId"], resource_id) % 3 == 0
            ]
            self._offer_cache[resource_id] = cached
        return cached


def _price(offer_id: int | None, offer_code: str | None, amount: float) -> Record:
    # Price item shape is inferred (wire contract, Availability record).
    price = round(amount, 2)
    return {
        "rateTypeId": 1,
        "offerId": offer_id,
        "offerCode": offer_code,
        "price": price,
        "priceInclusive": round(price * 1.09, 2),
        "currencyCode": "EUR",
    }


def _translations(names: dict[str, str], descriptions: dict[str, str]) -> list[Record]:
    return [
        {"language": loc, "name": names[loc], "description": descriptions[loc]} for loc in LOCALES
    ]


def generate(
    seed: int = 0,
    size: Literal["demo", "large"] | SandboxSize = "demo",
    start_date: dt.date | None = None,
) -> SandboxData:
    """Generate the dataset for ``seed`` and ``size``; same arguments, same data."""
    sz = SandboxSize.preset(size)
    start = start_date or _DEFAULT_START
    rng = random.Random(seed)
    data = SandboxData(seed=seed, size=sz, start_date=start)
    epoch = dt.datetime.combine(start - dt.timedelta(days=400), dt.time(8), tzinfo=dt.UTC)

    for i in range(sz.locations):
        loc_id = i + 1
        park = _PARKS[i % len(_PARKS)] + (f" {i // len(_PARKS) + 1}" if i >= len(_PARKS) else "")
        names = {
            "en": f"Holiday park {park}",
            "nl": f"Vakantiepark {park}",
            "de": f"Ferienpark {park}",
        }
        descs = {loc: f"{names[loc]} ({_CITIES[i % len(_CITIES)]})" for loc in LOCALES}
        data.locations[loc_id] = {
            "locationId": loc_id,
            "code": f"LOC{loc_id:02d}",
            "name": names["en"],
            "description": descs["en"],
            "translations": _translations(names, descs),
            "city": _CITIES[i % len(_CITIES)],
            "countryCode": "NL",
            "latitude": round(52.0 + rng.uniform(-1.2, 1.2), 5),
            "longitude": round(5.3 + rng.uniform(-1.5, 1.5), 5),
            "priority": i + 1,
            "archived": sz.locations > 3 and i == sz.locations - 1,
        }

    for i in range(sz.distribution_channels):
        dc_id = i + 1
        code, name = _CHANNELS[i % len(_CHANNELS)]
        if i >= len(_CHANNELS):
            code, name = f"{code}{i}", f"{name} {i}"
        data.distribution_channels[dc_id] = {
            "distributionChannelId": dc_id,
            "code": code,
            "name": name,
            "currencyCode": "EUR",
            "archived": False,
        }

    for i in range(sz.offers):
        rid = 5000 + i
        k = i % len(_OFFER_NAMES["en"])
        names = {loc: _OFFER_NAMES[loc][k] + (f" {i}" if i >= 5 else "") for loc in LOCALES}
        valid_from = start - dt.timedelta(days=rng.randint(0, 60))
        valid_to = start + dt.timedelta(days=rng.randint(90, 420))
        data.offers[rid] = {
            "resourceId": rid,
            "code": f"OFF{i + 1:03d}",
            "name": names["en"],
            "description": names["en"],
            "translations": _translations(names, names),
            "discountPercent": rng.choice((5, 10, 15, 20, 25)),
            "validFrom": valid_from.isoformat(),
            "validTo": valid_to.isoformat(),
            "archived": i % 7 == 6,
        }

    data.addon_ids = [7000 + i for i in range(max(4, sz.accommodation_types // 2))]

    active_locations = [lid for lid, loc in data.locations.items() if not loc["archived"]]
    unit_id = 10_000
    for i in range(sz.accommodation_types):
        rid = 1000 + i
        kind = rng.randrange(len(_KINDS["en"]))
        adj = rng.randrange(len(_ADJECTIVES["en"]))
        cap = rng.choice((2, 4, 4, 6, 6, 8, 12))
        loc_id = active_locations[i % len(active_locations)]
        loc_name = data.locations[loc_id]["city"]
        names = {loc: f"{_ADJECTIVES[loc][adj]} {_KINDS[loc][kind]} {cap}" for loc in LOCALES}
        descs = {
            loc: _DESCRIPTIONS[loc].format(
                adj=_ADJECTIVES[loc][adj].lower(), kind=_KINDS[loc][kind], cap=cap, loc=loc_name
            )
            for loc in LOCALES
        }
        data.accommodation_types[rid] = {
            "resourceId": rid,
            "code": f"AT{i + 1:04d}",
            "name": names["en"],
            "description": descs["en"],
            "translations": _translations(names, descs),
            "accommodationKindId": kind + 1,
            "locationId": loc_id,
            "maxCapacity": cap,
            "petsAllowed": rng.random() < 0.4,
            "priority": rng.randint(1, 100),
            "archived": i % 9 == 8,
        }
        data.resource_config[rid] = ResourceConfig(
            night_price=round(rng.uniform(45, 180) * (1 + cap / 10), 2),
            durations=_DURATION_SETS[rng.randrange(len(_DURATION_SETS))],
            arrival_weekdays=_ARRIVAL_DAYS[rng.randrange(len(_ARRIVAL_DAYS))],
            # From the capacity, not the generator: the rest of the data stays as it was.
            cleaning_fee=float(25 + 5 * cap),
        )
        unit_ids: list[int] = []
        for j in range(sz.units_per_type):
            data.units[unit_id] = {
                "unitId": unit_id,
                "resourceId": rid,
                "locationId": loc_id,
                "code": f"{data.locations[loc_id]['code']}-{i + 1:03d}-{j + 1:02d}",
                "name": f"{names['en']} #{j + 1}",
                "ownerId": None,
                "maxCapacity": cap,
                "petsAllowed": data.accommodation_types[rid]["petsAllowed"],
                "archived": j == sz.units_per_type - 1 and i % 4 == 0,
            }
            unit_ids.append(unit_id)
            unit_id += 1
        data.units_by_type[rid] = unit_ids

    all_units = list(data.units)
    for i in range(sz.owners):
        oid = 3000 + i
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        data.owners[oid] = {
            "ownerId": oid,
            "firstName": first,
            "lastName": last,
            "email": f"{first}.{last}.{oid}@owners.example".lower().replace(" ", ""),
            "companyName": None if rng.random() < 0.7 else f"{last} Vastgoed B.V.",
            "ibanNumber": f"NL{rng.randint(10, 99)}BANK0{rng.randint(10**8, 10**9 - 1)}",
            "creationDate": iso_datetime(epoch + dt.timedelta(days=rng.randint(0, 300))),
        }
        if all_units:
            data.units[all_units[(i * 7) % len(all_units)]]["ownerId"] = oid

    for i in range(sz.customers):
        cid = 100_000 + i
        data.customers[cid] = _customer(rng, cid, epoch)

    customer_ids = list(data.customers)
    bookable = [rid for rid, at in data.accommodation_types.items() if not at["archived"]]
    statuses = [s for s, _ in _STATUS_WEIGHTS]
    weights = [w for _, w in _STATUS_WEIGHTS]
    dc_ids = list(data.distribution_channels)
    for i in range(sz.reservations):
        res_id = 500_000 + i
        rid = bookable[rng.randrange(len(bookable))] if bookable else 1000
        cfg = data.resource_config.get(rid)
        duration = rng.choice(cfg.durations) if cfg else 7
        arrival = start + dt.timedelta(days=rng.randint(-180, sz.availability_days - 1))
        status = rng.choices(statuses, weights)[0]
        book = dt.datetime.combine(
            arrival - dt.timedelta(days=rng.randint(1, 200)),
            dt.time(rng.randint(6, 22), rng.randint(0, 59), rng.randint(0, 59)),
            tzinfo=dt.UTC,
        )
        units = data.units_by_type.get(rid, [])
        at = data.accommodation_types.get(rid)
        price = (cfg.night_price if cfg else 100.0) * duration * _SEASON[arrival.month - 1]
        data.reservations[res_id] = {
            "reservationId": res_id,
            "reservationNumber": f"{seed % 100:02d}{res_id:08d}",
            "status": STATUS_CODES[status],
            "statusValue": status,
            "arrivalDate": arrival.isoformat(),
            "departureDate": (arrival + dt.timedelta(days=duration)).isoformat(),
            "duration": duration,
            "customerId": customer_ids[rng.randrange(len(customer_ids))] if customer_ids else 0,
            "resourceId": rid,
            "unitId": units[rng.randrange(len(units))] if units else None,
            "distributionChannelId": dc_ids[rng.randrange(len(dc_ids))] if dc_ids else None,
            "locationId": at["locationId"] if at else None,
            "externalBookingReference": f"EXT-{rng.randint(10**6, 10**7 - 1)}"
            if rng.random() < 0.5
            else None,
            # guide, Date Fields: "reservationDate | Date the guest creates the reservation".
            "reservationDate": book.date().isoformat(),
            "totalPrice": round(price, 2),
            "currencyCode": "EUR",
            "type": "RESERVATION",
        }

    data._next_ids = {
        "customer": 100_000 + sz.customers,
        "reservation": 500_000 + sz.reservations,
        "payment": 900_000,
        "notification": 1,
    }
    _initial_events(data, rng, epoch + dt.timedelta(days=370))
    data.version = 0
    return data


def _customer(rng: random.Random, cid: int, epoch: dt.datetime) -> Record:
    """One customer with every field of the reference excerpt (Customers, Get customer)."""
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first}.{last}.{cid}@example.com".lower().replace(" ", "")
    created = epoch + dt.timedelta(seconds=rng.randint(0, 360 * 86400))
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 60 * 365))
    city = rng.choice(_CITIES)
    return {
        "customerId": cid,
        "customerGroupId": rng.choice((1, 1, 1, 2, 3)),
        "titleId": rng.choice((1, 2, 3)),
        "firstName": first,
        "middle": rng.choice(("", "", "", "J.", "M.")),
        "lastName": last,
        "alternateName": None,
        "mailAddress": {
            "addressId": cid * 10 + 1,
            "address1": f"{rng.choice(_STREETS)} {rng.randint(1, 250)}",
            "address2": None,
            "address3": None,
            "boxNumber": None,
            "houseNumberSuffix": rng.choice((None, None, "a", "b")),
            "zipCode": f"{rng.randint(1000, 9999)} {chr(65 + rng.randrange(26))}"
            f"{chr(65 + rng.randrange(26))}",
            "poBox": None,
            "poBoxZipcode": None,
            "poBoxCity": None,
            "city": city,
            "countryId": 1,
            "municipality": city,
            "mobilePhone2": None,
            "latitude": round(52.0 + rng.uniform(-1, 1), 5),
            "longitude": round(5.0 + rng.uniform(-1, 1), 5),
            "email": email,
            "stateId": None,
            "mobilePhone": f"+316{rng.randint(10**7, 10**8 - 1)}",
            "houseNumber": str(rng.randint(1, 250)),
            "district": None,
            "privatePhone": None,
            "workPhone": None,
            "exposeLocation": False,
            "dateEnd": None,
            "dateBegin": created.date().isoformat(),
            "fax": None,
            "alternateContactPerson": None,
            "accuracy": "ROOFTOP",
            "country": country_record(1),
        },
        "emailAllowed": rng.random() < 0.7,
        "mailAllowed": rng.random() < 0.5,
        "phoneCallAllowed": rng.random() < 0.4,
        "textMsgAllowed": rng.random() < 0.3,
        "signatureDate": created.date().isoformat(),
        "socialSecurityNumber": f"{rng.randint(10**8, 10**9 - 1)}",
        "gender": rng.choice(("MALE", "FEMALE", "UNSPECIFIED")),
        "languageId": rng.choice((1, 2, 3)),
        "language": rng.choice(LOCALES),
        "ibanNumber": f"NL{rng.randint(10, 99)}RABO0{rng.randint(10**8, 10**9 - 1)}",
        "bicSwift": "RABONL2U",
        "birthDate": birth.isoformat(),
        "companyName": None if rng.random() < 0.9 else f"{last} B.V.",
        "login": email,
        "previousPmsId": None,
        "creationDate": iso_datetime(created),
        "identityType": rng.choice(("PASSPORT", "IDENTITY_CARD", "DRIVERS_LICENCE")),
        "identityNumber": f"X{rng.randint(10**7, 10**8 - 1)}",
        "identityCountryId": 1,
        "identityDateIssued": (
            created.date() - dt.timedelta(days=rng.randint(10, 3000))
        ).isoformat(),
        "questionnaireUnsubscribed": rng.random() < 0.2,
    }


def _pools(data: SandboxData) -> dict[str, list[int]]:
    return {
        "ACCOMMODATIONTYPE": list(data.accommodation_types),
        "ADDON": list(data.addon_ids),
        "CUSTOMER": list(data.customers),
        "DISTRIBUTIONCHANNEL": list(data.distribution_channels),
        "OFFER": list(data.offers),
        "OWNER": list(data.owners),
        "RESERVATION": list(data.reservations),
        "LOCATION": list(data.locations),
        "UNIT": list(data.units),
    }


_DIRECT_SUBJECT = {
    "ACCOMMODATION_TYPE_EVENT": "ACCOMMODATIONTYPE",
    "AVAILABILITY_EVENT": "ACCOMMODATIONTYPE",
    "ALLOTMENT_EVENT": "ACCOMMODATIONTYPE",
    "ADDON_EVENT": "ADDON",
    "CUSTOMER_EVENT": "CUSTOMER",
    "DISTRIBUTIONCHANNEL_EVENT": "DISTRIBUTIONCHANNEL",
    "OFFER_EVENT": "OFFER",
    "OWNER_EVENT": "OWNER",
    "RESERVATION_EVENT": "RESERVATION",
    "RESORT_EVENT": "LOCATION",
    "UNIT_EVENT": "UNIT",
}


def event_subject(
    data: SandboxData,
    event_type: str,
    rng: random.Random,
    pools: dict[str, list[int]] | None = None,
) -> tuple[int, str]:
    """A plausible ``(entityId, entityType)`` for an event of ``event_type`` (guide, Event Flow).

    The entity id is the one the guide names per type (resourceId, customerId, unitId, ...);
    ``(0, entityType)`` when the dataset has no entity of that kind. ``pools`` caches the id
    lists when many events are drawn at once.
    """
    pools = pools if pools is not None else _pools(data)

    def pick(entity_type: str) -> tuple[int, str]:
        ids = pools[entity_type]
        return (ids[rng.randrange(len(ids))] if ids else 0), entity_type

    direct = _DIRECT_SUBJECT.get(event_type)
    if direct is not None:
        return pick(direct)
    # ADDITION / IMPLY / RATE / RENTABILITY / RESERVABILITY name an accommodation type, add-on,
    # offer or (IMPLY, RESERVABILITY) unit; entityType tells them apart (guide, Event Flow).
    kinds = ["ACCOMMODATIONTYPE"]
    if data.offers:
        kinds.append("OFFER")
    if event_type in ("ADDITION_EVENT", "IMPLY_EVENT", "RENTABILITY_EVENT", "RESERVABILITY_EVENT"):
        kinds.append("ADDON")
    if event_type in ("IMPLY_EVENT", "RESERVABILITY_EVENT"):
        kinds.append("UNIT")
    return pick(kinds[rng.randrange(len(kinds))])


def _initial_events(data: SandboxData, rng: random.Random, until: dt.datetime) -> None:
    n = data.size.initial_events
    if n <= 0:
        return
    first = until - dt.timedelta(days=30)
    step = dt.timedelta(days=30) / n
    pools = _pools(data)
    for i in range(n):
        event_type = EVENT_TYPES[i % len(EVENT_TYPES)] if i < 16 else rng.choice(EVENT_TYPES)
        entity_id, entity_type = event_subject(data, event_type, rng, pools)
        action = rng.choice(("UPDATE", "UPDATE", "UPDATE", "CREATE"))
        data.add_event(event_type, entity_id, entity_type, action, first + step * i)
