"""The aiohttp application: the guard middleware (in-flight cap, faults, auth) and the routes.

Every request under ``/maxxton/v2`` passes :func:`_guard`, in this order:

1. count it; refuse it 429 with ``Retry-After`` if its client IP already has
   ``max_in_flight_per_ip`` requests in flight (guide, API Pricing: 15 concurrent calls per IP;
   the 429 itself is inferred, wire contract) — authenticate included, since it is a call too;
2. roll the fault dice (latency is served while the request counts as in flight);
3. check the bearer token (guide, Authentication), except on authenticate;
4. run the handler, then apply body faults (drop, malformed, slow).

Admin endpoints live under ``/_sandbox/`` (:mod:`._admin`) and bypass all of it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import msgspec
from aiohttp import web

from ._admin import add_admin_routes, read_json_object
from ._customers import CustomerError, create_customer, update_customer
from ._faults import FaultDecision
from ._query import QueryError, build_predicate, page_params, paginate, parse_sort, sort_records
from ._refresh import add_refresh_routes
from ._reservations import (
    BookingError,
    add_payment,
    change_expected_times,
    change_status,
    create_reservation,
    propose,
)
from ._scope import scope_middleware, token_channel
from ._state import STATE_KEY, SandboxState
from ._stats import RequestRecord
from ._transitions import IllegalTransition
from ._views import COLLECTIONS, Collection, normalise_locale

__all__ = ["ADMIN_PREFIX", "API_PREFIX", "STATE_KEY", "make_app"]

API_PREFIX = "/maxxton/v2"
ADMIN_PREFIX = "/_sandbox"
#: Largest arrival range of one arrival range search (reference, arrival range search).
MAX_ARRIVAL_RANGE_DAYS = 30

Record = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_JSON = "application/json"
_encode = msgspec.json.encode
_TOKEN_KEY = "maxxton_sandbox_token"


class _Dropped(Exception):
    """The connection was closed on purpose (fault ``drop``)."""


def json_response(payload: Any, status: int = 200) -> web.Response:
    """A JSON response encoded with msgspec."""
    return web.Response(body=_encode(payload), status=status, content_type=_JSON)


def spring_error(request: web.Request, status: int, message: str) -> web.Response:
    """The Spring-style error body of the wire contract."""
    return json_response(
        {
            "timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "status": status,
            "error": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "",
            "message": message,
            "path": request.path,
        },
        status,
    )


def _unauthorized(error: str, description: str) -> web.Response:
    resp = json_response({"error": error, "error_description": description}, 401)
    resp.headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return resp


def _too_many(request: web.Request, retry_after: int, why: str) -> web.Response:
    resp = spring_error(request, 429, why)
    resp.headers["Retry-After"] = str(retry_after)
    return resp


def _route_key(request: web.Request) -> str:
    info = request.match_info
    route = info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else request.path


def make_app(state: SandboxState) -> web.Application:
    """The sandbox as an aiohttp application (embed it, or use :class:`Sandbox`)."""
    # _guard authenticates; scope_middleware then applies the key's channel, category and
    # permissions (setup page).
    app = web.Application(middlewares=[_guard, scope_middleware], client_max_size=8 * 1024 * 1024)
    app[STATE_KEY] = state
    r = app.router
    p = API_PREFIX
    r.add_post(f"{p}/authenticate", _authenticate)
    # Fixed paths before {id} ones, and ids constrained to digits, so they never shadow.
    r.add_get(f"{p}/accommodationtypes/availability", _availability)
    r.add_post(f"{p}/accommodationtypes/availability", _availability)
    r.add_post(f"{p}/accommodationtypes/availability/implies", _availability_implies)
    r.add_post(f"{p}/accommodationtypes/search", _search)
    r.add_post(f"{p}/accommodationtypes/arrivalrangesearch", _arrival_range_search)
    r.add_post(f"{p}/customers", _create_customer)
    r.add_put(f"{p}/customers/{{customerId:\\d+}}", _update_customer)
    r.add_post(f"{p}/reservations/proposals", _proposal)
    r.add_post(f"{p}/reservations", _create_reservation)
    r.add_get(f"{p}/reservations/{{reservationId:\\d+}}/details", _reservation_details)
    r.add_get(f"{p}/reservations/{{reservationId:\\d+}}/paymentlink", _payment_link)
    r.add_put(f"{p}/reservations/{{reservationId:\\d+}}", _update_reservation)
    r.add_post(f"{p}/reservations/{{reservationId:\\d+}}/payments", _payment)
    r.add_get(f"{p}/accommodationtypes/{{resourceId:\\d+}}/details", _type_details)
    r.add_get(f"{p}/units/{{unitId:\\d+}}/details", _unit_details)
    r.add_get(f"{p}/locations/{{locationId:\\d+}}/details", _location_details)
    add_refresh_routes(app, p)  # additions, allotments, add-ons, implies, rates, ... (Event Flow)
    for name, coll in COLLECTIONS.items():
        r.add_get(f"{p}/{name}", _list_handler(coll))
        if name != "events":
            r.add_get(f"{p}/{name}/{{{coll.id_field}:\\d+}}", _get_handler(coll))
    add_admin_routes(app)
    return app


# -- the guard ------------------------------------------------------------------------------


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(ADMIN_PREFIX):
        return await handler(request)
    state = request.app[STATE_KEY]
    stats = state.stats
    stats.requests_total += 1
    route = _route_key(request)
    stats.per_endpoint[f"{request.method} {route}"] += 1
    if route.endswith("/authenticate"):
        stats.token_calls += 1
    ip = request.remote or "unknown"
    by_ip = stats.in_flight_by_ip
    current = by_ip.get(ip, 0)
    status = 0
    if current >= state.max_in_flight_per_ip - state.faults.foreign_in_flight:
        # guide, API Pricing: "The number of concurrent calls is limited to the maximum number
        # per IP, by default this is 15." Refused at once, never queued (wire contract: 429).
        stats.rejected_in_flight += 1
        resp: web.StreamResponse = _too_many(
            request, state.faults.retry_after, "Too many concurrent requests for this IP"
        )
        _log(state, request, route, ip, resp.status)
        return resp
    by_ip[ip] = current + 1
    stats.in_flight += 1
    if current + 1 > stats.peak_in_flight:
        stats.peak_in_flight = current + 1
    try:
        resp = await _serve(state, request, handler)
        status = resp.status
        return resp
    except web.HTTPException as exc:
        resp = spring_error(request, exc.status, exc.reason)
        for name in ("Allow",):
            if name in exc.headers:
                resp.headers[name] = exc.headers[name]
        status = resp.status
        return resp
    except _Dropped:
        status = 0
        raise asyncio.CancelledError from None
    except Exception as exc:  # a sandbox bug must still look like the API's 500 (reference)
        resp = spring_error(request, 500, f"Error occurred while processing: {exc!r}")
        status = 500
        return resp
    finally:
        left = by_ip.get(ip, 1) - 1
        if left:
            by_ip[ip] = left
        else:
            by_ip.pop(ip, None)
        stats.in_flight -= 1
        _log(state, request, route, ip, status)


def _log(state: SandboxState, request: web.Request, route: str, ip: str, status: int) -> None:
    stats = state.stats
    stats.statuses[status] += 1
    stats.log.append(
        RequestRecord(
            request.method, request.path, request.raw_path.partition("?")[2], status, route, ip
        )
    )


async def _serve(state: SandboxState, request: web.Request, handler: Handler) -> web.StreamResponse:
    faults = state.faults
    decision: FaultDecision | None = faults.decide() if faults.active else None
    if decision is not None:
        if faults.hold is not None:
            await faults.hold.wait()
        if decision.delay > 0:
            state.stats.faults["latency"] += 1
            await asyncio.sleep(decision.delay)
        if decision.status == 429:
            state.stats.faults["rate_limit"] += 1
            return _too_many(request, faults.retry_after, "Rate limit burst (sandbox fault)")
        if decision.status is not None:
            state.stats.faults["status"] += 1
            return spring_error(request, decision.status, "Injected failure (sandbox fault)")
        if decision.drop and not faults.drop_after_handler:
            state.stats.faults["drop"] += 1
            _drop(request)
    if not request.path.endswith("/authenticate"):
        token = state.check_token(request.headers.get("Authorization"))
        if isinstance(token, str):
            return _unauthorized("invalid_token", token)
        request[_TOKEN_KEY] = token
    resp = await handler(request)
    if decision is None:
        return resp
    if decision.drop:
        state.stats.faults["drop"] += 1
        _drop(request)
    if decision.malformed:
        state.stats.faults["malformed"] += 1
        body = resp.body if isinstance(resp, web.Response) else None
        raw = bytes(body) if isinstance(body, bytes | bytearray) else b""
        # A 200 whose JSON stops half-way: what a cut proxy buffer looks like to a client.
        broken = raw[: max(1, len(raw) // 2)] if len(raw) > 2 else b'{"content": [{"id": '
        return web.Response(body=broken, status=200, content_type=_JSON)
    if decision.slow and isinstance(resp, web.Response):
        state.stats.faults["slow"] += 1
        return await _slow(request, resp, faults.slow_body_delay, faults.slow_body_chunk)
    return resp


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise _Dropped


async def _slow(
    request: web.Request, resp: web.Response, delay: float, chunk: int
) -> web.StreamResponse:
    body = resp.body
    raw = bytes(body) if isinstance(body, bytes | bytearray) else b""
    out = web.StreamResponse(status=resp.status)
    out.content_type = resp.content_type
    out.content_length = len(raw)
    await out.prepare(request)
    size = max(1, chunk)
    for start in range(0, len(raw), size):
        await out.write(raw[start : start + size])
        await asyncio.sleep(delay)
    await out.write_eof()
    return out


# -- request helpers ------------------------------------------------------------------------


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


def _masked(request: web.Request) -> bool:
    token = request.get(_TOKEN_KEY)
    return token is not None and not token.restricted_fields


def _locale(request: web.Request) -> str | None:
    return normalise_locale(request.headers.get("locale"))


def _show_archived(request: web.Request) -> bool:
    return request.headers.get("x-show-archived", "").strip().lower() == "true"


# -- authenticate ---------------------------------------------------------------------------


async def _authenticate(request: web.Request) -> web.StreamResponse:
    # Names accepted in the query string or a form body: the guide's example spells them
    # camelCase (grantType, clientId, clientSecret), the reference and the public clients
    # snake_case. Only the spellings the sandbox was told to accept count, so a client
    # that sends the other one fails here as it might on the real server.
    params: dict[str, str] = dict(request.query.items())
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    state = _state(request)
    names = state.auth_names

    def get(snake: str, camel: str) -> str | None:
        if "snake_case" in names and params.get(snake):
            return params[snake]
        return params.get(camel) if "camelCase" in names else None

    grant = get("grant_type", "grantType")
    if grant is not None and grant != "client_credentials":
        return json_response(
            {"error": "unsupported_grant_type", "error_description": f"Unsupported: {grant}"}, 400
        )
    answer = state.authenticate(
        get("client_id", "clientId"), get("client_secret", "clientSecret"), params.get("scope")
    )
    if answer is None:
        if state.auth_refusal_status == 401:
            return _unauthorized("invalid_client", "Bad client credentials")
        # Guide, Authentication: "500 | Error occurred while processing" is the only
        # error documented for this call.
        return spring_error(request, state.auth_refusal_status, "Error occurred while processing")
    return json_response(answer)


# -- lists and single records ---------------------------------------------------------------


def _list_handler(coll: Collection) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        state = _state(request)
        views = state.views
        query = request.query
        try:
            number, size = page_params(query.get("page"), query.get("size"), state.max_page_size)
            schema = views.schema(coll)
            predicate = build_predicate(query.getall("filter", []), schema)
            keys = parse_sort(query.getall("sort", []), schema)
        except QueryError as exc:
            return spring_error(request, 400, str(exc))
        records = views.records(coll, _locale(request), _show_archived(request), _masked(request))
        if coll.name == "customers" and "email" in query:
            # Query parameter ``email`` of Get all customers (reference): exact, case-insensitive.
            wanted = query["email"].lower()
            records = [
                r for r in records if (r["mailAddress"].get("email") or "").lower() == wanted
            ]
        if predicate is not None:
            records = [r for r in records if predicate(r)]
        if keys and keys != [(coll.id_field, False)]:
            records = sort_records(records, keys)
        if not records and coll.no_content_when_empty:
            return web.Response(status=204)
        return json_response(paginate(records, number, size, bool(keys)).envelope())

    return handler


def _get_handler(coll: Collection) -> Handler:
    singular = coll.name.rstrip("s").replace("accommodationtype", "accommodation type")

    async def handler(request: web.Request) -> web.StreamResponse:
        state = _state(request)
        record = _find(state, coll, request)
        if record is None:
            # reference, Get customer: 404 "No customer found for given customer id."; the
            # other entities follow the same wording (inferred).
            return spring_error(request, 404, f"No {singular} found for given {singular} id.")
        return json_response(state.views.project(coll, record, _locale(request), _masked(request)))

    return handler


def _find(state: SandboxState, coll: Collection, request: web.Request) -> Record | None:
    record_id = int(request.match_info[coll.id_field])
    source = state.views.source(coll)
    record: Record | None = source.get(record_id)
    if record is None or not state.views.visible(coll, record, _show_archived(request)):
        return None
    return record


async def _type_details(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    coll = COLLECTIONS["accommodationtypes"]
    record = _find(state, coll, request)
    if record is None:
        return spring_error(request, 404, "No accommodation type found for given resourceid.")
    out = dict(state.views.project(coll, record, _locale(request), False))
    show = _show_archived(request)
    out["units"] = [
        state.data.units[u]
        for u in state.data.units_by_type.get(record["resourceId"], ())
        if show or not state.data.units[u]["archived"]
    ]
    return json_response(out)


async def _unit_details(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    record = _find(state, COLLECTIONS["units"], request)
    if record is None:
        return spring_error(request, 404, "No unit found for given unitid.")
    out = dict(record)
    at = state.data.accommodation_types.get(record["resourceId"])
    if at is not None:
        out["accommodationType"] = state.views.project(
            COLLECTIONS["accommodationtypes"], at, _locale(request), False
        )
    return json_response(out)


async def _location_details(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    coll = COLLECTIONS["locations"]
    record = _find(state, coll, request)
    if record is None:
        return spring_error(request, 404, "No location found for given locationid.")
    out = dict(state.views.project(coll, record, _locale(request), False))
    out["accommodationTypeIds"] = [
        rid
        for rid, at in state.data.accommodation_types.items()
        if at["locationId"] == record["locationId"]
    ]
    return json_response(out)


# -- customer writes ------------------------------------------------------------------------


def _customer_answer(request: web.Request, record: Record) -> web.Response:
    # The answer is the customer as Get customer shows it: masked for a restricted user.
    coll = COLLECTIONS["customers"]
    return json_response(_state(request).views.project(coll, record, None, _masked(request)))


async def _create_customer(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    try:
        record = create_customer(state, await read_json_object(request))
    except CustomerError as exc:
        return spring_error(request, exc.status, str(exc))
    return _customer_answer(request, record)


async def _update_customer(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    body = await read_json_object(request)
    try:
        record = update_customer(
            state,
            int(request.match_info["customerId"]),
            body,
            restricted_access=not _masked(request),
        )
    except CustomerError as exc:
        return spring_error(request, exc.status, str(exc))
    return _customer_answer(request, record)


# -- reservations ---------------------------------------------------------------------------


def _reservation_id(request: web.Request) -> int:
    return int(request.match_info["reservationId"])


async def _reservation_details(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    record = state.data.reservations.get(_reservation_id(request))
    if record is None:
        return spring_error(request, 404, "No reservation found for given reservation id.")
    wanted = {
        s.strip().upper()
        for v in request.query.getall("returnSections", [])
        for s in v.split(",")
        if s.strip()
    }
    out = dict(record)
    if not wanted or "CUSTOMER" in wanted:
        customer = state.data.customers.get(record["customerId"])
        out["customer"] = (
            state.views.project(COLLECTIONS["customers"], customer, None, _masked(request))
            if customer is not None
            else None
        )
    if not wanted or "RESERVEDRESOURCES" in wanted:
        at = state.data.accommodation_types.get(record["resourceId"])
        name = (
            state.views.project(COLLECTIONS["accommodationtypes"], at, _locale(request), False)[
                "name"
            ]
            if at is not None
            else None
        )
        out["reservedResources"] = [
            {
                "reservedResourceId": record["reservationId"] * 10 + 1,
                "resourceId": record["resourceId"],
                "type": "ACCOMMODATIONTYPE",
                "name": name,
                "unitId": record["unitId"],
                "stayDateFrom": record["arrivalDate"],
                "stayDateTo": record["departureDate"],
                "price": record["totalPrice"],
            }
        ]
    if not wanted or "CUSTOMERBILL" in wanted:
        out["customerBill"] = [{"description": "Stay", "total": record["totalPrice"]}]
    return json_response(out)


async def _payment_link(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    res_id = _reservation_id(request)
    record = state.data.reservations.get(res_id)
    if record is None:
        return spring_error(request, 404, "No reservation found for given reservation id.")
    currency = request.query.get("currencyCode")
    payer = request.query.get("payerType")
    # currencyCode and payerType are required (reference, Get paymentlink for a reservation).
    if not currency:
        return spring_error(request, 400, "currencyCode is required")
    if payer not in ("PAYING_CUSTOMER", "AGENT", "CUSTOMER"):
        return spring_error(request, 400, "payerType must be PAYING_CUSTOMER, AGENT or CUSTOMER")
    return json_response(
        {
            "paymentLink": f"https://payment.sandbox.invalid/pay/{record['reservationNumber']}"
            f"?currency={currency}&payer={payer}",
            "reservationId": res_id,
            "amount": record["totalPrice"],
            "currencyCode": currency,
        }
    )


async def _booking(
    request: web.Request, action: Callable[[SandboxState, Record], Record]
) -> web.StreamResponse:
    """Apply a booking ``action`` to the request's JSON body; a refusal is its Spring error."""
    state = _state(request)
    try:
        return json_response(action(state, await read_json_object(request)))
    except BookingError as exc:
        return spring_error(request, exc.status, str(exc))


