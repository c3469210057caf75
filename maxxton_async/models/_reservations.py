"""Reservations: reading, proposing, creating, changing status, paying.

Sources: the reference's reservation pages (status codes, types, bodies; maxxton-api-notes.md
§4) and the guide's Reservation Flow (the status transition table, §5 "Update Reservation").
Shapes the public material does not show (bill lines, reserved resources, the payment-link
answer) are **inferred** (docs/wire-contract.md) and kept in this module.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Annotated

import msgspec

from .._errors import IllegalTransitionError
from ._availability import AvailabilityUnit
from ._base import Model, utc
from ._customers import Customer

__all__ = [
    "BillLine",
    "BookedAccommodationType",
    "PayerType",
    "PaymentLink",
    "PaymentRequest",
    "PaymentResult",
    "PersonSubject",
    "Reservation",
    "ReservationCreateRequest",
    "ReservationDetails",
    "ReservationProposal",
    "ReservationProposalRequest",
    "ReservationStatus",
    "ReservationType",
    "ReservedResource",
    "StatusAction",
    "StatusUpdate",
    "StatusUpdateResult",
    "Subjects",
    "allowed_actions",
    "check_transition",
]


class ReservationStatus(IntEnum):
    """Numeric reservation status codes (reference, Get reservation)."""

    DELETED = -99
    DEFINITIVE_CANCELLED = -13
    CANCELLED = -12
    EXPIRED = -11
    DECLINED = -10
    QUOTATION = -5
    INITIAL = 0
    REQUEST = 10
    OPTIONAL = 11
    PROVISIONAL = 12
    DEFINITIVE = 21
    CHECKED_IN = 31
    CHECKED_OUT = 41


class ReservationType(StrEnum):
    """Known ``Reservation.type`` values (reference; LINEAR appears in the details enum)."""

    RESERVATION = "RESERVATION"
    INVOICE = "INVOICE"
    CASH = "CASH"
    ALLOTMENT = "ALLOTMENT"
    LINEAR = "LINEAR"


class StatusAction(StrEnum):
    """The ``statusValue`` of a status update (``PUT /maxxton/v2/reservations/{id}``)."""

    CONFIRM = "CONFIRM"
    DECLINE = "DECLINE"
    CANCEL = "CANCEL"
    CHECKED_IN = "CHECKED_IN"
    CHECKED_OUT = "CHECKED_OUT"


class PayerType(StrEnum):
    """Who pays, for the payment link's required ``payerType`` (reference, Get paymentlink)."""

    CUSTOMER = "CUSTOMER"
    PAYING_CUSTOMER = "PAYING_CUSTOMER"
    AGENT = "AGENT"


_S = ReservationStatus
_A = StatusAction
# Guide, Reservation Flow, "5) Update Reservation", status chart:
#   QUOTATION(-5) / OPTIONAL(11) / REQUEST(10) -> CONFIRM, DECLINE
#   PROVISIONAL(12) -> CANCEL, DECLINE
#   DEFINITIVE(21)  -> CANCEL, CHECKED_IN
#   CHECKED_IN(31)  -> CHECKED_OUT
_TRANSITIONS: dict[int, frozenset[StatusAction]] = {
    _S.QUOTATION: frozenset({_A.CONFIRM, _A.DECLINE}),
    _S.OPTIONAL: frozenset({_A.CONFIRM, _A.DECLINE}),
    _S.REQUEST: frozenset({_A.CONFIRM, _A.DECLINE}),
    _S.PROVISIONAL: frozenset({_A.CANCEL, _A.DECLINE}),
    _S.DEFINITIVE: frozenset({_A.CANCEL, _A.CHECKED_IN}),
    _S.CHECKED_IN: frozenset({_A.CHECKED_OUT}),
}


def allowed_actions(status: int) -> frozenset[StatusAction]:
    """The status updates the guide allows from ``status`` (a code or :class:`ReservationStatus`).

    Every other status, known or not, allows none.
    """
    return _TRANSITIONS.get(int(status), frozenset())


def check_transition(status: int, action: StatusAction | str) -> StatusAction:
    """Return ``action`` as a :class:`StatusAction` if the guide allows it from ``status``.

    Raises:
        IllegalTransitionError: unknown action, or not allowed from ``status``; raised before
            anything is sent.
    """
    try:
        act = StatusAction(action)
    except ValueError:
        raise IllegalTransitionError(f"unknown status action {action!r}") from None
    if act not in allowed_actions(status):
        try:
            name = ReservationStatus(status).name
        except ValueError:
            name = str(status)
        allowed = ", ".join(sorted(allowed_actions(status))) or "none"
        raise IllegalTransitionError(
            f"{act} is not allowed from status {name} ({int(status)}); allowed: {allowed}"
        )
    return act


