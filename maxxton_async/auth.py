"""The access token: minted once, shared, refreshed ahead of expiry (plumbing behind
``MaxxtonClient(token_cache=...)`` and ``client.tokens``).

:class:`TokenManager` mints through the client's own send path, single flight, with a
shared failure and a growing cool-down. A :class:`TokenCache` shares the token between
clients: :class:`MemoryTokenCache` (one process, the default), ``SQLiteTokenCache`` (the
processes of one host) and ``RedisTokenCache`` (a fleet).
"""

from typing import TYPE_CHECKING

from ._auth import AuthDetails, CachedToken, MemoryTokenCache, TokenCache, TokenManager, cache_key
from ._sqlite import SQLiteTokenCache

if TYPE_CHECKING:
    from ._redis import RedisTokenCache

__all__ = [
    "AuthDetails",
    "CachedToken",
    "MemoryTokenCache",
    "RedisTokenCache",
    "SQLiteTokenCache",
    "TokenCache",
    "TokenManager",
    "cache_key",
]


def __getattr__(name: str) -> object:
    # RedisTokenCache needs the optional `redis` extra: imported on first use.
    if name == "RedisTokenCache":
        from ._redis import RedisTokenCache

        return RedisTokenCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
