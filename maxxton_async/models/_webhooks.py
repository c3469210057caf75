"""The webhook container Maxxton POSTs to a subscriber (guide, Webhooks, Request Structure).

The guide spells the status event two ways: ``reservation.status.changed`` in its example
container and ``reservation.status_change`` in the list of events. Both are accepted and mean
:attr:`WebhookEventType.STATUS_CHANGE`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from ._base import Model, utc
from ._customers import Customer
from ._reservations import Reservation

__all__ = ["WebhookData", "WebhookEventType", "WebhookNotification"]


class WebhookEventType(StrEnum):
    """The reservation events of the guide (Webhooks, "Available Context & Events").

    ``WebhookEventType("reservation.status.changed")`` (the spelling of the guide's example)
    returns :attr:`STATUS_CHANGE`.
    """

    STATUS_CHANGE = "reservation.status_change"
    STAY_PERIOD_CHANGE = "reservation.stay_period_change"
    BILL_CHANGE = "reservation.bill_change"
    PAYMENT_RECEIVED = "reservation.payment_received"
    REFUND_GIVEN = "reservation.refund_given"

    @classmethod
    def _missing_(cls, value: object) -> WebhookEventType | None:
        if value == "reservation.status.changed":
            return cls.STATUS_CHANGE
        return None

    @classmethod
    def parse(cls, value: str) -> WebhookEventType | None:
        """The member for ``value`` (either spelling), or ``None`` for an unknown type."""
        try:
            return cls(value)
        except ValueError:
            return None


class WebhookData(Model, kw_only=True):
    """The ``data`` of a notification: the sections configured for the webhook, in the REST
    API's own shapes (guide, Webhooks, "Available Data"). Only ``reservation`` (the wire
    contract's payload) and ``customer`` are typed; other sections are ignored here."""

    reservation: Reservation | None = None
    customer: Customer | None = None


class WebhookNotification(Model, kw_only=True):
    """One webhook delivery (guide, Webhooks, Request Structure).

    ``type`` is kept as sent; :attr:`event_type` maps it (either spelling) to
    :class:`WebhookEventType`.
    """

    notification_id: str
    """Unique per delivery: use it to drop redeliveries."""
    type: str
    webhook_id: int | None = None
    webhook_name: str | None = None
    event_occurred: datetime | None = None
    sent_date: datetime | None = None
    data: WebhookData = msgspec.field(default_factory=WebhookData)

    def __post_init__(self) -> None:
        self.event_occurred = utc(self.event_occurred)
        self.sent_date = utc(self.sent_date)

    @property
    def event_type(self) -> WebhookEventType | None:
        """``type`` as a :class:`WebhookEventType`, or ``None`` when unknown."""
        return WebhookEventType.parse(self.type)
