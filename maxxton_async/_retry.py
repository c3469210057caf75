"""When to send a request again, and after how long.

:class:`RetryPolicy` only decides; the client does the sleeping (and gives its slot back
first). Retried: failed connections, timeouts, 429, 502, 503 and 504 -- only for
idempotent calls, except 429, which the server did not process. The Maxxton guide does not
document 429 or ``Retry-After`` (``docs/wire-contract.md``); both are honoured when they
occur, and the sandbox emits them.

Every retry is a billed request, so retries also draw on a :class:`RetryQuota` shared by
all calls of a client: a storm of 5xx or 429 answers spends the quota and then fails
fast, instead of multiplying billed calls without bound.
"""

from __future__ import annotations

import email.utils
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy", "RetryQuota", "parse_retry_after"]

# RFC 9110 §10.2.3 says delta-seconds is digits; a sign or a fraction is tolerated.
_DELTA_SECONDS = re.compile(r"[+-]?\d+(\.\d+)?\Z")

#: Methods safe to repeat (RFC 9110 §9.2.2). Read-only POSTs are declared per call.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns ``None`` when the header is absent or unreadable, and never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if _DELTA_SECONDS.match(value):
        return max(float(value), 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        # OverflowError: a year too large for the platform (``99999999999999``).
        return None
    if when.tzinfo is None:  # RFC 9110 HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    now = now if now is not None else datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring ``Retry-After``.

    The n-th retry (``attempt`` = n, from 1) waits a uniform random time in
    ``[0, min(backoff_max, backoff_base * 2 ** (n - 1))]`` ("full jitter"), or the server's
    ``Retry-After`` when it sent one, capped at ``retry_after_max``.

    Args:
        max_attempts: attempts in all, the first included (1 disables retries).
        backoff_base: the first retry's upper bound, in seconds.
        backoff_max: the largest backoff bound, in seconds.
        retry_after_max: a longer ``Retry-After`` is not waited for: the error is raised.
        retry_statuses: statuses worth another attempt.
        rng: the random source of the jitter (inject a seeded one in tests).
    """

    max_attempts: int = 4
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    retry_after_max: float = 60.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int) -> float:
        """The jittered delay before retry number ``attempt`` (1 = the first retry)."""
        bound = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return bound * self.rng()

    def delay_for_status(
        self, status: int, *, attempt: int, idempotent: bool, retry_after: float | None
    ) -> float | None:
        """Seconds to wait before retrying a response, or ``None`` to give up.

        ``attempt`` counts the attempts made so far (1 after the first).
        """
        if status not in self.retry_statuses:
            return None
        # A 429 means the request was not processed (RFC 6585 §4): resending it is safe
        # even for a reservation create. Other statuses may follow partial processing.
        if not idempotent and status != 429:
            return None
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None:
            return None if retry_after > self.retry_after_max else retry_after
        return self.backoff(attempt)

    def delay_for_error(self, *, attempt: int, idempotent: bool) -> float | None:
        """Seconds to wait before retrying after a transport failure, or ``None``.

        ``idempotent`` must be true only when resending is safe: the call is idempotent,
        or the request provably never left (the connection was never made).
        """
        if not idempotent or attempt >= self.max_attempts:
            return None
        return self.backoff(attempt)


class RetryQuota:
    """A token bucket that every retry of a client draws from (botocore's retry quota).

    A retry costs ``retry_cost`` tokens (``timeout_cost`` after a timeout, which ties up
    a slot for longest); when the bucket cannot pay, the call fails with the error it
    has instead of retrying. A call that succeeds puts back what its retries took, or
    ``success_refund`` when it needed none, up to ``capacity``. With the defaults, a
    sustained storm allows about 100 retries before retrying stops, and normal traffic
    refills the bucket quickly.

    Args:
        capacity: tokens in a full bucket.
        retry_cost: tokens a retry costs.
        timeout_cost: tokens a retry after a timeout costs.
        success_refund: tokens a first-attempt success puts back.
    """

    def __init__(
        self,
        capacity: int = 500,
        *,
        retry_cost: int = 5,
        timeout_cost: int = 10,
        success_refund: int = 1,
    ) -> None:
        if capacity < 0 or retry_cost < 0 or timeout_cost < 0 or success_refund < 0:
            raise ValueError("RetryQuota amounts must not be negative")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.success_refund = success_refund
        self._available = capacity

    def __repr__(self) -> str:
        return f"<RetryQuota {self._available}/{self.capacity}>"

    @property
    def available(self) -> int:
        """Tokens left now."""
        return self._available

    def acquire(self, *, timeout: bool = False) -> int | None:
        """Take the cost of one retry and return it; ``None`` when the bucket cannot pay."""
        cost = self.timeout_cost if timeout else self.retry_cost
        if cost > self._available:
            return None
        self._available -= cost
        return cost

    def release(self, spent: int) -> None:
        """A call succeeded after spending ``spent`` tokens on retries (0: none)."""
        refund = spent if spent > 0 else self.success_refund
        self._available = min(self.capacity, self._available + refund)