class Reservation(Model, kw_only=True):
    """A reservation (``GET /maxxton/v2/reservations[/{id}]``; fields per the reference and
    docs/wire-contract.md).

    ``status`` is the numeric code (see :class:`ReservationStatus`), ``status_value`` its name;
    both are kept as sent so an unknown code does not break decoding.
    """

    reservation_id: int
    reservation_number: str | None = None
    """Assigned once the reservation is OPTIONAL or PROVISIONAL (guide, §6)."""
    status: int | None = None
    status_value: str | None = None
    type: str | None = None
    """Known values: :class:`ReservationType`."""
    arrival_date: date | None = None
    departure_date: date | None = None
    duration: int | None = None
    customer_id: int | None = None
    resource_id: int | None = None
    unit_id: int | None = None
    distribution_channel_id: int | None = None
    location_id: int | None = None
    external_booking_reference: str | None = None
    book_date: datetime | None = None
    """When the reservation was made (date-time, **inferred**)."""
    total_price: float | None = None
    currency_code: str | None = None
    expected_arrival_date_time: datetime | None = None
    expected_departure_date_time: datetime | None = None
    cancellation_reason: str | None = None
    """Why it was cancelled or declined: the ``cancellationReason`` sent with CANCEL or
    DECLINE (reference, Update reservation; returned on the reservation: **inferred**,
    docs/wire-contract.md)."""

    def __post_init__(self) -> None:
        self.book_date = utc(self.book_date)
        self.expected_arrival_date_time = utc(self.expected_arrival_date_time)
        self.expected_departure_date_time = utc(self.expected_departure_date_time)

    @property
    def known_status(self) -> ReservationStatus | None:
        """``status`` as a :class:`ReservationStatus`, or ``None`` if absent or unknown."""
        if self.status is None:
            return None
        try:
            return ReservationStatus(self.status)
        except ValueError:
            return None

    def allowed_actions(self) -> frozenset[StatusAction]:
        """The status updates the guide allows from this reservation's status."""
        return frozenset() if self.status is None else allowed_actions(self.status)


class PersonSubject(Model, kw_only=True):
    """Persons of one age staying (guide, New Reservation: ``subjects.persons[].age``,
    ``quantity``)."""

    quantity: int
    age: int | None = None


class Subjects(Model, kw_only=True):
    """Who stays (guide, New Reservation: ``subjects``)."""

    persons: list[PersonSubject] = msgspec.field(default_factory=list)


class BookedAccommodationType(Model, kw_only=True):
    """One ``accommodationTypes[]`` item of a proposal or booking (guide, New Reservation;
    the nesting of ``arrivalDate`` here is **inferred**).

    ``unit_id`` is mandatory when ``skipAvailabilityIndexCheck=true`` (reference).
    """

    resource_id: int
    arrival_date: date
    duration: int
    """Nights ("the duration should be passed in days ex: 7", guide)."""
    subjects: Subjects | None = None
    unit_id: int | None = None
    offer_code: str | None = None
    rate_type_id: int | None = None


class _BookingBody(Model, kw_only=True):
    distribution_channel_code: str
    category_code: str
    """Reservation category code (required, reference)."""
    accommodation_types: list[BookedAccommodationType]
    customer_id: int | None = None
    customer: Customer | None = None
    """Either this or ``customer_id`` (guide, New Reservation)."""
    payment_term_set_id: int | None = None

    def __post_init__(self) -> None:
        if not self.accommodation_types:
            raise ValueError("accommodationTypes must hold at least one accommodation type")
        if self.customer is not None and self.customer_id is not None:
            raise ValueError("give either customer or customerId, not both")


class ReservationProposalRequest(_BookingBody, kw_only=True):
    """Body of ``POST /maxxton/v2/reservations/proposals``: prices a stay, stores nothing
    (guide, Reservation Flow §3). Read-only, so safe to retry."""

    rate_type_id: int | None = None


class ReservationCreateRequest(_BookingBody, kw_only=True):
    """Body of ``POST /maxxton/v2/reservations`` (reference, Creates a new reservation).

    Not idempotent: set ``external_booking_reference`` so a lost answer can be checked.
    ``status_value``: ``OPTIONAL``, ``QUOTATION``, ``PROVISIONAL``, ``PRE_BOOKING`` or
    ``REQUEST``; omit it for a confirmed booking (reference).
    """

    remark: str | None = None
    external_booking_reference: str | None = None
    send_method_code: str | None = None
    status_value: str | None = None


class BillLine(Model, kw_only=True):
    """One line of a bill (**inferred** shape)."""

    name: str | None = None
    description: str | None = None
    resource_id: int | None = None
    quantity: float | None = None
    total: float | None = None


