"""A replica of the service: a real process that can be killed and started again on its port.

For what an in-process app cannot show: several replicas, a replica killed
mid-request, LiveKit's webhooks arriving over real HTTP. The environment is
tests/support/service_process.py's ``service_environment``.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from voicecore.testing.livekit_server import die_with_parent, free_port


@dataclass
class Replica:
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
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "voicecore_http", "--host", "127.0.0.1", "--port", str(self.port)],
                env=dict(self.settings),  # from service_environment: only the settings given
                # (cwd is empty: no .env)
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
def running_replica(settings: Mapping[str, str], *, port: int | None = None) -> Iterator[Replica]:
    service = Replica(settings) if port is None else Replica(settings, port=port)
    service.start()
    try:
        yield service
    finally:
        service.stop()
