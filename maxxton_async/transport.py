"""The transport seam: what sends one request (``MaxxtonClient(transport=...)``).

:class:`Transport` is the protocol; :class:`AiohttpTransport` the default;
:class:`PyreqwestTransport` the same contract on pyreqwest's Rust engine (extra
``pyreqwest``: less client CPU per request, see the performance page). A transport
takes one :class:`Request` and returns a :class:`Response`, never follows redirects,
never resends by itself, and raises :class:`~maxxton_async.TransportError` with ``sent``
set to whether the request may have reached the server.

Around it: :class:`Exchange` (what ``client.raw_responses()`` records), :class:`Observer`
(what ``MaxxtonClient(observer=...)`` takes; ``maxxton_async.otel.OpenTelemetry`` is one)
and :data:`USER_AGENT` (sent on every call).
"""

from ._client import USER_AGENT
from ._observe import AttemptObserver, Exchange, Observer
from ._pyreqwest import PyreqwestTransport
from ._transport import AiohttpTransport, Request, Response, Transport

__all__ = [
    "USER_AGENT",
    "AiohttpTransport",
    "AttemptObserver",
    "Exchange",
    "Observer",
    "PyreqwestTransport",
    "Request",
    "Response",
    "Transport",
]
