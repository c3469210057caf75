"""The documentation stays true: its runnable examples print what the pages show, and the
README's links point at files that exist.

A runnable example is a ```python block that ends with ``asyncio.run(main())``; when a
```text block follows it, the program's output must be exactly that text. Each runs in a
subprocess in a temporary directory whose default ledger location must stay empty.
(``mkdocs build --strict``, which checks every link and the API reference, runs in
``.ci/run`` and ``nox -s docs``.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"```python\n((?:(?!```).)*?)```(?:\s*\n```text\n(.*?)```)?", re.S)


def runnable_examples() -> list[tuple[str, str, str | None]]:
    out = []
    for page in sorted(DOCS.rglob("*.md")):
        for code, shown in _BLOCK.findall(page.read_text()):
            if "asyncio.run(main())" in code:
                out.append((str(page.relative_to(ROOT)), code, shown or None))
    return out


EXAMPLES = runnable_examples()


def test_the_guides_have_runnable_examples() -> None:
    pages = {page for page, _, _ in EXAMPLES}
    for guide in ("quickstart", "reading", "harvest", "events", "budgets", "testing"):
        assert any(guide in page for page in pages), f"{guide} has no runnable example"


@pytest.mark.parametrize(
    ("page", "code", "shown"), EXAMPLES, ids=[f"{p}#{i}" for i, (p, _, _) in enumerate(EXAMPLES)]
)
def test_docs_example_prints_what_the_page_shows(
    page: str, code: str, shown: str | None, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAXXTON_USAGE_DB", "MAXXTON_TOKEN_DB")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert shown is not None, f"{page}: a runnable example shows its output in a ```text block"
    assert done.stdout == shown
    assert not (tmp_path / "cache").exists()


def test_readme_links_point_at_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert len(relative) >= 10
    for link in relative:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"
