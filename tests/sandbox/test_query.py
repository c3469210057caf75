"""The filter / sort / page grammar, as pure functions and through the HTTP API."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from maxxton_async.sandbox import Sandbox
from maxxton_async.sandbox._query import (
    QueryError,
    build_predicate,
    infer_schema,
    page_params,
    paginate,
    parse_sort,
    sort_records,
)

from .conftest import API

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Bob",
        "age": 30,
        "born": "1990-05-01",
        "at": "2026-01-01T10:00:00Z",
        "ok": True,
        "score": 1.5,
    },
    {
        "id": 2,
        "name": "bobby",
        "age": 25,
        "born": "1995-01-01",
        "at": "2026-01-02T09:00:00Z",
        "ok": False,
        "score": 2.5,
    },
    {
        "id": 3,
        "name": "Alice",
        "age": 41,
        "born": "1980-12-31",
        "at": "2025-12-31T23:59:59Z",
        "ok": True,
        "score": None,
    },
    {
        "id": 4,
        "name": None,
        "age": 30,
        "born": "2000-02-29",
        "at": "2026-01-01T00:00:00Z",
        "ok": False,
        "score": 0.5,
    },
]
SCHEMA = infer_schema(ROWS)


def ids(filters: list[str]) -> list[int]:
    pred = build_predicate(filters, SCHEMA)
    assert pred is not None
    return [r["id"] for r in ROWS if pred(r)]


def test_schema_kinds() -> None:
    assert SCHEMA == {
        "id": "int",
        "name": "str",
        "age": "int",
        "born": "date",
        "at": "datetime",
        "ok": "bool",
        "score": "float",
    }


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("name:bob", [1, 2]),  # contains, case-insensitive
        ("name:OB", [1, 2]),
        ("name::Bob", [1]),  # strict equals, case-sensitive
        ("name::bob", []),
        ("name!:Bob", [2, 3, 4]),  # not equal (null is not equal)
        ("age>30", [3]),
        ("age>:30", [1, 3, 4]),
        ("age<30", [2]),
        ("age<:30", [1, 2, 4]),
        ("age <: 30", [1, 2, 4]),  # the guide's own example has spaces
        ("age:30", [1, 4]),  # contains on a number is equality
        ("age!:30", [2, 3]),
        ("born>1990-05-01", [2, 4]),  # dates compare as dates
        ("born<:1990-05-01", [1, 3]),
        ("at>2026-01-01", [1, 2]),  # a date against a date-time means midnight UTC
        ("at>:2026-01-01", [1, 2, 4]),
        ("at<2026-01-01T10:00:00Z", [3, 4]),
        ("at:2026-01-01", [1, 4]),  # contains a day
        ("ok:true", [1, 3]),
        ("ok::false", [2, 4]),
        ("score>1", [1, 2]),  # nulls never match an ordering
        ("id:[1,3]", [1, 3]),  # list form
        ("id::[2, 4]", [2, 4]),
        ("id!:[1,2,3]", [4]),
        ("name:[alice,BOB]", [1, 3]),  # list with contains-semantics: case-insensitive equality
        ("name:bob||age>40", [1, 2, 3]),  # OR inside one filter
        ("age>100||id:[4]", [4]),
    ],
)
def test_operator(expr: str, expected: list[int]) -> None:
    assert ids([expr]) == expected


def test_repeated_filters_and() -> None:
    assert ids(["name:bob", "age<30"]) == [2]
    assert ids(["age:30", "ok:true||id:[4]"]) == [1, 4]


def test_ordering_by_numbers_not_strings() -> None:
    rows = [{"n": 9}, {"n": 10}, {"n": 100}]
    pred = build_predicate(["n>9"], infer_schema(rows))
    assert pred is not None
    assert [r["n"] for r in rows if pred(r)] == [10, 100]


@pytest.mark.parametrize(
    "expr",
    ["nosuch:1", "age>abc", "name>bob", "born>yesterday", "age", "age>[1,2]", "ok:maybe", "=x"],
)
def test_bad_filters_raise(expr: str) -> None:
    with pytest.raises(QueryError):
        build_predicate([expr], SCHEMA)


def test_no_filter_is_none() -> None:
    assert build_predicate([], SCHEMA) is None
    assert build_predicate([""], SCHEMA) is None


def test_sort() -> None:
    keys = parse_sort(["age,desc", "id"], SCHEMA)
    assert keys == [("age", True), ("id", False)]
    assert [r["id"] for r in sort_records(ROWS, keys)] == [3, 1, 4, 2]
    assert [r["id"] for r in sort_records(ROWS, parse_sort(["age,id,desc"], SCHEMA))] == [
        3,
        4,
        1,
        2,
    ]
    # nulls last in both directions
    assert [r["id"] for r in sort_records(ROWS, parse_sort(["name"], SCHEMA))][-1] == 4
    assert [r["id"] for r in sort_records(ROWS, parse_sort(["name,desc"], SCHEMA))][-1] == 4
    with pytest.raises(QueryError):
        parse_sort(["nosuch,asc"], SCHEMA)


def test_page_params_and_envelope() -> None:
    assert page_params(None, None, 2000) == (0, 20)  # guide, Pagination defaults
    assert page_params("2", "5000", 2000) == (2, 2000)  # capped
    with pytest.raises(QueryError):
        page_params("x", "1", 10)
    env = paginate(ROWS, 1, 3, False).envelope()
    assert env["content"] == ROWS[3:]
    assert (env["number"], env["size"], env["numberOfElements"]) == (1, 3, 1)
    assert (env["totalElements"], env["totalPages"], env["first"], env["last"]) == (
        4,
        2,
        False,
        True,
    )
    assert env["sort"] == {"sorted": False, "unsorted": True, "empty": True}


async def _page(
    http: aiohttp.ClientSession, auth: dict[str, str], path: str, params: list[tuple[str, str]]
) -> dict[str, Any]:
    async with http.get(f"{API}/{path}", params=params, headers=auth) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def test_http_filters_match_truth(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    truth = sorted(
        c["customerId"]
        for c in sb.data.customers.values()
        if "jans" in c["lastName"].lower() and c["birthDate"] >= "1970-01-01"
    )
    body = await _page(
        http,
        auth,
        "customers",
        [
            ("filter", "lastName:JANS"),
            ("filter", "birthDate>:1970-01-01"),
            ("size", "2000"),
        ],
    )
    assert [c["customerId"] for c in body["content"]] == truth
    assert body["totalElements"] == len(truth) > 0


async def test_http_or_list_and_sort(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    wanted = list(sb.data.reservations)[:5]
    body = await _page(
        http,
        auth,
        "reservations",
        [
            ("filter", "reservationId:[" + ",".join(map(str, wanted)) + "]||totalPrice>1000000"),
            ("sort", "totalPrice,desc"),
        ],
    )
    got = [r["reservationId"] for r in body["content"]]
    by_price = sorted(wanted, key=lambda i: -sb.data.reservations[i]["totalPrice"])
    assert got == by_price
    assert body["sort"]["sorted"] is True


async def test_http_paging_cap_and_last_page(
    sb: Sandbox, http: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    sb.state.max_page_size = 100
    total = len(sb.data.customers)
    body = await _page(http, auth, "customers", [("size", "500")])
    assert body["size"] == 100  # the envelope reports the size really used
    assert body["numberOfElements"] == 100
    assert body["totalPages"] == -(-total // 100)
    last = await _page(
        http, auth, "customers", [("size", "500"), ("page", str(body["totalPages"] - 1))]
    )
    assert last["last"] is True
    assert last["first"] is False
    assert last["numberOfElements"] == total - 100 * (body["totalPages"] - 1)
    beyond = await _page(http, auth, "customers", [("page", "999")])
    assert beyond["empty"] is True
    assert beyond["content"] == []
    default = await _page(http, auth, "customers", [])
    assert default["size"] == 20
    assert default["number"] == 0


async def test_http_bad_filter_is_400(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    async with http.get(f"{API}/customers", params={"filter": "nosuch:1"}, headers=auth) as resp:
        assert resp.status == 400
        body = await resp.json()
        assert body["status"] == 400
        assert "nosuch" in body["message"]
        assert body["path"] == f"{API}/customers"


async def test_http_empty_lists(http: aiohttp.ClientSession, auth: dict[str, str]) -> None:
    # reservations and distribution channels: 204, no body (docs/wire-contract.md);
    # others: an empty page.
    for path in ("reservations", "distributionchannels"):
        async with http.get(
            f"{API}/{path}",
            params={
                "filter": "code::nothing" if path == "distributionchannels" else "reservationId:[1]"
            },
            headers=auth,
        ) as resp:
            assert resp.status == 204
            assert await resp.read() == b""
    async with http.get(
        f"{API}/customers", params={"filter": "customerId:[1]"}, headers=auth
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["empty"] is True
