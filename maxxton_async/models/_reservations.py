"""Reservations: reading, proposing, creating, changing status, paying.

Sources: the reference's reservation pages (status codes, types, bodies) and the guide's
Reservation Flow (the status chart of 5 "Update Reservation" and the status flow of 6 "Reservation
Status Flow Overview"), and the guide's Date Fields (``reservationDate``, ``stayDateFrom``,
``stayDateTo``).
Shapes the public material does not show (bill lines, reserved resources, the payment-link
answer) are **inferred** (docs/wire-contract.md) and kept in this module.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, ClassVar

import msgspec

from .._errors import IllegalTransitionError
from ._availability import AvailabilityUnit
from ._base import Model, Tolerant, utc
from ._customers import Customer

__all__ = [
    "CREATE_STATUSES",
    "STATUS_FLOW",
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
    "ReservationUpdate",
    "ReservedResource",
    "StatusAction",
    "StatusUpdate",
    "StatusUpdateResult",
    "Subjects",
    "allowed_actions",
    "check_transition",
    "format_expected_time",
]


class ReservationStatus(IntEnum):
    """Numeric reservation status codes (reference, Get reservation).

    The guide's Reservation Flow 6 spells two of them differently: ``INIT`` (an initial
    reservation) and ``DEF_CANCELLED``; both are aliases of the reference's names.
    """

    DELETED = -99
    DEFINITIVE_CANCELLED = -13
    DEF_CANCELLED = -13
    CANCELLED = -12
    EXPIRED = -11
    DECLINED = -10
    QUOTATION = -5
    INITIAL = 0
    INIT = 0
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


#: Statuses a reservation may be created in (reference, Creates a new reservation,
#: ``statusValue``); omit ``statusValue`` for a confirmed booking.
CREATE_STATUSES: frozenset[str] = frozenset(
    {"OPTIONAL", "QUOTATION", "PROVISIONAL", "PRE_BOOKING", "REQUEST"}
)

_S = ReservationStatus
_A = StatusAction

#: Where a status may move, by any means (an update, a payment, the server's own timers):
#: guide, Reservation Flow 6 "Reservation Status Flow Overview", with the DECLINE moves of
#: the chart in 5. INIT goes to DELETED, OPTIONAL or PROVISIONAL; OPTIONAL and QUOTATION go
#: to EXPIRED when not confirmed, or are confirmed to PROVISIONAL/DEFINITIVE; a payment turns
#: PROVISIONAL into DEFINITIVE; "From CANCELLED it can go to DEF_CANCELLED (if the guest
#: decides to cancel absolutely), or back to either PROVISIONAL or DEFINITIVE".
STATUS_FLOW: dict[ReservationStatus, frozenset[ReservationStatus]] = {
    _S.INITIAL: frozenset({_S.DELETED, _S.OPTIONAL, _S.PROVISIONAL}),
    _S.QUOTATION: frozenset({_S.EXPIRED, _S.PROVISIONAL, _S.DEFINITIVE, _S.DECLINED}),
    _S.OPTIONAL: frozenset({_S.EXPIRED, _S.PROVISIONAL, _S.DEFINITIVE, _S.DECLINED}),
    _S.REQUEST: frozenset({_S.PROVISIONAL, _S.DEFINITIVE, _S.DECLINED}),
    _S.PROVISIONAL: frozenset({_S.DEFINITIVE, _S.DECLINED, _S.CANCELLED}),
    _S.DEFINITIVE: frozenset({_S.CANCELLED, _S.CHECKED_IN}),
    _S.CHECKED_IN: frozenset({_S.CHECKED_OUT}),
    _S.CANCELLED: frozenset({_S.DEFINITIVE_CANCELLED, _S.PROVISIONAL, _S.DEFINITIVE}),
}

# The actions ``PUT /reservations/{id}`` takes (``statusValue``), by current status.
# Guide, Reservation Flow, "5) Update Reservation", status chart:
#   QUOTATION(-5) / OPTIONAL(11) / REQUEST(10) -> CONFIRM, DECLINE
#   PROVISIONAL(12) -> CANCEL, DECLINE
#   DEFINITIVE(21)  -> CANCEL, CHECKED_IN
#   CHECKED_IN(31)  -> CHECKED_OUT
# and section 6's moves out of CANCELLED, which the chart of 5 leaves out: DEF_CANCELLED
# (CANCEL again: "cancel absolutely") or back to PROVISIONAL/DEFINITIVE (CONFIRM, the action
# that yields those two everywhere else). The action names for these two moves are
# **inferred**; a move the SDK does not know can still be sent with ``override=True``.
_TRANSITIONS: dict[int, frozenset[StatusAction]] = {
    _S.QUOTATION: frozenset({_A.CONFIRM, _A.DECLINE}),
    _S.OPTIONAL: frozenset({_A.CONFIRM, _A.DECLINE}),
    _S.REQUEST: frozenset({_A.CONFIRM, _A.DECLINE}),
    _S.PROVISIONAL: frozenset({_A.CANCEL, _A.DECLINE}),
    _S.DEFINITIVE: frozenset({_A.CANCEL, _A.CHECKED_IN}),
    _S.CHECKED_IN: frozenset({_A.CHECKED_OUT}),
    _S.CANCELLED: frozenset({_A.CANCEL, _A.CONFIRM}),
}


def allowed_actions(status: int) -> frozenset[StatusAction]:
    """The status updates the guide allows from ``status`` (a code or :class:`ReservationStatus`).

    Every other status, known or not, allows none (INIT, DELETED, EXPIRED, DECLINED,
    DEF_CANCELLED and CHECKED_OUT are moved by the server, or not at all; guide, 6).
    """
    return _TRANSITIONS.get(int(status), frozenset())


def check_transition(status: int, action: StatusAction | str) -> StatusAction:
    """Return ``action`` as a :class:`StatusAction` if the guide allows it from ``status``.

    To send a move this chart does not know (the server is the judge), pass
    ``override=True`` to :meth:`Reservations.update_status` instead.

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


