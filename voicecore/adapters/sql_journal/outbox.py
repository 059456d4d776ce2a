"""SqlEventOutbox: the journal's ``app_events`` table as the senders see it (core/outbox.py's port).

What a claim takes: the pending event due first whose session has no earlier
pending event, while the endpoint is not disabled. How it is held alone:

- PostgreSQL, any number of replicas: ``SELECT ... FOR UPDATE SKIP LOCKED`` in a
  transaction of the sender's own, kept open while the event is tried and
  committed with its settlement. Other senders skip the row; its session's next
  event stays behind it (it is still pending); erasing its user waits for it. A
  sender that dies has its transaction rolled back by the server (its socket
  closes; a sender that hangs is cut off by ``idle_in_transaction_session_timeout``),
  and the event is claimed again. Claims use a pool of their own, one connection
  per send under way, so the journal's pool never waits for a receiver.
- SQLite, one process (local_sends.py): the process holding the sender file lock
  claims; its sends under way are excluded from its claims and waited for by an
  erasure.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from voicecore.adapters.sql_journal.database import build_engine
from voicecore.adapters.sql_journal.journal import SqlSessionJournal
from voicecore.adapters.sql_journal.local_sends import SenderFileLock
from voicecore.adapters.sql_journal.outbox_sql import EVENT, Claim, due
from voicecore.adapters.sql_journal.outbox_writes import CHANNEL, notify_senders
from voicecore.adapters.sql_journal.rows import DEAD, PENDING, outbox_event_of
from voicecore.adapters.sql_journal.schema import APP_EVENTS, APP_WEBHOOK_ENDPOINTS
from voicecore.adapters.sql_journal.wake_ups import PostgresWakeUps
from voicecore.core.errors import JournalUnavailable
from voicecore.core.outbox import Backlog, EventOutbox, OutboxClaim
from voicecore.core.session_record import from_microseconds, to_microseconds


def endpoint_key(url: str) -> str:
    """How the outbox names an endpoint (its disabled state): a hash, so no URL is stored."""
    return hashlib.sha256(url.encode()).hexdigest()


class SqlEventOutbox(EventOutbox):
    def __init__(self, journal: SqlSessionJournal, *, endpoint: str, senders: int) -> None:
        self._db = journal.database
        self._endpoint = endpoint
        self._senders = senders
        self._hold_seconds = journal.send_hold_seconds
        self._claims: AsyncEngine | None = None
        self._wake_ups: PostgresWakeUps | None = None
        self._sender_lock: SenderFileLock | None = None
        self._wakes: list[Callable[[], None]] = []
        self._db.on_events_committed(self._woken)
        # Built once, values bound at each claim: SQLAlchemy compiles each one once.
        self._due_row = due(endpoint).with_for_update(skip_locked=True, of=EVENT)
        self._due_here = due(endpoint).where(EVENT.c.event_id.not_in(bindparam("held", expanding=True)))

    async def open(self) -> None:
        if self._db.sqlite:
            path = self._db.sqlite_path
            self._sender_lock = None if path is None else SenderFileLock(path)
            return
        # A hung sender's transaction ends on the server, and its claim with it.
        idle_ms = int((self._hold_seconds + self._db.timeout_seconds) * 1000) + 1000
        self._claims = build_engine(
            self._db.url,
            pool_size=self._senders,
            timeout_seconds=self._db.timeout_seconds,
            server_settings={"idle_in_transaction_session_timeout": str(idle_ms)},
        )
        self._wake_ups = PostgresWakeUps(self._db.url, CHANNEL, self._woken, own=self._db.instance)
        self._wake_ups.open()

    async def aclose(self) -> None:
        wake_ups, self._wake_ups = self._wake_ups, None
        if wake_ups is not None:
            await wake_ups.aclose()
        claims, self._claims = self._claims, None
        if claims is not None:
            await claims.dispose()
        if self._sender_lock is not None:
            self._sender_lock.release()

    def on_new_events(self, wake: Callable[[], None]) -> None:
        self._wakes.append(wake)

    async def listening(self) -> None:
        """Until other replicas' commits are heard (PostgreSQL's LISTEN is in place); SQLite: at once."""
        if self._wake_ups is not None:
            await self._wake_ups.listening.wait()

    def _woken(self) -> None:
        for wake in self._wakes:
            wake()

    # --- claims ---------------------------------------------------------------------------

    def claim(self, now: datetime) -> contextlib.AbstractAsyncContextManager[OutboxClaim | None]:
        return self._claim_here(now) if self._db.sqlite else self._claim_row(now)

    @contextlib.asynccontextmanager
    async def _claim_row(self, now: datetime) -> AsyncIterator[OutboxClaim | None]:
        if self._claims is None:
            raise JournalUnavailable("claim", "the outbox is not open")
        async with self._db.guard("claim"):
            connection = await self._claims.connect()
        try:
            async with self._db.guard("claim"):
                transaction = await connection.begin()
                row = (await connection.execute(self._due_row, {"now_us": to_microseconds(now)})).first()
            claim = None if row is None else Claim(outbox_event_of(row))
            yield claim
            async with self._db.guard("settle"):
                if claim is not None:
                    await claim.write(connection, self._db.dialect, self._endpoint)
                await transaction.commit()
        finally:
            # Whatever was not committed is rolled back: the event is claimed again.
            with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
                async with self._db.guard("claim"):
                    await connection.close()

    @contextlib.asynccontextmanager
    async def _claim_here(self, now: datetime) -> AsyncIterator[OutboxClaim | None]:
        local = self._db.local_sends
        if self._sender_lock is not None and not self._sender_lock.acquire():
            yield None  # another process sends from this SQLite journal
            return
        async with local.claims:
            values = {"now_us": to_microseconds(now), "held": local.event_ids()}
            async with self._db.reading("claim") as connection:
                row = (await connection.execute(self._due_here, values)).first()
            held = None if row is None else outbox_event_of(row)
            if held is not None:
                local.hold(held.event.event_id, held.event.user_id)
        if held is None:
            yield None
            return
        claim = Claim(held)
        try:
            yield claim
            if claim.settlement is not None:
                async with self._db.writing("settle") as connection:
                    await claim.write(connection, self._db.dialect, self._endpoint)
        finally:
            local.release(held.event.event_id)

    # --- what the loop and operators read and do ------------------------------------------

    async def next_attempt_after(self, now: datetime) -> datetime | None:
        e = APP_EVENTS.c
        query = select(func.min(e.next_attempt_at_us)).where(
            e.state == PENDING, e.next_attempt_at_us > to_microseconds(now)
        )
        async with self._db.reading("next_attempt_after", autocommit=True) as connection:
            due = (await connection.execute(query)).scalar_one_or_none()
        return None if due is None else from_microseconds(due)

    async def backlog(self) -> Backlog:
        e = APP_EVENTS.c
        pending = select(func.count(), func.min(e.created_at_us)).where(e.state == PENDING)
        disabled = select(APP_WEBHOOK_ENDPOINTS.c.disabled_at_us).where(
            APP_WEBHOOK_ENDPOINTS.c.endpoint == self._endpoint
        )
        async with self._db.reading("backlog", autocommit=True) as connection:
            count, oldest = (await connection.execute(pending)).one()
            disabled_at = (await connection.execute(disabled)).scalar_one_or_none()
        return Backlog(
            pending=int(count),
            oldest_pending_at=None if oldest is None else from_microseconds(oldest),
            endpoint_disabled_at=None if disabled_at is None else from_microseconds(disabled_at),
        )

    async def enable_endpoint(self) -> bool:
        statement = delete(APP_WEBHOOK_ENDPOINTS).where(APP_WEBHOOK_ENDPOINTS.c.endpoint == self._endpoint)
        async with self._db.writing("enable_endpoint") as connection:
            enabled = (await connection.execute(statement)).rowcount > 0
            await notify_senders(connection, self._db.dialect, self._db.instance)
        self._woken()
        return bool(enabled)

    async def replay(self, now: datetime, *, since: datetime | None, event_id: str | None) -> int:
        e = APP_EVENTS.c
        statement = update(APP_EVENTS).where(e.state == DEAD)
        if since is not None:
            statement = statement.where(e.created_at_us >= to_microseconds(since))
        if event_id is not None:
            statement = statement.where(e.event_id == event_id)
        statement = statement.values(
            state=PENDING, attempts=0, next_attempt_at_us=to_microseconds(now), last_error=None
        )
        async with self._db.writing("replay") as connection:
            replayed = int((await connection.execute(statement)).rowcount)
            await notify_senders(connection, self._db.dialect, self._db.instance)
        self._woken()
        return replayed
