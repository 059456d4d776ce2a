"""The outbox's writes inside the journal's own transactions: events in, the senders told, a user's out.

An event joins its session's queue: it cannot be sent before the earlier ones
are settled anyway (outbox.py), so it is written not due before they are due
again. That keeps the events waiting behind a retry out of every sender's scan
while the endpoint is down.

On PostgreSQL the insert and ``pg_notify`` are one statement: every replica's
listener hears of the events when they commit, with no round trip added to the
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from voicecore.adapters.sql_journal.rows import PENDING, event_row
from voicecore.adapters.sql_journal.schema import APP_EVENTS
from voicecore.core.journal import AppEvent

CHANNEL: Final = "voicecore_app_events"


async def insert_events(
    connection: AsyncConnection, dialect: str, events: Sequence[AppEvent], *, first_of_session: bool
) -> None:
    """Write ``events``; ``first_of_session``: the session has no earlier event (its start)."""
    if not events:
        return
    rows = [event_row(e) for e in events]
    if not first_of_session:
        for row in rows:
            row["next_attempt_at_us"] = _not_before_earlier(dialect, row["room_name"], row["created_at_us"])
    statement: Any = insert(APP_EVENTS).values(rows)
    if dialect != "sqlite":
        statement = select(func.pg_notify(CHANNEL, "")).add_cte(statement.cte("inserted"))
    await connection.execute(statement)


def _not_before_earlier(dialect: str, room_name: str, created_at_us: int) -> Any:
    queue_due = (
        select(func.max(APP_EVENTS.c.next_attempt_at_us))
        .where(APP_EVENTS.c.room_name == room_name, APP_EVENTS.c.state == PENDING)
        .scalar_subquery()
    )
    later = func.max if dialect == "sqlite" else func.greatest  # SQLite's max() of two is greatest()
    return later(func.coalesce(queue_due, created_at_us), created_at_us)


async def notify_senders(connection: AsyncConnection, dialect: str) -> None:
    """Tell every replica's sender (on commit) that events may be due: a replay, an endpoint enabled."""
    if dialect != "sqlite":
        await connection.execute(select(func.pg_notify(CHANNEL, "")))


async def erase_user_events(connection: AsyncConnection, user_id: str) -> int:
    """Delete the user's events; how many were undelivered.

    On PostgreSQL the delete waits for a send of one of them under way (it holds
    the row): when this returns, that send has ended and none can start.
    """
    undelivered = await connection.execute(
        delete(APP_EVENTS).where(APP_EVENTS.c.user_id == user_id, APP_EVENTS.c.state == PENDING)
    )
    await connection.execute(delete(APP_EVENTS).where(APP_EVENTS.c.user_id == user_id))
    return int(undelivered.rowcount)
