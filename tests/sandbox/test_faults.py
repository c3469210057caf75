"""Every fault knob, observed from a plain aiohttp client."""

from __future__ import annotations

import aiohttp
import msgspec
import pytest

from maxxton_async.sandbox import Faults, Sandbox

from ._helpers import booking_body
from .conftest import API


async def _status(
    http: aiohttp.ClientSession, auth: dict[str, str], path: str = "locations"
) -> int:
    async with http.get(f"{API}/{path}", headers=auth) as resp:
        await resp.read()
        return resp.status


def test_jitter_stays_in_bounds_and_is_seeded() -> None:
    a, b = Faults(), Faults()
    a.update(latency=0.1, jitter=0.05, seed=4)
    b.update(latency=0.1, jitter=0.05, seed=4)
    delays = [a.decide().delay for _ in range(50)]
    assert delays == [b.decide().delay for _ in range(50)]
    assert all(0.1 <= d <= 0.15 for d in delays)
    assert len(set(delays)) > 1


def test_unknown_knob_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault knob"):
        Faults().update(latenzy=1)


async def test_latency_is_applied(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.faults.update(latency=0.001)
    assert await _status(http, auth) == 200
    assert sb.statistics().faults["latency"] == 1


async def test_error_rate_is_seeded(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.faults.update(error_rate=0.5, seed=3)
    first = [await _status(http, auth) for _ in range(20)]
    sb.faults.update(seed=3)
    second = [await _status(http, auth) for _ in range(20)]
    assert first == second
    assert {s for s in first if s != 200} <= {500, 502, 503, 504}
    assert 0 < sum(s != 200 for s in first) < 20
    sb.faults.update(error_rate=1.0, error_statuses=[502])
    assert await _status(http, auth) == 502


async def test_rate_limit_burst(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.faults.update(rate_limit_burst=2, retry_after=7)
    for _ in range(2):
        async with http.get(f"{API}/locations", headers=auth) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"] == "7"
    assert await _status(http, auth) == 200
    assert sb.statistics().faults["rate_limit"] == 2


async def test_fail_next_with_status(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.faults.update(fail_next=3, fail_status=504)
    assert [await _status(http, auth) for _ in range(4)] == [504, 504, 504, 200]


async def test_drop_closes_without_response(sb: Sandbox, auth: dict[str, str]) -> None:
    connector = aiohttp.TCPConnector(force_close=True)
    body = {"distributionChannelId": 1, "arrivalDate": sb.data.start_date.isoformat()}
    async with aiohttp.ClientSession(sb.base_url, connector=connector) as http:
        sb.faults.update(drop_next=1)
        # A POST is not resent by aiohttp, so the drop reaches the caller.
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with http.post(
                f"{API}/accommodationtypes/search", json=body, headers=auth
            ) as resp:
                await resp.read()
        sb.reset_stats()
        # A GET is resent once by aiohttp itself: the server sees both attempts.
        sb.faults.update(drop_next=1)
        assert await _status(http, auth) == 200
    assert sb.statistics().faults["drop"] == 1
    assert sb.statistics().requests_total == 2
    assert sb.statistics().statuses[0] == 1  # logged with status 0: no response


async def test_drop_after_handler_loses_the_answer_not_the_effect(
    sb: Sandbox, auth: dict[str, str]
) -> None:
    body = booking_body(sb)
    before = len(sb.data.reservations)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(sb.base_url, connector=connector) as http:
        sb.faults.update(drop_next=1, drop_after_handler=True)
        with pytest.raises(aiohttp.ClientError):
            async with http.post(f"{API}/reservations", json=body, headers=auth) as resp:
                await resp.read()
    assert len(sb.data.reservations) == before + 1


async def test_malformed_body(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.faults.update(malformed_next=1)
    async with http.get(f"{API}/locations", headers=auth) as resp:
        assert resp.status == 200
        raw = await resp.read()
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(raw)
    async with http.get(f"{API}/locations", headers=auth) as resp:
        assert msgspec.json.decode(await resp.read())["totalElements"] > 0


async def test_slow_body_arrives_whole(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    async with http.get(f"{API}/locations", headers=auth) as resp:
        normal = await resp.read()
    sb.faults.update(slow_body_delay=0.001, slow_body_chunk=100)
    async with http.get(f"{API}/locations", headers=auth) as resp:
        assert resp.status == 200
        assert int(resp.headers["Content-Length"]) == len(normal)
        chunks = [c async for c in resp.content.iter_chunked(100)]
    assert b"".join(chunks) == normal
    assert sb.statistics().faults["slow"] == 1


async def test_faults_via_admin_endpoint(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    async with http.post("/_sandbox/faults", json={"fail_next": 1, "fail_status": 500}) as resp:
        assert resp.status == 200
        assert (await resp.json())["fail_next"] == 1
    assert await _status(http, auth) == 500
    async with http.post("/_sandbox/faults", json={"nope": 1}) as resp:
        assert resp.status == 400
    async with http.post("/_sandbox/revoke") as resp:
        assert (await resp.json())["revoked"] == 1
    assert await _status(http, auth) == 401
    async with http.post("/_sandbox/reset", json={"faults": True}) as resp:
        assert resp.status == 200
    assert sb.statistics().requests_total == 0
    assert not sb.faults.active


def test_knob_values_are_checked() -> None:
    faults = Faults()
    faults.update(latency="0.5", fail_next=2.0)
    assert (faults.latency, faults.fail_next) == (0.5, 2)
    with pytest.raises(ValueError, match="invalid value"):
        faults.update(error_rate="often")
    with pytest.raises(ValueError, match="invalid value"):
        faults.update(drop_after_handler="yes")
    with pytest.raises(ValueError, match="invalid value"):
        faults.update(error_rate=2)  # a share: 0 to 1


@pytest.mark.parametrize(
    ("path", "body", "allowed"),
    [
        ("/_sandbox/mutate", {"count": 30}, "'n'"),
        ("/_sandbox/reset", {"fault": True}, "'faults'"),
        ("/_sandbox/clock", {"seconds": 5}, "'advance'"),
        (
            "/_sandbox/webhooks",
            {"url": "http://127.0.0.1:9/", "secret": "s", "typs": []},
            "'types'",
        ),
    ],
)
async def test_admin_routes_refuse_unknown_keys(
    sb: Sandbox, http: aiohttp.ClientSession, path: str, body: dict[str, object], allowed: str
) -> None:
    events_before = len(sb.data.events)
    async with http.post(path, json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    unknown = next(k for k in body if k not in ("url", "secret"))
    assert f"unknown key(s) {unknown!r}" in error
    assert allowed in error
    assert len(sb.data.events) == events_before  # nothing was applied
    async with http.get("/_sandbox/stats", params={"log": "many"}) as resp:
        assert resp.status == 400


async def test_admin_mutate_applies_n(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    async with http.post("/_sandbox/mutate", json={"n": 3}) as resp:
        assert resp.status == 200
        assert len((await resp.json())["events"]) == 3
