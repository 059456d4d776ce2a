"""Fixtures for the whole suite. Helpers live in tests/support; the plugins are named in pyproject."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from livekit import api

from tests.support.agent_worker import AgentWorkerProcess
from tests.support.apps import service_container, serving
from tests.support.clocks import StoppedClock
from tests.support.constants import CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET
from tests.support.indexing import indexed
from tests.support.journals import prepare_postgres_template, sqlite_journal_url
from tests.support.livekit import unique_user_id
from tests.support.service_process import (
    QUICK_IDLE_SECONDS,
    QUICK_REQUEST_SECONDS,
    ServiceProcess,
    running_service,
)
from voicecore.adapters.in_process_store import InProcessSessionStore
from voicecore.adapters.livekit import LiveKitRoomGateway, LiveKitTokenIssuer
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.adapters.sql_journal import SqlSessionJournal
from voicecore.core.domain import User, utc_now
from voicecore.core.history import NO_APP_EVENTS
from voicecore.core.recorder import SessionRecorder
from voicecore.core.sessions import VoiceSessions
from voicecore.core.store import SessionStore
from voicecore.settings import DEFAULT_JOURNAL_FILE
from voicecore.testing.in_memory_gateway import InMemoryRoomGateway
from voicecore.testing.livekit_server import LocalLiveKitServer, find_binary, running_livekit_server
from voicecore.testing.postgres_server import (
    LocalPostgresServer,
    find_postgres_bin_dir,
    running_postgres_server,
)
from voicecore.testing.redis_server import LocalRedisServer, find_redis_binary, running_redis_server
from voicecore_http.container import ServiceContainer

# No per-example deadline: speed is measured by the benchmarks, never by timed tests,
# and a deadline only makes a loaded 2-core CI machine flaky.
settings.register_profile("voicecore", deadline=None, print_blob=True)
settings.load_profile("voicecore")

StoreFactory = Callable[[], Awaitable[SessionStore]]

_CONFIGURATION_PREFIXES = (
    "LIVEKIT_",
    "SESSION_",
    "AUTH_JWT_",
    "LOG_",
    "DEMO_",
    "CORS_",
    "AGENT_",
    "HTTP_",
    "JOURNAL_",
    "APP_WEBHOOK_",
    "USAGE_",
    "METRICS_",
)


@pytest.fixture(scope="session", autouse=True)
def hermetic_configuration() -> Iterator[None]:
    """Settings are always given to the code under test; none may come from the shell.

    Belt and braces for the subprocesses some tests start: a developer's exported
    LIVEKIT_* or SESSION_* must not change what they see.
    """
    saved = {k: v for k, v in os.environ.items() if k.startswith(_CONFIGURATION_PREFIXES)}
    for name in saved:
        if name != "LIVEKIT_SERVER_BIN":
            del os.environ[name]
    # Every journal a test makes is its own (tests/support/journals.py): none may land where
    # the suite runs, as the default file would.
    default_journal = Path.cwd() / DEFAULT_JOURNAL_FILE
    there_before = default_journal.exists()
    yield
    os.environ.update(saved)
    if default_journal.exists() and not there_before:
        default_journal.unlink()
        pytest.fail(f"a test left the default journal {default_journal}: give its container a JOURNAL_URL")


@pytest.fixture
def memory_gateway() -> InMemoryRoomGateway:
    return InMemoryRoomGateway()


@pytest.fixture
def token_issuer() -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(TEST_API_KEY, TEST_API_SECRET, server_url=CONFIGURED_LIVEKIT_URL)


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[SessionRecorder]:
    """A recorder on a journal of the test's own: a migrated SQLite file, opened and closed here."""
    journal = SqlSessionJournal(sqlite_journal_url(tmp_path))
    await journal.open()
    yield SessionRecorder(journal, NO_APP_EVENTS, clock=utc_now)
    await journal.aclose()


