"""What the subcommands share: exit codes, errors as one line, production consent, flags.

* :class:`ExitCode` and :data:`EXIT_CODES_HELP` (the ``--help`` epilog of every command);
* :func:`describe_error` maps an exception to ``(one-line message, exit code)``; ``main()``
  in ``cli/__init__.py`` uses it so an expected failure never prints a traceback;
* :func:`confirm_production` asks before billed calls (refused without a terminal unless
  ``--yes``), :func:`is_production` tells when calls are billed;
* :func:`add_client_args` / :func:`make_client`: the connection flags of the commands that
  talk to an API host; credentials come from flags or the ``MAXXTON_*`` environment
  variables (the client reads those itself when a flag is absent);
* argparse value checks (:func:`int_range`, :func:`float_range`, :func:`existing_file`,
  :func:`file_in_existing_dir`) so out-of-range options are refused before anything runs;
  :class:`Option` / :func:`add_options` declare the checked, valued flags as a table.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import errno
import math
import os
import signal
import sqlite3
import sys
import textwrap
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, NoReturn

from .. import _errors as errors
from .._budget import FREE_DAILY, FREE_MONTHLY
from .._client import ENVIRONMENTS, MaxxtonClient
from .._ledger import Ledger
from .._usage import UsageSnapshot

__all__ = [
    "EXIT_CODES_HELP",
    "MAX_IN_FLIGHT",
    "PRODUCTION_HOSTS",
    "CLIError",
    "ExitCode",
    "HelpFormatter",
    "NotConfirmedError",
    "Option",
    "Parser",
    "UsageError",
    "add_client_args",
    "add_options",
    "add_usage_db_arg",
    "add_yes_arg",
    "confirm_if_production",
    "confirm_production",
    "cost_text",
    "describe_error",
    "existing_file",
    "file_in_existing_dir",
    "float_range",
    "int_range",
    "is_production",
    "ledger_from",
    "make_client",
    "rich_available",
]

#: The server's concurrency cap per IP (guide, API Pricing: "by default this is 15").
MAX_IN_FLIGHT = 15

#: Hosts whose calls are billed (guide, API Pricing: "The number of requests only applies
#: to the production API (api.maxxton.net)").
PRODUCTION_HOSTS = frozenset({urllib.parse.urlsplit(ENVIRONMENTS["production"]).hostname})


class ExitCode(enum.IntEnum):
    """The exit status of ``maxxton-async``; the same meaning in every subcommand."""

    OK = 0
    #: The work did not complete: a pass, a chunk or a check failed, an API error, a local
    #: file or port that could not be used, or production spending declined at the prompt.
    FAILED = 1
    #: The command line is wrong: unknown or out-of-range option, missing file, bad setting,
    #: or a production run without ``--yes`` where nobody can be asked.
    USAGE = 2
    #: The credentials were refused (401/403), or the token endpoint kept failing.
    AUTH = 3
    #: The API host or Redis could not be reached, timed out, or kept answering 5xx/429
    #: after the retries: worth retrying later.
    UNAVAILABLE = 4
    #: A hard budget refused the call; nothing was sent.
    BUDGET = 5
    #: Interrupted by Ctrl-C (128 + SIGINT, the shell convention).
    INTERRUPTED = 130


EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    failed: a pass, a chunk or a check failed; an API error; a file or port
       could not be used; production spending declined at the prompt
  2    usage: bad or out-of-range option, missing file, invalid setting, or
       production without --yes where no terminal can be asked
  3    credentials refused (401/403), or the token endpoint kept failing
  4    unavailable: host or Redis unreachable, timing out, or 5xx/429 after
       the retries (retry later)
  5    a hard budget refused the call (nothing was sent)
  130  interrupted (Ctrl-C)"""


