"""Pacing: spreading requests out in time, on top of the concurrency cap.

The concurrency limiter bounds how many requests are on the wire at once; it says nothing
about how many are sent per second. Maxxton bills per request beyond a free allowance of
25,000 a day (guide, "API Pricing"), so a long-running harvest may prefer to spend the
allowance evenly over the day rather than burn it in the first hour. :class:`Pacing`
does that with :mod:`aiolimiter`: ``Usage.before_send`` awaits the pacer before it counts
an attempt.

Two modes:

* :meth:`Pacing.rate` -- a fixed rate (requests per second), bursts of ``burst``.
* :meth:`Pacing.spread_daily_allowance` -- the rest of today's free allowance spread over
  the rest of the UTC day, recomputed every ``refresh`` seconds from the ledger (so it
  follows what other processes sharing the ledger spend too).

The pacer is per process: with several processes, each paces itself; the spread mode stays
right because it re-reads the shared ledger, but each process spends the whole remaining
rate, so divide with ``share`` (e.g. ``share=4`` for four workers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from aiolimiter import AsyncLimiter

__all__ = ["Pacing"]

_SECONDS_PER_DAY = 86_400.0


class Pacing:
    """Spreads requests out in time with an :class:`aiolimiter.AsyncLimiter`.

    Build one with :meth:`rate` or :meth:`spread_daily_allowance` and pass it to the
    client (``Usage(..., pacing=...)``).
    """

    def __init__(
        self,
        *,
        per_second: float | None,
        burst: int = 1,
        refresh: float = 60.0,
        min_rate: float = 0.1,
        share: int = 1,
    ) -> None:
        if per_second is not None and per_second <= 0:
            raise ValueError(f"per_second must be positive, got {per_second}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        if min_rate <= 0:
            raise ValueError(f"min_rate must be positive, got {min_rate}")
        if share < 1:
            raise ValueError(f"share must be at least 1, got {share}")
        self._fixed = per_second
        self._burst = burst
        self._refresh = timedelta(seconds=refresh)
        self._min_rate = min_rate
        self._share = share
        self._rate: float | None = per_second
        self._computed_at: datetime | None = None
        self._limiter: AsyncLimiter | None = None

    @classmethod
    def rate(cls, per_second: float, *, burst: int = 1) -> Pacing:
        """At most ``per_second`` requests a second on average, ``burst`` at once."""
        return cls(per_second=per_second, burst=burst)

    @classmethod
    def spread_daily_allowance(
        cls, *, refresh: float = 60.0, min_rate: float = 0.1, share: int = 1
    ) -> Pacing:
        """Spread the rest of today's free allowance over the rest of the UTC day.

        Args:
            refresh: seconds between re-reads of the ledger.
            min_rate: the floor (requests/second) once the allowance is spent, so that
                work continues slowly rather than stopping; a hard budget still refuses.
            share: number of processes pacing on the same ledger; each takes 1/share.
        """
        return cls(per_second=None, refresh=refresh, min_rate=min_rate, share=share)

    def __repr__(self) -> str:
        mode = "fixed" if self._fixed is not None else "spread_daily_allowance"
        return f"<Pacing {mode} rate={self._rate}>"

    @property
    def current_rate(self) -> float | None:
        """Requests per second in force now (``None`` before the first spread computation)."""
        return self._rate

    @staticmethod
    def spread_rate(remaining: int, now: datetime) -> float:
        """``remaining`` requests over the seconds left in ``now``'s UTC day (pure)."""
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        left = _SECONDS_PER_DAY - (now - day_start).total_seconds()
        return remaining / max(left, 1.0)

    def _set_rate(self, rate: float) -> None:
        if rate != self._rate or self._limiter is None:
            self._rate = rate
            # max_rate=burst over burst/rate seconds: a leaky bucket that drains at
            # ``rate`` per second and never lets more than ``burst`` through at once.
            self._limiter = AsyncLimiter(self._burst, self._burst / rate)

    async def wait(
        self,
        *,
        now: Callable[[], datetime],
        remaining_today: Callable[[], Awaitable[int]],
    ) -> None:
        """Wait until one more request may be sent.

        Args:
            now: the clock (aware UTC datetimes).
            remaining_today: returns the free requests left today (read from the ledger).
        """
        if self._fixed is not None:
            self._set_rate(self._fixed)
        else:
            at = now()
            stale = (
                self._computed_at is None
                or at.date() != self._computed_at.date()
                or at - self._computed_at >= self._refresh
            )
            if stale:
                remaining = await remaining_today()
                rate = self.spread_rate(remaining, at) / self._share
                self._computed_at = at
                self._set_rate(max(rate, self._min_rate))
        assert self._limiter is not None
        await self._limiter.acquire()
