"""Clocks a test moves by hand: time stands still until the test advances it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from voicecore.core.domain import utc_now

# Any fixed instant will do; one far from today shows nothing reads the real clock by mistake.
START = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class StoppedClock:
    """An aware UTC datetime clock (what the core, the stores and the gateway double take)."""

    now: datetime = field(default=START)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@dataclass
class StoppedEpochClock:
    """Seconds since the epoch, ``time.time()``'s shape (the token caches take this one)."""

    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class ShiftedClock:
    """The real clock, moved forward on demand: for the code's side when the server stamps with its own."""

    offset: timedelta = field(default=timedelta(0))

    def __call__(self) -> datetime:
        return utc_now() + self.offset
