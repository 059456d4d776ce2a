"""The bounds under any sequence of starts, ends, racing starts, erasures and time passing.

Run on both stores (in-process, then Redis), with a real SQLite journal, the in-memory
gateway and a clock the machine moves, from ten minutes before a UTC midnight with a
daily allowance, so periods turn over under live sessions.

The machine keeps its own account of every session, in whole milliseconds, and checks
the server against it at each enforcement pass (the clock moves in milliseconds, so
"used up" is an exact comparison):

- nothing is cut early: a session ended for its length is past its cap, one ended for
  the allowance belongs to a user whose period's usage has reached it;
- nothing is cut late: after a pass, every live session is within its cap and its user
  has minutes left;
- the allowance is exceeded by at most the documented bound: the user's live sessions,
  each running on for the time since the previous pass (docs/http-api.md: passes come
  every second, so at most a second per live session);
- a start is refused exactly when the period's usage has reached the allowance;
- erasing a user's history does not give minutes back.

Passes come either a step of at most a second after the last (``tick``), or after a
wait the model knows ends before any deadline (``wait``), so long stretches cost one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.support.clocks import StoppedClock
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.indexing import indexed
from tests.support.journals import scratch_directory, sqlite_journal_url
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.bounds import BoundsPolicy, UsagePeriod
from voicecore.core.domain import GuardrailPolicy, User
from voicecore.core.enforcer import SessionBounds
from voicecore.core.errors import UsageExhausted
from voicecore.core.history import NO_APP_EVENTS
from voicecore.core.journal import EndReason
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.core.usage import UsageMeter
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.redis_server import LocalRedisServer

DAY_MS = 24 * 3600 * 1000
CAP_MS = 2 * 60 * 1000  # Ann (10 min) meets it first unless 5 of hers run at once; Bob (3) if alone
# Ten minutes before midnight: the first day's allowance is cut short by the period's end.
EPOCH = datetime(2031, 3, 1, 23, 50, tzinfo=UTC)
EPOCH_MS = int(EPOCH.timestamp() * 1000)
# Ann has the default allowance (10 minutes a day), Bob a token's own (3).
USERS = {"ann": User("ann"), "bob": User("bob", usage_limit_minutes=3)}
LIMIT_MS = {"ann": 10 * 60 * 1000, "bob": 3 * 60 * 1000}
POLICY = BoundsPolicy(
    max_duration_seconds=CAP_MS // 1000, usage_limit_minutes=10, usage_period=UsagePeriod.DAY
)

StoreBuilder = Callable[[StoppedClock], SessionStore]


@dataclass
class Session:
    user: str
    created: int  # ms since EPOCH
    ended: int | None = None
    reason: EndReason | None = None


class BoundsMachine(RuleBasedStateMachine):
    build_store: StoreBuilder

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = 0  # ms since EPOCH
        self.clock = StoppedClock(EPOCH)
        self.gateway = InMemoryRoomGateway(self.clock)
        # Indexed, as a replica's start-up repair leaves it (the rebuild itself: tests/shared_state).
        self.store = self.loop.run_until_complete(indexed(self.build_store(self.clock)))
        self.journal = SqlSessionJournal(sqlite_journal_url(scratch_directory()))
        self.loop.run_until_complete(self.journal.open())
        recorder = SessionRecorder(self.journal, NO_APP_EVENTS, clock=self.clock)
        self.sessions = VoiceSessions(
            self.gateway,
            LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
            store=self.store,
            recorder=recorder,
            guardrails=GuardrailPolicy(max_live_per_user=0, creates_per_minute=0),
            clock=self.clock,
            bounds=POLICY,
        )
        meter = UsageMeter(self.journal, self.store, POLICY, self.clock)
        self.bounds = SessionBounds(self.gateway, self.store, recorder, meter, clock=self.clock)
        self.model: dict[str, Session] = {}
        self.last_pass = 0
        # Vacuity counters: a run that never cut for a reason, or never refused, checked nothing there.
        self.seen: dict[str, int] = {
            "max_duration": 0,
            "usage_exhausted": 0,
            "refused": 0,
            "new_period": 0,
            "over": 0,
        }

    def teardown(self) -> None:
        try:
            with contextlib.suppress(RuntimeError):
                self.loop.run_until_complete(self.sessions.aclose())
            self.loop.run_until_complete(self.store.aclose())
            self.loop.run_until_complete(self.journal.aclose())
        finally:
            self.loop.close()
        for name, count in self.seen.items():
            SEEN[name] = SEEN.get(name, 0) + count

    # --- the model --------------------------------------------------------------------

    def period(self, at: int) -> tuple[int, int]:
        start = (EPOCH_MS + at) // DAY_MS * DAY_MS - EPOCH_MS
        return start, start + DAY_MS

    def used(self, user: str, at: int) -> int:
        """Milliseconds the user's sessions ran within the period that holds ``at``, up to ``at``."""
        start, _ = self.period(at)
        return sum(
            max(0, min(at if s.ended is None else s.ended, at) - max(s.created, start))
            for s in self.model.values()
            if s.user == user
        )

    def live(self, user: str | None = None) -> dict[str, Session]:
        return {
            room: s for room, s in self.model.items() if s.ended is None and (user is None or s.user == user)
        }

    def soonest_deadline(self) -> float | None:
        """The soonest moment (ms, maybe fractional) a live session's cap or its user's allowance ends it."""
        moments: list[float] = [s.created + CAP_MS for s in self.live().values()]
        for user in USERS:
            running = len(self.live(user))
            if running:
                left = LIMIT_MS[user] - self.used(user, self.now)
                _, period_end = self.period(self.now)
                out = self.now + left / running
                moments.append(out if out < period_end else period_end + LIMIT_MS[user] / running)
        return min(moments, default=None)

    def move_to(self, at: int) -> None:
        if self.period(at) != self.period(self.now):
            self.seen["new_period"] += 1
        self.now = at
        self.clock.now = EPOCH + timedelta(milliseconds=at)

    def enforce(self) -> None:
        """One pass at ``now``, checked against the model."""
        ended = self.loop.run_until_complete(self.bounds.run_once())
        assert ended is not None
        for room, reason in ended:
            session = self.model[room]
            assert session.ended is None, room
            if reason is EndReason.MAX_DURATION:
                assert session.created + CAP_MS <= self.now  # not early
            else:
                assert reason is EndReason.USAGE_EXHAUSTED
                assert session.created + CAP_MS > self.now  # the cap is named when both have passed
                assert self.used(session.user, self.now) >= LIMIT_MS[session.user]  # not early
            session.ended, session.reason = self.now, reason
            self.seen[reason.value] += 1
        assert self.gateway.room_names == frozenset(self.live()), "the server and the model disagree"
        for user in USERS:
            used = self.used(user, self.now)
            if self.live(user):  # nothing late
                assert used < LIMIT_MS[user], (user, used)
                assert all(s.created + CAP_MS > self.now for s in self.live(user).values())
            # The documented bound: past the allowance, each session that ran since the last pass ran
            # on at most until this one (what was over at the last pass, in this period, stays over).
            same_period = self.period(self.last_pass) == self.period(self.now)
            over_before = max(0, self.used(user, self.last_pass) - LIMIT_MS[user]) if same_period else 0
            ran_since = sum(
                1
                for s in self.model.values()
                if s.user == user and (s.ended is None or s.ended > self.last_pass)
            )
            overshoot = used - LIMIT_MS[user]
            assert overshoot <= over_before + ran_since * (self.now - self.last_pass), (user, overshoot)
            if overshoot > 0:
                self.seen["over"] += 1
        self.last_pass = self.now

    async def _start(self, user: str) -> str | None:
        try:
            started = await self.sessions.start(USERS[user])
        except UsageExhausted:
            return None
        return started.room_name

    def expect_start(self, user: str, room: str | None) -> None:
        if room is None:
            self.seen["refused"] += 1
        else:
            self.model[room] = Session(user, self.now)

    # --- rules --------------------------------------------------------------------------

    @rule(user=st.sampled_from(sorted(USERS)))
    def start(self, user: str) -> None:
        used_before = self.used(user, self.now)
        room = self.loop.run_until_complete(self._start(user))
        assert (room is None) == (used_before >= LIMIT_MS[user])
        self.expect_start(user, room)

    @rule(user=st.sampled_from(sorted(USERS)), count=st.integers(2, 3))
    def racing_starts(self, user: str, count: int) -> None:
        """Starts at one moment: all are admitted or none (the usage is the same for each)."""
        used_before = self.used(user, self.now)

        async def together() -> list[str | None]:
            return list(await asyncio.gather(*(self._start(user) for _ in range(count))))

        rooms = self.loop.run_until_complete(together())
        assert all((room is None) == (used_before >= LIMIT_MS[user]) for room in rooms), rooms
        for room in rooms:
            self.expect_start(user, room)

    @precondition(lambda self: bool(self.live()))
    @rule(pick=st.integers(0, 20))
    def end(self, pick: int) -> None:
        rooms = sorted(self.live(), key=lambda room: (self.model[room].created, room))
        room = rooms[pick % len(rooms)]
        session = self.model[room]
        self.loop.run_until_complete(self.sessions.end(USERS[session.user], room))
        session.ended, session.reason = self.now, EndReason.USER_ENDED

    @rule(ms=st.integers(1, 1000))
    def tick(self, ms: int) -> None:
        """A pass at most a second after the last."""
        self.move_to(self.now + ms)
        self.enforce()

    @rule(seconds=st.integers(1, 6 * 3600))
    def wait(self, seconds: int) -> None:
        """Time passes without a pass, up to a millisecond before the soonest deadline; then a pass."""
        target = self.now + seconds * 1000
        soonest = self.soonest_deadline()
        if soonest is not None:
            target = min(target, int(-(-soonest // 1)) - 1)  # before it, in whole ms
        if target > self.now:
            self.move_to(target)
            self.enforce()

    @precondition(lambda self: bool(self.live()))
    @rule(late_ms=st.integers(0, 1000))
    def the_soonest_deadline_passes(self, late_ms: int) -> None:
        """The pass that falls on the soonest deadline, or up to a pass interval after it."""
        soonest = self.soonest_deadline()
        assert soonest is not None
        self.move_to(max(self.now, int(-(-soonest // 1)) + late_ms))
        self.enforce()

    @rule(user=st.sampled_from(sorted(USERS)))
    def erase_history(self, user: str) -> None:
        self.loop.run_until_complete(self.sessions.erase_history(USERS[user]))
        # The ended records are gone from the history; the model keeps them, as the meter must.

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def the_usage_endpoint_agrees_with_the_model(self) -> None:
        for user, who in USERS.items():
            usage = self.loop.run_until_complete(self.sessions.usage(who)).usage
            assert round(usage.used_seconds * 1000) == self.used(user, self.now), user
            assert usage.live_sessions == len(self.live(user))


SEEN: dict[str, int] = {}


def _machine(build: StoreBuilder) -> type[BoundsMachine]:
    return type("Machine", (BoundsMachine,), {"build_store": staticmethod(build)})


def _checked_something() -> None:
    """Every outcome the machine checks came up across the run (else the run proved less than it says)."""
    assert all(
        SEEN.get(name, 0) > 0 for name in ("max_duration", "usage_exhausted", "refused", "new_period")
    ), SEEN


def test_the_bounds_hold_on_the_in_process_store() -> None:
    SEEN.clear()
    machine = _machine(lambda clock: InProcessSessionStore(clock=clock))
    run_state_machine_as_test(machine, settings=settings(max_examples=80, stateful_step_count=30))
    _checked_something()


@pytest.fixture
def fresh_redis(redis_server: LocalRedisServer) -> LocalRedisServer:
    if not redis_server.running:
        redis_server.start()
    return redis_server


def test_the_bounds_hold_on_redis(fresh_redis: LocalRedisServer) -> None:
    def build(clock: StoppedClock) -> SessionStore:
        fresh_redis.flush()
        return RedisSessionStore(fresh_redis.url, clock=clock)

    SEEN.clear()
    run_state_machine_as_test(_machine(build), settings=settings(max_examples=40, stateful_step_count=30))
    _checked_something()
