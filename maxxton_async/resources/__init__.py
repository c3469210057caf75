"""Resource namespaces of :class:`~maxxton_async.MaxxtonClient` (``client.customers``, ...).

Each is a thin, typed layer over ``client.request`` / ``client.paginate``: list resources have
``get``, ``list``, ``iterate`` and the batched ``get_many``; reservations add the booking flow
and status changes; customers and reservations add batch writes returning
:class:`BatchResults`.
"""

from ._availability import Availability
from ._base import Found, ListEndpoint, ListResource, Lookup, Missing
from ._batch import BatchResult, BatchResults
from ._catalogue import (
    AccommodationTypes,
    DistributionChannels,
    Locations,
    Offers,
    Owners,
    Units,
)
from ._customers import Customers
from ._events import Events
from ._reservations import ReservationDetails, Reservations
from ._search import Search

__all__ = [
    "AccommodationTypes",
    "Availability",
    "BatchResult",
    "BatchResults",
    "Customers",
    "DistributionChannels",
    "Events",
    "Found",
    "ListEndpoint",
    "ListResource",
    "Locations",
    "Lookup",
    "Missing",
    "Offers",
    "Owners",
    "ReservationDetails",
    "Reservations",
    "Search",
    "Units",
]
