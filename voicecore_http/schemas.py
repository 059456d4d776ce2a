"""Request and response bodies: the contract clients are written against."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from voicecore.core.domain import AgentState, AgentType
from voicecore.core.journal import EndReason
from voicecore.core.naming import MAX_ROOM_NAME_LENGTH, ROOM_NAME_PATTERN

EXAMPLE_ROOM = "fitness-voice-user-123-9f2c4e1ab37d5e60"
EXAMPLE_TIME = "2026-11-25T18:30:00+00:00"

# ISO 8601 with an explicit "+00:00" offset (pydantic's default would write "Z").
UtcTimestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.astimezone(UTC).isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE_TIME]}),
]
AGENT_STATE_DESCRIPTION = (
    "`joined`: an agent is in the room now. `pending`: dispatched and not there yet, within "
    "AGENT_JOIN_TIMEOUT_SECONDS of the user connecting (or nobody is waiting yet). `left`: an agent "
    "was in the room and is gone, with none on its way. `missing`: a user has been connected longer "
    "than AGENT_JOIN_TIMEOUT_SECONDS and no agent came. `left` and `missing` are the app's cue to tell "
    "the user; the service also dispatches again (AGENT_REDISPATCH_LIMIT)."
)
ENDS_AT_DESCRIPTION = (
    "When the server ends the session: the sooner of the maximum length (SESSION_MAX_DURATION_SECONDS) "
    "and the moment the user's minute allowance runs out, if their sessions live now keep running and "
    "no other starts. It can move later (another of their sessions ended) or sooner (another started). "
    "Null when neither bound applies. Show a countdown to it."
)
RoomName = Annotated[str, Field(examples=[EXAMPLE_ROOM], description="The LiveKit room of the session.")]
# In a path: documented with its shape, but not validated by it, so that a name that
# can never be a session is answered 404 like any other missing one.
RoomNameInPath = Annotated[
    str,
    Path(
        description="A `room_name` as returned on creation.",
        examples=[EXAMPLE_ROOM],
        json_schema_extra={"pattern": ROOM_NAME_PATTERN, "maxLength": MAX_ROOM_NAME_LENGTH},
    ),
]


class CreateSessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"agent_type": "workout"}, {}]})

    agent_type: AgentType = Field(
        default=AgentType.GENERAL, description="Which coach joins the session; defaults to `general`."
    )


class SessionCreated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "room_name": EXAMPLE_ROOM,
                    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2lnbmF0dXJl",
                    "livekit_url": "wss://your-project.livekit.cloud",
                    "agent_type": "workout",
                    "expires_at": "2026-11-26T00:30:00+00:00",
                }
            ]
        }
    )

    room_name: RoomName
    token: str = Field(description="LiveKit access token: joins only this room, as this user.")
    livekit_url: str = Field(description="The LiveKit server to connect to, as configured.")
    agent_type: AgentType
    expires_at: UtcTimestamp = Field(description="When the token expires (its `exp`).")
    ends_at: UtcTimestamp | None = Field(default=None, description=ENDS_AT_DESCRIPTION)


class SessionRejoined(SessionCreated):
    """The fields of a new session, with a fresh token for the same room."""


class SessionStatusResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "room_name": EXAMPLE_ROOM,
                    "active": True,
                    "participant_count": 2,
                    "agent_connected": True,
                    "agent_state": "joined",
                    "created_at": EXAMPLE_TIME,
                }
            ]
        }
    )

    room_name: RoomName
    active: bool = Field(description="At least one participant is connected.")
    participant_count: int = Field(ge=0, description="Everyone connected, the agent included.")
    agent_connected: bool = Field(description="An agent participant is in the room.")
    agent_state: AgentState = Field(description=AGENT_STATE_DESCRIPTION)
    created_at: UtcTimestamp
    ends_at: UtcTimestamp | None = Field(default=None, description=ENDS_AT_DESCRIPTION)


class SessionEnded(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ended", "room_name": EXAMPLE_ROOM}]}
    )

    status: Literal["ended"] = "ended"
    room_name: RoomName


class SessionListItem(BaseModel):
    room_name: RoomName
    agent_type: AgentType
    participant_count: int = Field(ge=0, description="Everyone connected, the agent included.")
    agent_connected: bool = Field(description="An agent participant is in the room.")
    agent_state: AgentState = Field(description=AGENT_STATE_DESCRIPTION)
    created_at: UtcTimestamp
    ends_at: UtcTimestamp | None = Field(default=None, description=ENDS_AT_DESCRIPTION)


class SessionList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sessions": [
                        {
                            "room_name": EXAMPLE_ROOM,
                            "agent_type": "diet",
                            "participant_count": 1,
                            "agent_connected": False,
                            "agent_state": "pending",
                            "created_at": EXAMPLE_TIME,
                        }
                    ]
                },
                {"sessions": []},
            ]
        }
    )

    sessions: list[SessionListItem] = Field(description="The caller's live sessions, newest first.")


class ErrorBody(BaseModel):
    """Every error has this one shape."""

    detail: str


END_REASON_DESCRIPTION = (
    "Why the session ended; null while live. `user_ended`: the owner ended it. `room_closed`: LiveKit "
    "closed the room after everyone left. `unobserved`: the room vanished while no replica watched; "
    "`ended_at` is then the best bound known and `end_approximate` is true. `max_duration`: the server "
    "ended it at the maximum session length. `usage_exhausted`: the server ended it when the user's minute "
    "allowance ran out."
)


class HistoryItem(BaseModel):
    """One session as the journal keeps it: live or ended."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "room_name": EXAMPLE_ROOM,
                    "agent_type": "workout",
                    "created_at": EXAMPLE_TIME,
                    "ended_at": "2026-11-25T18:52:10.250000+00:00",
                    "end_reason": "user_ended",
                    "end_approximate": False,
                    "duration_seconds": 1330.25,
                    "agent_joined_at": "2026-11-25T18:30:01.400000+00:00",
                    "active": False,
                }
            ]
        }
    )

    room_name: RoomName
    agent_type: AgentType
    created_at: UtcTimestamp
    ended_at: UtcTimestamp | None = Field(description="When it ended; null while live.")
    end_reason: EndReason | None = Field(description=END_REASON_DESCRIPTION)
    end_approximate: bool = Field(description="`ended_at` is a bound, not the moment seen (`unobserved`).")
    duration_seconds: float = Field(
        ge=0, description="Wall time from `created_at` to the end, or to now while live."
    )
    agent_joined_at: UtcTimestamp | None = Field(description="The agent's first join; null if it never came.")
    active: bool = Field(description="The session is live.")


class HistoryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"sessions": HistoryItem.model_config["json_schema_extra"]["examples"], "next_cursor": None},  # type: ignore[index]
                {"sessions": [], "next_cursor": None},
            ]
        }
    )

    sessions: list[HistoryItem] = Field(description="The caller's sessions, live and ended, newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last one. Opaque, and good for you only."
    )


class UsageResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "period": "month",
                    "period_start": "2026-11-01T00:00:00+00:00",
                    "period_end": "2026-12-01T00:00:00+00:00",
                    "used_seconds": 1330.25,
                    "limit_seconds": 1800,
                    "remaining_seconds": 469.75,
                    "live_sessions": 1,
                    "max_live_sessions": 3,
                }
            ]
        }
    )

    period: Literal["day", "week", "month"] = Field(description="USAGE_PERIOD: calendar periods in UTC.")
    period_start: UtcTimestamp
    period_end: UtcTimestamp = Field(description="When the period ends and the allowance resets.")
    used_seconds: float = Field(ge=0, description="Wall time of the period's sessions, the live ones so far.")
    limit_seconds: int | None = Field(description="The allowance; null when there is none.")
    remaining_seconds: float | None = Field(description="Left of the allowance; null when there is none.")
    live_sessions: int = Field(ge=0)
    max_live_sessions: int | None = Field(description="SESSION_MAX_LIVE_PER_USER; null when there is no cap.")


class HealthBody(BaseModel):
    status: Literal["ok"]


class ReadinessBody(BaseModel):
    status: Literal["ready"]
    journal: Literal["ok", "unavailable"] = Field(
        description=(
            "The session journal's database. `unavailable` does not make the service unready: status, list "
            "and end still work, and what happens meanwhile is recorded once it answers; starts and history "
            "answer 503 until then."
        )
    )
