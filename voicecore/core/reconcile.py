"""Repairing the session index from LiveKit, the truth: what a lost webhook or an emptied store left wrong.

One replica at a time runs a pass (a lock with a lease in the store): it adds
every voice session LiveKit has and the index lacks, and removes every indexed
session LiveKit no longer has. A record younger than ``grace`` is left alone: its
room may still be on its way (a create in flight).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from voicecore.core.domain import session_metadata, utc_now
from voicecore.core.log_context import LogContext
from voicecore.core.ports import RoomGateway
from voicecore.core.replica_work import every, lock_if_free, logged_pass
from voicecore.core.store import SessionRecord, SessionStore

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "reconcile"
INDEX_GRACE: Final = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class RepairReport:
    added: tuple[str, ...]
    removed: tuple[str, ...]


class SessionIndexRepair:
    def __init__(
        self,
        gateway: RoomGateway,
        store: SessionStore,
        *,
        lease: timedelta = timedelta(seconds=60),
        grace: timedelta = INDEX_GRACE,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._lease = lease
        self._grace = grace
        self._clock = clock

    async def run_once(self) -> RepairReport | None:
        """One pass; None if another replica holds the lock. Raises GatewayError or StoreError."""
        async with lock_if_free(self._store, LOCK_NAME, lease=self._lease) as held:
            if not held:
                return None
            rooms = await self._gateway.list_rooms()
            records = await self._store.all_sessions()
            sessions = {
                room.name: metadata
                for room in rooms
                if (metadata := session_metadata(room.name, room.metadata)) is not None
            }
            indexed = {record.room_name for record in records}
            added = []
            for name, metadata in sessions.items():
                if name in indexed:
                    continue
                record = SessionRecord(name, metadata.user_id, metadata.agent_type.value, metadata.created_at)
                if await self._store.add_session(record):
                    added.append(name)
            settled = self._clock() - self._grace
            gone = [r.room_name for r in records if r.room_name not in sessions and r.created_at < settled]
            removed = [record.room_name for record in await self._store.remove_sessions(gone)]
        if added or removed:
            logger.info(
                "session index repaired: %d added, %d removed",
                len(added),
                len(removed),
                extra=LogContext(operation="reconcile", session_count=len(sessions)),
            )
        return RepairReport(tuple(added), tuple(removed))

    async def run_logged(self) -> RepairReport | None:
        """One pass whose failure is logged, not raised: the next pass tries again."""
        return await logged_pass(
            self.run_once, logger=logger, what="session index repair", operation="reconcile"
        )

    async def run_every(self, interval_seconds: float) -> None:
        """A pass every ``interval_seconds``, the first after one interval, until cancelled."""
        await every(interval_seconds, self.run_logged)
