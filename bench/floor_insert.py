"""The floor's one bare INSERT per create: the journal's row, through the journal's own driver, nothing else.

What a team writing its own backend would add to record a session: one statement
on one warm connection (aiosqlite) or pool (asyncpg, as large as the journal's), in
autocommit, no SQLAlchemy, no transaction of its own, no lock. The row is exactly the
one voicecore's journal writes for a new session (every column of ``voice_sessions``),
into the same table with the same indexes: the schema is voicecore's own migration,
run once at the floor's start (``python -m voicecore_http migrate``), never per request.

SQLite gets the journal's connection settings (WAL, ``synchronous=NORMAL``), so both
pay the same for a commit.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, Final, Protocol

import aiosqlite
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

# The journal's default file, in the working directory (voicecore.settings.DEFAULT_JOURNAL_FILE).
SQLITE_FILE: Final = "voicecore-journal.sqlite3"
SQLITE_INSERT: Final = (
    "INSERT INTO voice_sessions (room_name, user_id, agent_type, created_at_us, agent_joined_at_us, "
    "ended_at_us, end_reason, end_approximate, rejoins, dispatches, events_sent) "
    "VALUES (?, ?, ?, ?, NULL, NULL, NULL, 0, 0, 0, 0)"
)
POSTGRES_INSERT: Final = (
    "INSERT INTO voice_sessions (room_name, user_id, agent_type, created_at_us, agent_joined_at_us, "
    "ended_at_us, end_reason, end_approximate, rejoins, dispatches, events_sent) "
    "VALUES ($1, $2, $3, $4, NULL, NULL, NULL, false, 0, 0, 0)"
)
POOL_SIZE: Final = 10  # the journal's pool


class SessionInsert(Protocol):
    async def insert(self, room_name: str, user_id: str, agent_type: str) -> None: ...
    async def aclose(self) -> None: ...


def _now_us() -> int:
    return time.time_ns() // 1000


async def migrate(journal_url: str) -> None:
    """voicecore's own migration of ``journal_url``, once, so the floor writes into the same table."""
    environment = {"PATH": os.environ.get("PATH", ""), "JOURNAL_URL": journal_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicecore_http", "migrate", env=environment, stdout=asyncio.subprocess.DEVNULL
    )
    if await process.wait():
        raise RuntimeError(f"python -m voicecore_http migrate failed (exit {process.returncode})")


class SqliteInsert:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, path: Path) -> SqliteInsert:
        """``path``: absolute."""
        await migrate(f"sqlite:///{path}")
        connection = await aiosqlite.connect(path, isolation_level=None)  # autocommit
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            await connection.execute(f"PRAGMA {pragma}")
        return cls(connection)

    async def insert(self, room_name: str, user_id: str, agent_type: str) -> None:
        await self._connection.execute(SQLITE_INSERT, (room_name, user_id, agent_type, _now_us()))

    async def aclose(self) -> None:
        await self._connection.close()


class PostgresInsert:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str) -> PostgresInsert:
        await migrate(url)
        pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
        return cls(pool)

    async def insert(self, room_name: str, user_id: str, agent_type: str) -> None:
        await self._pool.execute(POSTGRES_INSERT, room_name, user_id, agent_type, _now_us())

    async def aclose(self) -> None:
        await self._pool.close()


async def open_insert(kind: str, journal_url: str | None, workdir: Path) -> SessionInsert:
    """``sqlite``: the default file in ``workdir`` (absolute); ``postgres``: ``journal_url``."""
    if kind == "sqlite":
        return await SqliteInsert.open(workdir / SQLITE_FILE)
    if kind == "postgres" and journal_url:
        return await PostgresInsert.open(journal_url)
    raise ValueError(f"the floor inserts into sqlite, or postgres with JOURNAL_URL; not {kind!r}")
