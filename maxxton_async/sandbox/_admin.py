"""Admin endpoints under ``/_sandbox/``: observe and steer a running sandbox over HTTP.

They sit outside the API paths, so they are never counted, limited, faulted or authenticated;
a CLI-started sandbox can be driven from another process the same way tests drive it in Python.

=======================  ===========================================================
``GET  /_sandbox/stats``  counters and the request log (``?log=N`` keeps the newest N)
``POST /_sandbox/reset``  zero the counters; ``{"faults": true}`` also clears the knobs
``GET  /_sandbox/faults`` the fault knobs
``POST /_sandbox/faults`` set knobs: a JSON object of :class:`Faults` fields
``POST /_sandbox/mutate`` ``{"n": 5}``: apply changes, answer the events appended
``POST /_sandbox/webhooks`` ``{"url", "secret", "name"?, "types"?}``: answer ``webhookId``
``POST /_sandbox/revoke``  revoke every token
``POST /_sandbox/clock``   ``{"advance": seconds}``: move the token clock forward
=======================  ===========================================================

A body key a route does not know is refused with 400 naming it (``{"count": 30}`` to
``/_sandbox/mutate`` would otherwise do one default change and look like it worked).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from ._state import STATE_KEY

__all__ = ["add_admin_routes"]


def _ok(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(payload), status=status, content_type="application/json"
    )


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); 400 when it is not one.

    Shared by the admin routes and the API routes of ``_app``.
    """
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise web.HTTPBadRequest(reason="Malformed JSON request body") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="Request body must be a JSON object")
    return body


def _unknown_keys(body: dict[str, Any], *allowed: str) -> web.Response | None:
    """A 400 naming the keys of ``body`` not in ``allowed``, or ``None`` when all are known."""
    unknown = sorted(set(body) - set(allowed))
    if not unknown:
        return None
    return _ok(
        {
            "error": f"unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(map(repr, allowed))}"
        },
        400,
    )


async def _stats(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    limit = request.query.get("log")
    if limit is not None and not (limit.isdigit() and limit.isascii()):
        return _ok({"error": "log must be a non-negative integer"}, 400)
    return _ok(state.stats.as_dict(int(limit) if limit is not None else None))


async def _reset(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    body = await read_json_object(request)
    if (refused := _unknown_keys(body, "faults")) is not None:
        return refused
    state.stats.reset()
    if body.get("faults"):
        state.faults.clear()
    return _ok({"reset": True})


async def _get_faults(request: web.Request) -> web.StreamResponse:
    return _ok(request.app[STATE_KEY].faults.as_dict())


async def _set_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    try:
        state.faults.update(**await read_json_object(request))
    except (TypeError, ValueError) as exc:
        return _ok({"error": str(exc)}, 400)
    return _ok(state.faults.as_dict())


async def _mutate(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    body = await read_json_object(request)
    if (refused := _unknown_keys(body, "n")) is not None:
        return refused
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 100_000:
        return _ok({"error": "n must be an integer between 0 and 100000"}, 400)
    return _ok({"events": state.mutate(n)})


async def _webhooks(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    body = await read_json_object(request)
    if (refused := _unknown_keys(body, "url", "secret", "name", "types")) is not None:
        return refused
    url, secret = body.get("url"), body.get("secret")
    if not isinstance(url, str) or not isinstance(secret, str):
        return _ok({"error": "url and secret are required strings"}, 400)
    try:
        webhook_id = state.webhooks.register(
            url,
            secret,
            name=str(body.get("name") or "Sandbox webhook"),
            types=tuple(body.get("types") or ()),
        )
    except ValueError as exc:
        return _ok({"error": str(exc)}, 400)
    return _ok({"webhookId": webhook_id})


async def _revoke(request: web.Request) -> web.StreamResponse:
    return _ok({"revoked": request.app[STATE_KEY].revoke_tokens()})


async def _clock(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    body = await read_json_object(request)
    if (refused := _unknown_keys(body, "advance")) is not None:
        return refused
    advance = body.get("advance", 0)
    if not isinstance(advance, int | float):
        return _ok({"error": "advance must be a number of seconds"}, 400)
    state.advance_time(float(advance))
    return _ok({"offset": state.clock_offset})


def add_admin_routes(app: web.Application) -> None:
    """Register the admin endpoints on ``app``."""
    r = app.router
    r.add_get("/_sandbox/stats", _stats)
    r.add_post("/_sandbox/reset", _reset)
    r.add_get("/_sandbox/faults", _get_faults)
    r.add_post("/_sandbox/faults", _set_faults)
    r.add_post("/_sandbox/mutate", _mutate)
    r.add_post("/_sandbox/webhooks", _webhooks)
    r.add_post("/_sandbox/revoke", _revoke)
    r.add_post("/_sandbox/clock", _clock)
