"""Commercial master data: distribution channels, offers and owners.

Identifying field names follow the guide's Event Flow refresh endpoints
(``distributionChannelId``, an offer's ``resourceId``, ``ownerId``); the rest is **inferred**
and unknown fields are ignored.
"""

from __future__ import annotations

from datetime import date, datetime

import msgspec

from ._accommodation import Translation
from ._base import Model, utc
from ._customers import MailAddress

__all__ = ["DistributionChannel", "Offer", "Owner"]


class DistributionChannel(Model, kw_only=True):
    """A sales channel (``GET /maxxton/v2/distributionchannels``).

    Bookings name it by ``code`` (``distributionChannelCode``); searches by id.
    """

    distribution_channel_id: int
    code: str | None = None
    name: str | None = None
    parent_id: int | None = None
    currency_code: str | None = None
    archived: bool | None = None


class Offer(Model, kw_only=True):
    """An offer (discount or extra product); like every resource its id is ``resourceId``
    (guide, Event Flow, OFFER_EVENT)."""

    resource_id: int
    code: str | None = None
    name: str | None = None
    location_id: int | None = None
    description: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    translations: list[Translation] = msgspec.field(default_factory=list)
    archived: bool | None = None


class Owner(Model, kw_only=True):
    """The owner of units (``GET /maxxton/v2/owners``; OWNER_EVENT carries ``ownerId``).

    Like customers, personal fields may be masked with ``"****"`` for API users without access
    (**inferred** by analogy with the reference's customer fields).
    """

    owner_id: int
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    email: str | None = None
    iban_number: str | None = None
    mail_address: MailAddress | None = None
    creation_date: datetime | None = None

    def __post_init__(self) -> None:
        self.creation_date = utc(self.creation_date)
