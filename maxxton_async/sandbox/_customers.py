"""Customer writes: ``POST /customers`` and ``PUT /customers/{customerId}`` (reference, Customers).

What the reference says, and what the sandbox does with it:

* The body fields and their types are the reference's "Body Parameters" of *Create a customer*
  and *Update a customer* (the latter's example body lists the writable fields). A value of the
  wrong JSON type, a date that is not ``yyyy-MM-dd``, a ``gender`` or ``identityType`` outside
  the reference's enum, or an ``identityNumber`` over its "Max length 50" is refused **400**
  (what a Spring server answers when the body does not deserialise).
* Fields outside those lists (``customerId``, which is "readOnly", or ``companyName`` on an
  update) are ignored, as a Spring server ignores unknown properties by default
  (**inferred**): the answer shows them unchanged.
* "The country field in mailAddress is not allowed while adding a customer" (Create a customer):
  a create with ``mailAddress.country`` is refused 400. An update names the country with
  ``mailAddress.countryCode``; an unknown code is refused 400.
* "Email id field in the customer address entity is also used as customer login" (Create a
  customer): a new customer's ``login`` defaults to its e-mail, and an update of the e-mail moves
  a ``login`` that was equal to the old e-mail along with it.
* Restricted fields are masked for an API user without access to them, and "the fields which are
  not masked in the response to GET customer endpoints, could only be modified using this
  endpoint" (Update a customer): such a user changing a restricted field is refused **403**
  (the credentials lack a right; the body itself is fine, so not 400). Sending a restricted
  field back with exactly its mask value (``****``, birth date ``1800-01-01``) is not a change:
  a read-modify-write of a masked customer works and leaves the hidden values alone.
* Unknown customer on update: **404** "No customer found for given customer id." (reference).
  Checks run in the order a Spring server would meet them: body (400), lookup (404), rights
  (403).

Every stored change appends a ``CUSTOMER_EVENT`` (``CREATE`` or ``UPDATE``; guide, Event Flow).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from ._data import COUNTRIES, country_record
from ._views import MASKED_BIRTH_DATE

if TYPE_CHECKING:
    from ._state import SandboxState

__all__ = ["CustomerError", "create_customer", "new_customer", "update_customer"]

Record = dict[str, Any]
Kind = Literal["str", "bool", "int", "number", "date", "datetime", "gender", "identity", "id50"]

#: ``gender`` enum values (reference, Create a customer / Update a customer response).
GENDERS = ("MALE", "FEMALE", "UNSPECIFIED")
#: ``identityType`` enum values (reference, Create a customer / Update a customer).
IDENTITY_TYPES = ("PASSPORT", "IDENTITY_CARD", "DRIVERS_LICENCE")
#: ``identityNumber`` "Max length 50" (reference).
MAX_IDENTITY_NUMBER = 50
#: The mask of a restricted text field (reference, Customers: "**** will be returned").
MASK = "****"

#: Body Parameters of Create a customer (reference), ``mailAddress`` apart.
CREATE_FIELDS: dict[str, Kind] = {
    "customerGroupId": "int",
    "titleId": "int",
    "firstName": "str",
    "middle": "str",
    "lastName": "str",
    "alternateName": "str",
    "emailAllowed": "bool",
    "mailAllowed": "bool",
    "phoneCallAllowed": "bool",
    "textMsgAllowed": "bool",
    "signatureDate": "date",
    "socialSecurityNumber": "str",
    "gender": "gender",
    "languageId": "int",
    "ibanNumber": "str",
    "bicSwift": "str",
    "birthDate": "date",
    "companyName": "str",
    "login": "str",
    "previousPmsId": "int",
    "creationDate": "datetime",
    "identityType": "identity",
    "identityNumber": "id50",
    "identityCountryId": "int",
    "identityDateIssued": "date",
    "questionnaireUnsubscribed": "bool",
}

#: ``mailAddress`` fields of the Create a customer example body (reference).
CREATE_ADDRESS_FIELDS: dict[str, Kind] = {
    "address1": "str",
    "address2": "str",
    "address3": "str",
    "boxNumber": "str",
    "houseNumberSuffix": "str",
    "zipCode": "str",
    "poBox": "str",
    "poBoxZipcode": "str",
    "poBoxCity": "str",
    "city": "str",
    "countryId": "int",
    "municipality": "str",
    "mobilePhone2": "str",
    "latitude": "number",
    "longitude": "number",
    "email": "str",
    "mobilePhone": "str",
    "houseNumber": "str",
    "district": "str",
    "privatePhone": "str",
    "workPhone": "str",
    "exposeLocation": "bool",
    "dateEnd": "date",
    "dateBegin": "date",
    "fax": "str",
    "alternateContactPerson": "str",
    "accuracy": "str",
    "altContactPerson": "str",
}

#: Body Parameters of Update a customer (reference): the writable fields, ``mailAddress`` apart.
UPDATE_FIELDS: dict[str, Kind] = {
    "firstName": "str",
    "middle": "str",
    "lastName": "str",
    "alternateName": "str",
    "birthDate": "date",
    "emailAllowed": "bool",
    "mailAllowed": "bool",
    "textMsgAllowed": "bool",
    "phoneCallAllowed": "bool",
    "ibanNumber": "str",
    "bicSwift": "str",
    "language": "str",
    "gender": "gender",
    "titleId": "int",
    "identityType": "identity",
    "identityNumber": "id50",
    "identityCountryId": "int",
    "identityDateIssued": "date",
}

#: ``mailAddress`` fields of the Update a customer example body (reference).
UPDATE_ADDRESS_FIELDS: dict[str, Kind] = {
    "email": "str",
    "address1": "str",
    "address2": "str",
    "address3": "str",
    "city": "str",
    "countryCode": "str",
    "district": "str",
    "houseNumber": "str",
    "houseNumberSuffix": "str",
    "mobilePhone": "str",
    "mobilePhone2": "str",
    "poBox": "str",
    "poBoxCity": "str",
    "poBoxZipcode": "str",
    "privatePhone": "str",
    "workPhone": "str",
    "zipCode": "str",
    "stateId": "int",
    "boxNumber": "str",
    "municipality": "str",
    "latitude": "number",
    "longitude": "number",
}

#: Writable fields the reference calls "a restricted field", with the value a user without
#: access reads instead (reference, Customers; ``socialSecurityNumber`` and ``companyName`` are
#: restricted too but not writable by an update).
RESTRICTED_WRITABLE: dict[str, str] = {
    "firstName": MASK,
    "middle": MASK,
    "lastName": MASK,
    "alternateName": MASK,
    "gender": MASK,
    "ibanNumber": MASK,
    "birthDate": MASKED_BIRTH_DATE,
}

#: Every top-level field of a customer (reference, Get customer response attributes).
CUSTOMER_FIELDS = (
    "customerId",
    "customerGroupId",
    "titleId",
    "firstName",
    "middle",
    "lastName",
    "alternateName",
    "mailAddress",
    "emailAllowed",
    "mailAllowed",
    "phoneCallAllowed",
    "textMsgAllowed",
    "signatureDate",
    "socialSecurityNumber",
    "gender",
    "languageId",
    "language",
    "ibanNumber",
    "bicSwift",
    "birthDate",
    "companyName",
    "login",
    "previousPmsId",
    "creationDate",
    "identityType",
    "identityNumber",
    "identityCountryId",
    "identityDateIssued",
    "questionnaireUnsubscribed",
)

#: Every field of ``mailAddress`` (reference, Get customer response, ``country`` apart).
ADDRESS_FIELDS = (
    "addressId",
    *CREATE_ADDRESS_FIELDS,
    "stateId",
)

_NO_MASK = object()
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TYPE_NAMES: dict[Kind, str] = {
    "str": "a string",
    "bool": "a boolean",
    "int": "an integer",
    "number": "a number",
    "date": "a date (yyyy-MM-dd)",
    "datetime": "a date-time (ISO 8601)",
    "gender": "one of " + ", ".join(GENDERS),
    "identity": "one of " + ", ".join(IDENTITY_TYPES),
    "id50": f"a string of at most {MAX_IDENTITY_NUMBER} characters",
}


class CustomerError(ValueError):
    """A customer write the sandbox refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _valid(kind: Kind, value: Any) -> bool:
    if value is None:  # JSON null: the field is cleared (a nullable Java wrapper type)
        return True
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if not isinstance(value, str):
        return False
    if kind == "date":
        if not _DATE.fullmatch(value):
            return False
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    if kind == "datetime":
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    if kind == "gender":
        return value in GENDERS
    if kind == "identity":
        return value in IDENTITY_TYPES
    if kind == "id50":
        return len(value) <= MAX_IDENTITY_NUMBER
    return True


