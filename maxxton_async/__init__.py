"""maxxton_async: an asyncio SDK for the Maxxton REST API v2."""

from ._auth import CachedToken, MemoryTokenCache, TokenCache, TokenManager
from ._client import ENVIRONMENTS, ClientStatistics, MaxxtonClient
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
    LimiterUnavailableError,
    MaxxtonError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TimeoutError,
    TransportError,
    UnauthorizedError,
)
from ._filters import F, Filter, chunk_ids
from ._limits import Limiter, LimiterStatistics, LocalLimiter
from ._pagination import Paginator
from ._retry import RetryPolicy
from ._usage import (
    Budget,
    DayUsage,
    Ledger,
    MemoryLedger,
    Usage,
    UsageCounts,
    UsageKind,
    UsageSnapshot,
)
from .models import Page

__version__ = "0.1.0"

__all__ = [
    "ENVIRONMENTS",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "Budget",
    "BudgetExceededError",
    "CachedToken",
    "ClientClosedError",
    "ClientStatistics",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "DayUsage",
    "F",
    "Filter",
    "IllegalTransitionError",
    "Ledger",
    "Limiter",
    "LimiterStatistics",
    "LimiterUnavailableError",
    "LocalLimiter",
    "MaxxtonClient",
    "MaxxtonError",
    "MemoryLedger",
    "MemoryTokenCache",
    "NotFoundError",
    "OutcomeUnknownError",
    "Page",
    "Paginator",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "RetryPolicy",
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
    "__version__",
    "chunk_ids",
]
