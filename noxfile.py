"""Developer sessions: ``nox -s lint typecheck tests``, ``nox -s docs``, ``nox -s wheel``,
and ``nox -s bench``."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
# Never fetch an interpreter: test on the Pythons this machine has.
nox.options.download_python = "never"

PYTHON = "3.11"
SUPPORTED = ("3.11", "3.12", "3.13")  # the classifiers in pyproject.toml
ROOT = Path(__file__).resolve().parent


def _runs(exe: str) -> bool:
    try:
        subprocess.run([exe, "-c", "import venv"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _find_pythons() -> list[str]:
    """The supported versions this machine has, each made findable as ``pythonX.Y``.

    ``pythonX.Y`` on PATH is used when it runs; otherwise pyenv's installed versions are
    looked up (a pyenv shim for a version that is not selected is on PATH but fails, so
    nox would report the version missing). Those are linked into ``.nox/_pythons``,
    which goes first on PATH, so nox finds them by version and nothing else changes.
    """
    links = ROOT / ".nox" / "_pythons"
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for version in SUPPORTED:
        name = f"python{version}"
        on_path = shutil.which(name)
        if on_path is not None and _runs(on_path):
            found.append(version)
            continue
        for exe in sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/{name}"), reverse=True):
            if _runs(exe):
                links.mkdir(parents=True, exist_ok=True)
                link = links / name
                link.unlink(missing_ok=True)
                link.symlink_to(exe)
                found.append(version)
                break
    if links.is_dir():
        os.environ["PATH"] = f"{links}{os.pathsep}{os.environ.get('PATH', '')}"
    return found


WHEEL_PYTHONS = _find_pythons()


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (Redis-backed tests skip with a reason when no Redis answers)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[lint]")
    session.run("mypy", "--strict", "maxxton_async")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ (mkdocs build --strict: any warning fails)."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session(python=WHEEL_PYTHONS, venv_backend="venv", reuse_venv=False)
def wheel(session: nox.Session) -> None:
    """Build the wheel, install it (not the checkout) into a fresh venv, run the demo from it.

    Parametrised over the supported Pythons this machine has (``nox -s wheel`` runs them
    all; ``nox -s wheel-3.12`` one).
    """
    tmp = Path(session.create_tmp())
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.install("build>=1.2")
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT))
    (built,) = dist.glob("maxxton_async-*.whl")
    session.install(f"{built}[cli]")
    # Outside the checkout, so that only the installed wheel can be imported.
    work = tmp / "run"
    work.mkdir(exist_ok=True)
    session.chdir(work)
    session.run(
        "python",
        "-c",
        "import maxxton_async, sys; f = maxxton_async.__file__; "
        "assert 'site-packages' in f, f; print(maxxton_async.__version__, sys.version)",
    )
    session.run("maxxton-async", "demo", "--days", "30", "--latency", "0")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run every benchmark; writes benchmarks/results.md and benchmarks/throughput.png."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
