"""Customers: ``/maxxton/v2/customers`` (reference excerpt, Customers).

Reads as every list resource (id ``customerId``, guide Event Flow: "GET
maxxton/v2/customers?filter=customerId:[…]"); writes per the reference: ``POST /customers``
creates, ``PUT /customers/{customerId}`` updates. A create is not idempotent (a resend makes a
second customer), so it is never retried: a lost answer raises ``OutcomeUnknownError``.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from .._endpoints import ENTITIES
from ..models._customers import Customer
from ._base import Headers, ListResource, check_id, request_one
from ._batch import BatchResults, run_batch

__all__ = ["CustomerBody", "Customers"]

CustomerBody = Customer | Mapping[str, Any]
"""A customer to send: a :class:`Customer` (unset fields are left out) or a mapping with the
wire's camelCase names (for fields the model does not know yet)."""


class Customers(ListResource[Customer]):
    """``client.customers``: read, create and update customers, one by one or in batches."""

    _entity = ENTITIES["customers"]

    async def create(self, customer: CustomerBody, *, headers: Headers | None = None) -> Customer:
        """``POST /customers``: create one customer; returns it with its ``customerId``.

        Never retried once sent. Raises ``OutcomeUnknownError`` when the answer was lost:
        look the customer up (e.g. ``list(email=...)``) before sending it again.
        """
        _check_new(customer)
        return await request_one(
            self._client,
            "POST",
            self._path,
            json=customer,
            headers=headers,
            type=Customer,
            idempotent=False,
            what="the new customer",
        )

    async def update(
        self, customer_id: int, changes: CustomerBody, *, headers: Headers | None = None
    ) -> Customer | None:
        """``PUT /customers/{customerId}``: change the given fields.

        Returns the customer as the server answers it (the reference's 200 answer is the whole
        customer), or ``None`` if a server answers without a body. A PUT sets values, so
        resending it is harmless and it is retried like a GET. An API user without access to
        restricted fields may only change the fields it reads unmasked (reference, Update a
        customer); the sandbox answers 403 (``PermissionDeniedError``) otherwise.
        """
        path = f"{self._path}/{check_id(customer_id)}"
        result: Customer | None = await self._client.request(
            "PUT", path, json=changes, headers=headers, type=Customer
        )
        return result

    async def create_many(
        self,
        customers: Iterable[CustomerBody],
        *,
        concurrency: int | None = None,
        headers: Headers | None = None,
    ) -> BatchResults[Customer]:
        """Create many customers; one :class:`BatchResult` per customer, in order (``key`` is
        the position). A failed item never stops the others; an item whose answer was lost
        holds ``OutcomeUnknownError`` (it may exist: check before resending it).

        ``concurrency`` bounds the calls waiting at once (the client's cap by default).
        """
        items = builtins.list(customers)
        for item in items:
            _check_new(item)
        jobs = [
            (index, partial(self.create, item, headers=headers)) for index, item in enumerate(items)
        ]
        return await run_batch(jobs, concurrency=concurrency or self._client.limiter.capacity)

    async def update_many(
        self,
        changes: Mapping[int, CustomerBody],
        *,
        concurrency: int | None = None,
        headers: Headers | None = None,
    ) -> BatchResults[Customer | None]:
        """Update many customers (``{customerId: changes}``); one :class:`BatchResult` per
        entry, in the mapping's order, ``key`` the customer id."""
        jobs = [
            (check_id(cid), partial(self.update, cid, body, headers=headers))
            for cid, body in changes.items()
        ]
        return await run_batch(jobs, concurrency=concurrency or self._client.limiter.capacity)


def _check_new(customer: CustomerBody) -> None:
    has_id = (
        customer.customer_id is not None
        if isinstance(customer, Customer)
        else customer.get("customerId") is not None
    )
    if has_id:
        raise ValueError("a new customer must not carry customerId (the server assigns it)")
