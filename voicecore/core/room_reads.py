"""Reading rooms' participants while an end may delete them: a room that vanishes is gone, not a failure.

LiveKit may answer a read of a room deleted a moment ago slowly, or with an error,
rather than empty (issue 23: a list racing an end answered 500). So one room's
failed read never fails the others, and a status whose room has gone is "not found".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from voicecore.core.errors import GatewayError, SessionNotFound
from voicecore.core.log_context import LogContext
from voicecore.core.ports import Participant, RoomGateway

logger = logging.getLogger(__name__)


async def participants_of_rooms(
    gateway: RoomGateway, user_id: str, room_names: Sequence[str]
) -> list[Sequence[Participant] | None]:
    """Each room's participants, read together; None for a room whose read failed (it is left out).

    Only when every room failed does the read fail, as LiveKit failing, rather than
    answer as if the user had no session.
    """
    results = await asyncio.gather(
        *(gateway.list_participants(name) for name in room_names), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    for failure in failed:
        if not isinstance(failure, GatewayError) or len(failed) == len(room_names):
            raise failure
    read: list[Sequence[Participant] | None] = []
    for name, result in zip(room_names, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning(
                "voice session left out of a list: its participants could not be read: %s",
                result,
                extra=LogContext(user_id=user_id, room_name=name),
            )
            read.append(None)
        else:
            read.append(result)
    return read


async def failed_read_of(gateway: RoomGateway, room_name: str, failure: BaseException) -> BaseException:
    """What a failed read of a room's participants means: ``SessionNotFound`` if the room is gone now.

    Otherwise the failure itself (and a failure to look again, if that fails too).
    """
    if not isinstance(failure, GatewayError):
        return failure
    try:
        room = await gateway.get_room(room_name)
    except GatewayError as again:
        return again
    return SessionNotFound(room_name) if room is None else failure
