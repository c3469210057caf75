"""Typed models of the Maxxton REST API v2 (msgspec structs), one module per domain.

Conventions (camelCase wire names, ``None`` for absent, enums as constants next to plain
fields, aware UTC date-times) are described in :mod:`maxxton_async.models._base`.
"""

from ._accommodation import AccommodationType, Location, Translation, Unit
from ._availability import AvailabilityRecord, AvailabilityRequest, AvailabilityUnit, Price
from ._base import Model, decode, decoder_for, encode
from ._channels import DistributionChannel, Offer, Owner
from ._customers import (
    MASKED,
    MASKED_BIRTH_DATE,
    RESTRICTED_FIELDS,
    Country,
    CountryTranslation,
    Customer,
    Gender,
    IdentityType,
    MailAddress,
)
from ._events import EntityAction, EntityType, Event, EventType
from ._page import Page, PageSort, SortOrder
from ._reservations import (
    BillLine,
    BookedAccommodationType,
    PayerType,
    PaymentLink,
    PersonSubject,
    Reservation,
    ReservationCreateRequest,
    ReservationDetails,
    ReservationProposal,
    ReservationProposalRequest,
    ReservationStatus,
    ReservationType,
    ReservedResource,
    StatusAction,
    StatusUpdate,
    StatusUpdateResult,
    Subjects,
    allowed_actions,
    check_transition,
)
from ._search import (
    MAX_DAYS_IN_RESULT,
    ArrivalRangeSearchRequest,
    FilterOption,
    SearchRequest,
    SearchResult,
    SearchResultItem,
)
from ._token import Token
from ._webhooks import WebhookData, WebhookEventType, WebhookNotification

__all__ = [
    "MASKED",
    "MASKED_BIRTH_DATE",
    "MAX_DAYS_IN_RESULT",
    "RESTRICTED_FIELDS",
    "AccommodationType",
    "ArrivalRangeSearchRequest",
    "AvailabilityRecord",
    "AvailabilityRequest",
    "AvailabilityUnit",
    "BillLine",
    "BookedAccommodationType",
    "Country",
    "CountryTranslation",
    "Customer",
    "DistributionChannel",
    "EntityAction",
    "EntityType",
    "Event",
    "EventType",
    "FilterOption",
    "Gender",
    "IdentityType",
    "Location",
    "MailAddress",
    "Model",
    "Offer",
    "Owner",
    "Page",
    "PageSort",
    "PayerType",
    "PaymentLink",
    "PersonSubject",
    "Price",
    "Reservation",
    "ReservationCreateRequest",
    "ReservationDetails",
    "ReservationProposal",
    "ReservationProposalRequest",
    "ReservationStatus",
    "ReservationType",
    "ReservedResource",
    "SearchRequest",
    "SearchResult",
    "SearchResultItem",
    "SortOrder",
    "StatusAction",
    "StatusUpdate",
    "StatusUpdateResult",
    "Subjects",
    "Token",
    "Translation",
    "Unit",
    "WebhookData",
    "WebhookEventType",
    "WebhookNotification",
    "allowed_actions",
    "check_transition",
    "decode",
    "decoder_for",
    "encode",
]
