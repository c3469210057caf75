"""Keeping credentials out of reprs, logs and errors.

The client secret and every token the client was issued are removed from the message,
``args``, attributes and body of every error the client raises, and from every exception
chained to it; log lines are built from the method, path and status only, and the error
text they quote passes through the same scrubber.
"""

from __future__ import annotations

import collections
import urllib.parse

import yarl

from ._transport import Response

__all__: list[str] = []


class _Scrubber:
    """Removes the client secret and every token issued from errors and log text."""

    def __init__(self, secret: str) -> None:
        self._secret = _spellings(secret)
        # Tokens expire; the last 32 issued are plenty to cover any error still around.
        self._tokens: collections.deque[tuple[str, tuple[str, ...]]] = collections.deque(maxlen=32)

    @property
    def _forms(self) -> list[str]:
        return [*self._secret, *(form for _, forms in self._tokens for form in forms)]

    def add(self, token: str) -> None:
        if token and all(token != known for known, _ in self._tokens):
            self._tokens.append((token, _spellings(token)))

    def text(self, value: str) -> str:
        for form in self._forms:
            if form in value:
                value = value.replace(form, "***")
        return value

    def bytes_(self, value: bytes) -> bytes:
        for form in self._forms:
            raw = form.encode()
            if raw in value:
                value = value.replace(raw, b"***")
        return value

    def response(self, response: Response) -> Response:
        """``response`` with every secret scrubbed from its body and header values."""
        body = self.bytes_(response.body)
        headers = response.headers
        if any(self.text(v) != v for v in headers.values()):
            headers = {k: self.text(v) for k, v in headers.items()}
        if body is response.body and headers is response.headers:
            return response
        return Response(response.status, headers, body)

    def error(self, exc: BaseException) -> None:
        """Scrub ``exc`` and every exception chained to it, in place."""
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self._one(current)
            current = current.__cause__ or current.__context__

    def _one(self, exc: BaseException) -> None:
        exc.args = tuple(
            self.text(a) if isinstance(a, str) else self.bytes_(a) if isinstance(a, bytes) else a
            for a in exc.args
        )
        for name, value in list(vars(exc).items()):
            if isinstance(value, str):
                setattr(exc, name, self.text(value))
            elif isinstance(value, bytes):
                setattr(exc, name, self.bytes_(value))


def _spellings(secret: str) -> tuple[str, ...]:
    """Every way the secret may travel and come back: as is, form-encoded (``urlencode``),
    percent-encoded, and as aiohttp's URL library writes a query string (it leaves
    ``/ : @ ! $ ' ( ) * , ;`` alone), and that again with ``'`` as ``%27`` (the WHATWG URL
    parser under ``PyreqwestTransport`` re-encodes it); longest first, so no part of one
    survives."""
    query = yarl.URL.build(query={"s": secret}).raw_query_string.removeprefix("s=")
    forms = {
        secret,
        urllib.parse.quote_plus(secret),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        query,
        query.replace("'", "%27"),
    }
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


class _Secret:
    """Holds a credential so that no repr, log line or traceback shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__
