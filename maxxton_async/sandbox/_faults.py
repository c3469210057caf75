"""Fault knobs: what can go wrong on purpose, and the seeded dice that decide when.

Rates are drawn from a ``random.Random`` seeded by :attr:`Faults.seed`, so a test that sets
``error_rate=0.5`` sees the same sequence on every run. The ``*_next`` counters are exact:
"the next N requests" fail in the named way, whatever the rates say.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["FaultDecision", "Faults"]


@dataclass(slots=True)
class Faults:
    """Live-settable fault knobs. Every API request (authenticate included) passes through them.

    Attributes:
        latency: seconds every request waits while it counts as in flight.
        jitter: extra random wait, uniform in ``[0, jitter]`` seconds.
        error_rate: share of requests answered with a 5xx from ``error_statuses``.
        error_statuses: the 5xx statuses ``error_rate`` picks from.
        rate_limit_burst: the next N requests are answered 429 with ``Retry-After``.
        retry_after: the ``Retry-After`` value (seconds) on every 429.
        fail_next: the next N requests are answered with ``fail_status``.
        fail_status: the status of ``fail_next``.
        drop_rate: share of requests whose connection is closed without a response.
        drop_next: the next N requests are dropped.
        drop_after_handler: drop *after* the request was processed (its effect happened but
            the answer is lost: the "outcome unknown" case) instead of before.
        malformed_rate: share of requests answered 200 with a truncated, invalid JSON body.
        malformed_next: the next N requests get a malformed body.
        slow_body_delay: when > 0, bodies are streamed in chunks with this pause between them.
        slow_body_chunk: the chunk size (bytes) of a slow body.
        seed: seed of the dice; setting it (or any knob through ``update``) restarts the dice.
        hold: when set, every request waits for this event while it counts as in flight (a
            deterministic way to pile up concurrent requests in tests; Python side only).
        foreign_in_flight: slots of the per-IP cap held by other software behind the same
            IP: requests are refused with 429 once ``max_in_flight_per_ip`` minus this many
            are in flight (what an adaptive client must discover).
    """

    latency: float = 0.0
    jitter: float = 0.0
    foreign_in_flight: int = 0
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503, 504)
    rate_limit_burst: int = 0
    retry_after: int = 1
    fail_next: int = 0
    fail_status: int = 503
    drop_rate: float = 0.0
    drop_next: int = 0
    drop_after_handler: bool = False
    malformed_rate: float = 0.0
    malformed_next: int = 0
    slow_body_delay: float = 0.0
    slow_body_chunk: int = 256
    seed: int = 0
    hold: asyncio.Event | None = field(default=None, repr=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)

    def update(self, **changes: Any) -> None:
        """Set several knobs at once (the admin ``POST /_sandbox/faults`` body); restarts dice.

        Unknown names raise ``ValueError`` so a typo in a test does not silently do nothing.
        """
        known = {f.name for f in fields(self) if not f.name.startswith("_") and f.name != "hold"}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown fault knob {name!r}")
            setattr(self, name, _coerce(name, value))
        self._rng = random.Random(self.seed)

    def clear(self) -> None:
        """Back to no faults at all (seed kept)."""
        seed = self.seed
        for f in fields(self):
            if not f.name.startswith("_"):
                setattr(self, f.name, f.default)
        self.seed = seed
        self._rng = random.Random(seed)

    def as_dict(self) -> dict[str, Any]:
        """The knobs as JSON-ready values."""
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if not f.name.startswith("_") and f.name != "hold"
        }
        out["error_statuses"] = list(self.error_statuses)
        return out

    @property
    def active(self) -> bool:
        """Whether any knob is set, so the hot path can skip the dice entirely."""
        return bool(
            self.hold is not None
            or self.latency
            or self.jitter
            or self.error_rate
            or self.rate_limit_burst
            or self.fail_next
            or self.drop_rate
            or self.drop_next
            or self.malformed_rate
            or self.malformed_next
            or self.slow_body_delay
        )

    def decide(self) -> FaultDecision:
        """Roll the dice for one request and consume the ``*_next`` counters that apply."""
        d = FaultDecision()
        d.delay = self.latency + (self._rng.uniform(0.0, self.jitter) if self.jitter else 0.0)
        if self.rate_limit_burst > 0:
            self.rate_limit_burst -= 1
            d.status = 429
            return d
        if self.fail_next > 0:
            self.fail_next -= 1
            d.status = self.fail_status
            return d
        if self.drop_next > 0:
            self.drop_next -= 1
            d.drop = True
            return d
        if self.drop_rate and self._rng.random() < self.drop_rate:
            d.drop = True
            return d
        if self.error_rate and self._rng.random() < self.error_rate:
            d.status = self._rng.choice(self.error_statuses)
            return d
        if self.malformed_next > 0:
            self.malformed_next -= 1
            d.malformed = True
        elif self.malformed_rate and self._rng.random() < self.malformed_rate:
            d.malformed = True
        d.slow = self.slow_body_delay > 0
        return d


@dataclass(slots=True)
class FaultDecision:
    """What happens to one request: wait ``delay``, then maybe a status, a drop, a bad body."""

    delay: float = 0.0
    status: int | None = None
    drop: bool = False
    malformed: bool = False
    slow: bool = False


_INTS = {
    "rate_limit_burst",
    "retry_after",
    "fail_next",
    "fail_status",
    "drop_next",
    "malformed_next",
    "slow_body_chunk",
    "seed",
}
_FLOATS = {"latency", "jitter", "error_rate", "drop_rate", "malformed_rate", "slow_body_delay"}
#: Knobs that are a share of requests: 0 to 1 (``error_rate=5`` is a typo, not "always").
_SHARES = {"error_rate", "drop_rate", "malformed_rate"}


def _coerce(name: str, value: Any) -> Any:
    """``value`` as the knob's type, so a JSON string or int cannot break the hot path."""
    try:
        if name == "error_statuses":
            return tuple(int(v) for v in value)
        if name in _INTS:
            if isinstance(value, bool):
                raise TypeError(value)
            return int(value)
        if name in _FLOATS:
            number = float(value)
            if not number >= 0 or (name in _SHARES and number > 1):
                raise ValueError(value)
            return number
        if name == "drop_after_handler":
            if not isinstance(value, bool):
                raise TypeError(value)
            return value
    except (TypeError, ValueError):
        raise ValueError(f"invalid value {value!r} for fault knob {name!r}") from None
    return value
