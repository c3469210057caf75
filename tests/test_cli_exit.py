"""``maxxton-async`` as a user runs it: a real subprocess (``python -m maxxton_async``) against
a sandbox on loopback. Exit codes, one-line errors without traceback, production consent
(``--base-url`` at the sandbox while claiming ``--environment production``, so nothing leaves
the machine), Ctrl-C, a port in use, bad paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import maxxton_async
from maxxton_async.cli import ExitCode
from maxxton_async.sandbox import Sandbox
from tests._support import free_port, sandbox_fixture

# Signals to a child and pseudo-terminals are POSIX.
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pty")

#: Every subprocess is bounded: a hung CLI fails the test instead of hanging it.
TIMEOUT = 60.0
REPO_ROOT = str(Path(maxxton_async.__file__).resolve().parents[1])


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)  # holds the test's private MAXXTON_USAGE_DB (conftest)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO_ROOT, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"  # one-line checks must not depend on wrapping
    return env


async def spawn(
    *args: str, stdin: int | None = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "maxxton_async",
        *args,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(),
    )


async def finish(proc: asyncio.subprocess.Process) -> Run:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def cli(*args: str) -> Run:
    return await finish(await spawn(*args))


def assert_one_line_error(run: Run, *needles: str) -> None:
    assert "Traceback" not in run.err, run.err
    assert len(run.err_lines) == 1, run.err
    for needle in needles:
        assert needle in run.err_lines[0], run.err


async def wait_until(
    predicate: Callable[[], object], what: str, proc: asyncio.subprocess.Process
) -> None:
    """Poll a condition of the in-process sandbox, bounded (not a timing assertion)."""
    for _ in range(2000):
        if predicate():
            return
        if proc.returncode is not None:
            run = await finish(proc)
            raise AssertionError(f"the CLI ended (rc {run.rc}) before {what}: {run.err}")
        await asyncio.sleep(0.01)
    proc.kill()
    raise AssertionError(f"never happened: {what}")


@pytest.fixture(autouse=True)
def _sigint_reaches_children() -> Iterator[None]:
    # A child inherits an ignored SIGINT (a suite started in the background with `&`), and
    # Python then never raises KeyboardInterrupt: give children the default disposition.
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


sb = sandbox_fixture(seed=3)


def conn(
    sb: Sandbox, tmp_path: Path, *, secret: str | None = None, usage_db: bool = True
) -> list[str]:
    flags = [
        "--base-url", sb.base_url,
        "--client-id", sb.client_id,
        "--client-secret", secret if secret is not None else sb.client_secret,
        "--scope", sb.scope,
    ]  # fmt: skip
    return [*flags, "--usage-db", str(tmp_path / "usage-cli.sqlite3")] if usage_db else flags


def sync_args(sb: Sandbox, tmp_path: Path, *extra: str, secret: str | None = None) -> list[str]:
    checkpoint = str(tmp_path / "events.sqlite")
    return [
        "events",
        "sync",
        *conn(sb, tmp_path, secret=secret),
        "--checkpoint",
        checkpoint,
        *extra,
    ]


# -- exit codes ------------------------------------------------------------------------------


async def test_version() -> None:
    run = await cli("--version")
    assert run.rc == 0
    assert run.out.startswith(f"maxxton-async {maxxton_async.__version__} ")


async def test_events_sync_once_succeeds_with_0(sb: Sandbox, tmp_path: Path) -> None:
    run = await cli(*sync_args(sb, tmp_path, "--once"))
    assert run.rc == ExitCode.OK, run.err
    assert "checkpoint 1000" in run.out
    assert run.err == ""
    # Groups are shown as event type/entity type: no group name appears twice in a batch.
    for line in run.out.splitlines():
        if line.startswith("events .."):
            groups = [g.rsplit(":", 1)[0] for g in line.split("; ", 1)[1].split(", ")]
            assert all("/" in g for g in groups)
            assert len(groups) == len(set(groups))


async def test_events_sync_once_exits_1_after_a_failed_pass(sb: Sandbox, tmp_path: Path) -> None:
    # Hold the first request (the token call), then make the next one (the events call)
    # fail with a 400 that no retry can mend: the pass fails after its first billed call.
    sb.faults.hold = asyncio.Event()
    proc = await spawn(*sync_args(sb, tmp_path, "--once"))
    await wait_until(lambda: sb.statistics().in_flight == 1, "token call on the wire", proc)
    sb.faults.update(fail_next=1, fail_status=400)
    sb.faults.hold.set()
    run = await finish(proc)
    assert run.rc == ExitCode.FAILED
    assert_one_line_error(run, "maxxton-async events: error:", "GET /maxxton/v2/events", "400")
    assert "checkpoint" not in run.out  # no summary claims success


async def test_events_sync_once_exits_4_when_the_api_keeps_failing(
    sb: Sandbox, tmp_path: Path
) -> None:
    sb.faults.hold = asyncio.Event()
    proc = await spawn(*sync_args(sb, tmp_path, "--once"))
    await wait_until(lambda: sb.statistics().in_flight == 1, "token call on the wire", proc)
    sb.faults.update(fail_next=10, fail_status=503)  # more than the client's 4 attempts
    sb.faults.hold.set()
    run = await finish(proc)
    assert run.rc == ExitCode.UNAVAILABLE
    assert_one_line_error(run, "503", "retry later")


async def test_refused_credentials_exit_3_without_the_secret(tmp_path: Path) -> None:
    secret = "definitely-not-the-secret-42"
    async with Sandbox(seed=3, auth_refusal_status=401) as sb:
        run = await cli(*sync_args(sb, tmp_path, "--once", secret=secret))
        assert sb.statistics().requests_to("GET /maxxton/v2/events") == []
    assert run.rc == ExitCode.AUTH
    assert_one_line_error(run, "credentials refused", "--client-secret")
    assert secret not in run.err + run.out


async def test_credentials_answered_with_the_guides_500_exit_4_and_say_what_to_check(
    sb: Sandbox, tmp_path: Path
) -> None:
    # Guide, Authentication: 500 is the only documented error, so one run cannot tell
    # refused credentials from a passing fault: "unavailable", naming the credentials.
    secret = "definitely-not-the-secret-42"
    run = await cli(*sync_args(sb, tmp_path, "--once", secret=secret))
    assert run.rc == ExitCode.UNAVAILABLE
    assert_one_line_error(run, "/authenticate", "500", "check the credentials")
    assert secret not in run.err + run.out
    assert sb.statistics().requests_to("GET /maxxton/v2/events") == []


async def test_unreachable_host_exits_4(tmp_path: Path) -> None:
    run = await cli(
        "events", "sync", "--once",
        "--base-url", f"http://127.0.0.1:{free_port()}",
        "--client-id", "x", "--client-secret", "y", "--scope", "z",
        "--usage-db", str(tmp_path / "u.sqlite3"),
        "--checkpoint", str(tmp_path / "events.sqlite"),
    )  # fmt: skip
    assert run.rc == ExitCode.UNAVAILABLE
    assert_one_line_error(run, "cannot reach the API", "--base-url")


async def test_bench_against_an_unreachable_host_exits_4(tmp_path: Path) -> None:
    run = await cli(
        "bench", "--base-url", f"http://127.0.0.1:{free_port()}",
        "--client-id", "x", "--client-secret", "y", "--scope", "z",
        "--ledger", "memory", "--requests", "3",
    )  # fmt: skip
    assert run.rc == ExitCode.UNAVAILABLE
    assert_one_line_error(run, "maxxton-async bench: error: cannot reach the API")


async def test_usage_with_redis_down_exits_4(tmp_path: Path) -> None:
    run = await cli("usage", "--redis", f"redis://127.0.0.1:{free_port()}/0")
    assert run.rc == ExitCode.UNAVAILABLE
    assert_one_line_error(run, "maxxton-async usage: error:")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["events", "sync", "--checkpoint", "x.sqlite", "--max-in-flight", "20"],
         "--max-in-flight"),
        (["harvest", "--max-in-flight", "16", "--from", "2027-01-01", "--to", "2027-01-02",
          "--duration", "7", "--out", "p.ndjson"], "--max-in-flight"),
        (["events", "sync", "--checkpoint", "x.sqlite", "--batch-size", "-5"], "--batch-size"),
        (["events", "sync", "--checkpoint", "x.sqlite", "--interval", "-1"], "--interval"),
        (["sandbox", "--error-rate", "2"], "--error-rate"),
        (["sandbox", "--port", "70000"], "--port"),
        (["demo", "--days", "0"], "--days"),
        (["usage", "--days", "-3"], "--days"),
        (["bench", "--requests", "0"], "--requests"),
        (["nonsense"], "invalid choice"),
    ],
)  # fmt: skip
async def test_out_of_range_options_are_a_one_line_usage_error(
    args: list[str], needle: str, tmp_path: Path
) -> None:
    run = await cli(*args)
    assert run.rc == ExitCode.USAGE
    assert_one_line_error(run, needle, "--help")
    assert not (tmp_path / "x.sqlite").exists()


def test_usage_refuses_a_missing_db_without_creating_it(tmp_path: Path) -> None:
    typo = tmp_path / "typo.sqlite"
    run = asyncio.run(cli("usage", "--db", str(typo)))
    assert run.rc == ExitCode.USAGE
    assert_one_line_error(run, "typo.sqlite does not exist")
    assert not typo.exists()


def test_usage_without_a_default_ledger_says_so_without_creating_it() -> None:
    default = Path(os.environ["MAXXTON_USAGE_DB"])  # conftest: a path in tmp_path
    assert not default.exists()
    run = asyncio.run(cli("usage"))
    assert run.rc == ExitCode.FAILED
    assert_one_line_error(run, "no usage ledger at", "--db")
    assert not default.exists()


async def test_checkpoint_in_a_missing_directory_is_a_usage_error(
    sb: Sandbox, tmp_path: Path
) -> None:
    args = sync_args(sb, tmp_path, "--once")
    args[args.index("--checkpoint") + 1] = str(tmp_path / "no-such-dir" / "events.sqlite")
    run = await cli(*args)
    assert run.rc == ExitCode.USAGE
    assert_one_line_error(run, "does not exist")
    assert sb.statistics().requests_total == 0


# -- interrupt -------------------------------------------------------------------------------


async def interrupted_mid_call(sb: Sandbox, *argv: str) -> Run:
    """Run the CLI with ``argv`` while the sandbox holds its answers; Ctrl-C it once a call
    is on the wire; what it printed and returned."""
    sb.faults.hold = asyncio.Event()
    proc = await spawn(*argv)
    try:
        await wait_until(lambda: sb.statistics().in_flight >= 1, "a call on the wire", proc)
        proc.send_signal(signal.SIGINT)
        return await finish(proc)
    finally:
        sb.faults.hold.set()


async def test_ctrl_c_during_bench_exits_130_in_one_line(sb: Sandbox, tmp_path: Path) -> None:
    run = await interrupted_mid_call(
        sb, "bench", *conn(sb, tmp_path, usage_db=False), "--requests", "50", "--ledger", "memory"
    )
    assert run.rc == ExitCode.INTERRUPTED
    assert_one_line_error(run, "maxxton-async bench: interrupted")


async def test_ctrl_c_during_harvest_exits_130_without_traceback(
    sb: Sandbox, tmp_path: Path
) -> None:
    start = sb.data.start_date.isoformat()
    run = await interrupted_mid_call(
        sb, "harvest", *conn(sb, tmp_path), "--from", start, "--to", start, "--duration", "7",
        "--out", str(tmp_path / "prices.ndjson"), "--json",
    )  # fmt: skip
    assert run.rc == ExitCode.INTERRUPTED
    assert "Traceback" not in run.err, run.err
    assert run.err_lines[-1].startswith("maxxton-async harvest: interrupted; "), run.err
    assert "resume" in run.err_lines[-1]


async def test_ctrl_c_stops_a_polling_sync_after_its_batch_with_130(
    sb: Sandbox, tmp_path: Path
) -> None:
    proc = await spawn(*sync_args(sb, tmp_path, "--interval", "3600"))
    assert proc.stdout is not None
    try:
        for _ in range(10):  # bounded: two batches of 500 events
            line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            if line.startswith(b"events ..1000:"):
                break
        else:
            raise AssertionError("the second batch was never reported")
    except BaseException:
        proc.kill()
        raise
    proc.send_signal(signal.SIGINT)
    run = await finish(proc)
    assert run.rc == ExitCode.INTERRUPTED
    assert "Traceback" not in run.err, run.err
    assert run.err_lines[-1].startswith("maxxton-async events: interrupted; checkpoint 1000")


# -- production consent ------------------------------------------------------------------------


def production(sb: Sandbox, tmp_path: Path, *extra: str) -> list[str]:
    return [*sync_args(sb, tmp_path, "--once", "--environment", "production"), *extra]


async def test_production_without_a_terminal_is_refused_before_any_call(
    sb: Sandbox, tmp_path: Path
) -> None:
    run = await cli(*production(sb, tmp_path))
    assert run.rc == ExitCode.USAGE
    assert "Traceback" not in run.err
    assert "Plan: events sync from the start of the feed" in run.err
    assert "Cost: at least 2 calls" in run.err
    assert "billed in production" in run.err
    assert run.err_lines[-1].startswith("maxxton-async events: error: production calls are billed")
    assert "pass --yes" in run.err_lines[-1]
    assert sb.statistics().requests_total == 0


async def test_production_with_yes_shows_the_plan_then_runs(sb: Sandbox, tmp_path: Path) -> None:
    run = await cli(*production(sb, tmp_path, "--yes"))
    assert run.rc == ExitCode.OK, run.err
    assert run.err.index("Plan:") < run.err.index("Confirmed by --yes")
    assert "checkpoint 1000" in run.out
    assert sb.statistics().token_calls == 1


async def test_bench_in_production_with_yes_prints_its_cost(sb: Sandbox, tmp_path: Path) -> None:
    run = await cli(
        "bench", *conn(sb, tmp_path, usage_db=False), "--environment", "production",
        "--requests", "4", "--ledger", "memory", "--yes", "--json",
    )  # fmt: skip
    assert run.rc == ExitCode.OK, run.err
    assert "Cost: 5 calls, billed in production" in run.err
    assert sb.statistics().requests_total == 5


async def test_bench_refuses_more_than_15_in_flight_in_production(
    sb: Sandbox, tmp_path: Path
) -> None:
    run = await cli(
        "bench", *conn(sb, tmp_path, usage_db=False), "--environment", "production",
        "--max-in-flight", "40", "--yes",
    )  # fmt: skip
    assert run.rc == ExitCode.USAGE
    assert_one_line_error(run, "--max-in-flight 40 against production")
    assert sb.statistics().requests_total == 0


@contextlib.contextmanager
def terminal() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal: the child reads its answer from it as from a person."""
    import pty  # POSIX only (the module is skipped elsewhere)

    controller, child_side = pty.openpty()
    try:
        yield controller, child_side
    finally:
        for fd in (controller, child_side):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.mark.parametrize(
    ("answer", "rc", "calls"), [(b"y\n", ExitCode.OK, True), (b"n\n", ExitCode.FAILED, False)]
)
async def test_production_prompt_on_a_terminal(
    sb: Sandbox, tmp_path: Path, answer: bytes, rc: int, calls: bool
) -> None:
    with terminal() as (controller, child_side):
        proc = await spawn(*production(sb, tmp_path), stdin=child_side)
        assert proc.stderr is not None
        try:
            shown = await asyncio.wait_for(proc.stderr.readuntil(b"[y/N] "), TIMEOUT)
        except BaseException:
            proc.kill()
            raise
        assert b"Plan: events sync" in shown
        assert sb.statistics().requests_total == 0  # asked before the token call
        os.write(controller, answer)
        run = await finish(proc)
    assert run.rc == rc, run.err
    assert "Traceback" not in run.err
    if calls:
        assert "checkpoint 1000" in run.out
        assert sb.statistics().token_calls == 1
    else:
        assert run.err_lines == ["maxxton-async events: error: not confirmed: nothing was sent"]
        assert sb.statistics().requests_total == 0


