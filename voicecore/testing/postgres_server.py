"""Run Debian's PostgreSQL 15 on loopback for tests and development: a cluster of its own, a free port.

Never used by the production wiring. ``initdb`` and ``postgres`` refuse to run as
root, so as root they run as the ``postgres`` user, in a directory it owns; as any
other user they run as that user. The binaries are found through
``POSTGRES_BIN_DIR`` or Debian's ``/usr/lib/postgresql/15/bin``; ``scripts/setup.sh``
installs the package when missing.

``fsync`` is off by default (a test server need not survive a power cut); a
durability test starts one with ``durable=True``. A stopped server keeps its data
and starts again on the same port; ``kill()`` is a crash (SIGKILL of the postmaster).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from voicecore.testing.processes import free_port

BIN_DIR_VARIABLE = "POSTGRES_BIN_DIR"
DEBIAN_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
_SERVICE_USER = "postgres"
DATABASE_USER = "voicecore"


class PostgresServerUnavailable(RuntimeError):
    """The binaries are missing, or the server did not start or stop."""


def find_postgres_bin_dir() -> Path | None:
    configured = os.environ.get(BIN_DIR_VARIABLE)
    candidate = Path(configured) if configured else DEBIAN_BIN_DIR
    return candidate if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists() else None


@dataclass
class LocalPostgresServer:
    """One PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    bin_dir: Path
    port: int = field(default_factory=free_port)
    durable: bool = False
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="postgres-")))
    _initialised: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        """The ``postgres`` database as the trusted ``voicecore`` user (loopback only, trust auth)."""
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    @property
    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists() and self._pg_ctl("status", check=False) == 0

    def start(self) -> None:
        if not self._initialised:
            self._prepare()
        if self.running:
            return
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        if self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.log_path), "-o", options, check=False):
            raise PostgresServerUnavailable(f"postgres did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """A fast shutdown: sessions are cut, committed data is kept."""
        if self._initialised and self.running:
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30", check=False)

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (its backends follow it)."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql as the voicecore user; its output, unaligned, tuples only."""
        command = [
            str(self.bin_dir / "psql") if (self.bin_dir / "psql").exists() else "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            DATABASE_USER,
            "-d",
            database,
            "-c",
            sql,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode:
            raise PostgresServerUnavailable(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cleanup(self) -> None:
        with contextlib.suppress(PostgresServerUnavailable):
            self.stop()
        if self._initialised and self.running:
            self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- the rest runs as the postgres user when we are root --------------------------

    def _prepare(self) -> None:
        owner = _service_user()
        if owner is not None:
            os.chown(self.workdir, owner.pw_uid, owner.pw_gid)
        created = self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                DATABASE_USER,
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            check=False,
        )
        if created:
            raise PostgresServerUnavailable(f"initdb failed (exit {created})")
        self._initialised = True

    def _pg_ctl(self, *arguments: str, check: bool) -> int:
        return self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *arguments], check=check)

    def _run(self, argv: Sequence[str], *, check: bool) -> int:
        if _service_user() is not None:
            argv = ["runuser", "-u", _SERVICE_USER, "--", *argv]
        done = subprocess.run(  # noqa: S603 - our own fixed command lines
            list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=check
        )
        return done.returncode

    @staticmethod
    def _wait_gone(pid: int) -> None:
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise PostgresServerUnavailable(f"postgres (pid {pid}) did not die")


def _service_user() -> pwd.struct_passwd | None:
    """Debian's postgres user when we run as root (initdb refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SERVICE_USER)
    except KeyError as exc:
        raise PostgresServerUnavailable(
            "running as root needs Debian's postgres user (apt-get install postgresql)"
        ) from exc


@contextlib.contextmanager
def running_postgres_server(
    bin_dir: Path | None = None, *, durable: bool = False
) -> Iterator[LocalPostgresServer]:
    resolved = bin_dir or find_postgres_bin_dir()
    if resolved is None:
        raise PostgresServerUnavailable(
            "PostgreSQL 15 is not installed: run `make setup` (apt-get install postgresql) "
            f"or set {BIN_DIR_VARIABLE}"
        )
    server = LocalPostgresServer(resolved, durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
