"""Connection flags shared by the subcommands that talk to an API host.

Credentials come from flags or the ``MAXXTON_*`` environment variables (the client reads
those itself when a flag is absent).
"""

from __future__ import annotations

import argparse

from .._client import MaxxtonClient
from .._usage import Ledger

__all__ = ["add_client_args", "make_client"]


def add_client_args(
    p: argparse.ArgumentParser, *, max_in_flight_help: str = "concurrent calls (max 15)"
) -> None:
    """Add ``--base-url``, ``--environment``, credentials and ``--max-in-flight``."""
    g = p.add_argument_group("connection")
    g.add_argument(
        "--base-url", help="API host (the sandbox's URL, a proxy); overrides --environment's host"
    )
    g.add_argument(
        "--environment",
        choices=("test", "production"),
        help="default $MAXXTON_ENVIRONMENT, else test",
    )
    g.add_argument("--client-id", help="default $MAXXTON_CLIENT_ID")
    g.add_argument("--client-secret", help="default $MAXXTON_CLIENT_SECRET")
    g.add_argument("--scope", help="concern code; default $MAXXTON_SCOPE")
    g.add_argument("--max-in-flight", type=int, default=15, help=max_in_flight_help)


def make_client(args: argparse.Namespace, *, usage: Ledger | None = None) -> MaxxtonClient:
    """A client from the connection flags (``usage``: the ledger, else the SDK default)."""
    return MaxxtonClient(
        args.client_id,
        args.client_secret,
        args.scope,
        environment=args.environment,
        base_url=args.base_url,
        max_in_flight=args.max_in_flight,
        usage=usage,
    )