async def test_ctrl_c_at_the_prompt_exits_130(sb: Sandbox, tmp_path: Path) -> None:
    with terminal() as (_controller, child_side):
        proc = await spawn(*production(sb, tmp_path), stdin=child_side)
        assert proc.stderr is not None
        try:
            await asyncio.wait_for(proc.stderr.readuntil(b"[y/N] "), TIMEOUT)
        except BaseException:
            proc.kill()
            raise
        proc.send_signal(signal.SIGINT)
        run = await finish(proc)
    assert run.rc == ExitCode.INTERRUPTED
    assert "Traceback" not in run.err
    assert run.err_lines == ["maxxton-async events: interrupted; the checkpoint holds the last "
                             "committed batch; run again to continue"]  # fmt: skip
    assert sb.statistics().requests_total == 0


# -- sandbox -------------------------------------------------------------------------------------


async def test_sandbox_port_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = await cli("sandbox", "--port", str(port))
    assert run.rc == ExitCode.FAILED
    assert_one_line_error(run, f"port {port} on 127.0.0.1 is already in use", "--port 0")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_sandbox_banner_url_works_as_base_url(tmp_path: Path, stop: int) -> None:
    server = await spawn("sandbox", "--port", "0")
    assert server.stdout is not None
    try:
        banner: dict[str, str] = {}
        for _ in range(20):  # bounded: the banner is a handful of lines
            line = (await asyncio.wait_for(server.stdout.readline(), TIMEOUT)).decode()
            key, _, value = line.strip().partition(" ")
            banner[key] = value.strip()
            if line.startswith("Ctrl-C"):
                break
        url = banner["base_url"]
        assert not url.endswith("/maxxton/v2")
        run = await cli(
            "events", "sync", "--once", "--base-url", url,
            "--client-id", banner["client_id"], "--client-secret", banner["client_secret"],
            "--scope", banner["scope"], "--checkpoint", str(tmp_path / "e.sqlite"),
            "--usage-db", str(tmp_path / "u.sqlite3"),
        )  # fmt: skip
        assert run.rc == ExitCode.OK, run.err
        assert "checkpoint 1000" in run.out
    finally:
        server.send_signal(stop)
        stopped = await finish(server)
    assert stopped.rc == 0
    assert "Traceback" not in stopped.err
    assert stopped.err_lines == ["sandbox stopped"]


