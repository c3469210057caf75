"""Shared fixtures: a clean environment, a private usage database, a counting server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests._counting_server import CLIENT_ID, CLIENT_SECRET, SCOPE, CountingServer


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
