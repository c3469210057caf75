"""Concurrency limiters and the adaptive cap (the plumbing behind ``max_in_flight``).

:class:`LocalLimiter` caps one process, :class:`AnyioLimiter` does the same on anyio, and
``maxxton_async.RedisLimiter`` (extra ``redis``) caps every process behind one IP.
:class:`AdaptiveCap` lowers the cap on the server's 429s and grows it back.
"""

from typing import TYPE_CHECKING

from ._limits import (
    AdaptiveCap,
    AdaptiveLimiter,
    AnyioLimiter,
    Limiter,
    LimiterStatistics,
    LocalLimiter,
)

if TYPE_CHECKING:
    from ._redis import RedisLimiter

__all__ = [
    "AdaptiveCap",
    "AdaptiveLimiter",
    "AnyioLimiter",
    "Limiter",
    "LimiterStatistics",
    "LocalLimiter",
    "RedisLimiter",
]


def __getattr__(name: str) -> object:
    # RedisLimiter needs the optional `redis` extra: imported on first use.
    if name == "RedisLimiter":
        from ._redis import RedisLimiter

        return RedisLimiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
