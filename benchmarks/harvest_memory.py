"""Peak memory of a bulk availability harvest: 1,000,000 records streamed to a sink.

The sandbox runs in its own process with a dataset sized for the target (enough
accommodation types over a year of arrivals); the harvest runs in a fresh child process that
reports its own peak RSS (``VmHWM``, see :func:`_peak_rss_mb`, with psutil's RSS as the
baseline after imports and set-up). Records go through :class:`maxxton_async.harvest.Harvest`
(``records()``: bounded worker pool and queue) into a counting sink that keeps nothing, so
the figure is what the SDK itself holds, not what a consumer chooses to keep.

When the harvest API is missing (an older checkout), the child falls back to the same
availability calls made directly with ``client.request(..., type=list[AvailabilityRecord])``
from a bounded pool of tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import resource
import sys
import time
from typing import Any

from ._server import ServerProcess, run_child

__all__ = ["TARGET_MB", "run"]

#: The target: peak RSS of the harvesting process, in MB.
TARGET_MB = 150
#: Records of one accommodation type over a year of arrivals in the sandbox's data (about).
_RECORDS_PER_TYPE_YEAR = 450
_DURATIONS = (1, 2, 3, 4, 5, 6, 7, 14)  # every stay length the sandbox generates


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 1e6


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB.

    ``VmHWM`` (the high-water mark of this process's own address space) when /proc has it:
    ``getrusage``'s ``ru_maxrss`` survives ``exec`` on Linux, so a child spawned by a parent
    that had just decoded 20 MB payloads would report the parent's peak, not its own.
    """
    with contextlib.suppress(OSError), open("/proc/self/status") as f:  # Linux only
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


async def _harvest(spec: dict[str, Any]) -> dict[str, Any]:
    from maxxton_async import MaxxtonClient, MemoryLedger

    start = dt.date.fromisoformat(spec["start_date"])
    end = start + dt.timedelta(days=spec["days"] - 1)
    target = spec["records"]
    count = chunks = 0
    async with MaxxtonClient(
        spec["client_id"],
        spec["client_secret"],
        spec["scope"],
        base_url=spec["base_url"],
        ledger=MemoryLedger(),
    ) as client:
        await client.request("GET", "/maxxton/v2/accommodationtypes", params={"size": 1})
        baseline = _rss_mb()
        t0 = time.perf_counter()
        try:
            from maxxton_async.harvest import Harvest
        except ImportError:
            api = "request"
            count, chunks = await _fallback(client, spec, start, end, target)
        else:
            api = "Harvest.records"
            h = Harvest(
                client,
                arrival_from=start,
                arrival_to=end,
                durations=_DURATIONS,
                resource_ids=spec["resource_ids"],
            )
            records = h.records()
            try:
                async for _record in records:
                    count += 1  # the sink: count and drop
                    if count >= target:
                        break
            finally:
                await records.aclose()  # type: ignore[attr-defined]
            chunks = h.statistics().peak_held_chunks
        wall = time.perf_counter() - t0
        sent = client.statistics().requests_sent
    peak_mb = _peak_rss_mb()
    return {
        "api": api,
        "records": count,
        "seconds": wall,
        "records_per_s": count / wall,
        "calls": sent,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_mb,
        "peak_held_chunks": chunks,
    }


async def _fallback(
    client: Any, spec: dict[str, Any], start: dt.date, end: dt.date, target: int
) -> tuple[int, int]:
    """Availability calls per (type, 30-day window) from 30 tasks; counts and drops."""
    from maxxton_async.models import AvailabilityRecord

    jobs = []
    for rid in spec["resource_ids"]:
        day = start
        while day <= end:
            last = min(end, day + dt.timedelta(days=29))
            jobs.append((rid, day, last))
            day = last + dt.timedelta(days=1)
    it = iter(jobs)
    count = 0

    async def worker() -> None:
        nonlocal count
        for rid, first, last in it:
            if count >= target:
                return
            recs = await client.request(
                "GET",
                "/maxxton/v2/accommodationtypes/availability",
                params={
                    "resourceId": rid,
                    "arrivalDateFrom": first.isoformat(),
                    "arrivalDateTo": last.isoformat(),
                    "duration": ",".join(map(str, _DURATIONS)),
                    "includeAllPrices": "true",
                },
                type=list[AvailabilityRecord],
            )
            count += len(recs or ())

    await asyncio.gather(*(worker() for _ in range(30)))
    return count, 0


def run(records: int = 1_000_000) -> dict[str, Any]:
    """Harvest ``records`` availability records in a child process; its peak RSS and more."""
    types = records // _RECORDS_PER_TYPE_YEAR + 10
    with ServerProcess("--accommodation-types", str(types), "--availability-days", "365") as server:
        spec = {
            "base_url": server.base_url,
            "client_id": server.client_id,
            "client_secret": server.client_secret,
            "scope": server.scope,
            "resource_ids": server.resource_ids,
            "start_date": server.info["start_date"],
            "days": server.info["availability_days"],
            "records": records,
        }
        result = run_child("benchmarks.harvest_memory", spec, timeout=1800)
        result["server_requests"] = server.stats()["requestsTotal"]
    result["target_records"] = records
    result["target_mb"] = TARGET_MB
    result["accommodation_types"] = types
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1:  # child mode: one JSON spec in, one JSON result line out
        out = asyncio.run(_harvest(json.loads(sys.argv[1])))
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        print(run(100_000))
