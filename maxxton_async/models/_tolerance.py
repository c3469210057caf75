"""Tolerant decoding: a guessed part that does not fit never makes a documented record unreadable.

Much of what the SDK decodes is not documented publicly: the event fields besides the four the
guide names, availability ``units`` and price items, payment answers (docs/wire-contract.md
lists them). Each model names those attributes in ``__guessed__``. When msgspec's strict decode
of a body fails, :func:`recover` decodes it record by record:

* a record whose failing value sits in a guessed attribute with a default is **delivered**: the
  attribute keeps its default and the raw JSON goes to :attr:`Tolerant.undecoded`;
* a record whose failing value is a *required* guessed attribute (missing or unusable: an event
  without ``eventType``) is **set aside** with its raw bytes (:class:`SetAside`; a page lists
  them in :attr:`Page.set_aside`);
* a documented field that does not fit still fails the whole body, as before
  (``ResponseDecodeError``): documented fields stay strictly typed.

Either way the page, harvest chunk or event batch goes on, and every affected record is counted,
with the reason, in the process-wide :func:`decode_report` and in every report opened with
:func:`track_decoding` around the code that decoded it. The fast path is untouched: this module
only runs after a strict decode failed.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

import msgspec

from ._base import Model, SetAside, Tolerant
from ._page import Page

__all__ = ["DecodeIssue", "DecodeReport", "decode_report", "recover", "track_decoding"]

logger = logging.getLogger("maxxton_async.decode")

#: Issues kept in full (with raw bytes) per report; the counters keep counting past it.
MAX_KEPT_ISSUES = 100


@dataclass(frozen=True, slots=True)
class DecodeIssue:
    """One record that did not decode strictly.

    Attributes:
        model: the record's type name, e.g. ``"Event"``.
        field: the wire name of the part that did not fit, e.g. ``"units"``.
        reason: msgspec's message (with the JSON path inside the record).
        set_aside: ``True`` if the record was not delivered, ``False`` if it was delivered
            with ``field`` kept raw in ``undecoded``.
        raw: the record's raw JSON.
    """

    model: str
    field: str | None
    reason: str
    set_aside: bool
    raw: bytes

    @property
    def key(self) -> str:
        """What the counters group by: ``"Event.eventType: <reason>"``."""
        return f"{self.model}.{self.field}: {self.reason}"


@dataclass(slots=True)
class DecodeReport:
    """How many records did not decode strictly, and why.

    Attributes:
        repaired: records delivered with a guessed part kept raw.
        set_aside: records not delivered (a required guessed part unusable).
        reasons: count per :attr:`DecodeIssue.key`.
        issues: the first :data:`MAX_KEPT_ISSUES` issues, raw bytes included.
    """

    repaired: int = 0
    set_aside: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    issues: list[DecodeIssue] = field(default_factory=list)

    @property
    def affected(self) -> int:
        """Records repaired or set aside."""
        return self.repaired + self.set_aside

    def add(self, issue: DecodeIssue) -> None:
        """Count ``issue`` (and keep it while fewer than :data:`MAX_KEPT_ISSUES` are kept)."""
        if issue.set_aside:
            self.set_aside += 1
        else:
            self.repaired += 1
        self.reasons[issue.key] += 1
        if len(self.issues) < MAX_KEPT_ISSUES:
            self.issues.append(issue)


_GLOBAL = DecodeReport()
_TRACKING: contextvars.ContextVar[tuple[DecodeReport, ...]] = contextvars.ContextVar(
    "maxxton_async_decode_reports", default=()
)


def decode_report() -> DecodeReport:
    """The process-wide report: every record repaired or set aside since import."""
    return _GLOBAL


@contextlib.contextmanager
def track_decoding() -> Iterator[DecodeReport]:
    """Count the records repaired or set aside by decoding done inside the block::

        with track_decoding() as report:
            records = await harvest.collect()
        print(report.repaired, report.set_aside, report.reasons)

    Tasks started inside the block report to it too (they inherit the context).
    """
    report = DecodeReport()
    token = _TRACKING.set((*_TRACKING.get(), report))
    try:
        yield report
    finally:
        _TRACKING.reset(token)


def _record(issue: DecodeIssue) -> None:
    first = issue.key not in _GLOBAL.reasons
    _GLOBAL.add(issue)
    for report in _TRACKING.get():
        report.add(issue)
    # Once per distinct reason at WARNING: a server that changed one guessed shape would
    # otherwise log once per record of a million-record harvest.
    logger.log(
        logging.WARNING if first else logging.DEBUG,
        "%s record %s: %s",
        issue.model,
        "set aside" if issue.set_aside else f"delivered with {issue.field!r} raw",
        issue.reason,
    )


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Model)


@functools.cache
def _strict(tp: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(tp)


@functools.cache
def _fields(tp: type[Model]) -> dict[str, msgspec.structs.FieldInfo]:
    return {f.encode_name: f for f in msgspec.structs.fields(tp)}


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`\Z")
_KEY = re.compile(r"\.(?P<key>[^.\[]+)")
_MISSING = re.compile(r"missing required field `(?P<key>[^`]+)`")


def _top_key(message: str) -> tuple[str | None, bool]:
    """The record's top-level wire name a msgspec message points at, and whether the value is
    missing (rather than present and wrong)."""
    at = _AT.search(message)
    path = at.group("path") if at else ""
    if path:
        key = _KEY.match(path)
        return (key.group("key") if key else None), False
    missing = _MISSING.search(message)
    return (missing.group("key") if missing else None), True


def _relocate(message: str, prefix: str) -> str:
    """Move a record-level message under its place in the body (``$[3]``, ``$.content[3]``)."""
    at = _AT.search(message)
    if at is None:
        return f"{message} - at `{prefix}`"
    return f"{message[: at.start()]} - at `{prefix}{at.group('path')}`"


def _one(tp: type[Model], raw: bytes, where: str) -> Model | SetAside:
    raw = bytes(raw)
    """Decode one record tolerantly; raises ``ValidationError`` for a documented failure."""
    try:
        result: Model = _strict(tp).decode(raw)
        return result
    except msgspec.ValidationError as exc:
        error = exc
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:  # cannot happen: the body as a whole was valid JSON
        raise msgspec.ValidationError(_relocate(str(error), where)) from None
    fields = _fields(tp)
    undecoded: dict[str, msgspec.Raw] = {}
    reasons: list[str] = []
    for _ in range(len(fields) + 1):
        message = str(error)
        key, missing = _top_key(message)
        info = fields.get(key) if key is not None else None
        guessed = tp.__guessed__ if issubclass(tp, Tolerant) else frozenset()
        if not isinstance(obj, dict) or info is None or info.name not in guessed:
            # A documented field (or the record's own shape): strictly typed, so the body fails.
            raise msgspec.ValidationError(_relocate(message, where)) from None
        reasons.append(message)
        if missing or info.required:
            _record(DecodeIssue(tp.__name__, key, "; ".join(reasons), True, raw))
            return SetAside(model=tp.__name__, reason=message, raw=msgspec.Raw(raw))
        assert key is not None
        undecoded[key] = msgspec.Raw(msgspec.json.encode(obj.pop(key)))
        try:
            record: Model = _strict(tp).decode(msgspec.json.encode(obj))
        except msgspec.ValidationError as exc:
            error = exc
            continue
        assert isinstance(record, Tolerant)
        record.undecoded = undecoded
        _record(DecodeIssue(tp.__name__, ",".join(undecoded), "; ".join(reasons), False, raw))
        return record
    raise msgspec.ValidationError(_relocate(str(error), where))  # pragma: no cover


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def recover(tp: Any, data: bytes | bytearray | memoryview | str, error: Exception) -> Any:
    """Decode ``data`` as ``tp`` record by record after the strict decode raised ``error``.

    Handles a model, ``list[Model]`` and ``Page[Model]``; anything else (and an envelope that
    does not fit) re-raises ``error``. See the module docstring for what happens per record.
    """
    body = _as_bytes(data)
    origin, args = get_origin(tp), get_args(tp)
    if _is_model(tp):
        one = _one(tp, body, "$")
        if isinstance(one, SetAside):
            raise error  # a single record set aside leaves nothing to return
        return one
    if origin is list and len(args) == 1 and _is_model(args[0]):
        try:
            items = _strict(list[msgspec.Raw]).decode(body)
        except msgspec.ValidationError:
            raise error from None
        out: list[Any] = []
        for index, raw in enumerate(items):
            item = _one(args[0], raw, f"$[{index}]")
            if not isinstance(item, SetAside):
                out.append(item)
        return out
    if isinstance(origin, type) and issubclass(origin, Page) and len(args) == 1:
        if not _is_model(args[0]):
            raise error
        try:
            page: Page[Any] = _strict(Page[msgspec.Raw]).decode(body)
        except msgspec.ValidationError:
            raise error from None
        content: list[Any] = []
        aside: list[SetAside] = []
        for index, raw in enumerate(page.content):
            item = _one(args[0], raw, f"$.content[{index}]")
            if isinstance(item, SetAside):
                aside.append(item)
            else:
                content.append(item)
        return msgspec.structs.replace(page, content=content, set_aside=aside)
    raise error
