"""LiveKit's standard token endpoint (the client SDKs' ``TokenSource.endpoint``): bodies and rules.

The request carries LiveKit's own field names (``livekit_token_source.proto``, snake_case),
all optional. The SDKs leave out, or send empty, what the app did not set, so an empty
value counts as unset everywhere. Of what may be set, voicecore honours only what keeps
its rules: the session's room, and the participant's display name. A field that would
let the caller be someone else, label itself, or reshape the room is refused, by name,
before anything is created (``FieldNotAllowed``); so is a field LiveKit does not define.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from voicecore.core.domain import DISPLAY_NAME_PATTERN, MAX_DISPLAY_NAME_LENGTH, User
from voicecore.core.errors import FieldNotAllowed
from voicecore_http.schemas import ENDS_AT_DESCRIPTION, EXAMPLE_ROOM, UtcTimestamp

# Anything but control characters: the name is shown to the other participants (the core's rule).
ParticipantName = Annotated[str, Field(max_length=MAX_DISPLAY_NAME_LENGTH, pattern=DISPLAY_NAME_PATTERN)]


class AgentDispatchEntry(BaseModel):
    """One entry of ``room_config.agents``, as the SDKs build it from ``agentName`` and friends."""

    model_config = ConfigDict(extra="forbid")

    agent_name: str | None = None
    metadata: str | None = None
    deployment: str | None = None
    attributes: dict[str, str] | None = None


class RoomConfig(BaseModel):
    """LiveKit's ``RoomConfiguration``. Only ``agents``, naming the configured agent, may be set."""

    model_config = ConfigDict(extra="forbid")

    agents: list[AgentDispatchEntry] | None = None
    name: str | None = None
    empty_timeout: int | None = None
    departure_timeout: int | None = None
    max_participants: int | None = None
    metadata: str | None = None
    egress: dict[str, Any] | None = None
    min_playout_delay: int | None = None
    max_playout_delay: int | None = None
    sync_streams: bool | None = None


class ConnectionDetailsRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {},
                {"participant_name": "Alex"},
                {"room_name": EXAMPLE_ROOM},
                {"room_config": {"agents": [{"agent_name": "fitness-coach"}]}},
            ]
        },
    )

    room_name: str | None = Field(
        default=None,
        description="The caller's own live session to rejoin; leave it out to start a new one.",
    )
    participant_identity: str | None = Field(
        default=None, description="Must be the caller's own user id when set; the token always carries it."
    )
    participant_name: ParticipantName | None = Field(
        default=None, description="The name others in the room see; defaults to the account's email or id."
    )
    participant_metadata: str | None = Field(default=None, description="Not allowed: must be left out.")
    participant_attributes: dict[str, str] | None = Field(
        default=None, description="Not allowed: must be left out."
    )
    room_config: RoomConfig | None = Field(
        default=None,
        description="Only `agents` with one entry whose `agent_name` is the configured agent (or empty).",
    )


class ConnectionDetails(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "server_url": "wss://your-project.livekit.cloud",
                    "participant_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2ln",
                    "room_name": EXAMPLE_ROOM,
                    "participant_name": "alex@example.com",
                }
            ]
        }
    )

    server_url: str = Field(description="The LiveKit server to connect to.")
    participant_token: str = Field(description="Joins only `room_name`, as the caller.")
    room_name: str = Field(description="The session's room: keep it to rejoin after a restart.")
    participant_name: str = Field(description="The name the token carries.")
    ends_at: UtcTimestamp | None = Field(default=None, description=ENDS_AT_DESCRIPTION)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What a checked request asks for: a room to rejoin (or None for a new session), as whom."""

    room_name: str | None
    user: User


def check_request(request: ConnectionDetailsRequest, caller: User, agent_name: str | None) -> TokenRequest:
    """The request, if the caller may make it; else FieldNotAllowed naming the first field refused."""
    if request.participant_identity and request.participant_identity != caller.id:
        raise FieldNotAllowed("participant_identity", "it must be the caller's own user id")
    if request.participant_metadata:
        raise FieldNotAllowed("participant_metadata", "participant metadata is not client-settable")
    if request.participant_attributes:
        raise FieldNotAllowed("participant_attributes", "participant attributes are not client-settable")
    if request.room_config is not None:
        _check_room_config(request.room_config, agent_name)
    user = caller
    if request.participant_name:
        user = User(id=caller.id, email=caller.email, name=request.participant_name)
    return TokenRequest(room_name=request.room_name or None, user=user)


def _check_room_config(config: RoomConfig, agent_name: str | None) -> None:
    for field, value in config:
        if field != "agents" and _is_set(value):
            raise FieldNotAllowed(f"room_config.{field}", "the server configures the room")
    agents = config.agents or []
    if len(agents) > 1:
        raise FieldNotAllowed("room_config.agents", "at most one agent, the configured one")
    for entry in agents:
        where = "room_config.agents[0]"
        for field, value in entry:
            if field != "agent_name" and _is_set(value):
                raise FieldNotAllowed(f"{where}.{field}", "the server dispatches the agent")
        if entry.agent_name and entry.agent_name != agent_name:
            raise FieldNotAllowed(f"{where}.agent_name", "only the configured agent can be dispatched")


def _is_set(value: object) -> bool:
    return value is not None and value not in ("", 0, [], {})
