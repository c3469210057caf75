"""The webhook container Maxxton POSTs to a subscriber (guide, Webhooks, Request Structure).

The guide spells the status event two ways: ``reservation.status.changed`` in its example
container and ``reservation.status_change`` in the list of events. Both are accepted and mean
:attr:`WebhookEventType.STATUS_CHANGE`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

import msgspec

from ._accommodation import Location, Unit
from ._base import Tolerant, utc
from ._channels import DistributionChannel
from ._customers import Customer
from ._reservations import Reservation, ReservedResource

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


class WebhookData(Tolerant, kw_only=True):
    """The ``data`` of a notification: the sections configured for the webhook, "populated
    through the REST API, and the data structure is the same as that of the REST API" (guide,
    Webhooks, "Available Data": Customer, General, Paying Customer, Location, Distribution
    Channel, Customer/Paying Customer/Agent Bill, Doorlock, Infotexts, Memos, Payments,
    Preferences, Subjects, Instalments, Reserved Resources, Unit).

    Sections whose REST shape the SDK models are typed here; every section, typed or not
    (bills, payments, instalments, ...), is also kept raw in
    :attr:`WebhookNotification.sections`. The section *keys* are not documented (camelCase
    of the guide's names is **inferred**), so all of them are ``__guessed__``: a section of
    another shape is kept raw instead of failing the delivery.
    """

    __guessed__: ClassVar[frozenset[str]] = frozenset(
        {
            "reservation",
            "customer",
            "paying_customer",
            "location",
            "distribution_channel",
            "unit",
            "reserved_resources",
        }
    )

    reservation: Reservation | None = None
    """The "General" section: the reservation itself (wire contract)."""
    customer: Customer | None = None
    paying_customer: Customer | None = None
    location: Location | None = None
    distribution_channel: DistributionChannel | None = None
    unit: Unit | None = None
    reserved_resources: list[ReservedResource] | None = None


class WebhookNotification(Tolerant, kw_only=True):
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
    sections: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict, name="$sections")
    """Every section of ``data`` as the raw JSON sent, by key (filled by
    :func:`maxxton_async.webhooks.parse`; not a wire field): the untyped ones (bills, payments,
    instalments, memos, ...) are read from here."""
    body: bytes = msgspec.field(default=b"", name="$body")
    """The delivery's raw body, exactly as received (filled by ``parse``; not a wire field)."""

    # The container's fields are the guide's (Request Structure); what ``data`` holds is "as
    # configured for this webhook", so a ``data`` that does not fit never fails a delivery
    # (``parse`` then decodes it section by section).
    __guessed__: ClassVar[frozenset[str]] = frozenset({"data"})

    def __post_init__(self) -> None:
        self.event_occurred = utc(self.event_occurred)
        self.sent_date = utc(self.sent_date)

    def section(self, key: str) -> object:
        """Section ``key`` of ``data`` as plain JSON (``None`` when absent)."""
        raw = self.sections.get(key)
        return None if raw is None else msgspec.json.decode(raw)

    @property
    def event_type(self) -> WebhookEventType | None:
        """``type`` as a :class:`WebhookEventType`, or ``None`` when unknown."""
        return WebhookEventType.parse(self.type)
