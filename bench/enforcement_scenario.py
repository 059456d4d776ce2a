"""Issue 20's enforcement bench, what a run is: its scenario, the servers it runs against, its constants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from bench.targets import LiveKitAccess, StoreMode

Reason = Literal["max_duration", "usage_exhausted"]
GatewayMode = Literal["memory", "livekit"]

MAX_DURATION_SECONDS: Final = 3600  # SESSION_MAX_DURATION_SECONDS, the default
ALLOWANCE_SESSION_SECONDS: Final = 60  # each of a user's sessions ran this long when their allowance ran out
ROOM_PREFIX: Final = "fitness-voice-bench-bounds-"  # the harness's leftover sweep knows this prefix
IDLE_SECONDS: Final = 3.0  # idle passes (none due) come first, for about this long
GIVE_UP_SECONDS: Final = 900.0  # a run waits this long past its last deadline, then counts the misses
# A fill's budget per session, generous: the first deadline is planned after it. A fill that
# overruns it anyway is thrown away and done again with twice the budget.
FILL_SECONDS_PER_SESSION: Final[Mapping[str, float]] = {"memory": 0.0003, "redis": 0.001, "livekit": 0.01}
FILL_ATTEMPTS: Final = 3
FILL_IN_FLIGHT: Final = 32


@dataclass(frozen=True)
class Scenario:
    store: StoreMode
    sessions: int  # live
    users: int
    reason: Reason
    gateway: GatewayMode = "memory"
    spread_seconds: float = 0.0  # the due deadlines evenly over this long; 0: all at one moment
    due: int | None = None  # how many of the live sessions fall due (None: all); the others run on
    idle_seconds: float = IDLE_SECONDS  # at least this long between the loop's start and the first deadline

    def __post_init__(self) -> None:
        if self.sessions % self.users:
            raise ValueError("every user gets the same number of sessions")
        if not 0 < self.falling_due <= self.sessions:
            raise ValueError("between one and every live session falls due")
        if self.reason == "usage_exhausted" and self.falling_due % self.per_user:
            raise ValueError("a user's sessions share one allowance: all of them fall due, or none")

    @property
    def per_user(self) -> int:
        return self.sessions // self.users

    @property
    def falling_due(self) -> int:
        return self.sessions if self.due is None else self.due

    @property
    def shape(self) -> str:
        due = f"{self.falling_due:,} due" if self.due is not None else "all due"
        return f"{due} over {self.spread_seconds:g} s" if self.spread_seconds else f"{due} together"

    @property
    def label(self) -> str:
        return (
            f"{self.store} store, {self.gateway} gateway, {self.sessions:,} live, {self.reason}, {self.shape}"
        )

    @property
    def key(self) -> str:
        spread = f"-over{self.spread_seconds:g}s" if self.spread_seconds else "-together"
        return f"{self.store}-{self.gateway}-{self.sessions}-{self.reason}-due{self.falling_due}{spread}"


@dataclass(frozen=True)
class Servers:
    """What a scenario runs against: LiveKit (its gateway, and the settings' URL), Redis for that store."""

    livekit: LiveKitAccess
    auth_secret: str
    redis_url: str | None  # a database of its own, emptied before each run
    pids: Mapping[str, int]  # redis-server and livekit-server, for their CPU time
    scratch: Path  # the journals' files
    log_path: Path  # voicecore's log lines, INFO, as the service writes them
