"""``MAXXTON_LOG=debug`` (or ``info``): log what the client does to stderr, no code needed.

The ``maxxton_async`` logger is silent unless the application configures logging. Setting
``MAXXTON_LOG`` attaches a stderr handler at that level when the package is imported (as
``OPENAI_LOG`` does for openai-python). Every line is built from the method, the path
(never the query string), statuses and timings; the client scrubs its secret and tokens
from the error text it logs.
"""

from __future__ import annotations

import logging
import os

__all__ = ["configure_from_env"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def configure_from_env() -> None:
    """Apply ``$MAXXTON_LOG`` once (a no-op when unset or when a handler is already there)."""
    value = os.environ.get("MAXXTON_LOG", "").strip().lower()
    level = _LEVELS.get(value)
    if level is None:
        return
    logger = logging.getLogger("maxxton_async")
    if any(getattr(h, "_maxxton_env", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler._maxxton_env = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
