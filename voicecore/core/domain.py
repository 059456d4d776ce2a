"""Voice-session domain: agent types, users, the session policy and room metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from voicecore.core.errors import MetadataNotReadable, UnknownAgentType
from voicecore.core.naming import room_name_user_id


class AgentType(StrEnum):
    WORKOUT = "workout"
    DIET = "diet"
    SUPPLEMENT = "supplement"
    TRACKER = "tracker"
    SCHEDULER = "scheduler"
    GENERAL = "general"


def parse_agent_type(value: AgentType | str) -> AgentType:
    """``"diet"`` or ``AgentType.DIET`` alike; anything else is UnknownAgentType."""
    try:
        return AgentType(value)
    except ValueError:
        raise UnknownAgentType(str(value), tuple(AgentType)) from None


class SessionMode(StrEnum):
    VOICE = "voice"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str | None = None
    # The name other participants see, when the client chose one for this session.
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.id


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """What every new session gets; the defaults are the product's requirements."""

    token_ttl: timedelta = timedelta(hours=6)
    empty_timeout_seconds: int = 300
    max_participants: int = 2
    agent_name: str | None = None  # None: LiveKit's automatic agent dispatch applies
    # How long a room outlives its last participant: long enough for a phone app to be
    # killed, restarted and rejoin (docs/livekit.md), where LiveKit's own default is not.
    departure_timeout_seconds: int = 120
    # A dispatch younger than this whose agent has not joined yet is taken to be on its
    # way, so a rejoin does not send a second agent after it.
    agent_join_grace: timedelta = timedelta(seconds=20)

    def __post_init__(self) -> None:
        if self.token_ttl <= timedelta(0):
            raise ValueError("token_ttl must be positive")
        if self.empty_timeout_seconds < 1:
            raise ValueError("empty_timeout_seconds must be at least 1")
        if self.max_participants < 1:
            raise ValueError("max_participants must be at least 1")
        if self.departure_timeout_seconds < 1:
            raise ValueError("departure_timeout_seconds must be at least 1")
        if self.agent_join_grace < timedelta(0):
            raise ValueError("agent_join_grace must not be negative")


# --- Room metadata -----------------------------------------------------------

METADATA_SCHEMA_VERSION: Final = 1
_METADATA_KEYS: Final = frozenset({"v", "user_id", "agent_type", "mode", "created_at"})


@dataclass(frozen=True, slots=True)
class RoomMetadata:
    user_id: str
    agent_type: AgentType
    mode: SessionMode
    created_at: datetime  # aware, UTC

    def encode(self) -> str:
        return json.dumps(
            {
                "v": METADATA_SCHEMA_VERSION,
                "user_id": self.user_id,
                "agent_type": self.agent_type.value,
                "mode": self.mode.value,
                "created_at": self.created_at.astimezone(UTC).isoformat(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: str) -> RoomMetadata:
        """Parse metadata written by ``encode``; anything else is MetadataNotReadable."""
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise MetadataNotReadable("not JSON") from exc
        if not isinstance(data, dict) or set(data) != _METADATA_KEYS:
            raise MetadataNotReadable("not a voicecore metadata object")
        if type(data["v"]) is not int or data["v"] != METADATA_SCHEMA_VERSION:
            raise MetadataNotReadable("unknown schema version")
        user_id, agent_type, mode, created_at = (
            data["user_id"],
            data["agent_type"],
            data["mode"],
            data["created_at"],
        )
        if not all(isinstance(v, str) for v in (user_id, agent_type, mode, created_at)):
            raise MetadataNotReadable("a field has the wrong type")
        try:
            parsed_agent_type = AgentType(agent_type)
            parsed_mode = SessionMode(mode)
            parsed_created_at = datetime.fromisoformat(created_at)
        except ValueError as exc:
            raise MetadataNotReadable("a field has an unknown value") from exc
        if parsed_created_at.tzinfo is None:
            raise MetadataNotReadable("created_at has no UTC offset")
        try:
            created_at_utc = parsed_created_at.astimezone(UTC)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00
            raise MetadataNotReadable("created_at is out of range") from exc
        return cls(
            user_id=user_id,
            agent_type=parsed_agent_type,
            mode=parsed_mode,
            created_at=created_at_utc,
        )


def owner_of(raw_metadata: str) -> RoomMetadata | None:
    """The metadata of a voicecore room, or None: such a room belongs to nobody."""
    try:
        return RoomMetadata.decode(raw_metadata)
    except MetadataNotReadable:
        return None


def session_metadata(room_name: str, raw_metadata: str) -> RoomMetadata | None:
    """The metadata of a voice session, or None if the room is not one.

    A room is a voice session when its metadata is readable and its name was made
    for the user that metadata names. Its owner is then ``metadata.user_id``: the
    name never grants anything, it can only disqualify.
    """
    metadata = owner_of(raw_metadata)
    if metadata is None or room_name_user_id(room_name) != metadata.user_id:
        return None
    return metadata


def utc_now() -> datetime:
    return datetime.now(UTC)
