"""The Spring page envelope every Maxxton list endpoint answers with.

Guide, Pagination: ``page`` (from 0) and ``size`` (default 20) in, and ``number``,
``numberOfElements``, ``totalElements``, ``totalPages``, ``first``, ``last`` out; the
reference's customer list adds ``content``, ``size``, ``empty`` and ``sort``.

``sort`` comes in two shapes: the reference's examples show an *array* of orders
(``direction``, ``nullHandling``, ``ascending``, ``property``, ``ignoreCase``; the guide,
Sorting, adds ``descending``), newer Spring versions send an *object*
``{"sorted", "unsorted", "empty"}`` (docs/wire-contract.md). :class:`Page` accepts both.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from ._base import Model, SetAside

__all__ = ["Page", "PageSort", "SortOrder"]

T = TypeVar("T")


class SortOrder(Model, kw_only=True, gc=False):
    """One order of an array-shaped ``sort`` (guide, Sorting)."""

    property: str | None = None
    direction: str | None = None
    """``"ASC"`` or ``"DESC"``."""
    ascending: bool | None = None
    descending: bool | None = None
    ignore_case: bool | None = None
    null_handling: str | None = None
    """``NATIVE``, ``NULLS_FIRST`` or ``NULLS_LAST`` (guide, Sorting)."""


class PageSort(Model, kw_only=True, gc=False):
    """An object-shaped ``sort`` (newer Spring: whether the page was sorted at all)."""

    sorted: bool | None = None
    unsorted: bool | None = None
    empty: bool | None = None


# gc=False: a page only ever holds plain data decoded from JSON, never a reference back to
# itself, so it cannot be part of a cycle; skipping GC tracking makes bulk decoding cheaper
# (figures in benchmarks/decode_options.py). Do not store a page inside its own content.
class Page(Model, Generic[T], kw_only=True, gc=False):
    """One page of a list endpoint.

    ``content``, ``number``, ``size``, ``total_elements`` and ``total_pages`` are required:
    a paginator must trust the envelope, not its request (the server may cap ``size``), so
    an envelope without them is a decode error rather than a silent zero.
    """

    content: list[T]
    number: int
    """Index of this page, from 0."""
    size: int
    """Page size the server applied (may be smaller than the requested one)."""
    total_elements: int
    total_pages: int
    number_of_elements: int | None = None
    first: bool | None = None
    last: bool | None = None
    empty: bool | None = None
    sort: PageSort | list[SortOrder] | None = None
    set_aside: list[SetAside] = msgspec.field(default_factory=list, name="$setAside")
    """Items of ``content`` that could not be delivered (a required guessed part missing or
    unusable), with their raw JSON; they are not in :attr:`content`. Not a wire field: filled
    by the SDK's tolerant decoding (docs/wire-contract.md, Tolerance)."""

    @property
    def is_last(self) -> bool:
        """Whether no page follows this one (uses ``last`` when sent, else the counts)."""
        if self.last is not None:
            return self.last
        return self.number + 1 >= self.total_pages
