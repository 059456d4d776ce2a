"""A live session as the session store keeps it, and the store's times: aware, in UTC."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
TIMES: Final = (
    "created_at",
    "user_joined_at",
    "user_left_at",
    "agent_joined_at",
    "agent_left_at",
    "ends_at",
    "redispatched_at",
)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session and the facts known about it; all times are aware.

    Joined and left times keep the latest event of each kind, so the record is
    the same whatever order (and however often) the same events are noted.
    """

    room_name: str
    user_id: str
    agent_type: str
    created_at: datetime
    user_joined_at: datetime | None = None
    user_left_at: datetime | None = None
    agent_joined_at: datetime | None = None
    agent_left_at: datetime | None = None
    agent_dispatches: int = 0
    # When the server ends it: the sooner of the length cap and the user's allowance; None: unbounded.
    ends_at: datetime | None = None
    # The user's allowance per period when the session started (from their token or host user).
    allowance_seconds: int | None = None
    # When the agent was last dispatched into the existing room (a rejoin, the watchdog); None: only
    # the room's own dispatch, sent with its creation. Counted in ``agent_dispatches``.
    redispatched_at: datetime | None = None

    def __post_init__(self) -> None:
        # Every time in UTC, whichever zone it came in: both stores hand back the same values.
        for name in TIMES:
            moment = getattr(self, name)
            if moment is not None:
                object.__setattr__(self, name, require_aware(moment))
        if self.agent_dispatches < 0:
            raise ValueError("agent_dispatches cannot be negative")

    @property
    def latest_dispatch_at(self) -> datetime:
        """When the session's agent was last sent: a re-dispatch, or else the room's creation.

        The room's own dispatch (explicit, or LiveKit's automatic one) goes with CreateRoom,
        a moment after ``created_at``: the bound every replica knows, and the only one a
        record rebuilt from the room's metadata can know.
        """
        return self.redispatched_at or self.created_at

    def with_participant_event(self, *, agent: bool, joined: bool, at: datetime) -> SessionRecord:
        """This record with the event noted: each kind of event keeps its latest time."""
        moment = require_aware(at)
        match agent, joined:
            case False, True if _later(moment, self.user_joined_at):
                return replace(self, user_joined_at=moment)
            case False, False if _later(moment, self.user_left_at):
                return replace(self, user_left_at=moment)
            case True, True if _later(moment, self.agent_joined_at):
                return replace(self, agent_joined_at=moment)
            case True, False if _later(moment, self.agent_left_at):
                return replace(self, agent_left_at=moment)
        return self


def require_aware(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime has no meaning across replicas."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes in the session store must be timezone-aware")
    return moment.astimezone(UTC)


def to_milliseconds(moment: datetime) -> int:
    """Milliseconds since 1970: the stores' resolution for deadlines."""
    return (require_aware(moment) - EPOCH) // timedelta(milliseconds=1)


def to_microseconds(moment: datetime) -> int:
    """Microseconds since 1970: exact for every aware datetime, and ordered like them."""
    return (require_aware(moment) - EPOCH) // timedelta(microseconds=1)


def from_microseconds(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _later(moment: datetime, known: datetime | None) -> bool:
    return known is None or moment > known
