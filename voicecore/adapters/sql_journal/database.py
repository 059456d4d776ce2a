"""The journal's database: one SQLAlchemy async engine, its transactions, and error translation, once.

Shared by the journal (journal.py) and the outbox's sender (outbox.py). SQLite
takes its write lock at ``BEGIN IMMEDIATE``, and this process's writers queue on
an asyncio lock first instead of polling SQLite's. Whatever the driver or the
network raises leaves as ``JournalUnavailable`` naming the operation, never with
the driver's text (which may carry the server's address).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from voicecore.adapters.sql_journal.local_sends import LocalSends
from voicecore.adapters.sql_journal.migrate import (
    MIGRATE_COMMAND,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from voicecore.core.errors import JournalSchemaOutdated, JournalUnavailable

DEFAULT_TIMEOUT_SECONDS: Final = 5.0
_IMMEDIATE: Final = "voicecore_sqlite_immediate"


def driver_url(url: str) -> str:
    """``sqlite:///path`` and ``postgresql://...`` with the async driver named (aiosqlite, asyncpg)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError("the journal takes sqlite:/// or postgresql:// URLs")


class SqlDatabase:
    """Owns one engine (a connection pool) for its life; built in the running loop by ``open()``."""

    def __init__(self, url: str, *, migrate: bool, timeout_seconds: float, pool_size: int) -> None:
        self.url = driver_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        self.timeout_seconds = timeout_seconds
        self._migrate = migrate or self.dialect == "sqlite"
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None
        self._writers = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writer: AsyncConnection | None = None
        self._single_writer: AsyncConnection | None = None  # SQLite: one statement, no transaction
        self._closed = False
        # SQLite's stand-in for the row locks a PostgreSQL sender holds (local_sends.py).
        self.local_sends = LocalSends()
        self._on_events: list[Callable[[], None]] = []
        # Signs this process's notifications: its own listener skips them (the local wake-up came first).
        self.instance = uuid.uuid4().hex

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        database = make_url(self.url).database
        return Path(database) if self.sqlite and database and database != ":memory:" else None

    # --- life cycle ---------------------------------------------------------------------

    async def open(self) -> None:
        self._closed = False
        engine = self._built()
        async with self.guard("open"), engine.connect() as connection:
            current = await connection.run_sync(current_revision)
            head = head_revision()
            if current == head:
                return
            if not self._migrate:
                raise JournalSchemaOutdated(current, head, MIGRATE_COMMAND)
            await connection.run_sync(upgrade_to_head)
            await connection.commit()

    async def migrate(self) -> tuple[str | None, str]:
        """Bring the schema to this code's head, even on PostgreSQL: (the revision before, the head)."""
        async with self.guard("migrate"), self.engine("migrate").connect() as connection:
            before = await connection.run_sync(current_revision)
            if before != head_revision():
                await connection.run_sync(upgrade_to_head)
                await connection.commit()
        return before, head_revision()

    async def aclose(self) -> None:
        self._closed = True
        writers = (self._writer, self._single_writer)
        self._writer = self._single_writer = None
        for writer in writers:
            if writer is not None:
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await writer.close()
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    def _built(self) -> AsyncEngine:
        if self._engine is not None:
            return self._engine
        path = self.sqlite_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = build_engine(self.url, pool_size=self._pool_size, timeout_seconds=self.timeout_seconds)
        return self._engine

    def engine(self, operation: str) -> AsyncEngine:
        if self._closed:
            raise JournalUnavailable(operation, "the journal is closed")
        return self._built()

    # --- events committed -----------------------------------------------------------------

    def on_events_committed(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` after each commit of this process that wrote app events."""
        self._on_events.append(wake)

    def events_committed(self) -> None:
        for wake in self._on_events:
            wake()

    # --- transactions ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def guard(self, operation: str, *, extra_seconds: float = 0.0) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self.timeout_seconds + extra_seconds):
                yield
        except TimeoutError as exc:
            raise JournalUnavailable(operation, "the database did not answer in time") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise JournalUnavailable(operation, f"the database failed ({type(exc).__name__})") from exc

    @contextlib.asynccontextmanager
    async def writing(self, operation: str, *, extra_seconds: float = 0.0) -> AsyncIterator[AsyncConnection]:
        """One write transaction; committed when the block ends without raising."""
        engine = self.engine(operation)
        if self._writers is None:
            async with self.guard(operation, extra_seconds=extra_seconds), engine.begin() as connection:
                yield connection
            return
        # SQLite has one writer at a time anyway: this process's writes queue here and
        # share one connection, instead of each checking one out of the pool.
        async with self._writers, self.guard(operation, extra_seconds=extra_seconds):
            if self._writer is None:
                connection = await engine.connect()
                self._writer = await connection.execution_options(**{_IMMEDIATE: True})
            writer = self._writer
            try:
                async with writer.begin():
                    yield writer
            except BaseException:
                # A connection cut mid-transaction (a timeout, a cancel) is not trusted again.
                self._writer = None
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await writer.close()
                raise

    @contextlib.asynccontextmanager
    async def single_statement(self, operation: str) -> AsyncIterator[AsyncConnection]:
        """A connection for one write statement, atomic by itself: no transaction around it.

        A start with nothing else to write is one INSERT; BEGIN and COMMIT around it cost
        two more round trips to PostgreSQL, and on SQLite two more hops to aiosqlite's thread.
        """
        if self._writers is None:
            async with self.reading(operation, autocommit=True) as connection:
                yield connection
            return
        async with self._writers, self.guard(operation):
            if self._single_writer is None:
                connection = await self.engine(operation).connect()
                self._single_writer = await connection.execution_options(isolation_level="AUTOCOMMIT")
            writer = self._single_writer
            try:
                yield writer
            except BaseException:
                self._single_writer = None  # cut mid-statement (a timeout, a cancel): not trusted again
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await writer.close()
                raise

    @contextlib.asynccontextmanager
    async def reading(self, operation: str, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection to read on; ``autocommit``: one statement, no transaction around it (PostgreSQL)."""
        async with self.guard(operation), self.engine(operation).connect() as connection:
            if autocommit and not self.sqlite:
                yield await connection.execution_options(isolation_level="AUTOCOMMIT")
            else:
                yield connection


def build_engine(
    url: str, *, pool_size: int, timeout_seconds: float, server_settings: dict[str, str] | None = None
) -> AsyncEngine:
    """An engine on ``url`` (a driver URL): SQLite with its pragmas, PostgreSQL with a connect timeout."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
        event.listen(engine.sync_engine, "connect", _sqlite_connected)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        connect_args={
            "timeout": timeout_seconds,
            "server_settings": {"application_name": "voicecore", **(server_settings or {})},
        },
    )


def _sqlite_connected(dbapi_connection: Any, _: Any) -> None:
    # aiosqlite must not begin transactions by itself: _sqlite_begin does, IMMEDIATE for writes.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL keeps every commit through a crash of the process
    cursor.execute("PRAGMA busy_timeout=5000")  # another process's writer: wait, do not fail
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # each statement commits itself (single_statement); a BEGIN here would never end
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_IMMEDIATE, False) else "BEGIN")
