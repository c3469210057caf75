"""Watching the send path: raw responses, event hooks and observers (telemetry).

Three ways to see what the client does, none of which can change it:

* :class:`Exchange` records, collected by ``client.raw_responses()`` through a context
  variable (so only the calls of the block's own task are recorded);
* event hooks (``MaxxtonClient(event_hooks={"request": [...], "response": [...]})``), sync
  or async callables called for every attempt;
* an :class:`Observer` (``MaxxtonClient(observer=...)``) that sees every attempt that
  reaches the wire, with its queue wait and outcome; ``maxxton_async.otel`` is one.

None of them is given the token call, whose request carries the client secret.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from ._transport import Request, Response

__all__ = ["AttemptObserver", "Exchange", "Observer"]


class Exchange(NamedTuple):
    """One attempt as :meth:`MaxxtonClient.raw_responses` records it.

    ``request`` is the value the send path carried (without the ``Authorization`` header);
    ``response`` what the server answered: ``status``, ``headers`` and the raw ``body``.
    """

    request: Request
    response: Response


_CAPTURED: contextvars.ContextVar[list[Exchange] | None] = contextvars.ContextVar(
    "maxxton_async_captured", default=None
)


class AttemptObserver(Protocol):
    """One attempt being watched; see :class:`Observer`."""

    def end(self, response: Response | None, error: BaseException | None) -> None:
        """The exchange ended with ``response``, or failed with ``error``."""
        ...


class Observer(Protocol):
    """Sees every attempt that reaches the wire (telemetry, tracing).

    ``attempt()`` is called when the attempt holds its slot, with the seconds it waited
    for one (``queued``) and its number (1 for the first, more for retries and replays);
    the token call's request comes without its query and body, which carry the secret;
    the returned object's ``end()`` is called when the exchange ends -- also for an attempt
    whose caller was cancelled, since its request is still on the wire until then.
    """

    def attempt(self, request: Request, *, number: int, queued: float) -> AttemptObserver:
        """Start watching one attempt."""
        ...


async def _call_hooks(hooks: Sequence[Callable[..., Any]], *args: Any) -> None:
    for hook in hooks:
        result = hook(*args)
        if inspect.isawaitable(result):
            await result