async def _proposal(request: web.Request) -> web.StreamResponse:
    return await _booking(request, propose)


async def _create_reservation(request: web.Request) -> web.StreamResponse:
    return await _booking(request, create_reservation)


async def _payment(request: web.Request) -> web.StreamResponse:
    reservation_id = _reservation_id(request)
    return await _booking(request, lambda state, body: add_payment(state, reservation_id, body))


async def _update_reservation(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    body = await read_json_object(request)
    action = body.get("statusValue")
    times = any(
        body.get(k) is not None for k in ("expectedArrivalDateTime", "expectedDepartureDateTime")
    )
    if not isinstance(action, str) and not times:
        return spring_error(
            request, 400, "statusValue, expectedArrivalDateTime or expectedDepartureDateTime"
        )
    reason = body.get("cancellationReason")
    try:
        # guide, Reservation Flow 5: the same PUT changes the status and/or the expected times.
        if times:
            record = change_expected_times(state, _reservation_id(request), body)
        if isinstance(action, str):
            record = change_status(
                state,
                _reservation_id(request),
                action,
                str(reason) if reason is not None else None,
            )
    except BookingError as exc:
        return spring_error(request, exc.status, str(exc))
    except IllegalTransition as exc:
        return spring_error(request, 400, str(exc))
    # Response fields of update reservation (reference).
    return json_response(
        {
            "reservationId": record["reservationId"],
            "statusValue": record["statusValue"],
            "reservedResources": [],
            "paymentTermSetId": None,
            "infotexts": [],
        }
    )


# -- availability and search ----------------------------------------------------------------


def _ints(value: Any) -> list[int]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [int(v) for v in items if str(v).strip()]


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


async def _availability(request: web.Request) -> web.StreamResponse:
    return await _stays(request, implies=False)


async def _availability_implies(request: web.Request) -> web.StreamResponse:
    """Mandatory costs of every available stay (guide, Reservation Flow option 2); the body is
    the availability query's, the answer one item per stay (wire contract, Implies)."""
    return await _stays(request, implies=True)


async def _stays(request: web.Request, *, implies: bool) -> web.StreamResponse:
    state = _state(request)
    data = state.data
    if request.method == "POST":
        params: dict[str, Any] = await read_json_object(request)
    else:
        q = request.query
        params = {k: (q.getall(k) if len(q.getall(k)) > 1 else q[k]) for k in q}
        if isinstance(params.get("duration"), list):
            params["duration"] = ",".join(params["duration"])
        if isinstance(params.get("resourceId"), list):
            params["resourceId"] = ",".join(params["resourceId"])
    try:
        first = dt.date.fromisoformat(str(params["arrivalDateFrom"]))
        last = dt.date.fromisoformat(str(params.get("arrivalDateTo") or first.isoformat()))
        durations = _ints(params.get("duration"))
        resource_ids = _ints(params.get("resourceId")) + _ints(params.get("resourceIds"))
        location_ids = _ints(params.get("locationId"))
        offer_ids = _ints(params.get("offerId"))
    except KeyError:
        return spring_error(request, 400, "arrivalDateFrom is required")
    except ValueError as exc:
        return spring_error(request, 400, f"Invalid parameter: {exc}")
    if last < first:
        return spring_error(request, 400, "arrivalDateTo is before arrivalDateFrom")
    if (last - first).days + 1 > state.max_availability_days:
        return spring_error(
            request, 400, f"The arrival range may cover at most {state.max_availability_days} days"
        )
    channel_error = _check_channel(state, params)
    if channel_error:
        return spring_error(request, 400, channel_error)
    offer_code = params.get("offerCode")
    all_prices = _flag(params.get("includeAllPrices"))
    types = sorted(resource_ids) if resource_ids else list(data.accommodation_types)
    out: list[Record] = []
    for rid in types:
        at = data.accommodation_types.get(rid)
        cfg = data.resource_config.get(rid)
        if at is None or cfg is None or (location_ids and at["locationId"] not in location_ids):
            continue
        for day in range((last - first).days + 1):
            arrival = first + dt.timedelta(days=day)
            for duration in durations or cfg.durations:
                if implies:
                    costs = data.implies(rid, arrival, duration)
                    if costs is not None:
                        out.append(costs)
                    continue
                rec = data.availability(rid, arrival, duration)
                if rec is None:
                    continue
                if offer_ids or offer_code:
                    rec["prices"] = [
                        p
                        for p in rec["prices"]
                        if p["offerId"] in offer_ids
                        or (offer_code and p["offerCode"] == offer_code)
                    ]
                    if not rec["prices"]:
                        continue
                elif not all_prices:
                    rec["prices"] = rec["prices"][:1]
                out.append(rec)
    return json_response(out)


def _check_channel(state: SandboxState, params: Record) -> str | None:
    code = params.get("distributionChannelCode")
    dc_id = params.get("distributionChannelId")
    channels = state.data.distribution_channels
    if code is not None and all(dc["code"] != code for dc in channels.values()):
        return f"Unknown distributionChannelCode {code!r}"
    if dc_id is not None:
        try:
            if int(dc_id) not in channels:
                return f"Unknown distributionChannelId {dc_id!r}"
        except (TypeError, ValueError):
            return "distributionChannelId must be an integer"
    return None


def _search_items(state: SandboxState, body: Record, arrivals: list[dt.date]) -> list[Record]:
    data = state.data
    durations = _ints(body.get("duration"))
    location_ids = set(_ints(body.get("locationIds")))
    resource_ids = set(_ints(body.get("resourceIds")))
    kinds = set(_ints(body.get("accommodationKindIds")))
    pets = int(body.get("petQuantity") or 0)
    subjects = body.get("subjects")
    persons = 0
    if isinstance(subjects, dict):
        persons = sum(
            int(p.get("quantity", 1)) for p in subjects.get("persons", ()) if isinstance(p, dict)
        )
    offer_code = body.get("offerCode")
    items: list[Record] = []
    for rid, at in data.accommodation_types.items():
        if resource_ids and rid not in resource_ids:
            continue
        if location_ids and at["locationId"] not in location_ids:
            continue
        if kinds and at["accommodationKindId"] not in kinds:
            continue
        if persons > at["maxCapacity"]:
            continue
        cfg = data.resource_config[rid]
        for arrival in arrivals:
            for duration in durations or cfg.durations:
                rec = data.availability(rid, arrival, duration)
                if rec is None or (pets and not rec["petCapacity"]):
                    continue
                prices = [
                    p for p in rec["prices"] if not offer_code or p["offerCode"] == offer_code
                ]
                if not prices:
                    continue
                best = prices[0]
                items.append(
                    {
                        "resourceId": rid,
                        "accommodationKindId": at["accommodationKindId"],
                        "locationId": at["locationId"],
                        "arrivalDate": rec["arrivalDate"],
                        "departureDate": rec["departureDate"],
                        "duration": duration,
                        "price": best["price"],
                        "priceInclusive": best["priceInclusive"],
                        "offerId": best["offerId"],
                        "offerCode": best["offerCode"],
                        "availableUnits": len(rec["units"]),
                    }
                )
    return items


_SEARCH_SORTS: dict[str, tuple[str, bool]] = {
    "offer_price_asc": ("price", False),
    "offer_price_desc": ("price", True),
    "offer_price_inclusive_asc": ("priceInclusive", False),
    "offer_price_inclusive_desc": ("priceInclusive", True),
    "priority_asc": ("resourceId", False),
    "priority_desc": ("resourceId", True),
}


def _search_answer(request: web.Request, body: Record, items: list[Record]) -> web.Response:
    # Default order is the cheapest price (reference, accommodation type search, ``sort``).
    field, desc = _SEARCH_SORTS.get(request.query.get("sort", ""), ("price", False))
    items.sort(key=lambda i: (i[field], i["resourceId"], i["arrivalDate"]), reverse=desc)
    answer: Record = {"result": items}
    wanted = body.get("filterOptions") or []
    if wanted:
        options: Record = {}
        keys = {
            "arrivals": "arrivalDate",
            "departures": "departureDate",
            "locations": "locationId",
            "accommodationKinds": "accommodationKindId",
        }
        for option in wanted:
            key = keys.get(option)
            if key is None:
                continue
            counts: dict[Any, int] = {}
            for item in items:
                counts[item[key]] = counts.get(item[key], 0) + 1
            options[option] = [{"value": k, "count": v} for k, v in sorted(counts.items())]
        answer["filterOptions"] = options
    return json_response(answer)


async def _search_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON body of a search, or the 400 the reference gives for its channel."""
    body = await read_json_object(request)
    # distributionChannelId is required unless the token carries one (reference, search).
    if body.get("distributionChannelId") is None and token_channel(request) is None:
        return spring_error(request, 400, "distributionChannelId is required")
    error = _check_channel(_state(request), body)
    if error:
        return spring_error(request, 400, error)
    return body


def _search_arrivals(
    request: web.Request, body: dict[str, Any], arrivals: list[dt.date]
) -> web.StreamResponse:
    try:
        items = _search_items(_state(request), body, arrivals)
    except (TypeError, ValueError) as exc:
        return spring_error(request, 400, f"Invalid search body: {exc}")
    return _search_answer(request, body, items)


async def _search(request: web.Request) -> web.StreamResponse:
    body = await _search_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        arrival = dt.date.fromisoformat(str(body["arrivalDate"]))
    except KeyError:
        return spring_error(request, 400, "arrivalDate is required")
    except ValueError:
        return spring_error(request, 400, "arrivalDate must be yyyy-MM-dd")
    return _search_arrivals(request, body, [arrival])


async def _arrival_range_search(request: web.Request) -> web.StreamResponse:
    body = await _search_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        first = dt.date.fromisoformat(str(body["arrivalDateFrom"]))
        days = int(body.get("numberOfDaysInResult") or 1)
    except KeyError:
        return spring_error(request, 400, "arrivalDateFrom is required")
    except (TypeError, ValueError):
        return spring_error(request, 400, "Invalid arrivalDateFrom or numberOfDaysInResult")
    # numberOfDaysInResult: "max 30" (reference, arrival range search).
    if not 1 <= days <= MAX_ARRIVAL_RANGE_DAYS:
        return spring_error(
            request, 400, f"numberOfDaysInResult must be between 1 and {MAX_ARRIVAL_RANGE_DAYS}"
        )
    arrivals = [first + dt.timedelta(days=i) for i in range(days)]
    return _search_arrivals(request, body, arrivals)
