"""The ``maxxton-async`` command.

Each subcommand lives in its own private module exposing
``register(subparsers) -> None``; the module adds its parser and sets ``func`` to a callable
taking the parsed ``argparse.Namespace`` and returning an exit code.

:func:`main` turns every expected failure (an SDK error, Ctrl-C, a port in use, a bad path,
Redis down) into one line on stderr and a documented exit code (``cli/_common.py``,
:class:`~maxxton_async.cli._common.ExitCode`); only a bug shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from .. import __version__
from ._common import (
    EXIT_CODES_HELP,
    ExitCode,
    Parser,
    confirm_production,
    describe_error,
    is_production,
)

__all__ = [
    "EXIT_CODES_HELP",
    "ExitCode",
    "build_parser",
    "confirm_production",
    "describe_error",
    "is_production",
    "main",
]

# Modules are imported lazily by name so that a missing optional dependency (rich, redis)
# only breaks the subcommand that needs it, never `--help`.
_SUBCOMMANDS = ("_demo", "_sandbox", "_harvest", "_events", "_usage", "_bench")

#: What to do after Ctrl-C, by subcommand (what was kept, how to go on).
_INTERRUPT_HINTS = {
    "harvest": "finished chunks are kept; run the same command again to resume",
    "events": "the checkpoint holds the last committed batch; run again to continue",
    "bench": "nothing was measured",
    "demo": "nothing was kept",
    "usage": "nothing was changed",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = Parser(
        prog="maxxton-async",
        description="Tools around the Maxxton REST API v2: a local sandbox, bulk availability "
        "harvest, event sync, usage report and a throughput benchmark. Every command that can "
        "reach production shows its plan and cost and asks first (--yes where no terminal can "
        "be asked).",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (Python {_python()})"
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


def _python() -> str:
    return ".".join(str(n) for n in sys.version_info[:3])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``maxxton-async`` and ``python -m maxxton_async``; the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2, one line)
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    func = cast("Callable[[argparse.Namespace], int] | None", getattr(args, "func", None))
    if func is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    command = f"maxxton-async {args.command}"
    try:
        return int(func(args))
    except KeyboardInterrupt:
        hint = _INTERRUPT_HINTS.get(args.command)
        print(f"{command}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:
        described = describe_error(exc)
        if described is None:
            raise  # a bug: its traceback is what a report needs
        message, code = described
        print(f"{command}: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
