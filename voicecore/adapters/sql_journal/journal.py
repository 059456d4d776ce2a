"""SqlSessionJournal: the journal on SQLite (aiosqlite, the embedded default) or PostgreSQL (asyncpg).

SQLAlchemy Core on one database (database.py: the engine, transactions and error
translation). A change is one transaction around the core's decision: PostgreSQL
locks the row (``SELECT ... FOR UPDATE``); SQLite takes its write lock at
``BEGIN IMMEDIATE``. The app events a change reports are written in the same
transaction (outbox_writes.py), and the senders are told when it commits. A start
with nothing but its record to write is one INSERT, atomic by itself, sent with no
transaction around it (``SqlDatabase.single_statement``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from voicecore.adapters.sql_journal.database import DEFAULT_TIMEOUT_SECONDS, SqlDatabase
from voicecore.adapters.sql_journal.outbox_writes import erase_user_events, insert_events
from voicecore.adapters.sql_journal.rows import PENDING, record_of, record_row
from voicecore.adapters.sql_journal.schema import APP_EVENTS, SESSIONS, USAGE_DAYS
from voicecore.core.errors import JournalUnavailable
from voicecore.core.journal import Decide, Erasure, HistoryQuery, JournalChange, JournalRecord, SessionJournal
from voicecore.core.session_record import to_microseconds


class SqlSessionJournal(SessionJournal):
    """Owns one database (an engine, a connection pool) for its life.

    ``migrate``: bring the schema to this code's head at ``open()``. SQLite always
    migrates itself (it is the embedded default, nobody else shares its file);
    PostgreSQL only when asked (``python -m voicecore_http migrate``, or
    JOURNAL_MIGRATE_ON_START), and otherwise refuses to start on an older schema.

    ``send_hold_seconds``: the longest a sender holds an app event while it tries
    it (the webhook timeout); erasing a user waits up to that much longer for a
    send of theirs under way to end.
    """

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = False,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        pool_size: int = 10,
        send_hold_seconds: float = 0.0,
    ) -> None:
        self.database = SqlDatabase(
            url, migrate=migrate, timeout_seconds=timeout_seconds, pool_size=pool_size
        )
        self.dialect = self.database.dialect
        self.send_hold_seconds = send_hold_seconds

    # --- life cycle ---------------------------------------------------------------------

    async def open(self) -> None:
        await self.database.open()

    async def migrate(self) -> tuple[str | None, str]:
        """Bring the schema to this code's head (the ``migrate`` command); (the revision before, the head)."""
        return await self.database.migrate()

    async def aclose(self) -> None:
        await self.database.aclose()

    async def ping(self) -> None:
        async with self._reading("ping") as connection:
            await connection.execute(select(1))

    def _writing(self, operation: str, *, extra_seconds: float = 0.0) -> Any:
        return self.database.writing(operation, extra_seconds=extra_seconds)

    def _reading(self, operation: str) -> Any:
        return self.database.reading(operation)

    # --- writes -------------------------------------------------------------------------

    async def start(self, change: JournalChange) -> bool:
        insert = sqlite.insert if self.dialect == "sqlite" else postgresql.insert
        statement = insert(SESSIONS).on_conflict_do_nothing(index_elements=["room_name"])
        if not change.events and not change.usage:
            async with self.database.single_statement("start") as connection:
                inserted = await connection.execute(statement, record_row(change.record))
            return bool(inserted.rowcount == 1)
        async with self._writing("start") as connection:
            inserted = await connection.execute(statement, record_row(change.record))
            if inserted.rowcount != 1:
                return False
            await insert_events(
                connection, self.dialect, change.events, first_of_session=True, sender=self.database.instance
            )
            await self._add_usage(connection, change)
        if change.events:
            self.database.events_committed()
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
            await insert_events(
                connection, self.dialect, change.events, first_of_session=False, sender=self.database.instance
            )
            await self._add_usage(connection, change)
        if change.events:
            self.database.events_committed()
        return change.record

    async def _add_usage(self, connection: AsyncConnection, change: JournalChange) -> None:
        if not change.usage:
            return
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
        """Records first: a change racing this one then finds no record, so writes no event."""
        extra = self.send_hold_seconds  # PostgreSQL: the delete waits for a send under way
        local = self.database.local_sends
        async with local.claims:  # SQLite: no send of theirs starts from here on
            async with self._writing("erase_user", extra_seconds=extra) as connection:
                await connection.execute(delete(USAGE_DAYS).where(USAGE_DAYS.c.user_id == user_id))
                records = await connection.execute(delete(SESSIONS).where(SESSIONS.c.user_id == user_id))
                undelivered = await erase_user_events(connection, user_id)
            under_way = local.ending(user_id)
        try:
            async with asyncio.timeout(extra + self.database.timeout_seconds):
                await under_way
        except TimeoutError as exc:
            raise JournalUnavailable("erase_user", "a send of the user's event did not end in time") from exc
        return Erasure(records=int(records.rowcount), undelivered_events=undelivered)

    async def purge_ended_before(self, moment: datetime) -> int:
        """Records that ended before ``moment``, and the settled app events made before it."""
        before = to_microseconds(moment)
        async with self._writing("purge_ended_before") as connection:
            purged = await connection.execute(delete(SESSIONS).where(SESSIONS.c.ended_at_us < before))
            await connection.execute(
                delete(APP_EVENTS).where(APP_EVENTS.c.state != PENDING, APP_EVENTS.c.created_at_us < before)
            )
        return int(purged.rowcount)

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
