"""The standalone service as production runs it: ``python -m voicecore_http`` in a subprocess on 127.0.0.1.

For tests that need what only the real server does (uvicorn's protocol, its
limits and access log, the process's memory, its exit code); everything else
uses the in-process app (tests/support/apps.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.constants import AUTH_SECRET
from voicecore.testing.livekit_server import LocalLiveKitServer, die_with_parent, free_port

# Deadlines short enough for a test to wait for; the defaults are longer.
QUICK_IDLE_SECONDS = 1
QUICK_REQUEST_SECONDS = 2

# Variables that would change what the service does: only the ones given reach it.
_SCRUBBED_PREFIXES = ("LIVEKIT_", "SESSION_", "AUTH_JWT_", "LOG_", "HTTP_", "CORS_", "AGENT_", "DEMO_")


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """The service process's resident set size, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS for the service process")

    def log_text(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", errors="backslashreplace")

    def running(self) -> bool:
        return self.process.poll() is None


def service_environment(livekit: LocalLiveKitServer | None = None, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    if livekit is not None:
        env.update(
            LIVEKIT_URL=livekit.url, LIVEKIT_API_KEY=livekit.api_key, LIVEKIT_API_SECRET=livekit.api_secret
        )
    env["AUTH_JWT_SECRET"] = AUTH_SECRET
    env.update(variables)
    return env


def _wait_healthy(service: ServiceProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.running():
            raise RuntimeError(f"the service exited early:\n{service.log_text()[-4000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(service.base_url + "/healthz", timeout=1) as response,  # noqa: S310
        ):
            if response.status == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the service was not up after {timeout}s:\n{service.log_text()[-4000:]}")


@contextlib.contextmanager
def running_service(
    workdir: Path, livekit: LocalLiveKitServer | None = None, **variables: str
) -> Iterator[ServiceProcess]:
    """The service on a free loopback port, up (``/healthz`` answers) for the block; stopped after."""
    port = free_port()
    log_path = workdir / f"service-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "voicecore_http", "--host", "127.0.0.1", "--port", str(port)],
            env=service_environment(livekit, **variables),
            cwd=workdir,  # no .env here
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
        )
    service = ServiceProcess(process, port, log_path)
    try:
        _wait_healthy(service, timeout=30)
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- raw HTTP/1.1 on a socket: what an attacker sends, byte for byte -------------


# How long a raw exchange waits for the server to answer and close.
EXCHANGE_DEADLINE_SECONDS = 10.0


async def exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(read_until_closed(reader), EXCHANGE_DEADLINE_SECONDS)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionError):  # reset, or a broken pipe seen by a write first
        while chunk := await reader.read(65536):
            received += chunk
    return received


def status_of(response: bytes) -> int:
    """The status of the first answer in ``response`` (0 when there was none)."""
    if not response.startswith(b"HTTP/1.1 "):
        return 0
    return int(response[9:12])


def head_and_body(response: bytes) -> tuple[str, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body
