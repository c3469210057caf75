"""HTTP engines behind the transport seam: the SDK on aiohttp against the SDK on pyreqwest.

Three clients, each in a fresh child process (``benchmarks.throughput``'s harness, so that
``time.process_time()`` there is the client's CPU alone, pyreqwest's Rust threads included):

* ``sdk-memory`` -- the SDK on its default :class:`~maxxton_async.transport.AiohttpTransport`
  (``MemoryLedger``): the baseline every ratio is taken against;
* ``sdk-pyreqwest`` -- the same SDK with ``transport=PyreqwestTransport(...)``
  (:class:`maxxton_async.transport.PyreqwestTransport`, Rust reqwest/hyper under the seam);
* ``aiohttp`` -- the hand-written aiohttp + ``Semaphore(15)`` + msgspec client of the
  throughput section.

Against one sandbox process at 0, 2 and 20 ms latency, 15 in flight, all calls awaited at
once. Rounds are interleaved (every latency in every round, clients in a rotating order);
each ratio is taken within its round against ``sdk-memory`` at the same latency, so slow
spells on the shared machine hit both sides of a ratio; the report gives the median ratio
and its range over the rounds.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
from typing import Any

from ._server import ServerProcess
from .throughput import _run_child

__all__ = ["BASELINE", "CLIENTS", "LATENCIES", "available", "markdown", "run"]

BASELINE = "sdk-memory"
CLIENTS = ("sdk-memory", "sdk-pyreqwest", "aiohttp")
LATENCIES = (0.0, 0.002, 0.02)
NAMES = {
    "sdk-memory": "SDK on AiohttpTransport (default)",
    "sdk-pyreqwest": "SDK on PyreqwestTransport",
    "aiohttp": "hand-written aiohttp + Semaphore(15) + msgspec",
}
#: What the sandbox serves at best on a small machine (it answers at about 2,000 req/s).
_SERVER_RPS = 2000.0


def available() -> bool:
    """Whether pyreqwest is installed (the ``bench`` extra)."""
    return importlib.util.find_spec("pyreqwest") is not None


def _load() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return " / ".join(f"{x:.2f}" for x in load)


def _count(latency: float, cap: int, seconds: float) -> int:
    per_s = min(cap / latency, _SERVER_RPS) if latency > 0 else _SERVER_RPS
    return int(max(40, per_s * seconds))


def run(
    latencies: tuple[float, ...] = LATENCIES,
    rounds: int = 3,
    cap: int = 15,
    seconds: float = 1.5,
    clients: tuple[str, ...] = CLIENTS,
) -> dict[str, Any]:
    """Interleaved rounds of every client at every latency; ratios to :data:`BASELINE`.

    Returns ``{"skipped": reason}`` when pyreqwest is missing, else ``rows`` (one per
    latency and client: median ``rps`` and ``cpu_us``, per-round ``rps_ratios`` and
    ``cpu_ratios`` to the baseline with their median, the server's peak in flight and its
    429s), ``rounds``, ``cap``, ``seconds`` (about that much of calls per measurement) and
    the load average at start and end.
    """
    if BASELINE not in clients:
        raise ValueError(f"the clients must include the baseline {BASELINE!r}")
    if "sdk-pyreqwest" in clients and not available():
        return {"skipped": "pyreqwest is not installed (pip install 'maxxton-async[bench]')"}
    load_start = _load()
    raw: dict[tuple[float, str], list[dict[str, Any]]] = {}
    with ServerProcess("--size", "demo") as server:
        for r in range(rounds):
            for latency in latencies:
                server.set_faults(latency=latency)
                order = clients[r % len(clients) :] + clients[: r % len(clients)]
                n = _count(latency, cap, seconds)
                for client in order:
                    raw.setdefault((latency, client), []).append(_run_child(server, client, n, cap))
    rows = []
    for latency in latencies:
        base = raw[(latency, BASELINE)]
        for client in clients:
            runs = raw[(latency, client)]
            # Round i of this client against round i of the baseline: same neighbours in time.
            rps_ratios = [x["rps"] / b["rps"] for x, b in zip(runs, base, strict=True)]
            cpu_ratios = [x["cpu_us"] / b["cpu_us"] for x, b in zip(runs, base, strict=True)]
            rows.append(
                {
                    "latency_ms": latency * 1e3,
                    "client": client,
                    "n": runs[0]["n"],
                    "rps": statistics.median(x["rps"] for x in runs),
                    "cpu_us": statistics.median(x["cpu_us"] for x in runs),
                    "rps_ratios": rps_ratios,
                    "rps_ratio": statistics.median(rps_ratios),
                    "cpu_ratios": cpu_ratios,
                    "cpu_ratio": statistics.median(cpu_ratios),
                    "server_peak_in_flight": max(x["server_peak_in_flight"] for x in runs),
                    "server_rejected": sum(x["server_rejected"] for x in runs),
                }
            )
    return {"rows": rows, "rounds": rounds, "cap": cap, "seconds": seconds,
            "load_start": load_start, "load_end": _load()}  # fmt: skip


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}"


def markdown(res: dict[str, Any]) -> list[str]:
    """The section of ``results.md``: a table of ratios, or the note saying why it was skipped."""
    if "skipped" in res:
        return [f"Skipped: {res['skipped']}."]
    out = [
        f"`benchmarks/engines.py`: cap {res['cap']}, {res['rounds']} interleaved rounds of about "
        f"{res['seconds']:g} s of calls per client, `GET /maxxton/v2/customers/{{id}}` all "
        "awaited at once; ratios are per round against the SDK on aiohttp at the same latency "
        "(median, and the range over the rounds). Client CPU counts every thread of the client "
        f"process (pyreqwest's Rust I/O thread included). Load average {res['load_start']} at "
        f"start, {res['load_end']} at end.",
        "",
        "| latency | client | req/s | req/s × SDK on aiohttp (range) | CPU µs/req | "
        "CPU × SDK on aiohttp (range) | server peak in flight | 429s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        out.append(
            f"| {r['latency_ms']:g} ms | {NAMES.get(r['client'], r['client'])} | {r['rps']:.0f} | "
            f"{r['rps_ratio']:.2f} ({_spread(r['rps_ratios'])}) | {r['cpu_us']:.0f} | "
            f"{r['cpu_ratio']:.2f} ({_spread(r['cpu_ratios'])}) | "
            f"{r['server_peak_in_flight']} | {r['server_rejected']} |"
        )
    return out
