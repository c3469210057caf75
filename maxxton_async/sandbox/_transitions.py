"""Reservation status changes: the guide's transition tables (guide, Reservation Flow, 5 and 6).

``PUT /reservations/{id}`` carries an *action* in ``statusValue`` (``CONFIRM``, ``DECLINE``,
``CANCEL``, ``CHECKED_IN``, ``CHECKED_OUT``); the reservation's status then moves as the guide's
chart says. Anything else is illegal and answered 400.
"""

from __future__ import annotations

from ._data import STATUS_CODES

__all__ = ["STATUS_CODES", "TRANSITIONS", "IllegalTransition", "next_status"]

#: ``(current status, action) -> new status`` (guide, Reservation Flow, 5 "Update Reservation").
#: CONFIRM "will result in PROVISIONAL(12) or DEFINITIVE(21)": without a payment, PROVISIONAL.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("QUOTATION", "CONFIRM"): "PROVISIONAL",
    ("QUOTATION", "DECLINE"): "DECLINED",
    ("OPTIONAL", "CONFIRM"): "PROVISIONAL",
    ("OPTIONAL", "DECLINE"): "DECLINED",
    ("REQUEST", "CONFIRM"): "PROVISIONAL",
    ("REQUEST", "DECLINE"): "DECLINED",
    ("PROVISIONAL", "CANCEL"): "CANCELLED",
    ("PROVISIONAL", "DECLINE"): "DECLINED",
    ("DEFINITIVE", "CANCEL"): "CANCELLED",
    ("DEFINITIVE", "CHECKED_IN"): "CHECKED_IN",
    ("CHECKED_IN", "CHECKED_OUT"): "CHECKED_OUT",
    # Section 6: "From CANCELLED it can go to DEF_CANCELLED (if the guest decides to cancel
    # absolutely), or back to either PROVISIONAL or DEFINITIVE (depending on payments made)".
    # The actions carrying these moves (CANCEL again, CONFIRM) are inferred; CONFIRM of a
    # reservation with a payment gives DEFINITIVE (see change_status).
    ("CANCELLED", "CANCEL"): "DEFINITIVE_CANCELLED",
    ("CANCELLED", "CONFIRM"): "PROVISIONAL",
}


class IllegalTransition(ValueError):
    """A status change the guide's chart does not allow (the app answers 400)."""


def next_status(current: str, action: str) -> str:
    """The status after ``action`` on a reservation in ``current``; raises if illegal."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise IllegalTransition(
            f"Reservation status {current} cannot be changed with {action}"
        ) from None
