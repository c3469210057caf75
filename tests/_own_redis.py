"""A private redis-server on a loopback port, for tests that kill and restart Redis.

Never the shared one: these tests kill -9 the server. Skips (or fails, when
``MAXXTON_REQUIRE_REDIS=1``) if ``redis-server`` is not installed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from tests._support import free_port, skip_unless_up


class OwnRedis:
    """``start()``, ``kill()`` (SIGKILL) and ``start()`` again on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_unless_up("redis-server is not installed", "MAXXTON_REQUIRE_REDIS")
            raise AssertionError("unreachable: skip_unless_up skips or fails")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):  # bounded: up to 10 s
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)  # not listening yet: bounded retry (see range above)
                continue
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
