"""The four promises under faults, each proven by a server that counts.

* the server never sees more than the cap, even when callers are cancelled mid-exchange;
* every billed attempt is counted once, before it leaves (and given back if it never left);
* a create is never sent twice (no redirects followed, no silent resend);
* every failure is typed, and no secret appears in any error, cause or log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from maxxton_async import (
    AuthenticationError,
    Budget,
    BudgetExceededError,
    ConnectError,
    MaxxtonError,
    MemoryLedger,
    OutcomeUnknownError,
    ProtocolError,
    RedirectError,
    RequestTimeoutError,
    RetryPolicy,
    RetryQuota,
    ServerError,
    SQLiteLedger,
    TransportError,
)
from maxxton_async.transport import Request, Response
from tests._counting_server import (
    CLIENT_SECRET,
    CountingServer,
    Scripted,
    failing_token_server,
)
from tests._raw_server import TOKEN, RawRequest, RawServer, token_answer
from tests._support import FAST, chain, make

ROOT = Path(__file__).resolve().parents[1]


# -- the cap under cancellation --------------------------------------------------------


class GatedTransport:
    """A transport whose exchanges end only when the test says so (no timing)."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.gate = asyncio.Event()

    async def send(self, request: Request) -> Response:
        self.started += 1
        if request.purpose == "token":
            body = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}'
            self.finished += 1
            return Response(200, {}, body)
        await self.gate.wait()
        self.finished += 1
        return Response(200, {}, b"{}")

    async def aclose(self) -> None:
        self.gate.set()


async def test_a_cancelled_call_keeps_its_slot_until_the_exchange_ends(
    creds: dict[str, str],
) -> None:
    transport = GatedTransport()
    client = make("http://127.0.0.1:9", creds, transport=transport, max_in_flight=2)
    async with client:
        calls = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(3)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert transport.started == 3  # token + the two calls that got slots
        assert client.statistics().in_flight == 2
        assert client.statistics().waiting == 1
        calls[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await calls[0]  # the caller sees its cancellation at once...
        for _ in range(20):
            await asyncio.sleep(0)
        # ...but its request is still on the wire: the slot stays taken, nobody new goes.
        assert client.statistics().in_flight == 2
        assert transport.started == 3
        transport.gate.set()
        await asyncio.gather(*calls[1:])
        assert transport.started == 4
        assert client.statistics().in_flight == 0


async def test_a_call_cancelled_while_queued_is_not_billed(creds: dict[str, str]) -> None:
    transport = GatedTransport()
    ledger = MemoryLedger()
    client = make("http://127.0.0.1:9", creds, transport=transport, max_in_flight=1, ledger=ledger)
    async with client:
        first = asyncio.ensure_future(client.request("GET", "ping"))
        queued = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(5)]
        for _ in range(20):
            await asyncio.sleep(0)
        for task in queued:
            task.cancel()
        await asyncio.gather(*queued, return_exceptions=True)
        transport.gate.set()
        await first
        snap = await client.usage.snapshot()
    assert transport.started == 2  # the token and the first call
    assert snap.today == 2  # the five cancelled calls gave their units back


async def test_a_call_already_cancelled_or_past_its_deadline_is_not_sent(
    creds: dict[str, str],
) -> None:
    """A cancellation or deadline pending when the call starts lands before the exchange
    starts: nothing is sent, nothing billed. (An eager exchange task, Python 3.12+, would
    send first: why the client does not use one.)"""
    transport = GatedTransport()
    transport.gate.set()
    ledger = MemoryLedger()
    client = make("http://127.0.0.1:9", creds, transport=transport, ledger=ledger)
    async with client:
        await client.request("GET", "ping")  # token and one call
        for _ in range(5):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0):
                    await client.request("GET", "ping")

        async def cancelled_before_it_calls() -> None:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await client.request("GET", "ping")

        for _ in range(5):
            with pytest.raises(asyncio.CancelledError):
                await asyncio.create_task(cancelled_before_it_calls())
        snap = await client.usage.snapshot()
    assert transport.started == 2
    assert snap.today == 2


