"""The instruction-count benchmark at toy scale: real callgrind runs, the output shape.

Skips, saying so, where valgrind is not installed (it is on every machine CI runs on).
"""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="valgrind is not installed: the instruction-count benchmark is not checked",
)


@pytest.mark.slow
def test_instructions_section_counts_each_client() -> None:
    from benchmarks import instructions

    res = instructions.run(small=10, large=40)
    rows = {r["client"]: r for r in res["rows"]}
    assert set(rows) == set(instructions.CLIENTS)
    assert rows["hand-written"]["ratio"] == 1.0
    assert rows["hand-stubbed"]["ratio"] == 1.0  # the stubbed rows have their own baseline
    for row in rows.values():
        # An aiohttp exchange alone runs well over 10,000 instructions: a count of zero or
        # less would mean the two runs were not told apart.
        assert row["per_call"] > 10_000, row
    md = "\n".join(instructions.markdown(res))
    assert "| SDK: client.request (MemoryLedger) |" in md
    assert "| SDK: client.request (MemoryLedger), wire stubbed |" in md
    assert "30 calls apart" in md


def test_sizes_are_checked() -> None:
    from benchmarks import instructions

    with pytest.raises(ValueError, match="large must exceed small"):
        instructions.run(small=50, large=50)
