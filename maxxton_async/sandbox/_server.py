"""``Sandbox``: the app started on a loopback port, with its state at hand in Python."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web

from ._app import make_app
from ._data import SandboxData, SandboxSize
from ._faults import Faults
from ._state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_SCOPE,
    RESTRICTED_CLIENT_ID,
    SandboxClient,
    SandboxState,
)
from ._stats import SandboxStats

if TYPE_CHECKING:
    from .._client import MaxxtonClient

__all__ = ["Sandbox"]


class Sandbox:
    """A local Maxxton server that enforces the rules. ``async with Sandbox() as sb: ...``.

    Args:
        seed: seed of the generated data (same seed and size, same data).
        size: ``"demo"``, ``"large"`` or a :class:`SandboxSize`.
        host: the address to listen on (loopback by default).
        port: the port; 0 picks a free one (see :attr:`base_url`).
        latency: shortcut for the ``Faults`` knob of the same name (seconds per request).
        jitter: shortcut for the ``Faults`` knob of the same name.
        max_in_flight_per_ip: the per-IP concurrency cap (guide, API Pricing: 15).
        token_ttl: ``expires_in`` of issued tokens, in seconds.
        auth_names: the spellings ``/authenticate`` accepts: ``"snake_case"`` (the
            reference's ``client_id``...) and/or ``"camelCase"`` (the guide's ``clientId``...).
            Only the SDK's default by default: a real server may accept just one.
        auth_refusal_status: the status of refused credentials: 500, the only error the
            guide documents for ``/authenticate``; 401 for tests of the other path.
        clients: ``{client_id: secret or SandboxClient}``; default: ``"sandbox"`` (full access)
            and ``"sandbox-restricted"`` (restricted customer fields masked), both with secret
            ``"sandbox-secret"``.
        scope: the concern code authenticate expects.
        start_date: first arrival date of the availability window (default 2027-01-01).
        max_page_size: the server's cap on ``size``; the envelope reports the real size.
        max_availability_days: the widest arrival range one availability call may ask for.
        faults: an initial :class:`Faults` (else a clean one).
    """

    def __init__(
        self,
        seed: int = 0,
        size: Literal["demo", "large"] | SandboxSize = "demo",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        jitter: float = 0.0,
        max_in_flight_per_ip: int = 15,
        token_ttl: int = 3600,
        auth_names: Collection[str] = ("snake_case",),
        auth_refusal_status: int = 500,
        clients: Mapping[str, str | SandboxClient] | None = None,
        scope: str = DEFAULT_SCOPE,
        start_date: dt.date | None = None,
        max_page_size: int = 2000,
        max_availability_days: int = 366,
        faults: Faults | None = None,
    ) -> None:
        faults = faults if faults is not None else Faults()
        if latency or jitter:
            faults.update(latency=latency, jitter=jitter)
        self.state = SandboxState(
            seed,
            size,
            start_date=start_date,
            clients=clients,
            scope=scope,
            token_ttl=token_ttl,
            auth_names=auth_names,
            auth_refusal_status=auth_refusal_status,
            max_in_flight_per_ip=max_in_flight_per_ip,
            max_page_size=max_page_size,
            max_availability_days=max_availability_days,
            faults=faults,
        )
        self.host = host
        self.port = port
        self.app = make_app(self.state)
        self._runner: web.AppRunner | None = None
        first = next(iter(self.state.clients))
        self.client_id = DEFAULT_CLIENT_ID if DEFAULT_CLIENT_ID in self.state.clients else first
        self.client_secret = self.state.clients[self.client_id].secret

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host:port`` (a free port when 0)."""
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        await web.SockSite(runner, sock, backlog=1024).start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and cancel pending webhook deliveries."""
        await self.state.webhooks.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- what tests read --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` (the API is under ``/maxxton/v2``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def scope(self) -> str:
        """The concern code authenticate expects."""
        return self.state.scope

    @property
    def restricted_client_id(self) -> str:
        """The default client without access to restricted customer fields."""
        return RESTRICTED_CLIENT_ID

    @property
    def data(self) -> SandboxData:
        """The dataset: the truth to compare answers with."""
        return self.state.data

    @property
    def faults(self) -> Faults:
        """The live fault knobs."""
        return self.state.faults

    def statistics(self) -> SandboxStats:
        """The live counters and request log (what the server saw)."""
        return self.state.stats

    def client(self, **options: Any) -> MaxxtonClient:
        """A :class:`~maxxton_async.MaxxtonClient` for this sandbox (``async with sb.client()``).

        It carries the sandbox's URL and credentials, and counts its calls in a fresh
        :class:`~maxxton_async.MemoryLedger`, so sandbox runs never land in the durable
        usage ledger that real calls are counted in (``$MAXXTON_USAGE_DB`` or the user's
        cache directory). Every keyword is passed to the client (``ledger=`` included, to
        count somewhere else on purpose); the credentials are always the sandbox's.
        """
        # Imported here: the sandbox is also used without the client (tests, benchmarks).
        from .. import MaxxtonClient, MemoryLedger

        options.setdefault("base_url", self.base_url)
        # ``usage=`` is the client's deprecated spelling of ``ledger=``: either one wins.
        if options.get("ledger") is None and options.get("usage") is None:
            options["ledger"] = MemoryLedger()
        return MaxxtonClient(self.client_id, self.client_secret, self.scope, **options)

    # -- what tests do --------------------------------------------------------------------

    def mutate(self, n: int = 1) -> list[dict[str, Any]]:
        """Apply ``n`` changes; returns the events appended (one per change)."""
        return self.state.mutate(n)

    def register_webhook(
        self,
        url: str,
        secret: str,
        *,
        name: str = "Sandbox webhook",
        types: tuple[str, ...] = (),
        basic: tuple[str, str] | None = None,
        oauth: tuple[str, str, str] | None = None,
    ) -> int:
        """Send signed reservation webhooks to ``url``; returns the ``webhookId``.

        ``basic`` is ``(user, password)`` for ``Authorization: Basic``; ``oauth`` is
        ``(token_url, client_id, client_secret)``: a client-credentials token is requested
        first and sent as ``Authorization: Bearer`` (guide, Webhooks, Security).
        """
        return self.state.webhooks.register(
            url, secret, name=name, types=types, basic=basic, oauth=oauth
        )

    async def wait_webhooks(self, max_wait: float = 10.0) -> None:
        """Wait until every webhook delivery scheduled so far has finished (or ``max_wait`` s)."""
        await self.state.webhooks.drain(max_wait)

    def revoke_tokens(self) -> int:
        """Revoke every issued token; returns how many."""
        return self.state.revoke_tokens()

    def advance_time(self, seconds: float) -> None:
        """Move the sandbox clock (token expiry) forward without sleeping."""
        self.state.advance_time(seconds)

    def reset_stats(self) -> None:
        """Zero the counters and the request log."""
        self.state.stats.reset()
