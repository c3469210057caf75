"""Customers: ``/maxxton/v2/customers`` (reference excerpt, Customers).

Restricted fields are *masked*, not omitted: "this is a restricted field. If you don't have
access to this field, then **** will be returned as value", and for the birth date "then
1800-01-01 will be returned as value" (reference, Create a customer / Get customer). The
models keep the masked values as they came (hiding them would make a masked name look like
a missing one); :meth:`Customer.is_masked` and :meth:`Customer.masked_fields` tell them apart.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import msgspec

from ._base import Model, utc

__all__ = [
    "MASKED",
    "MASKED_BIRTH_DATE",
    "RESTRICTED_FIELDS",
    "Country",
    "CountryTranslation",
    "Customer",
    "Gender",
    "IdentityType",
    "MailAddress",
]

MASKED = "****"
"""Value of a restricted text field the API user may not read (reference, Customers)."""

MASKED_BIRTH_DATE = date(1800, 1, 1)
"""Value of ``birthDate`` when the API user may not read it (reference, Customers)."""

RESTRICTED_FIELDS: frozenset[str] = frozenset(
    {
        "first_name",
        "middle",
        "last_name",
        "alternate_name",
        "social_security_number",
        "gender",
        "iban_number",
        "birth_date",
        "company_name",
    }
)
"""Customer attributes the reference marks as "a restricted field" (masked when not allowed)."""


class Gender(StrEnum):
    """Known values of ``Customer.gender`` (reference enum: MALE, FEMALE, UNSPECIFIED).

    The field itself is a ``str``: it is restricted and may hold :data:`MASKED`.
    """

    MALE = "MALE"
    FEMALE = "FEMALE"
    UNSPECIFIED = "UNSPECIFIED"


class IdentityType(StrEnum):
    """Known values of ``Customer.identity_type`` (reference enum)."""

    PASSPORT = "PASSPORT"
    IDENTITY_CARD = "IDENTITY_CARD"
    DRIVERS_LICENCE = "DRIVERS_LICENCE"


class CountryTranslation(Model, kw_only=True):
    """A country name in one language."""

    name: str | None = None
    language: str | None = None


class Country(Model, kw_only=True):
    """The country of an address, as nested in ``mailAddress.country`` (read only)."""

    country_id: int | None = None
    code: str | None = None
    priority: int | None = None
    default: bool | None = None
    translations: list[CountryTranslation] = msgspec.field(default_factory=list)


class MailAddress(Model, kw_only=True):
    """A customer's address and contact details (``mailAddress``).

    ``country`` is only returned, never accepted: "The country field in mailAddress is not
    allowed while adding a customer" (reference, Create a customer); set ``country_id`` (or
    ``country_code`` on update) instead.
    """

    address_id: int | None = None
    address1: str | None = None
    address2: str | None = None
    address3: str | None = None
    house_number: str | None = None
    house_number_suffix: str | None = None
    box_number: str | None = None
    zip_code: str | None = None
    city: str | None = None
    district: str | None = None
    municipality: str | None = None
    state_id: int | None = None
    country_id: int | None = None
    country_code: str | None = None
    country: Country | None = None
    po_box: str | None = None
    po_box_zipcode: str | None = None
    po_box_city: str | None = None
    email: str | None = None
    mobile_phone: str | None = None
    mobile_phone2: str | None = None
    private_phone: str | None = None
    work_phone: str | None = None
    fax: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy: str | None = None
    """Geocoding accuracy, e.g. ``ROOFTOP``."""
    expose_location: bool | None = None
    date_begin: date | None = None
    date_end: date | None = None
    alternate_contact_person: str | None = None
    alt_contact_person: str | None = None


class Customer(Model, kw_only=True):
    """A customer (reference, Get customer: every response attribute).

    Restricted fields (:data:`RESTRICTED_FIELDS`) hold :data:`MASKED` (``"****"``), or
    :data:`MASKED_BIRTH_DATE` for ``birth_date``, when the API user lacks access; see
    :meth:`is_masked`. ``gender`` and ``identity_type`` are strings whose known values are
    :class:`Gender` and :class:`IdentityType`.
    """

    customer_id: int | None = None
    """Read only; absent in a create request."""
    customer_group_id: int | None = None
    title_id: int | None = None
    first_name: str | None = None
    middle: str | None = None
    last_name: str | None = None
    alternate_name: str | None = None
    company_name: str | None = None
    mail_address: MailAddress | None = None
    email_allowed: bool | None = None
    mail_allowed: bool | None = None
    phone_call_allowed: bool | None = None
    text_msg_allowed: bool | None = None
    signature_date: date | None = None
    social_security_number: str | None = None
    gender: str | None = None
    language_id: int | None = None
    language: str | None = None
    iban_number: str | None = None
    bic_swift: str | None = None
    birth_date: date | None = None
    login: str | None = None
    """Login id; "should be same as the email field in the customer address entity"."""
    previous_pms_id: int | None = None
    creation_date: datetime | None = None
    identity_type: str | None = None
    identity_number: str | None = None
    """At most 50 characters (reference)."""
    identity_country_id: int | None = None
    identity_date_issued: date | None = None
    questionnaire_unsubscribed: bool | None = None

    def __post_init__(self) -> None:
        self.creation_date = utc(self.creation_date)

    def is_masked(self, field: str) -> bool:
        """Whether restricted ``field`` (a snake_case attribute name) holds the mask value.

        Raises:
            ValueError: ``field`` is not one of :data:`RESTRICTED_FIELDS`.
        """
        if field not in RESTRICTED_FIELDS:
            raise ValueError(
                f"{field!r} is not a restricted customer field; "
                f"restricted: {', '.join(sorted(RESTRICTED_FIELDS))}"
            )
        value = getattr(self, field)
        if field == "birth_date":
            return bool(value == MASKED_BIRTH_DATE)
        return bool(value == MASKED)

    def masked_fields(self) -> frozenset[str]:
        """The restricted fields of this customer that came back masked."""
        return frozenset(f for f in RESTRICTED_FIELDS if self.is_masked(f))
