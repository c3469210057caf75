"""Harvest planning, pure: arrival windows, chunks, their cost in calls, affordability.

Nothing here sends a request: :func:`plan` lists the chunks of a harvest and states what
they cost in the chosen mode and in the other one, and :func:`check_budget` refuses a plan a
hard budget cannot pay for, before the first call. The runner is ``maxxton_async.harvest``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final, Literal

from ._errors import (
    BudgetExceededError,
)
from .resources._availability import Availability

if TYPE_CHECKING:
    from ._usage import Budget, UsageSnapshot


__all__ = [
    "AVAILABILITY_PATH",
    "DEFAULT_WINDOW",
    "MODES",
    "HarvestChunk",
    "HarvestMode",
    "HarvestPlan",
    "arrival_windows",
    "check_budget",
    "plan",
]

#: Guide, Reservation Flow option 2; reference "Get accommodationtype availability". The
#: path is the ``client.availability`` namespace's, named here for error messages only.
AVAILABILITY_PATH: Final = Availability._path
#: ``"portfolio"``: one ``POST`` per window for every type; ``"per-type"``: one ``GET`` per
#: type and window.
HarvestMode = Literal["portfolio", "per-type"]
MODES: Final[tuple[HarvestMode, ...]] = ("portfolio", "per-type")
#: Days one availability call covers by default (undocumented; arrival range search allows
#: at most 30, reference "arrival range search").
DEFAULT_WINDOW: Final = 30


@dataclass(frozen=True, slots=True)
class HarvestChunk:
    """One availability call: one accommodation type (or every type) over one arrival window.

    Attributes:
        resource_id: the accommodation type; ``None`` for a portfolio-wide chunk (every type
            of the window in one ``POST``).
        arrival_from: first arrival date (inclusive).
        arrival_to: last arrival date (inclusive, as ``arrivalDateTo`` is).
        durations: the stay lengths asked for, in nights (one call carries them all).
    """

    resource_id: int | None
    arrival_from: date
    arrival_to: date
    durations: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        """A stable name for checkpoints: ``"<resourceId>:<from>:<to>"``, ``"*"`` for every
        type."""
        rid = "*" if self.resource_id is None else str(self.resource_id)
        return f"{rid}:{self.arrival_from.isoformat()}:{self.arrival_to.isoformat()}"

    @property
    def portfolio(self) -> bool:
        """Whether this chunk covers every accommodation type."""
        return self.resource_id is None

    @property
    def days(self) -> int:
        """Arrival dates covered."""
        return (self.arrival_to - self.arrival_from).days + 1


@dataclass(frozen=True, slots=True)
class HarvestPlan:
    """What a harvest will do, stated before it starts.

    Attributes:
        chunks: the chunks to fetch, in order (accommodation type, then arrival).
        skipped: chunks already finished by an earlier run (resume), not fetched again.
        resource_ids: the accommodation types covered (empty in portfolio mode when they
            were not listed: the portfolio call does not need them).
        arrival_from, arrival_to: the arrival range (inclusive).
        durations: the stay lengths.
        window: the widest arrival window of one call, in days.
        mode: ``"portfolio"`` or ``"per-type"``.
        implies: whether each chunk also fetches the mandatory costs (one more call).
    """

    chunks: tuple[HarvestChunk, ...]
    skipped: tuple[HarvestChunk, ...]
    resource_ids: tuple[int, ...]
    arrival_from: date
    arrival_to: date
    durations: tuple[int, ...]
    window: int
    mode: HarvestMode = "per-type"
    implies: bool = False

    @property
    def calls_per_chunk(self) -> int:
        """Billed calls one chunk costs: availability, plus implies when asked for."""
        return 2 if self.implies else 1

    @property
    def calls(self) -> int:
        """Calls this plan spends: one per chunk to fetch (two with implies). Retries and
        token calls come on top (the usage ledger counts them when they happen)."""
        return len(self.chunks) * self.calls_per_chunk

    @property
    def total(self) -> int:
        """All chunks of the harvest, finished ones included."""
        return len(self.chunks) + len(self.skipped)

    @property
    def windows(self) -> int:
        """Arrival windows of the range."""
        return len(arrival_windows(self.arrival_from, self.arrival_to, self.window))

    def full_calls(self, mode: HarvestMode, types: int | None = None) -> int | None:
        """Calls a full harvest of this range costs in ``mode`` (nothing skipped).

        ``types`` is the number of accommodation types (default: :attr:`resource_ids`);
        per-type cost is ``None`` when it is unknown.
        """
        if mode == "portfolio":
            return self.windows * self.calls_per_chunk
        n = types if types is not None else (len(self.resource_ids) or None)
        return None if n is None else n * self.windows * self.calls_per_chunk

    def describe(self) -> str:
        """Two lines for a log or a CLI: what, how many chunks and calls, and the other
        mode's cost for comparison."""
        what = (
            "every accommodation type"
            if self.mode == "portfolio" and not self.resource_ids
            else f"{len(self.resource_ids)} accommodation types"
        )
        head = (
            f"{self.mode} harvest of {what} x "
            f"{self.arrival_from.isoformat()}..{self.arrival_to.isoformat()} "
            f"(windows of <= {self.window} days, durations {list(self.durations)}"
            f"{', with implies' if self.implies else ''}): "
            f"{self.total} chunks, {len(self.skipped)} already done, {self.calls} calls to make"
        )
        other: HarvestMode = "per-type" if self.mode == "portfolio" else "portfolio"
        cost = self.full_calls(other)
        if cost is None:
            per = self.windows * self.calls_per_chunk
            line = f"a full {other} harvest would cost {per} calls per accommodation type"
        else:
            line = f"a full {other} harvest would cost {cost} calls"
        mine = self.full_calls(self.mode)
        if mine is not None:
            line += f" (this mode, in full: {mine})"
        return f"{head}\n{line}"


