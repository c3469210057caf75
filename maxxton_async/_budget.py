"""The budget: Maxxton's free tier, limits and warnings on billed requests.

Guide, "API Pricing": "the first 750,000 requests per month (25,000 requests per day) are
not charged", and "The number of requests only applies to the production API". A
:class:`Budget` reads the ledger's totals (pure: no I/O) to warn at thresholds, and, when
hard, to refuse an attempt before it is sent.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from ._errors import BudgetExceededError
from ._ledger import UsageCounts, month_key

__all__ = ["BILLED_ENVIRONMENTS", "FREE_DAILY", "FREE_MONTHLY", "Budget"]

logger = logging.getLogger("maxxton_async.usage")

#: A limit no count reaches (fits SQLite's 64-bit integers and Lua's doubles exactly).
_UNBOUNDED = 10**15
FREE_MONTHLY = 750_000
FREE_DAILY = 25_000
BILLED_ENVIRONMENTS = frozenset({"production"})


@dataclass
class Budget:
    """Limits and warnings on billed requests.

    Args:
        monthly: the month's allowance (Maxxton's free tier: 750,000).
        daily: the day's allowance (free tier: 25,000).
        warn_at: fractions of either allowance at which one warning is logged (and
            ``on_warning`` called), once per threshold, period and process.
        hard: when true, a request that would exceed the monthly allowance (and the daily
            one, see ``hard_daily``) raises :class:`BudgetExceededError` before it is sent.
        hard_daily: whether ``hard`` enforces the daily figure too. ``None`` (the default)
            enforces it only when you set ``daily`` yourself: the guide's "750,000
            requests per month (25,000 requests per day)" (API Pricing) states one
            allowance two ways, and the month is what is billed, so the free tier's daily
            figure only warns unless you ask otherwise.
        bill_acceptance: count acceptance ("test") calls against the allowance too.
        on_warning: called with ``(limit_name, fraction, used, limit)``.

    Acceptance calls are always counted (under their own environment key, so they never
    mix with production's), but only billed -- warned about, limited, projected as
    overage -- when ``bill_acceptance`` is true. The guide: "The number of requests only
    applies to the production API (api.maxxton.net)" (API Pricing).
    """

    monthly: int = FREE_MONTHLY
    daily: int = FREE_DAILY
    warn_at: tuple[float, ...] = (0.8, 0.95)
    hard: bool = False
    bill_acceptance: bool = False
    on_warning: Callable[[str, float, int, int], None] | None = None
    hard_daily: bool | None = None
    _warned: set[tuple[str, str, float]] = field(default_factory=set, init=False, repr=False)
    # ((day, daily, monthly, warn_at), day count, month count): counts below the two
    # figures cross no threshold not yet warned about on that day with those settings.
    # observe() runs for every billed call; this keeps it to a few comparisons.
    _quiet: tuple[tuple[date, int, int, tuple[float, ...]], float, float] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def enforces_daily(self) -> bool:
        """Whether a hard budget refuses past the daily figure (see ``hard_daily``)."""
        if self.hard_daily is not None:
            return self.hard_daily
        return self.daily != FREE_DAILY

    @property
    def daily_limit(self) -> int:
        """The daily figure a hard budget enforces (unbounded when it only warns)."""
        return self.daily if self.enforces_daily else _UNBOUNDED

    def applies_to(self, environment: str) -> bool:
        """Whether calls in ``environment`` count against this budget."""
        return environment in BILLED_ENVIRONMENTS or self.bill_acceptance

    def check(self, counts: UsageCounts, *, method: str, path: str, count: int = 1) -> None:
        """Raise if ``count`` more requests would exceed a hard limit (pure, no I/O)."""
        if not self.hard:
            return
        error = self.exceeded(counts, method=method, path=path, count=count)
        if error is not None:
            raise error

    def exceeded(
        self, counts: UsageCounts, *, method: str, path: str, count: int = 1
    ) -> BudgetExceededError | None:
        """The error to raise if ``count`` more requests would pass a limit, else ``None``.

        Unlike :meth:`check` this ignores :attr:`hard`: it answers "is it spent?".
        """
        for name, used, limit in (
            ("daily", counts.day, self.daily_limit),
            ("monthly", counts.month, self.monthly),
        ):
            if used + count > limit:
                return BudgetExceededError(
                    f"{name} budget spent: {used} of {limit} requests used",
                    limit_name=name,
                    used=used,
                    limit=limit,
                    method=method,
                    path=path,
                )
        return None

    def observe(self, counts: UsageCounts, *, day: date) -> None:
        """Emit the warnings that ``counts`` crosses, once per threshold and period."""
        settings = (day, self.daily, self.monthly, self.warn_at)
        quiet = self._quiet
        if (
            quiet is not None
            and counts.day < quiet[1]
            and counts.month < quiet[2]
            and quiet[0] == settings
        ):
            return
        below = {"daily": math.inf, "monthly": math.inf}
        for name, used, limit, period in (
            ("daily", counts.day, self.daily, day.isoformat()),
            ("monthly", counts.month, self.monthly, month_key(day)),
        ):
            if limit <= 0:
                continue
            for fraction in self.warn_at:
                key = (name, period, fraction)
                if used >= fraction * limit and key not in self._warned:
                    self._warned.add(key)
                    logger.warning(
                        "Maxxton %s budget: %d of %d requests used (%.0f%%)",
                        name,
                        used,
                        limit,
                        100 * used / limit,
                    )
                    if self.on_warning is not None:
                        self.on_warning(name, fraction, used, limit)
                elif key not in self._warned:
                    below[name] = min(below[name], fraction * limit)
        self._quiet = (settings, below["daily"], below["monthly"])
