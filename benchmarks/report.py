"""Write ``benchmarks/results.md`` and ``benchmarks/throughput.png`` from the collected results."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from pathlib import Path
from typing import Any

__all__ = ["TARGETS", "machine", "write_chart", "write_markdown"]

HERE = Path(__file__).resolve().parent

#: The targets of issue 7, checked in the report.
TARGETS = {
    "sdk_vs_handwritten": 0.97,  # SDK req/s / hand-written req/s at 20 ms
    "of_ceiling": 0.93,  # SDK req/s / (15 / latency) at 20 ms
    "cpu_vs_handwritten": 1.2,  # SDK CPU µs per request / hand-written, at most
    "decode_vs_json": 3.5,  # 1 MB availability: json.loads time / SDK time, at least
    "decode_vs_pydantic": 4.5,  # 1 MB availability: pydantic time / SDK time, at least
    "harvest_mb": 150.0,  # peak RSS of a 1,000,000-record harvest, at most
    "index_extra_calls": 3,  # issue 14: a full portfolio harvest within windows + 3 calls
    "index_fewer_calls": 20.0,  # issue 14: calls/day vs nightly per-type re-harvest, at least
}


def machine() -> dict[str, str]:
    """CPU model, core count, load average, Python and key library versions."""
    cpu = platform.processor() or "unknown"
    # /proc is Linux-only; elsewhere platform.processor() stands.
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import aiohttp
    import msgspec

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": cpu,
        "nproc": str(os.cpu_count()),
        "load": " / ".join(f"{x:.2f}" for x in load),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "aiohttp": aiohttp.__version__,
        "msgspec": msgspec.__version__,
    }


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write_chart(results: dict[str, Any], path: Path = HERE / "throughput.png") -> Path | None:
    """req/s against max_in_flight (left) and against latency (right), with the ceiling."""
    cap_rows = results.get("sweep_cap") or []
    lat_rows = results.get("sweep_latency") or []
    if not cap_rows and not lat_rows:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = {"sdk-memory": "maxxton_async", "aiohttp": "hand-written aiohttp"}
    for client in sorted({r["client"] for r in cap_rows}):
        pts = [r for r in cap_rows if r["client"] == client]
        left.plot([r["cap"] for r in pts], [r["rps"] for r in pts], "o-",
                  label=labels.get(client, client))  # fmt: skip
    if cap_rows:
        caps = sorted({r["cap"] for r in cap_rows})
        lat = cap_rows[0]["latency_ms"] / 1e3
        left.plot(caps, [c / lat for c in caps], "k--", lw=1, label="ceiling (cap / latency)")
        left.set_title(f"req/s against max_in_flight ({cap_rows[0]['latency_ms']:.0f} ms latency)")
        left.set_xlabel("max_in_flight")
        left.set_ylabel("requests per second")
        left.legend()
        left.grid(alpha=0.3)
    for client in sorted({r["client"] for r in lat_rows}):
        pts = sorted((r for r in lat_rows if r["client"] == client), key=lambda r: r["latency_ms"])
        right.plot([r["latency_ms"] for r in pts], [r["rps"] for r in pts], "o-",
                   label=labels.get(client, client))  # fmt: skip
    if lat_rows:
        lats = sorted({r["latency_ms"] for r in lat_rows})
        cap = lat_rows[0]["cap"]
        right.plot(lats, [cap / (x / 1e3) for x in lats], "k--", lw=1, label="ceiling")
        right.set_xscale("log")
        right.set_yscale("log")
        right.set_title(f"req/s against server latency (cap {cap})")
        right.set_xlabel("server latency (ms)")
        right.legend()
        right.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _per_call_md(
    title: str, intro: str, label: str, us: dict[str, float], *, digits: int
) -> list[str]:
    """A section of one table: µs per call of each named step or component."""
    rows = [f"| {k} | {v:.{digits}f} |" for k, v in us.items()]
    return [f"## {title}", "", intro, "", f"| {label} | µs per call |", "|---|---:|", *rows, ""]


def _throughput_md(tp: dict[str, Any]) -> list[str]:
    names = {
        "sdk-memory": "SDK, MemoryLedger",
        "sdk-sqlite": "SDK, SQLite ledger (default)",
        "sdk-anyio": "SDK, MemoryLedger, AnyioLimiter (anyio.CapacityLimiter)",
        "aiohttp": "hand-written aiohttp + Semaphore + msgspec",
        "httpx": "httpx.AsyncClient(max_connections=15)",
        "httpx-sem": "httpx + Semaphore(15)",
        "sequential": "SDK, sequential awaits",
        "sdk-uvloop": "SDK, MemoryLedger, on uvloop (speed extra)",
        "aiohttp-uvloop": "hand-written aiohttp on uvloop",
    }
    out = [
        f"Cap {tp['cap']}, {tp['rounds']} interleaved rounds, medians; "
        "`GET /maxxton/v2/customers/{id}`, all calls awaited at once (sequential: one by one). "
        "Ratio and CPU ratio are against the hand-written client in the same rounds; the "
        "ceiling is cap / latency (sequential: 1 / latency); the measured ceiling is cap × "
        "the sequential rate, i.e. cap over the round trip this machine and sandbox really "
        "give (the sandbox's timer overshoots its latency knob by about a millisecond, and "
        "loopback and scheduling on a loaded machine add their share).",
        "",
        "| latency | client | req/s | × hand-written | of ceiling | of measured ceiling | "
        "client CPU µs/req | CPU × hand-written | server peak in flight | 429s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in tp["rows"]:
        own = r["rps"] / r["own_ceiling"]
        out.append(
            f"| {r['latency_ms']:g} ms | {names.get(r['client'], r['client'])} | "
            f"{r['rps']:.0f} | {r['ratio']:.3f} | {own:.3f} | {r['of_effective']:.3f} | "
            f"{r['cpu_us']:.0f} | "
            f"{r['cpu_ratio']:.2f} | {r['server_peak_in_flight']} | {r['server_rejected']} |"
        )
    rows = {(r["latency_ms"], r["client"]): r for r in tp["rows"]}
    durable = [
        (lat, rows[(lat, "sdk-sqlite")], rows[(lat, "sdk-memory")])
        for lat in sorted({r["latency_ms"] for r in tp["rows"]})
        if (lat, "sdk-sqlite") in rows and (lat, "sdk-memory") in rows
    ]
    if durable:
        out += [
            "",
            "Cost of durable counting (the default SQLite ledger, committed before every attempt "
            "leaves, group commit per event-loop turn) against the in-memory ledger, same rounds:",
            "",
            "| latency | req/s × MemoryLedger | CPU µs/req × MemoryLedger |",
            "|---|---:|---:|",
        ]
        for lat, sq, mem in durable:
            rps, cpu = sq["rps"] / mem["rps"], sq["cpu_us"] / mem["cpu_us"]
            out.append(f"| {lat:g} ms | {rps:.3f} | {cpu:.3f} |")
    fast = [
        (lat, rows[(lat, "sdk-uvloop")], rows[(lat, "aiohttp-uvloop")], rows[(lat, "sdk-memory")])
        for lat in sorted({r["latency_ms"] for r in tp["rows"]})
        if (lat, "sdk-uvloop") in rows and (lat, "aiohttp-uvloop") in rows
    ]
    if fast:
        out += [
            "",
            "The `speed` extra (uvloop): the SDK on uvloop against the SDK on asyncio and against "
            "hand-written aiohttp on uvloop, same rounds:",
            "",
            "| latency | CPU µs/req × SDK on asyncio | req/s × aiohttp on uvloop | "
            "CPU µs/req × aiohttp on uvloop |",
            "|---|---:|---:|---:|",
        ]
        for lat, su, au, sm in fast:
            out.append(
                f"| {lat:g} ms | {su['cpu_us'] / sm['cpu_us']:.3f} | {su['rps'] / au['rps']:.3f} | "
                f"{su['cpu_us'] / au['cpu_us']:.3f} |"
            )
    return out


Target = tuple[str, str, str, bool]


def _at_least(what: str, value: float, target: float, digits: int) -> Target:
    return what, f"{value:.{digits}f}", f"≥ {target}", value >= target


def _at_most(what: str, value: float, target: float, digits: int) -> Target:
    return what, f"{value:.{digits}f}", f"≤ {target}", value <= target


def targets(results: dict[str, Any]) -> list[Target]:
    """``(what, measured, target, met)`` for every target that was measured."""
    out: list[Target] = []
    tp = results.get("throughput")
    if tp:
        rows = {(r["latency_ms"], r["client"]): r for r in tp["rows"]}
        for ledger in ("sdk-memory", "sdk-sqlite"):
            r = rows.get((20.0, ledger))
            if r is None:
                continue
            tag = "MemoryLedger" if ledger == "sdk-memory" else "SQLite ledger"
            t = TARGETS
            out += [
                _at_least(f"SDK ({tag}) req/s ÷ hand-written, 20 ms", r["ratio"],
                          t["sdk_vs_handwritten"], 3),
                _at_least(f"SDK ({tag}) share of the 15/latency ceiling, 20 ms", r["of_ceiling"],
                          t["of_ceiling"], 3),
                (f"(context) SDK ({tag}) share of the measured ceiling, 20 ms",
                 f"{r['of_effective']:.3f}", "—", True),
                _at_most(f"SDK ({tag}) client CPU ÷ hand-written, 20 ms", r["cpu_ratio"],
                         t["cpu_vs_handwritten"], 2),
            ]  # fmt: skip
            r2 = rows.get((2.0, ledger))
            if r2 is not None:
                out.append(_at_most(f"SDK ({tag}) client CPU ÷ hand-written, 2 ms",
                                    r2["cpu_ratio"], t["cpu_vs_handwritten"], 2))  # fmt: skip
    dec = results.get("decode")
    if dec:
        row = next((r for r in dec if r["payload"] == "availability 1 MB"), None)
        if row:
            j, p = row["speedup"]["json.loads"], row["speedup"]["pydantic v2"]
            out.append(_at_least("decode 1 MB availability, × faster than json.loads", j,
                                 TARGETS["decode_vs_json"], 2))  # fmt: skip
            out.append(_at_least("decode 1 MB availability, × faster than pydantic v2", p,
                                 TARGETS["decode_vs_pydantic"], 2))  # fmt: skip
    hv = results.get("harvest")
    if hv:
        out.append(
            (
                f"harvest peak RSS, {hv['records']:,} records",
                f"{hv['peak_rss_mb']:.0f} MB",
                f"≤ {TARGETS['harvest_mb']:.0f} MB",
                hv["peak_rss_mb"] <= TARGETS["harvest_mb"],
            )
        )
    ix = results.get("index")
    if ix:
        p = ix["full"]["portfolio"]
        out.append(
            (
                f"full portfolio harvest, {ix['types']} types × {ix['days']} days",
                f"{p['calls']} calls ({p['windows']} windows)",
                f"≤ windows + {TARGETS['index_extra_calls']}",
                p["calls"] <= p["windows"] + TARGETS["index_extra_calls"],
            )
        )
        best = max(
            (r for r in ix["sync"] if r["fresher_than_nightly"] >= 1),
            key=lambda r: r["fewer_than_nightly"],
        )
        out.append(
            (
                f"calls/day to stay fresh vs nightly per-type re-harvest "
                f"({ix['events_per_day']} events/day, pass every {best['interval_h']:g} h, "
                f"{best['fresher_than_nightly']:.0f}× fresher)",
                f"{best['fewer_than_nightly']:.1f}× fewer",
                f"≥ {TARGETS['index_fewer_calls']:.0f}× at equal or better freshness",
                best["fewer_than_nightly"] >= TARGETS["index_fewer_calls"],
            )
        )
    return out  # fmt: skip


def write_markdown(results: dict[str, Any], path: Path = HERE / "results.md") -> Path:
    """Every section that ran, the targets table first, the machine last."""
    m = results["machine"]
    lines = [
        "# maxxton_async benchmarks",
        "",
        f"Generated by `python -m benchmarks{' --quick' if results.get('quick') else ''}` "
        f"on {results['date']} in {results['seconds']:.0f} s. Machine: {m['nproc']} × {m['cpu']}, "
        f"Python {m['python']}, aiohttp {m['aiohttp']}, msgspec {m['msgspec']}; load average "
        f"at start {results['load_start']}, at end {m['load']} (the machine is shared with other "
        "test runs: absolute numbers are noisy, ratios are measured side by side).",
        "",
    ]
    tgt = targets(results)
    if results.get("fleet"):
        from . import fleet

        tgt += fleet.targets(results["fleet"])
    if tgt:
        lines += ["## Targets", "", "| what | measured | target | |", "|---|---:|---:|---|"]
        lines += [f"| {w} | {v} | {t} | {_mark(ok) if t != '—' else ''} |" for w, v, t, ok in tgt]
        lines.append("")
    if results.get("throughput"):
        lines += ["## Call throughput", "", *_throughput_md(results["throughput"]), ""]
        if Path(HERE / "throughput.png").exists() and (
            results.get("sweep_cap") or results.get("sweep_latency")
        ):
            lines += [
                "![req/s against max_in_flight and latency](throughput.png)",
                "",
                "Chart: one run per point (SDK with MemoryLedger and the hand-written client "
                "alternate at every point); the dashed line is the ceiling.",
                "",
            ]
    if results.get("fleet"):
        from . import fleet

        lines += ["## Fleet: processes sharing 15 slots", "", *fleet.markdown(results["fleet"]), ""]
    sp = results.get("sendpath")
    if sp:
        lines += _per_call_md(
            "Where the SDK's per-call CPU goes (wire stubbed)",
            "`benchmarks/sendpath.py`: `client.request` with the aiohttp call replaced by a "
            "stub answering a canned 200, beside the hand-written equivalent; then each step "
            "alone. µs per call, medians of interleaved rounds. `gathered` rows run many calls "
            "at once behind the cap of 15 (the throughput benchmark's shape), each holding its "
            "slot across one event-loop pass.",
            "step",
            sp,
            digits=2,
        )
    pg = results.get("pagination")
    if pg:
        lines += [
            "## Pagination",
            "",
            f"{pg['prefetch']['pages']} pages of {pg['page_size']} customers, server latency "
            f"{pg['latency_ms']:g} ms, {pg['rounds']} interleaved rounds, medians.",
            "",
            "| mode | seconds | items/s | pages/s | peak in flight |",
            "|---|---:|---:|---:|---:|",
        ]
        for mode in ("prefetch", "sequential"):
            r = pg[mode]
            lines.append(
                f"| {mode} | {r['seconds']:.3f} | {r['items_per_s']:.0f} | "
                f"{r['pages_per_s']:.1f} | {r['peak_in_flight']} |"
            )
        lines += ["", f"Prefetch is **{pg['speedup']:.1f}×** faster than sequential paging.", ""]
    dec = results.get("decode")
    if dec:
        cases = list(dec[0]["ms"])
        lines += [
            "## Decode",
            "",
            "Median ms per decode (interleaved rounds; `gc.collect()` before each decode, the "
            "collector on during it). In brackets: how many times slower than the SDK's typed "
            "decoder, which also validates and parses dates (the others return dicts and "
            "strings, except pydantic).",
            "",
            "| payload | items | " + " | ".join(cases) + " |",
            "|---|---:|" + "---:|" * len(cases),
        ]
        for r in dec:
            cells = " | ".join(
                f"{r['ms'][c]:.1f}" + ("" if c == "sdk" else f" ({r['speedup'][c]:.2f}×)")
                for c in cases
            )
            lines.append(
                f"| {r['payload']} ({r['bytes'] / 1e6:.1f} MB) | {r['items']:,} | {cells} |"
            )
        lines.append("")
    ov = results.get("overhead")
    if ov:
        lines += _per_call_md(
            "Ledger and limiter overhead",
            "µs per call, from `benchmarks/overhead.py` (`ledger.*`: one `Usage.before_send`; "
            "`.hard`: with a hard budget, an atomic check-and-count; `limiter.*`: one "
            "uncontended `slot()`). Redis rows appear when 127.0.0.1:6379 answers.",
            "component",
            ov,
            digits=1,
        )
    hv = results.get("harvest")
    if hv:
        lines += [
            "## Harvest memory",
            "",
            f"{hv['records']:,} availability records streamed through `{hv['api']}` into a "
            f"counting sink ({hv['calls']:,} calls, {hv['accommodation_types']} accommodation "
            f"types × 365 days, sandbox in another process). Peak RSS of the harvesting "
            f"process: **{hv['peak_rss_mb']:.0f} MB** (after imports and set-up: "
            f"{hv['baseline_rss_mb']:.0f} MB; target ≤ {hv['target_mb']} MB). "
            f"{hv['records_per_s']:,.0f} records/s (bound by the sandbox generating them); "
            f"at most {hv['peak_held_chunks']} chunks held at once.",
            "",
        ]
    if results.get("adaptive"):
        from .adaptive import markdown as adaptive_markdown

        lines += adaptive_markdown(results["adaptive"])
    if results.get("adaptive_fleet"):
        from .adaptive import fleet_markdown

        lines += fleet_markdown(results["adaptive_fleet"])
    if results.get("pending"):
        pm = results["pending"]
        lines += [
            "## Memory per pending call",
            "",
            f"`benchmarks/pending_memory.py`: {pm['n']:,} calls awaited at once behind the cap "
            f"(the SDK held {pm['sdk_in_flight']} in flight), tracemalloc, median of 3.",
            "",
            "| client | bytes per pending call |",
            "|---|---:|",
            f"| SDK | {pm['sdk_bytes']:.0f} |",
            f"| hand-written (Semaphore, f-string URL) | {pm['handwritten_bytes']:.0f} |",
            f"| ratio | {pm['ratio']:.2f}× |",
            "",
        ]
    if results.get("ceiling"):
        hc = results["ceiling"]
        lines += [
            "## The harvest's own ceiling (canned answers)",
            "",
            f"`benchmarks/harvest_ceiling.py`: a portfolio harvest of {hc['windows']} windows "
            f"({hc['calls']} calls, {hc['records']:,} records) over a stub transport answering "
            "a canned 1 MB availability page at once, into a sink that counts; against "
            "msgspec decoding the same bytes into the same structs.",
            "",
            "| | records/s |",
            "|---|---:|",
            f"| SDK harvest | {hc['sdk_records_per_s']:,.0f} |",
            f"| decoding alone | {hc['decode_records_per_s']:,.0f} |",
            f"| ratio | {hc['ratio']:.2f}× |",
            "",
        ]
    if results.get("index"):
        from .index_economy import markdown

        lines += markdown(results["index"])
    if results.get("instructions"):
        from . import instructions

        lines += [
            "## Client cost in instructions (load-independent)",
            "",
            *instructions.markdown(results["instructions"]),
            "",
        ]
    if results.get("engines"):
        from . import engines

        lines += [
            "## HTTP engines under the transport seam",
            "",
            *engines.markdown(results["engines"]),
            "",
        ]
    path.write_text("\n".join(lines))
    return path
