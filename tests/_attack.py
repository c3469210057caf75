"""Helpers shared by the ``test_attack_*`` files (hostile tests of the four promises)."""

from __future__ import annotations

from tests._support import FAST, FakeTime, chain, make, settle

__all__ = ["FAST", "FakeTime", "chain", "found", "make", "settle", "texts_of"]


def texts_of(exc: BaseException) -> list[str]:
    """Every text an exception chain shows: str, repr, args, attributes."""
    out: list[str] = []
    for e in chain(exc):
        out += [str(e), repr(e), *map(repr, e.args)]
        out += [repr(v) for v in getattr(e, "__dict__", {}).values()]
    return out


def found(texts: list[str], secrets: list[str]) -> list[str]:
    return [t[:160] for t in texts for s in secrets if s and s in t]
