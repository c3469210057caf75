"""The filter grammar (guide, "Filtering") rendered as pure functions."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from maxxton_async import F, Filter, chunk_ids
from maxxton_async._filters import build_query, render_value, sort_params


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (F("x") == "v", "x::v"),
        (F("x").contains("v"), "x:v"),
        (F("x") != "v", "x!:v"),
        (F("x") > 3, "x>3"),
        (F("x") >= 3, "x>:3"),
        (F("x") < 3, "x<3"),
        (F("x") <= 3, "x<:3"),
        (F("x").in_([1, 2, 3]), "x:[1,2,3]"),
    ],
)
def test_every_operator(flt: Filter, expected: str) -> None:
    assert flt.params() == [expected]


def test_or_joins_inside_one_filter_and_and_repeats() -> None:
    assert ((F("a") == 1) | (F("b") == 2)).params() == ["a::1||b::2"]
    assert ((F("a") == 1) & (F("b") == 2)).params() == ["a::1", "b::2"]
    assert (((F("a") == 1) | (F("b") == 2)) & (F("c") > 0)).params() == ["a::1||b::2", "c>0"]


def test_or_of_ands_cannot_be_expressed() -> None:
    with pytest.raises(ValueError, match="OR of AND"):
        ((F("a") == 1) & (F("b") == 2)) | (F("c") == 3)


class Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (True, "true"),
        (False, "false"),
        (date(2026, 7, 1), "2026-07-01"),
        (datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))), "2026-07-01T10:00:00Z"),
        (Decimal("1.50"), "1.50"),
        (2.5, "2.5"),
        (Colour.RED, "red"),
        ("Jansen", "Jansen"),
    ],
)
def test_values_render_as_the_grammar_carries_them(value: object, rendered: str) -> None:
    assert render_value(value) == rendered


@pytest.mark.parametrize(
    "value",
    [
        "a||b",
        "a|b",
        "",
        ":x",
        ">x",
        "line\nbreak",
        None,
        [1],
        {"a": 1},
        float("nan"),
        datetime(2026, 1, 1),
    ],
)
def test_values_the_grammar_cannot_carry_raise_naming_them(value: object) -> None:
    with pytest.raises(ValueError, match="filter value"):
        F("x") == value  # noqa: B015


def test_list_values_cannot_hold_commas() -> None:
    with pytest.raises(ValueError, match="','"):
        F("x").in_(["a,b"])
    with pytest.raises(ValueError, match="at least one"):
        F("x").in_([])


def test_field_names_are_checked() -> None:
    with pytest.raises(ValueError, match="field name"):
        F("name:bob")
    # Guide, Filtering: "any non-nested field" -- a dotted name is refused, not sent.
    with pytest.raises(ValueError, match="nested"):
        F("mailAddress.city")
    with pytest.raises(ValueError, match="nested"):
        build_query(filter="lastName:Jansen||mailAddress.city::Ede")
    assert build_query(filter="name:Bob||age=30") == [("filter", "name:Bob||age=30")]


def test_raw_strings_pass_through() -> None:
    assert build_query(filter="name:bob||age>30") == [("filter", "name:bob||age>30")]
    assert build_query(filter=["a:1", F("b") == 2]) == [("filter", "a:1"), ("filter", "b::2")]


def test_sort() -> None:
    assert sort_params("a,asc") == ["a,asc"]
    assert sort_params(["a", "b,desc"]) == ["a", "b,desc"]
    with pytest.raises(ValueError, match="sort"):
        sort_params("a,sideways")


def test_build_query_flattens_and_drops_none() -> None:
    got = build_query({"a": [1, 2], "b": None, "c": True, "d": date(2026, 1, 2)})
    assert got == [("a", "1"), ("a", "2"), ("c", "true"), ("d", "2026-01-02")]


def test_chunk_ids_bounds_the_length_and_keeps_everything_once() -> None:
    ids = [*range(100_000, 101_000), 100_000]
    chunks = list(chunk_ids(ids, field="reservationId", max_chars=200))
    flat = [i for chunk, _ in chunks for i in chunk]
    assert flat == list(range(100_000, 101_000))
    for chunk, flt in chunks:
        (param,) = flt.params()
        assert len(param) <= 200
        assert param == "reservationId:[" + ",".join(map(str, chunk)) + "]"
    assert len(chunks) > 1


def test_chunk_ids_max_ids() -> None:
    chunks = list(chunk_ids(range(10), field="id", max_ids=3))
    assert [c for c, _ in chunks] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_naive_datetime_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="naive"):
        render_value(datetime(2026, 1, 1))
    assert render_value(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
