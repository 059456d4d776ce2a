"""voicecore: LiveKit voice sessions with strict per-user ownership.

What a backend needs, with or without FastAPI::

    from voicecore import User, VoiceCoreContainer, load_settings, voicecore_lifespan

    container = VoiceCoreContainer.from_settings(load_settings())
    async with voicecore_lifespan(container) as sessions:
        started = await sessions.start(User(id="auth0|42"), "diet")

See docs/library.md.
"""

__version__ = "0.2.0"

from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.adapters.memory import InMemoryRoomGateway
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.core.domain import AgentType, SessionMode, SessionPolicy, User
from voicecore.core.errors import (
    FieldNotAllowed,
    GatewayError,
    GatewayFailure,
    InvalidUserId,
    MetadataNotReadable,
    NotSessionOwner,
    SessionNotFound,
    StoreError,
    UnknownAgentType,
    VoiceCoreError,
    WrongEventLoop,
)
from voicecore.core.ports import IssuedToken, RoomGateway, TokenIssuer
from voicecore.core.sessions import SessionStatus, SessionSummary, StartedSession, VoiceSessions
from voicecore.settings import LiveKitSettings, SettingsError, load_settings

__all__ = [
    "AgentType",
    "FieldNotAllowed",
    "GatewayError",
    "GatewayFailure",
    "InMemoryRoomGateway",
    "InvalidUserId",
    "IssuedToken",
    "LiveKitRoomGateway",
    "LiveKitSettings",
    "LiveKitTokenIssuer",
    "MetadataNotReadable",
    "NotSessionOwner",
    "RoomGateway",
    "SessionMode",
    "SessionNotFound",
    "SessionPolicy",
    "SessionStatus",
    "SessionSummary",
    "SettingsError",
    "StartedSession",
    "StoreError",
    "TokenIssuer",
    "UnknownAgentType",
    "User",
    "VoiceCoreContainer",
    "VoiceCoreError",
    "VoiceSessions",
    "WrongEventLoop",
    "__version__",
    "load_settings",
    "voicecore_lifespan",
]
