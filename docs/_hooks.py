"""mkdocs hook: show files that live outside docs/ without copying them into the repository.

* ``changelog.md`` is the repository's ``CHANGELOG.md``;
* ``img/throughput.png`` is the chart ``nox -s bench`` writes to ``benchmarks/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent


def on_files(files: Files, config: Any) -> Files:
    files.append(
        File.generated(config, "changelog.md", content=(ROOT / "CHANGELOG.md").read_text())
    )
    files.append(
        File.generated(
            config, "img/throughput.png", abs_src_path=str(ROOT / "benchmarks" / "throughput.png")
        )
    )
    return files