async def test_cancellation_storm_keeps_cap_count_and_budget(
    creds: dict[str, str], tmp_path: Path
) -> None:
    """3 rounds x 2,000 calls at 50-100 ms, about half cancelled at random moments
    (queued, on the wire, backing off after a 503); the server refuses a 16th call."""
    rng = random.Random(11)
    budget_limit = 4_000
    async with CountingServer(cap=15, latency_range=(0.05, 0.1)) as server:
        ledger = SQLiteLedger(tmp_path / "storm.sqlite3")
        budget = Budget(daily=budget_limit, hard=True, bill_acceptance=True)
        client = make(server.base_url, creds, ledger=ledger, budget=budget)
        async with client:
            for _round in range(3):
                for _ in range(150):  # some calls back off after a 503 and get cancelled
                    server.script.append(Scripted(503))
                tasks = [asyncio.ensure_future(client.request("GET", "ping")) for _ in range(2000)]
                victims = rng.sample(tasks, 1000)
                deadline = asyncio.get_running_loop().time() + 6.0
                for task in victims:
                    # Real time between cancels: they must land on the wire and in backoff.
                    await asyncio.sleep(rng.uniform(0, 0.006))
                    task.cancel()
                    if asyncio.get_running_loop().time() > deadline:
                        break
                results = await asyncio.gather(*tasks, return_exceptions=True)
                assert all(
                    isinstance(r, dict | asyncio.CancelledError | BudgetExceededError | ServerError)
                    for r in results
                ), {type(r) for r in results}
            # Spend the rest of the budget: every unit that never reached the wire was
            # given back, so the server receives exactly the budget, no more, no less.
            for _ in range(200):  # bounded: the budget is spent long before
                last = await asyncio.gather(
                    *(client.request("GET", "ping") for _ in range(50)), return_exceptions=True
                )
                if any(isinstance(r, BudgetExceededError) for r in last):
                    break
        assert server.peak <= 15
        assert server.refused == 0  # no 429 from a server that refuses a 16th call
        reopened = SQLiteLedger(tmp_path / "storm.sqlite3")
        counted = await reopened.counts(
            scope="tst", environment="test", day=(await client.usage.snapshot()).at.date()
        )
        await reopened.aclose()
        assert counted.day == server.requests == budget_limit


# -- count before the wire, durably ----------------------------------------------------

WORKER = """
import asyncio, sys
from maxxton_async import MaxxtonClient, SQLiteLedger, RetryPolicy

async def main() -> None:
    client = MaxxtonClient("tester", "s3cr3t-value-never-shown", "tst", base_url=sys.argv[1],
                           ledger=SQLiteLedger(sys.argv[2]), retry=RetryPolicy.none())
    async with client:
        for _ in range(400):  # bounded; the test kills us long before
            await asyncio.gather(*(client.request("GET", "ping") for _ in range(15)))

asyncio.run(main())
"""


@pytest.mark.slow
async def test_kill_9_never_leaves_a_sent_request_uncounted(
    creds: dict[str, str], tmp_path: Path
) -> None:
    db = tmp_path / "killed.sqlite3"
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    rng = random.Random(3)
    async with CountingServer(latency=0.002) as server:
        for _ in range(5):
            before = server.requests
            target = before + rng.randint(50, 400)
            await server.kill_worker_at([str(script), server.base_url, str(db)], target, str(ROOT))
            ledger = SQLiteLedger(db)
            counted = await ledger.counts(
                scope="tst", environment="test", day=datetime.now(UTC).date()
            )
            await ledger.aclose()
            assert server.requests > before
            assert counted.day >= server.requests, (counted.day, server.requests)


# -- no silent resend ------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_redirects_are_never_followed(
    creds: dict[str, str], status: int, method: str
) -> None:
    async with CountingServer() as server:
        async with make(server.base_url, creds) as client:
            server.script.append(
                Scripted(status, b"", headers={"Location": f"{server.base_url}/maxxton/v2/x"})
            )
            with pytest.raises(RedirectError) as info:
                await client.request(method, "reservations", json={"a": 1})
            snap = await client.usage.snapshot()
        assert info.value.status == status
        assert info.value.location == f"{server.base_url}/maxxton/v2/x"
        calls = server.api_calls()
        assert [(c.method, c.path) for c in calls] == [(method, "/maxxton/v2/reservations")]
        assert snap.today == server.requests == 2  # token + the one call, both counted


# -- every failure typed ---------------------------------------------------------------


def malformed(request: RawRequest) -> bytes | None:
    if request.path == "/maxxton/v2/authenticate":
        return token_answer()
    return b"HTTP/1.1 2OO NOT OK\r\nContent-Length: 2\r\n\r\n{}"


def truncated(request: RawRequest) -> bytes | None:
    if request.path == "/maxxton/v2/authenticate":
        return token_answer()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"


