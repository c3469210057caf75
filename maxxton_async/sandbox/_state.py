"""The sandbox's mutable state: dataset, clients and tokens, clock, knobs, counters, webhooks.

One :class:`SandboxState` is shared by the aiohttp app (``make_app``), the admin endpoints and the
Python-side :class:`~maxxton_async.sandbox.Sandbox`, so a test can change a knob or read a counter
between two requests.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from ._data import SandboxData, SandboxSize, generate
from ._faults import Faults
from ._mutations import apply_mutations
from ._stats import SandboxStats
from ._views import Views
from ._webhooks import WebhookDispatcher

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SCOPE",
    "RESTRICTED_CLIENT_ID",
    "STATE_KEY",
    "SandboxClient",
    "SandboxState",
    "Token",
]

#: Default credentials of a sandbox (full access to restricted customer fields).
DEFAULT_CLIENT_ID = "sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_SCOPE = "sbx"
#: A second default client without access to restricted customer fields (same secret).
RESTRICTED_CLIENT_ID = "sandbox-restricted"


@dataclass(frozen=True, slots=True)
class SandboxClient:
    """An API user: its secret and whether it may read restricted customer fields.

    ``employee_id`` and ``concern_id`` are returned by authenticate as ``client_id`` and
    ``concern_id`` (guide, Worldline Integration; wire contract).

    ``distribution_channel_id`` and ``reservation_category`` are the key's predefined
    distribution channel and reservation category, ``denied`` path prefixes it has no
    permission for (setup page; enforced by ``._scope``).
    """

    secret: str
    restricted_fields: bool = True
    employee_id: int = 80041
    concern_id: int = 22
    distribution_channel_id: int | None = None
    reservation_category: str | None = None
    denied: tuple[str, ...] = ()


@dataclass(slots=True)
class Token:
    """An issued access token."""

    client_id: str
    expires_at: float
    restricted_fields: bool


class SandboxState:
    """Everything the app reads and changes. See :class:`~maxxton_async.sandbox.Sandbox`."""

    def __init__(
        self,
        seed: int = 0,
        size: Literal["demo", "large"] | SandboxSize = "demo",
        *,
        start_date: dt.date | None = None,
        clients: Mapping[str, str | SandboxClient] | None = None,
        scope: str = DEFAULT_SCOPE,
        token_ttl: int = 3600,
        auth_names: Collection[str] = ("snake_case",),
        auth_refusal_status: int = 500,
        max_in_flight_per_ip: int = 15,
        max_page_size: int = 2000,
        max_availability_days: int = 366,
        faults: Faults | None = None,
        data: SandboxData | None = None,
    ) -> None:
        self.seed = seed
        self.data = data if data is not None else generate(seed, size, start_date)
        self.views = Views(self.data)
        self.scope = scope
        self.token_ttl = token_ttl
        unknown = set(auth_names) - {"snake_case", "camelCase"}
        if unknown or not auth_names:
            raise ValueError(f"auth_names must name 'snake_case' and/or 'camelCase': {auth_names}")
        self.auth_names = frozenset(auth_names)
        self.auth_refusal_status = auth_refusal_status
        self.max_in_flight_per_ip = max_in_flight_per_ip
        self.max_page_size = max_page_size
        self.max_availability_days = max_availability_days
        self.faults = faults if faults is not None else Faults()
        self.stats = SandboxStats()
        if clients is None:
            clients = {
                DEFAULT_CLIENT_ID: SandboxClient(DEFAULT_CLIENT_SECRET),
                RESTRICTED_CLIENT_ID: SandboxClient(DEFAULT_CLIENT_SECRET, restricted_fields=False),
            }
        self.clients: dict[str, SandboxClient] = {
            cid: c if isinstance(c, SandboxClient) else SandboxClient(c)
            for cid, c in clients.items()
        }
        self.tokens: dict[str, Token] = {}
        self.clock_offset = 0.0
        # A separate generator for mutate(), so what changes does not depend on the requests.
        self.mutation_rng = random.Random(seed * 1_000_003 + 17)
        self.mutation_count = 0
        self.webhooks = WebhookDispatcher(self.stats, self.utcnow)

    # -- clock ------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the epoch, shifted by :meth:`advance_time` (token expiry uses this)."""
        return time.time() + self.clock_offset

    def utcnow(self) -> dt.datetime:
        """:meth:`now` as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.now(), dt.UTC)

    def advance_time(self, seconds: float) -> None:
        """Move the sandbox clock forward (expire tokens without sleeping)."""
        self.clock_offset += seconds

    # -- tokens -----------------------------------------------------------------------------

    def authenticate(
        self, client_id: str | None, secret: str | None, scope: str | None
    ) -> dict[str, Any] | None:
        """The token response for valid credentials, ``None`` when refused (wire contract)."""
        client = self.clients.get(client_id or "")
        if client is None or secret is None or not secrets.compare_digest(client.secret, secret):
            return None
        if scope is not None and scope != self.scope:
            return None
        token = secrets.token_urlsafe(24)
        self.tokens[token] = Token(
            client_id or "", self.now() + self.token_ttl, client.restricted_fields
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(self.token_ttl),
            "scope": self.scope,
            "jti": str(uuid.uuid4()),
            "details": {},
            "client_id": client.employee_id,
            "concern_id": client.concern_id,
        }

    def check_token(self, authorization: str | None) -> Token | str:
        """The token of an ``Authorization`` header, or why it is refused."""
        if not authorization:
            return "Full authentication is required to access this resource"
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value:
            return "Full authentication is required to access this resource"
        token = self.tokens.get(value.strip())
        if token is None:
            return "Invalid access token"
        if self.now() >= token.expires_at:
            return "Access token expired"
        return token

    def revoke_tokens(self) -> int:
        """Forget every issued token (the next call with one gets 401); returns how many."""
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # -- changes ------------------------------------------------------------------------------

    def mutate(self, n: int = 1) -> list[dict[str, Any]]:
        """Apply ``n`` random changes (see :mod:`._mutations`); returns the events appended."""
        return apply_mutations(self, n)


#: Where an aiohttp app built by ``make_app`` keeps its :class:`SandboxState`.
STATE_KEY = web.AppKey("maxxton_sandbox_state", SandboxState)
