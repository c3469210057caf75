"""Fetch many records by id through a list endpoint's batch filter (``idField:[…]``).

Guide, Event Flow: "To refresh the data for multiple customers at the same time the
customerIds can be combined": ``GET /maxxton/v2/customers?filter=customerId:[id1,id2,...]``,
and the same form for reservations, accommodation types, units, locations, distribution
channels, offers and owners, and ``accommodationtypes/additions``, ``offers/additions`` and
``allotments`` with ``resourceId`` (several records per id). Both ``resource.get_many`` and the
event sync's refresh use this one function (the endpoints themselves are listed once, in
``_endpoints``), so the chunking, paging and call counting are written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._filters import Filter, chunk_ids
from .models._page import Page

if TYPE_CHECKING:
    from ._client import MaxxtonClient

__all__ = ["fetch_by_ids", "gather_or_cancel"]

T = TypeVar("T")
R = TypeVar("R")


async def gather_or_cancel(aws: Iterable[Awaitable[R]]) -> list[R]:
    """Await all ``aws`` concurrently; on the first failure cancel the others and raise it.

    Unlike ``asyncio.gather`` no orphan keeps running (and spending billed requests) after
    the caller got its exception, and unlike ``TaskGroup`` the error is the plain one, not
    a group.
    """
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


#: Most pages one chunk of a several-records-per-id list (``many``) may take: the envelope's
#: ``totalPages`` is followed, but never past this.
MAX_MANY_PAGES = 1000


def _plain_id(item: Any, id_field: str) -> Any:
    return item.get(id_field) if isinstance(item, dict) else None


async def fetch_by_ids(
    client: MaxxtonClient,
    path: str,
    model: type[T] | None,
    *,
    id_field: str,
    id_attr: str | None,
    ids: Iterable[int],
    headers: Mapping[str, str | None] | None = None,
    max_ids: int = 200,
    max_chars: int = 1500,
    concurrency: int | None = None,
    many: bool = False,
    page_size: int = 1000,
) -> tuple[dict[int, Any], int]:
    """Fetch ``ids`` from ``path`` with ``filter=<id_field>:[…]``.

    The ids are cut into chunks (:func:`chunk_ids`: at most ``max_ids`` ids and
    ``max_chars`` characters of filter, duplicates once) fetched concurrently, at most
    ``concurrency`` chunks at a time (the client's limiter still caps what is on the wire).
    A chunk asks for a page as large as itself; when the server caps the page size, the
    remaining pages follow, bounded by the envelope and by the chunk's size. If one chunk
    fails, the others are cancelled and the error is raised.

    ``model=None`` decodes records as plain JSON objects, keyed by their ``id_field``.
    ``many=True`` is for lists holding several records per id (additions, allotments): each
    id maps to the list of its records, pages of ``page_size`` are asked for, and the pages
    follow the envelope up to :data:`MAX_MANY_PAGES`.

    Returns:
        The records found, by id (a list per id with ``many``), and the number of calls
        made. Ids not returned are absent (unknown, deleted, merged away, or hidden from
        this API user).
    """
    chunks = list(chunk_ids(ids, field=id_field, max_chars=max_chars, max_ids=max_ids))
    found: dict[int, Any] = {}
    semaphore = asyncio.Semaphore(concurrency or max(len(chunks), 1))
    page_type: Any = Page[model] if model is not None else Page[dict[str, Any]]  # type: ignore[valid-type]

    async def fetch(chunk: list[object], flt: Filter) -> int:
        asked = set(chunk)
        calls = number = 0
        total_pages = 1
        size = page_size if many else len(chunk)
        async with semaphore:
            while number < total_pages:
                page: Page[Any] | None = await client.request(
                    "GET",
                    path,
                    params={"page": number, "size": size},
                    filter=flt,
                    headers=headers,
                    type=page_type,
                )
                calls += 1
                if page is None:  # 204: none of them exists
                    break
                for item in page.content:
                    key = (
                        getattr(item, id_attr, None)
                        if id_attr is not None
                        else _plain_id(item, id_field)
                    )
                    # A server whose filter is looser than asked must not answer for an
                    # id of another chunk.
                    if isinstance(key, int) and key in asked:
                        if many:
                            found.setdefault(key, []).append(item)
                        else:
                            found[key] = item
                if page.is_last or not page.content:
                    break
                # Bounded even if the envelope lies.
                bound = MAX_MANY_PAGES if many else len(chunk)
                total_pages = min(page.total_pages, bound)
                number += 1
        return calls

    counts = await gather_or_cancel(fetch(chunk, flt) for chunk, flt in chunks)
    return found, sum(counts)
