"""Decoding and behaviour of the typed models (maxxton_async.models)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import msgspec
import pytest

from maxxton_async import IllegalTransitionError, ResponseDecodeError, models, resources
from maxxton_async.models import (
    MASKED,
    MASKED_BIRTH_DATE,
    RESTRICTED_FIELDS,
    ArrivalRangeSearchRequest,
    AvailabilityRecord,
    AvailabilityRequest,
    BookedAccommodationType,
    Customer,
    EntityAction,
    Event,
    EventType,
    Gender,
    IdentityType,
    Page,
    PageSort,
    PaymentRequest,
    PaymentResult,
    PersonSubject,
    Reservation,
    ReservationDetails,
    ReservationProposal,
    ReservationProposalRequest,
    ReservationStatus,
    SearchResult,
    SortOrder,
    StatusAction,
    StatusUpdate,
    Subjects,
    Token,
    WebhookEventType,
    WebhookNotification,
    allowed_actions,
    check_transition,
    decode,
    decoder_for,
    encode,
)

# --- fixtures copied from /work/shared/reference/maxxton-api-reference-excerpt.txt ----------

CUSTOMER_JSON = b"""{
  "customerId": 0,
  "customerGroupId": 0,
  "titleId": 0,
  "firstName": "string",
  "middle": "string",
  "lastName": "string",
  "alternateName": "string",
  "mailAddress": {
    "addressId": 0,
    "address1": "string",
    "address2": "string",
    "address3": "string",
    "boxNumber": "string",
    "houseNumberSuffix": "string",
    "zipCode": "string",
    "poBox": "string",
    "poBoxZipcode": "string",
    "poBoxCity": "string",
    "city": "string",
    "countryId": 0,
    "municipality": "string",
    "mobilePhone2": "string",
    "latitude": 0,
    "longitude": 0,
    "email": "string",
    "stateId": 0,
    "mobilePhone": "string",
    "houseNumber": "string",
    "district": "string",
    "privatePhone": "string",
    "workPhone": "string",
    "exposeLocation": true,
    "dateEnd": "2025-06-04",
    "dateBegin": "2025-06-04",
    "fax": "string",
    "alternateContactPerson": "string",
    "accuracy": "ROOFTOP",
    "country": {
      "countryId": 0,
      "priority": 0,
      "translations": [
        {
          "name": "string",
          "language": "string"
        }
      ],
      "default": true,
      "code": "string"
    }
  },
  "emailAllowed": true,
  "mailAllowed": true,
  "phoneCallAllowed": true,
  "textMsgAllowed": true,
  "signatureDate": "2025-06-04",
  "socialSecurityNumber": "string",
  "gender": "MALE",
  "languageId": 0,
  "language": "string",
  "ibanNumber": "string",
  "bicSwift": "string",
  "birthDate": "2025-06-04",
  "companyName": "string",
  "login": "string",
  "previousPmsId": 0,
  "creationDate": "2025-06-04T05:08:24.655Z",
  "identityType": "PASSPORT",
  "identityNumber": "string",
  "identityCountryId": 0,
  "identityDateIssued": "2025-06-04",
  "questionnaireUnsubscribed": true
}"""

# The customers tag page's paged response ("Get all customers"), envelope as printed, with
# the customer above as its one item.
CUSTOMERS_PAGE_JSON = (
    b"""{
  "totalElements": 0,
  "totalPages": 0,
  "first": true,
  "last": true,
  "size": 0,
  "content": [
"""
    + CUSTOMER_JSON
    + b"""
  ],
  "number": 0,
  "sort": [
    {
      "direction": "string",
      "nullHandling": "string",
      "ascending": true,
      "property": "string",
      "ignoreCase": true
    }
  ],
  "numberOfElements": 0,
  "empty": true
}"""
)

# The guide's webhook container (Webhooks, Request Structure), comments removed, with the
# wire contract's data section.
WEBHOOK_JSON = b"""{
  "notificationId": "2342040",
  "webhookId": 1,
  "webhookName": "Maxxton test service",
  "eventOccurred": "2024-07-31T08:39:44.709527Z",
  "sentDate": "2024-07-31T08:39:46.203144Z",
  "type": "reservation.status.changed",
  "data": {"reservation": {"reservationId": 77, "status": 21, "statusValue": "DEFINITIVE",
           "arrivalDate": "2024-08-10", "departureDate": "2024-08-17"}}
}"""


# --- reference examples ---------------------------------------------------------------------


def test_customer_example_decodes_every_field() -> None:
    c = decode(Customer, CUSTOMER_JSON)
    assert c.customer_id == 0
    assert c.first_name == "string"
    assert c.gender == Gender.MALE
    assert c.identity_type == IdentityType.PASSPORT
    assert c.birth_date == date(2025, 6, 4)
    assert c.identity_date_issued == date(2025, 6, 4)
    assert c.creation_date == datetime(2025, 6, 4, 5, 8, 24, 655000, tzinfo=UTC)
    assert c.questionnaire_unsubscribed is True
    assert c.mail_address is not None
    assert c.mail_address.accuracy == "ROOFTOP"
    assert c.mail_address.latitude == 0.0
    assert c.mail_address.date_end == date(2025, 6, 4)
    assert c.mail_address.country is not None
    assert c.mail_address.country.default is True
    assert c.mail_address.country.translations[0].language == "string"
    # Every field of the example is a declared field: nothing was silently dropped.
    raw = msgspec.json.decode(CUSTOMER_JSON)
    again = msgspec.json.decode(encode(c))
    # Only the spelling of the fraction differs (".655" vs ".655000"), not the instant.
    assert again.pop("creationDate") == "2025-06-04T05:08:24.655000Z"
    raw.pop("creationDate")
    assert again == raw
    assert decode(Customer, encode(c)) == c


def test_customers_page_example_with_array_sort() -> None:
    page = decode(Page[Customer], CUSTOMERS_PAGE_JSON)
    assert page.first is True
    assert page.last is True
    assert page.empty is True
    assert page.total_pages == 0
    assert len(page.content) == 1
    assert isinstance(page.content[0], Customer)
    assert isinstance(page.sort, list)
    assert page.sort[0] == SortOrder(
        direction="string",
        null_handling="string",
        ascending=True,
        property="string",
        ignore_case=True,
    )
    assert page.is_last


def test_page_with_object_sort_and_without_optional_envelope_fields() -> None:
    body = (
        b'{"content":[],"number":2,"size":50,"totalElements":120,"totalPages":3,'
        b'"sort":{"sorted":true,"unsorted":false,"empty":false}}'
    )
    page = decode(Page[Event], body)
    assert page.sort == PageSort(sorted=True, unsorted=False, empty=False)
    assert page.last is None
    assert page.is_last  # derived from number/totalPages
    page1 = decode(Page[Event], body.replace(b'"number":2', b'"number":1'))
    assert not page1.is_last


def test_page_missing_total_pages_is_a_decode_error_keeping_the_body() -> None:
    body = b'{"content":[],"number":0,"size":20,"totalElements":0}'
    with pytest.raises(ResponseDecodeError) as info:
        decode(Page[Customer], body, method="GET", path="/maxxton/v2/customers", status=200)
    assert info.value.body == body
    assert "totalPages" in info.value.detail
    assert info.value.path == "/maxxton/v2/customers"


def test_webhook_container_example() -> None:
    n = decode(WebhookNotification, WEBHOOK_JSON)
    assert n.notification_id == "2342040"
    assert n.webhook_id == 1
    assert n.webhook_name == "Maxxton test service"
    assert n.event_occurred == datetime(2024, 7, 31, 8, 39, 44, 709527, tzinfo=UTC)
    assert n.sent_date is not None
    assert n.sent_date.tzinfo is UTC
    # Both spellings of the guide map to the same member.
    assert n.event_type is WebhookEventType.STATUS_CHANGE
    assert WebhookEventType("reservation.status_change") is WebhookEventType.STATUS_CHANGE
    assert WebhookEventType.parse("reservation.unknown") is None
    assert n.data.reservation is not None
    assert n.data.reservation.known_status is ReservationStatus.DEFINITIVE


# --- conventions ----------------------------------------------------------------------------


def test_round_trip_encode_decode_uses_camel_case_and_omits_absent() -> None:
    rec = AvailabilityRecord(
        resource_id=10,
        arrival_date=date(2026, 7, 1),
        departure_date=date(2026, 7, 8),
        duration=7,
        location_id=3,
    )
    wire = encode(rec)
    assert msgspec.json.decode(wire) == {
        "resourceId": 10,
        "arrivalDate": "2026-07-01",
        "departureDate": "2026-07-08",
        "duration": 7,
        "locationId": 3,
    }
    assert decode(AvailabilityRecord, wire) == rec
    ev = Event(
        event_id=5,
        event_type=EventType.UNIT_EVENT,
        entity_id=9,
        entity_action=EntityAction.UPDATE,
        creation_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    assert decode(Event, encode(ev)) == ev
    assert b'"creationDate":"2026-01-02T03:04:05Z"' in encode(ev)


def test_unknown_fields_and_unknown_enum_values_are_tolerated() -> None:
    body = (
        b'{"eventId":1,"eventType":"BRAND_NEW_EVENT","entityId":2,"entityAction":"ARCHIVE",'
        b'"somethingNew":{"x":[1,2]}}'
    )
    ev = decode(Event, body)
    assert ev.event_type == "BRAND_NEW_EVENT"
    assert ev.entity_action == "ARCHIVE"
    res = decode(Reservation, b'{"reservationId":1,"status":77,"newField":true}')
    assert res.status == 77
    assert res.known_status is None
    assert res.allowed_actions() == frozenset()


def test_missing_optional_fields_are_none() -> None:
    c = decode(Customer, b"{}")
    assert c.first_name is None
    assert c.mail_address is None
    assert c.masked_fields() == frozenset()
    rec = decode(
        AvailabilityRecord,
        b'{"resourceId":1,"arrivalDate":"2026-01-01","departureDate":"2026-01-02","duration":1}',
    )
    assert rec.prices == []
    assert rec.units == []
    assert rec.max_capacity is None


def test_required_field_missing_names_the_path() -> None:
    body = b'[{"resourceId":1,"arrivalDate":"2026-01-01","duration":1}]'
    with pytest.raises(ResponseDecodeError) as info:
        decode(list[AvailabilityRecord], body)
    assert "departureDate" in info.value.detail
    assert "$[0]" in info.value.detail
    assert info.value.body == body


def test_invalid_json_is_a_decode_error() -> None:
    with pytest.raises(ResponseDecodeError) as info:
        decode(Customer, b"<html>oops</html>")
    assert info.value.body == b"<html>oops</html>"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_date_times_are_aware_utc(raw: str, expected: datetime) -> None:
    ev = decode(
        Event, f'{{"eventId":1,"eventType":"X","entityId":1,"creationDate":"{raw}"}}'.encode()
    )
    assert ev.creation_date == expected
    assert ev.creation_date is not None
    assert ev.creation_date.utcoffset() == timedelta(0)
    assert ev.creation_date.tzinfo is UTC
    built = Event(
        event_id=1,
        event_type="X",
        entity_id=1,
        creation_date=datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2))),
    )
    assert built.creation_date == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert built.creation_date is not None
    assert built.creation_date.tzinfo is UTC


def test_decoder_cache_returns_one_decoder_per_type() -> None:
    assert decoder_for(Page[Customer]) is decoder_for(Page[Customer])
    assert decoder_for(list[Event]) is decoder_for(list[Event])
    assert decoder_for(Page[Customer]) is not decoder_for(Page[Event])


def test_models_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Event(1, "X", 1)  # type: ignore[misc]


# --- customers: masking ---------------------------------------------------------------------


def test_masked_customer_is_reported_not_hidden() -> None:
    body = (
        b'{"customerId":42,"firstName":"****","lastName":"Jansen","ibanNumber":"****",'
        b'"gender":"****","birthDate":"1800-01-01","companyName":"ACME"}'
    )
    c = decode(Customer, body)
    assert c.first_name == MASKED
    assert c.birth_date == MASKED_BIRTH_DATE
    assert c.is_masked("first_name")
    assert c.is_masked("gender")
    assert c.is_masked("birth_date")
    assert not c.is_masked("last_name")
    assert not c.is_masked("company_name")
    assert c.masked_fields() == {"first_name", "iban_number", "gender", "birth_date"}
    assert c.masked_fields() <= RESTRICTED_FIELDS
    with pytest.raises(ValueError, match="not a restricted"):
        c.is_masked("login")


# --- reservations: the guide's transition table ---------------------------------------------

GUIDE_TABLE = {
    ReservationStatus.QUOTATION: {StatusAction.CONFIRM, StatusAction.DECLINE},
    ReservationStatus.OPTIONAL: {StatusAction.CONFIRM, StatusAction.DECLINE},
    ReservationStatus.REQUEST: {StatusAction.CONFIRM, StatusAction.DECLINE},
    ReservationStatus.PROVISIONAL: {StatusAction.CANCEL, StatusAction.DECLINE},
    ReservationStatus.DEFINITIVE: {StatusAction.CANCEL, StatusAction.CHECKED_IN},
    ReservationStatus.CHECKED_IN: {StatusAction.CHECKED_OUT},
    # Guide, Reservation Flow 6: CANCELLED -> DEF_CANCELLED (CANCEL again) or back to
    # PROVISIONAL/DEFINITIVE (CONFIRM); the section 5 chart leaves these out.
    ReservationStatus.CANCELLED: {StatusAction.CANCEL, StatusAction.CONFIRM},
}


def test_status_codes_match_the_reference() -> None:
    assert {s.name: int(s) for s in ReservationStatus} == {
        "DELETED": -99,
        "DEFINITIVE_CANCELLED": -13,
        "CANCELLED": -12,
        "EXPIRED": -11,
        "DECLINED": -10,
        "QUOTATION": -5,
        "INITIAL": 0,
        "REQUEST": 10,
        "OPTIONAL": 11,
        "PROVISIONAL": 12,
        "DEFINITIVE": 21,
        "CHECKED_IN": 31,
        "CHECKED_OUT": 41,
    }


@pytest.mark.parametrize(
    ("status", "action"), list(itertools.product(ReservationStatus, StatusAction))
)
def test_transition_table_every_status_and_action(
    status: ReservationStatus, action: StatusAction
) -> None:
    allowed = action in GUIDE_TABLE.get(status, set())
    assert (action in allowed_actions(status)) is allowed
    assert (action in allowed_actions(int(status))) is allowed
    if allowed:
        assert check_transition(status, action.value) is action
    else:
        with pytest.raises(IllegalTransitionError):
            check_transition(status, action)


def test_unknown_status_or_action() -> None:
    assert allowed_actions(999) == frozenset()
    with pytest.raises(IllegalTransitionError, match="unknown status action"):
        check_transition(ReservationStatus.OPTIONAL, "TELEPORT")


def test_status_update_body_and_validation() -> None:
    body = encode(StatusUpdate(status_value=StatusAction.CANCEL, cancellation_reason="ill"))
    assert msgspec.json.decode(body) == {"statusValue": "CANCEL", "cancellationReason": "ill"}
    assert encode(StatusUpdate(status_value=StatusAction.CONFIRM)) == b'{"statusValue":"CONFIRM"}'
    with pytest.raises(ValueError, match="only allowed with CANCEL or DECLINE"):
        StatusUpdate(status_value=StatusAction.CONFIRM, cancellation_reason="x")
    with pytest.raises(ValueError, match="4000"):
        StatusUpdate(status_value=StatusAction.DECLINE, cancellation_reason="x" * 4001)
    # Any name is carried (a move sent with override=True); only an empty one is refused.
    assert msgspec.json.decode(b'{"statusValue":"TELEPORT"}', type=StatusUpdate).status_value == (
        "TELEPORT"
    )
    with pytest.raises(ValueError, match="empty"):
        StatusUpdate(status_value="")


def test_proposal_request_body() -> None:
    req = ReservationProposalRequest(
        distribution_channel_code="WEB",
        category_code="STD",
        customer_id=7,
        accommodation_types=[
            BookedAccommodationType(
                resource_id=100,
                arrival_date=date(2026, 8, 1),
                duration=7,
                subjects=Subjects(persons=[PersonSubject(age=30, quantity=2)]),
            )
        ],
    )
    assert msgspec.json.decode(encode(req)) == {
        "distributionChannelCode": "WEB",
        "categoryCode": "STD",
        "customerId": 7,
        "accommodationTypes": [
            {
                "resourceId": 100,
                "arrivalDate": "2026-08-01",
                "duration": 7,
                "subjects": {"persons": [{"quantity": 2, "age": 30}]},
            }
        ],
    }
    with pytest.raises(ValueError, match="at least one"):
        ReservationProposalRequest(
            distribution_channel_code="WEB", category_code="STD", accommodation_types=[]
        )


def test_proposal_answer_decodes() -> None:
    body = (
        b'{"arrivalDate":"2026-08-01","departureDate":"2026-08-08","currencyCode":"EUR",'
        b'"totalPrice":812.5,"customerBill":[{"description":"Lodge","total":750.0,'
        b'"resourceId":100},{"description":"Tourist tax","total":62.5}],'
        b'"reservedResources":[{"resourceId":100,"type":"ACCOMMODATIONTYPE",'
        b'"stayDateFrom":"2026-08-01","stayDateTo":"2026-08-08","price":750.0,"offerId":null}],'
        b'"units":[{"unitId":10001,"code":"A-1"}]}'
    )
    p = decode(ReservationProposal, body)
    assert p.total_price == 812.5
    assert [line.total for line in p.customer_bill] == [750.0, 62.5]
    assert p.reserved_resources[0].stay_date_from == date(2026, 8, 1)
    assert p.reserved_resources[0].stay_date_to == date(2026, 8, 8)
    assert p.reserved_resources[0].offer_id is None
    assert p.units[0].unit_id == 10001


def test_cancelled_reservation_keeps_its_reason() -> None:
    body = (
        b'{"reservationId":7,"status":-12,"statusValue":"CANCELLED",'
        b'"cancellationReason":"storm damage"}'
    )
    r = decode(Reservation, body)
    assert r.known_status is ReservationStatus.CANCELLED
    assert r.cancellation_reason == "storm damage"
    assert decode(Reservation, b'{"reservationId":8}').cancellation_reason is None
    assert msgspec.json.decode(encode(r))["cancellationReason"] == "storm damage"


def test_reservation_details_is_a_model_with_sections() -> None:
    # Moved into models; resources keeps the name as a re-export of the same class.
    assert resources.ReservationDetails is models.ReservationDetails
    assert ReservationDetails.__module__ == "maxxton_async.models._reservations"
    body = (
        b'{"reservationId":9,"statusValue":"DECLINED","cancellationReason":"no show",'
        b'"customer":{"customerId":3,"lastName":"Jansen"},'
        b'"reservedResources":[{"resourceId":100,"unitId":5}],'
        b'"customerBill":[{"description":"Stay","total":99.5}]}'
    )
    d = decode(ReservationDetails, body)
    assert isinstance(d, Reservation)
    assert d.cancellation_reason == "no show"
    assert d.customer is not None
    assert d.customer.last_name == "Jansen"
    assert d.reserved_resources[0].unit_id == 5
    assert [line.total for line in d.customer_bill] == [99.5]
    assert d.agent_bill == []


def test_payment_request_body_and_validation() -> None:
    body = encode(PaymentRequest(payment_method_code="IDEAL", amount=99.5, remark="deposit"))
    # Names of "Create payments for a reservation" (reference); unset fields are left out.
    assert msgspec.json.decode(body) == {
        "paymentMethodCode": "IDEAL",
        "amount": 99.5,
        "remark": "deposit",
    }
    with pytest.raises(ValueError, match="paymentMethodCode"):
        PaymentRequest(payment_method_code="", amount=1.0)
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite"):
            PaymentRequest(payment_method_code="IDEAL", amount=bad)


def test_payment_result_decodes() -> None:
    result = decode(
        PaymentResult,
        b'{"paymentId":900001,"reservationId":5,"paymentMethodCode":"IDEAL","amount":99.5,'
        b'"currencyCode":"EUR","pspReferenceNumber":"PSP-1","statusValue":"DEFINITIVE"}',
    )
    assert (result.payment_id, result.reservation_id, result.amount) == (900001, 5, 99.5)
    assert result.status_value == "DEFINITIVE"
    assert result.psp_reference_number == "PSP-1"
    assert result.remark is None


# --- search, availability request, token ----------------------------------------------------


def test_arrival_range_search_days_validated() -> None:
    ok = ArrivalRangeSearchRequest(
        arrival_date_from=date(2026, 5, 1), number_of_days_in_result=30, distribution_channel_id=1
    )
    assert msgspec.json.decode(encode(ok))["numberOfDaysInResult"] == 30
    with pytest.raises(ValueError, match="between 1 and 30"):
        ArrivalRangeSearchRequest(arrival_date_from=date(2026, 5, 1), number_of_days_in_result=31)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"arrivalDateFrom":"2026-05-01","numberOfDaysInResult":45}',
            type=ArrivalRangeSearchRequest,
        )


def test_search_result_decodes() -> None:
    body = (
        b'{"result":[{"resourceId":1,"arrivalDate":"2026-05-01","departureDate":"2026-05-08",'
        b'"duration":7,"price":700.5,"availableUnits":3}],"filterOptions":{"locations":[]}}'
    )
    res = decode(SearchResult, body)
    assert res.result[0].available_units == 3
    assert res.result[0].price == 700.5
    assert res.filter_options == {"locations": []}


def test_availability_request_params() -> None:
    req = AvailabilityRequest(
        arrival_date_from=date(2026, 1, 1),
        arrival_date_to=date(2026, 1, 30),
        duration=[3, 7],
        include_all_prices=True,
        resource_id=5,
    )
    assert req.to_params() == {
        "arrivalDateFrom": "2026-01-01",
        "arrivalDateTo": "2026-01-30",
        "duration": "3,7",
        "includeAllPrices": "true",
        "resourceId": "5",
    }
    with pytest.raises(ValueError, match="before"):
        AvailabilityRequest(arrival_date_from=date(2026, 2, 1), arrival_date_to=date(2026, 1, 1))


def test_token_is_snake_case_and_repr_hides_the_secret() -> None:
    body = (
        b'{"access_token":"eyJsecret","token_type":"bearer","expires_in":3600,"scope":"abc",'
        b'"jti":"j-1","details":{},"client_id":12,"concern_id":3}'
    )
    tok = decode(Token, body)
    assert tok.access_token == "eyJsecret"
    assert tok.expires_in == 3600
    assert tok.client_id == 12
    assert tok.concern_id == 3
    assert tok.authorization == "bearer eyJsecret"
    assert "eyJsecret" not in repr(tok)
    with pytest.raises(ResponseDecodeError):
        decode(Token, b'{"accessToken":"x"}')  # camelCase is not the token's wire form