class ReservedResource(Model, kw_only=True):
    """A booked resource of a reservation (guide, "Resources and Reserved Resources";
    **inferred** fields)."""

    reserved_resource_id: int | None = None
    resource_id: int | None = None
    type: str | None = None
    """E.g. ``ACCOMMODATIONTYPE``, ``ADDON``."""
    name: str | None = None
    unit_id: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    price: float | None = None
    offer_id: int | None = None
    offer_code: str | None = None


class ReservationProposal(Model, kw_only=True):
    """Answer to a proposal: the stay and its bill; no reservation id or number exists yet
    (guide, Reservation Flow §3)."""

    arrival_date: date | None = None
    departure_date: date | None = None
    currency_code: str | None = None
    total_price: float | None = None
    """**inferred**."""
    customer_bill: list[BillLine] = msgspec.field(default_factory=list)
    agent_bill: list[BillLine] = msgspec.field(default_factory=list)
    reserved_resources: list[ReservedResource] = msgspec.field(default_factory=list)
    units: list[AvailabilityUnit] = msgspec.field(default_factory=list)
    """Free units, with the query parameter ``returnUnits=true`` (reference)."""


class ReservationDetails(Reservation, kw_only=True):
    """``GET /reservations/{id}/details``: the reservation plus the sections asked for with
    ``returnSections`` (reference; section shapes **inferred**, docs/wire-contract.md)."""

    customer: Customer | None = None
    reserved_resources: list[ReservedResource] = msgspec.field(default_factory=list)
    customer_bill: list[BillLine] = msgspec.field(default_factory=list)
    agent_bill: list[BillLine] = msgspec.field(default_factory=list)


class StatusUpdate(Model, kw_only=True):
    """Body of ``PUT /maxxton/v2/reservations/{id}`` changing the status.

    Check the move first with :func:`check_transition`. ``cancellation_reason`` is at most 4000
    characters and only allowed with CANCEL or DECLINE (reference, Update reservation).
    """

    status_value: StatusAction
    cancellation_reason: Annotated[str, msgspec.Meta(max_length=4000)] | None = None

    def __post_init__(self) -> None:
        if self.cancellation_reason is None:
            return
        if self.status_value not in (StatusAction.CANCEL, StatusAction.DECLINE):
            raise ValueError("cancellationReason is only allowed with CANCEL or DECLINE")
        if len(self.cancellation_reason) > 4000:
            raise ValueError("cancellationReason is at most 4000 characters")


class StatusUpdateResult(Model, kw_only=True):
    """Answer to a status update (reference: ``reservationId``, ``statusValue``, ...)."""

    reservation_id: int
    status_value: str | None = None
    """The resulting status name, e.g. ``PROVISIONAL`` or ``DEFINITIVE`` after CONFIRM."""
    payment_term_set_id: int | None = None


class PaymentLink(Model, kw_only=True):
    """Answer of ``GET /maxxton/v2/reservations/{id}/paymentlink`` (**inferred** shape,
    docs/wire-contract.md)."""

    payment_link: str
    reservation_id: int | None = None
    amount: float | None = None
    currency_code: str | None = None


class PaymentRequest(Model, kw_only=True):
    """Body of ``POST /maxxton/v2/reservations/{id}/payments`` (reference, "Create payments for a
    reservation": ``paymentMethodCode`` and ``amount`` required; path **inferred**, notes §4).

    Not idempotent: each accepted request records one more payment.
    """

    payment_method_code: str
    amount: float
    currency_code: str | None = None
    """Omitted: the reservation's currency (**inferred**)."""
    remark: str | None = None
    psp_reference_number: str | None = None
    """The payment service provider's reference of the transaction: keep it, it is how a
    payment whose answer was lost can be recognised later."""

    def __post_init__(self) -> None:
        if not self.payment_method_code:
            raise ValueError("paymentMethodCode is required (reference)")
        # NaN and infinity have no JSON form (msgspec would send null for a required field).
        if isinstance(self.amount, bool) or not math.isfinite(self.amount):
            raise ValueError(f"amount must be a finite number, got {self.amount!r}")


class PaymentResult(Model, kw_only=True):
    """Answer to a payment (**inferred** shape, docs/wire-contract.md: the reference page shows
    no response schema). ``status_value`` is the reservation's status after the payment:
    a payment turns PROVISIONAL into DEFINITIVE (guide, Reservation Flow 6)."""

    reservation_id: int
    payment_id: int | None = None
    payment_method_code: str | None = None
    amount: float | None = None
    currency_code: str | None = None
    remark: str | None = None
    psp_reference_number: str | None = None
    status_value: str | None = None
