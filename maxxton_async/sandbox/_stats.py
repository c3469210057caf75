"""Counters of what the sandbox saw, for tests and benchmarks to assert on."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

__all__ = ["LOG_SIZE", "RequestRecord", "SandboxStats", "WebhookDelivery"]

#: How many recent requests the log keeps.
LOG_SIZE = 10_000


class RequestRecord(msgspec.Struct, frozen=True):
    """One request as the server received it (``query`` is the raw query string)."""

    method: str
    path: str
    query: str
    status: int
    route: str
    client_ip: str


class WebhookDelivery(msgspec.Struct):
    """One webhook notification and how its delivery went."""

    webhook_id: int
    notification_id: str
    type: str
    url: str
    attempts: int = 0
    status: int | None = None
    delivered: bool = False
    error: str | None = None


@dataclass(slots=True)
class SandboxStats:
    """Live counters. ``reset()`` zeroes everything but the current in-flight counts.

    Attributes:
        requests_total: every API request that reached the server (429s and faults included).
        token_calls: requests to ``/maxxton/v2/authenticate``.
        in_flight: requests being served right now (all client IPs).
        peak_in_flight: the most requests one client IP had in flight at once.
        rejected_in_flight: requests refused 429 because their IP already had the maximum.
        faults: how many times each fault fired (``"latency"``, ``"status"``, ``"rate_limit"``,
            ``"drop"``, ``"malformed"``, ``"slow"``).
        statuses: responses by status code.
        per_endpoint: requests by ``"METHOD /route/{template}"``.
        log: the last :data:`LOG_SIZE` requests.
        webhooks: the last :data:`LOG_SIZE` webhook deliveries.
    """

    requests_total: int = 0
    token_calls: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    rejected_in_flight: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    per_endpoint: Counter[str] = field(default_factory=Counter)
    log: deque[RequestRecord] = field(default_factory=lambda: deque(maxlen=LOG_SIZE))
    webhooks: deque[WebhookDelivery] = field(default_factory=lambda: deque(maxlen=LOG_SIZE))
    in_flight_by_ip: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        """Zero the counters and logs (in-flight counts stay true; peak restarts from them)."""
        self.requests_total = 0
        self.token_calls = 0
        self.rejected_in_flight = 0
        self.peak_in_flight = max(self.in_flight_by_ip.values(), default=0)
        self.faults.clear()
        self.statuses.clear()
        self.per_endpoint.clear()
        self.log.clear()
        self.webhooks.clear()

    def as_dict(self, log_limit: int | None = None) -> dict[str, Any]:
        """JSON-ready snapshot (``GET /_sandbox/stats``); ``log_limit`` keeps the newest N."""
        log = list(self.log)
        if log_limit is not None:
            log = log[-log_limit:] if log_limit > 0 else []
        return {
            "requestsTotal": self.requests_total,
            "tokenCalls": self.token_calls,
            "inFlight": self.in_flight,
            "peakInFlight": self.peak_in_flight,
            "rejectedInFlight": self.rejected_in_flight,
            "faults": dict(self.faults),
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "perEndpoint": dict(self.per_endpoint),
            "log": [msgspec.to_builtins(r) for r in log],
            "webhooks": [msgspec.to_builtins(w) for w in self.webhooks],
        }

    def requests_to(self, route: str) -> list[RequestRecord]:
        """Logged requests whose ``"METHOD /template"`` key equals ``route``."""
        return [r for r in self.log if f"{r.method} {r.route}" == route]
