"""The README stays true: its example runs, and its commands are the ones CI uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


# A python block, then (after blank lines) the ```text block showing what it prints.
_EXAMPLE_WITH_OUTPUT = re.compile(r"```python\n((?:(?!```).)*?)```\s*\n```text\n(.*?)```", re.S)


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment with the default ledger's location moved into ``tmp_path``.

    ``MAXXTON_USAGE_DB`` is removed, so a client that fell back to the durable default would
    create ``<XDG_CACHE_HOME>/maxxton-async/usage.sqlite3``; the tests assert it does not.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MAXXTON_USAGE_DB", "MAXXTON_TOKEN_DB")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


def test_readme_example_runs_and_prints_what_the_readme_shows(tmp_path: Path) -> None:
    first = _EXAMPLE_WITH_OUTPUT.search(README)
    assert first is not None
    assert README.index(first.group(0)) == README.index("```python")  # the first example
    code, shown = first.group(1), first.group(2)
    assert len([line for line in code.splitlines() if line.strip()]) <= 12
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(tmp_path),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown
    assert any("Visser" in line for line in done.stdout.splitlines())


def test_every_sandbox_example_in_the_readme_runs_as_shown(tmp_path: Path) -> None:
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "sandbox(" in b]
    shown = dict(_EXAMPLE_WITH_OUTPUT.findall(README))
    assert len(blocks) >= 2
    for i, code in enumerate(blocks):
        cwd = tmp_path / f"example{i}"
        cwd.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=90,
            env=_clean_env(tmp_path),
            cwd=cwd,
        )
        assert done.returncode == 0, done.stderr
        assert code in shown, "every sandbox example shows its output in a ```text block"
        assert done.stdout == shown[code]
    # Sandbox runs never touch the durable default ledger (issue: "today=840 after a few runs").
    assert not (tmp_path / "cache").exists()


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
