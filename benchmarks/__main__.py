"""Run the benchmarks and write ``benchmarks/results.md`` and ``benchmarks/throughput.png``.

``python -m benchmarks`` (what ``nox -s bench`` runs) runs every section; ``--quick`` runs
fewer rounds, smaller sweeps and a 100,000-record harvest (a couple of minutes instead of
about eight); ``--only`` picks sections. ``python -m benchmarks fleet`` runs only the fleet
section (processes sharing 15 slots through ``RedisLimiter``) and writes
``benchmarks/fleet.md`` instead of ``results.md``. Every loop is bounded by counts; each
child process (sandbox, measured clients) has a timeout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

# Each section's module is imported when it runs: the fleet part alone needs neither orjson
# nor pydantic (the decode section's competitors).
from . import report

SECTIONS = (
    "throughput",
    "sendpath",
    "sweeps",
    "fleet",
    "pagination",
    "decode",
    "overhead",
    "harvest",
    "index",
    "adaptive",
    "pending",
    "ceiling",
    "engines",
    "instructions",
)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the chosen sections, write the report; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument(
        "part", nargs="?", choices=("fleet",), help="run just this part (writes its own file)"
    )
    p.add_argument("--quick", action="store_true", help="fewer rounds, smaller sweeps")
    p.add_argument("--only", action="append", choices=SECTIONS, help="run only these (repeat)")
    p.add_argument("--rounds", type=int, default=None, help="throughput rounds (default 5, 3)")
    args = p.parse_args(argv)
    sections = [args.part] if args.part else (args.only or list(SECTIONS))
    quick = args.quick
    rounds = max(1, min(args.rounds or (3 if quick else 5), 20))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    results: dict[str, Any] = {
        "quick": quick,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": " / ".join(f"{x:.2f}" for x in load),
    }
    started = time.perf_counter()

    def step(name: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {name} ...", file=sys.stderr, flush=True)

    if "throughput" in sections:
        step("throughput (interleaved rounds)")
        from . import throughput

        results["throughput"] = throughput.run(rounds=rounds, quick=quick)
    if "sendpath" in sections:
        step("send path, wire stubbed")
        from . import sendpath

        results["sendpath"] = sendpath.run(n=2000 if quick else 5000, rounds=3 if quick else 5)
    if "sweeps" in sections:
        step("throughput sweeps (chart)")
        caps = (1, 2, 4, 6, 8, 10, 12, 15) if quick else tuple(range(1, 16))
        # One second per point even in a full run: the chart shows shape, the rounds above
        # carry the ratios.
        from . import throughput

        results["sweep_cap"] = throughput.sweep_cap(caps=caps, quick=True)
        results["sweep_latency"] = throughput.sweep_latency(quick=True)
    if "fleet" in sections:
        step("fleet: 1, 2, 4 processes sharing 15 (interleaved rounds)")
        from . import fleet

        results["fleet"] = fleet.run(rounds=2 if quick else 3, seconds=2.0 if quick else 3.0)
    if "pagination" in sections:
        step("pagination")
        from . import pagination

        results["pagination"] = pagination.run(rounds=3 if quick else 5)
    if "decode" in sections:
        step("decode")
        from . import decode

        results["decode"] = decode.run(quick=quick)
    if "overhead" in sections:
        step("ledger and limiter overhead")
        from . import overhead

        results["overhead"] = overhead.measure_overhead(1000 if quick else 3000)
    if "harvest" in sections:
        step("harvest memory")
        from . import harvest_memory

        results["harvest"] = harvest_memory.run(100_000 if quick else 1_000_000)
    if "index" in sections:
        step("index call economy")
        from . import index_economy

        results["index"] = index_economy.run(quick=quick)
    if "adaptive" in sections:
        step("adaptive cap (another tenant holds 5 slots)")
        from . import adaptive

        results["adaptive"] = adaptive.run(rounds=2 if quick else 3, n=1500 if quick else 3000)
        step("adaptive cap, fleet-wide (processes sharing one RedisLimiter)")
        results["adaptive_fleet"] = adaptive.run_fleet(
            rounds=2 if quick else 3, n=1500 if quick else 3000
        )
    if "pending" in sections:
        step("memory per pending call")
        from . import pending_memory

        results["pending"] = pending_memory.run(n=20_000 if quick else 100_000)
    if "ceiling" in sections:
        step("harvest ceiling (canned answers)")
        from . import harvest_ceiling

        results["ceiling"] = harvest_ceiling.run(windows=12 if quick else 24)
    if "instructions" in sections:
        step("instructions per call under callgrind (SDK, transport, hand-written)")
        from . import instructions

        results["instructions"] = (
            instructions.run(small=100, large=500) if quick else instructions.run()
        )

    if "engines" in sections:
        step("HTTP engines: SDK on aiohttp vs on pyreqwest (interleaved rounds)")
        from . import engines

        results["engines"] = engines.run(rounds=3, seconds=1.0 if quick else 1.5)
        if "skipped" in results["engines"]:
            print(f"  engines skipped: {results['engines']['skipped']}", file=sys.stderr)
    results["seconds"] = time.perf_counter() - started
    results["machine"] = report.machine()
    chart = report.write_chart(results)
    out = report.HERE / "fleet.md" if args.part == "fleet" else report.HERE / "results.md"
    md = report.write_markdown(results, Path(out))
    print(md.read_text())
    print(f"wrote {md}" + (f" and {chart}" if chart else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
