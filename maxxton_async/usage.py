"""Counting billed calls: ledgers, the budget and ``client.usage`` (plumbing behind
``MaxxtonClient(ledger=..., budget=...)``).

Every HTTP attempt is counted in a :class:`Ledger` before it leaves, durably (group commit:
one write per event-loop turn). :class:`MemoryLedger` is for tests; ``SQLiteLedger`` (the
default, a file shared by the processes of one host) and ``RedisLedger`` (fleets) are
durable. :class:`Budget` warns and, when hard, refuses before sending. ``client.usage`` is
a :class:`Usage`; ``await client.usage.snapshot()`` returns a :class:`UsageSnapshot`.
"""

from typing import TYPE_CHECKING

from ._budget import FREE_DAILY, FREE_MONTHLY, Budget
from ._ledger import (
    BoundedLedger,
    DayUsage,
    DeferredLedger,
    Ledger,
    MemoryLedger,
    UsageCounts,
    UsageKind,
    WriteBehindLedger,
)
from ._sqlite import SQLiteLedger, default_usage_path
from ._usage import Reservation, Usage, UsageSnapshot

if TYPE_CHECKING:
    from ._redis import RedisLedger

__all__ = [
    "FREE_DAILY",
    "FREE_MONTHLY",
    "BoundedLedger",
    "Budget",
    "DayUsage",
    "DeferredLedger",
    "Ledger",
    "MemoryLedger",
    "RedisLedger",
    "Reservation",
    "SQLiteLedger",
    "Usage",
    "UsageCounts",
    "UsageKind",
    "UsageSnapshot",
    "WriteBehindLedger",
    "default_usage_path",
]


def __getattr__(name: str) -> object:
    # RedisLedger needs the optional `redis` extra: imported on first use.
    if name == "RedisLedger":
        from ._redis import RedisLedger

        return RedisLedger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
