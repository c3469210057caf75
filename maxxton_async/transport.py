"""The transport seam: what sends one request (``MaxxtonClient(transport=...)``).

:class:`Transport` is the protocol; :class:`AiohttpTransport` the default. A transport
takes one :class:`Request` and returns a :class:`Response`, never follows redirects,
never resends by itself, and raises :class:`~maxxton_async.TransportError` with ``sent``
set to whether the request may have reached the server.
"""

from ._transport import AiohttpTransport, Request, Response, Transport

__all__ = ["AiohttpTransport", "Request", "Response", "Transport"]
