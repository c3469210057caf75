"""Paged lists: the paginator behind ``client.paginate`` (the envelope is ``models.Page``).

Guide, "Pagination": ``page`` counts from 0, ``size`` defaults to 20, and the answer is a
Spring page envelope (``content``, ``number``, ``size``, ``totalPages``, ``last``, …).
Some list endpoints answer 204 with no body when nothing matches (reference: reservations,
distribution channels). The server may cap ``size``, so the paginator trusts the envelope,
never the request.

After page 0 the paginator knows ``totalPages`` and fetches the rest concurrently, through
the client's limiter, keeping at most ``lookahead`` pages in flight or buffered, and yields
in page order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Generic, TypeVar

from .models._page import Page

__all__ = ["Paginator"]

T = TypeVar("T")


FetchPage = Callable[[int], Awaitable["Page[T] | None"]]


class Paginator(Generic[T]):
    """An async iterator over the items of every page; ``pages()`` iterates whole pages.

    Use it as ``async for item in client.paginate(...)``. A consumer that stops early
    should leave the block with ``aclose()`` or use ``async with``, which cancels any
    look-ahead request at once; otherwise the look-ahead is cancelled when the iterator is
    garbage collected.
    """

    def __init__(self, fetch: FetchPage[T], *, prefetch: bool = True, lookahead: int = 8) -> None:
        self._fetch = fetch
        self._prefetch = prefetch
        self._lookahead = max(1, lookahead)
        self._pending: deque[asyncio.Task[Page[T] | None]] = deque()
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"<Paginator prefetch={self._prefetch} lookahead={self._lookahead}>"

    async def __aenter__(self) -> Paginator[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.content:
                yield item

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield every page in order (an empty or 204 answer yields nothing)."""
        if self._started:
            raise RuntimeError("a Paginator can be iterated once; call paginate() again")
        self._started = True
        try:
            first = await self._fetch(0)
            if first is None:
                return
            if first.content:
                yield first
            if first.is_last or first.total_pages <= 1:
                return
            if not self._prefetch:
                number = 1
                while not self._closed:
                    page = await self._fetch(number)
                    if page is None:
                        return
                    yield page
                    if page.is_last:
                        return
                    number += 1
                return
            total = first.total_pages
            next_number = 1
            while next_number < total and len(self._pending) < self._lookahead:
                self._pending.append(self._spawn(next_number))
                next_number += 1
            while self._pending:
                page = await self._pending.popleft()
                if next_number < total:
                    self._pending.append(self._spawn(next_number))
                    next_number += 1
                if page is None:  # the list shrank under us: 204 past the end
                    return
                yield page
        finally:
            await self._cancel_pending()

    def _spawn(self, number: int) -> asyncio.Task[Page[T] | None]:
        # Named, so that a test (or a debugger) can tell look-ahead tasks apart.
        return asyncio.get_running_loop().create_task(
            self._fetch(number),  # type: ignore[arg-type]
            name=f"maxxton-page-{number}",
        )

    async def _cancel_pending(self) -> None:
        pending = list(self._pending)
        self._pending.clear()
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop: cancel look-ahead requests and wait until they are gone."""
        self._closed = True
        await self._cancel_pending()

    async def collect(self) -> list[T]:
        """All items as a list (convenient for small lists)."""
        out: list[T] = []
        async for item in self:
            out.append(item)
        return out
