"""The guardrails' invariants under any sequence of creates, ends, expiries, retries and races.

Run on both stores: in-process, and Redis (each machine on a freshly emptied
server). After every step: no user has more than the cap live in LiveKit; every
live room was handed to a caller (nothing half-made) and is indexed (so counted);
a key never has two live rooms. The refill rule ends everything a user has and
shows that exactly ``cap`` creates then succeed: no slot leaked.
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
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.support.clocks import StoppedClock
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.gateways import YieldingGateway
from tests.support.indexing import indexed
from tests.support.journals import sqlite_recorder
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.domain import AgentType, GuardrailPolicy, User
from voicecore.core.errors import IdempotencyKeyBusy, IdempotencyKeyReused, TooManyLiveSessions
from voicecore.core.index import INDEX_GRACE
from voicecore.core.metadata import RoomMetadata
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.testing.redis_server import LocalRedisServer

CAP = 3
USERS = ("user-a", "user-b")
KEYS = ("tap-1", "tap-2", "tap-3")
KINDS = (AgentType.WORKOUT, AgentType.DIET)
# Past the index grace: a room gone from LiveKit is then forgotten when the cap is checked.
EXPIRY_PASSES = INDEX_GRACE + timedelta(seconds=1)

Outcome = str | type[Exception]
StoreBuilder = Callable[[StoppedClock], SessionStore]


async def _short_sleep(seconds: float) -> None:
    # A waiting duplicate polls the store on real time, but briefly: the first finishes fast here.
    await asyncio.sleep(min(seconds, 0.002))


@dataclass(frozen=True)
class Made:
    user: str
    key: str | None
    kind: AgentType


class GuardrailMachine(RuleBasedStateMachine):
    build_store: StoreBuilder

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = StoppedClock(datetime(2031, 3, 1, 12, 0, tzinfo=UTC))
        self.gateway = YieldingGateway(clock=self.clock)
        # Indexed, as a replica's start-up repair leaves it (the rebuild itself: tests/shared_state).
        self.store = self.loop.run_until_complete(indexed(self.build_store(self.clock)))
        self.journal = contextlib.AsyncExitStack()
        recorder = self.loop.run_until_complete(self.journal.enter_async_context(sqlite_recorder()))
        issuer = LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL)
        self.sessions = VoiceSessions(
            self.gateway,
            issuer,
            store=self.store,
            # The rate limit is on but never reached: its check runs, its refusals are tested elsewhere.
            guardrails=GuardrailPolicy(max_live_per_user=CAP, creates_per_minute=1_000_000),
            clock=self.clock,
            sleep=_short_sleep,
            recorder=recorder,
        )
        self.made: dict[str, Made] = {}  # every room a caller was told about
        self.keys: dict[tuple[str, str], str] = {}  # (user, key) -> the room it last answered

    def teardown(self) -> None:
        try:
            self.loop.run_until_complete(self.sessions.aclose())
            self.loop.run_until_complete(self.store.aclose())
            self.loop.run_until_complete(self.journal.aclose())
        finally:
            self.loop.close()

    # --- helpers ----------------------------------------------------------------------

    def live(self, user: str) -> set[str]:
        """The user's rooms LiveKit has now."""
        return {
            name
            for name in self.gateway.room_names
            if RoomMetadata.decode(self.gateway.spec_of(name).metadata).user_id == user
        }

    async def _create(self, user: str, key: str | None, kind: AgentType) -> Outcome:
        try:
            started = await self.sessions.start(User(user), kind, idempotency_key=key)
        except (TooManyLiveSessions, IdempotencyKeyReused, IdempotencyKeyBusy) as exc:
            return type(exc)
        self.made.setdefault(started.room_name, Made(user, key, kind))
        if key is not None:
            self.keys[(user, key)] = started.room_name
        return started.room_name

    def create(self, user: str, key: str | None, kind: AgentType) -> Outcome:
        return self.loop.run_until_complete(self._create(user, key, kind))

    def live_room(self, pick: int) -> str | None:
        """One live room, in the order they were made (room names are random: no draw depends on them)."""
        rooms = [room for room in self.made if room in self.gateway.room_names]
        return rooms[pick % len(rooms)] if rooms else None

    def key_room(self, user: str, key: str) -> str | None:
        """The live room the user's key made, if any."""
        room = self.keys.get((user, key))
        return room if room is not None and room in self.gateway.room_names else None

    # --- rules --------------------------------------------------------------------------

    @rule(user=st.sampled_from(USERS), key=st.none() | st.sampled_from(KEYS), kind=st.sampled_from(KINDS))
    def create_one(self, user: str, key: str | None, kind: AgentType) -> None:
        before = self.live(user)
        previous = self.key_room(user, key) if key is not None else None
        outcome = self.create(user, key, kind)
        if previous is not None:
            same_kind = self.made[previous].kind is kind
            assert outcome == (previous if same_kind else IdempotencyKeyReused), (outcome, previous)
        elif len(before) < CAP:
            # A key whose room expired unseen may still be "another body" until its record is gone.
            assert isinstance(outcome, str) or (outcome is IdempotencyKeyReused and key is not None), outcome
            if isinstance(outcome, str):
                assert outcome not in before
                assert outcome in self.gateway.room_names
        else:
            assert outcome in (TooManyLiveSessions, IdempotencyKeyReused), outcome

    @rule(user=st.sampled_from(USERS), key=st.sampled_from(KEYS))
    def retry_with_a_key(self, user: str, key: str) -> None:
        """The same request again with a key used before (its session live, ended or expired)."""
        room = self.keys.get((user, key))
        if room is not None:
            self.create_one(user, key, self.made[room].kind)

    @rule(pick=st.integers(min_value=0, max_value=20))
    def end(self, pick: int) -> None:
        room = self.live_room(pick)
        if room is None:
            return
        self.loop.run_until_complete(self.sessions.end(User(self.made[room].user), room))
        assert room not in self.gateway.room_names

    @rule(pick=st.integers(min_value=0, max_value=20))
    def expire(self, pick: int) -> None:
        """A room closes behind the service's back (empty_timeout, its webhook lost), and time passes."""
        room = self.live_room(pick)
        if room is None:
            return
        self.loop.run_until_complete(self.gateway.delete_room(room))
        self.clock.advance(EXPIRY_PASSES)

    @rule(
        user=st.sampled_from(USERS),
        requests=st.lists(
            st.tuples(st.none() | st.sampled_from(KEYS), st.sampled_from(KINDS)), min_size=2, max_size=6
        ),
    )
    def concurrent_creates(self, user: str, requests: list[tuple[str | None, AgentType]]) -> None:
        before = self.live(user)
        # A key's kind is its live room's, or the first request's with it: others would only add 422s.
        kind_of_key = {
            k: self.made[r].kind for (u, k), r in self.keys.items() if u == user and self.key_room(u, k)
        }
        requests = [(k, kind_of_key.setdefault(k, kind) if k else kind) for k, kind in requests]
        resumed = {k for k, _ in requests if k is not None and self.key_room(user, k) is not None}
        fresh_keys = {k for k, _ in requests if k is not None} - resumed
        units = sum(1 for k, _ in requests if k is None) + len(fresh_keys)

        async def all_at_once() -> list[Outcome]:
            return list(await asyncio.gather(*(self._create(user, k, kind) for k, kind in requests)))

        outcomes = self.loop.run_until_complete(all_at_once())
        new_rooms = self.live(user) - before
        for (key, _), outcome in zip(requests, outcomes, strict=True):
            if outcome is IdempotencyKeyBusy:
                assert key is not None
            elif outcome is IdempotencyKeyReused:
                # Only a key whose room expired unseen (its record not yet gone) says so here.
                assert key is not None
                assert key not in resumed
            elif isinstance(outcome, str) and key is not None:
                assert outcome == self.keys[(user, key)]
        assert len(new_rooms) <= units
        # A key's resumption uses no slot; every other create gets one while any is free.
        if not any(o is IdempotencyKeyReused for o in outcomes):
            assert len(new_rooms) == min(CAP - len(before), units), (before, requests, outcomes)

    @rule(user=st.sampled_from(USERS))
    def end_everything_then_fill_up(self, user: str) -> None:
        for room in sorted(self.live(user)):
            self.loop.run_until_complete(self.sessions.end(User(user), room))
        assert self.live(user) == set()
        filled = [self.create(user, None, AgentType.GENERAL) for _ in range(CAP)]
        assert all(isinstance(outcome, str) for outcome in filled), filled
        assert self.create(user, None, AgentType.GENERAL) is TooManyLiveSessions

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def never_more_than_the_cap_live(self) -> None:
        for user in USERS:
            assert len(self.live(user)) <= CAP

    @invariant()
    def every_live_room_was_answered_and_is_indexed(self) -> None:
        assert self.gateway.room_names <= self.made.keys()
        for user in USERS:
            indexed = {r.room_name for r in self.loop.run_until_complete(self.store.user_sessions(user))}
            assert self.live(user) <= indexed

    @invariant()
    def one_live_room_per_key(self) -> None:
        by_key: dict[tuple[str, str], set[str]] = {}
        for room in self.gateway.room_names:
            made = self.made[room]
            if made.key is not None:
                by_key.setdefault((made.user, made.key), set()).add(room)
        assert all(len(rooms) == 1 for rooms in by_key.values()), by_key


def _machine(build: StoreBuilder) -> type[GuardrailMachine]:
    return type("Machine", (GuardrailMachine,), {"build_store": staticmethod(build)})


def test_the_guardrails_hold_on_the_in_process_store() -> None:
    machine = _machine(lambda clock: InProcessSessionStore(clock=clock))
    run_state_machine_as_test(machine, settings=settings(max_examples=100, stateful_step_count=25))


@pytest.fixture
def fresh_redis(redis_server: LocalRedisServer) -> LocalRedisServer:
    if not redis_server.running:
        redis_server.start()
    return redis_server


def test_the_guardrails_hold_on_redis(fresh_redis: LocalRedisServer) -> None:
    def build(clock: StoppedClock) -> SessionStore:
        fresh_redis.flush()
        return RedisSessionStore(fresh_redis.url, clock=clock)

    run_state_machine_as_test(_machine(build), settings=settings(max_examples=40, stateful_step_count=25))
