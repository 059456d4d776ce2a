"""A state machine drives each store against a plain model: sessions, admissions, lock, dedupe,
the dispatch budget, and the index marker (a store admits nobody until its index is rebuilt).

User ids and room names are chosen to collide if keys were joined carelessly.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.support.clocks import START, StoppedClock
from tests.support.records import record
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import (
    Admission,
    Admitted,
    RateLimited,
    RoomTaken,
    SessionStore,
    SlotRefused,
    Unindexed,
)
from voicecore.testing.redis_server import LocalRedisServer

T = TypeVar("T")
StoreMaker = Callable[[StoppedClock], Awaitable[SessionStore]]

USERS = ["a", "a:b", "a%3Ab"]
ROOMS = ["r1", "r2", "r:3", "r%3A3"]
OWNERS = ["replica-1", "replica-2"]
EVENTS = ["EV_1", "EV_2"]
REBUILDS = ["rebuild-1", "rebuild-2"]
PER_MINUTE = 1  # a token a minute: a second admission soon after is refused
seconds = st.integers(1, 5).map(lambda s: timedelta(seconds=s))


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, make_store: StoreMaker) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = StoppedClock()
        self.store = self.run(make_store(self.clock))
        self.sessions: dict[str, SessionRecord] = {}
        self.lock: tuple[str, datetime] | None = None
        self.sightings: dict[str, datetime] = {}
        # user -> (tokens, when they were counted): the bucket as the spec reads, in exact fractions
        self.buckets: dict[str, tuple[Fraction, datetime]] = {}
        self.created = 0
        self.indexed = False  # a new store has no index rebuilt from LiveKit
        self.rebuilds: dict[str, datetime] = {}  # rebuilds begun -> when their note lapses

    def run(self, step: Awaitable[T]) -> T:
        async def awaited() -> T:
            return await step

        return self.runner.run(awaited())

    def teardown(self) -> None:
        self.run(self.store.aclose())
        self.runner.close()

    @rule(user=st.sampled_from(USERS), room=st.sampled_from(ROOMS))
    def add_session(self, user: str, room: str) -> None:
        self.created += 1
        item = record(room, user, at=START + timedelta(seconds=self.created))
        added = self.run(self.store.add_session(item))
        assert added == (room not in self.sessions)
        if added:
            self.sessions[room] = item

    @rule(
        user=st.sampled_from(USERS),
        room=st.sampled_from(ROOMS),
        max_live=st.integers(0, 3),
        rated=st.booleans(),
    )
    def admit_session(self, user: str, room: str, max_live: int, rated: bool) -> None:
        per_minute = PER_MINUTE if rated else 0
        self.created += 1
        item = record(room, user, at=START + timedelta(seconds=self.created))
        expected = self.admission(item, max_live, per_minute)
        if expected == Admitted():
            self.sessions[room] = item
        assert self.run(self.store.admit_session(item, max_live=max_live, per_minute=per_minute)) == expected

    def admission(self, item: SessionRecord, max_live: int, per_minute: int) -> Admission:
        if not self.indexed:
            return Unindexed()
        if item.room_name in self.sessions:
            return RoomTaken()
        user = item.user_id
        if per_minute and (retry_after := self.take_token(user)):
            return RateLimited(retry_after)
        if max_live:
            live = sum(1 for known in self.sessions.values() if known.user_id == user)
            if live >= max_live:
                return SlotRefused(live=live)
        return Admitted()

    def take_token(self, user: str) -> int:
        """0 if a token was taken, else the whole seconds until one is there (at least 1).

        A bucket PER_MINUTE tokens deep that refills PER_MINUTE tokens a minute,
        counted at the stores' resolution of a millisecond.
        """
        now = self.clock.now
        tokens, counted = self.buckets.get(user, (Fraction(PER_MINUTE), now))
        elapsed_ms = (now - counted) // timedelta(milliseconds=1)
        tokens = min(Fraction(PER_MINUTE), tokens + Fraction(elapsed_ms * PER_MINUTE, 60_000))
        self.buckets[user] = (tokens - 1, now) if tokens >= 1 else (tokens, now)
        if tokens >= 1:
            return 0
        wait_ms = math.ceil((1 - tokens) * 60_000 / PER_MINUTE)
        return max(1, math.ceil(wait_ms / 1000))

    @rule(room=st.sampled_from(ROOMS))
    def remove_session(self, room: str) -> None:
        assert self.run(self.store.remove_session(room)) == self.sessions.pop(room, None)

    @rule(rooms=st.lists(st.sampled_from(ROOMS), max_size=6))
    def remove_sessions(self, rooms: list[str]) -> None:
        expected = [known for room in rooms if (known := self.sessions.pop(room, None)) is not None]
        assert self.run(self.store.remove_sessions(rooms)) == expected

    @rule(room=st.sampled_from(ROOMS), agent=st.booleans(), joined=st.booleans(), after=seconds)
    def note_participant(self, room: str, agent: bool, joined: bool, after: timedelta) -> None:
        at = START + after
        noted = self.run(self.store.note_participant(room, agent=agent, joined=joined, at=at))
        known = self.sessions.get(room)
        if known is not None:
            field = ("agent" if agent else "user") + ("_joined_at" if joined else "_left_at")
            latest = max(at, getattr(known, field) or at)
            self.sessions[room] = known = replace(known, **{field: latest})
        assert noted == known

    @rule(room=st.sampled_from(ROOMS), limit=st.integers(0, 2), after=seconds)
    def count_dispatch(self, room: str, limit: int, after: timedelta) -> None:
        at = START + after
        counted = self.run(self.store.count_dispatch(room, at=at, limit=limit))
        known = self.sessions.get(room)
        if known is None:
            assert counted is None
        elif known.agent_dispatches >= limit:
            assert counted == 0
        else:
            latest = max(at, known.redispatched_at or at)
            self.sessions[room] = replace(
                known, agent_dispatches=known.agent_dispatches + 1, redispatched_at=latest
            )
            assert counted == known.agent_dispatches + 1

    @rule(rebuild=st.sampled_from(REBUILDS), lease=seconds)
    def begin_rebuild(self, rebuild: str, lease: timedelta) -> None:
        self.rebuilds[rebuild] = self.clock.now + lease
        assert self.run(self.store.begin_rebuild(rebuild, lease=lease)) == self.indexed

    @rule(rebuild=st.sampled_from(REBUILDS))
    def finish_rebuild(self, rebuild: str) -> None:
        noted = self.rebuilds.pop(rebuild, self.clock.now) > self.clock.now
        self.indexed = self.indexed or noted
        assert self.run(self.store.finish_rebuild(rebuild)) == noted

    @rule(owner=st.sampled_from(OWNERS), lease=seconds)
    def acquire_lock(self, owner: str, lease: timedelta) -> None:
        free = self.lock is None or self.lock[0] == owner or self.lock[1] <= self.clock.now
        if free:
            self.lock = (owner, self.clock.now + lease)
        assert self.run(self.store.acquire_lock("job", owner, lease=lease)) == free

    @rule(owner=st.sampled_from(OWNERS))
    def release_lock(self, owner: str) -> None:
        held = self.lock is not None and self.lock[0] == owner
        running = held and self.lock is not None and self.lock[1] > self.clock.now
        if held:
            self.lock = None
        assert self.run(self.store.release_lock("job", owner)) == running

    @rule(event=st.sampled_from(EVENTS), ttl=seconds)
    def first_sighting(self, event: str, ttl: timedelta) -> None:
        new = self.sightings.get(event, self.clock.now) <= self.clock.now
        if new:
            self.sightings[event] = self.clock.now + ttl
        assert self.run(self.store.first_sighting(event, ttl=ttl)) == new

    @rule(by=st.integers(0, 4000).map(lambda ms: timedelta(milliseconds=ms)))
    def time_passes(self, by: timedelta) -> None:
        self.clock.advance(by)

    @invariant()
    def the_index_agrees(self) -> None:
        in_order = sorted(self.sessions.values(), key=lambda r: (r.created_at, r.room_name))
        assert self.run(self.store.all_sessions()) == in_order
        for user in USERS:
            assert self.run(self.store.user_sessions(user)) == [r for r in in_order if r.user_id == user]


def check(make_store: StoreMaker, examples: int, steps: int) -> None:
    run_state_machine_as_test(
        lambda: StoreMachine(make_store), settings=settings(max_examples=examples, stateful_step_count=steps)
    )


def test_the_in_process_store_behaves_like_the_model() -> None:
    async def make(clock: StoppedClock) -> SessionStore:
        return InProcessSessionStore(clock=clock)

    check(make, examples=200, steps=40)


def test_the_redis_store_behaves_like_the_model(redis_server: LocalRedisServer) -> None:
    async def make(clock: StoppedClock) -> SessionStore:
        if not redis_server.running:
            redis_server.start()
        redis_server.flush()
        store = RedisSessionStore(redis_server.url, clock=clock)
        await store.open()
        return store

    check(make, examples=60, steps=30)
