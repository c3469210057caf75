"""``ServerProcess``: a sandbox in a child process, steered over its admin endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maxxton_async import MaxxtonClient

__all__ = ["ServerProcess", "run_child", "start_workers"]


def run_child(
    module: str, spec: dict[str, Any], *, timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``python -m module '<spec as JSON>'`` and return the JSON object it prints last.

    Measurements run in a child so that each starts from a fresh interpreter (imports, RSS,
    event loop) and nothing one leaves behind weighs on the next.
    """
    proc = subprocess.run(
        [sys.executable, "-m", module, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} child failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def start_workers(module: str, specs: list[dict[str, Any]]) -> list[subprocess.Popen[str]]:
    """Start ``python -m module worker '<spec>'`` per spec and wait until each prints
    ``ready``; then they wait for the caller's ``go`` line on stdin, so that all start at
    once. A worker that fails to get ready stops them all, with its error output."""
    root = Path(__file__).resolve().parents[1]  # ``-m benchmarks.x`` runs from here
    children = [
        subprocess.Popen(
            [sys.executable, "-m", module, "worker", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for spec in specs
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            err = child.communicate(timeout=30)[1]
            for other in children:
                if other.poll() is None:
                    other.kill()
                    other.wait(timeout=10)
            raise RuntimeError(f"{module} worker failed:\n{err[-3000:]}")
    return children


class ServerProcess:
    """Start ``python -m benchmarks._serve`` and read what it prints; ``with`` stops it.

    Attributes after entering: ``base_url``, ``client_id``, ``client_secret``, ``scope``,
    ``customer_ids``, ``resource_ids``, ``info`` (the whole JSON line).
    """

    def __init__(self, *args: str, startup_timeout: float = 120.0) -> None:
        self.args = args
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._serve", *self.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server prints once it listens
        if not line:
            self.__exit__(None, None, None)
            raise RuntimeError("the sandbox process exited before listening")
        self.info = json.loads(line)
        self.base_url: str = self.info["base_url"]
        self.client_id: str = self.info["client_id"]
        self.client_secret: str = self.info["client_secret"]
        self.scope: str = self.info["scope"]
        self.customer_ids: list[int] = self.info["customer_ids"]
        self.resource_ids: list[int] = self.info["resource_ids"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.stdin is not None:
            proc.stdin.close()
        proc.terminate()  # this very child, by its handle: nothing else is touched
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    def client(self, **options: Any) -> MaxxtonClient:
        """A ``MaxxtonClient`` of this server counting in a ``MemoryLedger`` (as ``Sandbox.client``
        does); ``options`` go to the client."""
        # Imported here: the server's child process never needs the client.
        from maxxton_async import MaxxtonClient, MemoryLedger

        options.setdefault("ledger", MemoryLedger())
        return MaxxtonClient(
            self.client_id, self.client_secret, self.scope, base_url=self.base_url, **options
        )

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None
        return self.proc.pid

    def _admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            result: dict[str, Any] = json.loads(resp.read())
            return result

    def set_faults(self, **knobs: Any) -> None:
        """Set fault knobs (``latency=0.02``, ...) on the running server."""
        self._admin("/_sandbox/faults", knobs)

    def reset(self) -> None:
        """Zero the server's counters."""
        self._admin("/_sandbox/reset", {})

    def stats(self) -> dict[str, Any]:
        """The server's counters (``requestsTotal``, ``peakInFlight``, ``rejectedInFlight``...)."""
        return self._admin("/_sandbox/stats?log=0")
