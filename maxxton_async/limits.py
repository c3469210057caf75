"""Concurrency limiters and the adaptive cap (the plumbing behind ``max_in_flight``).

:class:`LocalLimiter` caps one process, :class:`AnyioLimiter` does the same on anyio, and
``maxxton_async.RedisLimiter`` (extra ``redis``) caps every process behind one IP.
:class:`AdaptiveCap` lowers the cap on the server's 429s and grows it back.
"""

from ._limits import (
    AdaptiveCap,
    AdaptiveLimiter,
    AnyioLimiter,
    Limiter,
    LimiterStatistics,
    LocalLimiter,
)

__all__ = [
    "AdaptiveCap",
    "AdaptiveLimiter",
    "AnyioLimiter",
    "Limiter",
    "LimiterStatistics",
    "LocalLimiter",
]
