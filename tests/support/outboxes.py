"""The app-event outbox as tests open it: a journal and its outbox on one database, and events to fill it."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from voicecore.adapters.sql_journal import SqlEventOutbox, SqlSessionJournal, driver_url
from voicecore.core.history import AppEvents, SessionEnd, ended, started
from voicecore.core.journal import EndReason, JournalRecord

NOON = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class TickingClock:
    """A microsecond later at every reading: every event of a test has its own time."""

    start: datetime = NOON
    _ticks: itertools.count[int] = field(default_factory=itertools.count)

    def __call__(self) -> datetime:
        return self.start + timedelta(microseconds=next(self._ticks))


@contextlib.asynccontextmanager
async def opened_outbox(
    url: str, *, endpoint: str = "endpoint", senders: int = 4, send_hold_seconds: float = 5.0
) -> AsyncIterator[tuple[SqlSessionJournal, SqlEventOutbox]]:
    journal = SqlSessionJournal(url, send_hold_seconds=send_hold_seconds)
    await journal.open()
    outbox = SqlEventOutbox(journal, endpoint=endpoint, senders=senders)
    await outbox.open()
    try:
        yield journal, outbox
    finally:
        await outbox.aclose()
        await journal.aclose()


class Sessions:
    """Sessions written to a journal with their events, on a ticking clock."""

    def __init__(self, journal: SqlSessionJournal, clock: TickingClock | None = None) -> None:
        self.journal = journal
        self.clock = clock or TickingClock()
        self.events = AppEvents(enabled=True, clock=self.clock)

    async def start(self, room: str, user: str = "alice") -> None:
        record = JournalRecord(room_name=room, user_id=user, agent_type="diet", created_at=self.clock())
        assert await self.journal.start(started(record, self.events))

    async def end(self, room: str) -> None:
        end = SessionEnd(self.clock(), EndReason.USER_ENDED)
        assert await self.journal.change(room, ended(end, self.events)) is not None


async def erasure_waits_for_a_send(journal_url: str, user_id: str) -> bool:
    """Whether erasing ``user_id`` has reached their events and waits for a send under way.

    PostgreSQL: its delete of the events waits on the sender's row lock. SQLite:
    the records are gone (committed), and the erasure waits in-process.
    """
    engine = create_async_engine(driver_url(journal_url))
    try:
        async with engine.connect() as connection:
            if journal_url.startswith("sqlite"):
                records = await connection.execute(
                    text("SELECT count(*) FROM voice_sessions WHERE user_id = :user"), {"user": user_id}
                )
                return records.scalar_one() == 0
            waiting = await connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE 'DELETE FROM app_events%'"
                )
            )
            return bool(waiting.scalar_one())
    finally:
        await engine.dispose()
