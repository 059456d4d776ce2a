"""Agent presence with the real agent worker, a real LiveKit server and its real webhooks.

The service runs as a process that receives the server's webhooks (a departed
agent is known only from them), with the watchdog looking every second. Its store is
a real Redis, so a test can hold the watchdog's lock as another replica mid-pass
would, and see a state that the next pass would otherwise change within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from livekit import api

from tests.support.agent_worker import DEV_AGENT_NAME, AgentWorkerProcess
from tests.support.constants import BASE
from tests.support.livekit import joined, livekit_sending_webhooks_to, unique_user_id
from tests.support.service_process import ServiceProcess, running_replica, service_environment
from tests.support.tokens import auth_header
from tests.support.waiting import eventually
from voicecore.adapters.redis_store import RedisSessionStore
from voicecore.core.agent_watchdog import LOCK_NAME as WATCHDOG_LOCK
from voicecore.testing.livekit_server import LocalLiveKitServer
from voicecore.testing.processes import free_port
from voicecore.testing.redis_server import LocalRedisServer

JOIN_TIMEOUT_SECONDS = 8


@pytest.fixture(scope="module")
def service_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def hooked_server(service_port: int) -> Iterator[LocalLiveKitServer]:
    """A LiveKit server of this module's own, sending its webhooks to the service."""
    with livekit_sending_webhooks_to(service_port) as server:
        yield server


@pytest.fixture(scope="module")
def service(
    hooked_server: LocalLiveKitServer, service_port: int, redis_server: LocalRedisServer
) -> Iterator[ServiceProcess]:
    settings = service_environment(
        hooked_server,
        SESSION_STORE_URL=redis_server.url,
        LIVEKIT_AGENT_NAME=DEV_AGENT_NAME,
        AGENT_JOIN_TIMEOUT_SECONDS=str(JOIN_TIMEOUT_SECONDS),
        AGENT_REDISPATCH_LIMIT="1",
        AGENT_WATCHDOG_INTERVAL_SECONDS="1",
        LOG_LEVEL="INFO",
    )
    with running_replica(settings, port=service_port) as running:
        yield running


def running_worker(server: LocalLiveKitServer) -> Iterator[AgentWorkerProcess]:
    process = AgentWorkerProcess(server)
    process.start()
    try:
        yield process
    finally:
        process.cleanup()


@pytest.fixture
def worker(hooked_server: LocalLiveKitServer) -> Iterator[AgentWorkerProcess]:
    """A worker of the test's own: one test's killed worker never serves the next."""
    yield from running_worker(hooked_server)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=20) as client:
        yield client


async def _status(
    http: httpx.AsyncClient, service: ServiceProcess, user: str, room: str
) -> dict[str, object]:
    response = await http.get(f"{service.base_url}{BASE}/{room}", headers=auth_header(user))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _watch_states(
    http: httpx.AsyncClient, service: ServiceProcess, user: str, room: str, until: list[str], *, within: float
) -> list[tuple[str, bool]]:
    """Poll status until the distinct states seen end with ``until``; every (state, connected) seen."""
    seen: list[tuple[str, bool]] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        body = await _status(http, service, user, room)
        observed = (str(body["agent_state"]), bool(body["agent_connected"]))
        if not seen or seen[-1] != observed:
            seen.append(observed)
        distinct = [state for state, _ in seen]
        if distinct[-len(until) :] == until:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"states seen: {seen}; wanted them to end with {until}")


@contextlib.asynccontextmanager
async def _watchdog_paused(redis_server: LocalRedisServer) -> AsyncIterator[None]:
    """Hold the watchdog's lock, as another replica in the middle of a pass would: no pass runs."""
    replica = RedisSessionStore(redis_server.url)
    await replica.open()
    owner = uuid.uuid4().hex
    try:
        await eventually(  # a pass of the service's own may hold it for a moment
            lambda: replica.acquire_lock(WATCHDOG_LOCK, owner, lease=timedelta(seconds=120)),
            bool,
            what="the watchdog's lock to be free",
        )
        yield
    finally:
        await replica.release_lock(WATCHDOG_LOCK, owner)
        await replica.aclose()