class Reservation(Tolerant, kw_only=True):
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
    reservation_date: date | None = None
    """"Date the guest creates the reservation" (guide, Date Fields). Its wire format is not
    shown; ``YYYY-MM-DD`` like the other date fields is **inferred**, so a value of another
    shape is kept raw in :attr:`undecoded` instead of failing the record."""
    total_price: float | None = None
    currency_code: str | None = None
    expected_arrival_date_time: datetime | None = None
    """When the guest is expected (guide, Reservation Flow 5; writable with
    :meth:`Reservations.update`)."""
    expected_departure_date_time: datetime | None = None
    cancellation_reason: str | None = None
    """Why it was cancelled or declined: the ``cancellationReason`` sent with CANCEL or
    DECLINE (reference, Update reservation; returned on the reservation: **inferred**,
    docs/wire-contract.md)."""

    __guessed__: ClassVar[frozenset[str]] = frozenset(
        {"reservation_date", "cancellation_reason", "type"}
    )

    def __post_init__(self) -> None:
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
    ``quantity``; both are among the guide's mandatory parameters)."""

    age: int
    """Age of the person(s) (guide, New Reservation: mandatory)."""
    quantity: int


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

    The fields are the reference's body parameters and no others: ``distributionChannelCode``,
    ``categoryCode``, ``accommodationTypes`` (required), ``remark``,
    ``externalBookingReference``, ``sendMethodCode``, ``statusValue``, and ``customerId`` or
    the guide's ``customer`` object. ``status_value`` is one of :data:`CREATE_STATUSES`
    (``OPTIONAL``, ``QUOTATION``, ``PROVISIONAL``, ``PRE_BOOKING``, ``REQUEST``); omit it for a
    confirmed booking.

    Not idempotent: set ``external_booking_reference`` so a lost answer can be checked.
    """

    remark: str | None = None
    external_booking_reference: str | None = None
    send_method_code: str | None = None
    status_value: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.status_value is not None and self.status_value not in CREATE_STATUSES:
            allowed = ", ".join(sorted(CREATE_STATUSES))
            raise ValueError(
                f"statusValue {self.status_value!r} is not one a reservation can be created "
                f"in ({allowed}; omit it for a confirmed booking)"
            )


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
    stay_date_from: date | None = None
    """Start of this resource's period within the reservation (guide, Date Fields)."""
    stay_date_to: date | None = None
    """End of that period (guide, Date Fields)."""
    price: float | None = None
    offer_id: int | None = None
    offer_code: str | None = None


class ReservationProposal(Tolerant, kw_only=True):
    """Answer to a proposal: the stay and its bill; no reservation id or number exists yet
    (guide, Reservation Flow §3)."""

    __guessed__: ClassVar[frozenset[str]] = frozenset(
        {
            "currency_code",
            "total_price",
            "customer_bill",
            "agent_bill",
            "reserved_resources",
            "units",
        }
    )

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

    __guessed__: ClassVar[frozenset[str]] = Reservation.__guessed__ | frozenset(
        {"reserved_resources", "customer_bill", "agent_bill"}
    )

    customer: Customer | None = None
    reserved_resources: list[ReservedResource] = msgspec.field(default_factory=list)
    customer_bill: list[BillLine] = msgspec.field(default_factory=list)
    agent_bill: list[BillLine] = msgspec.field(default_factory=list)


