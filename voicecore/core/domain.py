"""Voice-session domain: agent types, users, the session policy, and where a session's agent is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from voicecore.core.errors import UnknownAgentType


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


class AgentState(StrEnum):
    """Where a session's agent is (derived in core/agents.py)."""

    PENDING = "pending"  # dispatched, not joined yet, within the join window (or nobody is waiting)
    JOINED = "joined"  # an agent is in the room now
    LEFT = "left"  # an agent was in the room and is gone, and none is on its way
    MISSING = "missing"  # a user has waited longer than the join window and no agent came


# What other participants may be shown as a name: at most this long, with no control
# character (C0, DEL or C1). A client's participant_name is held to it, and so is an email.
MAX_DISPLAY_NAME_LENGTH: Final = 128
DISPLAY_NAME_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]*$"
_DISPLAY_NAME: Final = re.compile(DISPLAY_NAME_PATTERN)


def is_display_name(text: str) -> bool:
    return 0 < len(text) <= MAX_DISPLAY_NAME_LENGTH and _DISPLAY_NAME.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str | None = None
    # The name other participants see, when the client chose one for this session.
    name: str | None = None
    # The user's own minutes per period (from their token or the host's user); None: the default.
    usage_limit_minutes: int | None = None

    @property
    def display_name(self) -> str:
        """The chosen name, else the email, else the user id: the first that may be shown as a name.

        An email comes from a token or a host, unchecked: one that breaks the display-name rule
        (10,000 characters, a newline) is left out rather than shown, or shortened into something
        its owner never wrote.
        """
        for shown in (self.name, self.email):
            if shown and is_display_name(shown):
                return shown
        return self.id


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
    # How many times a session's agent may be dispatched again, by rejoins and the watchdog
    # together, on every replica (one budget in the session store); 0: never.
    agent_redispatch_limit: int = 3

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
        if self.agent_redispatch_limit < 0:
            raise ValueError("agent_redispatch_limit must not be negative")


@dataclass(frozen=True, slots=True)
class GuardrailPolicy:
    """The per-user limits on starting sessions, each a paid agent; 0 turns one off."""

    max_live_per_user: int = 3
    creates_per_minute: int = 10

    def __post_init__(self) -> None:
        if self.max_live_per_user < 0 or self.creates_per_minute < 0:
            raise ValueError("guardrail limits cannot be negative (0 turns one off)")


def utc_now() -> datetime:
    return datetime.now(UTC)