@pytest.mark.parametrize("answer", [malformed, truncated])
async def test_invalid_answers_are_typed_and_creates_never_resent(
    creds: dict[str, str], answer: Any
) -> None:
    async with RawServer(answer) as server, make(server.base_url, creds) as client:
        with pytest.raises(ProtocolError) as got:
            await client.request("GET", "units")
        assert got.value.sent is True
        assert len(server.api_calls()) == FAST.max_attempts  # a GET is retried
        with pytest.raises(OutcomeUnknownError):
            await client.request("POST", "reservations", json={"a": 1})
        posts = [r for r in server.api_calls() if r.method == "POST"]
        assert len(posts) == 1  # never sent twice
        snap = await client.usage.snapshot()
        assert snap.today == len(server.seen)


async def test_connect_timeout_is_known_as_never_sent(creds: dict[str, str]) -> None:
    """A listening socket whose backlog is full: SYNs go unanswered, so the connect
    phase times out. Nothing left, so even a create may be (and is) retried."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):  # fill the accept queue; the listener never accepts
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", port))
            fillers.append(s)
        client = make(
            f"http://127.0.0.1:{port}",
            creds,
            connect_timeout=0.2,
            timeout=5.0,
            retry=RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.001),
        )
        async with client:
            with pytest.raises(RequestTimeoutError) as info:
                await client.request("POST", "reservations", json={"a": 1})
        assert info.value.sent is False
        assert not isinstance(info.value, OutcomeUnknownError)
        assert isinstance(info.value, TimeoutError)  # also the builtin
    finally:
        for s in fillers:
            s.close()
        listener.close()


# -- one mint failure, shared ----------------------------------------------------------


@pytest.mark.parametrize("fault", ["500", "401", "hang"])
async def test_twenty_waiters_share_one_failed_mint(creds: dict[str, str], fault: str) -> None:
    retry = RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.001)
    async with failing_token_server(creds, fault, timeout=0.3, retry=retry) as (server, client, _):
        results = await asyncio.gather(
            *(client.request("GET", "ping") for _ in range(20)), return_exceptions=True
        )
    expected = {
        "500": ServerError,
        "401": AuthenticationError,
        "hang": RequestTimeoutError,
    }[fault]
    assert all(isinstance(r, expected) for r in results), results
    assert server.auth_calls <= 2
    assert server.api_calls() == []


async def test_a_failing_token_endpoint_cools_down_then_gives_up(creds: dict[str, str]) -> None:
    # 500: the guide's answer to refused credentials.
    async with failing_token_server(creds, 500) as (server, client, time):
        errors = []
        for _ in range(5):
            try:
                await client.request("GET", "ping")
            except MaxxtonError as exc:
                errors.append(exc)
    assert [type(e) for e in errors[:2]] == [ServerError, ServerError]
    assert all(isinstance(e, AuthenticationError) for e in errors[2:])
    assert server.auth_calls == 3  # then refused without another billed call
    assert time.slept == [1.0, 2.0]  # the cool-down grows


# -- the retry quota -------------------------------------------------------------------


async def test_a_5xx_storm_cannot_multiply_billed_calls(creds: dict[str, str]) -> None:
    async with CountingServer() as server:
        for _ in range(2000):
            server.script.append(Scripted(503))
        quota = RetryQuota(capacity=100, retry_cost=5)
        async with make(server.base_url, creds, retry_quota=quota) as client:
            results = await asyncio.gather(
                *(client.request("GET", "ping") for _ in range(100)), return_exceptions=True
            )
    assert all(isinstance(r, ServerError) for r in results)
    retries = len(server.api_calls()) - 100
    assert retries == 20  # 100 tokens / 5 per retry, then every call fails fast
    assert quota.available == 0


# -- no secret anywhere ----------------------------------------------------------------


def leaks(exc: BaseException, secrets: list[str]) -> list[str]:
    found = []
    for e in chain(exc):
        texts = [str(e), repr(e), *map(repr, e.args), *map(repr, vars(e).values())]
        for text in texts:
            for secret in secrets:
                if secret in text:
                    found.append(f"{type(e).__name__}: {text[:120]}")
    return found


def echo_everything(request: RawRequest) -> bytes | None:
    echo = f"{request.method} {request.target}\n{request.headers}\n{request.body.decode()}"
    if request.path == "/maxxton/v2/authenticate":
        return token_answer()
    body = echo.encode()
    return b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def mangled_auth(request: RawRequest) -> bytes | None:
    return b"HTTP/1.1 2OO NOT OK\r\n\r\n"


@pytest.mark.parametrize("auth_transport", ["form", "query"])
async def test_no_secret_in_any_error_chain_or_debug_log(
    creds: dict[str, str], auth_transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [CLIENT_SECRET, TOKEN]
    provoked: list[BaseException] = []
    one_try = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.001)
    # 1. the API answers 500 and echoes the request (Authorization header included)
    async with (
        RawServer(echo_everything) as server,
        make(server.base_url, creds, auth_transport=auth_transport) as client,
    ):
        with pytest.raises(ServerError) as e1:
            await client.request("GET", "units")
        provoked.append(e1.value)
    # 2. the token endpoint answers 500 / 401 echoing the form or query (with the secret)
    for status in (500, 401, 502):
        async with CountingServer() as counting:
            counting.auth_status = status
            async with make(
                counting.base_url, creds, auth_transport=auth_transport, retry=one_try
            ) as client:
                with pytest.raises(MaxxtonError) as e2:
                    await client.request("GET", "units")
                provoked.append(e2.value)
    # 3. the token endpoint answers a malformed status line (aiohttp's text quotes the URL)
    async with (
        RawServer(mangled_auth) as server,
        make(server.base_url, creds, auth_transport=auth_transport, retry=one_try) as client,
    ):
        with pytest.raises(TransportError) as e3:
            await client.request("GET", "units")
        provoked.append(e3.value)
    # 4. nobody listens
    async with CountingServer() as gone:
        url = gone.base_url
    async with make(url, creds, auth_transport=auth_transport, retry=one_try) as client:
        with pytest.raises(ConnectError) as e4:
            await client.request("GET", "units")
        provoked.append(e4.value)
    assert len(provoked) == 6
    for exc in provoked:
        assert leaks(exc, secrets) == [], leaks(exc, secrets)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records  # the retries above did log at DEBUG
    for secret in secrets:
        assert secret not in logged


# -- persistent failures end -----------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_event_sync_run_ends_on_refused_credentials(
    creds: dict[str, str], status: int
) -> None:
    from maxxton_async import EventSync

    async with failing_token_server(creds, status) as (server, client, _):
        sync = EventSync(client)
        with pytest.raises(AuthenticationError):
            # Without the bound this would poll forever; max_passes is the backstop.
            await sync.run(lambda batch: None, interval=0, max_passes=50)
    assert server.auth_calls <= 3
    assert sync.statistics().passes < 50


def test_cli_events_sync_once_exits_non_zero_after_a_failed_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from maxxton_async.cli import main

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [
        "events",
        "sync",
        "--once",
        "--base-url",
        f"http://127.0.0.1:{port}",
        "--client-id",
        "x",
        "--client-secret",
        "y",
        "--scope",
        "z",
        "--usage-db",
        str(tmp_path / "u.sqlite3"),
        "--checkpoint",
        str(tmp_path / "events.sqlite3"),
    ]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "failed" in err
    assert "Traceback" not in err


async def test_an_uncountable_attempt_is_not_sent(creds: dict[str, str], tmp_path: Path) -> None:
    """The ledger's store is gone (a directory where the SQLite file should be): every
    call fails with LedgerUnavailableError and the server receives nothing."""
    from maxxton_async import LedgerUnavailableError

    bad = tmp_path / "not-a-file"
    bad.mkdir()
    async with CountingServer() as server:
        async with make(server.base_url, creds, ledger=SQLiteLedger(bad)) as client:
            results = await asyncio.gather(
                *(client.request("GET", "ping") for _ in range(10)), return_exceptions=True
            )
        assert all(isinstance(r, LedgerUnavailableError) for r in results), results
        assert server.requests == 0


@pytest.mark.redis
async def test_when_the_redis_ledger_dies_nothing_goes_out_uncounted(
    creds: dict[str, str],
) -> None:
    from maxxton_async import LedgerUnavailableError, RedisLedger
    from tests._own_redis import OwnRedis

    redis = OwnRedis()
    redis.start()
    try:
        async with CountingServer() as server:
            ledger = RedisLedger(redis.url, prefix="faults")
            async with make(server.base_url, creds, ledger=ledger) as client:
                await asyncio.gather(*(client.request("GET", "ping") for _ in range(30)))
                assert (await client.usage.snapshot()).today == server.requests == 31
                redis.kill()
                results = await asyncio.gather(
                    *(client.request("GET", "ping") for _ in range(30)), return_exceptions=True
                )
                assert all(isinstance(r, LedgerUnavailableError) for r in results), results
                assert server.requests == 31  # nothing left uncounted
                redis.start()  # back, empty (nothing kept on disk)
                await asyncio.gather(*(client.request("GET", "ping") for _ in range(30)))
                assert server.requests == 61
                assert (await client.usage.snapshot()).today == 30
    finally:
        redis.kill()
