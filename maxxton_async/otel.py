"""OpenTelemetry spans and metrics for every attempt (extra ``otel``).

::

    from maxxton_async.otel import OpenTelemetry

    otel = OpenTelemetry()                      # the global tracer and meter providers
    client = MaxxtonClient(..., observer=otel)
    otel.watch_budget(client.usage)             # optional: the budget-left gauge

One CLIENT span per attempt that reaches the wire, following the semantic conventions for
HTTP clients: name ``{method}``, ``http.request.method``, ``server.address``,
``server.port``, ``url.full`` (without the query string, which may carry a credential on
the token call), ``http.response.status_code``, ``error.type`` and, for retries and 401
replays, ``http.request.resend_count``. The span starts when the attempt holds its slot,
so queueing is not in it; the queue wait is its own metric.

Metrics:

* ``http.client.request.duration`` (s, histogram): per attempt, by method, server,
  status code and error type;
* ``maxxton.client.queue.duration`` (s, histogram): time an attempt waited for a slot;
* ``maxxton.client.retries`` (counter): attempts that repeated an earlier one;
* ``maxxton.client.rate_limited`` (counter): 429 answers;
* ``maxxton.budget.remaining`` (gauge): billed requests left this month, once
  :meth:`OpenTelemetry.watch_budget` knows the usage and it has counted a billed call.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._transport import Request, Response
from ._usage import Usage
from ._version import __version__

__all__ = ["OpenTelemetry"]


class OpenTelemetry:
    """An :class:`~maxxton_async.transport.Observer` that records spans and metrics.

    Args:
        tracer_provider: where spans go (the global provider when omitted).
        meter_provider: where metrics go (the global provider when omitted).
    """

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self._tracer = trace.get_tracer(
            "maxxton_async", __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter("maxxton_async", __version__, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Duration of HTTP attempts."
        )
        self._queue = meter.create_histogram(
            "maxxton.client.queue.duration",
            unit="s",
            description="Time an attempt waited for a concurrency slot.",
        )
        self._retries = meter.create_counter(
            "maxxton.client.retries",
            unit="{request}",
            description="Attempts that repeated an earlier one (retries, 401 replays).",
        )
        self._rate_limited = meter.create_counter(
            "maxxton.client.rate_limited", unit="{response}", description="429 answers."
        )
        self._usages: list[Usage] = []
        meter.create_observable_gauge(
            "maxxton.budget.remaining",
            callbacks=[self._observe_budget],
            unit="{request}",
            description="Billed requests left in this month's allowance.",
        )

    def __repr__(self) -> str:
        return "<OpenTelemetry observer>"

    def watch_budget(self, usage: Usage) -> None:
        """Report ``usage``'s monthly allowance left as the ``maxxton.budget.remaining`` gauge."""
        self._usages.append(usage)

    def _observe_budget(self, options: CallbackOptions) -> list[Observation]:
        out = []
        for usage in self._usages:
            counts = usage.last_counts
            if counts is not None and usage.billed:
                left = max(usage.budget.monthly - counts.month, 0)
                out.append(
                    Observation(
                        left,
                        {"maxxton.scope": usage.scope, "maxxton.environment": usage.environment},
                    )
                )
        return out

    def attempt(self, request: Request, *, number: int, queued: float) -> _Attempt:
        """Start the span of one attempt (called by the client)."""
        url = urllib.parse.urlsplit(request.url)
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }
        self._queue.record(queued, attributes)
        if number > 1:
            self._retries.add(1, attributes)
        span_attributes = {**attributes, "url.full": request.url}
        if number > 1:
            span_attributes["http.request.resend_count"] = number - 1
        span = self._tracer.start_span(
            request.method, kind=SpanKind.CLIENT, attributes=span_attributes
        )
        return _Attempt(self, span, attributes)


class _Attempt:
    """One attempt's span and timer; :meth:`end` closes both."""

    __slots__ = ("_attributes", "_owner", "_span", "_started")

    def __init__(self, owner: OpenTelemetry, span: Any, attributes: dict[str, Any]) -> None:
        self._owner = owner
        self._span = span
        self._attributes = attributes
        self._started = time.perf_counter()

    def end(self, response: Response | None, error: BaseException | None) -> None:
        """Record the outcome (status or error class) and end the span."""
        attributes = dict(self._attributes)
        span = self._span
        if response is not None:
            attributes["http.response.status_code"] = response.status
            span.set_attribute("http.response.status_code", response.status)
            if response.status == 429:
                self._owner._rate_limited.add(1, self._attributes)
            if response.status >= 400:
                attributes["error.type"] = str(response.status)
                span.set_attribute("error.type", str(response.status))
                span.set_status(Status(StatusCode.ERROR))
        elif error is not None:
            attributes["error.type"] = type(error).__name__
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR))
        self._owner._duration.record(time.perf_counter() - self._started, attributes)
        span.end()
