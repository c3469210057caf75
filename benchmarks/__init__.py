"""Benchmarks of maxxton_async, side by side with the alternatives (``python -m benchmarks``).

Each module measures one thing and returns plain dicts; :mod:`benchmarks.report` turns them
into ``benchmarks/results.md`` and ``benchmarks/throughput.png``:

* :mod:`~benchmarks.throughput` -- call throughput and client CPU against a sandbox in another
  process: the SDK (memory and SQLite ledgers), a hand-written aiohttp + semaphore + msgspec
  client, httpx, and sequential calls; plus the sweeps behind the chart;
* :mod:`~benchmarks.fleet` -- 1, 2 and 4 processes sharing 15 slots, ``LocalLimiter`` split
  against ``RedisLimiter``, at 2 ms and 20 ms: req/s, client CPU per request, each process's
  share (``python -m benchmarks fleet`` runs it alone);
* :mod:`~benchmarks.pagination` -- items/s with page prefetch against sequential paging;
* :mod:`~benchmarks.decode` -- decoding 1 MB and 20 MB pages with the SDK's models against
  ``json.loads``, orjson, untyped msgspec and pydantic v2;
* :mod:`~benchmarks.overhead` -- µs per call of each ledger and limiter;
* :mod:`~benchmarks.harvest_memory` -- peak RSS while streaming 1,000,000 availability records;
* :mod:`~benchmarks.adaptive` -- the adaptive cap against a server whose other tenant holds 5
  of the 15 slots, in one process and fleet-wide (2 and 4 processes on one ``RedisLimiter``),
  against a client capped at the 10 remaining slots by hand;
* :mod:`~benchmarks.engines` -- the SDK on its default aiohttp transport against the SDK on a
  pyreqwest (Rust) transport and the hand-written client, at 0, 2 and 20 ms.

Every figure that is compared is measured in the same run, in interleaved rounds, and
reported as a median; the machine is shared, so absolute numbers drift but ratios hold.
"""