class CLIError(Exception):
    """A failure the command explains in one line; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CLIError):
    """The command line is wrong (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


class NotConfirmedError(CLIError):
    """Production spending was not confirmed; nothing was sent."""


# -- exceptions as one line --------------------------------------------------------------

_CREDENTIALS_HINT = (
    "check --client-id, --client-secret and --scope "
    "(or $MAXXTON_CLIENT_ID, $MAXXTON_CLIENT_SECRET, $MAXXTON_SCOPE)"
)
_MAX_MESSAGE = 400


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _is_redis_unavailable(exc: BaseException) -> bool:
    # redis is an optional extra: look it up only if something already imported it.
    module = sys.modules.get("redis.exceptions")
    if module is None:
        return False
    kinds = tuple(getattr(module, n) for n in ("ConnectionError", "TimeoutError"))
    return isinstance(exc, kinds)


def describe_error(exc: BaseException) -> tuple[str, int] | None:
    """``(one-line message saying what happened and what to do, exit code)`` for an
    expected failure, ``None`` for anything else (a bug: let its traceback show).

    Messages come from the SDK's errors, which never carry a credential.
    """
    message, code = _describe(exc) or (None, None)
    if message is None or code is None:
        return None
    return _one_line(message), int(code)


def _describe(exc: BaseException) -> tuple[str, int] | None:
    if isinstance(exc, CLIError):
        return exc.message, exc.code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", ExitCode.INTERRUPTED
    if isinstance(exc, errors.AuthenticationError):
        # Refused credentials, or a token endpoint that kept failing (the guide documents
        # only 200 and 500 for /authenticate, so bad credentials may look like a 500).
        text = str(exc)
        return (text if "check" in text else f"{text}; {_CREDENTIALS_HINT}"), ExitCode.AUTH
    if isinstance(exc, errors.UnauthorizedError):
        return f"credentials refused: {exc}; {_CREDENTIALS_HINT}", ExitCode.AUTH
    if isinstance(exc, errors.PermissionDeniedError):
        return (
            f"permission denied: {exc}; the API user lacks the rights for this call "
            "(ask the Maxxton client to grant them)",
            ExitCode.AUTH,
        )
    if isinstance(exc, errors.BudgetExceededError):
        return (
            f"budget refused the call: {exc}; nothing was sent (wait for the next "
            f"{'day' if exc.limit_name == 'daily' else 'month'} or raise the budget)",
            ExitCode.BUDGET,
        )
    if isinstance(exc, errors.ConfigurationError):
        return f"{exc}", ExitCode.USAGE
    if isinstance(exc, errors.OutcomeUnknownError):
        return f"{exc}", ExitCode.FAILED
    if isinstance(exc, errors.TransportError):
        return (
            f"cannot reach the API: {exc}; check --base-url / --environment and the "
            "network, then retry",
            ExitCode.UNAVAILABLE,
        )
    if isinstance(exc, errors.ServerError | errors.RateLimitError):
        return (
            f"the API failed (after the client's retries where they apply): {exc}; retry later",
            ExitCode.UNAVAILABLE,
        )
    if isinstance(exc, errors.LimiterUnavailableError | errors.LedgerUnavailableError):
        return f"{exc}; check that Redis is running and reachable", ExitCode.UNAVAILABLE
    if isinstance(exc, errors.MaxxtonError):
        return f"{exc}", ExitCode.FAILED
    if _is_redis_unavailable(exc):
        return f"cannot reach Redis: {exc}; start it or fix the URL", ExitCode.UNAVAILABLE
    if isinstance(exc, TimeoutError):  # builtins; an OSError since 3.10
        return f"timed out: {exc or 'no answer'}; retry later", ExitCode.UNAVAILABLE
    if isinstance(exc, OSError):
        return _describe_os_error(exc), ExitCode.FAILED
    if isinstance(exc, sqlite3.Error):
        return (
            f"SQLite: {exc}; is the file a database this tool wrote, and writable?",
            ExitCode.FAILED,
        )
    return None


def _describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"address already in use ({exc.strerror}); pick another port"
    what = exc.strerror or str(exc)
    if exc.filename is not None:
        return f"{what}: {exc.filename}"
    return what


# -- production consent -------------------------------------------------------------------


def is_production(environment: str | None, base_url: str | None) -> bool:
    """Whether calls would be billed: the production environment or a production host.

    ``environment`` ``None`` means ``$MAXXTON_ENVIRONMENT``, else ``"test"`` (as the client).
    """
    env = environment or os.environ.get("MAXXTON_ENVIRONMENT") or "test"
    if env == "production":
        return True
    url = base_url or ENVIRONMENTS.get(env, "")
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in PRODUCTION_HOSTS


def cost_text(calls: str, snapshot: UsageSnapshot | None = None) -> str:
    """One line on what ``calls`` (a count or an estimate, as text) cost in production.

    Guide, API Pricing: the first 750,000 requests a month (25,000 a day) are free, the rest
    is charged; token calls are requests too. ``snapshot`` adds what the ledger counted.
    """
    line = (
        f"Cost: {calls}, billed in production (free: {FREE_DAILY:,} a day, "
        f"{FREE_MONTHLY:,} a month; charged beyond)"
    )
    if snapshot is not None:
        line += (
            f"; counted so far today {snapshot.today:,} (free left {snapshot.free_left_today:,}),"
            f" this month {snapshot.month:,} (free left {snapshot.free_left_month:,})"
        )
    return line + "."


def add_yes_arg(p: argparse.ArgumentParser, *aliases: str) -> None:
    """``--yes`` / ``-y`` (and ``aliases``): send billed production calls without asking."""
    p.add_argument(
        "-y",
        "--yes",
        *aliases,
        dest="yes",
        action="store_true",
        help="send billed production calls without asking (needed where no terminal can "
        "be asked, e.g. cron or CI); the plan and cost are still printed",
    )


@contextlib.contextmanager
def _interruptible_prompt() -> Iterator[None]:
    """Let Ctrl-C raise KeyboardInterrupt out of a blocking read, even under asyncio.run.

    ``asyncio.run`` replaces the SIGINT handler with one that only cancels the main task;
    a read blocked in ``readline`` would be resumed (PEP 475) and the user would have to
    press Ctrl-C twice. Signal handlers can only be set from the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # an ignored SIGINT (nohup, `cmd &`) stays ignored
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def confirm_production(
    plan_text: str,
    *,
    yes: bool,
    flag: str = "--yes",
    stdin: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> bool:
    """Show ``plan_text`` (the plan and its cost) and ask before billed production calls.

    Call it before the first billed call (the token call included) once the caller knows
    the calls are billed (:func:`is_production`); :func:`confirm_if_production` checks that
    too. Everything goes to stderr, so ``--json`` output on stdout stays clean.

    Returns ``True`` when confirmed (by ``yes`` or by answering y/yes).

    Raises:
        NotConfirmedError: code 2 when stdin is not a terminal and ``yes`` is false
            (cron, CI, a pipe: pass ``flag``); code 1 when the answer is not yes.
    """
    err = stderr if stderr is not None else sys.stderr
    inp = stdin if stdin is not None else sys.stdin
    print(plan_text.rstrip("\n"), file=err)
    if yes:
        print(f"Confirmed by {flag}.", file=err, flush=True)
        return True
    if inp is None or not inp.isatty():
        raise NotConfirmedError(
            f"production calls are billed and there is no terminal to ask: pass {flag} to "
            "confirm; nothing was sent",
            ExitCode.USAGE,
        )
    # The handler first, then the question: a Ctrl-C right after it must interrupt the read.
    with _interruptible_prompt():
        print("Send these billed calls to production? [y/N] ", end="", file=err, flush=True)
        answer = inp.readline()
    if answer.strip().lower() in ("y", "yes"):
        return True
    if not answer:  # end of input (Ctrl-D): end the prompt's line
        print(file=err)
    raise NotConfirmedError("not confirmed: nothing was sent")


def confirm_if_production(args: argparse.Namespace, plan_text: str, *, flag: str = "--yes") -> bool:
    """:func:`confirm_production` when ``args`` (``--environment``, ``--base-url``,
    ``--yes``) point at production; ``True`` at once otherwise."""
    if not is_production(getattr(args, "environment", None), getattr(args, "base_url", None)):
        return True
    return confirm_production(plan_text, yes=bool(getattr(args, "yes", False)), flag=flag)


# -- argparse value checks ---------------------------------------------------------------


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``lo..hi`` (``hi`` ``None``: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo or (hi is not None and value > hi):
            bounds = f"between {lo:,} and {hi:,}" if hi is not None else f"at least {lo:,}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be {bounds}")
        return value

    parse.__name__ = "integer"
    return parse


def float_range(lo: float, hi: float | None = None) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in ``lo..hi``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < lo or (hi is not None and value > hi):
            bounds = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: must be {bounds}")
        return value

    parse.__name__ = "number"
    return parse


def existing_file(text: str) -> Path:
    """An argparse ``type``: a file that exists (never created by reading it)."""
    path = Path(text).expanduser()
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise argparse.ArgumentTypeError(f"{text} {what}")
    return path


def file_in_existing_dir(text: str) -> Path:
    """An argparse ``type``: a file path (created if missing) whose directory exists."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory, not a file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"directory {str(path.parent)!r} does not exist")
    return path


class Option(NamedTuple):
    """One valued flag for :func:`add_options`: ``flag`` parsed by ``kind`` (an argparse
    ``type``, e.g. :func:`int_range`), its ``default``, the ``metavar`` and ``help`` shown
    in ``--help``."""

    flag: str
    kind: Callable[[str], Any]
    default: Any
    metavar: str
    help: str

    @property
    def dest(self) -> str:
        """The attribute argparse stores the value under (``--error-rate``: ``error_rate``)."""
        return self.flag.lstrip("-").replace("-", "_")


def add_options(p: argparse._ActionsContainer, *options: Option) -> None:
    """Add ``options`` to ``p`` (a parser or an argument group), in order."""
    for o in options:
        p.add_argument(o.flag, type=o.kind, default=o.default, metavar=o.metavar, help=o.help)


# -- the parser ----------------------------------------------------------------------------


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default; keeps multi-line paragraphs (the exit-code table) as
    written and wraps single-line ones."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or "%(default)" in text
            or "default" in text.lower()
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or isinstance(default, list)
        ):
            return text
        return f"{text} (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.split("\n\n"):
            if "\n" in para:
                paragraphs.append(textwrap.indent(para, indent))
            else:
                paragraphs.append(
                    textwrap.fill(para, width, initial_indent=indent, subsequent_indent=indent)
                )
        return "\n\n".join(paragraphs)


