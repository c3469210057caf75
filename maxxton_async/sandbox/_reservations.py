"""Reservation writes: proposal, create, status change, payment, and the stay and bill changes
``mutate()`` makes; each stored change emits its event and webhook.

Follows the guide's Reservation Flow: a proposal stores nothing (3); a new reservation is
validated against availability and stored with an id and number (4); a status update follows the
transition chart (5, see :mod:`._transitions`). Every stored change appends a
``RESERVATION_EVENT`` (guide, Event Flow) and notifies webhooks (guide, Webhooks).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ._customers import CustomerError, new_customer
from ._data import STATUS_CODES
from ._holds import HOLDING_STATUSES, hold, sync_hold
from ._transitions import next_status

if TYPE_CHECKING:
    from ._state import SandboxState

__all__ = [
    "BookingError",
    "add_payment",
    "change_bill",
    "change_expected_times",
    "change_status",
    "change_stay",
    "create_reservation",
    "propose",
]

Record = dict[str, Any]

#: Statuses a reservation may be created in (reference, Creates a new reservation,
#: ``statusValue``, less PRE_BOOKING, whose status code no public source gives); omitted means
#: a confirmed booking, i.e. PROVISIONAL (guide, Reservation Flow).
CREATE_STATUSES = ("OPTIONAL", "QUOTATION", "PROVISIONAL", "REQUEST")


class BookingError(ValueError):
    """A reservation request the sandbox refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _stay(state: SandboxState, body: Record) -> tuple[Record, Record, int, dt.date, int]:
    """Validate a proposal/reservation body; returns (type, availability, resourceId, arrival,
    duration). Required fields per guide, Reservation Flow 4 and reference (create reservation)."""
    if not isinstance(body, dict):
        raise BookingError("Request body must be a JSON object")
    for name in ("distributionChannelCode", "categoryCode", "accommodationTypes"):
        if not body.get(name):
            raise BookingError(f"{name} is required")
    channels = {dc["code"]: dc for dc in state.data.distribution_channels.values()}
    if body["distributionChannelCode"] not in channels:
        raise BookingError(f"Unknown distributionChannelCode {body['distributionChannelCode']!r}")
    items = body["accommodationTypes"]
    if not isinstance(items, list) or not isinstance(items[0], dict):
        raise BookingError("accommodationTypes must be a non-empty array of objects")
    item = items[0]
    try:
        resource_id = int(item["resourceId"])
        duration = int(item["duration"])
        arrival = dt.date.fromisoformat(str(item.get("arrivalDate") or body["arrivalDate"]))
    except (KeyError, TypeError, ValueError):
        raise BookingError(
            "accommodationTypes[0] needs resourceId, arrivalDate (yyyy-MM-dd) and duration"
        ) from None
    at = state.data.accommodation_types.get(resource_id)
    if at is None:
        raise BookingError(f"No accommodation type found for resourceId {resource_id}")
    persons = _persons(item.get("subjects") or body.get("subjects"))
    if persons > at["maxCapacity"]:
        raise BookingError(f"{persons} persons exceed maxCapacity {at['maxCapacity']}")
    avail = state.data.availability(resource_id, arrival, duration)
    if avail is None:
        raise BookingError(
            f"Accommodation type {resource_id} is not available on {arrival} for {duration} days"
        )
    return at, avail, resource_id, arrival, duration


def _persons(subjects: Any) -> int:
    if not isinstance(subjects, dict):
        return 0
    persons = subjects.get("persons", ())
    for person in persons if isinstance(persons, list) else ():
        # guide, New Reservation: "age: age of the person" and "quantity" are mandatory.
        if not isinstance(person, dict) or not all(
            isinstance(person.get(k), int) and not isinstance(person.get(k), bool)
            for k in ("age", "quantity")
        ):
            raise BookingError("subjects.persons[] needs age and quantity (integers)")
    return sum(int(p["quantity"]) for p in persons if isinstance(p, dict))


def _price(avail: Record, body: Record) -> Record:
    wanted = body.get("offerCode")
    for price in avail["prices"]:
        if wanted is None or price["offerCode"] == wanted:
            return dict(price)
    raise BookingError(f"Offer {wanted!r} does not apply to this stay")


def propose(state: SandboxState, body: Record) -> Record:
    """A reservation proposal: costs and units for the stay, nothing stored (guide, 3)."""
    at, avail, resource_id, arrival, duration = _stay(state, body)
    price = _price(avail, body)
    departure = arrival + dt.timedelta(days=duration)
    return {
        "arrivalDate": arrival.isoformat(),
        "departureDate": departure.isoformat(),
        "currencyCode": "EUR",
        "totalPrice": price["priceInclusive"],
        "customerBill": [
            {"description": at["name"], "total": price["price"], "resourceId": resource_id},
            {
                "description": "Tourist tax and fees",
                "total": round(price["priceInclusive"] - price["price"], 2),
            },
        ],
        "reservedResources": [
            {
                "resourceId": resource_id,
                "type": "ACCOMMODATIONTYPE",
                # guide, Date Fields: the period within the reservation.
                "stayDateFrom": arrival.isoformat(),
                "stayDateTo": departure.isoformat(),
                "price": price["price"],
                "offerId": price["offerId"],
                "offerCode": price["offerCode"],
            }
        ],
        "units": avail["units"],
    }


