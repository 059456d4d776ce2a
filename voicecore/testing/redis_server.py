"""Run Debian's redis-server on loopback for tests: no persistence, a free port, restartable.

A test may write a snapshot on purpose (``save_snapshot``) to restart the server as it
was then; it deletes it after.

Never used by the production wiring. The binary is found through
``REDIS_SERVER_BIN`` or ``PATH``; ``scripts/setup.sh`` installs it when missing.
It speaks to the server with two inline commands over a socket, so it needs no
Redis client.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from voicecore.testing.processes import ServerProcess, free_port, spawn, wait_until_ready


class RedisServerUnavailable(RuntimeError):
    """The binary is missing or the server did not answer PING."""


def find_redis_binary() -> Path | None:
    configured = os.environ.get("REDIS_SERVER_BIN")
    if configured:
        return Path(configured)
    found = shutil.which("redis-server")
    return Path(found) if found else None


@dataclass
class LocalRedisServer(ServerProcess):
    """One redis-server process on 127.0.0.1; ``stop()`` then ``start()`` reuses its port."""

    binary: Path
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="redis-")))
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis-server.log"

    def _options(self) -> list[str]:
        # No RDB snapshots and no AOF: a test server keeps nothing, and a restart is empty.
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(self.workdir),
            "daemonize": "no",
        }
        return [item for name, value in options.items() for item in (f"--{name}", value)]

    def start(self, *, ready_timeout: float = 10.0) -> None:
        if self.running:
            return
        self._process = spawn([str(self.binary), *self._options()], self.log_path)
        wait_until_ready(
            self._process,
            lambda: self._command(b"PING") == b"+PONG",
            timeout=ready_timeout,
            what="redis-server",
            log_tail=self.log_tail,
            failure=RedisServerUnavailable,
            port=self.port,
        )

    def _command(self, inline: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
            connection.sendall(inline + b"\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = connection.recv(256)
                if not chunk:
                    break
                reply += chunk
        return reply.strip()

    def save_snapshot(self) -> Path:
        """Write an RDB snapshot now (SAVE); the next start loads it, until ``delete_snapshot``."""
        reply = self._command(b"SAVE")
        if reply != b"+OK":
            raise RedisServerUnavailable(f"SAVE answered {reply!r}")
        return self.workdir / "dump.rdb"

    def delete_snapshot(self) -> None:
        """Forget a snapshot ``save_snapshot`` wrote: a restart is empty again."""
        (self.workdir / "dump.rdb").unlink(missing_ok=True)

    def flush(self) -> None:
        """Empty every database."""
        reply = self._command(b"FLUSHALL")
        if reply != b"+OK":
            raise RedisServerUnavailable(f"FLUSHALL answered {reply!r}")


@contextlib.contextmanager
def running_redis_server(binary: Path | None = None) -> Iterator[LocalRedisServer]:
    resolved = binary or find_redis_binary()
    if resolved is None or not resolved.exists():
        raise RedisServerUnavailable(
            "redis-server is not installed: run `make setup` (apt-get install redis-server) "
            "or set REDIS_SERVER_BIN"
        )
    server = LocalRedisServer(resolved)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
