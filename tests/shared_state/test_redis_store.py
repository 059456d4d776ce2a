"""The Redis store only: replicas sharing one server, the server's clock, restarts, failures, key expiry."""

from __future__ import annotations

import inspect
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tests.support.indexing import indexed
from tests.support.records import record
from tests.support.waiting import eventually
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.errors import StoreError
from voicecore.core.store import Admitted, SessionStore, SlotRefused
from voicecore.testing.processes import free_port
from voicecore.testing.redis_server import LocalRedisServer

LEASE = timedelta(seconds=30)


@pytest.fixture
async def raw(empty_redis: LocalRedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(empty_redis.url, decode_responses=True)
    yield client
    await client.aclose()


Build = Callable[..., Awaitable[RedisSessionStore]]


@pytest.fixture
async def build(empty_redis: LocalRedisServer) -> AsyncIterator[Build]:
    """Stores as production builds them (no injected clock: Redis's TIME), closed after the test.

    Each one on the test's Redis has its index marked rebuilt, as a replica's start-up repair
    leaves it.
    """
    stores: list[RedisSessionStore] = []

    async def make(url: str | None = None, **options: Any) -> RedisSessionStore:
        store = RedisSessionStore(url or empty_redis.url, **options)
        stores.append(store)
        await store.open()
        return store if url else await indexed(store)

    yield make
    for store in stores:
        await store.aclose()


@pytest.mark.parametrize("store_class", [RedisSessionStore, InProcessSessionStore])
def test_each_store_takes_exactly_the_ports_arguments(store_class: type[SessionStore]) -> None:
    """Same names, kinds and defaults as the port's, method by method: a caller can swap stores."""
    operations = [name for name in vars(SessionStore) if not name.startswith("_")]
    assert len(operations) > 10
    for name in operations:
        port, implementation = (
            inspect.signature(getattr(SessionStore, name)),
            inspect.signature(getattr(store_class, name)),
        )
        assert list(implementation.parameters.values()) == list(port.parameters.values()), name


async def test_two_replicas_see_each_others_writes(empty_redis: LocalRedisServer, build: Build) -> None:
    one, other = await build(), await build()
    created = datetime.now(UTC)
    assert await one.add_session(record("room", "alice", at=created))
    noted = await other.note_participant("room", agent=True, joined=True, at=created + timedelta(seconds=1))
    assert await one.get_session("room") == noted
    assert await one.user_sessions("alice") == [noted]
    assert await other.admit_session(record("room-2", "alice"), max_live=1, per_minute=0) == SlotRefused(
        live=1
    )
    assert await other.remove_session("room") == noted
    assert await one.all_sessions() == []
    assert await one.admit_session(record("room-2", "alice"), max_live=1, per_minute=0) == Admitted()


async def test_the_servers_clock_ends_leases(empty_redis: LocalRedisServer, build: Build) -> None:
    store = await build()
    lease = timedelta(milliseconds=100)
    assert await store.acquire_lock("job", "replica-1", lease=lease)
    assert not await store.acquire_lock("job", "replica-2", lease=lease)
    # The lease runs on the server's clock: only real time can end it. Nobody releases the lock.
    await eventually(
        lambda: store.acquire_lock("job", "replica-2", lease=lease),
        bool,
        what="the lease to lapse on Redis's clock",
        every=0.05,
    )


async def test_a_record_left_alone_expires_and_frees_its_slot(
    empty_redis: LocalRedisServer, build: Build
) -> None:
    store = await build(record_ttl=timedelta(milliseconds=100))
    await store.add_session(record("room", "alice"))
    # The TTL runs on the server's clock: only real time can end it.
    await eventually(
        lambda: store.get_session("room"), lambda r: r is None, what="the record to expire", every=0.05
    )
    assert await store.user_sessions("alice") == []
    assert await store.all_sessions() == []
    assert await store.admit_session(record("room-2", "alice"), max_live=1, per_minute=0) == Admitted()


async def test_every_change_keeps_a_record_and_its_index_alive(build: Build, raw: aioredis.Redis) -> None:
    store = await build(record_ttl=timedelta(hours=1))
    await store.add_session(record("room", "alice"))
    for key in ("voicecore:session:room", "voicecore:user:alice:sessions"):
        await raw.pexpire(key, 5000)
    await store.note_participant("room", agent=False, joined=True, at=datetime.now(UTC))
    for key in ("voicecore:session:room", "voicecore:user:alice:sessions"):
        assert await raw.pttl(key) > 3_000_000


async def test_nothing_is_kept_for_ever(build: Build, raw: aioredis.Redis) -> None:
    store = await build()
    await store.add_session(record("room-1", "alice"))
    await store.admit_session(record("room-2", "alice"), max_live=3, per_minute=5)
    await store.claim_idempotency_key("alice", "k", fingerprint="f", holder="h", ttl=LEASE, lease=LEASE)
    await store.first_sighting("EV_1", ttl=LEASE)
    await store.acquire_lock("reconcile", "me", lease=LEASE)
    keys = sorted([key async for key in raw.scan_iter("*")])
    assert len(keys) == 10
    # Only the indexes of all rooms have no TTL (reading the set drops names whose record
    # expired, adding a session drops the expiries passed), and the index's marker, one key:
    # were it to expire, no session would start until a rebuild.
    live_for_ever = ["voicecore:expiries", "voicecore:index", "voicecore:sessions"]
    assert [key for key in keys if await raw.pttl(key) < 0] == live_for_ever
    assert all(key.startswith("voicecore:") for key in keys)


async def test_prefixes_keep_deployments_apart(empty_redis: LocalRedisServer, build: Build) -> None:
    blue = await build(prefix="blue:")
    green = await build(prefix="green:")
    await blue.add_session(record("room", "alice"))
    assert await blue.acquire_lock("reconcile", "blue", lease=LEASE)
    assert await green.get_session("room") is None
    assert await green.all_sessions() == []
    assert await green.acquire_lock("reconcile", "green", lease=LEASE)


async def test_a_restarted_redis_fails_while_down_and_works_after(
    empty_redis: LocalRedisServer, build: Build
) -> None:
    store = await build()
    await store.add_session(record("room", "alice"))
    empty_redis.stop()
    try:
        for call in (store.ping(), store.get_session("room"), store.remove_session("room")):
            with pytest.raises(StoreError) as raised:
                await call
            assert isinstance(raised.value.__cause__, RedisError)
            assert str(empty_redis.port) not in str(raised.value)
    finally:
        empty_redis.start()
    await store.ping()
    # The restarted server is empty: no data, and no scripts until they are loaded again.
    assert await store.get_session("room") is None
    assert await store.add_session(record("room", "alice"))
    assert await store.remove_session("room") == record("room", "alice")
    # A restart between two calls: the pooled connection is dead, and is replaced unnoticed.
    empty_redis.stop()
    empty_redis.start()
    assert await store.get_session("room") is None


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_a_redis_that_does_not_answer_is_a_store_error(silent_port: int, build: Build) -> None:
    store = await build(f"redis://127.0.0.1:{silent_port}/0", timeout_seconds=0.2)
    with pytest.raises(StoreError, match="Redis failed") as raised:
        await store.admit_session(record("room", "alice"), max_live=1, per_minute=1)
    assert raised.value.operation == "admit_session"


async def test_no_redis_at_all_is_a_store_error_that_names_no_address(
    build: Build,
) -> None:
    port = free_port()
    store = await build(f"redis://127.0.0.1:{port}/0", timeout_seconds=1)
    with pytest.raises(StoreError) as raised:
        await store.ping()
    assert str(port) not in str(raised.value)


async def test_a_password_in_the_url_never_reaches_the_error(
    empty_redis: LocalRedisServer, build: Build
) -> None:
    store = await build(f"redis://:not-the-password@127.0.0.1:{empty_redis.port}/0")
    with pytest.raises(StoreError) as raised:
        await store.ping()
    assert "not-the-password" not in str(raised.value)
