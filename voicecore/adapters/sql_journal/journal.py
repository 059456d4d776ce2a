"""SqlSessionJournal: the journal on SQLite (aiosqlite, the embedded default) or PostgreSQL (asyncpg).

SQLAlchemy Core, one engine per journal, built in the running loop by ``open()``.
A change is one transaction around the core's decision: PostgreSQL locks the row
(``SELECT ... FOR UPDATE``); SQLite takes its write lock at ``BEGIN IMMEDIATE``, and
this process's writers queue on an asyncio lock first instead of polling SQLite's.

Error translation happens here, once: whatever the driver or the network raises
leaves as ``JournalUnavailable`` naming the operation, never with the driver's text
(which may carry the server's address).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Row, and_, delete, event, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from voicecore.adapters.sql_journal.migrate import (
    MIGRATE_COMMAND,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from voicecore.adapters.sql_journal.rows import event_row, record_of, record_row
from voicecore.adapters.sql_journal.schema import APP_EVENTS, SESSIONS, USAGE_DAYS
from voicecore.core.errors import JournalSchemaOutdated, JournalUnavailable
from voicecore.core.journal import Decide, Erasure, HistoryQuery, JournalChange, JournalRecord, SessionJournal
from voicecore.core.session_record import to_microseconds

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


class SqlSessionJournal(SessionJournal):
    """Owns one SQLAlchemy async engine (a connection pool) for its life.

    ``migrate``: bring the schema to this code's head at ``open()``. SQLite always
    migrates itself (it is the embedded default, nobody else shares its file);
    PostgreSQL only when asked (``python -m voicecore_http migrate``, or
    JOURNAL_MIGRATE_ON_START), and otherwise refuses to start on an older schema.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = False,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        pool_size: int = 10,
    ) -> None:
        self._url = driver_url(url)
        self.dialect = make_url(self._url).get_backend_name()
        self._migrate = migrate or self.dialect == "sqlite"
        self._timeout_seconds = timeout_seconds
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None
        self._writers = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writer: AsyncConnection | None = None
        self._closed = False

    # --- life cycle ---------------------------------------------------------------------

    async def open(self) -> None:
        self._closed = False
        engine = self._built()
        async with self._guard("open"), engine.connect() as connection:
            current = await connection.run_sync(current_revision)
            head = head_revision()
            if current == head:
                return
            if not self._migrate:
                raise JournalSchemaOutdated(current, head, MIGRATE_COMMAND)
            await connection.run_sync(upgrade_to_head)
            await connection.commit()

    async def migrate(self) -> tuple[str | None, str]:
        """Bring the schema to this code's head (the ``migrate`` command); (the revision before, the head)."""
        engine = self._engine_or_fail("migrate")
        async with self._guard("migrate"), engine.connect() as connection:
            before = await connection.run_sync(current_revision)
            if before != head_revision():
                await connection.run_sync(upgrade_to_head)
                await connection.commit()
        return before, head_revision()

    async def aclose(self) -> None:
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await writer.close()
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def ping(self) -> None:
        async with self._guard("ping"), self._engine_or_fail("ping").connect() as connection:
            await connection.execute(select(1))

    def _built(self) -> AsyncEngine:
        if self._engine is not None:
            return self._engine
        if self.dialect == "sqlite":
            database = make_url(self._url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(self._url, pool_size=self._pool_size, max_overflow=0)
            event.listen(engine.sync_engine, "connect", _sqlite_connected)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        else:
            engine = create_async_engine(
                self._url,
                pool_size=self._pool_size,
                max_overflow=0,
                connect_args={
                    "timeout": self._timeout_seconds,
                    "server_settings": {"application_name": "voicecore"},
                },
            )
        self._engine = engine
        return engine

    def _engine_or_fail(self, operation: str) -> AsyncEngine:
        if self._closed:
            raise JournalUnavailable(operation, "the journal is closed")
        return self._built()

    @contextlib.asynccontextmanager
    async def _guard(self, operation: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._timeout_seconds):
                yield
        except TimeoutError as exc:
            raise JournalUnavailable(operation, "the database did not answer in time") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise JournalUnavailable(operation, f"the database failed ({type(exc).__name__})") from exc

    @contextlib.asynccontextmanager
    async def _writing(self, operation: str) -> AsyncIterator[AsyncConnection]:
        """One write transaction; committed when the block ends without raising."""
        engine = self._engine_or_fail(operation)
        if self._writers is None:
            async with self._guard(operation), engine.begin() as connection:
                yield connection
            return
        # SQLite has one writer at a time anyway: this process's writes queue here and
        # share one connection, instead of each checking one out of the pool.
        async with self._writers, self._guard(operation):
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
    async def _reading(self, operation: str) -> AsyncIterator[AsyncConnection]:
        async with self._guard(operation), self._engine_or_fail(operation).connect() as connection:
            yield connection

    # --- writes -------------------------------------------------------------------------

    async def start(self, change: JournalChange) -> bool:
        insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        statement = insert(SESSIONS).on_conflict_do_nothing(index_elements=["room_name"])
        async with self._writing("start") as connection:
            inserted = await connection.execute(statement, record_row(change.record))
            if inserted.rowcount != 1:
                return False
            await self._insert_events(connection, change)
        return True

    async def change(self, room_name: str, decide: Decide) -> JournalRecord | None:
        query = select(SESSIONS).where(SESSIONS.c.room_name == room_name)
        if self.dialect != "sqlite":
            query = query.with_for_update()
        async with self._writing("change") as connection:
            row = (await connection.execute(query)).first()
            if row is None:
                return None
            record = record_of(row)
            change = decide(record)
            if change is None:
                return record
            values = record_row(change.record)
            del values["room_name"]
            await connection.execute(update(SESSIONS).where(SESSIONS.c.room_name == room_name).values(values))
            await self._insert_events(connection, change)
        return change.record

    async def _insert_events(self, connection: AsyncConnection, change: JournalChange) -> None:
        if change.events:
            await connection.execute(APP_EVENTS.insert(), [event_row(e) for e in change.events])
        if change.usage:
            insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
            statement = insert(USAGE_DAYS)
            added = statement.on_conflict_do_update(
                index_elements=["user_id", "day"],
                set_={"used_ms": USAGE_DAYS.c.used_ms + statement.excluded.used_ms},
            )
            user = change.record.user_id
            await connection.execute(
                added, [{"user_id": user, "day": d, "used_ms": ms} for d, ms in change.usage]
            )

    async def erase_ended(self, user_id: str) -> int:
        statement = delete(SESSIONS).where(SESSIONS.c.user_id == user_id, SESSIONS.c.ended_at_us.is_not(None))
        async with self._writing("erase_ended") as connection:
            return int((await connection.execute(statement)).rowcount)

    async def usage_days(self, user_id: str, first_day: int, end_day: int) -> list[tuple[int, int]]:
        c = USAGE_DAYS.c
        query = select(c.day, c.used_ms).where(c.user_id == user_id, c.day >= first_day, c.day < end_day)
        async with self._reading("usage_days") as connection:
            return [(int(day), int(ms)) for day, ms in await connection.execute(query)]

    async def erase_user(self, user_id: str) -> Erasure:
        async with self._writing("erase_user") as connection:
            await connection.execute(delete(USAGE_DAYS).where(USAGE_DAYS.c.user_id == user_id))
            records = await connection.execute(delete(SESSIONS).where(SESSIONS.c.user_id == user_id))
            undelivered = await connection.execute(
                delete(APP_EVENTS).where(APP_EVENTS.c.user_id == user_id, APP_EVENTS.c.state == "pending")
            )
            await connection.execute(delete(APP_EVENTS).where(APP_EVENTS.c.user_id == user_id))
        return Erasure(records=int(records.rowcount), undelivered_events=int(undelivered.rowcount))

    async def purge_ended_before(self, moment: datetime) -> int:
        statement = delete(SESSIONS).where(SESSIONS.c.ended_at_us < to_microseconds(moment))
        async with self._writing("purge_ended_before") as connection:
            return int((await connection.execute(statement)).rowcount)

    # --- reads --------------------------------------------------------------------------

    async def get(self, room_name: str) -> JournalRecord | None:
        async with self._reading("get") as connection:
            row = (
                await connection.execute(select(SESSIONS).where(SESSIONS.c.room_name == room_name))
            ).first()
        return None if row is None else record_of(row)

    async def known(self, room_names: Sequence[str]) -> set[str]:
        if not room_names:
            return set()
        query = select(SESSIONS.c.room_name).where(SESSIONS.c.room_name.in_(list(room_names)))
        async with self._reading("known") as connection:
            return {row[0] for row in await connection.execute(query)}

    async def live(self, user_id: str | None = None) -> list[JournalRecord]:
        query = select(SESSIONS).where(SESSIONS.c.ended_at_us.is_(None)).order_by(SESSIONS.c.created_at_us)
        if user_id is not None:
            query = query.where(SESSIONS.c.user_id == user_id)
        async with self._reading("live") as connection:
            return [record_of(row) for row in await connection.execute(query)]

    async def history(self, query: HistoryQuery) -> list[JournalRecord]:
        async with self._reading("history") as connection:
            rows: Sequence[Row[Any]] = (await connection.execute(_history_select(query))).all()
        return [record_of(row) for row in rows]

    async def count(self) -> int:
        """Every record kept (for operators and tests)."""
        async with self._reading("count") as connection:
            return int((await connection.execute(select(func.count()).select_from(SESSIONS))).scalar_one())


def _history_select(query: HistoryQuery) -> Any:
    c = SESSIONS.c
    conditions = [c.user_id == query.user_id]
    if query.after is not None:
        created, room = query.after
        conditions.append(tuple_(c.created_at_us, c.room_name) < tuple_(to_microseconds(created), room))
    if query.agent_type is not None:
        conditions.append(c.agent_type == query.agent_type)
    if query.end_reason is not None:
        conditions.append(c.end_reason == query.end_reason.value)
    if query.since is not None:
        conditions.append(c.created_at_us >= to_microseconds(query.since))
    if query.until is not None:
        conditions.append(c.created_at_us < to_microseconds(query.until))
    return (
        select(SESSIONS)
        .where(and_(*conditions))
        .order_by(c.created_at_us.desc(), c.room_name.desc())
        .limit(query.limit)
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
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
