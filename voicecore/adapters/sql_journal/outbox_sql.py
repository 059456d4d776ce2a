"""The outbox's SQL for senders: which event a claim takes, and what a try's settlement writes.

The claim query is built once per outbox, its values bound at each claim, so
SQLAlchemy compiles it once; outbox.py runs both in the claim's transaction.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from voicecore.adapters.sql_journal.rows import DEAD, DELIVERED, PENDING
from voicecore.adapters.sql_journal.schema import APP_EVENTS, APP_WEBHOOK_ENDPOINTS
from voicecore.core.delivery_policy import Settlement, Verdict
from voicecore.core.journal import AppEvent
from voicecore.core.outbox import OutboxClaim, OutboxEvent
from voicecore.core.session_record import to_microseconds

EVENT: Final = APP_EVENTS.alias("event")
_EARLIER = APP_EVENTS.alias("earlier")
_LATER = APP_EVENTS.alias("later")
_ERROR_LENGTH = 200


class Claim(OutboxClaim):
    """One held event; its settlement is written by ``write`` in the transaction that holds it."""

    def __init__(self, event: OutboxEvent) -> None:
        self._event = event
        self.settlement: Settlement | None = None
        self._freed_next = False

    @property
    def event(self) -> OutboxEvent:
        return self._event

    @property
    def freed_next(self) -> bool:
        return self._freed_next

    async def write(self, connection: AsyncConnection, dialect: str, endpoint: str) -> None:
        if self.settlement is not None:
            self._freed_next = await _write(connection, dialect, self._event, self.settlement, endpoint)

    async def settle(self, settlement: Settlement) -> None:
        self.settlement = settlement


def due(endpoint: str) -> Any:
    """The pending event due first (at ``now_us``) with nothing of its session pending before it."""
    e, p = EVENT.c, _EARLIER.c
    earlier_pending = select(p.event_id).where(
        p.room_name == e.room_name, p.state == PENDING, p.sequence < e.sequence
    )
    disabled = select(APP_WEBHOOK_ENDPOINTS.c.endpoint).where(APP_WEBHOOK_ENDPOINTS.c.endpoint == endpoint)
    return (
        select(EVENT)
        .where(
            e.state == PENDING,
            e.next_attempt_at_us <= bindparam("now_us"),
            ~earlier_pending.exists(),
            ~disabled.exists(),
        )
        .order_by(e.next_attempt_at_us)
        .limit(1)
    )


async def _write(
    connection: AsyncConnection, dialect: str, held: OutboxEvent, settlement: Settlement, endpoint: str
) -> bool:
    """The settlement of one try, in the transaction that held the event; whether it freed the next one."""
    e, event = APP_EVENTS.c, held.event
    this = update(APP_EVENTS).where(e.event_id == event.event_id)
    error = None if settlement.error is None else settlement.error[:_ERROR_LENGTH]
    at = to_microseconds(settlement.at)
    match settlement.verdict:
        case Verdict.DELIVERED:
            values = {"state": DELIVERED, "delivered_at_us": at, "last_error": None}
            return await _settled(connection, this.values(attempts=e.attempts + 1, **values), event)
        case Verdict.DEAD:
            values = {"state": DEAD, "last_error": error}
            return await _settled(connection, this.values(attempts=e.attempts + 1, **values), event)
        case Verdict.RETRY:
            assert settlement.next_attempt_at is not None
            next_at = to_microseconds(settlement.next_attempt_at)
            await connection.execute(
                this.values(attempts=e.attempts + 1, next_attempt_at_us=next_at, last_error=error)
            )
            # The session's later events wait as long (outbox_writes.py says why); rows some
            # other transaction holds are skipped: this only spares the scans.
            q = _LATER.c
            later = select(q.event_id).where(
                q.room_name == event.room_name,
                q.state == PENDING,
                q.sequence > event.sequence,
                q.next_attempt_at_us < next_at,
            )
            if dialect != "sqlite":
                later = later.with_for_update(skip_locked=True)
            await connection.execute(
                update(APP_EVENTS).where(e.event_id.in_(later)).values(next_attempt_at_us=next_at)
            )
        case Verdict.ENDPOINT_GONE:
            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            await connection.execute(
                insert(APP_WEBHOOK_ENDPOINTS)
                .values(endpoint=endpoint, disabled_at_us=at, reason=error)
                .on_conflict_do_nothing(index_elements=["endpoint"])
            )
    return False


async def _settled(connection: AsyncConnection, update_event: Any, event: AppEvent) -> bool:
    """Run the event's update; whether a later event of its session is pending (in the same round trip)."""
    q = _LATER.c
    later = select(q.event_id).where(
        q.room_name == event.room_name, q.state == PENDING, q.sequence > event.sequence
    )
    row = (await connection.execute(update_event.returning(later.exists()))).first()
    return row is not None and bool(row[0])
