"""The client's settings: where it connects, its credentials, and the checks that refuse a
bad setting before any I/O (a typed :class:`~maxxton_async.ConfigurationError`, never a
failure on the first call).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Final

from ._auth import _AUTH_NAMES
from ._endpoints import API
from ._errors import ConfigurationError
from ._ledger import Ledger
from ._limits import Limiter

__all__ = [
    "API_PREFIX",
    "AUTH_PATH",
    "ENVIRONMENTS",
    "check_settings",
    "credentials",
    "default_ledger",
    "env",
    "header_value",
    "normalise_path",
]

#: Guide, "URI": production and acceptance hosts.
ENVIRONMENTS: Final = {
    "test": "https://api-test.maxxton.net",
    "production": "https://api.maxxton.net",
}
AUTH_PATH: Final = f"{API}/authenticate"
API_PREFIX: Final = f"{API}/"


def env(name: str) -> str | None:
    """``$name``, or ``None`` when unset or empty."""
    value = os.environ.get(name)
    return value if value else None


def credentials(
    client_id: str | None, secret: str | None, scope: str | None
) -> tuple[str, str, str]:
    """The credentials given, else from the environment; all three or a clear error."""
    client_id = client_id if client_id is not None else env("MAXXTON_CLIENT_ID")
    secret = secret if secret is not None else env("MAXXTON_CLIENT_SECRET")
    scope = scope if scope is not None else env("MAXXTON_SCOPE")
    missing = [
        name
        for name, value in (("client_id", client_id), ("client_secret", secret), ("scope", scope))
        if not value
    ]
    if missing:
        envs = ", ".join("MAXXTON_" + m.upper() for m in missing)
        raise ConfigurationError(
            f"missing credentials: {', '.join(missing)} (pass them or set {envs})"
        )
    assert client_id is not None
    assert secret is not None
    assert scope is not None
    return client_id, secret, scope


def check_settings(
    *,
    environment: str,
    max_in_flight: int | None,
    limiter: Limiter | None,
    timeout: float,
    connect_timeout: float,
    auth_transport: str,
    auth_names: str,
    base_url: str | None,
) -> int:
    """Refuse bad settings before any I/O; return the cap (15 unless told otherwise)."""
    if environment not in ENVIRONMENTS:
        raise ConfigurationError(
            f"unknown environment {environment!r}; valid values: "
            + ", ".join(repr(e) for e in ENVIRONMENTS)
        )
    if limiter is not None and max_in_flight is not None and max_in_flight != limiter.capacity:
        raise ConfigurationError(
            f"max_in_flight={max_in_flight} conflicts with the limiter's capacity "
            f"{limiter.capacity}: pass one or the other"
        )
    cap = max_in_flight if max_in_flight is not None else 15
    if cap < 1:
        raise ConfigurationError(f"max_in_flight must be at least 1, got {cap}")
    if timeout <= 0 or connect_timeout <= 0:
        raise ConfigurationError(
            f"timeouts must be positive, got timeout={timeout}, connect_timeout={connect_timeout}"
        )
    if auth_transport not in ("form", "query"):
        raise ConfigurationError(
            f"unknown auth_transport {auth_transport!r}; valid values: 'form', 'query'"
        )
    if auth_names not in _AUTH_NAMES:
        raise ConfigurationError(
            f"unknown auth_names {auth_names!r}; valid values: 'snake_case', 'camelCase'"
        )
    if base_url is not None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigurationError(f"base_url {base_url!r} is not an http(s) URL")
    return cap


def normalise_path(path: str) -> str:
    if path.startswith(("http://", "https://")):
        raise ValueError(f"pass a path, not a URL: {path!r} (set base_url on the client)")
    if not path.startswith("/"):
        path = API_PREFIX + path
    return path


def header_value(name: str, value: str) -> str:
    """``value`` if HTTP can carry it; CR, LF or NUL would inject headers (aiohttp refuses
    them only once the request is on its way, as an untyped ValueError)."""
    if not isinstance(value, str) or "\r" in value or "\n" in value or "\x00" in value:
        raise ConfigurationError(f"header {name!r}: {value!r} is not a valid header value")
    return value


def default_ledger() -> Ledger:
    """The durable SQLite ledger (``$MAXXTON_USAGE_DB`` or the user's cache directory)."""
    from ._sqlite import SQLiteLedger

    return SQLiteLedger()