def _pick(body: Mapping[str, Any], spec: Mapping[str, Kind], where: str = "") -> Record:
    """The fields of ``body`` named in ``spec``, type-checked; other fields are dropped."""
    out: Record = {}
    for name, kind in spec.items():
        if name not in body:
            continue
        value = body[name]
        if not _valid(kind, value):
            raise CustomerError(
                f"Invalid value for {where}{name}: expected {_TYPE_NAMES[kind]}, got {value!r}"
            )
        out[name] = value
    return out


def _address(body: Mapping[str, Any], spec: Mapping[str, Kind]) -> Record | None:
    raw = body.get("mailAddress")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise CustomerError(f"Invalid value for mailAddress: expected an object, got {raw!r}")
    return _pick(raw, spec, "mailAddress.")


def _now(state: SandboxState) -> str:
    return state.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def new_customer(state: SandboxState, body: Mapping[str, Any]) -> Record:
    """Validate a Create a customer body and store the customer; no event (the caller's).

    Used by ``POST /customers`` and by a reservation created with a ``customer`` object.
    """
    if not isinstance(body, Mapping):
        raise CustomerError("Request body must be a JSON object")
    raw_address = body.get("mailAddress")
    if isinstance(raw_address, dict) and raw_address.get("country") is not None:
        # "The country field in mailAddress is not allowed while adding a customer" (reference).
        raise CustomerError(
            "The country field in mailAddress is not allowed while adding a customer; "
            "use mailAddress.countryId"
        )
    fields = _pick(body, CREATE_FIELDS)
    given_address = _address(body, CREATE_ADDRESS_FIELDS) or {}
    data = state.data
    cid = data.next_id("customer")
    address: Record = dict.fromkeys(ADDRESS_FIELDS)
    address.update(given_address)
    address["addressId"] = cid * 10 + 1
    address["country"] = country_record(address.get("countryId"))
    record: Record = dict.fromkeys(CUSTOMER_FIELDS)
    record.update(fields)
    record["customerId"] = cid
    record["mailAddress"] = address
    if fields.get("creationDate"):
        created = dt.datetime.fromisoformat(fields["creationDate"].replace("Z", "+00:00"))
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        record["creationDate"] = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        record["creationDate"] = _now(state)
    if record["login"] is None:
        # "Email id field in the customer address entity is also used as customer login".
        record["login"] = address.get("email")
    data.customers[cid] = record
    return record


