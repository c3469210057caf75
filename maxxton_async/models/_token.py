"""The answer of ``POST /maxxton/v2/authenticate``.

Unlike every other Maxxton body this one is **snake_case** (OAuth2 style): the reference lists
``access_token``, ``token_type``, ``expires_in``, ``scope``, ``jti``, ``details``, and the guide
(Worldline Integration) reads ``client_id`` and ``concern_id`` from it. So :class:`Token` does
not use the camelCase base.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Token"]


class Token(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An access token. Send it as ``Authorization: {token_type} {access_token}`` (guide,
    Authentication); :attr:`authorization` builds that value.

    ``repr()`` never shows the access token, so a logged token leaks nothing.
    """

    access_token: str
    token_type: str = "Bearer"
    expires_in: int | None = None
    """Lifetime in seconds (OAuth2; the value is not documented)."""
    scope: str | None = None
    jti: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    client_id: int | str | None = None
    """The API user's employee id (guide, Worldline Integration)."""
    concern_id: int | None = None

    def __repr__(self) -> str:
        return (
            f"Token(token_type={self.token_type!r}, expires_in={self.expires_in!r}, "
            f"scope={self.scope!r}, access_token='***')"
        )

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return f"{self.token_type} {self.access_token}"
