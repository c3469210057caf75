"""``Sandbox.mutate(n)``: change some data the way a live Maxxton environment would.

Each step takes the next of the guide's 16 event types in turn (guide, Event Flow), so
``mutate(16)`` produces one of each, changes the matching entity when the sandbox models it, and
appends the event. Customer events rotate UPDATE, CREATE and MERGE; a MERGE removes one customer,
moves its reservations to the survivor, and logs ``entityId`` = survivor, ``oldEntityId`` = the
removed one (guide, Event Flow, CUSTOMER_EVENT). Reservation events rotate a status change, a
stay period change and a bill change, each sending its webhook (guide, Webhooks:
``reservation.status_change``, ``reservation.stay_period_change``, ``reservation.bill_change``),
so ``mutate(48)`` sends one of each. A change that moves prices or availability (a type's
rate or rentability, an offer's discount) is followed by an AVAILABILITY_EVENT for every type it
affects, as the guide's availability index does once it has processed it (guide, Event Flow,
AVAILABILITY_EVENT), so ``mutate(n)`` may append more than ``n`` events. Changes draw from the
state's own seeded generator, so the same seed gives the same changes whatever requests came in
between.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ._data import EVENT_TYPES, _customer, event_subject
from ._reservations import change_bill, change_status, change_stay, event_time
from ._transitions import TRANSITIONS

if TYPE_CHECKING:
    from ._state import SandboxState

__all__ = ["apply_mutations"]

Record = dict[str, Any]
_CUSTOMER_ACTIONS = ("UPDATE", "CREATE", "MERGE")
_RESERVATION_CHANGES = ("status", "stay", "bill")
#: Statuses whose stay and bill can still change: booked, not yet arrived (guide, status chart).
_OPEN_STATUSES = frozenset({"QUOTATION", "OPTIONAL", "REQUEST", "PROVISIONAL", "DEFINITIVE"})


def apply_mutations(state: SandboxState, n: int) -> list[Record]:
    """Apply ``n`` changes; returns the events appended, oldest first."""
    out: list[Record] = []
    for _ in range(max(n, 0)):
        event_type = EVENT_TYPES[state.mutation_count % len(EVENT_TYPES)]
        customer_turn = state.mutation_count // len(EVENT_TYPES)
        state.mutation_count += 1
        out.extend(_one(state, event_type, customer_turn))
    return out


def _one(state: SandboxState, event_type: str, turn: int) -> list[Record]:
    data = state.data
    rng = state.mutation_rng
    when = event_time(state)
    if event_type == "CUSTOMER_EVENT":
        return _customer_change(state, _CUSTOMER_ACTIONS[turn % 3], when)
    if event_type == "RESERVATION_EVENT" and data.reservations:
        return _reservation_change(state, _RESERVATION_CHANGES[turn % 3], when)
    entity_id, entity_type = event_subject(data, event_type, rng)
    # Types whose prices or availability this change moves: the availability index emits an
    # AVAILABILITY_EVENT for each once it has processed the change (guide, Event Flow).
    repriced: list[int] = []
    if event_type == "ACCOMMODATION_TYPE_EVENT" and entity_id in data.accommodation_types:
        data.accommodation_types[entity_id]["priority"] = rng.randint(1, 100)
    elif (
        event_type in ("AVAILABILITY_EVENT", "RATE_EVENT", "RENTABILITY_EVENT")
        and entity_type == "ACCOMMODATIONTYPE"
    ):
        cfg = data.resource_config.get(entity_id)
        if cfg is not None:
            cfg.revision += 1  # prices and availability of this type change
            if event_type != "AVAILABILITY_EVENT":
                repriced.append(entity_id)
    elif event_type in ("OFFER_EVENT", "RATE_EVENT") and entity_id in data.offers:
        data.offers[entity_id]["discountPercent"] = rng.choice((5, 10, 15, 20, 25, 30))
        # "an availability event is created for all the accommodation types for which this
        # offer is applicable" (guide, Event Flow, AVAILABILITY_EVENT).
        repriced.extend(data.offer_types(entity_id))
    elif event_type == "IMPLY_EVENT" and entity_type == "ACCOMMODATIONTYPE":
        cfg = data.resource_config.get(entity_id)
        if cfg is not None:  # a mandatory cost of the type changes (guide, IMPLY_EVENT)
            fee = float(rng.choice((35, 45, 55, 65, 75, 85)))
            cfg.cleaning_fee = fee if fee != cfg.cleaning_fee else fee + 2.5
    elif event_type == "DISTRIBUTIONCHANNEL_EVENT" and entity_id in data.distribution_channels:
        dc = data.distribution_channels[entity_id]
        dc["name"] = dc["name"].split(" (")[0] + f" ({rng.randint(1, 99)})"
    elif event_type == "OWNER_EVENT" and entity_id in data.owners:
        owner = data.owners[entity_id]
        owner["email"] = f"owner{entity_id}.{rng.randint(1, 9999)}@owners.example"
    elif event_type == "RESORT_EVENT" and entity_id in data.locations:
        data.locations[entity_id]["priority"] = rng.randint(1, 50)
    elif event_type == "UNIT_EVENT" and entity_id in data.units:
        unit = data.units[entity_id]
        unit["name"] = unit["name"].split(" (")[0] + f" (renovated {rng.randint(2020, 2030)})"
    out = [data.add_event(event_type, entity_id, entity_type, "UPDATE", when)]
    for rid in repriced:
        out.append(data.add_event("AVAILABILITY_EVENT", rid, "ACCOMMODATIONTYPE", "UPDATE", when))
    return out


def _customer_change(state: SandboxState, action: str, when: dt.datetime) -> list[Record]:
    data = state.data
    rng = state.mutation_rng
    ids = list(data.customers)
    if action == "MERGE" and len(ids) >= 2:
        a, b = rng.sample(ids, 2)
        survivor, removed = min(a, b), max(a, b)
        for res in data.reservations.values():
            if res["customerId"] == removed:
                res["customerId"] = survivor
        del data.customers[removed]
        data.merged_customers[removed] = survivor
        return [data.add_event("CUSTOMER_EVENT", survivor, "CUSTOMER", "MERGE", when, removed)]
    if action == "CREATE" or not ids:
        cid = data.next_id("customer")
        epoch = when - dt.timedelta(days=360)
        record = _customer(rng, cid, epoch)
        record["creationDate"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        data.customers[cid] = record
        return [data.add_event("CUSTOMER_EVENT", cid, "CUSTOMER", "CREATE", when)]
    cid = ids[rng.randrange(len(ids))]
    customer = data.customers[cid]
    address = dict(customer["mailAddress"])
    address["city"] = rng.choice(("Utrecht", "Leiden", "Arnhem", "Zwolle", "Breda"))
    customer["mailAddress"] = address
    customer["emailAllowed"] = not customer["emailAllowed"]
    return [data.add_event("CUSTOMER_EVENT", cid, "CUSTOMER", "UPDATE", when)]


def _reservation_change(state: SandboxState, kind: str, when: dt.datetime) -> list[Record]:
    data = state.data
    rng = state.mutation_rng
    ids = list(data.reservations)
    # Prefer a reservation the change applies to: a legal transition, or a stay still open.
    for _ in range(20):
        res_id = ids[rng.randrange(len(ids))]
        record = data.reservations[res_id]
        if kind == "stay" and record["statusValue"] in _OPEN_STATUSES:
            change_stay(state, res_id, rng.choice((-14, -7, 7, 14)))
            return [data.events[-1]]
        if kind == "bill" and record["statusValue"] in _OPEN_STATUSES:
            old = float(record["totalPrice"])
            new = round(old * rng.choice((0.9, 0.95, 1.05, 1.1, 1.15)), 2)
            change_bill(state, res_id, new if new != old else old + 1.0)
            return [data.events[-1]]
        actions = sorted(a for (s, a) in TRANSITIONS if s == record["statusValue"])
        if kind == "status" and actions:
            action = actions[rng.randrange(len(actions))]
            change_status(state, res_id, action)
            return [data.events[-1]]
    res_id = ids[rng.randrange(len(ids))]
    data.reservations[res_id]["externalBookingReference"] = f"EXT-{rng.randint(10**6, 10**7 - 1)}"
    return [data.add_event("RESERVATION_EVENT", res_id, "RESERVATION", "UPDATE", when)]
