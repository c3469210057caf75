"""Start worker processes with bounded timeouts, and always reap them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("store_worker.py")
ROOT = Path(__file__).resolve().parents[2]


async def spawn(*argv: str, stdin: bool = False) -> asyncio.subprocess.Process:
    """Start one ``store_worker.py`` with ``argv``; its stdout and stderr are pipes."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        *argv,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.PIPE if stdin else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(procs: list[asyncio.subprocess.Process], limit: float = 120.0) -> list[Any]:
    """Wait (at most ``limit`` seconds) for every worker; return each one's last JSON line.

    Workers still running at the deadline are killed and reaped.
    """
    try:
        outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), limit)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    results = []
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


async def run_workers(argvs: list[list[str]], limit: float = 120.0) -> list[Any]:
    """Run one worker per argv concurrently; return each one's JSON result."""
    return await finish([await spawn(*argv) for argv in argvs], limit)