class Parser(argparse.ArgumentParser):
    """The parser of every (sub)command: defaults shown, exit codes in the epilog, and a
    usage error in one line (exit code 2). Subparsers inherit the class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", EXIT_CODES_HELP)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print ``prog: error: message`` as one line and exit with 2."""
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# -- connection flags ----------------------------------------------------------------------


def add_client_args(
    p: argparse.ArgumentParser,
    *,
    max_in_flight_help: str = f"concurrent calls, 1 to {MAX_IN_FLIGHT} (the server's cap per IP)",
    max_in_flight_max: int = MAX_IN_FLIGHT,
) -> None:
    """Add ``--base-url``, ``--environment``, credentials and ``--max-in-flight``."""
    g = p.add_argument_group("connection")
    g.add_argument(
        "--base-url",
        metavar="URL",
        help="API host, e.g. the sandbox's http://127.0.0.1:8080 or a proxy; overrides the "
        "host of --environment (default: the environment's host)",
    )
    g.add_argument(
        "--environment",
        choices=("test", "production"),
        help="test (acceptance, free) or production (billed, asks first); default: "
        "$MAXXTON_ENVIRONMENT, else test",
    )
    g.add_argument("--client-id", help="default: $MAXXTON_CLIENT_ID")
    g.add_argument(
        "--client-secret",
        help="default: $MAXXTON_CLIENT_SECRET (prefer it: a flag shows in the process list)",
    )
    g.add_argument("--scope", help="concern code; default: $MAXXTON_SCOPE")
    g.add_argument(
        "--max-in-flight",
        type=int_range(1, max_in_flight_max),
        default=MAX_IN_FLIGHT,
        metavar="N",
        help=max_in_flight_help,
    )


