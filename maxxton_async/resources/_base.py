"""What every resource namespace shares: list, iterate, get and the batched ``get_many``.

A namespace is thin (openai-python style): it knows its path, its model and its id field, and
sends everything through :meth:`MaxxtonClient.request` / :meth:`MaxxtonClient.paginate`, so the
token, budget, limiter and retry rules apply to every call it makes.

``get_many`` is the guide's batch refresh form (Event Flow: "To refresh the data for multiple
customers at the same time the customerIds can be combined":
``GET /maxxton/v2/customers?filter=customerId:[id1,id2,...]``), with the ids cut into chunks by
:func:`chunk_ids` so that no URL grows past what proxies accept.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .._endpoints import API, Entity
from .._errors import NotFoundError, ResponseDecodeError
from .._filters import FilterLike, SortLike
from .._lookup import fetch_by_ids, gather_or_cancel
from .._pagination import Paginator
from ..models._page import Page

if TYPE_CHECKING:
    from .._client import MaxxtonClient

__all__ = [
    "API",
    "Found",
    "Headers",
    "ListEndpoint",
    "ListResource",
    "Lookup",
    "Missing",
    "Resource",
    "check_id",
    "empty_page",
    "gather_or_cancel",
    "merge_filters",
    "request_one",
    "require",
]

T = TypeVar("T")
R = TypeVar("R")

Headers = Mapping[str, str | None]
"""Extra headers for one call; a ``None`` value removes a client default (``locale``, ...)."""


@dataclass(frozen=True, slots=True)
class Found(Generic[T]):
    """``get_many`` outcome for an id the server returned: ``value`` is the record."""

    id: int
    value: T

    @property
    def found(self) -> bool:
        """Always ``True`` (lets callers test outcomes without ``isinstance``)."""
        return True


@dataclass(frozen=True, slots=True)
class Missing:
    """``get_many`` outcome for an id the server did not return (unknown, deleted, merged
    away, or not visible to this API user)."""

    id: int

    @property
    def found(self) -> bool:
        """Always ``False``."""
        return False


Lookup = Found[T] | Missing
"""One ``get_many`` outcome: :class:`Found` or :class:`Missing`."""


def check_id(value: object) -> int:
    """Return ``value`` if it is an int id; raise ``TypeError`` otherwise.

    Ids are put into URL paths and filter lists, so anything but a plain int is refused before
    it could change the path (``"1/../2"``) or the filter grammar.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an id must be an int, got {type(value).__name__} {value!r}")
    return value


def empty_page(number: int, size: int | None) -> Page[Any]:
    """The page a 204 (no body) stands for: nothing matched (reference: reservations and
    distribution channels answer 204 "No reservations found for given criteria")."""
    return Page(
        content=[],
        number=number,
        size=size or 0,
        total_elements=0,
        total_pages=0,
        number_of_elements=0,
        first=number == 0,
        last=True,
        empty=True,
    )


def merge_filters(first: FilterLike | None, second: FilterLike | None) -> FilterLike | None:
    """AND two filter arguments (repeated ``filter`` parameters AND, guide, Filtering)."""
    if first is None:
        return second
    if second is None:
        return first
    parts: builtins.list[Any] = []
    for item in (first, second):
        if isinstance(item, str) or not isinstance(item, Sequence):
            parts.append(item)
        else:
            parts.extend(item)
    return parts


