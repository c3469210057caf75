"""The ``maxxton-async`` command.

Each subcommand lives in its own private module exposing
``register(subparsers) -> None``; the module adds its parser and sets ``func`` to a callable
taking the parsed ``argparse.Namespace`` and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

__all__ = ["main"]

# Modules are imported lazily by name so that a missing optional dependency (rich, redis)
# only breaks the subcommand that needs it, never `--help`.
_SUBCOMMANDS = ("_demo", "_sandbox", "_harvest", "_events", "_usage", "_bench")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="maxxton-async",
        description="Tools around the Maxxton REST API v2: a local sandbox, bulk availability "
        "harvest, event sync, usage report and a throughput benchmark.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _SUBCOMMANDS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"{__name__}."):
                continue  # subcommand not shipped in this build
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``maxxton-async`` and ``python -m maxxton_async``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = cast("Callable[[argparse.Namespace], int] | None", getattr(args, "func", None))
    if func is None:
        parser.print_help()
        return 0
    return func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