async def test_a_killed_worker_agent_is_replaced_and_the_user_is_told_meanwhile(
    service: ServiceProcess,
    worker: AgentWorkerProcess,
    hooked_server: LocalLiveKitServer,
    redis_server: LocalRedisServer,
    http: httpx.AsyncClient,
) -> None:
    user = unique_user_id("kill")
    created = (await http.post(service.base_url + BASE, json={}, headers=auth_header(user))).json()
    room = created["room_name"]
    async with joined(created["livekit_url"], created["token"]):
        first = await _watch_states(http, service, user, room, ["joined"], within=30)
        # The worker comes back as a second process, registered before the first dies, as in any
        # deployment with more than one worker: a re-dispatch made while no worker is registered
        # at all is lost by LiveKit ("no response from servers"), and the state then says missing.
        with contextlib.contextmanager(running_worker)(hooked_server):
            async with _watchdog_paused(redis_server):
                worker.kill()  # the agent's process dies with it
                told = await _watch_states(http, service, user, room, ["left"], within=60)
            # With the lock free again, the next pass sends the agent back.
            later = await _watch_states(http, service, user, room, ["left", "pending", "joined"], within=60)

    assert told[-1] == ("left", False)

    states = [state for state, _ in first + told + later]
    assert states[-3:] == ["left", "pending", "joined"]
    # Whenever no agent was in the room, the state said why: never "joined" without one.
    for state, connected in first + told + later:
        assert (state == "joined") is connected
    log = service.log_path.read_text(errors="replace")
    assert "dispatched again (1 of 1)" in log
    warning = next(line for line in log.splitlines() if "dispatched again" in line and room in line)
    assert "AD_" in warning  # LiveKit's dispatch id


async def test_a_dead_worker_is_reported_missing_once_the_redispatch_is_spent(
    service: ServiceProcess, worker: AgentWorkerProcess, http: httpx.AsyncClient
) -> None:
    worker.kill()
    try:
        user = unique_user_id("dead")
        created = (await http.post(service.base_url + BASE, json={}, headers=auth_header(user))).json()
        room = created["room_name"]
        async with joined(created["livekit_url"], created["token"]):
            seen = await _watch_states(http, service, user, room, ["missing"], within=60)
            assert [state for state, _ in seen] == ["pending", "missing"]
            # The watchdog's one re-dispatch went to a dead worker: missing again, and it stays so.
            again = await _watch_states(
                http, service, user, room, ["pending", "missing"], within=3 * JOIN_TIMEOUT_SECONDS
            )
            assert all(not connected for _, connected in again)
    finally:
        worker.start()


async def test_a_rejoin_after_the_agent_left_brings_the_real_agent_back(
    service: ServiceProcess,
    worker: AgentWorkerProcess,
    hooked_server: LocalLiveKitServer,
    http: httpx.AsyncClient,
) -> None:
    user = unique_user_id("back")
    created = (await http.post(service.base_url + BASE, json={}, headers=auth_header(user))).json()
    room = created["room_name"]
    async with api.LiveKitAPI(hooked_server.url, hooked_server.api_key, hooked_server.api_secret) as lk:

        async def agents() -> list[str]:
            response = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
            return [p.identity for p in response.participants if p.kind == api.ParticipantInfo.Kind.AGENT]

        async with joined(created["livekit_url"], created["token"]):  # the user comes, then goes
            [agent] = await eventually(
                agents, lambda found: len(found) == 1, what="the real agent in the room", within=30
            )
        await lk.room.remove_participant(api.RoomParticipantIdentity(room=room, identity=agent))
        await _watch_states(http, service, user, room, ["left"], within=30)  # nobody waits: it stays left
        rejoined = await http.post(f"{service.base_url}{BASE}/{room}/token", headers=auth_header(user))
        assert rejoined.status_code == 200
        [back] = await eventually(
            agents, lambda found: len(found) == 1, what="a new agent after the rejoin", within=30
        )
        assert back != agent
    assert (await _status(http, service, user, room))["agent_state"] == "joined"
