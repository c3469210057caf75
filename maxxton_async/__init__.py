"""maxxton_async: an asyncio SDK for the Maxxton REST API v2."""

from typing import TYPE_CHECKING

from ._auth import CachedToken, MemoryTokenCache, TokenCache, TokenManager
from ._client import ENVIRONMENTS, AuthDetails, ClientStatistics, MaxxtonClient
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    ConnectError,
    IllegalTransitionError,
    LedgerUnavailableError,
    LimiterUnavailableError,
    MaxxtonError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RedirectError,
    RequestTimeoutError,
    ResponseDecodeError,
    ServerError,
    TimeoutError,
    TransportError,
    UnauthorizedError,
    WebhookPayloadError,
    WebhookSignatureError,
)
from ._filters import F, Filter, chunk_ids
from ._limits import AnyioLimiter, Limiter, LimiterStatistics, LocalLimiter
from ._logs import configure_from_env as _configure_logging_from_env
from ._pacing import Pacing
from ._pagination import Paginator
from ._retry import RetryPolicy, RetryQuota
from ._sqlite import SQLiteLedger, SQLiteTokenCache
from ._usage import (
    BoundedLedger,
    Budget,
    DayUsage,
    DeferredLedger,
    Ledger,
    MemoryLedger,
    Reservation,
    Usage,
    UsageCounts,
    UsageKind,
    UsageSnapshot,
)
from .events import EventBatch, EventSync
from .harvest import Harvest, HarvestPlan, HarvestResult, PostgresPriceIndex, SQLitePriceIndex
from .index_sync import IndexPass, IndexSync
from .models import Page
from .resources import BatchResult, BatchResults, Found, Lookup, Missing

if TYPE_CHECKING:
    from ._redis import RedisLedger, RedisLimiter, RedisTokenCache

from ._version import __version__

_configure_logging_from_env()

_REDIS_NAMES = frozenset({"RedisLedger", "RedisLimiter", "RedisTokenCache"})


def __getattr__(name: str) -> object:
    # The Redis classes need the optional `redis` extra: import them on first use so that
    # `import maxxton_async` works without it.
    if name in _REDIS_NAMES:
        from . import _redis

        return getattr(_redis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENVIRONMENTS",
    "APIStatusError",
    "AnyioLimiter",
    "AuthDetails",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "BatchResults",
    "BoundedLedger",
    "Budget",
    "BudgetExceededError",
    "CachedToken",
    "ClientClosedError",
    "ClientStatistics",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "DayUsage",
    "DeferredLedger",
    "EventBatch",
    "EventSync",
    "F",
    "Filter",
    "Found",
    "Harvest",
    "HarvestPlan",
    "HarvestResult",
    "IllegalTransitionError",
    "IndexPass",
    "IndexSync",
    "Ledger",
    "LedgerUnavailableError",
    "Limiter",
    "LimiterStatistics",
    "LimiterUnavailableError",
    "LocalLimiter",
    "Lookup",
    "MaxxtonClient",
    "MaxxtonError",
    "MemoryLedger",
    "MemoryTokenCache",
    "Missing",
    "NotFoundError",
    "OutcomeUnknownError",
    "Pacing",
    "Page",
    "Paginator",
    "PermissionDeniedError",
    "PostgresPriceIndex",
    "ProtocolError",
    "RateLimitError",
    "RedirectError",
    "RedisLedger",
    "RedisLimiter",
    "RedisTokenCache",
    "RequestTimeoutError",
    "Reservation",
    "ResponseDecodeError",
    "RetryPolicy",
    "RetryQuota",
    "SQLiteLedger",
    "SQLitePriceIndex",
    "SQLiteTokenCache",
    "ServerError",
    "TimeoutError",
    "TokenCache",
    "TokenManager",
    "TransportError",
    "UnauthorizedError",
    "Usage",
    "UsageCounts",
    "UsageKind",
    "UsageSnapshot",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "__version__",
    "chunk_ids",
]
