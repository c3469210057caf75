"""Find the test PostgreSQL, or skip (or fail, in CI) with a visible reason.

``MAXXTON_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``) names
the server. When it does not answer, tests that need it are skipped -- unless
``MAXXTON_REQUIRE_POSTGRES=1`` (set in CI), in which case they fail. Every test uses a schema
of its own (:func:`unique_schema`) and drops it afterwards, so runs never collide.
"""

from __future__ import annotations

import asyncio
import os
import secrets

from tests._support import skip_unless_up

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The URL of the test PostgreSQL."""
    return os.environ.get("MAXXTON_TEST_POSTGRES_URL", DEFAULT_URL)


async def _ping(url: str) -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    try:
        import asyncpg
    except ImportError:
        return "asyncpg is not installed (pip install maxxton-async[postgres])"
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url, timeout=2.0), 3.0)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
    except Exception as exc:  # any failure to answer means "no PostgreSQL"
        return f"no PostgreSQL at {url}: {exc!r}"
    return None


async def require_postgres() -> str:
    """Return the PostgreSQL URL; skip the test (or fail when MAXXTON_REQUIRE_POSTGRES=1)."""
    url = postgres_url()
    skip_unless_up(await _ping(url), "MAXXTON_REQUIRE_POSTGRES")
    return url


def unique_schema(name: str) -> str:
    """A schema name no other test run uses."""
    return f"mxt_{name}_{secrets.token_hex(4)}"


async def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()
