"""The list grammar: ``filter``, ``sort``, ``page`` and ``size`` over a list of records.

The rules are the guide's (Filtering, Pagination, Sorting); what the guide leaves open is decided
here, in one place:

* ``:`` "contains" is case-insensitive for strings; for numbers, booleans and dates it means
  equality. ``field:[a,b]`` (list form) means "is one of"; ``field!:[a,b]`` "is none of".
* ``::`` is exact, case-sensitive; ``!:`` is "not strictly equal" (a null value is not equal).
* ``>``, ``>:``, ``<``, ``<:`` compare numbers as numbers and dates/date-times as dates (a date
  compared with a date-time field means midnight UTC of that day). Nulls never match them.
* ``||`` ORs the clauses of one ``filter``; repeating ``filter`` ANDs them.
* ``sort=f`` / ``sort=f,desc``; ``sort=a,b,desc`` sorts on both (Spring's form); ``sort`` may
  repeat. Nulls sort last. An unknown field, a malformed clause or a value of the wrong type is a
  :class:`QueryError` (the app answers 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "FieldKind",
    "Page",
    "QueryError",
    "build_predicate",
    "infer_schema",
    "page_params",
    "paginate",
    "parse_sort",
    "sort_records",
]

Record = dict[str, Any]
FieldKind = Literal["int", "float", "bool", "str", "date", "datetime", "other"]
Predicate = Callable[[Record], bool]

_CLAUSE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(::|!:|>:|<:|:|>|<)\s*(.*?)\s*$", re.S)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


class QueryError(ValueError):
    """A ``filter``/``sort``/``page``/``size`` value the sandbox cannot apply (answered 400)."""


def infer_schema(records: Sequence[Record]) -> dict[str, FieldKind]:
    """The kind of every top-level field, from the first non-null value seen.

    Nested objects and arrays are ``"other"``: the guide filters "any non-nested field".
    """
    schema: dict[str, FieldKind] = {}
    pending: set[str] = set()
    for rec in records:
        for key, value in rec.items():
            if key in schema and key not in pending:
                continue
            kind = _kind_of(value)
            # A field null everywhere so far: ids are numbers (``oldEntityId``), else text.
            fallback: FieldKind = "int" if key.endswith("Id") else "str"
            schema[key] = kind if kind is not None else schema.get(key, fallback)
            if kind is None:
                pending.add(key)
            else:
                pending.discard(key)
        if not pending and len(schema) >= len(rec):
            break
    return schema


def _kind_of(value: object) -> FieldKind | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        if _DATE.match(value):
            return "date"
        if _DATETIME.match(value):
            return "datetime"
        return "str"
    return "other"


def _convert(kind: FieldKind, raw: str, field: str) -> Any:
    """The filter value as the field's type, so comparisons are typed (numbers, dates)."""
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            low = raw.lower()
            if low not in ("true", "false"):
                raise ValueError(raw)
            return low == "true"
        if kind == "date":
            if not _DATE.match(raw):
                raise ValueError(raw)
            return raw
        if kind == "datetime":
            return _normalise_datetime(raw)
    except ValueError:
        raise QueryError(f"Invalid value {raw!r} for field {field!r} ({kind})") from None
    return raw


def _normalise_datetime(raw: str) -> str:
    # Date-times are stored as YYYY-MM-DDThh:mm:ssZ, which sort lexicographically; a bare date
    # means that day (reference preamble), i.e. midnight UTC.
    if _DATE.match(raw):
        return raw + "T00:00:00Z"
    if not _DATETIME.match(raw):
        raise ValueError(raw)
    core = raw[:19] if len(raw) >= 19 else raw[:16] + ":00"
    return core + "Z"


def _values(raw: str) -> list[str] | None:
    """The items of the list form ``[a,b,c]``, or ``None`` when ``raw`` is a single value."""
    if len(raw) >= 2 and raw[0] == "[" and raw[-1] == "]":
        return [v.strip() for v in raw[1:-1].split(",") if v.strip()]
    return None


