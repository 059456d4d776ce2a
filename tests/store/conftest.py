"""Fixtures of the store tests: a real redis-server, and every store built on one clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.store.support import FakeClock
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.store import SessionStore
from voicecore.testing.redis_server import LocalRedisServer

StoreFactory = Callable[[], Awaitable[SessionStore]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["in-process", "redis"])
async def replica_factory(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[StoreFactory]:
    """Builds the stores of replicas that share one backend, all on the test's clock.

    In-process, every replica gets the one store (a single replica is all it serves);
    with Redis, each gets its own client on one freshly emptied server.
    """
    opened: list[SessionStore] = []
    if request.param == "in-process":
        shared = InProcessSessionStore(clock=clock)
        opened.append(shared)

        async def build() -> SessionStore:
            return shared
    else:
        server: LocalRedisServer = request.getfixturevalue("redis_server")
        if not server.running:
            server.start()
        server.flush()

        async def build() -> SessionStore:
            store = RedisSessionStore(server.url, clock=clock)
            await store.open()
            opened.append(store)
            return store

    yield build
    for store in opened:
        await store.aclose()


@pytest.fixture
async def store(replica_factory: StoreFactory) -> SessionStore:
    return await replica_factory()


@pytest.fixture
async def replicas(replica_factory: StoreFactory) -> tuple[SessionStore, SessionStore]:
    return await replica_factory(), await replica_factory()