def create_customer(state: SandboxState, body: Mapping[str, Any]) -> Record:
    """``POST /customers``: store a new customer; appends CUSTOMER_EVENT CREATE."""
    record = new_customer(state, body)
    when = state.data.event_time(state.utcnow())
    state.data.add_event("CUSTOMER_EVENT", record["customerId"], "CUSTOMER", "CREATE", when)
    return record


def update_customer(
    state: SandboxState, customer_id: int, body: Mapping[str, Any], *, restricted_access: bool
) -> Record:
    """``PUT /customers/{customerId}``: change the writable fields; appends CUSTOMER_EVENT UPDATE.

    ``restricted_access`` is whether the caller may read (so write) restricted fields.
    """
    if not isinstance(body, Mapping):
        raise CustomerError("Request body must be a JSON object")
    if not restricted_access:
        # A masked value read back (e.g. a whole masked customer sent as the update) is not a
        # change; drop it before the type checks, since "****" is no valid gender.
        body = {k: v for k, v in body.items() if RESTRICTED_WRITABLE.get(k, _NO_MASK) != v}
    changes = _pick(body, UPDATE_FIELDS)
    address_changes = _address(body, UPDATE_ADDRESS_FIELDS)
    record = state.data.customers.get(customer_id)
    if record is None:
        raise CustomerError("No customer found for given customer id.", 404)
    if not restricted_access:
        denied = sorted(set(changes) & set(RESTRICTED_WRITABLE))
        if denied:
            raise CustomerError(
                "No access to restricted customer field(s): " + ", ".join(denied), 403
            )
    country: Record | None = None
    if address_changes and address_changes.get("countryCode") is not None:
        code = str(address_changes["countryCode"]).upper()
        country = next((country_record(i) for i, c in COUNTRIES.items() if c["code"] == code), None)
        if country is None:
            raise CustomerError(f"Unknown countryCode {address_changes['countryCode']!r}")
    record.update(changes)
    if address_changes is not None:
        address = dict(record.get("mailAddress") or dict.fromkeys(ADDRESS_FIELDS))
        old_email = address.get("email")
        code_given = "countryCode" in address_changes
        address_changes.pop("countryCode", None)
        address.update(address_changes)
        if code_given:
            address["countryId"] = country["countryId"] if country else None
            address["country"] = country
        if "email" in address_changes and record.get("login") == old_email:
            record["login"] = address_changes["email"]
        record["mailAddress"] = address
    when = state.data.event_time(state.utcnow())
    state.data.add_event("CUSTOMER_EVENT", customer_id, "CUSTOMER", "UPDATE", when)
    return record
