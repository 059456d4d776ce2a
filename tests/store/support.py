"""Plain helpers for the store tests: a clock the tests move, and records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from voicecore.core.store import SessionRecord

START = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """Time stands still until a test moves it."""

    now: datetime = field(default=START)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def record(
    room_name: str, user_id: str = "user-1", *, at: datetime = START, agent_type: str = "workout"
) -> SessionRecord:
    return SessionRecord(room_name=room_name, user_id=user_id, agent_type=agent_type, created_at=at)
