"""Authenticate and the bearer token rules: forms, refusal, expiry, revocation, masking."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from maxxton_async.sandbox import Sandbox

from .conftest import API, get_token


@pytest.mark.parametrize("transport", ["form", "query"])
@pytest.mark.parametrize("style", ["snake_case", "camelCase"])
async def test_authenticate_forms(transport: str, style: str) -> None:
    names = (
        ("grant_type", "client_id", "client_secret")
        if style == "snake_case"
        else ("grantType", "clientId", "clientSecret")
    )
    async with (
        Sandbox(seed=7, auth_names=(style,)) as sb,
        aiohttp.ClientSession(sb.base_url) as http,
    ):
        values = ("client_credentials", sb.client_id, sb.client_secret)
        fields = dict(zip(names, values, strict=True))
        fields["scope"] = sb.scope
        kwargs = {"data": fields} if transport == "form" else {"params": fields}
        async with http.post(f"{API}/authenticate", **kwargs) as resp:  # type: ignore[arg-type]
            assert resp.status == 200
            body = await resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == sb.scope
    assert isinstance(body["client_id"], int)
    assert isinstance(body["concern_id"], int)
    assert {"access_token", "jti", "details"} <= body.keys()


async def test_only_the_accepted_spelling_authenticates(
    sb: Sandbox, http: aiohttp.ClientSession
) -> None:
    fields = {
        "grantType": "client_credentials",
        "clientId": sb.client_id,
        "clientSecret": sb.client_secret,
        "scope": sb.scope,
    }
    async with http.post(f"{API}/authenticate", data=fields) as resp:
        assert resp.status == 500  # the default sandbox accepts the SDK's spelling only
        assert (await resp.json())["message"] == "Error occurred while processing"


@pytest.mark.parametrize(
    "change", [{"client_secret": "wrong"}, {"client_id": "nobody"}, {"scope": "xyz"}]
)
async def test_refused_credentials_500_as_the_guide_documents(
    sb: Sandbox, http: aiohttp.ClientSession, change: dict[str, str]
) -> None:
    status, body = await _authenticate(sb, http, change)
    assert status == 500
    assert body["status"] == 500
    assert body["message"] == "Error occurred while processing"
    assert sb.statistics().token_calls == 1


@pytest.mark.parametrize(
    "change", [{"client_secret": "wrong"}, {"client_id": "nobody"}, {"scope": "xyz"}]
)
async def test_refused_credentials_401_when_configured(change: dict[str, str]) -> None:
    async with (
        Sandbox(seed=7, auth_refusal_status=401) as sb,
        aiohttp.ClientSession(sb.base_url) as http,
    ):
        await _refused_401(sb, http, change)


async def _refused_401(sb: Sandbox, http: aiohttp.ClientSession, change: dict[str, str]) -> None:
    status, body = await _authenticate(sb, http, change)
    assert status == 401
    assert body == {"error": "invalid_client", "error_description": "Bad client credentials"}
    assert sb.statistics().token_calls == 1


async def _authenticate(
    sb: Sandbox, http: aiohttp.ClientSession, change: dict[str, str]
) -> tuple[int, Any]:
    """POST the sandbox's own credentials, with ``change`` applied; the status and JSON body."""
    fields = {
        "grant_type": "client_credentials",
        "client_id": sb.client_id,
        "client_secret": sb.client_secret,
        "scope": sb.scope,
        **change,
    }
    async with http.post(f"{API}/authenticate", data=fields) as resp:
        return resp.status, await resp.json()


async def test_missing_and_unknown_token_401(http: aiohttp.ClientSession) -> None:
    async with http.get(f"{API}/customers") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "invalid_token"
    async with http.get(f"{API}/customers", headers={"Authorization": "Bearer nope"}) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_token_expiry_with_controlled_clock(
    http: aiohttp.ClientSession,
) -> None:
    async with Sandbox(token_ttl=60) as sb, aiohttp.ClientSession(sb.base_url) as s:
        token = await get_token(s, sb)
        headers = {"Authorization": f"Bearer {token}"}
        async with s.get(f"{API}/locations", headers=headers) as resp:
            assert resp.status == 200
        sb.advance_time(59)
        async with s.get(f"{API}/locations", headers=headers) as resp:
            assert resp.status == 200
        sb.advance_time(1)
        async with s.get(f"{API}/locations", headers=headers) as resp:
            assert resp.status == 401
            assert (await resp.json())["error_description"] == "Access token expired"


async def test_revocation(sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    async with http.get(f"{API}/owners", headers=auth) as resp:
        assert resp.status == 200
    assert sb.revoke_tokens() == 1
    async with http.get(f"{API}/owners", headers=auth) as resp:
        assert resp.status == 401
    fresh = {"Authorization": f"Bearer {await get_token(http, sb)}"}
    async with http.get(f"{API}/owners", headers=fresh) as resp:
        assert resp.status == 200


async def test_restricted_fields_masked_per_client(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    cid = next(iter(sb.data.customers))
    truth = sb.data.customers[cid]
    async with http.get(f"{API}/customers/{cid}", headers=auth) as resp:
        full = await resp.json()
    assert full == truth  # every field, mailAddress included
    restricted = {"Authorization": f"Bearer {await get_token(http, sb, sb.restricted_client_id)}"}
    async with http.get(f"{API}/customers/{cid}", headers=restricted) as resp:
        masked = await resp.json()
    # reference, Customers: restricted fields read "****", birthDate 1800-01-01.
    for name in (
        "firstName",
        "middle",
        "lastName",
        "alternateName",
        "socialSecurityNumber",
        "gender",
        "ibanNumber",
        "companyName",
    ):
        assert masked[name] == "****"
    assert masked["birthDate"] == "1800-01-01"
    assert masked["mailAddress"] == truth["mailAddress"]
    async with http.get(f"{API}/customers", params={"size": "3"}, headers=restricted) as resp:
        assert all(c["lastName"] == "****" for c in (await resp.json())["content"])
