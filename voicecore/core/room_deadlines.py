"""Moved deadlines, told to their rooms: an agent reads ``ends_at`` in its room's metadata.

The session store holds the deadline the server enforces. The room's metadata is
LiveKit's copy for the agent (docs/livekit.md), written at the start and again
whenever the deadline moves: another session of the user started (sooner) or one
ended (later). LiveKit tells the room's participants of each change. Best effort: a
write that fails is logged, not raised, since the store's deadline is enforced either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from voicecore.core.errors import GatewayError
from voicecore.core.log_context import LogContext
from voicecore.core.metadata import RoomMetadata
from voicecore.core.ports import RoomGateway
from voicecore.core.session_record import SessionRecord

logger = logging.getLogger(__name__)


async def tell_rooms(gateway: RoomGateway, moved: Sequence[SessionRecord]) -> None:
    """Write each moved session's new ``ends_at`` into its room's metadata, concurrently."""
    if not moved:
        return
    results = await asyncio.gather(
        *(gateway.update_room_metadata(r.room_name, RoomMetadata.of_record(r).encode()) for r in moved),
        return_exceptions=True,
    )
    for record, result in zip(moved, results, strict=True):
        if isinstance(result, GatewayError):
            logger.warning(
                "could not tell the room its session's new deadline: %s",
                result,
                extra=LogContext(user_id=record.user_id, room_name=record.room_name),
            )
        elif isinstance(result, BaseException):
            raise result
