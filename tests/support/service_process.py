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
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.constants import AUTH_SECRET
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.processes import free_port, log_tail, spawn, stop, wait_until_ready

# Deadlines short enough for a test to wait for; the defaults are longer.
QUICK_IDLE_SECONDS = 1
QUICK_REQUEST_SECONDS = 2

# Variables that would change what the service does: only the ones given reach it.
_SCRUBBED_PREFIXES = (
    "LIVEKIT_",
    "SESSION_",
    "AUTH_JWT_",
    "LOG_",
    "HTTP_",
    "CORS_",
    "AGENT_",
    "DEMO_",
    "JOURNAL_",
    "APP_WEBHOOK_",
    "USAGE_",
    "METRICS_",
)


@dataclass
class ServiceProcess:
    """One service process on loopback; it can be killed and started again on its port (a replica)."""

    settings: Mapping[str, str]
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="voicecore-")))
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"service-{self.port}.log"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "the service is not running"
        return self._process

    def start(self, *, ready_timeout: float = 30.0) -> None:
        self.launch()
        self.wait_ready(ready_timeout=ready_timeout)

    def launch(self) -> None:
        """Start the process and return at once (``wait_ready`` waits for it to serve)."""
        self._process = spawn(
            [sys.executable, "-m", "voicecore_http", "--host", "127.0.0.1", "--port", str(self.port)],
            self.log_path,
            env=self.settings,  # from service_environment: only the settings given
            cwd=self.workdir,  # no .env here
        )

    def wait_ready(self, *, ready_timeout: float = 30.0) -> None:
        wait_until_ready(
            self.process,
            self._healthy,
            timeout=ready_timeout,
            what="the service",
            log_tail=self.log_tail,
            port=self.port,
        )

    def _healthy(self) -> bool:
        with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)

    def kill(self) -> None:
        """SIGKILL: the replica dies mid-whatever, as a crashed machine would."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        """uvicorn's graceful shutdown (SIGTERM), then SIGKILL if it hangs."""
        process, self._process = self._process, None
        stop(process, timeout=15)

    def rss_bytes(self) -> int:
        """The service process's resident set size, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS for the service process")

    def log_text(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", errors="backslashreplace")

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


def service_environment(livekit: LocalLiveKitServer | None = None, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    if livekit is not None:
        env.update(
            LIVEKIT_URL=livekit.url, LIVEKIT_API_KEY=livekit.api_key, LIVEKIT_API_SECRET=livekit.api_secret
        )
    env["AUTH_JWT_SECRET"] = AUTH_SECRET
    env.update(variables)
    return env


def run_to_its_end(workdir: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """``python -m voicecore_http`` with these settings alone, run until it exits (refusing to start)."""
    return subprocess.run(
        [sys.executable, "-m", "voicecore_http", "--port", str(free_port())],
        env=service_environment(**variables),
        cwd=workdir,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def running_service(
    workdir: Path, livekit: LocalLiveKitServer | None = None, **variables: str
) -> Iterator[ServiceProcess]:
    """The service on a free loopback port, up (``/healthz`` answers) for the block; stopped after."""
    with running_replica(service_environment(livekit, **variables), workdir=workdir) as service:
        yield service


@contextlib.contextmanager
def running_replicas(*settings: Mapping[str, str]) -> Iterator[list[ServiceProcess]]:
    """One service per settings given, started side by side (each serving before the block)."""
    services = [ServiceProcess(each) for each in settings]
    try:
        for service in services:
            service.launch()
        for service in services:
            service.wait_ready()
        yield services
    finally:
        for service in services:
            service.stop()


@contextlib.contextmanager
def running_replica(
    settings: Mapping[str, str], *, port: int | None = None, workdir: Path | None = None
) -> Iterator[ServiceProcess]:
    """A service with exactly these settings (``service_environment``), on ``port`` if given."""
    service = ServiceProcess(settings)
    if port is not None:
        service.port = port
    if workdir is not None:
        service.workdir = workdir
    service.start()
    try:
        yield service
    finally:
        service.stop()


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


def raw_get(path: str, *headers: str) -> bytes:
    """A GET of ``path`` with these header lines, written out byte for byte (``Connection: close``)."""
    lines = [f"GET {path} HTTP/1.1", "Host: voicecore.test", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(response: bytes) -> int:
    """The status of the first answer in ``response`` (0 when there was none)."""
    if not response.startswith(b"HTTP/1.1 "):
        return 0
    return int(response[9:12])


def head_and_body(response: bytes) -> tuple[str, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body
