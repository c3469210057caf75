"""The filter and sort grammar of Maxxton list endpoints, as pure functions.

Guide, "Filtering": ``filter=name:bob`` (contains), ``::`` (strict equals), ``!:``, ``>``,
``>:``, ``<``, ``<:``; ``||`` ORs conditions inside one ``filter``; repeating ``filter``
ANDs them; a list is written ``field:[1,2,3]`` (guide, Event Flow). Only non-nested fields can
be filtered ("you can filter on any non-nested field in the output", guide, Filtering), so a
dotted name such as ``mailAddress.city`` is refused before anything is sent. Guide, "Sorting":
``sort=field,asc|desc``.

>>> (F("lastName") == "Jansen").params()
['lastName::Jansen']
>>> ((F("age") > 30) | F("name").contains("bob")).params()
['age>30||name:bob']
>>> ((F("age") >= 30) & (F("status") != 12)).params()
['age>:30', 'status!:12']
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeAlias

__all__ = [
    "F",
    "Filter",
    "FilterLike",
    "Params",
    "SortLike",
    "build_query",
    "chunk_ids",
    "render_value",
    "sort_params",
]

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The field name at the start of one hand-written condition (before its operator).
_RAW_FIELD = re.compile(r"\s*([A-Za-z0-9_.]+)\s*(?:::|!:|>:|<:|:|>|<|=)")
# Characters that would change how the server splits a condition: the OR separator, the
# list brackets, and operator characters at the start of a value ("x::" + ":y" reads as
# "x:::y", which a server may split either way).
_FORBIDDEN_ANYWHERE = ("|", "\r", "\n", "\x00")
_FORBIDDEN_LEADING = (":", "<", ">", "!", "[")
_LIST_FORBIDDEN = (",", "[", "]")

Scalar: TypeAlias = str | int | float | bool | Decimal | date | datetime | enum.Enum


def render_value(value: object) -> str:
    """Render one filter value as the grammar carries it, or raise ``ValueError``.

    Booleans become ``true``/``false``, dates ISO ``YYYY-MM-DD``, date-times ISO in UTC
    (the reference's preamble: date-time values are UTC), enums their value.
    """
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"filter value {value!r} is a naive datetime; Maxxton date-times are UTC, "
                "pass an aware datetime"
            )
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"filter value {value!r} cannot be carried by the filter grammar")
        return repr(value)
    if isinstance(value, str):
        if value == "":
            raise ValueError("filter value '' (empty string) cannot be carried by the grammar")
        for bad in _FORBIDDEN_ANYWHERE:
            if bad in value:
                raise ValueError(
                    f"filter value {value!r} contains {bad!r}, which the filter grammar "
                    "cannot carry ('|' separates OR conditions)"
                )
        if value.startswith(_FORBIDDEN_LEADING):
            raise ValueError(
                f"filter value {value!r} starts with {value[0]!r}, which would be read as "
                "part of the operator"
            )
        return value
    raise ValueError(
        f"filter value {value!r} of type {type(value).__name__} cannot be carried by the "
        "filter grammar (use str, int, float, Decimal, bool, date, datetime or an Enum)"
    )


@dataclass(frozen=True, slots=True)
class Filter:
    """A filter expression: AND of groups, each an OR of conditions.

    ``a | b`` ORs inside one ``filter`` parameter; ``a & b`` ANDs as repeated parameters.
    An OR of ANDs cannot be expressed in the grammar and raises ``ValueError``.
    """

    groups: tuple[tuple[str, ...], ...]

    @classmethod
    def raw(cls, text: str) -> Filter:
        """A filter written by hand, e.g. ``"name:bob||age>30"`` (passed through, except that
        a condition on a nested field is refused, as for :class:`F`)."""
        if not text or "\n" in text or "\r" in text:
            raise ValueError(f"raw filter {text!r} is empty or spans lines")
        for condition in text.split("||"):
            match = _RAW_FIELD.match(condition)
            if match is not None and "." in match.group(1):
                raise ValueError(_nested(match.group(1)))
        return cls(((text,),))

    def __or__(self, other: object) -> Filter:
        other = _coerce(other)
        if len(self.groups) != 1 or len(other.groups) != 1:
            raise ValueError(
                "an OR of AND-ed filters cannot be expressed: Maxxton ORs only inside one "
                "'filter' parameter"
            )
        return Filter((self.groups[0] + other.groups[0],))

    def __and__(self, other: object) -> Filter:
        return Filter(self.groups + _coerce(other).groups)

    def params(self) -> list[str]:
        """The values of the ``filter`` query parameters, one per AND-ed group."""
        return ["||".join(group) for group in self.groups]

    def __str__(self) -> str:
        return "&".join(f"filter={p}" for p in self.params())


def _nested(name: str) -> str:
    return (
        f"field {name!r} is nested: Maxxton filters only non-nested fields of the output "
        "(guide, Filtering); filter on a top-level field, or filter the records yourself"
    )


def _coerce(value: object) -> Filter:
    if isinstance(value, Filter):
        return value
    if isinstance(value, str):
        return Filter.raw(value)
    raise TypeError(f"cannot combine a Filter with {type(value).__name__}")


class F:
    """A filterable field: compare it to build a :class:`Filter`.

    ``F("x") == v`` → ``x::v`` (strict equals); ``F("x").contains(v)`` → ``x:v``;
    ``!=``, ``>``, ``>=``, ``<``, ``<=`` → ``!:``, ``>``, ``>:``, ``<``, ``<:``;
    ``F("x").in_([1, 2])`` → ``x:[1,2]``.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if isinstance(name, str) and "." in name:
            raise ValueError(_nested(name))
        if not isinstance(name, str) or not _FIELD.match(name):
            raise ValueError(f"field name {name!r} is not a valid Maxxton field name")
        self.name = name

    def __repr__(self) -> str:
        return f"F({self.name!r})"

    def _op(self, op: str, value: object) -> Filter:
        return Filter(((f"{self.name}{op}{render_value(value)}",),))

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        return self._op("::", value)

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return self._op("!:", value)

    def __gt__(self, value: object) -> Filter:
        return self._op(">", value)

    def __ge__(self, value: object) -> Filter:
        return self._op(">:", value)

    def __lt__(self, value: object) -> Filter:
        return self._op("<", value)

    def __le__(self, value: object) -> Filter:
        return self._op("<:", value)

    __hash__ = None  # type: ignore[assignment]  # == builds a filter, so F is not hashable

    def contains(self, value: object) -> Filter:
        """``field:value``: the guide's "Equals", which matches when the field contains it."""
        return self._op(":", value)

    def in_(self, values: Iterable[object]) -> Filter:
        """``field:[v1,v2,…]``: any of the values (the guide's batch refresh form)."""
        rendered = [render_value(v) for v in values]
        if not rendered:
            raise ValueError(f"F({self.name!r}).in_() needs at least one value")
        for text in rendered:
            for bad in _LIST_FORBIDDEN:
                if bad in text:
                    raise ValueError(
                        f"list value {text!r} contains {bad!r}, which a filter list cannot carry"
                    )
        return Filter(((f"{self.name}:[{','.join(rendered)}]",),))


FilterLike: TypeAlias = Filter | str | Sequence[Filter | str]
SortLike: TypeAlias = str | Sequence[str]
Params: TypeAlias = Mapping[str, object] | Sequence[tuple[str, object]]

_SORT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(,(asc|desc|ASC|DESC))?\Z")


def sort_params(sort: SortLike) -> list[str]:
    """Validate ``sort`` (``"field,asc"`` or a list of them) and return the parameter values."""
    items = [sort] if isinstance(sort, str) else list(sort)
    for item in items:
        if not _SORT.match(item):
            raise ValueError(f"sort {item!r} is not 'field', 'field,asc' or 'field,desc'")
    return items


def filter_params(filter: FilterLike) -> list[str]:
    """The ``filter`` parameter values for a Filter, a raw string, or a list of them (ANDed)."""
    if isinstance(filter, Filter):
        return filter.params()
    if isinstance(filter, str):
        return Filter.raw(filter).params()
    out: list[str] = []
    for item in filter:
        out.extend(filter_params(item))
    return out


def _param_value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return render_value(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float | Decimal):
        return str(value)
    raise ValueError(f"query parameter {key}={value!r} has an unsupported type")


def build_query(
    params: Params | None = None,
    *,
    filter: FilterLike | None = None,
    sort: SortLike | None = None,
) -> list[tuple[str, str]]:
    """Flatten parameters into ``(name, value)`` pairs; lists repeat the name.

    ``None`` values are dropped, so optional arguments can be passed through as-is.
    """
    if not params and filter is None and sort is None:
        return []
    items = params.items() if isinstance(params, Mapping) else (params or ())
    out: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, Filter):
            out.extend((key, p) for p in value.params())
        elif isinstance(value, list | tuple | set | frozenset):
            out.extend((key, _param_value(key, v)) for v in value)
        else:
            out.append((key, _param_value(key, value)))
    if filter is not None:
        out.extend(("filter", p) for p in filter_params(filter))
    if sort is not None:
        out.extend(("sort", s) for s in sort_params(sort))
    return out


def chunk_ids(
    ids: Iterable[object], *, field: str, max_chars: int = 1500, max_ids: int = 200
) -> Iterator[tuple[list[object], Filter]]:
    """Split ``ids`` into ``field:[…]`` filters that keep each URL within a safe length.

    Yields ``(chunk, filter)``. ``max_chars`` bounds the rendered filter (before URL
    encoding; brackets and commas grow by 3x when encoded, which the default leaves room
    for under the common 8 KiB request-line limit). Duplicates are kept once, in order.
    """
    target = F(field)
    chunk: list[object] = []
    length = len(field) + 3
    seen: set[object] = set()
    for item in ids:
        if item in seen:
            continue
        seen.add(item)
        text = render_value(item)
        extra = len(text) + (1 if chunk else 0)
        if chunk and (length + extra > max_chars or len(chunk) >= max_ids):
            yield chunk, target.in_(chunk)
            chunk, length = [], len(field) + 3
            extra = len(text)
        chunk.append(item)
        length += extra
    if chunk:
        yield chunk, target.in_(chunk)
