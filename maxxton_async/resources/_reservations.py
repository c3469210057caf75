"""Reservations: read, the booking flow, status changes, payments, batch status updates.

The booking flow is the guide's Reservation Flow: (3) a *proposal* prices a stay and stores
nothing, so it is a read-only POST, safe to retry; (4) *creating* stores the reservation and is
**never retried**: a resend could book twice, so a lost answer raises ``OutcomeUnknownError``.
Set ``external_booking_reference`` on every create and look it up
(:meth:`Reservations.find_by_reference`) before sending again;
(5) status changes go through ``PUT /reservations/{id}`` with ``statusValue``, and only the moves
of the guide's charts (sections 5 and 6) are allowed: they are checked *before* anything is sent
(see :func:`~maxxton_async.models.check_transition`); a move the SDK does not know is sent only
with ``override=True``, and the server judges it. The same PUT sets the expected arrival and
departure times (:meth:`Reservations.update`, section 5); (6) a payment
(:meth:`Reservations.add_payment`) makes a PROVISIONAL reservation DEFINITIVE and, like a
create, is never retried.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from .._endpoints import ENTITIES
from .._errors import IllegalTransitionError, NotFoundError
from .._filters import F
from ..models._reservations import (
    PayerType,
    PaymentLink,
    PaymentRequest,
    PaymentResult,
    Reservation,
    ReservationCreateRequest,
    ReservationDetails,
    ReservationProposal,
    ReservationProposalRequest,
    ReservationUpdate,
    StatusAction,
    StatusUpdate,
    StatusUpdateResult,
    check_transition,
    format_expected_time,
)
from ._base import Found, Headers, ListResource, check_id, request_one
from ._batch import BatchResults, run_batch

# ReservationDetails lives in models (a model like any other); it is re-exported here so
# ``maxxton_async.resources.ReservationDetails`` keeps working for code that imported it.
__all__ = ["ReservationDetails", "Reservations", "StatusChange"]

ReservationRef = int | Reservation
"""A reservation id, or a :class:`Reservation` (whose ``status`` spares a GET)."""

StatusChange = tuple[ReservationRef, StatusAction | str]
"""One item of :meth:`Reservations.update_status_many`: ``(reservation, action)``."""


class Reservations(ListResource[Reservation]):
    """``client.reservations`` (id ``reservationId``; the list answers 204 when nothing
    matches, which :meth:`list` turns into an empty page)."""

    _entity = ENTITIES["reservations"]

    # -- reading ------------------------------------------------------------------------

    async def details(
        self,
        reservation_id: int,
        *,
        return_sections: Sequence[str] | None = None,
        headers: Headers | None = None,
    ) -> ReservationDetails:
        """``GET /reservations/{id}/details`` (guide, Event Flow: the refresh call for
        RESERVATION_EVENT). ``return_sections`` picks sections (``CUSTOMER``,
        ``RESERVEDRESOURCES``, ``CUSTOMERBILL``, ...); all by default."""
        path = f"{self._path}/{check_id(reservation_id)}/details"
        params = {"returnSections": ",".join(return_sections) if return_sections else None}
        return await request_one(
            self._client,
            "GET",
            path,
            params=params,
            headers=headers,
            type=ReservationDetails,
            what="reservation details",
        )

    async def find_by_reference(
        self, external_booking_reference: str, *, headers: Headers | None = None
    ) -> builtins.list[Reservation]:
        """Reservations whose ``externalBookingReference`` is exactly this one (strict
        equals, ``::``): how to tell whether a create whose answer was lost was applied."""
        flt = F("externalBookingReference") == external_booking_reference
        return await self.iterate(filter=flt, headers=headers).collect()

    # -- booking flow (guide, Reservation Flow 3 and 4) ---------------------------------

    async def propose(
        self,
        request: ReservationProposalRequest,
        *,
        headers: Headers | None = None,
        **params: Any,
    ) -> ReservationProposal:
        """``POST /reservations/proposals``: price a stay; nothing is stored (guide, 3).

        Read-only, so it is retried like a GET. ``params`` are the reference's query flags,
        e.g. ``returnBill=True``, ``returnUnits=True``.
        """
        path = f"{self._path}/proposals"
        return await request_one(
            self._client,
            "POST",
            path,
            params=params or None,
            json=request,
            headers=headers,
            type=ReservationProposal,
            idempotent=True,
            what="a proposal",
        )

    async def create(
        self,
        request: ReservationCreateRequest,
        *,
        headers: Headers | None = None,
        **params: Any,
    ) -> Reservation:
        """``POST /reservations``: book (guide, 4). **Never retried.**

        If the connection drops after the request left, ``OutcomeUnknownError`` is raised:
        the reservation may exist. Set ``request.external_booking_reference`` and look for it
        with :meth:`find_by_reference` before sending again, or you may book twice.
        """
        return await request_one(
            self._client,
            "POST",
            self._path,
            params=params or None,
            json=request,
            headers=headers,
            type=Reservation,
            idempotent=False,
            what="the new reservation",
        )

    # -- status changes (guide, Reservation Flow 5) -------------------------------------

    async def update_status(
        self,
        reservation: ReservationRef,
        action: StatusAction | str,
        *,
        current: int | None = None,
        reason: str | None = None,
        override: bool = False,
        headers: Headers | None = None,
    ) -> StatusUpdateResult:
        """``PUT /reservations/{id}`` with ``statusValue`` = ``action``, checked first.

        The move is checked against the guide's charts *before* the PUT: with no request at
        all when ``current`` (a status code or :class:`ReservationStatus`) is given or
        ``reservation`` is a :class:`Reservation` with a status; otherwise after one GET.

        ``override=True`` sends ``action`` as given, without the check and without the GET
        (any non-empty name, even one :class:`StatusAction` does not list): for a move the
        guide's charts do not show. The server is then the judge; a refusal comes back as its
        error (``BadRequestError``, ...).

        Raises:
            IllegalTransitionError: the chart does not allow ``action`` from the current
                status; nothing was sent (beyond the GET, if one was needed).
        """
        res_id, status = _ref(reservation, current)
        if override:
            if not isinstance(action, str) or not action.strip():
                raise IllegalTransitionError(f"an overriding action must be a name: {action!r}")
            forced = StatusUpdate(status_value=str(action), cancellation_reason=reason)
            return await self._put_status(res_id, forced, headers=headers)
        act = _action(action)
        body = StatusUpdate(status_value=act, cancellation_reason=reason)
        if status is None:
            status = await self._status_of(res_id, headers=headers)
        check_transition(status, act)
        return await self._put_status(res_id, body, headers=headers)

    async def confirm(
        self, reservation: ReservationRef, *, current: int | None = None
    ) -> StatusUpdateResult:
        """CONFIRM (from QUOTATION, OPTIONAL or REQUEST; becomes PROVISIONAL or DEFINITIVE;
        from CANCELLED it books again, guide 6)."""
        return await self.update_status(reservation, StatusAction.CONFIRM, current=current)

    async def decline(
        self,
        reservation: ReservationRef,
        reason: str | None = None,
        *,
        current: int | None = None,
    ) -> StatusUpdateResult:
        """DECLINE (from QUOTATION, OPTIONAL, REQUEST or PROVISIONAL); ``reason`` is sent as
        ``cancellationReason`` (at most 4000 characters)."""
        return await self.update_status(
            reservation, StatusAction.DECLINE, current=current, reason=reason
        )

    async def cancel(
        self,
        reservation: ReservationRef,
        reason: str | None = None,
        *,
        current: int | None = None,
    ) -> StatusUpdateResult:
        """CANCEL (from PROVISIONAL or DEFINITIVE; from CANCELLED it cancels absolutely:
        DEF_CANCELLED, guide 6); ``reason`` as for :meth:`decline`."""
        return await self.update_status(
            reservation, StatusAction.CANCEL, current=current, reason=reason
        )

    async def check_in(
        self, reservation: ReservationRef, *, current: int | None = None
    ) -> StatusUpdateResult:
        """CHECKED_IN (from DEFINITIVE only: a reservation that was paid)."""
        return await self.update_status(reservation, StatusAction.CHECKED_IN, current=current)

    async def check_out(
        self, reservation: ReservationRef, *, current: int | None = None
    ) -> StatusUpdateResult:
        """CHECKED_OUT (from CHECKED_IN)."""
        return await self.update_status(reservation, StatusAction.CHECKED_OUT, current=current)

    async def update_status_many(
        self,
        changes: Mapping[int, StatusAction | str] | Iterable[StatusChange],
        *,
        reason: str | None = None,
        concurrency: int | None = None,
        headers: Headers | None = None,
    ) -> BatchResults[StatusUpdateResult]:
        """Apply many status changes; one :class:`BatchResult` per change, in order, ``key``
        the reservation id.

        Current statuses not known from :class:`Reservation` items are read with **one**
        batched ``get_many`` (``filter=reservationId:[…]``), not one GET each. A change the
        chart forbids fails with ``IllegalTransitionError`` and an unknown id with
        ``NotFoundError``, both without a PUT; the other changes are still sent.

        Raises:
            IllegalTransitionError: an action name is not a status action (bad input;
                nothing is sent).
            ValueError: ``reason`` with an action other than CANCEL or DECLINE.
        """
        items = builtins.list(changes.items() if isinstance(changes, Mapping) else changes)
        planned: builtins.list[tuple[int, int | None, StatusUpdate]] = []
        for ref, action in items:
            res_id, status = _ref(ref, None)
            act = _action(action)
            body = StatusUpdate(status_value=act, cancellation_reason=reason)
            planned.append((res_id, status, body))
        unknown = [res_id for res_id, status, _ in planned if status is None]
        statuses: dict[int, int | None] = {}
        if unknown:
            for outcome in await self.get_many(unknown, headers=headers):
                if isinstance(outcome, Found):
                    statuses[outcome.id] = outcome.value.status

        async def change(res_id: int, status: int | None, body: StatusUpdate) -> StatusUpdateResult:
            if status is None:
                status = statuses.get(res_id)
            if status is None:
                raise NotFoundError(
                    f"reservation {res_id} not found (or has no status)",
                    method="GET",
                    path=self._path,
                    status=404,
                )
            check_transition(status, StatusAction(body.status_value))
            return await self._put_status(res_id, body, headers=headers)

        jobs = [(res_id, partial(change, res_id, status, body)) for res_id, status, body in planned]
        return await run_batch(jobs, concurrency=concurrency or self._client.limiter.capacity)

    async def _status_of(self, reservation_id: int, *, headers: Headers | None) -> int:
        reservation = await self.get(reservation_id, headers=headers)
        if reservation.status is None:
            raise IllegalTransitionError(
                f"reservation {reservation_id} has no status; cannot check the transition"
            )
        return reservation.status

    async def update(
        self,
        reservation: ReservationRef,
        *,
        expected_arrival: datetime | None = None,
        expected_departure: datetime | None = None,
        headers: Headers | None = None,
    ) -> StatusUpdateResult:
        """``PUT /reservations/{id}`` setting ``expectedArrivalDateTime`` and/or
        ``expectedDepartureDateTime``, sent as ``YYYY-MM-DDThh:mm:ss`` (guide, Reservation
        Flow 5: "It's also possible to update the expectedArrivalDateTime and
        expectedDepartureDateTime"). Aware values are sent in UTC; naive ones as given.

        Raises:
            ValueError: neither time given; nothing is sent.
        """
        res_id, _ = _ref(reservation, None)
        body = ReservationUpdate(
            expected_arrival_date_time=(
                None if expected_arrival is None else format_expected_time(expected_arrival)
            ),
            expected_departure_date_time=(
                None if expected_departure is None else format_expected_time(expected_departure)
            ),
        )
        return await self._put_status(res_id, body, headers=headers)

    async def _put_status(
        self,
        reservation_id: int,
        body: StatusUpdate | ReservationUpdate,
        *,
        headers: Headers | None,
    ) -> StatusUpdateResult:
        path = f"{self._path}/{reservation_id}"
        # PUT keeps the client's default retries: a repeated action cannot apply twice (the
        # second one fails the chart with a 400), so a retry never changes a reservation
        # twice. The price: if an answer was lost and the retry meets a 400, the first
        # attempt may have been applied; re-read the reservation to know.
        return await request_one(
            self._client,
            "PUT",
            path,
            json=body,
            headers=headers,
            type=StatusUpdateResult,
            what="the status update answer",
        )

    # -- payment ------------------------------------------------------------------------

    async def payment_link(
        self,
        reservation_id: int,
        *,
        currency_code: str,
        payer_type: PayerType | str,
        headers: Headers | None = None,
        **params: Any,
    ) -> PaymentLink:
        """``GET /reservations/{id}/paymentlink`` (**inferred** path, docs/wire-contract.md).

        ``currency_code`` and ``payer_type`` are required parameters of the reference ("Get
        paymentlink for a reservation"), so they are asked for, never filled in; ``params``
        adds the optional ones (``returnUrl``, ``countryCode``, ``authorize``, ...).

        Raises:
            ValueError: empty ``currency_code`` or a ``payer_type`` outside
                :class:`PayerType`; nothing is sent.
        """
        path = f"{self._path}/{check_id(reservation_id)}/paymentlink"
        if not isinstance(currency_code, str) or not currency_code.strip():
            raise ValueError(f"currency_code is required (e.g. 'EUR'), got {currency_code!r}")
        query = {**params, "currencyCode": currency_code, "payerType": PayerType(payer_type)}
        return await request_one(
            self._client,
            "GET",
            path,
            params=query,
            headers=headers,
            type=PaymentLink,
            what="a payment link",
        )

    async def add_payment(
        self,
        reservation: ReservationRef,
        amount: float,
        payment_method_code: str,
        *,
        currency_code: str | None = None,
        remark: str | None = None,
        psp_reference_number: str | None = None,
        headers: Headers | None = None,
    ) -> PaymentResult:
        """``POST /reservations/{id}/payments``: record a payment (reference, "Create payments
        for a reservation"; path **inferred**, docs/wire-contract.md). A payment turns a PROVISIONAL
        reservation DEFINITIVE (guide, Reservation Flow 6).

        ``currency_code`` omitted means the reservation's currency. **Never retried**: a resend
        would record the payment twice. If the answer is lost, ``OutcomeUnknownError`` is
        raised and the payment may have been recorded: re-read the reservation (its status,
        its bill) before paying again, and pass ``psp_reference_number`` so the payment can be
        recognised.

        Raises:
            ValueError: empty ``payment_method_code`` or a non-finite ``amount``; nothing sent.
            OutcomeUnknownError: the request left but its answer was lost.
        """
        res_id, _ = _ref(reservation, None)
        body = PaymentRequest(
            payment_method_code=payment_method_code,
            amount=amount,
            currency_code=currency_code,
            remark=remark,
            psp_reference_number=psp_reference_number,
        )
        path = f"{self._path}/{res_id}/payments"
        return await request_one(
            self._client,
            "POST",
            path,
            json=body,
            headers=headers,
            type=PaymentResult,
            idempotent=False,
            what="the payment answer",
        )


def _ref(reservation: ReservationRef, current: int | None) -> tuple[int, int | None]:
    if isinstance(reservation, Reservation):
        status = current if current is not None else reservation.status
        return check_id(reservation.reservation_id), status
    return check_id(reservation), current


def _action(action: StatusAction | str) -> StatusAction:
    try:
        return StatusAction(action)
    except ValueError:
        valid = ", ".join(a.value for a in StatusAction)
        raise IllegalTransitionError(f"unknown status action {action!r}; valid: {valid}") from None
