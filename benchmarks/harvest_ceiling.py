"""The harvest's own ceiling: records/s of the client alone, with canned payloads.

Against the sandbox, a harvest measures the sandbox (it generates and encodes every record).
Here the transport seam serves one canned 1 MB availability answer (reference shape,
``benchmarks._data``) for every window, instantly, so what is left is the SDK: the send
path, decoding into ``AvailabilityRecord`` structs, the harvest's worker pool and queue,
and a sink that counts and drops. The baseline is msgspec decoding the same payload into
the same structs in a loop: the most any client could do with these bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import msgspec

from ._data import availability_payload

__all__ = ["run"]

_TOKEN = b'{"access_token": "t", "token_type": "Bearer", "expires_in": 3600}'


class _Canned:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.calls = 0

    async def send(self, request: Any) -> Any:
        from maxxton_async.transport import Response

        if request.purpose == "token":
            return Response(200, {"Content-Type": "application/json"}, _TOKEN)
        self.calls += 1
        await asyncio.sleep(0)
        return Response(200, {"Content-Type": "application/json"}, self.body)

    async def aclose(self) -> None:
        """Nothing to close."""


async def _sdk(body: bytes, windows: int) -> dict[str, float]:
    from maxxton_async import MaxxtonClient, MemoryLedger
    from maxxton_async.harvest import Harvest

    canned = _Canned(body)
    start = dt.date(2027, 1, 1)
    async with MaxxtonClient(
        "id", "secret", "scope", base_url="http://127.0.0.1:9", ledger=MemoryLedger(),
        transport=canned,
    ) as client:  # fmt: skip
        harvest = Harvest(
            client,
            arrival_from=start,
            arrival_to=start + dt.timedelta(days=30 * windows - 1),
            durations=(7,),
        )
        count = 0
        t0 = time.perf_counter()
        records = harvest.records()
        try:
            async for _record in records:
                count += 1
        finally:
            await records.aclose()  # type: ignore[attr-defined]
        wall = time.perf_counter() - t0
    return {"records": count, "seconds": wall, "calls": canned.calls}


def _decode_only(body: bytes, windows: int) -> dict[str, float]:
    from maxxton_async.models import AvailabilityRecord

    decoder = msgspec.json.Decoder(list[AvailabilityRecord])
    count = 0
    t0 = time.perf_counter()
    for _ in range(windows):
        count += len(decoder.decode(body))
    return {"records": count, "seconds": time.perf_counter() - t0}


def run(windows: int = 24, rounds: int = 3) -> dict[str, Any]:
    """Records/s of a portfolio harvest over canned answers vs decoding alone."""
    body = availability_payload()
    sdk, base = [], []
    for _ in range(rounds):
        sdk.append(asyncio.run(_sdk(body, windows)))
        base.append(_decode_only(body, windows))
    sdk_rate = sorted(x["records"] / x["seconds"] for x in sdk)[rounds // 2]
    base_rate = sorted(x["records"] / x["seconds"] for x in base)[rounds // 2]
    return {
        "windows": windows,
        "records": sdk[-1]["records"],
        "calls": sdk[-1]["calls"],
        "sdk_records_per_s": sdk_rate,
        "decode_records_per_s": base_rate,
        "ratio": sdk_rate / base_rate,
    }


if __name__ == "__main__":
    print(run())
