"""Run the open-source LiveKit server on loopback: development, tests, benchmarks.

Never used by the production wiring. The binary is ``LIVEKIT_SERVER_BIN``, or
``livekit-server`` on PATH; this repository's ``scripts/setup.sh`` builds the
pinned v1.13.5 with ``go install`` into ``.tools/bin`` and its scripts put that on PATH.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PINNED_VERSION = "v1.13.5"
BINARY_VARIABLE = "LIVEKIT_SERVER_BIN"


_PR_SET_PDEATHSIG = 1


class LiveKitServerUnavailable(RuntimeError):
    """The binary is missing or the server did not become ready."""


def find_binary() -> Path | None:
    configured = os.environ.get(BINARY_VARIABLE)
    if configured:
        return Path(configured)
    found = shutil.which("livekit-server")
    return Path(found) if found else None


def die_with_parent() -> None:
    """In a child before exec: end when the parent dies, so no server outlives its owner."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalLiveKitServer:
    """One livekit-server process on 127.0.0.1 with a generated key pair and free ports."""

    binary: Path
    api_key: str = field(default_factory=lambda: "APIdev" + secrets.token_hex(6))
    api_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    http_port: int = field(default_factory=free_port)
    rtc_tcp_port: int = field(default_factory=free_port)
    rtc_udp_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="livekit-")))
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "livekit-server.log"

    def config_yaml(self) -> str:
        return "\n".join(
            [
                f"port: {self.http_port}",
                "bind_addresses: ['127.0.0.1']",
                "rtc:",
                f"  tcp_port: {self.rtc_tcp_port}",
                f"  udp_port: {self.rtc_udp_port}",
                "  use_external_ip: false",
                "  enable_loopback_candidate: true",
                # A join must never bring back a room voicecore deleted (docs/livekit.md).
                "room:",
                "  auto_create: false",
                "keys:",
                f"  {self.api_key}: {self.api_secret}",
                "logging:",
                "  level: info",
                "",
            ]
        )

    def start(self, *, ready_timeout: float = 30.0) -> None:
        if self.running:
            return
        config = self.workdir / "livekit.yaml"
        config.write_text(self.config_yaml())
        config.chmod(0o600)
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            [str(self.binary), "--config", str(config), "--bind", "127.0.0.1", "--node-ip", "127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
        )
        log.close()
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        # The process may print a bad config or a taken port and still exit 0:
        # only a 200 from GET / means ready.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise LiveKitServerUnavailable(f"livekit-server exited early:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.http_url + "/", timeout=1) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise LiveKitServerUnavailable(f"livekit-server not ready after {timeout}s:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return "(no log)"
        # Some lines carry whole SDP offers: keep each line readable.
        return "\n".join(line if len(line) <= 400 else line[:400] + " …" for line in tail)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_livekit_server(binary: Path | None = None) -> Iterator[LocalLiveKitServer]:
    resolved = binary or find_binary()
    if resolved is None or not resolved.exists():
        raise LiveKitServerUnavailable(
            f"livekit-server not found: set {BINARY_VARIABLE} or put it on PATH "
            "(in this repository, `make setup` builds the pinned one; needs Go)"
        )
    server = LocalLiveKitServer(resolved)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
