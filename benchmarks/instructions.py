"""Client cost per call in CPU instructions, which a loaded machine does not blur.

Seconds of CPU per request swing with whatever else the machine runs; the number of
instructions a call executes does not. Each client runs in a child process under
``valgrind --tool=callgrind`` against one sandbox process (not under valgrind), 15 in
flight, at two sizes; the difference divided by the difference in calls is the cost of one
call, start-up and warm-up cancelled out. Clients:

* ``hand-written``: aiohttp + ``asyncio.Semaphore(15)`` + ``msgspec.json.decode``;
* ``transport``: the same, sending through the SDK's ``AiohttpTransport`` (its typed errors
  and ``sent`` tracking are what it adds);
* ``sdk``: ``MaxxtonClient.request`` with a ``MemoryLedger``;
* ``hand-stubbed`` and ``sdk-stubbed``: the first and the last with the wire replaced by
  :class:`benchmarks.sendpath.StubTransport` (a canned answer after one event-loop pass).
  Only client code runs, so these two counts repeat to within about 0.5% from run
  to run, where the loopback ones move by about 5% with how many answers each ``select()``
  returns: compare send-path changes with these.

Skipped, with a note, where valgrind is not installed.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from typing import Any

from ._server import ServerProcess

__all__ = ["CLIENTS", "available", "markdown", "run"]

CLIENTS = ("hand-written", "transport", "sdk", "hand-stubbed", "sdk-stubbed")
#: Each client's count is divided by its baseline's.
BASELINE = {
    "hand-written": "hand-written",
    "transport": "hand-written",
    "sdk": "hand-written",
    "hand-stubbed": "hand-stubbed",
    "sdk-stubbed": "hand-stubbed",
}
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def available() -> bool:
    """Whether valgrind is on the PATH."""
    return shutil.which("valgrind") is not None


async def _child(client: str, n: int, base_url: str, creds: list[str], path: str) -> None:
    import aiohttp
    import msgspec

    from maxxton_async import MaxxtonClient, MemoryLedger
    from maxxton_async.transport import AiohttpTransport, Request

    from .sendpath import StubTransport

    decode = msgspec.json.decode
    sem = asyncio.Semaphore(15)
    stub = StubTransport()
    stub.yielding = True  # one event-loop pass per exchange, as the wire would take
    stubbed = client.endswith("-stubbed")
    sdk = MaxxtonClient(
        *creds, base_url=base_url, ledger=MemoryLedger(), transport=stub if stubbed else None
    )
    authorization = (await sdk.tokens.token()).authorization
    headers = {"Accept": "application/json", "Authorization": authorization}
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=19))
    transport = AiohttpTransport()
    request = Request("GET", path, base_url, (), headers)

    async def hand_written() -> Any:
        async with sem, session.get(base_url + path, headers=headers) as response:
            body = await response.read()
        return decode(body)

    async def through_transport() -> Any:
        async with sem:
            response = await transport.send(request)
        return decode(response.body)

    async def through_sdk() -> Any:
        return await sdk.request("GET", path)

    async def hand_stubbed() -> Any:
        async with sem:
            response = await stub.send(request)
        return decode(response.body)

    one = {
        "hand-written": hand_written,
        "transport": through_transport,
        "sdk": through_sdk,
        "hand-stubbed": hand_stubbed,
        "sdk-stubbed": through_sdk,
    }
    call = one[client]
    try:
        await asyncio.gather(*(call() for _ in range(30)))  # connections and caches warm
        await asyncio.gather(*(call() for _ in range(n)))
    finally:
        await sdk.aclose()
        await session.close()
        await transport.aclose()


def _instructions(client: str, n: int, server: ServerProcess) -> int:
    creds = [server.client_id, server.client_secret, server.scope]
    path = f"/maxxton/v2/customers/{server.customer_ids[0]}"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        client,
        str(n),
        server.base_url,
        path,
        *creds,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run of {client} failed: {done.stderr[-500:]}")
    return int(found.group(1))


def run(*, small: int = 300, large: int = 1500) -> dict[str, Any]:
    """Instructions per call of each client, and each as a ratio to its hand-written
    baseline (:data:`BASELINE`: on loopback, or with the wire stubbed).

    Returns ``{"rows": [{"client", "per_call", "ratio"}], "calls": large - small}``, or
    ``{"skipped": reason}`` without valgrind.
    """
    if not available():
        return {"skipped": "valgrind is not installed"}
    if large <= small:
        raise ValueError("large must exceed small")
    per_call: dict[str, float] = {}
    with ServerProcess("--size", "demo") as server:
        for client in CLIENTS:
            low = _instructions(client, small, server)
            high = _instructions(client, large, server)
            per_call[client] = (high - low) / (large - small)
    rows = [
        {"client": c, "per_call": per_call[c], "ratio": per_call[c] / per_call[BASELINE[c]]}
        for c in CLIENTS
    ]
    return {"rows": rows, "calls": large - small}


def markdown(result: dict[str, Any]) -> list[str]:
    """The section's table."""
    if "skipped" in result:
        return [f"Skipped: {result['skipped']}."]
    lines = [
        "`benchmarks/instructions.py`: instructions per call counted by callgrind in the "
        f"client process (the difference between two runs, {result['calls']:,} calls apart; "
        "15 in flight; sandbox in its own process at 0 ms). Unlike CPU seconds, these do "
        "not move with the machine's load; the loopback rows still move by about 5% between "
        "runs with how many answers each `select()` returns. The two stubbed rows run only "
        "client code (a canned answer after one event-loop pass) and repeat to within about "
        "0.5%: compare "
        "send-path changes with those. Each ratio is against the hand-written client of the "
        "same kind (loopback or stubbed).",
        "",
        "| client | instructions per call | × hand-written |",
        "|---|---:|---:|",
    ]
    names = {
        "hand-written": "hand-written aiohttp + Semaphore(15) + msgspec",
        "transport": "the same through the SDK's AiohttpTransport",
        "sdk": "SDK: client.request (MemoryLedger)",
        "hand-stubbed": "hand-written Semaphore(15) + msgspec, wire stubbed",
        "sdk-stubbed": "SDK: client.request (MemoryLedger), wire stubbed",
    }
    for row in result["rows"]:
        lines.append(f"| {names[row['client']]} | {row['per_call']:,.0f} | {row['ratio']:.2f} |")
    return lines


if __name__ == "__main__":
    _client, _n, _base, _path, *_creds = sys.argv[1:]
    asyncio.run(_child(_client, int(_n), _base, _creds, _path))
