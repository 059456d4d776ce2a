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

import functools
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from voicecore.adapters.sql_journal.rows import EVENT_COLUMNS, PENDING, event_row
from voicecore.adapters.sql_journal.schema import APP_EVENTS
from voicecore.core.journal import AppEvent

CHANNEL: Final = "voicecore_app_events"


async def insert_events(
    connection: AsyncConnection,
    dialect: str,
    events: Sequence[AppEvent],
    *,
    first_of_session: bool,
    sender: str,
) -> None:
    """Write ``events``; ``first_of_session``: the session has no earlier event (its start).

    ``sender`` (the notification's payload) names this process, whose own listener skips it.
    """
    statement = _insert_statement(dialect, first_of_session)
    for event in events:
        values = {f"p_{name}": value for name, value in event_row(event).items()}
        await connection.execute(statement, {**values, "p_sender": sender})


@functools.cache
def _insert_statement(dialect: str, first_of_session: bool) -> Any:
    """One statement per database and kind, values bound at execution: SQLAlchemy compiles it once."""
    values: dict[str, Any] = {name: bindparam(f"p_{name}") for name in EVENT_COLUMNS}
    if not first_of_session:
        created: Any = bindparam("p_created_at_us")
        queue_due = (
            select(func.max(APP_EVENTS.c.next_attempt_at_us))
            .where(APP_EVENTS.c.room_name == bindparam("p_room_name"), APP_EVENTS.c.state == PENDING)
            .scalar_subquery()
        )
        later = func.max if dialect == "sqlite" else func.greatest  # SQLite's max() of two is greatest()
        values["next_attempt_at_us"] = later(func.coalesce(queue_due, created), created)
    statement: Any = insert(APP_EVENTS).values(values)
    if dialect != "sqlite":
        statement = select(func.pg_notify(CHANNEL, bindparam("p_sender"))).add_cte(statement.cte("inserted"))
    return statement


async def notify_senders(connection: AsyncConnection, dialect: str, sender: str) -> None:
    """Tell every other replica's sender (on commit) that events may be due: a replay, an endpoint enabled."""
    if dialect != "sqlite":
        await connection.execute(select(func.pg_notify(CHANNEL, sender)))


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
