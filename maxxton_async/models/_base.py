"""The shared struct configuration and the per-type decoder cache.

Conventions every model follows (and why):

* **camelCase on the wire**: Maxxton's JSON uses camelCase names (reference excerpt, every
  response example), so models are declared in snake_case with ``rename="camel"``.
* **Unknown fields are ignored**, msgspec's default: "any adjustments made to the REST API
  will also apply to the webhooks" (guide, Webhooks), so new server fields must not break
  decoding of old clients.
* **Optional fields default to ``None``** and mean "absent or null": the reference never
  distinguishes the two, and ``T | None = None`` reads better than ``UnsetType``.
  ``omit_defaults=True`` keeps request bodies free of ``null`` for fields left unset.
* **Enumerations are plain ``str``/``int`` fields** with ``StrEnum``/``IntEnum`` constants next
  to them: an enum-typed field would make a whole page fail to decode on the first value a
  newer server adds, and restricted fields such as ``gender`` can even hold the mask
  ``"****"`` (reference, Customers). ``StrEnum``/``IntEnum`` members compare equal to the
  raw values, so ``event.event_type == EventType.CUSTOMER_EVENT`` works.
* **Guessed parts are tolerated, documented ones are strict.** A model lists in
  ``__guessed__`` the attributes whose name or shape no public source documents
  (docs/wire-contract.md). When one of them does not fit, the record is still delivered, that
  part kept raw in :attr:`Tolerant.undecoded` (or, if the part is required, the record is set aside
  with its raw bytes); the page, harvest or event batch goes on, and every such record is
  counted in the :class:`~maxxton_async.models.DecodeReport` (see :mod:`._tolerance`). A
  documented field that does not fit is still a :class:`ResponseDecodeError`.
* **Dates** are :class:`datetime.date`; **date-times** are aware UTC :class:`datetime.datetime`
  ("The dates that are being entered along with time depicts the UTC time zone", reference
  preamble), normalised by :func:`utc` in ``__post_init__``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast

import msgspec

from .._errors import ResponseDecodeError

__all__ = ["Decoder", "Model", "SetAside", "Tolerant", "decode", "decoder_for", "encode", "utc"]

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()


class Model(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Base class of every camelCase Maxxton model.

    ``rename`` and ``omit_defaults`` are inherited; ``kw_only`` applies only to the fields of
    the class that sets it, so every subclass repeats ``kw_only=True``.
    """

    __guessed__: ClassVar[frozenset[str]] = frozenset()
    """Attributes whose name or shape is **inferred** (no public source documents them): a
    value that does not fit them is kept raw instead of failing the record. Only a
    :class:`Tolerant` model may list any."""


class Tolerant(Model, kw_only=True):
    """A model with guessed parts (``__guessed__``): it can be delivered with some kept raw.

    A separate base, so that the many small documented structs (prices, units, customers)
    do not carry the extra field: every field costs decoding time in a bulk harvest.
    """

    undecoded: dict[str, msgspec.Raw] | None = msgspec.field(default=None, name="$undecoded")
    """Guessed parts of this record that did not fit their type, by wire name, as the raw
    JSON the server sent (``msgspec.json.decode(record.undecoded["units"])``); ``None`` when
    everything decoded. The field is then left at its default. Never sent to the server."""


class SetAside(msgspec.Struct, frozen=True, gc=False):
    """A record that could not be delivered: a required guessed part is missing or does not
    fit (e.g. an event without ``eventType``). Its raw JSON is kept.

    Attributes:
        model: the type it should have decoded into.
        reason: msgspec's message, with the JSON path of the offending value.
        raw: the record's raw JSON.
    """

    model: str
    reason: str
    raw: msgspec.Raw


def utc(value: datetime | None) -> datetime | None:
    """Return ``value`` as an aware UTC date-time.

    A naive value is taken to be UTC already (reference preamble: date-times are UTC; the
    guide's ``expectedArrivalDateTime`` format ``YYYY-MM-DDThh:mm:ss`` carries no offset); an
    aware one in another zone is converted.
    """
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Decoder(Generic[T]):
    """A JSON decoder for one type: strict and fast first, tolerant when that fails.

    ``decode`` runs msgspec's typed decoder. Only when it raises a validation error (the JSON
    is valid but a value does not fit) does it fall back to record-by-record decoding
    (:func:`maxxton_async.models._tolerance.recover`), which keeps guessed parts raw and sets
    aside records whose required guessed parts are unusable; a documented field that does not
    fit raises the original error. Invalid JSON raises as before.
    """

    __slots__ = ("_strict", "type")

    def __init__(self, tp: Any) -> None:
        self.type = tp
        self._strict: msgspec.json.Decoder[T] = msgspec.json.Decoder(tp)

    def __repr__(self) -> str:
        return f"<Decoder {getattr(self.type, '__name__', self.type)!r}>"

    def decode(self, data: bytes | bytearray | memoryview | str) -> T:
        """Decode ``data``; raises ``msgspec.DecodeError`` / ``ValidationError`` as msgspec."""
        try:
            return self._strict.decode(data)
        except msgspec.ValidationError as exc:
            from ._tolerance import recover

            return cast("T", recover(self.type, data, exc))


@functools.cache
def _decoder(tp: Any) -> Decoder[Any]:
    return Decoder(tp)


def decoder_for(tp: type[T]) -> Decoder[T]:
    """Return the cached decoder for ``tp`` (e.g. ``Page[Customer]``, ``list[Event]``).

    Building a decoder walks the whole type tree; caching makes each type pay that once.
    """
    return cast("Decoder[T]", _decoder(cast("Any", tp)))


def decode(
    tp: type[T],
    data: bytes,
    *,
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
) -> T:
    """Decode JSON ``data`` into ``tp``.

    Raises:
        ResponseDecodeError: the body is not valid JSON or does not match ``tp``; the error
            keeps the raw bytes in ``body`` and msgspec's message (with the JSON path of the
            offending value) in ``detail``.
    """
    try:
        return decoder_for(tp).decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        name = getattr(tp, "__name__", None) or repr(tp)
        raise ResponseDecodeError(
            f"body does not decode as {name}: {exc}",
            detail=str(exc),
            method=method,
            path=path,
            status=status,
            body=data,
        ) from exc


def encode(obj: object) -> bytes:
    """Encode a model (or any msgspec-supported value) to JSON bytes."""
    return _ENCODER.encode(obj)