class Resource:
    """Base of every namespace: holds the client."""

    def __init__(self, client: MaxxtonClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"


class ListEndpoint(Resource, Generic[T]):
    """A paged list endpoint: :meth:`list` one page, :meth:`iterate` over all of them."""

    _path: str
    _model: type[T]

    async def list(
        self,
        page: int = 0,
        size: int | None = None,
        filter: FilterLike | None = None,
        sort: SortLike | None = None,
        *,
        headers: Headers | None = None,
        **params: Any,
    ) -> Page[T]:
        """One page (``page`` from 0; ``size`` defaults to the server's 20).

        ``params`` are extra query parameters, named as on the wire. A 204 answer (some
        endpoints send it when nothing matches) becomes an empty page.
        """
        if page < 0:
            raise ValueError(f"page must be >= 0, got {page}")
        if size is not None and size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        query = {**params, "page": page, "size": size}
        result: Page[T] | None = await self._client.request(
            "GET",
            self._path,
            params=query,
            filter=filter,
            sort=sort,
            headers=headers,
            type=Page[self._model],  # type: ignore[name-defined]
        )
        return result if result is not None else empty_page(page, size)

    def iterate(
        self,
        filter: FilterLike | None = None,
        sort: SortLike | None = None,
        page_size: int | None = None,
        prefetch: bool = True,
        *,
        lookahead: int | None = None,
        headers: Headers | None = None,
        **params: Any,
    ) -> Paginator[T]:
        """Every matching item, in order: ``async for item in resource.iterate(...)``.

        After page 0 the rest are fetched concurrently through the client's limiter (unless
        ``prefetch`` is false); see :meth:`MaxxtonClient.paginate`.
        """
        return self._client.paginate(
            self._path,
            item_type=self._model,
            params=params,
            filter=filter,
            sort=sort,
            page_size=page_size,
            prefetch=prefetch,
            lookahead=lookahead,
            headers=headers,
        )


class ListResource(ListEndpoint[T]):
    """A list endpoint whose records also have ``GET {path}/{id}`` and a batch id filter.

    Subclasses set ``_entity``, their entry of the endpoint catalogue
    (:data:`maxxton_async._endpoints.ENTITIES`, which the event sync's refresh reads too), from
    which ``_path``, ``_model``, ``_id_field`` (the wire name used in ``filter=<idField>:[…]``)
    and ``_id_attr`` (the model attribute holding it) are taken.
    """

    _entity: ClassVar[Entity]
    _id_field: str
    _id_attr: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        entity = cls.__dict__.get("_entity")
        if entity is not None:
            cls._path = entity.path
            cls._model = entity.model
            cls._id_field = entity.id_field
            cls._id_attr = entity.id_attr

    async def get(self, id: int, *, headers: Headers | None = None) -> T:
        """One record by id.

        Raises:
            NotFoundError: the server answered 404.
        """
        path = f"{self._path}/{check_id(id)}"
        result: T | None = await self._client.request(
            "GET", path, headers=headers, type=self._model
        )
        if result is None:
            # No body on a get-by-id is not a documented answer; treat it as absent.
            raise NotFoundError(
                f"empty answer for {self._id_field} {id}", method="GET", path=path, status=404
            )
        return result

    async def get_many(
        self,
        ids: Iterable[int],
        *,
        max_ids: int = 200,
        max_chars: int = 1500,
        headers: Headers | None = None,
    ) -> builtins.list[Found[T] | Missing]:
        """Fetch many records by id with ``filter=<idField>:[…]`` (guide, Event Flow).

        The ids are split into chunks of at most ``max_ids`` ids and ``max_chars`` characters
        of filter text (:func:`chunk_ids`); the chunks are fetched concurrently through the
        client (its limiter caps the calls in flight), following the pages of a chunk when the
        server caps the page size. Duplicate ids are fetched once.

        Returns:
            One :class:`Found` or :class:`Missing` per id given, in the order given (a
            duplicate id gets an outcome at each of its positions).
        """
        wanted = [check_id(i) for i in ids]
        if not wanted:
            return []
        found, _ = await fetch_by_ids(
            self._client,
            self._path,
            self._model,
            id_field=self._id_field,
            id_attr=self._id_attr,
            ids=wanted,
            headers=headers,
            max_ids=max_ids,
            max_chars=max_chars,
        )
        return [Found(i, found[i]) if i in found else Missing(i) for i in wanted]


def require(value: T | None, *, what: str, method: str, path: str) -> T:
    """``value``, or a :class:`ResponseDecodeError` when the server sent no body where one is
    needed (a write whose answer must carry the new record)."""
    if value is None:
        raise ResponseDecodeError(
            f"empty answer where {what} was expected",
            detail="empty body",
            method=method,
            path=path,
        )
    return value


async def request_one(
    client: MaxxtonClient,
    method: str,
    path: str,
    *,
    type: builtins.type[T],
    what: str,
    params: Mapping[str, Any] | None = None,
    json: object = None,
    headers: Headers | None = None,
    idempotent: bool | None = None,
) -> T:
    """One call whose answer must carry a body: the decoded answer, or
    :class:`ResponseDecodeError` naming ``what`` when it came back empty (:func:`require`)."""
    result = await client.request(
        method, path, params=params, json=json, headers=headers, type=type, idempotent=idempotent
    )
    return require(result, what=what, method=method, path=path)