# -- without the cli extra ----------------------------------------------------------------------


async def test_demo_without_rich_says_so_once_and_prints_text(tmp_path: Path) -> None:
    blocker = tmp_path / "no-rich" / "rich"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('rich blocked by the test')\n")
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(blocker.parent), env["PYTHONPATH"]])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "maxxton_async", "demo", "--latency", "0", "--days", "10",
        "--mutations", "4",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    run = await finish(proc)
    assert run.rc == 0, run.err
    assert run.err_lines == [
        "note: rich is not installed (pip install 'maxxton-async[cli]'): no progress bar, "
        "and a plain-text report"
    ]
    assert run.out.startswith("Harvest: ")
    assert "client, ledger and sandbox counts: consistent" in run.out
    assert not run.out.lstrip().startswith("{")  # not silently JSON


async def test_harvest_without_rich_says_so_once(sb: Sandbox, tmp_path: Path) -> None:
    blocker = tmp_path / "no-rich" / "rich"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('rich blocked by the test')\n")
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(blocker.parent), env["PYTHONPATH"]])
    start = sb.data.start_date.isoformat()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "maxxton_async", "harvest", *conn(sb, tmp_path), "--from", start,
        "--to", start, "--duration", "7", "--out", str(tmp_path / "prices.sqlite"),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    run = await finish(proc)
    assert run.rc == 0, run.err
    notes = [line for line in run.err_lines if "rich is not installed" in line]
    assert notes == [
        "note: rich is not installed (pip install 'maxxton-async[cli]'): no progress bar; "
        "the summary is printed at the end"
    ]
    assert "Traceback" not in run.err
