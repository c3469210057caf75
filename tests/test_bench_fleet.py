"""The fleet benchmark runs end to end at toy scale: counts and the cap, never timings."""

from __future__ import annotations

import pytest

from tests._redis_util import require_redis


@pytest.mark.slow
@pytest.mark.redis
def test_fleet_benchmark_smoke(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import fleet

    monkeypatch.setenv("MAXXTON_BENCH_REDIS_URL", require_redis())
    res = fleet.run(rounds=1, latencies=(0.002,), seconds=0.3, configs=(("local", 1), ("redis", 2)))
    assert res["redis"] is True
    rows = {(r["limiter"], r["procs"]): r for r in res["rows"]}
    assert set(rows) == {("local", 1), ("redis", 2)}
    for r in rows.values():
        assert r["rps"] > 0
        assert 1 <= r["server_peak"] <= 15  # the server's count: never more than the cap
    assert rows[("local", 1)]["ratio"] == 1.0
    assert "| 2 ms | redis | 2 |" in "\n".join(fleet.markdown(res))
