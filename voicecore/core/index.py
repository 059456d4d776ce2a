"""A user's indexed sessions, confirmed with LiveKit: what listing and the live-session cap both count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from voicecore.core.ports import Room, RoomGateway
from voicecore.core.reconcile import INDEX_GRACE
from voicecore.core.store import SessionRecord, SessionStore


async def confirmed_rooms(
    user_id: str, store: SessionStore, gateway: RoomGateway, clock: Callable[[], datetime]
) -> dict[str, Room]:
    """The user's indexed rooms that LiveKit still has, in one LiveKit call.

    Indexed names LiveKit no longer has are forgotten once settled (older than
    the grace a create in flight needs), which also frees their slots.
    """
    records = await store.user_sessions(user_id)
    if not records:
        return {}
    rooms = {room.name: room for room in await gateway.get_rooms([r.room_name for r in records])}
    settled = clock() - INDEX_GRACE
    for record in _gone(records, rooms, settled):
        await store.remove_session(record.room_name)
    return rooms


def _gone(records: list[SessionRecord], rooms: dict[str, Room], settled: datetime) -> list[SessionRecord]:
    return [r for r in records if r.room_name not in rooms and r.created_at < settled]
