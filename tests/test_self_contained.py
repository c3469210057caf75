"""The repository stands on its own: no file points at material outside it.

Design notes and research notes that lived beside the repository while it was written are
not shipped; what the code relies on is in ``docs/`` (the architecture and the wire contract),
and the code cites Maxxton's guide and reference by section.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Spelled in pieces so that this file does not match itself.
OUTSIDE = ("../" + "shared", "DESIGN" + ".md", "maxxton-api-" + "notes", "notes " + "§")

# Files allowed to mention them for a while (e.g. while another branch rewrites them); none now.
PENDING: set[str] = set()


def tracked_files() -> list[str]:
    try:
        done = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs in a git clone, but git ls-files failed ({exc})")
        pytest.skip(f"not a git checkout ({exc})")
    return done.stdout.splitlines()


def test_no_file_points_outside_the_repository() -> None:
    offenders: dict[str, list[str]] = {}
    for name in tracked_files():
        path = ROOT / name
        try:
            text = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue  # binary, or deleted in the work tree
        hits = [needle for needle in OUTSIDE if needle in text]
        if hits:
            offenders[name] = hits
    assert set(offenders) <= PENDING, {k: v for k, v in offenders.items() if k not in PENDING}
