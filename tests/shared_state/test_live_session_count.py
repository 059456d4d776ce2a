"""Each store keeps a count of its live sessions, the /metrics gauge, always equal to what it would list.

A state machine drives both stores through every operation that adds, changes or
forgets a record, and checks the count against a model and against the full list;
expiry and a second replica are checked on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.support.indexing import indexed
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.session_record import SessionRecord
from voicecore.core.store import Admitted, SessionStore
from voicecore.testing.redis_server import LocalRedisServer

T = TypeVar("T")
START = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
USERS = ["a", "a:b"]
ROOMS = ["r1", "r2", "r:3", "r%3A3"]


@dataclass
class Clock:
    now: datetime = field(default=START)

    def __call__(self) -> datetime:
        return self.now


def record(room_name: str, user_id: str = "alice", at: datetime = START) -> SessionRecord:
    return SessionRecord(room_name=room_name, user_id=user_id, agent_type="workout", created_at=at)


StoreMaker = Callable[[Clock], Awaitable[SessionStore]]


class CountMachine(RuleBasedStateMachine):
    def __init__(self, make_store: StoreMaker) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.clock = Clock()
        self.store = self.run(make_store(self.clock))
        self.live: set[str] = set()

    def run(self, step: Awaitable[T]) -> T:
        async def awaited() -> T:
            return await step

        return self.runner.run(awaited())

    def teardown(self) -> None:
        self.run(self.store.aclose())
        self.runner.close()

    @rule(room=st.sampled_from(ROOMS), user=st.sampled_from(USERS))
    def add_session(self, room: str, user: str) -> None:
        if self.run(self.store.add_session(record(room, user))):
            self.live.add(room)

    @rule(room=st.sampled_from(ROOMS), user=st.sampled_from(USERS), max_live=st.integers(0, 2))
    def admit_session(self, room: str, user: str, max_live: int) -> None:
        admission = self.run(self.store.admit_session(record(room, user), max_live=max_live, per_minute=0))
        if admission == Admitted():
            self.live.add(room)

    @rule(room=st.sampled_from(ROOMS))
    def remove_session(self, room: str) -> None:
        self.run(self.store.remove_session(room))
        self.live.discard(room)

    @rule(rooms=st.lists(st.sampled_from(ROOMS), max_size=5))
    def remove_sessions(self, rooms: list[str]) -> None:
        self.run(self.store.remove_sessions(rooms))
        self.live -= set(rooms)

    @rule(room=st.sampled_from(ROOMS), agent=st.booleans(), joined=st.booleans())
    def note_participant(self, room: str, agent: bool, joined: bool) -> None:
        self.run(self.store.note_participant(room, agent=agent, joined=joined, at=self.clock.now))

    @rule(room=st.sampled_from(ROOMS))
    def count_dispatch(self, room: str) -> None:
        self.run(self.store.count_dispatch(room, at=self.clock.now, limit=3))

    @rule(seconds=st.integers(0, 5))
    def time_passes(self, seconds: int) -> None:
        self.clock.now += timedelta(seconds=seconds)

    @invariant()
    def the_count_is_what_the_store_lists(self) -> None:
        counted = self.run(self.store.count_sessions())
        assert counted == len(self.live)
        assert counted == len(self.run(self.store.all_sessions()))


def check(make_store: StoreMaker, examples: int) -> None:
    run_state_machine_as_test(
        lambda: CountMachine(make_store), settings=settings(max_examples=examples, stateful_step_count=30)
    )


def test_the_in_process_store_counts_what_it_lists() -> None:
    async def make(clock: Clock) -> SessionStore:
        return await indexed(InProcessSessionStore(clock=clock))

    check(make, examples=150)


def test_the_redis_store_counts_what_it_lists(redis_server: LocalRedisServer) -> None:
    async def make(clock: Clock) -> SessionStore:
        if not redis_server.running:
            redis_server.start()
        redis_server.flush()
        store = RedisSessionStore(redis_server.url, clock=clock)
        await store.open()
        return await indexed(store)

    check(make, examples=40)


# --- on the stores' own clocks, as production runs them ----------------------------

Build = Callable[..., Awaitable[SessionStore]]


@pytest.fixture(params=["in-process", "redis"])
async def build(request: pytest.FixtureRequest) -> AsyncIterator[Build]:
    opened: list[SessionStore] = []

    async def make(**options: Any) -> SessionStore:
        store: SessionStore
        if request.param == "in-process":
            store = InProcessSessionStore(**options)
        else:
            server: LocalRedisServer = request.getfixturevalue("empty_redis")
            store = RedisSessionStore(server.url, **options)
            await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.aclose()


async def test_records_left_alone_past_their_lifetime_are_no_longer_counted(build: Build) -> None:
    # Real time is the behaviour: the Redis store's records expire on the server's clock.
    lifetime = timedelta(milliseconds=400)
    store = await build(record_ttl=lifetime)
    for room in ("left-alone", "also-left-alone", "kept-busy"):
        await store.add_session(record(room))
    await asyncio.sleep(0.25)
    assert await store.note_participant("kept-busy", agent=False, joined=True, at=datetime.now(UTC))
    await asyncio.sleep(0.25)  # past the first two's lifetime, within the third's renewed one
    assert [r.room_name for r in await store.all_sessions()] == ["kept-busy"]
    assert await store.count_sessions() == 1
    await asyncio.sleep(0.3)
    assert await store.count_sessions() == 0
    assert await store.add_session(record("new"))
    assert await store.count_sessions() == 1


async def test_replicas_sharing_redis_count_the_same_sessions(empty_redis: LocalRedisServer) -> None:
    one, other = RedisSessionStore(empty_redis.url), RedisSessionStore(empty_redis.url)
    await one.open()
    await other.open()
    try:
        for index in range(5):
            await (one if index % 2 else other).add_session(record(f"room-{index}", f"user-{index}"))
        await other.remove_session("room-1")
        await one.remove_sessions(["room-2", "room-3"])
        assert await one.count_sessions() == await other.count_sessions() == 2
    finally:
        await one.aclose()
        await other.aclose()


async def test_a_redis_store_written_without_a_count_has_it_rebuilt_by_the_next_full_read(
    empty_redis: LocalRedisServer,
) -> None:
    """As after an upgrade from a version that kept no count: the repair's full read rebuilds it."""
    store = RedisSessionStore(empty_redis.url)
    await store.open()
    raw = aioredis.Redis.from_url(empty_redis.url)
    try:
        for index in range(3):
            await store.add_session(record(f"room-{index}", f"user-{index}"))
        await raw.delete("voicecore:expiries")
        assert await store.count_sessions() == 0
        assert len(await store.all_sessions()) == 3
        assert await store.count_sessions() == 3
        await store.remove_session("room-0")
        assert await store.count_sessions() == 2
    finally:
        await raw.aclose()
        await store.aclose()
