"""SQLite's stand-in for the row locks a PostgreSQL sender holds: the app events this process is sending.

On PostgreSQL each event being sent is held under a row lock (``FOR UPDATE SKIP
LOCKED``) in the sender's open transaction: no other sender takes it, and erasing
its user waits until the send has ended. SQLite has no row locks, and one process
sends from a SQLite journal (``SenderFileLock`` says which): in that process, this
registry does both jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path


class LocalSends:
    def __init__(self) -> None:
        # A claim's read-then-hold and an erasure's delete-then-look exclude each other,
        # so no send of an erased user's event can start after the erasure looked.
        self.claims = asyncio.Lock()
        self._held: dict[str, tuple[str, asyncio.Event]] = {}  # event_id -> (user_id, ended)

    def event_ids(self) -> list[str]:
        return list(self._held)

    def hold(self, event_id: str, user_id: str) -> None:
        self._held[event_id] = (user_id, asyncio.Event())

    def release(self, event_id: str) -> None:
        held = self._held.pop(event_id, None)
        if held is not None:
            held[1].set()

    def ending(self, user_id: str) -> asyncio.Future[list[bool]]:
        """Done when every send of ``user_id``'s events under way now has ended."""
        return asyncio.gather(*(ended.wait() for user, ended in self._held.values() if user == user_id))


class SenderFileLock:
    """An exclusive ``flock`` on a file beside the journal, held by the one process that sends.

    The kernel releases it when that process dies, however it dies.
    """

    def __init__(self, database: Path) -> None:
        self._path = database.with_name(database.name + ".sender.lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Whether this process is the sender (taking the lock if it is free)."""
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
