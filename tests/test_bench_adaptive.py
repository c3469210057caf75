"""The fleet variant of the adaptive-cap benchmark runs end to end at toy scale: counts only."""

from __future__ import annotations

import pytest

from tests._redis_util import require_redis


@pytest.mark.slow
@pytest.mark.redis
def test_adaptive_fleet_benchmark_smoke(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import adaptive

    monkeypatch.setenv("MAXXTON_BENCH_REDIS_URL", require_redis())
    res = adaptive.run_fleet(
        rounds=1, n=300, clients=(("oracle-10", "oracle", 1), ("redis × 2", "redis", 2))
    )
    assert res["redis"] is True
    rows = {r["client"]: r for r in res["rows"]}
    assert set(rows) == {"oracle-10", "redis × 2"}
    for r in rows.values():
        assert r["rps"] > 0
        assert r["failed"] == 0
        assert r["peak"] <= 10  # the sandbox lets no more through
    assert rows["oracle-10"]["of_oracle"] == 1.0
    assert rows["oracle-10"]["share_429"] == 0.0  # capped at 10 by hand: never refused
    assert len(rows["redis × 2"]["caps"]) == 2
    assert all(1 <= c <= 15 for c in rows["redis × 2"]["caps"])
    assert "| redis × 2 | 2 |" in "\n".join(adaptive.fleet_markdown(res))
