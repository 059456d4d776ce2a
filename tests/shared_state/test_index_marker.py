"""A store admits no session until its index has been rebuilt from LiveKit (issue 23).

The contract on both stores (a new store has no index; a rebuild marks it, unless the
store lost its memory meanwhile), what the Redis store adds (a server restarted empty,
or restored from an older snapshot, is unindexed again), and what the use cases do
about it: a start rebuilds the index first, so the cap counts every room LiveKit has.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from tests.support.clocks import StoppedClock
from tests.support.indexing import indexed
from tests.support.records import record
from tests.support.waiting import eventually
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitTokenIssuer
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.domain import GuardrailPolicy, User, utc_now
from voicecore.core.errors import SessionIndexRebuilding, TooManyLiveSessions
from voicecore.core.index import SessionIndex
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import Admitted, SessionStore, Unindexed
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.redis_server import LocalRedisServer

LEASE = timedelta(seconds=30)
ALICE = User("alice")
CAP = GuardrailPolicy(max_live_per_user=3, creates_per_minute=0)

FreshStore = Callable[[], Awaitable[SessionStore]]


@pytest.fixture(params=["in-process", "redis"])
async def fresh_store(request: pytest.FixtureRequest, clock: StoppedClock) -> AsyncIterator[FreshStore]:
    """Builds a store as a new replica finds it: in-process, or a client of an emptied Redis."""
    opened: list[SessionStore] = []

    async def build() -> SessionStore:
        store: SessionStore
        if request.param == "in-process":
            store = InProcessSessionStore(clock=clock)
        else:
            server: LocalRedisServer = request.getfixturevalue("empty_redis")
            redis_store = RedisSessionStore(server.url, clock=clock)
            await redis_store.open()
            store = redis_store
        opened.append(store)
        return store

    yield build
    for store in opened:
        await store.aclose()


async def test_a_new_store_admits_nobody_until_a_rebuild_marks_its_index(fresh_store: FreshStore) -> None:
    store = await fresh_store()
    assert await store.admit_session(record("r1", "alice"), max_live=3, per_minute=0) == Unindexed()
    assert await store.get_session("r1") is None  # nothing changed
    assert await store.add_session(record("r0", "alice"))  # LiveKit's facts are taken all the same
    assert await store.begin_rebuild("first", lease=LEASE) is False
    assert await store.finish_rebuild("first") is True
    assert await store.admit_session(record("r1", "alice"), max_live=3, per_minute=0) == Admitted()
    assert await store.begin_rebuild("second", lease=LEASE) is True  # a repair pass of an indexed store
    assert await store.finish_rebuild("second") is True


async def test_a_rebuild_whose_note_is_gone_marks_nothing(
    fresh_store: FreshStore, clock: StoppedClock
) -> None:
    store = await fresh_store()
    assert await store.finish_rebuild("never-begun") is False
    await store.begin_rebuild("slow", lease=LEASE)
    clock.advance(LEASE)
    assert await store.finish_rebuild("slow") is False  # its lease ran out
    assert await store.admit_session(record("r1"), max_live=0, per_minute=0) == Unindexed()


# --- Redis: a server that lost its memory, or went back in time ----------------------------


async def test_a_redis_restarted_empty_is_unindexed_again(empty_redis: LocalRedisServer) -> None:
    store = await indexed(RedisSessionStore(empty_redis.url))
    try:
        assert await store.admit_session(record("r1"), max_live=3, per_minute=0) == Admitted()
        empty_redis.stop()
        empty_redis.start()
        await store.ping()  # its pooled connection died with the server: a ping replaces it
        assert await store.admit_session(record("r2"), max_live=3, per_minute=0) == Unindexed()
    finally:
        await store.aclose()


async def test_a_redis_restored_from_an_older_snapshot_is_unindexed_for_a_replica_that_saw_more(
    empty_redis: LocalRedisServer,
) -> None:
    first = await indexed(RedisSessionStore(empty_redis.url))
    second = RedisSessionStore(empty_redis.url)
    try:
        assert await first.admit_session(record("r1"), max_live=0, per_minute=0) == Admitted()
        snapshot = await asyncio.to_thread(empty_redis.save_snapshot)
        assert await first.admit_session(record("r2"), max_live=0, per_minute=0) == Admitted()
        empty_redis.stop()
        empty_redis.start()  # loads the snapshot: r1 and the marker, not r2
        await first.ping()
        assert snapshot.exists()
        assert await first.get_session("r1") == record("r1")
        assert await first.get_session("r2") is None
        # The first replica saw two admissions in this index; the server remembers one.
        assert await first.admit_session(record("r3"), max_live=0, per_minute=0) == Unindexed()
        # The marker is gone for every replica: the index is rebuilt before anyone is admitted.
        assert await second.admit_session(record("r4"), max_live=0, per_minute=0) == Unindexed()
        await indexed(second)
        assert await first.admit_session(record("r3"), max_live=0, per_minute=0) == Admitted()
    finally:
        await first.aclose()
        await second.aclose()
        empty_redis.delete_snapshot()


async def test_a_redis_restored_from_a_snapshot_of_an_earlier_index_is_unindexed_again(
    empty_redis: LocalRedisServer,
) -> None:
    """A snapshot taken before a loss and a rebuild holds an older marker: not a newer one to trust."""
    first = await indexed(RedisSessionStore(empty_redis.url))
    second = RedisSessionStore(empty_redis.url)
    try:
        assert await first.admit_session(record("r1"), max_live=0, per_minute=0) == Admitted()
        snapshot = await asyncio.to_thread(empty_redis.save_snapshot)
        kept = snapshot.read_bytes()
        empty_redis.flush()  # a loss, and a rebuild by another replica: a newer index
        await asyncio.sleep(0.01)  # (marked a moment later, by the server's clock)
        await indexed(second)
        assert await first.admit_session(record("r2"), max_live=0, per_minute=0) == Admitted()
        empty_redis.stop()
        snapshot.write_bytes(kept)
        empty_redis.start()  # back to the earlier index: r1 and its marker
        await first.ping()
        assert await first.get_session("r1") == record("r1")
        assert await first.admit_session(record("r3"), max_live=0, per_minute=0) == Unindexed()
        assert await second.admit_session(record("r3"), max_live=0, per_minute=0) == Unindexed()
    finally:
        await first.aclose()
        await second.aclose()
        empty_redis.delete_snapshot()


async def admits(store: SessionStore) -> bool:
    """Whether the store admits a session now (the probe is forgotten again)."""
    probe = record(f"probe-{uuid.uuid4().hex}", "probe-user")
    if await store.admit_session(probe, max_live=0, per_minute=0) != Admitted():
        return False
    await store.remove_session(probe.room_name)
    return True


# --- the use cases ----------------------------------------------------------------------------


def sessions_on(
    gateway: InMemoryRoomGateway, store: SessionStore, issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> VoiceSessions:
    return VoiceSessions(gateway, issuer, store=store, recorder=recorder, guardrails=CAP)


async def test_a_start_on_a_new_store_counts_the_rooms_livekit_already_has(
    token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    gateway = InMemoryRoomGateway()
    before = sessions_on(gateway, InProcessSessionStore(), token_issuer, recorder)
    made = {(await before.start(ALICE)).room_name for _ in range(3)}
    # A restarted process: a new store, with the rooms of the one before still in LiveKit.
    after = sessions_on(gateway, InProcessSessionStore(), token_issuer, recorder)
    with pytest.raises(TooManyLiveSessions):
        await after.start(ALICE)
    assert gateway.room_names == made
    assert {s.room_name for s in await after.list(ALICE)} == made


async def test_a_store_lost_under_a_replica_holds_starts_back_until_the_rebuild_has_waited_out_creates(
    empty_redis: LocalRedisServer, token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> None:
    gateway, store = InMemoryRoomGateway(), RedisSessionStore(empty_redis.url)
    waited: list[float] = []
    released = asyncio.Event()

    async def settle(seconds: float) -> None:  # the rebuild's wait for creates in flight
        waited.append(seconds)
        await released.wait()

    index = SessionIndex(gateway, store, utc_now, settle=timedelta(seconds=6), sleep=settle)
    sessions = VoiceSessions(
        gateway, token_issuer, store=store, recorder=recorder, guardrails=CAP, index=index
    )
    try:
        made = {(await sessions.start(ALICE)).room_name for _ in range(3)}
        empty_redis.flush()  # the store loses its memory under a replica that saw its index
        with pytest.raises(SessionIndexRebuilding) as held_back:
            await sessions.start(ALICE)
        assert held_back.value.retry_after_seconds == 7

        async def waits() -> list[float]:
            return list(waited)

        await eventually(waits, bool, what="the rebuild waiting out creates in flight")
        with pytest.raises(SessionIndexRebuilding):
            await sessions.start(ALICE)  # still waiting: one rebuild, not one per start
        assert waited == [6.0]
        released.set()
        await eventually(lambda: admits(store), bool, what="the index rebuilt after the wait")
        with pytest.raises(TooManyLiveSessions):  # LiveKit's rooms are counted again
            await sessions.start(ALICE)
        assert gateway.room_names == made
    finally:
        await sessions.aclose()
        await store.aclose()
