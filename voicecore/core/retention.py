"""Purging ended records older than JOURNAL_RETENTION_DAYS, one replica at a time.

Usage totals are kept apart from the records (they outlive both retention and
erasure), so purging never resets a meter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from voicecore.core.journal import SessionJournal
from voicecore.core.log_context import LogContext
from voicecore.core.replica_work import every, lock_if_free, logged_pass
from voicecore.core.store import SessionStore

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "journal-retention"


class JournalRetention:
    def __init__(
        self,
        journal: SessionJournal,
        store: SessionStore,
        *,
        keep: timedelta,
        clock: Callable[[], datetime],
        lease: timedelta = timedelta(minutes=10),
    ) -> None:
        self._journal = journal
        self._store = store
        self._keep = keep
        self._clock = clock
        self._lease = lease

    async def run_once(self) -> int | None:
        """One purge: how many records went; None if another replica holds the lock."""
        async with lock_if_free(self._store, LOCK_NAME, lease=self._lease) as held:
            if not held:
                return None
            purged = await self._journal.purge_ended_before(self._clock() - self._keep)
        if purged:
            logger.info(
                "journal retention: %d ended records purged", purged, extra=LogContext(operation="retention")
            )
        return purged

    async def run_logged(self) -> int | None:
        """One purge whose failure is logged, not raised: the next pass tries again."""
        return await logged_pass(
            self.run_once, logger=logger, what="journal retention", operation="retention"
        )

    async def run_every(self, interval_seconds: float) -> None:
        await every(interval_seconds, self.run_logged)
