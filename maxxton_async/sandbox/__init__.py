"""A local Maxxton REST API v2 server for tests, benchmarks and demos.

It serves deterministic synthetic data and enforces the rules the SDK is built around: the
filter/sort/page grammar, 204 on empty lists, token expiry, at most 15 requests in flight per IP,
customer writes with masked restricted fields, the reservation transition chart, payments,
signed webhooks; plus fault knobs and counters::

    async with Sandbox(seed=1, latency=0.02) as sb:
        ...  # call sb.base_url with sb.client_id / sb.client_secret / sb.scope
        assert sb.statistics().peak_in_flight <= 15
"""

from ._app import ADMIN_PREFIX, API_PREFIX, make_app
from ._data import EVENT_TYPES, SandboxData, SandboxSize, generate
from ._faults import Faults
from ._server import Sandbox
from ._state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SCOPE,
    RESTRICTED_CLIENT_ID,
    SandboxClient,
    SandboxState,
)
from ._stats import RequestRecord, SandboxStats, WebhookDelivery
from ._transitions import TRANSITIONS
from ._webhooks import WEBHOOK_TYPES, sign, verify

__all__ = [
    "ADMIN_PREFIX",
    "API_PREFIX",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SCOPE",
    "EVENT_TYPES",
    "RESTRICTED_CLIENT_ID",
    "TRANSITIONS",
    "WEBHOOK_TYPES",
    "Faults",
    "RequestRecord",
    "Sandbox",
    "SandboxClient",
    "SandboxData",
    "SandboxSize",
    "SandboxState",
    "SandboxStats",
    "WebhookDelivery",
    "generate",
    "make_app",
    "sign",
    "verify",
]
