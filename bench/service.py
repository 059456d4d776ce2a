"""The voicecore HTTP service under test: a real uvicorn server on 127.0.0.1.

``ServiceProcess`` runs ``python -m voicecore_http`` in a subprocess, exactly as
production does (the measured target). ``InProcessService`` runs uvicorn in a
background thread of this process, for ``--profile`` only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import uvicorn
from dependency_injector import providers
from pydantic import SecretStr

from voicecore.settings import LiveKitSettings
from voicecore.testing.livekit_server import LocalLiveKitServer, free_port
from voicecore_http.app import create_app
from voicecore_http.container import ServiceContainer
from voicecore_http.settings import HttpSettings

# Variables that would change what the service does; only the ones we set reach it.
_SCRUBBED_PREFIXES = ("LIVEKIT_", "AUTH_", "LOG_", "SESSION_")


class ServiceUnavailable(RuntimeError):
    pass


def wait_ready(base_url: str, timeout: float, alive: Any = None) -> None:
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
    """``python -m voicecore_http --port N`` with the LiveKit and auth settings in its environment.

    ``module`` names another server to run the same way (the benchmark's floor_app).
    """

    name: str
    livekit: LocalLiveKitServer
    auth_secret: str
    log_level: str
    log_path: Path
    pythonpath: str | None = None
    module: str = "voicecore_http"
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
        env.update(
            LIVEKIT_URL=self.livekit.url,
            LIVEKIT_API_KEY=self.livekit.api_key,
            LIVEKIT_API_SECRET=self.livekit.api_secret,
            AUTH_JWT_SECRET=self.auth_secret,
            LOG_LEVEL=self.log_level,
        )
        env.pop("PYTHONPATH", None)
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", self.module, "--port", str(self.port)],
            env=self.environment(),
            # No .env is read from here: the service gets only the variables above.
            cwd=self.log_path.parent,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
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


def in_process_container(livekit: LocalLiveKitServer, auth_secret: str) -> ServiceContainer:
    """The service container with settings given here rather than read from the environment."""
    container = ServiceContainer()
    container.settings.override(
        providers.Object(
            LiveKitSettings(
                livekit_url=livekit.url,
                livekit_api_key=livekit.api_key,
                livekit_api_secret=SecretStr(livekit.api_secret),
            )
        )
    )
    container.http_settings.override(providers.Object(HttpSettings(auth_jwt_secret=SecretStr(auth_secret))))
    return container


class InProcessService:
    """uvicorn.Server in a background thread, optionally under pyinstrument (``--profile``)."""

    def __init__(self, livekit: LocalLiveKitServer, auth_secret: str, *, profile_to: Path | None) -> None:
        self.name = "in-process"
        self.port = free_port()
        self._app = create_app(in_process_container(livekit, auth_secret))
        self._server = uvicorn.Server(
            uvicorn.Config(self._app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on")
        )
        self._profile_to = profile_to
        self._thread = threading.Thread(target=self._run, name="voicecore-http", daemon=True)
        self.profile_text = ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        profiler = None
        if self._profile_to is not None:
            from pyinstrument import Profiler  # noqa: PLC0415 - only --profile needs it

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
        try:
            asyncio.run(self._server.serve())
        finally:
            if profiler is not None and self._profile_to is not None:
                profiler.stop()
                self._profile_to.parent.mkdir(parents=True, exist_ok=True)
                self._profile_to.write_text(profiler.output_html())
                self.profile_text = profiler.output_text(unicode=False, color=False, show_all=False)

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_ready(self.base_url, timeout, alive=self._thread.is_alive)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


_HIDE_SPEEDUPS = '''\
"""Written by bench.run for a comparison target: hide uvloop and httptools, so
uvicorn runs on asyncio and h11 as it did before they were dependencies."""
import sys


class _Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("uvloop", "httptools"):
            raise ImportError(f"{name} is hidden for this comparison")
        return None


sys.meta_path.insert(0, _Hidden())
'''


def checkout(repo: Path, revision: str, dest: Path, *, hide_speedups: bool) -> str:
    """voicecore and voicecore_http as of ``revision`` in ``dest``: a PYTHONPATH.

    ``revision`` is a git revision of ``repo`` (git archive), or a directory holding
    the two packages (copied).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if Path(revision).is_dir():
        for package in ("voicecore", "voicecore_http"):
            shutil.copytree(Path(revision) / package, dest / package)
        if hide_speedups:
            (dest / "sitecustomize.py").write_text(_HIDE_SPEEDUPS)
        return str(dest)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "voicecore", "voicecore_http"],  # noqa: S607
        cwd=repo,
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)  # noqa: S607
    if hide_speedups:
        (dest / "sitecustomize.py").write_text(_HIDE_SPEEDUPS)
    return str(dest)