@pytest.fixture
def sessions(
    memory_gateway: InMemoryRoomGateway, token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> VoiceSessions:
    return VoiceSessions(memory_gateway, token_issuer, store=InProcessSessionStore(), recorder=recorder)


@pytest.fixture
def memory_container(memory_gateway: InMemoryRoomGateway) -> ServiceContainer:
    return service_container(
        CONFIGURED_LIVEKIT_URL, TEST_API_KEY, TEST_API_SECRET, room_gateway=memory_gateway
    )


@pytest.fixture
async def client(memory_container: ServiceContainer) -> AsyncIterator[httpx.AsyncClient]:
    """The standalone service over the in-memory gateway."""
    async with serving(memory_container) as c:
        yield c


# --- real servers ---------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedisServer]:
    binary = find_redis_binary()
    if binary is None or not binary.exists():
        pytest.fail(
            "redis-server is not installed: run `make setup` (it installs Debian's redis-server) "
            "or set REDIS_SERVER_BIN to a redis-server binary",
            pytrace=False,
        )
    with running_redis_server(binary) as server:
        yield server


@pytest.fixture
def empty_redis(redis_server: LocalRedisServer) -> LocalRedisServer:
    """The session's Redis, running (a test may have stopped it) and emptied."""
    if not redis_server.running:
        redis_server.start()
    redis_server.flush()
    return redis_server


# --- session stores: every store the contract holds for, on one clock ----------


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock()


@pytest.fixture(params=["in-process", "redis"])
async def replica_factory(request: pytest.FixtureRequest, clock: StoppedClock) -> AsyncIterator[StoreFactory]:
    """Builds the stores of replicas that share one backend, all on the test's clock.

    In-process, every replica gets the one store (a single replica is all it serves);
    with Redis, each gets its own client on one freshly emptied server. The store's index
    is marked rebuilt, as a replica's start-up repair leaves it (tests/shared_state/
    test_index_marker.py is about a store without one).
    """
    opened: list[SessionStore] = []
    if request.param == "in-process":
        shared = InProcessSessionStore(clock=clock)
        opened.append(shared)

        async def build() -> SessionStore:
            return await indexed(shared)
    else:
        server: LocalRedisServer = request.getfixturevalue("empty_redis")

        async def build() -> SessionStore:
            store = RedisSessionStore(server.url, clock=clock)
            await store.open()
            opened.append(store)
            return await indexed(store)

    yield build
    for store in opened:
        await store.aclose()


@pytest.fixture
async def store(replica_factory: StoreFactory) -> SessionStore:
    """The store under the contract: in-process, then Redis (the test runs once for each)."""
    return await replica_factory()


@pytest.fixture
async def replicas(replica_factory: StoreFactory) -> tuple[SessionStore, SessionStore]:
    """Two replicas' stores on one backend."""
    return await replica_factory(), await replica_factory()


# --- real PostgreSQL ----------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgresServer]:
    bin_dir = find_postgres_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL 15 is not installed: run `make setup` (apt-get install postgresql)")
    with running_postgres_server(bin_dir) as server:
        prepare_postgres_template(server)
        yield server


# --- the real LiveKit server ---------------------------------------------------


@pytest.fixture(scope="session")
def livekit_server() -> Iterator[LocalLiveKitServer]:
    binary = find_binary()
    if binary is None or not binary.exists():
        pytest.fail(
            "livekit-server is not installed: run `make setup` (it builds the pinned server into "
            ".tools/bin with Go 1.26+) and `source scripts/env.sh`, or set LIVEKIT_SERVER_BIN to a "
            "livekit-server binary",
            pytrace=False,
        )
    with running_livekit_server(binary) as server:
        yield server


@pytest.fixture
async def livekit_gateway(livekit_server: LocalLiveKitServer) -> AsyncIterator[LiveKitRoomGateway]:
    gateway = LiveKitRoomGateway(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret, timeout_seconds=5
    )
    await gateway.open()
    yield gateway
    await gateway.aclose()


@pytest.fixture
async def lk(livekit_server: LocalLiveKitServer) -> AsyncIterator[api.LiveKitAPI]:
    """livekit-api's own client on the session's server: what really exists, past voicecore."""
    async with api.LiveKitAPI(
        livekit_server.url, livekit_server.api_key, livekit_server.api_secret
    ) as client:
        yield client


@pytest.fixture
def livekit_token_issuer(livekit_server: LocalLiveKitServer) -> LiveKitTokenIssuer:
    return LiveKitTokenIssuer(
        livekit_server.api_key, livekit_server.api_secret, server_url=livekit_server.url
    )


@pytest.fixture
def livekit_sessions(
    livekit_gateway: LiveKitRoomGateway, livekit_token_issuer: LiveKitTokenIssuer, recorder: SessionRecorder
) -> VoiceSessions:
    """The use cases on the real server (the in-process store, a SQLite journal)."""
    return VoiceSessions(
        livekit_gateway, livekit_token_issuer, store=InProcessSessionStore(), recorder=recorder
    )


@pytest.fixture
def member() -> User:
    """A user of the shared real server, with an id no other test uses."""
    return User(unique_user_id("member"), "member@example.com")


@pytest.fixture
def livekit_container(livekit_server: LocalLiveKitServer) -> ServiceContainer:
    return service_container(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)


@pytest.fixture(scope="session")
def _session_agent_worker(livekit_server: LocalLiveKitServer) -> Iterator[AgentWorkerProcess]:
    worker = AgentWorkerProcess(livekit_server)
    yield worker
    worker.cleanup()


@pytest.fixture
def agent_worker(_session_agent_worker: AgentWorkerProcess) -> AgentWorkerProcess:
    """The development agent worker, registered as DEV_AGENT_NAME with the session's server.

    Started once; a test may kill and restart it, and the next test gets it running again.
    """
    _session_agent_worker.start()
    return _session_agent_worker


@pytest.fixture
async def livekit_client(livekit_container: ServiceContainer) -> AsyncIterator[httpx.AsyncClient]:
    """The standalone service over the real LiveKit server."""
    async with serving(livekit_container) as c:
        yield c


# --- the service as production runs it (python -m voicecore_http) -------------------


@pytest.fixture(scope="module")
def edge_service(
    livekit_server: LocalLiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """``python -m voicecore_http`` with its default limits, for one module."""
    with running_service(tmp_path_factory.mktemp("edge"), livekit_server) as service:
        yield service


@pytest.fixture(scope="module")
def quick_deadline_service(
    livekit_server: LocalLiveKitServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The service with deadlines short enough to wait for in a test."""
    with running_service(
        tmp_path_factory.mktemp("edge-deadlines"),
        livekit_server,
        HTTP_IDLE_TIMEOUT_SECONDS=str(QUICK_IDLE_SECONDS),
        HTTP_REQUEST_TIMEOUT_SECONDS=str(QUICK_REQUEST_SECONDS),
    ) as service:
        yield service
