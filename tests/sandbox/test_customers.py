"""Customer writes: ``POST /customers``, ``PUT /customers/{customerId}`` (reference)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from maxxton_async.sandbox import Sandbox

from ._helpers import booking_body
from .conftest import API, get_token

SPRING_KEYS = {"timestamp", "status", "error", "message", "path"}


async def _send(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
    *,
    data: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    async with http.request(
        method, f"{API}{path}", json=body if data is None else None, data=data, headers=headers
    ) as resp:
        return resp.status, await resp.json()


@pytest.fixture
async def restricted(http: aiohttp.ClientSession, sb: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {await get_token(http, sb, sb.restricted_client_id)}"}


def _events(sb: Sandbox) -> list[tuple[str, int, str]]:
    return [(e["eventType"], e["entityId"], e["entityAction"]) for e in sb.data.events]


# -- create ---------------------------------------------------------------------------------


async def test_create_stores_answers_and_logs_an_event(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    before = len(sb.data.customers)
    status, created = await _send(
        http,
        "POST",
        "/customers",
        auth,
        {
            "customerId": 1,  # readOnly (reference): ignored, the server assigns the id
            "firstName": "Anna",
            "lastName": "Visser",
            "gender": "FEMALE",
            "birthDate": "1990-04-01",
            "emailAllowed": True,
            "identityType": "PASSPORT",
            "mailAddress": {"email": "anna@example.test", "city": "Delft", "countryId": 1},
        },
    )
    assert status == 200
    cid = created["customerId"]
    assert cid != 1
    assert cid not in range(100_000, 100_000 + before)  # a fresh id
    assert len(sb.data.customers) == before + 1
    assert sb.data.customers[cid] == created
    assert (created["firstName"], created["lastName"], created["birthDate"]) == (
        "Anna",
        "Visser",
        "1990-04-01",
    )
    # Email is also the login (reference, Create a customer); countryId names the country.
    assert created["login"] == "anna@example.test"
    assert created["mailAddress"]["country"]["code"] == "NL"
    assert created["creationDate"].endswith("Z")
    assert _events(sb)[-1] == ("CUSTOMER_EVENT", cid, "CREATE")
    # Every field of Get customer is there, absent ones as null.
    async with http.get(f"{API}/customers/{cid}", headers=auth) as resp:
        assert set(await resp.json()) == set(next(iter(sb.data.customers.values())))
    async with http.get(
        f"{API}/customers", params={"email": "ANNA@example.test"}, headers=auth
    ) as resp:
        assert [c["customerId"] for c in (await resp.json())["content"]] == [cid]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"mailAddress": {"email": "a@b.c", "country": {"code": "NL"}}}, "country field"),
        ({"emailAllowed": "yes"}, "emailAllowed"),
        ({"identityType": "VISA"}, "identityType"),
        ({"identityNumber": "X" * 51}, "identityNumber"),
        ({"birthDate": "01-04-1990"}, "birthDate"),
        ({"titleId": True}, "titleId"),
        ({"mailAddress": "Main street 1"}, "mailAddress"),
        ({"mailAddress": {"latitude": "north"}}, "mailAddress.latitude"),
        ([{"lastName": "in a list"}], "JSON object"),
    ],
)
async def test_create_refuses_a_body_the_reference_forbids(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str], body: Any, why: str
) -> None:
    before = (len(sb.data.customers), len(sb.data.events))
    status, answer = await _send(http, "POST", "/customers", auth, body)
    assert status == 400
    assert set(answer) == SPRING_KEYS
    assert answer["status"] == 400
    assert answer["path"] == f"{API}/customers"
    assert why in answer["message"]
    assert (len(sb.data.customers), len(sb.data.events)) == before


async def test_create_by_a_restricted_user_answers_masked(
    sb: Sandbox, http: aiohttp.ClientSession, restricted: dict[str, str]
) -> None:
    status, created = await _send(
        http, "POST", "/customers", restricted, {"firstName": "Hidden", "birthDate": "1970-01-01"}
    )
    assert status == 200
    assert (created["firstName"], created["birthDate"]) == ("****", "1800-01-01")
    stored = sb.data.customers[created["customerId"]]
    assert (stored["firstName"], stored["birthDate"]) == ("Hidden", "1970-01-01")


async def test_booking_with_an_invalid_new_customer_stores_nothing(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    body = booking_body(sb)
    del body["customerId"]
    body["customer"] = {"lastName": "Booker", "gender": "ROBOT"}
    before = (len(sb.data.customers), len(sb.data.reservations), len(sb.data.events))
    status, answer = await _send(http, "POST", "/reservations", auth, body)
    assert status == 400
    assert "gender" in answer["message"]
    assert (len(sb.data.customers), len(sb.data.reservations), len(sb.data.events)) == before
    body["customer"] = {"lastName": "Booker", "mailAddress": {"email": "b@example.test"}}
    status, created = await _send(http, "POST", "/reservations", auth, body)
    assert status == 200
    customer = sb.data.customers[created["customerId"]]
    assert (customer["lastName"], customer["login"]) == ("Booker", "b@example.test")


# -- update ---------------------------------------------------------------------------------


async def test_update_changes_the_writable_fields_only(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    cid = next(iter(sb.data.customers))
    truth = sb.data.customers[cid]
    old_email = truth["mailAddress"]["email"]
    assert truth["login"] == old_email
    zip_code, company = truth["mailAddress"]["zipCode"], truth["companyName"]
    status, answer = await _send(
        http,
        "PUT",
        f"/customers/{cid}",
        auth,
        {
            "lastName": "Bakker",
            "textMsgAllowed": True,
            "identityNumber": "NX123",
            "companyName": "Not writable B.V.",  # not a body parameter of the update: ignored
            "mailAddress": {"city": "Gent", "countryCode": "BE", "email": "new@example.test"},
        },
    )
    assert status == 200
    assert sb.data.customers[cid] == answer
    assert (answer["lastName"], answer["textMsgAllowed"], answer["identityNumber"]) == (
        "Bakker",
        True,
        "NX123",
    )
    assert answer["companyName"] == company
    address = answer["mailAddress"]
    assert (address["city"], address["zipCode"]) == ("Gent", zip_code)  # merged, not replaced
    assert (address["countryId"], address["country"]["code"]) == (2, "BE")
    assert "countryCode" not in address
    assert answer["login"] == "new@example.test"  # the login follows the e-mail
    assert _events(sb)[-1] == ("CUSTOMER_EVENT", cid, "UPDATE")


async def test_update_of_an_unknown_customer_is_404(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    missing = max(sb.data.customers) + 1
    events = len(sb.data.events)
    status, answer = await _send(http, "PUT", f"/customers/{missing}", auth, {"lastName": "X"})
    assert status == 404
    assert set(answer) == SPRING_KEYS
    assert answer["message"] == "No customer found for given customer id."  # reference
    # The body is read before the lookup, as a Spring server deserialises it first.
    status, answer = await _send(http, "PUT", f"/customers/{missing}", auth, {"gender": 1})
    assert status == 400
    assert len(sb.data.events) == events


@pytest.mark.parametrize(
    "body",
    [
        {"phoneCallAllowed": "true"},
        {"identityType": "SOCIAL_SECURITY"},
        {"mailAddress": {"countryCode": "XX"}},
        {"mailAddress": {"stateId": "7"}},
        {"identityDateIssued": "2025-13-01"},
    ],
)
async def test_update_refuses_an_invalid_body(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str], body: dict[str, Any]
) -> None:
    cid = next(iter(sb.data.customers))
    before = dict(sb.data.customers[cid])
    events = len(sb.data.events)
    status, answer = await _send(http, "PUT", f"/customers/{cid}", auth, body)
    assert status == 400
    assert answer["error"] == "Bad Request"
    assert sb.data.customers[cid] == before
    assert len(sb.data.events) == events


async def test_malformed_json_is_400(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    cid = next(iter(sb.data.customers))
    status, answer = await _send(
        http,
        "PUT",
        f"/customers/{cid}",
        {**auth, "Content-Type": "application/json"},
        data=b'{"lastName": ',
    )
    assert status == 400
    assert "Malformed JSON" in answer["message"]


async def test_restricted_user_may_not_change_restricted_fields(
    sb: Sandbox, http: aiohttp.ClientSession, restricted: dict[str, str]
) -> None:
    cid = next(iter(sb.data.customers))
    truth = sb.data.customers[cid]
    before = dict(truth)
    events = len(sb.data.events)
    status, answer = await _send(
        http, "PUT", f"/customers/{cid}", restricted, {"lastName": "Changed", "mailAllowed": True}
    )
    # Only the fields not masked for this user may be modified (reference, Update a customer).
    assert status == 403
    assert answer["error"] == "Forbidden"
    assert "lastName" in answer["message"]
    assert sb.data.customers[cid] == before
    assert len(sb.data.events) == events

    # What the user can see, it can change.
    status, answer = await _send(
        http, "PUT", f"/customers/{cid}", restricted, {"mailAllowed": not truth["mailAllowed"]}
    )
    assert status == 200
    assert sb.data.customers[cid]["mailAllowed"] is not before["mailAllowed"]
    assert answer["lastName"] == "****"  # the answer stays masked

    # Read-modify-write of the masked customer: the masks are not changes.
    async with http.get(f"{API}/customers/{cid}", headers=restricted) as resp:
        masked = await resp.json()
    masked["emailAllowed"] = not masked["emailAllowed"]
    status, _ = await _send(http, "PUT", f"/customers/{cid}", restricted, masked)
    assert status == 200
    stored = sb.data.customers[cid]
    assert (stored["lastName"], stored["gender"], stored["birthDate"]) == (
        before["lastName"],
        before["gender"],
        before["birthDate"],
    )
    assert stored["emailAllowed"] is not before["emailAllowed"]
