"""API-user scoping: a key's predefined distribution channel, reservation category, permissions.

Setup page ("Create REST API authentication", Integration Manager): "Assign a specific
distribution channel to be used by this API key ... This means only data from the selected
distribution channel will be available from the API. For example reservations, will only
return the reservations created by the selected distributionchannel. Also for creating
reservations only the selected distributionchannel can be used." A predefined reservation
category likewise limits "creating reservations with only a specific reservation category".
"Permissions: ... For each permission there are 4 options: GET, PUT, POST and DELETE";
a key lacking one is refused (403 here, **inferred** status).

What the sandbox does with a scoped key (:class:`~maxxton_async.sandbox.SandboxClient`
``distribution_channel_id`` / ``reservation_category`` / ``denied``):

* reservation and distribution channel lists are filtered to the key's channel (an added
  ``filter=distributionChannelId::N``, so paging stays right); a reservation or channel of
  another channel answers 404, as if it did not exist;
* a booking, proposal, search or availability call naming another channel, or a booking naming
  another category, is refused 400; a payment on another channel's reservation gets the
  reference's 400 "The distribution channel present in the authorization token does not match
  the distribution channel of the reservation.";
* the search's ``distributionChannelId`` may be left out: the token carries it (reference,
  accommodation type search).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from ._state import STATE_KEY, SandboxClient

__all__ = ["MISMATCH", "api_user", "scope_middleware", "token_channel"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Reference, Create payments for a reservation: the 400 of a channel mismatch.
MISMATCH = (
    "The distribution channel present in the authorization token does not match the "
    "distribution channel of the reservation."
)
_TOKEN_KEY = "maxxton_sandbox_token"  # where the guard keeps the request's token (``_app``)
_API = "/maxxton/v2"


def api_user(request: web.Request) -> SandboxClient | None:
    """The API user whose token authorised ``request`` (``None`` before authentication)."""
    token = request.get(_TOKEN_KEY)
    if token is None:
        return None
    return request.app[STATE_KEY].clients.get(token.client_id)


def token_channel(request: web.Request) -> int | None:
    """The distribution channel the request's key is bound to, if any."""
    user = api_user(request)
    return None if user is None else user.distribution_channel_id


def _error(request: web.Request, status: int, message: str) -> web.Response:
    from ._app import spring_error

    return spring_error(request, status, message)


def _route(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else request.path


def _with_filter(request: web.Request, condition: str) -> web.Request:
    query = list(request.rel_url.query.items())
    query.append(("filter", condition))
    return request.clone(rel_url=request.rel_url.with_query(query))


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # cached by aiohttp: the handler reads the same bytes
    try:
        body = msgspec.json.decode(raw) if raw else {}
    except msgspec.DecodeError:
        return {}
    return body if isinstance(body, dict) else {}


@web.middleware
async def scope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the request's API user's permissions and predefined channel and category."""
    user = api_user(request)
    if user is None or not request.path.startswith(_API):
        return await handler(request)
    for denied in user.denied:
        if request.path == denied or request.path.startswith(denied.rstrip("/") + "/"):
            return _error(request, 403, "Access is denied")
    channel, category = user.distribution_channel_id, user.reservation_category
    if channel is None and category is None:
        return await handler(request)
    state = request.app[STATE_KEY]
    data = state.data
    route = _route(request)
    method = request.method
    own = f"distributionChannelId::{channel}"
    if channel is not None and method == "GET":
        if route in (f"{_API}/reservations", f"{_API}/distributionchannels"):
            return await handler(_with_filter(request, own))
        one = f"{_API}/distributionchannels/{{distributionChannelId}}"
        if route == one and int(request.match_info["distributionChannelId"]) != channel:
            return _error(request, 404, "No distributionchannel found for given id.")
    if channel is not None and "{reservationId}" in route:
        record = data.reservations.get(int(request.match_info["reservationId"]))
        if record is not None and record["distributionChannelId"] != channel:
            if route.endswith("/payments"):
                return _error(request, 400, MISMATCH)
            return _error(request, 404, "No reservation found for given reservation id.")
    if method == "POST" and route in (f"{_API}/reservations", f"{_API}/reservations/proposals"):
        body = await _body(request)
        code = body.get("distributionChannelCode")
        if channel is not None and code is not None:
            dc = data.distribution_channels.get(channel)
            if dc is None or dc["code"] != code:
                return _error(request, 400, MISMATCH.replace("of the reservation", "requested"))
        wanted = body.get("categoryCode")
        if category is not None and wanted is not None and wanted != category:
            return _error(
                request,
                400,
                "The reservation category present in the authorization token does not match "
                "the reservation category requested.",
            )
    if (
        channel is not None
        and route.startswith(f"{_API}/accommodationtypes/")
        and (route.endswith(("/search", "/arrivalrangesearch", "/availability")))
    ):
        source: Any = await _body(request) if method == "POST" else request.query
        given = source.get("distributionChannelId")
        given_code = source.get("distributionChannelCode")
        dc = data.distribution_channels.get(channel)
        if (given is not None and str(given) != str(channel)) or (
            given_code is not None and (dc is None or given_code != dc["code"])
        ):
            return _error(request, 400, MISMATCH.replace("of the reservation", "requested"))
    return await handler(request)
