"""What one caller sees of a collection: translated, archive-filtered, masked.

Three request properties change a record on the wire:

* the ``locale`` header picks translations (guide, Header): ``name``/``description`` take the
  locale's text and ``translations`` keeps that locale's entry only;
* ``x-show-archived: true`` includes archived records, which are left out otherwise (guide, Header);
* a client without access to restricted customer fields gets ``****`` for them and
  ``1800-01-01`` for ``birthDate`` (reference, Customers, field descriptions).

Views are built once per (collection, locale, archived, masked) and dataset version, so a list
request only filters, sorts and slices; get-by-id projects the one record it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._data import LOCALES, SandboxData
from ._query import FieldKind, infer_schema

__all__ = ["COLLECTIONS", "Collection", "Views", "mask_customer", "normalise_locale"]

Record = dict[str, Any]

#: Restricted customer fields shown as ``****`` (reference, Customers).
MASKED_FIELDS = (
    "firstName",
    "middle",
    "lastName",
    "alternateName",
    "socialSecurityNumber",
    "gender",
    "ibanNumber",
    "companyName",
)
#: What a restricted ``birthDate`` reads as (reference, Customers).
MASKED_BIRTH_DATE = "1800-01-01"


@dataclass(frozen=True, slots=True)
class Collection:
    """How one list endpoint maps onto the dataset."""

    name: str
    attribute: str
    id_field: str
    translated: bool = False
    archivable: bool = False
    maskable: bool = False
    no_content_when_empty: bool = False


#: The list endpoints, by the path segment after ``/maxxton/v2/``. Reservations and distribution
#: channels answer 204 when nothing matches (reference pages; docs/wire-contract.md).
COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection("customers", "customers", "customerId", maskable=True),
        Collection("reservations", "reservations", "reservationId", no_content_when_empty=True),
        Collection(
            "accommodationtypes",
            "accommodation_types",
            "resourceId",
            translated=True,
            archivable=True,
        ),
        Collection("units", "units", "unitId", archivable=True),
        Collection("locations", "locations", "locationId", translated=True, archivable=True),
        Collection(
            "distributionchannels",
            "distribution_channels",
            "distributionChannelId",
            archivable=True,
            no_content_when_empty=True,
        ),
        Collection("offers", "offers", "resourceId", translated=True, archivable=True),
        Collection("owners", "owners", "ownerId"),
        Collection("events", "events", "eventId"),
    )
}


def normalise_locale(header: str | None) -> str | None:
    """``nl_NL``/``nl-NL``/``NL`` → ``nl``; unknown languages fall back to ``en``."""
    if not header:
        return None
    lang = header.replace("-", "_").split("_", 1)[0].strip().lower()
    return lang if lang in LOCALES else "en"


def translate(record: Record, locale: str) -> Record:
    """``record`` as seen with ``locale``: localised name/description, that translation only."""
    out = dict(record)
    chosen = [t for t in record.get("translations", ()) if t["language"] == locale]
    if chosen:
        out["name"] = chosen[0]["name"]
        out["description"] = chosen[0]["description"]
    out["translations"] = chosen
    return out


def mask_customer(record: Record) -> Record:
    """A customer as a client without access to restricted fields sees it (reference)."""
    out = dict(record)
    for name in MASKED_FIELDS:
        out[name] = "****"
    out["birthDate"] = MASKED_BIRTH_DATE
    return out


class Views:
    """Cached projections of the dataset's collections."""

    __slots__ = ("_cache", "_schemas", "_version", "data")

    def __init__(self, data: SandboxData) -> None:
        self.data = data
        self._cache: dict[tuple[str, str | None, bool, bool], list[Record]] = {}
        self._schemas: dict[str, dict[str, FieldKind]] = {}
        self._version = data.version

    def _check_version(self) -> None:
        if self._version != self.data.version:
            self._cache.clear()
            self._version = self.data.version

    def source(self, coll: Collection) -> Any:
        """The raw dict (or list, for events) behind ``coll``."""
        return getattr(self.data, coll.attribute)

    def schema(self, coll: Collection) -> dict[str, FieldKind]:
        """Field kinds of ``coll`` (computed once; records keep their shape)."""
        schema = self._schemas.get(coll.name)
        if schema is None:
            src = self.source(coll)
            records = src if isinstance(src, list) else list(src.values())
            schema = infer_schema(records)
            if not schema:
                schema = {coll.id_field: "int"}
            self._schemas[coll.name] = schema
        return schema

    def project(self, coll: Collection, record: Record, locale: str | None, masked: bool) -> Record:
        """One record as the caller sees it."""
        if coll.translated and locale is not None:
            record = translate(record, locale)
        if coll.maskable and masked:
            record = mask_customer(record)
        return record

    def visible(self, coll: Collection, record: Record, show_archived: bool) -> bool:
        """Whether the caller may see ``record`` (archived ones only with the header)."""
        return show_archived or not (coll.archivable and record.get("archived"))

    def records(
        self, coll: Collection, locale: str | None, show_archived: bool, masked: bool
    ) -> list[Record]:
        """Every record of ``coll`` the caller sees, in id order."""
        self._check_version()
        locale = locale if coll.translated else None
        show_archived = show_archived or not coll.archivable
        masked = masked and coll.maskable
        key = (coll.name, locale, show_archived, masked)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        src = self.source(coll)
        items: list[Record] = list(src) if isinstance(src, list) else list(src.values())
        if not show_archived:
            items = [r for r in items if not r.get("archived")]
        if locale is not None or masked:
            items = [self.project(coll, r, locale, masked) for r in items]
        self._cache[key] = items
        return items
