"""The README stays true: its example runs, and its commands are the ones CI uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_example_runs(tmp_path: Path) -> None:
    example = re.search(r"```python\n(.*?)```", README, re.S)
    assert example is not None
    code = example.group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    env = {**os.environ, "MAXXTON_USAGE_DB": str(tmp_path / "usage.sqlite3")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any("Visser" in line for line in lines)
    assert "UsageSnapshot(" in lines[-1]


def test_every_sandbox_example_in_the_readme_runs(tmp_path: Path) -> None:
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "Sandbox(" in b]
    assert len(blocks) >= 2
    env = {**os.environ, "MAXXTON_USAGE_DB": str(tmp_path / "usage.sqlite3")}
    for code in blocks:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=90,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()


def test_readme_test_command_is_the_ci_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest -ra" in README
    assert ".venv/bin/python -m pytest -ra" in ci


def test_python_dash_m_help_works() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "maxxton_async", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    for command in ("demo", "sandbox", "harvest", "events", "usage", "bench"):
        assert command in done.stdout
