"""Journals for tests: a migrated SQLite file copied per test, and a fresh PostgreSQL database per test.

Migrating a journal takes Alembic a noticeable moment; every test wants a fresh
one. So the schema is migrated once per run into a template (a SQLite file, a
PostgreSQL template database) and each test gets a copy: a file copy, or
``CREATE DATABASE ... TEMPLATE``. The copies are real journals on real databases.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import itertools
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from voicecore.adapters.sql_journal import SqlSessionJournal, driver_url
from voicecore.core.domain import utc_now
from voicecore.core.errors import JournalUnavailable
from voicecore.core.history import NO_APP_EVENTS, AppEvents
from voicecore.core.journal import Decide, Erasure, HistoryQuery, JournalChange, JournalRecord
from voicecore.core.recorder import SessionRecorder
from voicecore.testing.postgres_server import LocalPostgresServer

_TEMPLATE_DATABASE = "journal_template"
_scratch: Path | None = None
_databases = itertools.count(1)
_sqlite_template: Path | None = None


def _migrated(url: str) -> None:
    async def migrate() -> None:
        journal = SqlSessionJournal(url, migrate=True)
        await journal.open()
        await journal.aclose()

    # Its own thread and loop: the first caller may be inside a test's running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as worker:
        worker.submit(asyncio.run, migrate()).result()


def scratch_directory() -> Path:
    """A new directory under one the test run removes when it ends."""
    global _scratch  # noqa: PLW0603 - one scratch root per test run
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="voicecore-tests-"))
        atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=_scratch))


def sqlite_journal_url(directory: Path) -> str:
    """A migrated, empty SQLite journal of its own in ``directory``."""
    global _sqlite_template  # noqa: PLW0603 - one template per test run
    if _sqlite_template is None:
        template = scratch_directory() / "journal.sqlite3"
        _migrated(f"sqlite:///{template}")
        _sqlite_template = template
    target = directory / "journal.sqlite3"
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


def prepare_postgres_template(server: LocalPostgresServer) -> None:
    """Migrate the template database the per-test databases are copied from (once per server)."""
    server.psql(f"CREATE DATABASE {_TEMPLATE_DATABASE}")
    _migrated(server.database_url(_TEMPLATE_DATABASE))


def postgres_journal_url(server: LocalPostgresServer) -> str:
    """A migrated, empty PostgreSQL database of its own on ``server``."""
    name = f"journal_{next(_databases)}"
    server.psql(f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE_DATABASE}")
    return server.database_url(name)


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    type: str
    sequence: int
    state: str
    body: str


async def stored_events(url: str, room_name: str) -> list[StoredEvent]:
    """The outbox rows of a room, read straight from the database (not through the journal)."""
    return (await every_stored_event(url)).get(room_name, [])


async def every_stored_event(url: str) -> dict[str, list[StoredEvent]]:
    """Every room's outbox rows, in sequence, read straight from the database in one query."""
    engine = create_async_engine(driver_url(url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT room_name, event_id, type, sequence, state, body FROM app_events "
                    "ORDER BY room_name, sequence"
                )
            )
            events: dict[str, list[StoredEvent]] = {}
            for room_name, *fields in rows:
                events.setdefault(room_name, []).append(StoredEvent(*fields))
            return events
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def sqlite_recorder(
    clock: Callable[[], datetime] = utc_now, events: AppEvents = NO_APP_EVENTS
) -> AsyncIterator[SessionRecorder]:
    """A recorder on a fresh SQLite journal of its own, open for the block (state machines, @given)."""
    journal = SqlSessionJournal(sqlite_journal_url(scratch_directory()))
    await journal.open()
    try:
        yield SessionRecorder(journal, events, clock=clock)
    finally:
        await journal.aclose()


class SwitchableJournal(SqlSessionJournal):
    """The real journal, whose database the test can take down and bring back."""

    down = False

    async def _unless_down(self, operation: str) -> None:
        if self.down:
            raise JournalUnavailable(operation, "the database is down (test)")

    async def start(self, change: JournalChange) -> bool:
        await self._unless_down("start")
        return await super().start(change)

    async def change(self, room_name: str, decide: Decide) -> JournalRecord | None:
        await self._unless_down("change")
        return await super().change(room_name, decide)

    async def live(self, user_id: str | None = None) -> list[JournalRecord]:
        await self._unless_down("live")
        return await super().live(user_id)

    async def known(self, room_names: Sequence[str]) -> set[str]:
        await self._unless_down("known")
        return await super().known(room_names)

    async def erase_ended(self, user_id: str) -> int:
        await self._unless_down("erase_ended")
        return await super().erase_ended(user_id)

    async def erase_user(self, user_id: str) -> Erasure:
        await self._unless_down("erase_user")
        return await super().erase_user(user_id)

    async def get(self, room_name: str) -> JournalRecord | None:
        await self._unless_down("get")
        return await super().get(room_name)

    async def history(self, query: HistoryQuery) -> list[JournalRecord]:
        await self._unless_down("history")
        return await super().history(query)

    async def ping(self) -> None:
        await self._unless_down("ping")
        await super().ping()
