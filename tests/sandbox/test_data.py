"""The generated dataset, events, mutate(), and the read endpoints against the truth."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp

from maxxton_async.sandbox import EVENT_TYPES, Sandbox, SandboxSize, generate

from .conftest import API


def test_same_seed_same_data() -> None:
    a, b, c = generate(5), generate(5), generate(6)
    assert a.customers == b.customers
    assert a.reservations == b.reservations
    assert a.events == b.events
    assert a.accommodation_types == b.accommodation_types
    assert a.customers != c.customers
    day = a.start_date + dt.timedelta(days=10)
    assert [a.availability(r, day, 7) for r in a.accommodation_types] == [
        b.availability(r, day, 7) for r in b.accommodation_types
    ]


def test_demo_shape() -> None:
    d = generate(0, "demo")
    assert (len(d.locations), len(d.accommodation_types), len(d.units)) == (3, 20, 120)
    assert (len(d.customers), len(d.reservations)) == (500, 800)
    assert any(at["archived"] for at in d.accommodation_types.values())
    assert {t["language"] for t in d.accommodation_types[1000]["translations"]} == {
        "en",
        "nl",
        "de",
    }
    assert "mailAddress" in d.customers[100_000]
    assert {e["eventType"] for e in d.events} == set(EVENT_TYPES)
    ids = [e["eventId"] for e in d.events]
    assert ids == sorted(set(ids))


def test_custom_size() -> None:
    d = generate(
        1,
        SandboxSize(
            locations=1,
            accommodation_types=2,
            units_per_type=1,
            customers=3,
            reservations=4,
            initial_events=0,
        ),
    )
    assert (len(d.accommodation_types), len(d.customers), len(d.reservations)) == (2, 3, 4)
    assert d.events == []


def test_mutate_covers_every_event_type_and_merges() -> None:
    sb = Sandbox(seed=2)
    start = len(sb.data.events)
    events = sb.mutate(48)
    # 48 changes; a change that reprices types is followed by an AVAILABILITY_EVENT per type it
    # reprices (issue 14: the guide's availability index does that), so there may be more.
    assert sb.state.mutation_count == 48
    follow_ups = [
        e
        for i, e in enumerate(events)
        if i
        and e["eventType"] == "AVAILABILITY_EVENT"
        and events[i - 1]["eventType"]
        in ("AVAILABILITY_EVENT", "OFFER_EVENT", "RATE_EVENT", "RENTABILITY_EVENT")
        and events[i - 1]["creationDate"] == e["creationDate"]
    ]
    assert follow_ups
    assert len(events) - len(follow_ups) <= 48 <= len(events)
    assert sb.data.events[start:] == events
    assert {e["eventType"] for e in events} == set(EVENT_TYPES)
    merges = [e for e in events if e["entityAction"] == "MERGE"]
    assert merges
    for merge in merges:
        assert merge["eventType"] == "CUSTOMER_EVENT"
        survivor, removed = merge["entityId"], merge["oldEntityId"]
        assert survivor in sb.data.customers
        assert removed not in sb.data.customers
        assert all(r["customerId"] != removed for r in sb.data.reservations.values())
    assert Sandbox(seed=2).mutate(48) == events  # deterministic


async def _get(
    http: aiohttp.ClientSession, auth: dict[str, str], path: str, params: Any = None, **headers: str
) -> Any:
    async with http.get(f"{API}/{path}", params=params, headers={**auth, **headers}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_events_endpoint_and_cursor(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    last = sb.data.events[-1]["eventId"]
    new = sb.mutate(48)  # customer events rotate UPDATE, CREATE, MERGE per round of 16
    page = await _get(http, auth, "events", [("filter", f"eventId>{last}"), ("size", "100")])
    assert page["content"] == new
    merge = await _get(http, auth, "events", [("filter", "entityAction::MERGE")])
    assert merge["content"]
    assert all(e["oldEntityId"] is not None for e in merge["content"])
    merged = await _get(http, auth, "events", [("filter", "oldEntityId>0")])
    assert merged["content"] == merge["content"]


async def test_get_by_id_and_404(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    for path, coll in (
        ("units", sb.data.units),
        ("owners", sb.data.owners),
        ("distributionchannels", sb.data.distribution_channels),
    ):
        first_id, record = next(iter(coll.items()))
        assert await _get(http, auth, f"{path}/{first_id}") == record
    async with http.get(f"{API}/customers/42", headers=auth) as resp:
        assert resp.status == 404
        body = await resp.json()
    assert body["status"] == 404
    assert body["error"] == "Not Found"
    assert "No customer found" in body["message"]


async def test_locale_picks_translations(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    rid = next(r for r, at in sb.data.accommodation_types.items() if not at["archived"])
    truth = {t["language"]: t for t in sb.data.accommodation_types[rid]["translations"]}
    for header, lang in (("nl_NL", "nl"), ("de", "de"), ("en-GB", "en")):
        at = await _get(http, auth, f"accommodationtypes/{rid}", locale=header)
        assert at["name"] == truth[lang]["name"]
        assert at["description"] == truth[lang]["description"]
        assert at["translations"] == [truth[lang]]
    plain = await _get(http, auth, f"accommodationtypes/{rid}")
    assert len(plain["translations"]) == 3
    listed = await _get(
        http, auth, "accommodationtypes", [("filter", f"resourceId:[{rid}]")], locale="de_DE"
    )
    assert listed["content"][0]["name"] == truth["de"]["name"]


async def test_archived_only_with_header(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    archived = [r for r, at in sb.data.accommodation_types.items() if at["archived"]]
    total = len(sb.data.accommodation_types)
    page = await _get(http, auth, "accommodationtypes", {"size": "500"})
    assert page["totalElements"] == total - len(archived)
    page = await _get(
        http, auth, "accommodationtypes", {"size": "500"}, **{"x-show-archived": "true"}
    )
    assert page["totalElements"] == total
    async with http.get(f"{API}/accommodationtypes/{archived[0]}", headers=auth) as resp:
        assert resp.status == 404
    shown = await _get(
        http, auth, f"accommodationtypes/{archived[0]}", **{"x-show-archived": "true"}
    )
    assert shown["archived"] is True


async def test_availability_get_and_post_match_truth(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    first = sb.data.start_date
    last = first + dt.timedelta(days=6)
    rids = list(sb.data.accommodation_types)[:4]
    truth = []
    for rid in rids:
        for day in range(7):
            for duration in (3, 7):
                rec = sb.data.availability(
                    rid, first + dt.timedelta(days=day), duration, all_prices=True
                )
                if rec is not None:
                    truth.append(rec)
    params = [
        ("arrivalDateFrom", first.isoformat()),
        ("arrivalDateTo", last.isoformat()),
        ("duration", "3"),
        ("duration", "7"),
        ("includeAllPrices", "true"),
        ("resourceId", ",".join(map(str, rids))),
    ]
    got = await _get(http, auth, "accommodationtypes/availability", params)
    assert got == truth
    assert truth
    async with http.post(
        f"{API}/accommodationtypes/availability",
        headers=auth,
        json={
            "arrivalDateFrom": first.isoformat(),
            "arrivalDateTo": last.isoformat(),
            "duration": [3, 7],
            "resourceId": rids,
            "includeAllPrices": True,
        },
    ) as resp:
        assert await resp.json() == truth
    async with http.get(f"{API}/accommodationtypes/availability", headers=auth) as resp:
        assert resp.status == 400


async def test_search_and_arrival_range_limit(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    start = sb.data.start_date.isoformat()
    async with http.post(
        f"{API}/accommodationtypes/search",
        headers=auth,
        json={
            "distributionChannelId": 1,
            "arrivalDate": start,
            "filterOptions": ["locations"],
        },
    ) as resp:
        body = await resp.json()
    prices = [r["price"] for r in body["result"]]
    assert prices == sorted(prices)
    assert sum(o["count"] for o in body["filterOptions"]["locations"]) == len(prices)
    async with http.post(
        f"{API}/accommodationtypes/search", headers=auth, json={"arrivalDate": start}
    ) as resp:
        assert resp.status == 400
    url = f"{API}/accommodationtypes/arrivalrangesearch"
    for days, status in ((30, 200), (31, 400)):
        async with http.post(
            url,
            headers=auth,
            json={
                "distributionChannelId": 1,
                "arrivalDateFrom": start,
                "numberOfDaysInResult": days,
            },
        ) as resp:
            assert resp.status == status
