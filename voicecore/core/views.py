"""What the use cases answer: plain values, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voicecore.core.domain import AgentState, AgentType
from voicecore.core.ports import IssuedToken


@dataclass(frozen=True, slots=True)
class StartedSession:
    """Everything a client needs to connect: ``livekit_url`` and ``token``, for ``room_name``."""

    room_name: str
    token: str
    livekit_url: str
    expires_at: datetime  # the token's exp
    agent_type: AgentType
    created_at: datetime
    ends_at: datetime | None = None  # when the server ends it (the length cap, the allowance); None: no bound


@dataclass(frozen=True, slots=True)
class SessionStatus:
    room_name: str
    active: bool
    participant_count: int
    agent_connected: bool
    created_at: datetime
    agent_state: AgentState = AgentState.PENDING
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionSummary:
    room_name: str
    agent_type: AgentType
    participant_count: int
    created_at: datetime
    agent_connected: bool = False
    agent_state: AgentState = AgentState.PENDING
    ends_at: datetime | None = None


def started_session(
    issued: IssuedToken, room_name: str, kind: AgentType, created_at: datetime, ends_at: datetime | None
) -> StartedSession:
    return StartedSession(
        room_name=room_name,
        token=issued.token,
        livekit_url=issued.server_url,
        expires_at=issued.expires_at,
        agent_type=kind,
        created_at=created_at,
        ends_at=ends_at,
    )
