"""The app webhooks' payloads as pydantic models, for receivers: ``parse_event(body)`` after verifying it.

Every event is ``{"type", "timestamp", "data"}``; ``data`` is the session's
history record as the history API shows it, with the user id and the event's
per-session ``sequence``. The models ignore fields they do not know, so a
receiver keeps working when a later voicecore adds one. ``json_schema()`` is the
same contract as JSON Schema (docs/webhooks.schema.json is its output).

A receiver must verify the signature first (docs/webhooks.md): these models say
what a verified body holds, not that it came from voicecore.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from voicecore.core.journal import EndReason


class SessionData(BaseModel):
    """The session as it was when the event was made."""

    model_config = ConfigDict(frozen=True)

    room_name: str = Field(description="The session's id (its LiveKit room).")
    user_id: str = Field(description="The user the session belongs to, as the app's auth named them.")
    sequence: int = Field(ge=1, description="This event's place among the session's events, from 1.")
    agent_type: str = Field(description="workout, diet, supplement, tracker, scheduler or general.")
    created_at: datetime
    agent_joined_at: datetime | None = Field(description="The agent's first join; null until it came.")
    ended_at: datetime | None
    end_reason: EndReason | None
    end_approximate: bool = Field(description="ended_at is the best bound known, not the moment seen.")
    duration_seconds: float = Field(ge=0, description="From creation to the end (to the event, while live).")
    active: bool = Field(description="Whether the session was live.")


class EndedSessionData(SessionData):
    ended_at: datetime
    end_reason: EndReason
    active: Literal[False]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    timestamp: datetime = Field(description="When the event was made (it is committed with the change).")


class SessionStarted(_Event):
    type: Literal["session.started"]
    data: SessionData


class AgentJoined(_Event):
    type: Literal["session.agent_joined"]
    data: SessionData


class AgentMissing(_Event):
    """The agent did not come within AGENT_JOIN_TIMEOUT_SECONDS after the last dispatch."""

    type: Literal["session.agent_missing"]
    data: SessionData


class SessionEnded(_Event):
    type: Literal["session.ended"]
    data: EndedSessionData


SessionEvent = Annotated[
    SessionStarted | AgentJoined | AgentMissing | SessionEnded, Field(discriminator="type")
]
_SESSION_EVENT: TypeAdapter[SessionEvent] = TypeAdapter(SessionEvent)


def parse_event(body: bytes | str) -> SessionEvent:
    """A verified request body as its event; raises pydantic's ``ValidationError`` if it is not one."""
    return _SESSION_EVENT.validate_json(body)


def json_schema() -> dict[str, Any]:
    """The events as JSON Schema (draft 2020-12)."""
    schema = _SESSION_EVENT.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "voicecore app event",
        **schema,
    }
