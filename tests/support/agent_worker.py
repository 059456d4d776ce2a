"""The development agent worker (devtools/agent_worker.py) as a subprocess of a test.

A plain module: the ``agent_worker`` fixture in tests/conftest.py and the browser scenarios
(which run in their own network namespace, without pytest) both use it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from livekit import api

from voicecore.testing.livekit_server import LocalLiveKitServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_AGENT_NAME = "voicecore-dev-coach"
READY_MESSAGE = "agent worker registered"  # devtools.agent_worker.READY_MESSAGE


class AgentWorkerUnavailable(RuntimeError):
    """The worker exited or did not register with the server in time."""


@dataclass
class AgentWorkerProcess:
    """``python -m devtools.agent_worker`` against one LiveKit server, in its own process group.

    The group holds the worker and its job processes, so kill() ends them all at once, as a
    crash of the machine running them would.
    """

    server: LocalLiveKitServer
    agent_name: str = DEV_AGENT_NAME
    log_path: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="agent-worker-")) / "worker.log"
    )
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, ready_timeout: float = 60.0) -> None:
        """Start the worker and return once the server has registered it."""
        if self.running:
            return
        env = {
            **os.environ,
            "LIVEKIT_URL": self.server.url,
            "LIVEKIT_API_KEY": self.server.api_key,
            "LIVEKIT_API_SECRET": self.server.api_secret,
            "LIVEKIT_AGENT_NAME": self.agent_name,
        }
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "devtools.agent_worker"],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_registered(ready_timeout)

    def _wait_registered(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_MESSAGE in self.log_since_start():
                return
            if not self.running:
                raise AgentWorkerUnavailable(f"the agent worker exited:\n{self.log_tail()}")
            time.sleep(0.05)
        self.kill()
        raise AgentWorkerUnavailable(f"the agent worker did not register in {timeout}s:\n{self.log_tail()}")

    def log_since_start(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the worker and its job processes: nothing gets to say goodbye."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM to the worker alone: it drains its jobs briefly, then closes them itself."""
        process = self._process
        if process is None:
            return
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
        # Whatever still lingers in the group (a job process mid-shutdown) goes too.
        self.kill()

    def cleanup(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self.log_path.unlink()
            self.log_path.parent.rmdir()


@contextlib.contextmanager
def running_agent_worker(
    server: LocalLiveKitServer, agent_name: str = DEV_AGENT_NAME
) -> Iterator[AgentWorkerProcess]:
    worker = AgentWorkerProcess(server, agent_name)
    try:
        worker.start()
        yield worker
    finally:
        worker.cleanup()


def agents_in(participants: api.ListParticipantsResponse) -> list[api.ParticipantInfo]:
    return [p for p in participants.participants if p.kind == api.ParticipantInfo.Kind.AGENT]