def create_reservation(state: SandboxState, body: Record) -> Record:
    """Store a new reservation (guide, Reservation Flow 4); emits events and a webhook."""
    at, avail, resource_id, arrival, duration = _stay(state, body)
    price = _price(avail, body)
    data = state.data
    status = body.get("statusValue") or body.get("status") or "PROVISIONAL"
    if status not in CREATE_STATUSES:
        raise BookingError(f"A reservation cannot be created with statusValue {status!r}")
    now = state.utcnow()
    unit_id = body["accommodationTypes"][0].get("unitId")
    units = [u["unitId"] for u in avail["units"]]
    if unit_id is not None and unit_id not in units:
        raise BookingError(f"Unit {unit_id} is not available for this stay")
    customer_id = body.get("customerId")
    created: Record | None = None
    if customer_id is not None:
        try:
            customer_id = int(customer_id)
        except (TypeError, ValueError):
            raise BookingError("customerId must be an integer") from None
        if customer_id not in data.customers:
            raise BookingError(f"No customer found for customerId {customer_id}")
    elif isinstance(body.get("customer"), dict):
        # Last check before storing: a refused booking must not leave a new customer behind.
        created = _new_customer(state, body["customer"])
        customer_id = created["customerId"]
    else:
        raise BookingError("customer or customerId is required")
    dc = next(
        d
        for d in data.distribution_channels.values()
        if d["code"] == body["distributionChannelCode"]
    )
    res_id = data.next_id("reservation")
    record: Record = {
        "reservationId": res_id,
        "reservationNumber": f"{data.seed % 100:02d}{res_id:08d}",
        "status": STATUS_CODES[status],
        "statusValue": status,
        "arrivalDate": arrival.isoformat(),
        "departureDate": (arrival + dt.timedelta(days=duration)).isoformat(),
        "duration": duration,
        "customerId": customer_id,
        "resourceId": resource_id,
        "unitId": unit_id if unit_id is not None else units[0],
        "distributionChannelId": dc["distributionChannelId"],
        "locationId": at["locationId"],
        "externalBookingReference": body.get("externalBookingReference"),
        "reservationDate": now.date().isoformat(),
        "totalPrice": price["priceInclusive"],
        "currencyCode": "EUR",
        "type": "RESERVATION",
    }
    data.reservations[res_id] = record
    data.booked.add(res_id)
    when = event_time(state)
    if created is not None:
        data.add_event("CUSTOMER_EVENT", customer_id, "CUSTOMER", "CREATE", when)
    data.add_event("RESERVATION_EVENT", res_id, "RESERVATION", "CREATE", when)
    if status in HOLDING_STATUSES:
        # The booked unit leaves availability; the last one emits AVAILABILITY_EVENT.
        hold(state, record, when)
    state.webhooks.notify("reservation.status_change", record, now)
    return record


def _new_customer(state: SandboxState, given: Record) -> Record:
    # The customer object of a booking is a customer to create (guide, New Reservation):
    # the same rules as POST /customers (see ._customers), refused as a booking error.
    try:
        return new_customer(state, given)
    except CustomerError as exc:
        raise BookingError(f"customer: {exc}", exc.status) from None


def event_time(state: SandboxState) -> dt.datetime:
    """Now, but never before the last event: ``creationDate`` does not go backwards."""
    return state.data.event_time(state.utcnow())


def change_status(
    state: SandboxState, reservation_id: int, action: str, reason: str | None = None
) -> Record:
    """Apply a status action (guide, Reservation Flow 5); 404 if missing, 400 if illegal."""
    record = state.data.reservations.get(reservation_id)
    if record is None:
        raise BookingError(f"No reservation found for reservationId {reservation_id}", 404)
    if reason is not None:
        # cancellationReason: max 4000, only with CANCEL/DECLINE (reference, update reservation).
        if action not in ("CANCEL", "DECLINE"):
            raise BookingError("cancellationReason is only allowed with CANCEL or DECLINE")
        if len(reason) > 4000:
            raise BookingError("cancellationReason is longer than 4000 characters")
    old = record["statusValue"]
    new = next_status(old, action)
    if old == "CANCELLED" and action == "CONFIRM" and reservation_id in state.data.paid:
        new = "DEFINITIVE"  # "back to either PROVISIONAL or DEFINITIVE (depending on payments)"
    record["statusValue"] = new
    record["status"] = STATUS_CODES[new]
    refused = sync_hold(state, record, event_time(state))
    if refused is not None:
        record["statusValue"] = old
        record["status"] = STATUS_CODES[old]
        raise BookingError(refused)
    if reason is not None:
        record["cancellationReason"] = reason
    now = state.utcnow()
    state.data.add_event(
        "RESERVATION_EVENT", reservation_id, "RESERVATION", "UPDATE", event_time(state)
    )
    state.webhooks.notify("reservation.status_change", record, now)
    return record


