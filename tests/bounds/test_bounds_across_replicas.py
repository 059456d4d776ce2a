"""Two replicas on one Redis and one PostgreSQL enforce the same deadlines and allowances.

Each replica has its own Redis client, its own PostgreSQL journal connection and its own
use cases and enforcer, on one clock the test moves (the in-memory gateway stands in for
LiveKit: what is shared is the store and the database, which is what this is about).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.support.clocks import START, StoppedClock
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.journals import postgres_journal_url
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
from voicecore.core.usage import UsageMeter
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.postgres_server import LocalPostgresServer
from voicecore.testing.redis_server import LocalRedisServer

ALICE = User("auth0|alice")
POLICY = BoundsPolicy(max_duration_seconds=600, usage_limit_minutes=2, usage_period=UsagePeriod.DAY)


@dataclass
class Replica:
    store: RedisSessionStore
    journal: SqlSessionJournal
    sessions: VoiceSessions
    bounds: SessionBounds


@dataclass
class Cluster:
    clock: StoppedClock
    gateway: InMemoryRoomGateway
    first: Replica
    second: Replica

    async def passes_at(self, offset: timedelta) -> list[tuple[str, EndReason]]:
        """Both replicas' passes at once: what either ended (the other found the lock held or nothing)."""
        self.clock.now = START + offset
        results = await asyncio.gather(self.first.bounds.run_once(), self.second.bounds.run_once())
        return sorted(ended for result in results if result for ended in result)


async def replica(
    clock: StoppedClock, gateway: InMemoryRoomGateway, redis_url: str, journal_url: str
) -> Replica:
    store = RedisSessionStore(redis_url, clock=clock)
    await store.open()
    journal = SqlSessionJournal(journal_url)
    await journal.open()
    recorder = SessionRecorder(journal, NO_APP_EVENTS, clock=clock)
    sessions = VoiceSessions(
        gateway,
        LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL),
        store=store,
        recorder=recorder,
        guardrails=GuardrailPolicy(max_live_per_user=0, creates_per_minute=0),
        clock=clock,
        bounds=POLICY,
    )
    meter = UsageMeter(journal, store, POLICY, clock)
    return Replica(store, journal, sessions, SessionBounds(gateway, store, recorder, meter, clock=clock))


@pytest.fixture
async def cluster(
    empty_redis: LocalRedisServer, postgres_server: LocalPostgresServer
) -> AsyncIterator[Cluster]:
    clock = StoppedClock(START)
    gateway = InMemoryRoomGateway(clock)
    journal_url = postgres_journal_url(postgres_server)
    first = await replica(clock, gateway, empty_redis.url, journal_url)
    second = await replica(clock, gateway, empty_redis.url, journal_url)
    yield Cluster(clock, gateway, first, second)
    for each in (first, second):
        await each.sessions.aclose()
        await each.store.aclose()
        await each.journal.aclose()


async def test_sessions_started_on_two_replicas_share_one_allowance_and_are_ended_once(
    cluster: Cluster,
) -> None:
    one = await cluster.first.sessions.start(ALICE)
    other = await cluster.second.sessions.start(ALICE)  # the other replica sees the first session
    assert other.ends_at == START + timedelta(minutes=1)  # two minutes, two sessions: one each
    for replica_ in (cluster.first, cluster.second):
        for room in (one.room_name, other.room_name):
            assert (await replica_.sessions.status(ALICE, room)).ends_at == START + timedelta(minutes=1)
    assert await cluster.passes_at(timedelta(seconds=59)) == []
    ended = await cluster.passes_at(timedelta(minutes=1))
    assert ended == sorted(
        [(one.room_name, EndReason.USAGE_EXHAUSTED), (other.room_name, EndReason.USAGE_EXHAUSTED)]
    )
    assert cluster.gateway.room_names == frozenset()
    for replica_ in (cluster.first, cluster.second):
        with pytest.raises(UsageExhausted):
            await replica_.sessions.start(ALICE)
        used = (await replica_.sessions.usage(ALICE)).usage
        assert (used.used_seconds, used.remaining_seconds) == (120.0, 0.0)


async def test_an_end_on_one_replica_gives_the_time_back_to_a_session_the_other_enforces(
    cluster: Cluster,
) -> None:
    one = await cluster.first.sessions.start(ALICE)
    other = await cluster.second.sessions.start(ALICE)
    cluster.clock.now = START + timedelta(seconds=20)
    await cluster.first.sessions.end(ALICE, one.room_name)  # 40 s used of 120: 80 s left to one session
    assert await cluster.passes_at(timedelta(minutes=1)) == []  # the old deadline: counted again, moved
    moved = START + timedelta(seconds=100)
    assert (await cluster.second.sessions.status(ALICE, other.room_name)).ends_at == moved
    assert await cluster.passes_at(timedelta(seconds=100)) == [(other.room_name, EndReason.USAGE_EXHAUSTED)]


async def test_a_length_cap_is_enforced_by_exactly_one_of_two_replicas(cluster: Cluster) -> None:
    bob = User("auth0|bob", usage_limit_minutes=1000)  # an allowance that outlasts the cap
    started = [await cluster.first.sessions.start(bob), await cluster.second.sessions.start(bob)]
    ended = await cluster.passes_at(timedelta(minutes=10))
    assert ended == sorted((s.room_name, EndReason.MAX_DURATION) for s in started)
    for s in started:
        record = await cluster.second.journal.get(s.room_name)
        assert record is not None
        assert (record.end_reason, record.ended_at) == (EndReason.MAX_DURATION, START + timedelta(minutes=10))
