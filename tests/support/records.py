"""Session records as the store tests write them."""

from __future__ import annotations

from datetime import datetime

from tests.support.clocks import START
from voicecore.core.session_record import SessionRecord


def record(
    room_name: str, user_id: str = "user-1", *, at: datetime = START, agent_type: str = "workout"
) -> SessionRecord:
    return SessionRecord(room_name=room_name, user_id=user_id, agent_type=agent_type, created_at=at)