def _clause(expr: str, schema: Mapping[str, FieldKind]) -> Predicate:
    match = _CLAUSE.match(expr)
    if match is None:
        raise QueryError(f"Invalid filter clause {expr!r}")
    field, op, raw = match.group(1), match.group(2), match.group(3)
    kind = schema.get(field)
    if kind is None:
        raise QueryError(f"Unknown filter field {field!r}")
    if kind == "other":
        raise QueryError(f"Field {field!r} is nested and cannot be filtered")
    listed = _values(raw)
    if listed is not None:
        if op not in (":", "::", "!:"):
            raise QueryError(f"Operator {op!r} does not take a list")
        members = frozenset(
            v.lower() if kind == "str" and op == ":" else _convert(kind, v, field) for v in listed
        )
        if op == "!:":
            return lambda r: r.get(field) not in members
        if kind == "str" and op == ":":
            return lambda r: isinstance(v := r.get(field), str) and v.lower() in members
        return lambda r: r.get(field) in members
    if op == ":" and kind == "str":
        needle = raw.lower()
        return lambda r: isinstance(v := r.get(field), str) and needle in v.lower()
    if op == ":" and kind == "datetime" and _DATE.match(raw):
        day = raw  # "contains" a bare date: any time on that day
        return lambda r: isinstance(v := r.get(field), str) and v.startswith(day)
    value = _convert(kind, raw, field)
    if op in (":", "::"):
        return lambda r: r.get(field) == value
    if op == "!:":
        return lambda r: r.get(field) != value
    if kind in ("bool", "str"):
        raise QueryError(f"Operator {op!r} needs a number or a date, field {field!r} is {kind}")
    # Dates and date-times are stored in one ISO format each, which orders like the dates, so
    # the typed comparison is a string comparison of normalised values.
    return _ordered(field, op, value)


def _ordered(field: str, op: str, value: Any) -> Predicate:
    if op == ">":
        return lambda r: (v := r.get(field)) is not None and v > value
    if op == ">:":
        return lambda r: (v := r.get(field)) is not None and v >= value
    if op == "<":
        return lambda r: (v := r.get(field)) is not None and v < value
    return lambda r: (v := r.get(field)) is not None and v <= value


def build_predicate(filters: Sequence[str], schema: Mapping[str, FieldKind]) -> Predicate | None:
    """One predicate for all ``filter`` values: AND across values, OR (``||``) within one.

    Returns ``None`` when there is nothing to filter (the caller can skip the scan).
    """
    groups: list[list[Predicate]] = []
    for value in filters:
        if not value.strip():
            continue
        ors = [_clause(part, schema) for part in value.split("||")]
        groups.append(ors)
    if not groups:
        return None
    if len(groups) == 1 and len(groups[0]) == 1:
        return groups[0][0]

    def predicate(r: Record) -> bool:
        return all(any(p(r) for p in ors) for ors in groups)

    return predicate


def parse_sort(values: Sequence[str], schema: Mapping[str, FieldKind]) -> list[tuple[str, bool]]:
    """``sort`` values as ``[(field, descending), ...]`` in priority order."""
    keys: list[tuple[str, bool]] = []
    for value in values:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts:
            continue
        desc = False
        if parts[-1].lower() in ("asc", "desc"):
            desc = parts.pop().lower() == "desc"
        if not parts:
            raise QueryError(f"Invalid sort {value!r}")
        for field in parts:
            if schema.get(field) in (None, "other"):
                raise QueryError(f"No sortable property {field!r}")
            keys.append((field, desc))
    return keys


def sort_records(records: list[Record], keys: Sequence[tuple[str, bool]]) -> list[Record]:
    """``records`` sorted by ``keys`` (stable; nulls last in either direction)."""
    out = list(records)
    for field, desc in reversed(keys):
        present = [r for r in out if r.get(field) is not None]
        missing = [r for r in out if r.get(field) is None]
        present.sort(key=lambda r: r[field], reverse=desc)
        out = present + missing
    return out


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, ready to become the Spring envelope (:meth:`envelope`)."""

    content: list[Record]
    number: int
    size: int
    total_elements: int
    sorted: bool

    def envelope(self) -> Record:
        """The page envelope of the guide (Pagination) with ``sort`` as an object (contract)."""
        total_pages = -(-self.total_elements // self.size) if self.size else 0
        return {
            "content": self.content,
            "number": self.number,
            "size": self.size,
            "numberOfElements": len(self.content),
            "totalElements": self.total_elements,
            "totalPages": total_pages,
            "first": self.number == 0,
            "last": self.number >= total_pages - 1,
            "empty": not self.content,
            "sort": {"sorted": self.sorted, "unsorted": not self.sorted, "empty": not self.sorted},
        }


def page_params(page: str | None, size: str | None, max_size: int) -> tuple[int, int]:
    """``(page, size)`` from the query: defaults 0 and 20 (guide, Pagination); size capped."""
    try:
        number = int(page) if page not in (None, "") else 0
        count = int(size) if size not in (None, "") else 20
    except ValueError:
        raise QueryError("page and size must be integers") from None
    number = max(number, 0)
    if count < 1:
        count = 20
    return number, min(count, max_size)


def paginate(records: Sequence[Record], number: int, size: int, sorted_: bool) -> Page:
    """The ``number``-th page of ``size`` records."""
    start = number * size
    return Page(list(records[start : start + size]), number, size, len(records), sorted_)
