"""Batch writes: one call of ours, many API calls, one outcome per item, in order.

The idea is Beds24's ("All POST endpoints accept an array of items", Beds24 API v2, 4.1
Creating/modifying multiple items): the caller hands over many items at once. Maxxton has no
array endpoints, so the SDK fans the items out as single calls through the client's limiter
(which keeps the in-flight cap) and collects every outcome, so one failure never hides which
items succeeded.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from .._errors import MaxxtonError
from ._base import gather_or_cancel

__all__ = ["BatchResult", "BatchResults", "run_batch"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchResult(Generic[T]):
    """The outcome of one item of a batch.

    Attributes:
        index: position of the item in the batch.
        key: what identifies the item: the id for updates, the index for creates.
        value: the server's answer when the call succeeded (``None`` if it sent no body).
        error: the :class:`MaxxtonError` when it failed (``OutcomeUnknownError`` when a
            non-idempotent call lost its answer: it may have been applied).
    """

    index: int
    key: object
    value: T | None = None
    error: MaxxtonError | None = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None

    def unwrap(self) -> T:
        """The value, or raise the item's error."""
        if self.error is not None:
            raise self.error
        return cast("T", self.value)


class BatchResults(builtins.list[BatchResult[T]]):
    """The ordered outcomes of a batch (a list, one :class:`BatchResult` per item)."""

    @property
    def succeeded(self) -> builtins.list[BatchResult[T]]:
        """The items that succeeded, in order."""
        return [r for r in self if r.error is None]

    @property
    def failed(self) -> builtins.list[BatchResult[T]]:
        """The items that failed, in order."""
        return [r for r in self if r.error is not None]

    @property
    def ok(self) -> bool:
        """Whether every item succeeded."""
        return all(r.error is None for r in self)

    def values(self) -> builtins.list[T | None]:
        """The values of the items that succeeded, in order."""
        return [r.value for r in self if r.error is None]

    def raise_for_errors(self) -> None:
        """Raise an ``ExceptionGroup`` of every item's error, if any failed."""
        errors = [r.error for r in self if r.error is not None]
        if errors:
            raise ExceptionGroup(f"{len(errors)} of {len(self)} batch items failed", errors)


Job = tuple[object, Callable[[], Awaitable[T]]]
"""One batch item: its key and the call that sends it."""


async def run_batch(jobs: Sequence[Job[T]], *, concurrency: int) -> BatchResults[T]:
    """Run every ``(key, call)`` job, at most ``concurrency`` at once, and collect outcomes.

    A :class:`MaxxtonError` becomes that item's ``error``; anything else is a bug and
    propagates (cancelling the jobs still running). The limiter still caps what is on the
    wire; ``concurrency`` only bounds how many calls wait for it, so a batch of 10 000 items
    does not create 10 000 tasks.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    results: builtins.list[BatchResult[T] | None] = [None] * len(jobs)
    order = iter(range(len(jobs)))

    async def worker() -> None:
        # Workers share one iterator: next() never awaits, so each index is taken once.
        for index in order:
            key, call = jobs[index]
            try:
                value = await call()
            except MaxxtonError as exc:
                results[index] = BatchResult(index, key, error=exc)
            else:
                results[index] = BatchResult(index, key, value=value)

    await gather_or_cancel(worker() for _ in range(min(concurrency, len(jobs))))
    out: BatchResults[T] = BatchResults()
    for item in results:
        assert item is not None  # every index was taken by a worker that finished
        out.append(item)
    return out
