"""The session index against LiveKit, the truth: what listing, the cap and the repair share.

The store indexes each user's sessions so that a listing never scans other users'
rooms. Whatever the index says is confirmed with LiveKit, and a name LiveKit no
longer has is forgotten once settled: older than ``INDEX_GRACE``, the time a
create in flight needs between its index entry and its room.

The store admits no session until its index has been rebuilt from LiveKit: a new
store, or one that lost its memory (a Redis restarted empty, flushed, or restored
from an older snapshot), would count too few sessions under the cap. The rebuild
(``SessionIndex.repair``) is the index part of every repair pass (core/repair.py),
and a create that finds the store without an index asks for it (``rebuild``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeAlias

from voicecore.core.errors import GatewayError, SessionIndexRebuilding, StoreError
from voicecore.core.log_context import LogContext
from voicecore.core.metadata import RoomMetadata, session_metadata
from voicecore.core.ports import Room, RoomGateway
from voicecore.core.replica_work import lock_if_free
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore

logger = logging.getLogger(__name__)

INDEX_GRACE: Final = timedelta(seconds=60)
# One replica at a time repairs (and rebuilds) the index.
REPAIR_LOCK: Final = "reconcile"
REPAIR_LEASE: Final = timedelta(seconds=60)
# How long a create admitted just before the store lost its memory may still be making its room:
# the LiveKit call's deadline (LIVEKIT_TIMEOUT_SECONDS, by default) and a margin.
DEFAULT_SETTLE: Final = timedelta(seconds=6)

Failure: TypeAlias = GatewayError | StoreError


class HasRoom(Protocol):
    """A session store's or a journal's record: a room, and when it was created."""

    @property
    def room_name(self) -> str: ...

    @property
    def created_at(self) -> datetime: ...


def gone(records: Iterable[HasRoom], live: Mapping[str, object], settled: datetime) -> list[str]:
    """The indexed names LiveKit no longer has (not in ``live``), of records created before ``settled``."""
    return [r.room_name for r in records if r.room_name not in live and r.created_at < settled]


async def confirmed_rooms(
    user_id: str, store: SessionStore, gateway: RoomGateway, clock: Callable[[], datetime]
) -> dict[str, tuple[Room, SessionRecord]]:
    """The user's indexed sessions that LiveKit still has, with their rooms, in one LiveKit call.

    The gone ones are forgotten once settled.
    """
    records = await store.user_sessions(user_id)
    if not records:
        return {}
    rooms = {room.name: room for room in await gateway.get_rooms([r.room_name for r in records])}
    forgotten = gone(records, rooms, clock() - INDEX_GRACE)
    if forgotten:
        await store.remove_sessions(forgotten)
    return {r.room_name: (rooms[r.room_name], r) for r in records if r.room_name in rooms}


@dataclass(frozen=True, slots=True)
class IndexRepair:
    """One pass over the index: what changed, and what it read."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    sessions: Mapping[str, RoomMetadata]  # every voice session LiveKit has
    records: Sequence[SessionRecord]  # the index before the pass
    rebuilt: bool  # the store holds a rebuilt index now


class SessionIndex:
    """The index's repair and rebuild, for one replica; shared by its creates and its repair pass."""

    def __init__(
        self,
        gateway: RoomGateway,
        store: SessionStore,
        clock: Callable[[], datetime],
        *,
        settle: timedelta = DEFAULT_SETTLE,
        grace: timedelta = INDEX_GRACE,
        lease: timedelta = REPAIR_LEASE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._clock = clock
        self._settle = settle
        self._grace = grace
        self._lease = lease
        self._sleep = sleep
        self._seen = False  # this replica has seen the store hold an index
        self._rebuilding: asyncio.Task[Failure | None] | None = None

    def admitted(self) -> None:
        """A create was admitted: the store held an index."""
        self._seen = True

    async def repair(self) -> IndexRepair:
        """Index every voice session LiveKit has and the index lacks, forget those it no longer has.

        The caller holds the repair lock. The store is marked rebuilt at the end, unless
        it lost its memory meanwhile. When it has lost an index this replica had seen,
        creates admitted just before may still be making their rooms: LiveKit's rooms are
        listed only once ``settle`` has passed, so that the cap counts them too.
        """
        rebuild_id = uuid.uuid4().hex
        if not await self._store.begin_rebuild(rebuild_id, lease=self._lease) and self._seen:
            logger.warning(
                "the session store lost its index; rebuilding it from LiveKit, starts wait meanwhile",
                extra=LogContext(operation="reconcile"),
            )
            await self._sleep(self._settle.total_seconds())
        rooms = await self._gateway.list_rooms()
        records = await self._store.all_sessions()
        sessions = {
            room.name: metadata
            for room in rooms
            if (metadata := session_metadata(room.name, room.metadata)) is not None
        }
        indexed = {record.room_name for record in records}
        added = [
            name
            for name, metadata in sessions.items()
            if name not in indexed and await self._store.add_session(metadata.session_record(name))
        ]
        settled = self._clock() - self._grace
        removed = [r.room_name for r in await self._store.remove_sessions(gone(records, sessions, settled))]
        rebuilt = await self._store.finish_rebuild(rebuild_id)
        self._seen = self._seen or rebuilt
        return IndexRepair(tuple(added), tuple(removed), sessions, records, rebuilt)

    async def rebuild(self) -> None:
        """For a create that found the store without an index: rebuild it now, one replica at a time.

        Raises ``SessionIndexRebuilding`` when the create cannot wait for it: another
        replica holds the repair lock, or creates admitted before a loss are waited out
        first (the rebuild goes on in the background). Raises GatewayError or StoreError.
        """
        if self._rebuilding is None or self._rebuilding.done():
            self._rebuilding = asyncio.create_task(self._rebuild_once(), name="voicecore-index-rebuild")
        if self._seen:
            raise SessionIndexRebuilding(math.ceil(self._settle.total_seconds()) + 1)
        failure = await asyncio.shield(self._rebuilding)
        if failure is not None:
            raise failure

    async def _rebuild_once(self) -> Failure | None:
        try:
            async with lock_if_free(self._store, REPAIR_LOCK, lease=self._lease) as held:
                if held:
                    await self.repair()
        except (GatewayError, StoreError) as exc:
            logger.warning(
                "rebuilding the session index failed; the next start or repair pass tries again: %s",
                exc,
                extra=LogContext(operation="reconcile"),
            )
            return exc
        return None

    async def aclose(self) -> None:
        """Stop a rebuild under way (at shutdown): the next replica or start does it again."""
        if self._rebuilding is not None and not self._rebuilding.done():
            self._rebuilding.cancel()
            await asyncio.gather(self._rebuilding, return_exceptions=True)
