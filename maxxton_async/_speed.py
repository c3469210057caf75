"""The optional ``speed`` extra: run on uvloop when it is installed.

uvloop's event loop costs less CPU per request than asyncio's own (measured side by side in
``benchmarks/throughput.py``: the ``*-uvloop`` rows). The CLI and the benchmarks run on it
when ``pip install maxxton-async[speed]`` brought it in; ``MAXXTON_LOOP=asyncio`` keeps
the standard loop. Library code never picks a loop: an application runs its own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when installed and not disabled, else ``None`` (asyncio's)."""
    if os.environ.get("MAXXTON_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on uvloop when available (see :func:`loop_factory`)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