_EXPECTED_FORMAT = "%Y-%m-%dT%H:%M:%S"


def change_expected_times(state: SandboxState, reservation_id: int, body: Record) -> Record:
    """Set ``expectedArrivalDateTime`` / ``expectedDepartureDateTime``: "the value should be
    passed in the below format, 'YYYY-MM-DDThh:mm:ss'" (guide, Reservation Flow 5). Any other
    format is refused with 400; stored and returned as sent. Appends RESERVATION_EVENT UPDATE.
    """
    record = state.data.reservations.get(reservation_id)
    if record is None:
        raise BookingError(f"No reservation found for reservationId {reservation_id}", 404)
    changes: Record = {}
    for name in ("expectedArrivalDateTime", "expectedDepartureDateTime"):
        value = body.get(name)
        if value is None:
            continue
        try:
            if not isinstance(value, str) or len(value) != 19:
                raise ValueError
            dt.datetime.strptime(value, _EXPECTED_FORMAT)
        except ValueError:
            raise BookingError(
                f"{name} must be formatted YYYY-MM-DDThh:mm:ss, got {value!r}"
            ) from None
        changes[name] = value
    record.update(changes)
    state.data.add_event(
        "RESERVATION_EVENT", reservation_id, "RESERVATION", "UPDATE", event_time(state)
    )
    return record


def change_stay(state: SandboxState, reservation_id: int, shift_days: int) -> Record:
    """Move a reservation's stay by ``shift_days`` (same duration, same price).

    Appends RESERVATION_EVENT UPDATE and sends ``reservation.stay_period_change``: "The arrival
    and/or departure date of the reservation changed" (guide, Webhooks). The price is kept, so
    no bill change is sent with it.
    """
    record = state.data.reservations.get(reservation_id)
    if record is None:
        raise BookingError(f"No reservation found for reservationId {reservation_id}", 404)
    if shift_days == 0:
        raise BookingError("a stay change must move the stay")
    shift = dt.timedelta(days=shift_days)
    for name in ("arrivalDate", "departureDate"):
        record[name] = (dt.date.fromisoformat(record[name]) + shift).isoformat()
    _changed(state, record, "reservation.stay_period_change")
    return record


def change_bill(state: SandboxState, reservation_id: int, total_price: float) -> Record:
    """Set a reservation's ``totalPrice`` (an add-on booked, a discount given, ...).

    Appends RESERVATION_EVENT UPDATE and sends ``reservation.bill_change``: "There was a change
    to the total bill amount for the customer, paying customer, or agent" (guide, Webhooks).
    """
    record = state.data.reservations.get(reservation_id)
    if record is None:
        raise BookingError(f"No reservation found for reservationId {reservation_id}", 404)
    if total_price == record["totalPrice"]:
        raise BookingError("a bill change must change the total")
    record["totalPrice"] = round(float(total_price), 2)
    _changed(state, record, "reservation.bill_change")
    return record


def _changed(state: SandboxState, record: Record, webhook_type: str) -> None:
    state.data.add_event(
        "RESERVATION_EVENT", record["reservationId"], "RESERVATION", "UPDATE", event_time(state)
    )
    state.webhooks.notify(webhook_type, record, state.utcnow())


def add_payment(state: SandboxState, reservation_id: int, body: Record) -> Record:
    """Record a payment (reference, Create payments for a reservation; path **inferred**).

    ``paymentMethodCode`` and ``amount`` are required. A payment turns PROVISIONAL into
    DEFINITIVE (guide, Reservation Flow 6); webhooks get ``reservation.payment_received`` and, when
    the status moved, ``reservation.status_change`` (guide, Webhooks).
    """
    record = state.data.reservations.get(reservation_id)
    if record is None:
        raise BookingError(f"No reservation found for reservationId {reservation_id}", 404)
    method = body.get("paymentMethodCode")
    if not method or not isinstance(method, str):
        raise BookingError("paymentMethodCode is required")
    amount = body.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or amount <= 0:
        raise BookingError("amount is required and must be a positive number")
    for name in ("currencyCode", "remark", "pspReferenceNumber"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise BookingError(f"{name} must be a string")
    now = state.utcnow()
    state.data.paid.add(reservation_id)
    moved = record["statusValue"] == "PROVISIONAL"
    if moved:
        record["statusValue"] = "DEFINITIVE"
        record["status"] = STATUS_CODES["DEFINITIVE"]
    state.data.add_event(
        "RESERVATION_EVENT", reservation_id, "RESERVATION", "UPDATE", event_time(state)
    )
    state.webhooks.notify("reservation.payment_received", record, now)
    if moved:
        state.webhooks.notify("reservation.status_change", record, now)
    # The answer's shape is **inferred** (the reference shows none; wire contract).
    return {
        "paymentId": state.data.next_id("payment"),
        "reservationId": reservation_id,
        "paymentMethodCode": method,
        "amount": float(amount),
        "currencyCode": body.get("currencyCode") or record["currencyCode"],
        "remark": body.get("remark"),
        "pspReferenceNumber": body.get("pspReferenceNumber"),
        "statusValue": record["statusValue"],
    }
