"""Run the open-source LiveKit server on loopback: development, tests, benchmarks.

Never used by the production wiring. The binary is ``LIVEKIT_SERVER_BIN``, or
``livekit-server`` on PATH; this repository's ``scripts/setup.sh`` builds the
pinned v1.13.5 with ``go install`` into ``.tools/bin`` and its scripts put that on PATH.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from voicecore.testing.processes import ServerProcess, free_port, spawn, wait_until_ready

PINNED_VERSION = "v1.13.5"
BINARY_VARIABLE = "LIVEKIT_SERVER_BIN"


class LiveKitServerUnavailable(RuntimeError):
    """The binary is missing or the server did not become ready."""


def find_binary() -> Path | None:
    configured = os.environ.get(BINARY_VARIABLE)
    if configured:
        return Path(configured)
    found = shutil.which("livekit-server")
    return Path(found) if found else None


@dataclass
class LocalLiveKitServer(ServerProcess):
    """One livekit-server process on 127.0.0.1 with a generated key pair and free ports."""

    binary: Path
    api_key: str = field(default_factory=lambda: "APIdev" + secrets.token_hex(6))
    api_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    http_port: int = field(default_factory=free_port)
    rtc_tcp_port: int = field(default_factory=free_port)
    rtc_udp_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="livekit-")))
    # Off by default: a join must never bring back a room that voicecore deleted.
    # Only a comparison with token-based agent dispatch (which relies on it) turns it on.
    auto_create_rooms: bool = False
    webhook_urls: list[str] = field(default_factory=list)
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
        lines = [
            f"port: {self.http_port}",
            "bind_addresses: ['127.0.0.1']",
            "rtc:",
            f"  tcp_port: {self.rtc_tcp_port}",
            f"  udp_port: {self.rtc_udp_port}",
            "  use_external_ip: false",
            "  enable_loopback_candidate: true",
            # Keeps media on 127.0.0.1 and stops clients (agent job processes among
            # them) from looking up the server's default public STUN hosts.
            "  interfaces:",
            "    includes: [lo]",
            f"  stun_servers: ['127.0.0.1:{self.rtc_udp_port}']",
            "room:",
            f"  auto_create: {'true' if self.auto_create_rooms else 'false'}",
            "keys:",
            f"  {self.api_key}: {self.api_secret}",
            "logging:",
            "  level: info",
        ]
        if self.webhook_urls:
            lines += ["webhook:", f"  api_key: {self.api_key}", "  urls:"]
            lines += [f"    - '{url}'" for url in self.webhook_urls]
        return "\n".join([*lines, ""])

    def start(self, *, ready_timeout: float = 30.0) -> None:
        if self.running:
            return
        config = self.workdir / "livekit.yaml"
        config.write_text(self.config_yaml())
        config.chmod(0o600)
        self._process = spawn(
            [str(self.binary), "--config", str(config), "--bind", "127.0.0.1", "--node-ip", "127.0.0.1"],
            self.log_path,
        )
        wait_until_ready(
            self._process,
            self._answers_200,
            timeout=ready_timeout,
            what="livekit-server",
            log_tail=self.log_tail,
            failure=LiveKitServerUnavailable,
            port=self.http_port,
        )

    def _answers_200(self) -> bool:
        with urllib.request.urlopen(self.http_url + "/", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)


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
