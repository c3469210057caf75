"""Shared fixtures: a clean environment, a private usage database, a counting server, Redis
keys of a test's own (shared server) and a redis-server of a test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests._counting_server import CLIENT_ID, CLIENT_SECRET, SCOPE, CountingServer
from tests._own_redis import OwnRedis
from tests._redis_util import delete_prefix, require_redis, unique_prefix


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's credentials or writes to their usage database."""
    for name in (
        "MAXXTON_CLIENT_ID",
        "MAXXTON_CLIENT_SECRET",
        "MAXXTON_SCOPE",
        "MAXXTON_ENVIRONMENT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAXXTON_USAGE_DB", str(tmp_path / "usage.sqlite3"))


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    async with CountingServer() as srv:
        yield srv


@pytest.fixture
def creds() -> dict[str, str]:
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": SCOPE}


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """The shared test Redis's URL and a key prefix no other run uses (deleted afterwards)."""
    url = require_redis()
    prefix = unique_prefix(request.module.__name__.rpartition(".")[2])
    yield url, prefix
    delete_prefix(url, prefix)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    """A redis-server of this test's own on a free port, killed afterwards."""
    server = OwnRedis()  # skips (or fails in CI) without redis-server
    server.start()
    try:
        yield server
    finally:
        server.kill()
