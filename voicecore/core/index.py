"""The session index against LiveKit, the truth: what listing, the cap and the index repair share.

The store indexes each user's sessions so that a listing never scans other users'
rooms. Whatever the index says is confirmed with LiveKit, and a name LiveKit no
longer has is forgotten once settled: older than ``INDEX_GRACE``, the time a
create in flight needs between its index entry and its room.

The repair (``SessionIndexRepair``) is the same rule applied to every session at
once, by one replica at a time (a lock with a lease in the store): it adds every
voice session LiveKit has and the index lacks, and forgets every gone one. It
mends what a lost webhook or an emptied store left wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from voicecore.core.domain import utc_now
from voicecore.core.log_context import LogContext
from voicecore.core.metadata import session_metadata
from voicecore.core.ports import Room, RoomGateway
from voicecore.core.replica_work import every, lock_if_free, logged_pass
from voicecore.core.store import SessionRecord, SessionStore

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "reconcile"
INDEX_GRACE: Final = timedelta(seconds=60)


def gone(records: Iterable[SessionRecord], live: Mapping[str, object], settled: datetime) -> list[str]:
    """The indexed names LiveKit no longer has (not in ``live``), of records created before ``settled``."""
    return [r.room_name for r in records if r.room_name not in live and r.created_at < settled]


async def confirmed_rooms(
    user_id: str, store: SessionStore, gateway: RoomGateway, clock: Callable[[], datetime]
) -> dict[str, Room]:
    """The user's indexed rooms that LiveKit still has, in one LiveKit call; the gone ones forgotten."""
    records = await store.user_sessions(user_id)
    if not records:
        return {}
    rooms = {room.name: room for room in await gateway.get_rooms([r.room_name for r in records])}
    forgotten = gone(records, rooms, clock() - INDEX_GRACE)
    if forgotten:
        await store.remove_sessions(forgotten)
    return rooms


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
                if name not in indexed and await self._store.add_session(metadata.session_record(name)):
                    added.append(name)
            forgotten = gone(records, sessions, self._clock() - self._grace)
            removed = [record.room_name for record in await self._store.remove_sessions(forgotten)]
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
