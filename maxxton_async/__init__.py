"""maxxton_async: an asyncio SDK for the Maxxton REST API v2.

The top level holds what an application writes: the client, filters, the stores it may
pass (ledgers, token caches, limiters), the budget and retry settings, the workflows
(event sync, harvest, index sync) and the exceptions. The plumbing lives in public
submodules, msgspec-style: :mod:`maxxton_async.usage` (ledger protocols, ``Usage``),
:mod:`maxxton_async.auth` (token manager and caches), :mod:`maxxton_async.limits`
(limiter protocol, adaptive cap), :mod:`maxxton_async.transport` (the transport seam,
observers), :mod:`maxxton_async.pagination`, :mod:`maxxton_async.models`.
"""

from typing import TYPE_CHECKING

from ._auth import AuthDetails
from ._budget import Budget
from ._client import ClientStatistics, MaxxtonClient
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
    TransportError,
    UnauthorizedError,
    WebhookPayloadError,
    WebhookSignatureError,
)
from ._filters import F, Filter, chunk_ids
from ._ledger import MemoryLedger
from ._limits import LocalLimiter
from ._logs import configure_from_env as _configure_logging_from_env
from ._pacing import Pacing
from ._retry import RetryPolicy, RetryQuota
from ._sqlite import SQLiteLedger, SQLiteTokenCache
from ._version import __version__
from .events import EventSync
from .harvest import Harvest, PostgresPriceIndex, SQLitePriceIndex
from .index_sync import IndexSync
from .models import Page
from .resources import BatchResult, BatchResults, Found, Missing

if TYPE_CHECKING:
    from ._redis import RedisLedger, RedisLimiter, RedisTokenCache

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
    "APIStatusError",
    "AuthDetails",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "BatchResults",
    "Budget",
    "BudgetExceededError",
    "ClientClosedError",
    "ClientStatistics",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "EventSync",
    "F",
    "Filter",
    "Found",
    "Harvest",
    "IllegalTransitionError",
    "IndexSync",
    "LedgerUnavailableError",
    "LimiterUnavailableError",
    "LocalLimiter",
    "MaxxtonClient",
    "MaxxtonError",
    "MemoryLedger",
    "Missing",
    "NotFoundError",
    "OutcomeUnknownError",
    "Pacing",
    "Page",
    "PermissionDeniedError",
    "PostgresPriceIndex",
    "ProtocolError",
    "RateLimitError",
    "RedirectError",
    "RedisLedger",
    "RedisLimiter",
    "RedisTokenCache",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "RetryPolicy",
    "RetryQuota",
    "SQLiteLedger",
    "SQLitePriceIndex",
    "SQLiteTokenCache",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "__version__",
    "chunk_ids",
]
