"""Feeding the journal from what happens, and keeping what could not be written until the database is back.

A start must be recorded before the session is handed out, so ``started`` fails
when the journal does (the create answers 503 and leaves no room). Everything
else (ends, the agent's arrival, rejoins, dispatches) has already happened in
LiveKit when it is reported: while the journal's database is unreachable those
facts wait here, in order, each with its own time, and are written by
``flush`` once it answers again. Status, list and end keep working meanwhile.
A replica that dies holding a backlog loses it; the index repair then ends those
records as ``unobserved``, with the best bound it knows.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Final

from voicecore.core.errors import JournalUnavailable
from voicecore.core.history import (
    AppEvents,
    SessionEnd,
    agent_joined,
    agent_missing,
    counted,
    ended,
    started,
)
from voicecore.core.journal import Decide, JournalChange, JournalRecord, SessionJournal
from voicecore.core.log_context import LogContext
from voicecore.core.metrics import NO_METRICS, Metrics
from voicecore.core.replica_work import every

logger = logging.getLogger(__name__)

# Past this many waiting facts the oldest are dropped (and logged): the repair bounds their ends.
BACKLOG_LIMIT: Final = 100_000


class SessionRecorder:
    def __init__(
        self,
        journal: SessionJournal,
        events: AppEvents,
        *,
        clock: Callable[[], datetime],
        metrics: Metrics = NO_METRICS,
        backlog_limit: int = BACKLOG_LIMIT,
    ) -> None:
        self._journal = journal
        self._events = events
        self._clock = clock
        self._metrics = metrics
        self._backlog: deque[tuple[str, Decide]] = deque()
        self._backlog_limit = backlog_limit

    @property
    def journal(self) -> SessionJournal:
        return self._journal

    @property
    def backlog(self) -> int:
        """Facts waiting for the journal's database."""
        return len(self._backlog)

    async def started(self, record: JournalRecord) -> bool:
        """Record a new session (and ``session.started``); False if it was already recorded.

        Raises JournalUnavailable: a session nobody could record is not started.
        """
        return await self._journal.start(started(record, self._events))

    async def ended(self, room_name: str, end: SessionEnd) -> None:
        decide = ended(end, self._events)

        def counted(record: JournalRecord) -> JournalChange | None:
            change = decide(record)
            if change is not None and record.live and change.record.ended_at is not None:
                duration = (change.record.ended_at - record.created_at).total_seconds()
                self._metrics.session_ended(end.reason.value, duration)
            return change

        await self._apply(room_name, counted)

    async def agent_joined(self, room_name: str, at: datetime) -> None:
        await self._apply(room_name, agent_joined(at, self._events))

    async def agent_missing(self, room_name: str) -> None:
        await self._apply(room_name, agent_missing(self._events))

    async def rejoined(self, room_name: str) -> None:
        await self._apply(room_name, counted(rejoins=1))

    async def dispatched(self, room_name: str) -> None:
        await self._apply(room_name, counted(dispatches=1))

    async def _apply(self, room_name: str, decide: Decide) -> None:
        if self._backlog:  # behind what already waits, so each room's facts keep their order
            self._keep(room_name, decide)
            return
        try:
            await self._journal.change(room_name, decide)
        except JournalUnavailable as exc:
            logger.warning(
                "session journal unavailable; keeping its writes until it answers: %s",
                exc,
                extra=LogContext(room_name=room_name, operation="journal"),
            )
            self._keep(room_name, decide)

    def _keep(self, room_name: str, decide: Decide) -> None:
        self._backlog.append((room_name, decide))
        if len(self._backlog) > self._backlog_limit:
            dropped, _ = self._backlog.popleft()
            logger.error(
                "session journal backlog full; dropped the oldest write (the repair bounds its end)",
                extra=LogContext(room_name=dropped, operation="journal"),
            )

    async def flush(self) -> int:
        """Write what waits, in order, until done or the database fails again; how many were written."""
        written = 0
        while self._backlog:
            room_name, decide = self._backlog[0]
            try:
                await self._journal.change(room_name, decide)
            except JournalUnavailable:
                break
            self._backlog.popleft()
            written += 1
        if written:
            logger.info(
                "session journal answers again: %d waiting writes done, %d left",
                written,
                len(self._backlog),
                extra=LogContext(operation="journal"),
            )
        return written

    async def flush_every(self, interval_seconds: float) -> None:
        """``flush`` every ``interval_seconds`` while anything waits, until cancelled."""
        await every(interval_seconds, self.flush)
