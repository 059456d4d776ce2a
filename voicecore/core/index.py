"""The session index against LiveKit, the truth: what listing, the cap and the repair share.

The store indexes each user's sessions so that a listing never scans other users'
rooms. Whatever the index says is confirmed with LiveKit, and a name LiveKit no
longer has is forgotten once settled: older than ``INDEX_GRACE``, the time a
create in flight needs between its index entry and its room. The repair
(core/repair.py) applies the same rule to every session at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final, Protocol

from voicecore.core.ports import Room, RoomGateway
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import SessionStore

INDEX_GRACE: Final = timedelta(seconds=60)


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
