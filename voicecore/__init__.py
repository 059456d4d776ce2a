"""voicecore: LiveKit voice sessions with strict per-user ownership."""

__version__ = "0.1.0"

from voicecore.core.domain import AgentType, SessionMode, SessionPolicy, User
from voicecore.core.errors import (
    GatewayError,
    InvalidUserId,
    MetadataNotReadable,
    NotSessionOwner,
    SessionNotFound,
    StoreError,
    VoiceCoreError,
)
from voicecore.core.sessions import SessionStatus, SessionSummary, StartedSession, VoiceSessions

__all__ = [
    "AgentType",
    "GatewayError",
    "InvalidUserId",
    "MetadataNotReadable",
    "NotSessionOwner",
    "SessionMode",
    "SessionNotFound",
    "SessionPolicy",
    "SessionStatus",
    "SessionSummary",
    "StartedSession",
    "StoreError",
    "User",
    "VoiceCoreError",
    "VoiceSessions",
]