class StatusUpdate(Model, kw_only=True):
    """Body of ``PUT /maxxton/v2/reservations/{id}`` changing the status.

    Check the move first with :func:`check_transition`. ``cancellation_reason`` is at most 4000
    characters and only allowed with CANCEL or DECLINE (reference, Update reservation).
    ``status_value`` is normally a :class:`StatusAction`; any other name is sent as given
    (a move sent with ``override=True``: the server judges it).
    """

    status_value: str
    cancellation_reason: Annotated[str, msgspec.Meta(max_length=4000)] | None = None

    def __post_init__(self) -> None:
        if not self.status_value:
            raise ValueError("statusValue must not be empty")
        if self.cancellation_reason is None:
            return
        if self.status_value not in (StatusAction.CANCEL, StatusAction.DECLINE):
            raise ValueError("cancellationReason is only allowed with CANCEL or DECLINE")
        if len(self.cancellation_reason) > 4000:
            raise ValueError("cancellationReason is at most 4000 characters")


def format_expected_time(value: datetime) -> str:
    """``value`` in the guide's format for ``expectedArrivalDateTime`` /
    ``expectedDepartureDateTime``: ``YYYY-MM-DDThh:mm:ss`` (guide, Reservation Flow 5), no
    offset and no fraction. An aware value is converted to UTC first (reference preamble:
    date-times are UTC); a naive one is taken as UTC already.
    """
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
    aware = utc(value)
    assert aware is not None
    return aware.strftime("%Y-%m-%dT%H:%M:%S")


_EXPECTED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\Z")


class ReservationUpdate(Model, kw_only=True):
    """Body of ``PUT /maxxton/v2/reservations/{id}`` changing the expected arrival and/or
    departure time: "It's also possible to update the expectedArrivalDateTime and
    expectedDepartureDateTime, the value should be passed in the below format,
    'YYYY-MM-DDThh:mm:ss'" (guide, Reservation Flow 5).

    Build it with :func:`format_expected_time` (or :meth:`Reservations.update`, which does).
    """

    expected_arrival_date_time: str | None = None
    expected_departure_date_time: str | None = None

    def __post_init__(self) -> None:
        given = (self.expected_arrival_date_time, self.expected_departure_date_time)
        if all(v is None for v in given):
            raise ValueError("give expectedArrivalDateTime and/or expectedDepartureDateTime")
        for value in given:
            if value is not None and not _EXPECTED.match(value):
                raise ValueError(f"{value!r} is not in the guide's format YYYY-MM-DDThh:mm:ss")


class StatusUpdateResult(Model, kw_only=True):
    """Answer to a status update (reference: ``reservationId``, ``statusValue``, ...)."""

    reservation_id: int
    status_value: str | None = None
    """The resulting status name, e.g. ``PROVISIONAL`` or ``DEFINITIVE`` after CONFIRM."""
    payment_term_set_id: int | None = None


class PaymentLink(Tolerant, kw_only=True):
    """Answer of ``GET /maxxton/v2/reservations/{id}/paymentlink`` (**inferred** shape,
    docs/wire-contract.md)."""

    __guessed__: ClassVar[frozenset[str]] = frozenset(
        {"payment_link", "reservation_id", "amount", "currency_code"}
    )

    payment_link: str
    reservation_id: int | None = None
    amount: float | None = None
    currency_code: str | None = None


class PaymentRequest(Model, kw_only=True):
    """Body of ``POST /maxxton/v2/reservations/{id}/payments`` (reference, "Create payments for a
    reservation": ``paymentMethodCode`` and ``amount`` required; path **inferred**,
    docs/wire-contract.md).

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


class PaymentResult(Tolerant, kw_only=True):
    """Answer to a payment (**inferred** shape, docs/wire-contract.md: the reference page shows
    no response schema). ``status_value`` is the reservation's status after the payment:
    a payment turns PROVISIONAL into DEFINITIVE (guide, Reservation Flow 6)."""

    __guessed__: ClassVar[frozenset[str]] = frozenset(
        {
            "payment_id",
            "payment_method_code",
            "amount",
            "currency_code",
            "remark",
            "psp_reference_number",
            "status_value",
        }
    )

    reservation_id: int
    payment_id: int | None = None
    payment_method_code: str | None = None
    amount: float | None = None
    currency_code: str | None = None
    remark: str | None = None
    psp_reference_number: str | None = None
    status_value: str | None = None
