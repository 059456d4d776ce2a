"""A state machine drives each store against a plain model: sessions, slots, admissions, lock, dedupe.

User ids and room names are chosen to collide if keys were joined carelessly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.store.support import START, FakeClock, record
from voicecore.adapters.memory_store import TOKEN_UNITS, InProcessSessionStore, take_token
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.store import (
    Admission,
    Admitted,
    RateAllowed,
    RateLimited,
    RoomTaken,
    SessionRecord,
    SessionStore,
    SlotRefused,
    SlotReservation,
    SlotReserved,
    to_milliseconds,
)
from voicecore.testing.redis_server import LocalRedisServer

T = TypeVar("T")
StoreMaker = Callable[[FakeClock], Awaitable[SessionStore]]

USERS = ["a", "a:b", "a%3Ab"]
ROOMS = ["r1", "r2", "r:3", "r%3A3"]
OWNERS = ["replica-1", "replica-2"]
EVENTS = ["EV_1", "EV_2"]
PER_MINUTE = 1  # a token a minute: a second admission soon after is refused
seconds = st.integers(1, 5).map(lambda s: timedelta(seconds=s))


class StoreMachine(RuleBasedStateMachine):
    def __init__(self, make_store: StoreMaker) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = FakeClock()
        self.store = self.run(make_store(self.clock))
        self.sessions: dict[str, SessionRecord] = {}
        self.pending: dict[str, dict[str, datetime]] = {user: {} for user in USERS}
        self.lock: tuple[str, datetime] | None = None
        self.sightings: dict[str, datetime] = {}
        self.buckets: dict[str, tuple[int, int]] = {}  # user -> (units, last ms), as the stores count
        self.created = 0

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
            self.pending[user].pop(room, None)

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
            self.pending[user].pop(room, None)
        assert self.run(self.store.admit_session(item, max_live=max_live, per_minute=per_minute)) == expected

    def admission(self, item: SessionRecord, max_live: int, per_minute: int) -> Admission:
        if item.room_name in self.sessions:
            return RoomTaken()
        user, now = item.user_id, self.clock.now
        if per_minute and (retry_after := self.take_token(user)):
            return RateLimited(retry_after)
        if max_live:
            self.pending[user] = pending = {h: end for h, end in self.pending[user].items() if end > now}
            live = sum(1 for known in self.sessions.values() if known.user_id == user)
            others = len(pending) - (item.room_name in pending)
            if live + others >= max_live:
                return SlotRefused(live=live, pending=others)
        return Admitted()

    def take_token(self, user: str) -> int:
        now_ms = to_milliseconds(self.clock.now)
        units, last = self.buckets.get(user, (PER_MINUTE * TOKEN_UNITS, now_ms))
        units, last, retry_after = take_token(units, last, now_ms, PER_MINUTE)
        self.buckets[user] = (units, last)
        return retry_after

    @rule(user=st.sampled_from(USERS))
    def take_creation_token(self, user: str) -> None:
        retry_after = self.take_token(user)
        expected = RateLimited(retry_after) if retry_after else RateAllowed()
        assert self.run(self.store.take_creation_token(user, per_minute=PER_MINUTE)) == expected

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

    @rule(user=st.sampled_from(USERS), holder=st.sampled_from(ROOMS), limit=st.integers(1, 3), lease=seconds)
    def reserve_slot(self, user: str, holder: str, limit: int, lease: timedelta) -> None:
        now = self.clock.now
        pending = {h: end for h, end in self.pending[user].items() if end > now}
        live = {room for room, item in self.sessions.items() if item.user_id == user}
        expected: SlotReservation = SlotReserved()
        if holder not in live:
            others = len(pending) - (holder in pending)
            if len(live) + others >= limit:
                expected = SlotRefused(live=len(live), pending=others)
            else:
                pending[holder] = now + lease
        self.pending[user] = pending
        assert self.run(self.store.reserve_slot(user, holder, limit=limit, lease=lease)) == expected

    @rule(user=st.sampled_from(USERS), holder=st.sampled_from(ROOMS))
    def release_slot(self, user: str, holder: str) -> None:
        end = self.pending[user].pop(holder, None)
        expected = end is not None and end > self.clock.now
        assert self.run(self.store.release_slot(user, holder)) == expected

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
    async def make(clock: FakeClock) -> SessionStore:
        return InProcessSessionStore(clock=clock)

    check(make, examples=200, steps=40)


def test_the_redis_store_behaves_like_the_model(redis_server: LocalRedisServer) -> None:
    async def make(clock: FakeClock) -> SessionStore:
        if not redis_server.running:
            redis_server.start()
        redis_server.flush()
        store = RedisSessionStore(redis_server.url, clock=clock)
        await store.open()
        return store

    check(make, examples=60, steps=30)