def make_client(args: argparse.Namespace, *, ledger: Ledger | None = None) -> MaxxtonClient:
    """A client from the connection flags (``ledger``: where to count, else the SDK default)."""
    return MaxxtonClient(
        args.client_id,
        args.client_secret,
        args.scope,
        environment=args.environment,
        base_url=args.base_url,
        max_in_flight=args.max_in_flight,
        ledger=ledger,
    )


def add_usage_db_arg(p: argparse.ArgumentParser) -> None:
    """``--usage-db``: where the calls are counted (its directory must exist)."""
    p.add_argument(
        "--usage-db",
        type=file_in_existing_dir,
        metavar="PATH",
        help="usage ledger file (default: the SDK's, $MAXXTON_USAGE_DB or "
        "~/.cache/maxxton-async/usage.sqlite3)",
    )


def ledger_from(args: argparse.Namespace) -> Ledger | None:
    """The ledger named by ``--usage-db``, or ``None`` for the SDK's default."""
    if not args.usage_db:
        return None
    from .._sqlite import SQLiteLedger

    return SQLiteLedger(args.usage_db)


# -- optional output -------------------------------------------------------------------------

_rich_notice_given = False


def rich_available(missing: str) -> bool:
    """Whether rich (the ``cli`` extra) is installed; when not, say once per process on
    stderr what ``missing`` means for this command instead of switching output silently."""
    global _rich_notice_given
    try:
        import rich  # noqa: F401
    except ImportError:
        if not _rich_notice_given:
            _rich_notice_given = True
            print(
                f"note: rich is not installed (pip install 'maxxton-async[cli]'): {missing}",
                file=sys.stderr,
            )
        return False
    return True
