"""The engines benchmark at toy scale: its output shape. Skips, saying so, without pyreqwest."""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pyreqwest") is None,
    reason="pyreqwest is not installed (the bench extra): engines benchmark not checked",
)


@pytest.mark.slow
def test_engines_section_output_shape() -> None:
    from benchmarks import engines

    res = engines.run(latencies=(0.002,), rounds=1, seconds=0.05)
    rows = {r["client"]: r for r in res["rows"]}
    assert set(rows) == set(engines.CLIENTS)
    assert rows[engines.BASELINE]["rps_ratio"] == 1.0
    assert rows[engines.BASELINE]["cpu_ratio"] == 1.0
    for r in rows.values():
        assert r["rps"] > 0
        assert r["cpu_us"] > 0
        assert len(r["rps_ratios"]) == len(r["cpu_ratios"]) == 1
        assert 1 <= r["server_peak_in_flight"] <= 15
        assert r["server_rejected"] == 0  # every client kept to the cap
    md = "\n".join(engines.markdown(res))
    assert "| 2 ms | SDK on PyreqwestTransport |" in md
    assert "Load average" in md


def test_engines_section_says_why_it_was_skipped() -> None:
    from benchmarks import engines

    assert engines.markdown({"skipped": "pyreqwest is not installed"}) == [
        "Skipped: pyreqwest is not installed."
    ]
