"""Bookings consume units: which reservations hold one, and the availability events they cause.

Guide, Reservation Flow 6: OPTIONAL "the accommodation type price and availability are
guaranteed for the reservation"; QUOTATION "the accommodation type rates are guaranteed for the
reservation period and not the availability. So, some other guests can also book the
reservation and then it is no longer available to the guest who created a QUOTATION
reservation." PROVISIONAL and DEFINITIVE are confirmed bookings. Guide, Event Flow,
AVAILABILITY_EVENT: "When the last unit of an accommodation type is booked, it is removed from
the availability index right away and an availability event is created near real-time." Every
hold and release changes the type's availability (the units left for the stays it overlaps), so
each appends an AVAILABILITY_EVENT, as the guide's first case says of any availability change.

Only reservations made through the API hold units (the generated history does not: it is
**inferred** data the availability function never saw). REQUEST does not hold either: a request
is not a confirmed booking (**inferred**).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._state import SandboxState

__all__ = ["HOLDING_STATUSES", "hold", "release", "sync_hold"]

#: Statuses whose reservation keeps its unit out of availability.
HOLDING_STATUSES = frozenset({"OPTIONAL", "PROVISIONAL", "DEFINITIVE", "CHECKED_IN"})


def _stay(record: dict[str, Any]) -> tuple[dt.date, dt.date]:
    return dt.date.fromisoformat(record["arrivalDate"]), dt.date.fromisoformat(
        record["departureDate"]
    )


def hold(state: SandboxState, record: dict[str, Any], when: dt.datetime) -> None:
    """Take ``record``'s unit for its stay; emit AVAILABILITY_EVENT."""
    data = state.data
    arrival, departure = _stay(record)
    resource_id = record["resourceId"]
    data.holds.setdefault(resource_id, {})[record["reservationId"]] = (
        record["unitId"],
        arrival,
        departure,
    )
    # Every hold changes the type's availability (one unit fewer for the stays it overlaps):
    # "When the prices or availability of a certain accommodation type changes ... an
    # availability event is created"; the last unit is the guide's near-real-time case.
    data.add_event("AVAILABILITY_EVENT", resource_id, "ACCOMMODATIONTYPE", "UPDATE", when)


def release(state: SandboxState, record: dict[str, Any]) -> None:
    """Give ``record``'s unit back (declined, cancelled, expired); the type's availability
    changes, so an AVAILABILITY_EVENT follows (guide, Event Flow)."""
    holds = state.data.holds.get(record["resourceId"])
    if holds is not None and holds.pop(record["reservationId"], None) is not None:
        when = state.data.event_time(state.utcnow())
        state.data.add_event(
            "AVAILABILITY_EVENT", record["resourceId"], "ACCOMMODATIONTYPE", "UPDATE", when
        )


def is_held(state: SandboxState, record: dict[str, Any]) -> bool:
    """Whether ``record`` holds its unit now."""
    return record["reservationId"] in state.data.holds.get(record["resourceId"], {})


def sync_hold(state: SandboxState, record: dict[str, Any], when: dt.datetime) -> str | None:
    """Make the hold match the record's status after a change.

    Returns why the change cannot be made (the unit went to someone else while the
    reservation did not hold it: a QUOTATION or a CANCELLED one being confirmed), else None.
    Another free unit of the type is taken when the reservation's own is gone.
    """
    if record["reservationId"] not in state.data.booked:
        return None  # generated history: never held a unit
    wants = record["statusValue"] in HOLDING_STATUSES
    if not wants:
        release(state, record)
        return None
    if is_held(state, record):
        return None
    arrival, departure = _stay(record)
    avail = state.data.availability(record["resourceId"], arrival, (departure - arrival).days)
    free = [u["unitId"] for u in avail["units"]] if avail is not None else []
    if not free:
        return (
            f"Accommodation type {record['resourceId']} is no longer available on "
            f"{record['arrivalDate']} for {(departure - arrival).days} days"
        )
    if record["unitId"] not in free:
        record["unitId"] = free[0]
    hold(state, record, when)
    return None
