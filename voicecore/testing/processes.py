"""Running a server process for tests: spawn it logging to a file, wait until it answers, stop it.

Shared by the LiveKit and Redis launchers here and the service replicas of this
repository's tests, so each says only how to start its server and how to tell it is ready.
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
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
_PICKABLE_PORTS = (10_000, 32_768)  # the top: Linux's default ephemeral range starts there
_TCP_LISTEN = "0A"  # the state column of /proc/net/tcp


def die_with_parent() -> None:
    """In a child before exec: end when the parent dies, so no server outlives its owner."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing holds now, below the kernel's ephemeral range.

    A free port in the ephemeral range can be handed to another process's ``bind(0)``,
    or to any outgoing connection, between this pick and the server's own bind. With
    test workers and the benchmark starting servers side by side, that happened: a
    service's readiness probe was answered by another process on its port.
    """
    low, high = _PICKABLE_PORTS
    with contextlib.suppress(OSError, ValueError, IndexError):
        ephemeral_low = int(Path(_EPHEMERAL_RANGE).read_text().split()[0])
        high = max(min(high, ephemeral_low), low + 1000)
    for _ in range(100):
        port = low + secrets.randbelow(high - low)
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: pick again
            return port
    raise RuntimeError(f"no free port between {low} and {high} after 100 picks")


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds a TCP socket listening on ``port`` (Linux's /proc)."""
    listening: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
                if state == _TCP_LISTEN and local_port == port:
                    listening.add(f"socket:[{inode}]")
    if not listening:
        return False
    descriptors: list[Path] = []
    with contextlib.suppress(OSError):  # the process is gone
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    for descriptor in descriptors:
        with contextlib.suppress(OSError):  # closed since it was listed
            if os.readlink(descriptor) in listening:
                return True
    return False


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output appended to ``log_path``; it dies with this process."""
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own servers, fixed arguments
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
        )


def wait_until_ready(
    process: subprocess.Popen[bytes],
    answers: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    log_tail: Callable[[], str],
    failure: type[Exception] = RuntimeError,
    port: int | None = None,
) -> None:
    """Poll ``answers`` until it is true; stop the process and raise ``failure`` if it exits or times out.

    A server may print a bad configuration and still exit 0, so only its answer counts.
    With ``port``, the answer counts only once the process itself listens there: another
    process that took the port first would answer too.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise failure(f"{what} exited early:\n{log_tail()}")
        with contextlib.suppress(OSError):
            if answers() and (port is None or listens_on(process.pid, port)):
                return
        time.sleep(0.05)
    stop(process)
    raise failure(f"{what} was not ready after {timeout}s:\n{log_tail()}")


def stop(process: subprocess.Popen[bytes] | None, *, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it does not end in ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(log_path: Path, lines: int = 60, *, width: int = 400) -> str:
    """The last lines of a log, each cut to ``width`` (some lines carry whole SDP offers)."""
    try:
        tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return "\n".join(line if len(line) <= width else line[:width] + " …" for line in tail)


class ServerProcess:
    """What the local servers share: a process, a work directory, a log, and how they end."""

    workdir: Path
    _process: subprocess.Popen[bytes] | None

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        stop(process)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its connections and answers nothing, as a hung one."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server run again (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
