"""voicecore: LiveKit voice sessions with strict per-user ownership.

What a backend needs, with or without FastAPI::

    from voicecore import User, VoiceCoreContainer, load_settings, voicecore_lifespan

    container = VoiceCoreContainer.from_settings(load_settings())
    async with voicecore_lifespan(container) as sessions:
        started = await sessions.start(User(id="auth0|42"), "diet")

Everything a caller uses or catches is exported here (docs/library.md); the test
doubles and local servers are in ``voicecore.testing``.
"""

__version__ = "0.3.0"

from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.container import VoiceCoreContainer, voicecore_lifespan
from voicecore.core.bounds import BoundsPolicy, Usage, UsagePeriod
from voicecore.core.domain import AgentState, AgentType, GuardrailPolicy, SessionMode, SessionPolicy, User
from voicecore.core.errors import (
    CreationRateLimited,
    FieldNotAllowed,
    GatewayError,
    GatewayFailure,
    IdempotencyKeyBusy,
    IdempotencyKeyReused,
    InvalidHistoryCursor,
    InvalidIdempotencyKey,
    InvalidUserId,
    JournalSchemaOutdated,
    JournalUnavailable,
    MetadataNotReadable,
    NotSessionOwner,
    SessionIndexRebuilding,
    SessionNotFound,
    StoreError,
    TooManyLiveSessions,
    UnknownAgentType,
    UsageExhausted,
    VoiceCoreError,
    WebhookNotReadable,
    WebhookNotVerified,
    WrongEventLoop,
)
from voicecore.core.journal import EndReason, JournalRecord
from voicecore.core.ports import IssuedToken, RoomGateway, TokenIssuer
from voicecore.core.session_history import HistoryPage
from voicecore.core.session_record import SessionRecord
from voicecore.core.sessions import (
    ForgottenUser,
    SessionStatus,
    SessionSummary,
    SessionUsage,
    StartedSession,
    VoiceSessions,
)
from voicecore.core.store import SessionStore
from voicecore.settings import SettingsError, VoiceCoreSettings, load_settings

__all__ = [
    "AgentState",
    "AgentType",
    "BoundsPolicy",
    "CreationRateLimited",
    "EndReason",
    "FieldNotAllowed",
    "ForgottenUser",
    "GatewayError",
    "GatewayFailure",
    "GuardrailPolicy",
    "HistoryPage",
    "IdempotencyKeyBusy",
    "IdempotencyKeyReused",
    "InProcessSessionStore",
    "InvalidHistoryCursor",
    "InvalidIdempotencyKey",
    "InvalidUserId",
    "IssuedToken",
    "JournalRecord",
    "JournalSchemaOutdated",
    "JournalUnavailable",
    "LiveKitRoomGateway",
    "LiveKitTokenIssuer",
    "MetadataNotReadable",
    "NotSessionOwner",
    "RedisSessionStore",
    "RoomGateway",
    "SessionIndexRebuilding",
    "SessionMode",
    "SessionNotFound",
    "SessionPolicy",
    "SessionRecord",
    "SessionStatus",
    "SessionStore",
    "SessionSummary",
    "SessionUsage",
    "SettingsError",
    "StartedSession",
    "StoreError",
    "TokenIssuer",
    "TooManyLiveSessions",
    "UnknownAgentType",
    "Usage",
    "UsageExhausted",
    "UsagePeriod",
    "User",
    "VoiceCoreContainer",
    "VoiceCoreError",
    "VoiceCoreSettings",
    "VoiceSessions",
    "WebhookNotReadable",
    "WebhookNotVerified",
    "WrongEventLoop",
    "__version__",
    "load_settings",
    "voicecore_lifespan",
]
