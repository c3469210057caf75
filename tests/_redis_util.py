"""Find the test Redis, or skip (or fail, in CI) with a visible reason.

``MAXXTON_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``) names the server. When
it does not answer, tests that need it are skipped -- unless ``MAXXTON_REQUIRE_REDIS=1``
(set in CI), in which case they fail, so a broken CI Redis cannot pass silently.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import TYPE_CHECKING

from tests._support import skip_unless_up

if TYPE_CHECKING:
    from maxxton_async.sandbox import Sandbox

DEFAULT_URL = "redis://127.0.0.1:6379/15"


def redis_url() -> str:
    """The URL of the test Redis."""
    return os.environ.get("MAXXTON_TEST_REDIS_URL", DEFAULT_URL)


def _ping(url: str) -> str | None:
    """``None`` when Redis answers, else why not."""
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install maxxton-async[redis])"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to answer means "no Redis"
        return f"no Redis at {url}: {exc!r}"
    return None


def require_redis() -> str:
    """Return the Redis URL; skip the test (or fail when MAXXTON_REQUIRE_REDIS=1)."""
    url = redis_url()
    skip_unless_up(_ping(url), "MAXXTON_REQUIRE_REDIS")
    return url


def unique_prefix(name: str) -> str:
    """A key prefix no other test run uses; delete its keys with :func:`delete_prefix`."""
    return f"maxxton-test:{name}:{secrets.token_hex(6)}"


def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (bounded SCAN)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def redis_time_passes(url: str, seconds: float, limit: float = 30.0) -> None:
    """Wait until ``seconds`` have passed on the Redis server's own clock (``TIME``).

    Leases in Redis expire on that clock, not the host's, so a test of expiry or renewal
    waits on it for real. Polled every 10 ms; fails after ``limit`` seconds of polling.
    """
    import redis.asyncio as aioredis

    def ms(t: tuple[int, int]) -> float:
        return t[0] * 1000 + t[1] / 1000

    client = aioredis.Redis.from_url(url)
    try:
        end = ms(await client.time()) + seconds * 1000
        for _ in range(int(limit / 0.01)):
            if ms(await client.time()) >= end:
                return
            await asyncio.sleep(0.01)
    finally:
        await client.aclose()
    raise AssertionError(f"Redis TIME did not advance {seconds} s within {limit} s")


async def mint_fleet_token(sandbox: Sandbox, url: str, prefix: str) -> None:
    """Mint the token a fleet of workers will share through ``RedisTokenCache`` at
    ``prefix:token``, so that every worker request is an API call (no authenticate call
    can be trapped behind a cap the test holds full)."""
    from maxxton_async.auth import RedisTokenCache

    async with sandbox.client(token_cache=RedisTokenCache(url, prefix=prefix + ":token")) as minter:
        await minter.tokens.token()
