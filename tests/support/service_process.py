"""The standalone service as a real process (``python -m voicecore_http``) on loopback.

For what an in-process app cannot show: several replicas, a replica killed
mid-request, LiveKit's webhooks arriving over real HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.constants import AUTH_SECRET
from voicecore.testing.livekit_server import LocalLiveKitServer, die_with_parent, free_port

_CONFIGURATION_PREFIXES = ("LIVEKIT_", "SESSION_", "AUTH_JWT_", "LOG_", "HTTP_", "DEMO_", "CORS_", "AGENT_")


def service_environment(server: LocalLiveKitServer, **variables: str) -> dict[str, str]:
    """The settings of a service on ``server``, plus ``variables`` by name."""
    return {
        "LIVEKIT_URL": server.url,
        "LIVEKIT_API_KEY": server.api_key,
        "LIVEKIT_API_SECRET": server.api_secret,
        "AUTH_JWT_SECRET": AUTH_SECRET,
        **variables,
    }


@dataclass
class ServiceProcess:
    settings: Mapping[str, str]
    port: int = field(default_factory=free_port)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="voicecore-")))
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "service.log"

    def start(self, *, ready_timeout: float = 30.0) -> None:
        # Only the settings given: nothing exported in the shell, no .env (cwd is empty).
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_CONFIGURATION_PREFIXES)}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "voicecore_http", "--host", "127.0.0.1", "--port", str(self.port)],
                env={**inherited, **self.settings},
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the service exited early:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the service did not start in {ready_timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the replica dies mid-whatever, as a crashed machine would."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait()
            self._process = None

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

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def running_service(settings: Mapping[str, str], *, port: int | None = None) -> Iterator[ServiceProcess]:
    service = ServiceProcess(settings) if port is None else ServiceProcess(settings, port=port)
    service.start()
    try:
        yield service
    finally:
        service.stop()
