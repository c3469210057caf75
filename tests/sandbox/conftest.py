"""Fixtures for the sandbox's own tests: a started sandbox, a plain aiohttp session, a token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from maxxton_async.sandbox import Sandbox
from tests._support import sandbox_fixture

API = "/maxxton/v2"


sb = sandbox_fixture(seed=7)


@pytest.fixture
async def http(sb: Sandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(sb.base_url) as session:
        yield session


async def get_token(http: aiohttp.ClientSession, sb: Sandbox, client_id: str | None = None) -> str:
    async with http.post(
        f"{API}/authenticate",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id or sb.client_id,
            "client_secret": sb.client_secret,
            "scope": sb.scope,
        },
    ) as resp:
        assert resp.status == 200
        token: str = (await resp.json())["access_token"]
        return token


@pytest.fixture
async def auth(http: aiohttp.ClientSession, sb: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {await get_token(http, sb)}"}