def arrival_windows(arrival_from: date, arrival_to: date, window: int) -> list[tuple[date, date]]:
    """Split the inclusive range into consecutive windows of at most ``window`` days."""
    if window < 1:
        raise ValueError(f"window must be at least 1 day, got {window}")
    if arrival_to < arrival_from:
        raise ValueError(
            f"arrival range is empty: {arrival_from.isoformat()} is after {arrival_to.isoformat()}"
        )
    out = []
    start = arrival_from
    step = timedelta(days=window)
    while start <= arrival_to:
        end = min(start + step - timedelta(days=1), arrival_to)
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def plan(
    resource_ids: Iterable[int] | None,
    arrival_from: date,
    arrival_to: date,
    *,
    durations: Iterable[int],
    window: int = DEFAULT_WINDOW,
    finished: Iterable[str] = (),
    mode: HarvestMode = "per-type",
    implies: bool = False,
) -> HarvestPlan:
    """List the chunks of a harvest and what it will cost (pure, no I/O).

    Args:
        resource_ids: accommodation types (duplicates are dropped; sorted). Needed in
            per-type mode; in portfolio mode they only feed the comparison.
        arrival_from, arrival_to: the arrival range, both inclusive.
        durations: stay lengths in nights (at least one).
        window: the widest arrival window of one call, in days.
        finished: keys (:attr:`HarvestChunk.key`) of chunks an earlier run finished.
        mode: ``"per-type"`` (one chunk per type and window) or ``"portfolio"`` (one chunk
            per window for every type).
        implies: each chunk also fetches the mandatory costs (one more call per chunk).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    ids = tuple(sorted(set(resource_ids or ())))
    durs = tuple(sorted(set(durations)))
    if not durs:
        raise ValueError("at least one duration is needed")
    if any(d < 1 for d in durs):
        raise ValueError(f"durations must be at least 1 night, got {list(durs)}")
    windows = arrival_windows(arrival_from, arrival_to, window)
    done = set(finished)
    todo: list[HarvestChunk] = []
    skipped: list[HarvestChunk] = []
    targets: tuple[int | None, ...] = (None,) if mode == "portfolio" else ids
    for rid in targets:
        for start, end in windows:
            chunk = HarvestChunk(rid, start, end, durs)
            (skipped if chunk.key in done else todo).append(chunk)
    return HarvestPlan(
        chunks=tuple(todo),
        skipped=tuple(skipped),
        resource_ids=ids,
        arrival_from=arrival_from,
        arrival_to=arrival_to,
        durations=durs,
        window=window,
        mode=mode,
        implies=implies,
    )


def check_budget(
    plan: HarvestPlan, snapshot: UsageSnapshot, budget: Budget, *, margin: int = 1
) -> None:
    """Refuse a plan that the hard budget cannot pay for (pure).

    ``margin`` extra calls are reserved for token calls. Does nothing when the budget is
    not hard or does not bill this environment (acceptance is free, guide "API Pricing").

    Raises:
        BudgetExceededError: ``plan.calls + margin`` is more than the day or month leaves.
    """
    if not (snapshot.billed and budget.hard):
        return
    need = plan.calls + margin
    for name, left, used, limit in (
        ("daily", snapshot.free_left_today, snapshot.today, budget.daily),
        ("monthly", snapshot.free_left_month, snapshot.month, budget.monthly),
    ):
        if need > left:
            raise BudgetExceededError(
                f"harvest refused before starting: it needs {plan.calls} calls "
                f"(+{margin} for tokens) but the hard {name} budget leaves {left} "
                f"({used} of {limit} used); narrow the range, the types or the durations, "
                "or raise the budget",
                limit_name=name,
                used=used,
                limit=limit,
                method="POST" if plan.mode == "portfolio" else "GET",
                path=AVAILABILITY_PATH,
            )
