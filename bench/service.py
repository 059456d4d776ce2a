"""A target served: ``python -m voicecore_http`` (or the floor) in a subprocess on 127.0.0.1.

``ServiceProcess`` runs it exactly as production does, with its settings as one
mapping (``bench.targets.service_environment``) and nothing else from the shell; the
service builds itself through the composition root, ``ServiceContainer.from_environment``.
Each process runs in a fresh working directory of its own, removed when it stops: what
the service keeps there by default (the SQLite journal, ``voicecore-journal.sqlite3``)
starts empty every run and is never shared with another target.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from bench.targets import Target
from voicecore.testing.processes import free_port

# How long a service may take to answer /readyz. Several start at once, each importing FastAPI,
# SQLAlchemy and Alembic, which takes a while on a busy machine; the limit only bounds a failed
# start: a healthy one is used as soon as it answers.
STARTUP_SECONDS = 90.0
# What a Python subprocess needs from this shell; every setting comes from the target.
_PASSED_FROM_SHELL = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SYSTEMROOT")


class ServiceUnavailable(RuntimeError):
    pass


class Service(Protocol):
    name: str

    @property
    def base_url(self) -> str: ...
    def start(self) -> None: ...
    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None: ...
    def stop(self) -> None: ...


@contextlib.contextmanager
def running(services: Sequence[Service]) -> Iterator[None]:
    try:
        for service in services:
            service.start()
        for service in services:
            service.wait_ready()
        yield
    finally:
        for service in services:
            service.stop()


def wait_ready(base_url: str, timeout: float, alive: Callable[[], bool] | None = None) -> None:
    """Poll GET /readyz until it answers 200 (LiveKit reachable through the service)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise ServiceUnavailable(f"the service at {base_url} exited before it was ready")
        try:
            with urllib.request.urlopen(base_url + "/readyz", timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise ServiceUnavailable(f"the service at {base_url} was not ready after {timeout}s")


@dataclass
class ServiceProcess:
    """``python -m MODULE --port N`` with exactly ``settings`` (plus PATH and locale) in its environment."""

    name: str
    settings: Mapping[str, str]
    log_path: Path
    module: str = "voicecore_http"
    pythonpath: str | None = None
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _workdir: Path | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def workdir(self) -> Path:
        """The process's working directory, its own, made by ``start`` (its SQLite journal lives there)."""
        if self._workdir is None:
            raise ServiceUnavailable(f"{self.name} has not been started")
        return self._workdir

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def environment(self) -> dict[str, str]:
        env = {name: os.environ[name] for name in _PASSED_FROM_SHELL if name in os.environ}
        env.update(self.settings)
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._workdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        self._process = subprocess.Popen(
            [sys.executable, "-m", self.module, "--port", str(self.port)],
            env=self.environment(),
            # No .env is read from here: the service gets only the variables above.
            cwd=self._workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        wait_ready(
            self.base_url, timeout, alive=lambda: self._process is not None and self._process.poll() is None
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def target_process(target: Target, settings: Mapping[str, str], log_dir: Path) -> ServiceProcess:
    """The target served as it says, with ``settings``, logging to ``log_dir/service-NAME.log``."""
    return ServiceProcess(
        target.name, settings, log_dir / f"service-{target.name}.log", target.module, target.pythonpath
    )
