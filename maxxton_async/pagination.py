"""Pages and the paginator (what ``client.paginate()`` returns).

:class:`Page` is the guide's page envelope (``content``, ``number``, ``totalPages``...);
:class:`Paginator` iterates every item in order, fetching the pages after the first
concurrently through the client's cap, in bounded look-ahead.
"""

from ._pagination import Paginator
from .models import Page

__all__ = ["Page", "Paginator"]
